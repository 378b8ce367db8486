"""Ingest's health: prometheus-client counters (served as Prometheus text) and the JSON document
published on the health topic every `interval`.

    messages_in        readings messages received (re-deliveries included)
    points_written     points the database accepted
    write latency      seconds per successful write request (histogram; p50/p95 on the topic)
    write retries      failed write attempts that were retried
    dead_letters       messages refused, by kind (size, contract, topic, timestamp, value, database)
    lag_seconds        now - ts of the newest message written (how far behind the gateways we are)
    unacked            messages received and not yet acknowledged (bounded by receive_maximum)
    stalled            the oldest unacknowledged message, once it has held up the others for
                       [health] stall_after (the consumer's stall watch); null otherwise
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from core.latency import LatencyWindow
from services.shared.consumer import Stall

WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SCHEMA = "metergate.ingest-health/1"


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages_in = Counter("metergate_ingest_messages", "Readings messages received", registry=r)
        self.points_written = Counter("metergate_ingest_points_written",
                                      "Points accepted by the database", registry=r)
        self.batches = Counter("metergate_ingest_batches_written", "Batches written", registry=r)
        self.write_seconds = Histogram("metergate_ingest_write_seconds",
                                       "Duration of successful write requests", buckets=WRITE_BUCKETS,
                                       registry=r)
        self.write_failures = Counter("metergate_ingest_write_failures",
                                      "Failed write attempts (each is retried)", registry=r)
        self.dead_letters = Counter("metergate_ingest_dead_letters",
                                    "Messages refused and published to the dead-letter topic, by kind",
                                    ["kind"], registry=r)
        self.dead_letter_errors = Counter("metergate_ingest_dead_letter_failures",
                                          "Dead-letter publications the broker refused", registry=r)
        self.lag = Gauge("metergate_ingest_lag_seconds",
                         "Now minus the gateway time of the newest message written", registry=r)
        self.unacked = Gauge("metergate_ingest_unacked_messages",
                             "Messages received and not yet acknowledged", registry=r)
        self.connected = Gauge("metergate_ingest_mqtt_connected", "1 while connected to the broker",
                               registry=r)
        self.stalled = Gauge("metergate_ingest_stalled_seconds",
                             "How long the oldest unacknowledged message has held up acknowledgements, "
                             "once past [health] stall_after; 0 otherwise", registry=r)
        self._stall_source: Callable[[], Stall | None] = lambda: None
        self.window = LatencyWindow()
        self._lock = threading.Lock()
        self._dead_by_kind: dict[str, int] = {}
        # plain copies for the health document (prometheus-client keeps its values private)
        self.n_messages = self.n_points = self.n_batches = self.n_retries = 0
        self._unacked_source: Callable[[], int] = lambda: 0
        self.lag_s = 0.0
        self.is_connected = False
        self.last_write_error: str | None = None
        self.started = time.time()

    # -- events -----------------------------------------------------------------------------------

    def received(self) -> None:
        self.n_messages += 1
        self.messages_in.inc()

    def count_unacked(self, source: Callable[[], int]) -> None:
        """Where the number of unacknowledged messages comes from (read at scrape and publish time)."""
        self._unacked_source = source
        self.unacked.set_function(lambda: float(source()))

    def watch_stalls(self, source: Callable[[], Stall | None]) -> None:
        """Where the current stall comes from (the consumer's stall watch)."""
        self._stall_source = source
        self.stalled.set_function(lambda: _stuck(source()))

    def set_connected(self, up: bool) -> None:
        self.is_connected = up
        self.connected.set(1 if up else 0)

    def written(self, points: int, newest_ts: float | None) -> None:
        self.n_points += points
        self.n_batches += 1
        self.points_written.inc(points)
        self.batches.inc()
        if newest_ts is not None:
            self.lag_s = max(0.0, time.time() - newest_ts)
            self.lag.set(self.lag_s)

    def attempt(self, ok: bool, seconds: float, error: str | None) -> None:
        """LineWriter's on_attempt hook."""
        if ok:
            self.write_seconds.observe(seconds)
            self.window.add(seconds)
            self.last_write_error = None
        else:
            self.n_retries += 1
            self.write_failures.inc()
            self.last_write_error = error

    def dead_letter(self, kind: str) -> None:
        self.dead_letters.labels(kind).inc()
        with self._lock:
            self._dead_by_kind[kind] = self._dead_by_kind.get(kind, 0) + 1

    # -- outputs ----------------------------------------------------------------------------------

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def document(self, client_id: str) -> dict[str, Any]:
        with self._lock:
            by_kind = dict(self._dead_by_kind)
        latency = self.window.percentiles((0.5, 0.95))
        return {
            "schema": SCHEMA,
            "client_id": client_id,
            "ts": round(time.time(), 3),
            "uptime_s": round(time.time() - self.started, 2),
            "connected": self.is_connected,
            "messages_in": self.n_messages,
            "points_written": self.n_points,
            "batches": self.n_batches,
            "write": {"retries": self.n_retries,
                      "latency_ms_p50": _ms(latency["p50"]), "latency_ms_p95": _ms(latency["p95"]),
                      "last_error": self.last_write_error},
            "dead_letters": {"total": sum(by_kind.values()), **by_kind},
            "lag_s": round(self.lag_s, 3),
            "unacked": self._unacked_source(),
            "stalled": None if (stall := self._stall_source()) is None else stall.document(),
        }

    def payload(self, client_id: str) -> bytes:
        return json.dumps(self.document(client_id), allow_nan=False).encode()


def _stuck(stall: Stall | None) -> float:
    return 0.0 if stall is None else stall.stuck_s


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
