"""Acceptance (database outage): 20 meters streaming every second through a real gateway; the
database (influxd 1.6.7, v1 /write with a password from an environment variable) is stopped for
60 s and started again: every point the gateway published arrives, with the right value and
timestamp, none missing, none extra. Memory stays bounded: the broker holds the backlog and ingest
never has more than `receive_maximum` messages unacknowledged."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.site import site_toml
from tests.support.influxdb1 import InfluxFactory
from tests.support.ingest import ingest_toml, run_ingest, stop_process
from tests.support.mosquitto import MosquittoFactory, Received, RecorderFactory

READINGS = "metergate/v1/+/+/meters/+/readings"
QUALITY = {"ok": 0, "out_of_range": 1, "stale": 2, "invalid": 3, "comm_error": 4}
RECEIVE_MAXIMUM = 200
OUTAGE_S = 60


def _expected(messages: list[Received]) -> dict[tuple[str, str, int], tuple[float | None, int]]:
    """(quantity, meter, ns) -> (value, quality code), computed from the published documents with
    decimal arithmetic (independent of the ingest's own conversion)."""
    out: dict[tuple[str, str, int], tuple[float | None, int]] = {}
    for m in messages:
        doc = json.loads(m.payload)
        for item in doc["readings"]:
            ns = Decimal(repr(item.get("ts", doc["ts"]))) * 10**9
            assert ns == ns.to_integral_value(), "gateway timestamps have at most ns digits"
            out[(item["quantity"], doc["meter"], int(ns))] = (item["value"], QUALITY[item["quality"]])
    return out


def _stored(db: Any, quantities: set[str]) -> dict[tuple[str, str, int], tuple[float | None, int]]:
    out: dict[tuple[str, str, int], tuple[float | None, int]] = {}
    for q in quantities:
        for p in db.points(q, "energy"):
            assert (p["site"], p["gateway"]) == ("e2e", "e2e-gw")
            out[(q, p["meter"], p["time"])] = (p.get("value"), p["quality"])
    return out


@pytest.mark.slow
def test_database_down_60s_loses_nothing(tmp_path: Path, mosquitto: MosquittoFactory,
                                         mqtt_recorder: RecorderFactory, influxdb1: InfluxFactory,
                                         modbus_simulator: Any) -> None:
    sim = modbus_simulator([f"{u}=eastron-sdm120" for u in range(1, 21)], tcp=True)
    broker = mosquitto()
    platform = mqtt_recorder(broker, READINGS, client_id="platform")  # everything published
    health = mqtt_recorder(broker, "metergate/ingest/+/health", client_id="health-watch")
    db = influxdb1(users={"ingest": "ingest-pw"})
    db.create_database("energy")
    db.grant_write("ingest", "energy")
    config = ingest_toml(tmp_path, broker.port, influx_url=db.url, api="v1",
                         extra_influx='username = "ingest"\npassword_env = "TEST_INFLUX_PASSWORD"',
                         receive_maximum=RECEIVE_MAXIMUM, max_delay="200ms")
    log = tmp_path / "ingest.log"
    ingest = run_ingest(config, log, env={"TEST_INFLUX_PASSWORD": "ingest-pw"})
    assert health.wait_for(lambda m: len(m) > 0, 20), log.read_text()  # subscribed
    site = site_toml(tmp_path, tcp_port=sim.tcp_endpoint.port, units=range(1, 21),
                     mqtt_port=broker.port, interval="1s")
    gw_log = tmp_path / "gateway.log"
    with gw_log.open("ab") as out:
        gateway = subprocess.Popen([sys.executable, "-m", "cli.main", "run", str(site)],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        assert platform.wait_for(lambda m: len(m) >= 100, 30), gw_log.read_text()
        time.sleep(2)
        before = len(platform.snapshot())

        db.stop()
        time.sleep(OUTAGE_S)
        during = [json.loads(m.payload) for m in health.snapshot()]
        assert ingest.poll() is None, log.read_text()
        assert during[-1]["write"]["last_error"] and "refused" in during[-1]["write"]["last_error"]
        assert during[-1]["write"]["retries"] >= 5
        peak = max(d["unacked"] for d in during)
        assert RECEIVE_MAXIMUM * 0.5 <= peak <= RECEIVE_MAXIMUM, peak  # the broker holds the rest
        assert len(platform.snapshot()) >= before + 20 * (OUTAGE_S - 5)  # the meters kept streaming
        db.start()
        time.sleep(5)
    finally:
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(30) == 0, gw_log.read_text()

    published = _expected(platform.snapshot())
    quantities = {q for q, _, _ in published}
    assert len(published) >= 20 * (OUTAGE_S + 10) * len(quantities) * 0.9
    deadline = time.monotonic() + 120
    stored = _stored(db, quantities)
    while len(stored) < len(published) and time.monotonic() < deadline:
        time.sleep(1)
        stored = _stored(db, quantities)
    missing = published.keys() - stored.keys()
    assert not missing, f"{len(missing)} of {len(published)} points missing, e.g. {sorted(missing)[:3]}"
    assert stored == published  # right values and timestamps, nothing extra
    final = json.loads(health.snapshot()[-1].payload)
    assert final["write"]["last_error"] is None
    assert stop_process(ingest) == 0, log.read_text()
