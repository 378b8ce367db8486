"""`metergate watch CONFIG`: run the gateway in the foreground with a live table of every meter."""

from __future__ import annotations

import logging
import signal
import time
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from drivers.errors import MetergateError
from gateway.commands.run import ConfigArg, load_or_exit

PublishOpt = Annotated[bool, typer.Option("--publish/--no-publish",
                                          help="Publish to the config's MQTT broker too.")]
DurationOpt = Annotated[float | None, typer.Option("--duration", min=0,
                                                   help="Stop after this many seconds.")]


def watch(config: ConfigArg, publish: PublishOpt = True, duration: DurationOpt = None) -> None:
    """Poll every meter in CONFIG and show a live table: latest values, quality, age and error
    counts — what to look at while commissioning. Readings are stored (and published) as by `run`;
    stop the metergate service first if it holds the serial ports."""
    from gateway.runtime import Gateway, RuntimeOptions

    console = Console()
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    cfg = load_or_exit(config)
    try:
        gateway = Gateway(cfg, RuntimeOptions(publish=publish, serve_metrics=False))
    except MetergateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    run_view(gateway, console, duration=duration,
             title=f"{cfg.site.id} / {cfg.site.gateway_id} — {len(cfg.meters)} meters "
                   f"(Ctrl-C to stop)")


def run_view(gateway, console: Console, *, duration: float | None, title: str) -> None:  # type: ignore[no-untyped-def]
    from gateway.watch_view import render

    signal.signal(signal.SIGTERM, lambda *_: gateway.request_stop())
    gateway.start()
    end = None if duration is None else time.monotonic() + duration

    def frame():  # type: ignore[no-untyped-def]
        snap = gateway.scheduler.snapshot()
        table = render(gateway.live.snapshot(), snap.get("devices", {}), title=title)
        stats = gateway.outbox.stats()
        pub = gateway.publisher.stats().as_dict() if gateway.publisher is not None else None
        footer = Text(f"outbox: {stats.depth} waiting, {stats.evicted_total} evicted   mqtt: "
                      + ("off (readings stay in the outbox)" if pub is None else
                         f"{'connected' if pub.get('connected') else 'disconnected'}, "
                         f"{pub.get('acked', 0)} acknowledged"), style="dim")
        errors = [Text(e, style="red") for _, e in gateway.live.errors[-3:]]
        return Group(table, footer, *errors)

    try:
        with Live(frame(), console=console, refresh_per_second=2) as live:
            while not gateway.wait_for_stop(0.5):
                live.update(frame())
                if end is not None and time.monotonic() >= end:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()

