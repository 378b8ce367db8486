"""The gateway's health metrics: one Prometheus registry shared by the scheduler, the outbox pump and
the publisher, exposed as Prometheus text on a local port and summarised on the MQTT health topic.

prometheus_client does the bookkeeping and the text format; latency percentiles for the health
topic come from a small per-device window of recent request times (Prometheus itself works from the
histogram buckets).
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WINDOW = 256  # recent requests kept per device for percentiles


class LatencyWindow:
    """Recent request latencies of one device in a ring of C doubles (2 KiB, not 256 Python
    floats: with a thousand devices that difference is megabytes); percentiles on demand."""

    def __init__(self, size: int = WINDOW) -> None:
        self._ring = array("d", bytes(8 * size))
        self._count = 0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._ring[self._count % len(self._ring)] = seconds
            self._count += 1

    def percentiles(self, qs: Iterable[float] = (0.5, 0.95, 0.99)) -> dict[str, float | None]:
        with self._lock:
            values = sorted(self._ring[: min(self._count, len(self._ring))])
        out: dict[str, float | None] = {}
        for q in qs:
            key = f"p{round(q * 100)}"
            out[key] = values[min(len(values) - 1, int(q * len(values)))] if values else None
        return out


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("metergate_modbus_requests", "Modbus requests sent",
                                ["bus", "device"], registry=r)
        self.failures = Counter(
            "metergate_modbus_failures",
            "Failed Modbus requests by reason (timeout, crc_error, exception_N, connect_error)",
            ["bus", "device", "reason"], registry=r)
        self.latency = Histogram("metergate_modbus_request_seconds",
                                 "Round trip of answered Modbus requests", ["bus"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.polls = Counter("metergate_polls", "Poll-group reads by result (ok, partial, failed, "
                             "skipped: circuit open)", ["bus", "device", "result"], registry=r)
        self.missed = Counter("metergate_polls_missed",
                              "Poll deadlines skipped because the bus was busy", ["bus"],
                              registry=r)
        self.airtime_planned = Gauge("metergate_bus_airtime_planned_ratio",
                                     "Line time the configured polling needs, per second",
                                     ["bus"], registry=r)
        self.busy = Gauge("metergate_bus_busy_ratio",
                          "Measured share of time the bus spent in requests (last minute)",
                          ["bus"], registry=r)
        self.device_up = Gauge("metergate_device_up",
                               "1 if the device answered its last poll, 0 if not", ["device"],
                               registry=r)
        self.outbox_depth = Gauge("metergate_outbox_depth", "Messages waiting in the outbox",
                                  registry=r)
        self.outbox_bytes = Gauge("metergate_outbox_bytes", "Outbox size on disk", registry=r)
        self.outbox_evicted = Gauge("metergate_outbox_evicted",
                                    "Messages evicted by the disk budget (total)", registry=r)
        self.outbox_errors = Counter("metergate_outbox_errors",
                                     "Readings that could not be stored (disk full, I/O)",
                                     registry=r)
        self.mqtt_connected = Gauge("metergate_mqtt_connected", "1 while connected to the broker",
                                    registry=r)
        self.mqtt_published = Counter("metergate_mqtt_published", "Reading messages published",
                                      registry=r)
        self.mqtt_acked = Counter("metergate_mqtt_acked",
                                  "Reading messages acknowledged by the broker", registry=r)
        self._windows: dict[str, LatencyWindow] = {}
        self._lock = threading.Lock()

    def window(self, device: str) -> LatencyWindow:
        with self._lock:
            if device not in self._windows:
                self._windows[device] = LatencyWindow()
            return self._windows[device]

    def serve(self, host: str, port: int) -> None:
        """Prometheus text on http://host:port/metrics (a daemon thread)."""
        start_http_server(port, addr=host, registry=self.registry)
