"""IngestService in-process against a real mosquitto and a real VictoriaMetrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

from services.ingest.service import IngestService
from tests.support.ingest import (
    Publisher,
    ingest_toml,
    readings_doc,
    readings_payload,
    start_ingest,
    topic_for,
)
from tests.support.mosquitto import MosquittoFactory, RecorderFactory
from tests.support.victoria import VictoriaFactory

T0 = 1_763_700_000.0  # 2025-11-21


def test_writes_every_reading_acks_and_reports_health(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    health = mqtt_recorder(broker, "metergate/ingest/+/health", client_id="health-watch")
    service = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services)
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
    again = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services)
    time.sleep(1.5)
    assert again.metrics.n_messages == 0


def test_tells_systemd_ready_and_pings_the_watchdog(tmp_path: Path, mosquitto: MosquittoFactory,
                                                    victoria: VictoriaFactory) -> None:
    """systemd/metergate-ingest.service is Type=notify with WatchdogSec: the real process says
    READY=1 once started, pings WATCHDOG=1 while its threads live, and STOPPING=1 on SIGTERM."""
    import socket

    from tests.support.ingest import run_ingest, stop_process

    broker, vm = mosquitto(), victoria()
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(20)
        proc = run_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url), tmp_path / "log",
                          env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "600000"})
        try:
            seen = [server.recv(4096).decode() for _ in range(3)]
            assert seen[0].startswith("READY=1\nSTATUS=ingesting $share/ingest/")
            assert all(s.startswith("WATCHDOG=1\nSTATUS=0 points written") for s in seen[1:])
        finally:
            assert stop_process(proc) == 0
        server.settimeout(0.2)
        after: list[str] = []
        try:
            while True:
                after.append(server.recv(4096).decode())
        except TimeoutError:
            pass
        assert "STOPPING=1" in after


def test_a_checker_bug_dead_letters_the_message_and_ingest_goes_on(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, "metergate/ingest/dead-letter", client_id="dead-watch")
    service = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services)
    real_check = service.validator.check

    def buggy(topic: str, payload: bytes, now: float):  # type: ignore[no-untyped-def]
        if b'"seq": 3,' in payload:
            raise KeyError("a bug")
        return real_check(topic, payload, now)

    service.validator.check = buggy  # type: ignore[method-assign]
    pub = Publisher(broker.host, broker.port)
    now = time.time()
    for seq in range(1, 6):
        pub.send(topic_for("m1"), readings_payload("m1", seq=seq, ts=round(now - 10 + seq, 3),
                                                   values={"power_active": float(seq)}))
    assert pub.flush(10)
    assert vm.wait_count('{__name__="power_active_value"}', 4, timeout=20) == 4
    assert dead.wait_for(lambda m: len(m) == 1, 10)
    letter = json.loads(dead.snapshot()[0].payload)
    assert letter["kind"] == "internal" and "KeyError" in letter["reason"]
    assert service.consumer.running and service.consumer.connected


def test_prometheus_text(tmp_path: Path, mosquitto: MosquittoFactory, victoria: VictoriaFactory,
                         services: list[IngestService]) -> None:
    import urllib.request

    from tests.support.mosquitto import free_port

    broker, vm = mosquitto(), victoria()
    port = free_port()
    start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url, prometheus_port=port), services)
    pub = Publisher(broker.host, broker.port)
    now = time.time()
    for seq in range(1, 11):
        pub.send(topic_for("m1"), readings_payload("m1", seq=seq, ts=round(now - 20 + seq, 3),
                                                   values={"power_active": 1.0, "voltage_l1": None}))
    pub.send(topic_for("m1"), b"{broken")
    assert pub.flush(10)
    assert vm.wait_count('{__name__="power_active_value"}', 10, timeout=20) == 10
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline and not ("metergate_ingest_points_written_total 20.0" in text and
                                               "metergate_ingest_unacked_messages 0.0" in text):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        time.sleep(0.1)
    for sample in ("metergate_ingest_messages_total 11.0", "metergate_ingest_points_written_total 20.0",
                   'metergate_ingest_dead_letters_total{kind="contract"} 1.0',
                   "metergate_ingest_unacked_messages 0.0", "metergate_ingest_mqtt_connected 1.0",
                   "metergate_ingest_write_seconds_count", "metergate_ingest_lag_seconds",
                   "metergate_ingest_write_failures_total 0.0"):
        assert sample in text, f"{sample!r} not in\n{text}"


def test_bad_readings_are_dead_lettered_alone_and_the_rest_written(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, "metergate/ingest/dead-letter", client_id="dead-letter-watch")
    service = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services)
    now = time.time()
    values: dict[str, float | None] = {f"q_{i}": i + 0.5 for i in range(60)}
    doc = readings_doc("m1", seq=7, ts=round(now - 30, 3), values=values)
    doc["readings"][5]["ts"] = round(now + 86400, 3)  # a clock jump on one reading
    doc["readings"][40]["value"] = 10**400  # does not fit a float
    payload = json.dumps(doc).encode()
    assert len(payload) > 4096  # a poll of 60 readings: the whole of it must be kept
    pub = Publisher(broker.host, broker.port)
    pub.send(topic_for("m1"), payload)
    assert pub.flush(10)
    assert dead.wait_for(lambda m: len(m) >= 1, timeout=20)
    assert vm.wait_count('{__name__=~"q_.*_value"}', 58, timeout=20) == 58
    written = {name for name, _, _ in vm.samples('{__name__=~"q_.*_value"}')}
    assert written == {f"q_{i}_value" for i in range(60)} - {"q_5_value", "q_40_value"}
    letters = [json.loads(m.payload) for m in dead.snapshot()]
    assert len(letters) == 1
    letter = letters[0]
    assert [(r["index"], r["kind"]) for r in letter["refused"]] == [(5, "timestamp"), (40, "value")]
    assert "readings[5].ts" in letter["refused"][0]["reason"]
    assert "too large for a float" in letter["refused"][1]["reason"]
    assert letter["refused"][1]["reading"]["quantity"] == "q_40"
    assert (letter["site"], letter["gateway"], letter["meter"], letter["seq"]) == (
        "campus-a", "gw-1", "m1", 7)
    assert letter["payload"].encode() == payload and letter["truncated"] is False
    assert letter["kind"] == "timestamp" and "2 of 60 reading(s) refused" in letter["reason"]
    deadline = time.monotonic() + 10
    while service.unacked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.unacked == 0  # acknowledged once written and dead-lettered


def test_upper_case_ids_arrive_case_preserved(
        tmp_path: Path, mosquitto: MosquittoFactory, victoria: VictoriaFactory,
        services: list[IngestService]) -> None:
    """Site, gateway and meter ids such as `Hill-Side`, `GW-1`, `E01` (building registers use upper
    case): topic, schema and line-protocol tags keep them as written, end to end."""
    broker, vm = mosquitto(), victoria()
    start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services)
    pub = Publisher(broker.host, broker.port)
    now = round(time.time() - 30, 3)
    for seq, (meter, value) in enumerate((("E01", 1.5), ("B-3_main", 2.5), ("e02", 3.5)), start=1):
        pub.send(topic_for(meter, site="Hill-Side", gateway="GW-1"), readings_payload(
            meter, seq=seq, ts=now, values={"energy_active_import": value}, site="Hill-Side",
            gateway="GW-1"))
    assert pub.flush(10)
    assert vm.wait_count('{__name__="energy_active_import_value"}', 3, timeout=20) == 3
    samples = vm.samples('{__name__="energy_active_import_value"}')
    ms = round(now * 1000)
    for meter, value in (("E01", 1.5), ("B-3_main", 2.5), ("e02", 3.5)):
        tags = (("gateway", "GW-1"), ("meter", meter), ("site", "Hill-Side"))
        assert samples[("energy_active_import_value", tags, ms)] == value
