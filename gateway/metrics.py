"""The gateway's health metrics: one Prometheus registry shared by the scheduler, the outbox pump and
the publisher, exposed as Prometheus text on a local port and summarised on the MQTT health topic.

prometheus_client does the bookkeeping and the text format; latency percentiles for the health
topic come from a small per-device window of recent request times (Prometheus itself works from the
histogram buckets).

Per-device series (requests, polls by result, up) are not prometheus_client children: a thousand
meters would hold six thousand of them (each with its own lock, a few hundred bytes) and pay a
locked increment per request. The scheduler already counts the same things in plain ints for its
snapshot, so those are turned into metric families when Prometheus scrapes (DeviceCollector).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from core.latency import LatencyWindow
from gateway.metric_values import Labelled, families

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class DeviceCounts(NamedTuple):
    """One device's counters as its bus worker keeps them."""

    bus: str
    device: str
    requests: int
    polls: Mapping[str, int]  # result -> polls
    up: bool | None  # None: not polled yet


DeviceSource = Callable[[], Iterable[DeviceCounts]]


class DeviceCollector:
    """The per-device series, built at scrape time from the sources' plain counters."""

    def __init__(self) -> None:
        self._sources: list[DeviceSource] = []

    def add(self, source: DeviceSource) -> None:
        self._sources.append(source)

    def describe(self) -> list[Any]:
        return []  # names are not known before the scheduler exists; nothing to check at register

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        requests = CounterMetricFamily("metergate_modbus_requests", "Modbus requests sent",
                                       labels=["bus", "device"])
        polls = CounterMetricFamily("metergate_polls", "Poll-group reads by result (ok, partial, "
                                    "failed, skipped: circuit open)",
                                    labels=["bus", "device", "result"])
        up = GaugeMetricFamily("metergate_device_up",
                               "1 if the device answered its last poll, 0 if not",
                               labels=["device"])
        for source in self._sources:
            for c in source():
                requests.add_metric([c.bus, c.device], c.requests)
                for result, n in c.polls.items():
                    polls.add_metric([c.bus, c.device, result], n)
                up.add_metric([c.device], 1 if c.up else 0)
        yield requests
        yield polls
        yield up


class MqttCounts(NamedTuple):
    connected: bool
    published: int  # readings messages sent (re-sends included)
    acked: int  # readings messages the broker acknowledged


class MqttCollector:
    """The publisher's counters (it keeps them anyway), read at scrape time."""

    def __init__(self) -> None:
        self.source: Callable[[], MqttCounts] | None = None

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        c = self.source() if self.source is not None else MqttCounts(False, 0, 0)
        yield GaugeMetricFamily("metergate_mqtt_connected", "1 while connected to the broker",
                                value=1 if c.connected else 0)
        yield CounterMetricFamily("metergate_mqtt_published", "Reading messages published",
                                  value=c.published)
        yield CounterMetricFamily("metergate_mqtt_acked",
                                  "Reading messages acknowledged by the broker", value=c.acked)


class GatewayMetrics:
    """The gateway's metrics. Updates are plain numbers (gateway.metric_values); prometheus_client is
    imported, and its registry made, only when the endpoint is served or `registry` is asked for."""

    def __init__(self) -> None:
        self.devices = DeviceCollector()
        self.failures = Labelled(
            "metergate_modbus_failures",
            "Failed Modbus requests by reason (timeout, crc_error, exception_N, connect_error)",
            ("bus", "device", "reason"), "counter")
        self.latency = Labelled("metergate_modbus_request_seconds", "Round trip of answered Modbus requests",
                                ("bus",), "histogram", LATENCY_BUCKETS)
        self.missed = Labelled("metergate_polls_missed", "Poll deadlines skipped because the bus was busy",
                               ("bus",), "counter")
        self.airtime_planned = Labelled("metergate_bus_airtime_planned_ratio",
                                        "Line time the configured polling needs, per second", ("bus",),
                                        "gauge")
        self.busy = Labelled("metergate_bus_busy_ratio",
                             "Measured share of time the bus spent in requests (last minute)", ("bus",),
                             "gauge")
        self.outbox_depth = Labelled("metergate_outbox_depth", "Messages waiting in the outbox", (), "gauge")
        self.outbox_bytes = Labelled("metergate_outbox_bytes", "Outbox size on disk", (), "gauge")
        self.outbox_evicted = Labelled("metergate_outbox_evicted",
                                       "Messages evicted by the disk budget (total)", (), "gauge")
        self.outbox_errors = Labelled("metergate_outbox_errors",
                                      "Readings that could not be stored (disk full, I/O)", (), "counter")
        self.mqtt = MqttCollector()
        self._values = [self.failures, self.latency, self.missed, self.airtime_planned, self.busy,
                        self.outbox_depth, self.outbox_bytes, self.outbox_evicted, self.outbox_errors]
        self._registry: Any = None
        self._windows: dict[str, LatencyWindow] = {}
        self._lock = threading.Lock()

    @property
    def registry(self) -> Any:
        """The prometheus_client CollectorRegistry of every metric (made on first use)."""
        with self._lock:
            if self._registry is None:
                from prometheus_client import CollectorRegistry

                reg = CollectorRegistry()
                reg.register(self.devices)
                reg.register(ValuesCollector(self._values))
                reg.register(self.mqtt)
                self._registry = reg
            return self._registry

    def window(self, device: str) -> LatencyWindow:
        with self._lock:
            if device not in self._windows:
                self._windows[device] = LatencyWindow()
            return self._windows[device]

    def serve(self, host: str, port: int) -> None:
        """Prometheus text on http://host:port/metrics (a daemon thread)."""
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)


class ValuesCollector:
    """The plain values' families, built at scrape time."""

    def __init__(self, values: list[Labelled]) -> None:
        self.values = values

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        return families(self.values)
