"""IngestService in-process against a real mosquitto and a real VictoriaMetrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.ingest.config import load_ingest_config
from gateway.ingest.service import IngestService
from tests.support.ingest import Publisher, ingest_toml, readings_payload, topic_for
from tests.support.mosquitto import MosquittoFactory, RecorderFactory
from tests.support.victoria import VictoriaFactory

T0 = 1_763_700_000.0  # 2025-11-21


@pytest.fixture
def services() -> Iterator[list[IngestService]]:
    started: list[IngestService] = []
    yield started
    for service in started:
        service.stop()


def _start(path: Path, services: list[IngestService]) -> IngestService:
    service = IngestService(load_ingest_config(path))
    services.append(service)
    service.start()
    assert service.consumer.wait_subscribed(10)
    return service


def test_writes_every_reading_acks_and_reports_health(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    health = mqtt_recorder(broker, "metergate/ingest/+/health", client_id="health-watch")
    service = _start(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services)
    pub = Publisher(broker.host, broker.port)
    now = time.time()
    for seq in range(1, 51):
        meter = f"m{seq % 5}"
        pub.send(topic_for(meter), readings_payload(
            meter, seq=seq, ts=round(now - 60 + seq * 0.5, 3),
            values={"power_active": seq * 10.5, "voltage_l1": 230.0 + seq / 8,
                    "frequency": None if seq % 10 == 0 else 50.0}))
    assert pub.flush(10)
    assert vm.wait_count('{__name__="power_active_value"}', 50, timeout=20) == 50
    samples = vm.samples('{__name__=~"(power_active|voltage_l1|frequency)_(value|quality)"}')
    for seq in range(1, 51):
        ms = round((round(now - 60 + seq * 0.5, 3)) * 1000)
        tags = (("gateway", "gw-1"), ("meter", f"m{seq % 5}"), ("site", "campus-a"))
        assert samples[("power_active_value", tags, ms)] == seq * 10.5
        assert samples[("voltage_l1_value", tags, ms)] == 230.0 + seq / 8
        if seq % 10 == 0:  # no value: a quality point (comm_error = 4), never a stand-in number
            assert ("frequency_value", tags, ms) not in samples
            assert samples[("frequency_quality", tags, ms)] == 4
        else:
            assert samples[("frequency_value", tags, ms)] == 50.0
    deadline = time.monotonic() + 5
    while service.unacked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.unacked == 0 and service.metrics.n_points == 150
    assert health.wait_for(lambda m: any(json.loads(x.payload)["points_written"] == 150 for x in m), 5)
    doc = json.loads(health.snapshot()[-1].payload)
    assert doc["schema"] == "metergate.ingest-health/1" and doc["client_id"] == "ingest-a"
    assert doc["messages_in"] == 50 and doc["dead_letters"]["total"] == 0 and doc["unacked"] == 0
    assert 0 < doc["lag_s"] < 120
    # everything was acknowledged: the same session, resumed, gets nothing again
    service.stop()
    services.remove(service)
    again = _start(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services)
    time.sleep(1.5)
    assert again.metrics.n_messages == 0
