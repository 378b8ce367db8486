"""`metergate analytics` end to end, with a real mosquitto and a real VictoriaMetrics: readings in the
gateway's MQTT format give the same alerts as `metergate alerts --from` on the same readings
(streaming equals batch); active alerts are retained and schema-valid, a cleared one is an empty
retained message; an ack through the command topic is published and stored; interval aggregates and
daily indicators reach the database; a broken message is counted and does not stop the service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from analytics.intervals import interval_consumption
from drivers.reader import Quality
from gateway.alerts.payloads import ack_payload, ack_topic, check
from gateway.cli import app
from gateway.mqtt.payloads import readings_payload
from gateway.outbox.codec import StoredReading
from tests.alerts.sites import readings, site_toml, write_csv
from tests.support.ingest import Publisher
from tests.support.mosquitto import Mosquitto, Recorder

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SITE = "alerts-site"
UNITS = {"energy_active_import": "kWh", "water_volume": "m³"}


@dataclass(frozen=True)
class _Msg:
    seq: int
    meter: str
    ts: float
    readings: tuple[StoredReading, ...]


def _gov(day: int) -> float:
    return 400.0 if day < 22 else 10.0  # far above its quota for three weeks, then almost nothing


def _config(folder: Path, broker: Mosquitto, influx_url: str) -> Path:
    path = folder / "analytics.toml"
    path.write_text(f"""sites = ["site.toml"]

[mqtt]
host = "127.0.0.1"
port = {broker.port}
client_id = "analytics-test"

[influx]
api = "v2"
url = "{influx_url}"
bucket = "metergate"

[store]
path = "state/alerts.sqlite"

[engine]
interval = "1h"
lateness = "15m"

[health]
interval = "1s"
""", encoding="utf-8")
    return path


@pytest.fixture
def service(tmp_path: Path, mosquitto: Any, victoria: Any) -> Iterator[tuple[Path, Mosquitto, Any]]:
    broker, vm = mosquitto(), victoria()
    site_toml(tmp_path)
    cfg = _config(tmp_path, broker, vm.url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "analytics", str(cfg), "--log-level",
                             "debug"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield cfg, broker, vm
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _latest(rec: Recorder) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for m in rec.snapshot():
        out[m.topic] = m.payload
    return out


def test_streaming_equals_batch_with_retained_alerts_ack_and_aggregates(
        tmp_path: Path, service: tuple[Path, Mosquitto, Any], mqtt_recorder: Any) -> None:
    cfg, broker, vm = service
    health = mqtt_recorder(broker, "metergate/analytics/+/health", client_id="health")
    assert health.wait_for(bool, timeout=60), (tmp_path / "service.log").read_text()
    live = mqtt_recorder(broker, f"metergate/v1/{SITE}/alerts/#", client_id="live")

    rows = readings(days=45, step_s=600, gov_kwh_per_day=_gov, water_m3_per_day=4.0, leak_m3_per_h=0.2,
                    leak_from_day=30)
    write_csv(rows, tmp_path / "readings.csv")
    pub = Publisher(broker.host, broker.port)
    # a broken message first: counted, acknowledged, and the service goes on
    pub.send(f"metergate/v1/{SITE}/gw/meters/gov-main/readings", b"{not json")
    for seq, (ts, meter, quantity, value) in enumerate(rows, start=1):
        reading = StoredReading(quantity, value, UNITS[quantity], Quality.OK, ts / 1e9, "")
        pub.send(f"metergate/v1/{SITE}/gw/meters/{meter}/readings",
                 readings_payload(SITE, "gw", _Msg(seq, meter, ts / 1e9, (reading,))))
    assert pub.flush(120)
    sent = len(rows) + 1

    def counts() -> dict[str, int]:
        msgs = health.snapshot()
        return json.loads(msgs[-1].payload)["counts"] if msgs else {}

    assert health.wait_for(lambda _: counts().get("messages", 0) >= sent, timeout=240), counts()
    assert counts()["refused_broken"] == 1 and counts()["readings"] == len(rows)

    batch = CliRunner().invoke(app, ["alerts", "--from", str(tmp_path / "readings.csv"), "--config",
                                     str(tmp_path / "site.toml"), "--json", "--lateness", "900"])
    assert batch.exit_code == 0, batch.output
    expected = json.loads(batch.output)["alerts"]
    active = {a["id"]: a for a in expected if a["state"] == "active"}
    cleared = {a["id"] for a in expected if a["state"] == "cleared"}
    # water stays above its constraint and leaks from day 30; the office's energy falls back below
    # its constraint (that alert and the projection clear, the detectors see the drop as an anomaly
    # for a while) but stays above the baseline value
    assert sorted((a["kind"], a["subject"], a["details"].get("scope", "")) for a in active.values()) == [
        ("quota_above_baseline", "gov", "db37-t-2672-2019:non_heating_kgce_per_m2"),
        ("quota_above_constraint", "gov", "db37-t-4452-2021:water_m3_per_person"),
        ("quota_projected_exceed", "gov", "db37-t-4452-2021:water_m3_per_person"),
        ("water_leak", "gov-water", "")]
    assert sorted(a["kind"] for a in expected if a["state"] == "cleared") == [
        "consumption_anomaly", "quota_above_constraint", "quota_projected_exceed"]

    # what a newcomer sees now: the retained documents of exactly the active alerts
    now = mqtt_recorder(broker, f"metergate/v1/{SITE}/alerts/+", client_id="newcomer")
    assert now.wait_for(lambda msgs: len(msgs) >= len(active), timeout=30)
    retained = {m.topic.rsplit("/", 1)[1]: json.loads(m.payload) for m in now.snapshot()}
    assert all(m.retain for m in now.snapshot())
    assert set(retained) == set(active)
    for alert_id, doc in retained.items():
        check(doc, "alert")
        want = active[alert_id]
        assert (doc["kind"], doc["subject"], doc["severity"], doc["start"]) == (
            want["kind"], want["subject"], want["severity"], want["start"])
    # each cleared alert was published while active, then cleared by an empty retained message
    latest = _latest(live)
    for alert_id in cleared:
        topic = f"metergate/v1/{SITE}/alerts/{alert_id}"
        assert latest[topic] == b""
        assert any(m.topic == topic and m.payload for m in live.snapshot())

    # acknowledge one through the command topic
    target = sorted(active)[0]
    pub.send(ack_topic("metergate", SITE), ack_payload(target, "ops-1", "valve checked"))
    topic = f"metergate/v1/{SITE}/alerts/{target}"
    assert live.wait_for(lambda msgs: any(m.topic == topic and m.payload and json.loads(m.payload)["acked"]
                                          for m in msgs), timeout=30)
    doc = json.loads(_latest(live)[topic])
    assert doc["acked_by"] == "ops-1" and doc["ack_note"] == "valve checked"
    pub.send(ack_topic("metergate", SITE), b'{"schema": "metergate.alert-ack/1", "id": "x"}')  # no "by"
    pub.close()
    assert health.wait_for(lambda _: counts().get("refused_broken_ack", 0) == 1, timeout=30), counts()
    listed = CliRunner().invoke(app, ["alerts", "--config", str(cfg), "--all", "--json"])
    assert listed.exit_code == 0, listed.output
    stored = {a["id"]: a for a in json.loads(listed.output)["alerts"]}
    assert set(stored) == set(active) | cleared and stored[target]["acked_by"] == "ops-1"

    # interval aggregates: the office meter's hourly consumption, as the batch aggregation gives it
    series = vm.export('{__name__="interval_consumption",meter="gov-main"}')
    assert len(series) == 1
    got = dict(zip(series[0].timestamps, series[0].values, strict=True))
    sel = [(t, v) for t, m, _, v in rows if m == "gov-main"]
    times = np.array([t for t, _ in sel], np.int64)
    first, last = min(got), max(got)
    whole = interval_consumption(np.full(len(times), "gov-main"), times, np.array([v for _, v in sel]),
                                 first * 10**6, last * 10**6 + 3600 * 10**9, 3600)
    assert len(got) == whole.n_intervals
    assert [got[k] for k in sorted(got)] == pytest.approx(list(whole.consumption[0]), rel=1e-9)
    days = vm.export('{__name__="indicators_kgce_per_m2",building="gov"}')
    assert len(days) == 1 and len(days[0].values) == 44  # one point per closed day
