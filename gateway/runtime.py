"""The gateway runtime: scheduler -> durable outbox -> MQTT publisher, with health and systemd.

Data path and its guarantee: every poll the scheduler completes is committed to the outbox before
anything else happens to it; the writer then hands the committed messages to the publisher in
memory (it reads from the outbox after a reconnect or when it fell behind) and the publisher deletes
a message only after the broker's PUBACK. If the outbox cannot take a poll (disk full), the failure
is counted and logged with the path, and polling goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.sdnotify import notify, watchdog_interval
from core.tls_files import TlsFiles
from gateway import __version__
from gateway.live import LiveView
from gateway.metrics import GatewayMetrics
from gateway.mqtt import payloads
from gateway.mqtt.publisher import ACK_DELAY_S, MqttOptions, Publisher
from gateway.outbox import CommittedMessage, Outbox, OutboxError, OutboxStats
from gateway.outbox_lock import OutboxLock
from gateway.outbox_writer import OutboxWriter
from gateway.scheduler import PollResult, Scheduler
from gateway.threadname import name_this_thread
from site_config import SiteConfig

log = logging.getLogger("metergate.gateway")


@dataclass
class RuntimeOptions:
    publish: bool = True  # False: keep readings in the outbox only (no broker)
    serve_metrics: bool = True
    health_interval_s: float | None = None  # default: the config's [health] interval
    extra_health: Callable[[], dict[str, Any]] | None = None
    connection_factory: Any = None  # tests and benchmarks may swap the Modbus connection
    on_poll: list[Callable[[PollResult], None]] = field(default_factory=list)
    command: str = "run"  # named in the outbox lock, for the refusal another gateway process sees
    mqtt_client_id: str | None = None  # default: the config's client id


class Gateway:
    def __init__(self, config: SiteConfig, options: RuntimeOptions | None = None) -> None:
        self.config = config
        self.options = options or RuntimeOptions()
        self.metrics = GatewayMetrics()
        self.live = LiveView(config)
        self.started = time.time()
        # one gateway process per outbox (run, watch, demo): refused here, before any port or
        # broker connection is opened, so the running one is never disturbed
        self.outbox_lock = OutboxLock(config.outbox.path, self.options.command)
        self.outbox_lock.acquire()
        try:
            self.outbox = Outbox(config.outbox.path, max_bytes=config.outbox.max_bytes,
                                 synchronous=config.outbox.synchronous)
        except BaseException:
            self.outbox_lock.release()
            raise
        self.publisher: Publisher | None = None
        if config.mqtt is not None and self.options.publish:
            # acknowledged messages are handed to the outbox once per commit interval and deleted
            # in the next commit's transaction (Outbox.ack_with_next_commit)
            self.publisher = Publisher(mqtt_options(config, self.options.mqtt_client_id),
                                       self.outbox,
                                       ack_interval_s=max(config.outbox.commit_interval_s,
                                                          ACK_DELAY_S))
            self.metrics.mqtt.source = self.publisher.counts
        self.writer = OutboxWriter(self.outbox, on_committed=self._committed,
                                   on_error=self._store_failed,
                                   commit_interval_s=config.outbox.commit_interval_s)
        kwargs: dict[str, Any] = {}
        if self.options.connection_factory is not None:
            kwargs["connection_factory"] = self.options.connection_factory
        self.scheduler = Scheduler(config, self._on_poll, metrics=self.metrics,
                                   on_availability=self._on_availability, **kwargs)
        self._stop = threading.Event()
        self._health_thread: threading.Thread | None = None

    # -- data path -------------------------------------------------------------------------------

    def _on_poll(self, result: PollResult) -> None:
        if not self.writer.submit(result):
            self._store_failed(1, OutboxError(str(self.config.outbox.path),
                                              "the writer is too far behind; poll not stored"))
        self.live.update(result)
        for hook in self.options.on_poll:
            hook(result)

    def _committed(self, messages: Sequence[CommittedMessage]) -> None:
        if self.publisher is not None:
            self.publisher.offer(messages)

    def _store_failed(self, polls: int, exc: OutboxError) -> None:
        self.metrics.outbox_errors.inc(polls)
        self.live.note_error(f"outbox: {exc}")
        log.error("could not store %d poll(s): %s", polls, exc)

    def _on_availability(self, meter_id: str, state: str, reason: str | None) -> None:
        self.live.availability(meter_id, state, reason)
        if self.publisher is not None:
            self.publisher.set_availability(meter_id, state, reason)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        cfg = self.config
        if self.options.serve_metrics and cfg.health.prometheus_listen is not None:
            host, port = cfg.health.prometheus_listen
            try:
                self.metrics.serve(host, port)
                log.info("Prometheus metrics on http://%s:%d/metrics", host, port)
            except OSError as exc:
                log.error("cannot serve metrics on %s:%d: %s (health.prometheus_listen)", host,
                          port, exc.strerror or exc)
        if self.publisher is not None:
            for meter in cfg.meters:
                self.publisher.set_meta(meter.id, meta_document(cfg, meter.id))
            self.publisher.start()
        elif cfg.mqtt is None:
            log.warning("no [mqtt] in %s: readings stay in the outbox %s", cfg.path,
                        cfg.outbox.path)
        self.writer.start()
        self.scheduler.start()
        self._health_thread = threading.Thread(target=self._health_loop, name="health",
                                               daemon=True)
        self._health_thread.start()
        notify(f"READY=1\nSTATUS=polling {len(cfg.meters)} meters on {len(cfg.buses)} buses")

    def stop(self) -> None:
        notify("STOPPING=1")
        self._stop.set()
        self.scheduler.stop()
        self.writer.stop()  # commit what the buses handed over before stopping the publisher
        if self.publisher is not None:
            self.publisher.stop()
        if self._health_thread is not None:
            self._health_thread.join(timeout=5)
        self.outbox.close()
        self.outbox_lock.release()

    def run_forever(self) -> None:
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        self._stop.set()

    def wait_for_stop(self, timeout: float) -> bool:
        """True once a stop was requested (SIGTERM, Ctrl-C); waits at most `timeout` seconds."""
        return self._stop.wait(timeout)

    # -- health ----------------------------------------------------------------------------------

    def _health_loop(self) -> None:
        name_this_thread("health")
        interval = self.options.health_interval_s or self.config.health.interval_s
        ping = watchdog_interval()
        tick = min(interval, ping) if ping else interval
        next_health = time.monotonic()
        while not self._stop.wait(tick if ping else max(0.0, next_health - time.monotonic())):
            notify("WATCHDOG=1")
            if time.monotonic() >= next_health:
                next_health = time.monotonic() + interval
                try:
                    doc = self.health_document()
                    if self.publisher is not None:
                        self.publisher.publish_health(doc)
                except Exception:  # health must never take the gateway down
                    log.exception("health report failed")

    def health_document(self) -> dict[str, Any]:
        stats = self.outbox.stats()
        self.metrics.outbox_depth.set(stats.depth)
        self.metrics.outbox_bytes.set(stats.bytes_on_disk)
        self.metrics.outbox_evicted.set(stats.evicted_total)
        snap = self.scheduler.snapshot()
        doc: dict[str, Any] = {
            "schema": "metergate.health/1",
            "site": self.config.site.id,
            "gateway": self.config.site.gateway_id,
            "ts": time.time(),
            "uptime_s": round(time.time() - self.started, 1),
            "version": __version__,
            "outbox": outbox_health(stats),
            "buses": snap.get("buses", {}),
            "devices": snap.get("devices", {}),
            "mqtt": (self.publisher.stats().as_dict() if self.publisher is not None
                     else {"enabled": False}),
        }
        if self.options.extra_health is not None:
            doc.update(self.options.extra_health())
        return doc


def outbox_health(stats: OutboxStats) -> dict[str, Any]:
    """The health document's `outbox` object: every field of OutboxStats, as docs/mqtt.md and
    schemas/health.json name them (`last_evicted` a [first, last] seq pair or null)."""
    doc = asdict(stats)
    doc["last_evicted"] = None if stats.last_evicted is None else list(stats.last_evicted)
    return doc


def mqtt_options(config: SiteConfig, client_id: str | None = None) -> MqttOptions:
    """The site config's [mqtt] as the publisher's options (the password stays a Secret);
    `client_id` replaces the config's."""
    m = config.mqtt
    assert m is not None
    tls = None
    if m.tls is not None:
        tls = TlsFiles(ca_file=m.tls.ca_file, cert_file=m.tls.cert_file, key_file=m.tls.key_file,
                       insecure=m.tls.insecure)
    return MqttOptions(
        host=m.host, port=m.port, protocol=m.protocol,  # type: ignore[arg-type]
        client_id=client_id or m.client_id, username=m.username, password=m.password, tls=tls,
        keepalive=m.keepalive, topic_prefix=m.topic_prefix, site=config.site.id,
        gateway=config.site.gateway_id, timezone=config.site.timezone,
        discovery=m.homeassistant_discovery, discovery_prefix=m.discovery_prefix,
    )


def meta_document(config: SiteConfig, meter_id: str) -> dict[str, Any]:
    """The retained meta document of a configured meter (the quantities its poll groups read)."""
    meter = next(m for m in config.meters if m.id == meter_id)
    return payloads.meta_from_variant(
        meter.id, meter.variant, unit_id=meter.unit, bus=meter.bus, building=meter.building,
        subitem=meter.subitem, quantities=[q for g in meter.poll for q in g.quantities])
