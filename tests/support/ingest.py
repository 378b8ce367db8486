"""Helpers for ingest tests and the ingest benchmark: configs, readings documents, a QoS 1 publisher.

    config = ingest_toml(tmp_path, broker, influx_url=vm.url, client_id="ingest-a")
    pub = Publisher(broker)                     # paho, MQTT 5, waits for every PUBACK
    pub.send(topic_for("m01"), readings_payload("m01", seq=1, ts=..., values={...}))
    pub.flush()

    def test_x(services):                       # fixture (plugin registered in tests/conftest.py)
        service = start_ingest(config, services)   # IngestService, started, subscribed; stopped at teardown
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from services.ingest.config import load_ingest_config
from services.ingest.service import IngestService

SITE, GATEWAY = "campus-a", "gw-1"


def topic_for(meter: str, site: str = SITE, gateway: str = GATEWAY, prefix: str = "metergate") -> str:
    return f"{prefix}/v1/{site}/{gateway}/meters/{meter}/readings"


def readings_doc(meter: str, *, seq: int, ts: float, values: Mapping[str, float | None],
                 site: str = SITE, gateway: str = GATEWAY) -> dict[str, Any]:
    """A metergate.readings/1 document; a value of None becomes quality comm_error."""
    items: list[dict[str, Any]] = []
    for quantity, value in values.items():
        if value is None:
            items.append({"quantity": quantity, "value": None, "unit": "", "quality": "comm_error",
                          "error": "timeout after 0.5 s"})
        else:
            items.append({"quantity": quantity, "value": value, "unit": "W", "quality": "ok"})
    return {"schema": "metergate.readings/1", "site": site, "gateway": gateway, "meter": meter,
            "seq": seq, "ts": ts,
            "time": datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds"),
            "readings": items}


def readings_payload(meter: str, **kwargs: Any) -> bytes:
    return json.dumps(readings_doc(meter, **kwargs)).encode()


def ingest_toml(folder: Path, broker_port: int, *, influx_url: str, api: str = "v2",
                client_id: str = "ingest-a", database: str = "energy", extra_influx: str = "",
                max_points: int = 5000, max_delay: str = "100ms", receive_maximum: int = 1000,
                max_future: str = "5m", health_interval: str = "1s", name: str = "ingest.toml",
                prometheus_port: int = 0, extra: str = "", extra_mqtt: str = "") -> Path:
    where = f'bucket = "{database}"' if api == "v2" else f'database = "{database}"'
    text = f"""
[mqtt]
host = "127.0.0.1"
port = {broker_port}
client_id = "{client_id}"
session_expiry = "1h"
receive_maximum = {receive_maximum}
{extra_mqtt}

[influx]
api = "{api}"
url = "{influx_url}"
{where}
timeout = "2s"
{extra_influx}

[batching]
max_points = {max_points}
max_delay = "{max_delay}"

[retry]
initial = "100ms"
maximum = "1s"

[limits]
max_future = "{max_future}"

[health]
interval = "{health_interval}"
prometheus_port = {prometheus_port}
{extra}
"""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


class Publisher:
    """A QoS 1 publisher (MQTT 5) that can wait until the broker has acknowledged everything."""

    def __init__(self, host: str, port: int, client_id: str = "test-publisher", *,
                 username: str | None = None, password: str | None = None) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self._lock = threading.Lock()  # never held while calling paho (its callbacks take it)
        self._idle = threading.Condition(self._lock)
        self.sent = 0
        self.acked = 0
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, 30)
        self.client.loop_start()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            self.acked += 1
            self._idle.notify_all()

    def send(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.sent += 1
        self.client.publish(topic, payload, qos=1)

    def flush(self, timeout: float = 60.0) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: self.acked >= self.sent, timeout)

    def close(self) -> None:
        self.flush(10)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def services() -> Iterator[list[IngestService]]:
    """The in-process IngestServices a test started (it appends them); each is stopped at teardown."""
    started: list[IngestService] = []
    yield started
    for service in started:
        service.stop()


def start_ingest(config: Path, services: list[IngestService], *,
                 subscribed: bool = True) -> IngestService:
    """An IngestService for `config`, appended to `services` and started; with `subscribed`, once
    its consumer has subscribed (within 10 s)."""
    service = IngestService(load_ingest_config(config))
    services.append(service)
    service.start()
    if subscribed:
        assert service.consumer.wait_subscribed(10), service.consumer.last_error
    return service


def run_ingest(config: Path, log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`metergate ingest CONFIG` as a real process (its output appended to `log`)."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "ingest", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})})


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(10)


def stream(pub: Publisher, count: int, rate: float, *, meters: int = 20, quantities: int = 5,
           start_seq: int = 1, t0: float | None = None) -> list[tuple[str, int, float, dict[str, float]]]:
    """Publish `count` readings messages at about `rate` per second, round-robin over `meters`;
    returns (meter, seq, ts, values) of each (ts spaced 1 ms apart so every point is distinct)."""
    t0 = time.time() - 30 if t0 is None else t0
    sent = []
    started = time.monotonic()
    for i in range(count):
        seq = start_seq + i
        meter = f"m{seq % meters:02d}"
        ts = round(t0 + seq / 1000, 3)
        values = {f"q_{k}": seq * 10 + k + 0.5 for k in range(quantities)}
        pub.send(topic_for(meter), readings_payload(meter, seq=seq, ts=ts, values=values))
        sent.append((meter, seq, ts, values))
        ahead = started + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    return sent


def expected_samples(sent: list[tuple[str, int, float, dict[str, float]]]) -> dict[tuple[str, tuple[
        tuple[str, str], ...], int], float]:
    """What VictoriaMetrics must hold for `sent` (Victoria.samples() keys: name, labels, ms)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...], int], float] = {}
    for meter, _seq, ts, values in sent:
        labels = (("gateway", GATEWAY), ("meter", meter), ("site", SITE))
        for quantity, value in values.items():
            out[(f"{quantity}_value", labels, round(ts * 1000))] = value
    return out
