"""`metergate watch CONFIG`: run the gateway in the foreground with a live table of every meter."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from cli.commands.run import ConfigArg, load_or_exit
from core.errors import MetergateError
from gateway.outbox_lock import OutboxBusyError, describe

if TYPE_CHECKING:
    from gateway.runtime import Gateway
    from site_config import SiteConfig

PublishOpt = Annotated[bool, typer.Option("--publish/--no-publish",
                                          help="Publish to the config's MQTT broker too.")]
DurationOpt = Annotated[float | None, typer.Option("--duration", min=0,
                                                   help="Stop after this many seconds.")]
FollowOpt = Annotated[bool, typer.Option(
    "--follow", help="Read-only: show the running gateway (the service) from its MQTT topics; "
                     "polls nothing, so it runs beside `metergate run`.")]
CLIENT_ID_SUFFIX = "-watch"
MQTT311_MAX_ID = 23
EXIT_BUSY = 1
SERVICE = "metergate-gateway"


def watch(config: ConfigArg, publish: PublishOpt = True, duration: DurationOpt = None,
          follow: FollowOpt = False) -> None:
    """Poll every meter in CONFIG and show a live table: latest values, state, age, errors and,
    for a meter that does not answer, why, since when and the next try — what to look at while
    commissioning. Readings are stored and published as by `run`, under MQTT client id
    CLIENT_ID-watch. Refused while `metergate run` (the service) uses the same outbox: stop it
    first, or use --follow to see the running service read-only."""
    from gateway.runtime import Gateway, RuntimeOptions

    console = Console()
    cfg = load_or_exit(config)
    if follow:
        follow_view(cfg, console, duration=duration)
        return
    options = RuntimeOptions(publish=publish, serve_metrics=False, command="watch",
                             mqtt_client_id=watch_client_id(cfg))
    try:
        gateway = Gateway(cfg, options)
    except OutboxBusyError as exc:
        typer.echo(busy_message(exc, str(config)), err=True)
        raise typer.Exit(EXIT_BUSY) from None
    except MetergateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    run_view(gateway, console, duration=duration,
             title=f"{cfg.site.id} / {cfg.site.gateway_id} — {len(cfg.meters)} meters "
                   f"(Ctrl-C to stop)")


def watch_client_id(cfg: SiteConfig) -> str | None:
    """The config's MQTT client id + "-watch": a broker disconnects a client when another one
    connects with the same id, so `watch` must never borrow the service's."""
    if cfg.mqtt is None:
        return None
    base = cfg.mqtt.client_id
    if cfg.mqtt.protocol == "3.1.1" and len(base) + len(CLIENT_ID_SUFFIX) > MQTT311_MAX_ID:
        base = base[:MQTT311_MAX_ID - len(CLIENT_ID_SUFFIX)]
    return base + CLIENT_ID_SUFFIX


def busy_message(exc: OutboxBusyError, config: str) -> str:
    """One line: who holds the outbox and what to do."""
    holder = describe(exc.holder)
    if exc.holder.get("command") == "run":
        return (f"metergate watch: not started: {holder} is already polling these meters with the "
                f"outbox {exc.path}; look at it read-only with `metergate watch --follow "
                f"{config}`, or stop it first (sudo systemctl stop {SERVICE}) and start it again "
                "afterwards")
    return (f"metergate watch: not started: {holder} is using the outbox {exc.path}; stop that "
            "one first")


class _LiveLog(logging.Handler):
    """Warnings and errors go into the live view's last lines instead of the terminal, where a
    line printed between redraws would scroll the table and leave a copy of it behind."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(level=logging.WARNING)
        self.gateway = gateway

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.gateway.live.note_error(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # a log handler must not raise
            self.handleError(record)


def run_view(gateway: Gateway, console: Console, *, duration: float | None, title: str) -> None:
    signal.signal(signal.SIGTERM, lambda *_: gateway.request_stop())
    root = logging.getLogger()
    handler = _LiveLog(gateway)
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, logging.WARNING))
    gateway.start()
    end = None if duration is None else time.monotonic() + duration
    try:
        with Live(frame(gateway, console, title), console=console, auto_refresh=False,
                  vertical_overflow="crop") as live:
            while not gateway.wait_for_stop(0.5):
                live.update(frame(gateway, console, title), refresh=True)
                if end is not None and time.monotonic() >= end:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        root.removeHandler(handler)
        gateway.stop()
        for _, text in gateway.live.errors[-3:]:
            console.print(Text(text, style="red"))  # the last events stay readable afterwards


def frame(gateway: Gateway, console: Console, title: str) -> RenderableType:
    """One screen: the table, the outbox/MQTT line and the last three events, no taller than the
    terminal."""
    from gateway.watch_view import render

    snap = gateway.scheduler.snapshot()
    stats = gateway.outbox.stats()
    pub = gateway.publisher.stats().as_dict() if gateway.publisher is not None else None
    footer = Text(f"outbox: {stats.depth} waiting, {stats.evicted_total} evicted   mqtt: "
                  + ("off (readings stay in the outbox)" if pub is None else
                     f"{'connected' if pub.get('connected') else 'disconnected'}, "
                     f"{pub.get('acked', 0)} acknowledged"), style="dim", no_wrap=True,
                  overflow="ellipsis")
    errors = [Text(e, style="red", no_wrap=True, overflow="ellipsis")
              for _, e in gateway.live.errors[-3:]]
    width, height = console.size
    table = render(gateway.live.snapshot(), snap.get("devices", {}), title=title,
                   width=width, height=max(3, height - 1 - len(errors) - 1),
                   buses=snap.get("buses", {}), console=console)
    return Group(table, footer, *errors)


def follow_view(cfg: SiteConfig, console: Console, *, duration: float | None) -> None:
    """The table of the running gateway, from its MQTT topics (gateway.follow)."""
    from gateway.follow import Follower
    from gateway.watch_view import render

    if cfg.mqtt is None:
        typer.echo(f"error: {cfg.path}: no [mqtt] section, so the gateway publishes nothing to "
                   "follow; stop the service and run `metergate watch` instead", err=True)
        raise typer.Exit(2)
    try:
        follower = Follower(cfg)
        follower.start()
    except Exception as exc:  # a password file or TLS file that cannot be read, a bad host
        typer.echo(f"error: cannot follow through {cfg.mqtt.host}:{cfg.mqtt.port}: {exc}",
                   err=True)
        raise typer.Exit(1) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    title = (f"{cfg.site.id} / {cfg.site.gateway_id} — {len(cfg.meters)} meters, read-only from "
             f"{cfg.mqtt.host}:{cfg.mqtt.port} (Ctrl-C to stop)")

    def screen() -> RenderableType:
        views, devices, buses = follower.snapshot()
        health = ("no health document yet (every health.interval)" if follower.health_at is None
                  else f"health of {time.strftime('%H:%M:%S', time.localtime(follower.health_at))}")
        link = "connected" if follower.connected else (follower.last_error or "connecting")
        footer = Text(f"mqtt: {link}   {health}", style="dim", no_wrap=True, overflow="ellipsis")
        width, height = console.size
        return Group(render(views, devices, title=title, width=width, height=max(3, height - 2),
                            buses=buses, console=console), footer)

    end = None if duration is None else time.monotonic() + duration
    try:
        with Live(screen(), console=console, auto_refresh=False, vertical_overflow="crop") as live:
            while not stop.wait(0.5):
                live.update(screen(), refresh=True)
                if end is not None and time.monotonic() >= end:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        follower.stop()
