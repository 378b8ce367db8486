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
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from analytics.intervals import interval_consumption
from cli.main import app
from services.analytics.payloads import ack_payload, ack_topic, check
from tests.alerts.sites import SITE, analytics_toml, readings, site_message, site_toml, write_csv
from tests.support.ingest import Publisher
from tests.support.mosquitto import Mosquitto, Recorder

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _gov(day: int) -> float:
    # far above its quota for 18 days, then almost nothing: clearly back below the constraint (by the
    # quota hysteresis' 3 %) for a week before the end, so that alert clears
    return 400.0 if day < 18 else 10.0


def _config(folder: Path, broker: Mosquitto, influx_url: str) -> Path:
    return analytics_toml(folder, port=broker.port, client_id="analytics-test", influx_url=influx_url)


class Service:
    """`metergate analytics CONFIG` as a subprocess; start() again after stop() resumes its state."""

    def __init__(self, cfg: Path, log: Path) -> None:
        self.cfg, self.log = cfg, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "analytics", str(self.cfg),
                                          "--log-level", "debug"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    def stop(self) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)


@pytest.fixture
def service(tmp_path: Path, mosquitto: Any, victoria: Any) -> Iterator[tuple[Service, Mosquitto, Any]]:
    broker, vm = mosquitto(), victoria()
    site_toml(tmp_path)
    svc = Service(_config(tmp_path, broker, vm.url), tmp_path / "service.log").start()
    try:
        yield svc, broker, vm
    finally:
        svc.stop()


def _publish(pub: Publisher, rows: list[tuple[int, str, str, float]], first_seq: int = 1) -> None:
    for seq, (ts, meter, quantity, value) in enumerate(rows, start=first_seq):
        pub.send(*site_message(seq, meter, ts / 1e9, quantity, value))
    assert pub.flush(120)


def _counts(health: Recorder) -> dict[str, int]:
    msgs = health.snapshot()
    return json.loads(msgs[-1].payload)["counts"] if msgs else {}


def _batch(tmp_path: Path, rows: list[tuple[int, str, str, float]]) -> list[dict[str, Any]]:
    write_csv(rows, tmp_path / "readings.csv")
    out = CliRunner().invoke(app, ["alerts", "--from", str(tmp_path / "readings.csv"), "--config",
                                   str(tmp_path / "site.toml"), "--json", "--lateness", "900"])
    assert out.exit_code == 0, out.output
    alerts: list[dict[str, Any]] = json.loads(out.output)["alerts"]
    return alerts


def _retained(broker: Mosquitto, mqtt_recorder: Any, n: int, client_id: str) -> dict[str, dict[str, Any]]:
    """What a newcomer sees: the retained alert documents, by id."""
    rec = mqtt_recorder(broker, f"metergate/v1/{SITE}/alerts/+", client_id=client_id)
    assert rec.wait_for(lambda msgs: len(msgs) >= n, timeout=30)
    assert all(m.retain for m in rec.snapshot())
    return {m.topic.rsplit("/", 1)[1]: json.loads(m.payload) for m in rec.snapshot()}


def _gov_main_intervals(vm: Any, rows: list[tuple[int, str, str, float]]) -> tuple[list[float], list[float]]:
    """(hourly consumption of gov-main in the database, the same computed over all readings at once)."""
    series = vm.export('{__name__="interval_consumption",meter="gov-main"}')
    assert len(series) == 1
    got = dict(zip(series[0].timestamps, series[0].values, strict=True))
    sel = [(t, v) for t, m, _, v in rows if m == "gov-main"]
    times = np.array([t for t, _ in sel], np.int64)
    first, last = min(got), max(got)
    whole = interval_consumption(np.full(len(times), "gov-main"), times, np.array([v for _, v in sel]),
                                 first * 10**6, last * 10**6 + 3600 * 10**9, 3600)
    assert len(got) == whole.n_intervals
    return [got[k] for k in sorted(got)], list(whole.consumption[0])


def _latest(rec: Recorder) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for m in rec.snapshot():
        out[m.topic] = m.payload
    return out


def test_streaming_equals_batch_with_retained_alerts_ack_and_aggregates(
        tmp_path: Path, service: tuple[Service, Mosquitto, Any], mqtt_recorder: Any) -> None:
    svc, broker, vm = service
    health = mqtt_recorder(broker, "metergate/analytics/+/health", client_id="health")
    assert health.wait_for(bool, timeout=60), svc.log.read_text()
    live = mqtt_recorder(broker, f"metergate/v1/{SITE}/alerts/#", client_id="live")

    rows = readings(days=45, step_s=600, gov_kwh_per_day=_gov, water_m3_per_day=4.0, leak_m3_per_h=0.2,
                    leak_from_day=30)
    pub = Publisher(broker.host, broker.port)
    # a broken message first: counted, acknowledged, and the service goes on
    pub.send(f"metergate/v1/{SITE}/gw/meters/gov-main/readings", b"{not json")
    _publish(pub, rows)
    sent = len(rows) + 1
    assert health.wait_for(lambda _: _counts(health).get("messages", 0) >= sent, timeout=240), _counts(health)
    assert _counts(health)["refused_broken"] == 1 and _counts(health)["readings"] == len(rows)

    expected = _batch(tmp_path, rows)
    active = {a["id"]: a for a in expected if a["state"] == "active"}
    cleared = {a["id"] for a in expected if a["state"] == "cleared"}
    # water stays above its constraint and leaks from day 30; the office's energy falls back below
    # its constraint (that alert and the projection clear; a drop is no consumption anomaly) but stays
    # above the baseline value
    assert sorted((a["kind"], a["subject"], a["details"].get("scope", "")) for a in active.values()) == [
        ("quota_above_baseline", "gov", "db37-t-2672-2019:non_heating_kgce_per_m2"),
        ("quota_above_constraint", "gov", "db37-t-4452-2021:water_m3_per_person"),
        ("quota_projected_exceed", "gov", "db37-t-4452-2021:water_m3_per_person"),
        ("water_leak", "gov-water", "")]
    # each quota alert clears once, a week after the use is clearly back below (the hysteresis)
    gone = sorted(a["kind"] for a in expected if a["state"] == "cleared")
    assert set(gone) == {"quota_above_constraint", "quota_projected_exceed"}
    assert gone.count("quota_above_constraint") == 1 and gone.count("quota_projected_exceed") == 1

    # what a newcomer sees now: the retained documents of exactly the active alerts
    retained = _retained(broker, mqtt_recorder, len(active), "newcomer")
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
    assert health.wait_for(lambda _: _counts(health).get("refused_broken_ack", 0) == 1, timeout=30)
    listed = CliRunner().invoke(app, ["alerts", "--config", str(svc.cfg), "--all", "--json"])
    assert listed.exit_code == 0, listed.output
    stored = {a["id"]: a for a in json.loads(listed.output)["alerts"]}
    assert set(stored) == set(active) | cleared and stored[target]["acked_by"] == "ops-1"

    # interval aggregates: the office meter's hourly consumption, as the batch aggregation gives it
    got, want_intervals = _gov_main_intervals(vm, rows)
    assert got == pytest.approx(want_intervals, rel=1e-9)
    days = vm.export('{__name__="indicators_kgce_per_m2",building="gov"}')
    assert len(days) == 1 and len(days[0].values) == 44  # one point per closed day
    # the school has an electricity meter and no water meter: water is unknown there, never 0
    assert vm.export('{__name__="indicators_electricity_kwh",building="school"}')
    assert not vm.export('{__name__="indicators_water_m3",building="school"}')
    assert not vm.export('{__name__="indicators_water_m3_per_person",building="school"}')
    assert vm.export('{__name__="indicators_water_m3",building="gov"}')


def test_a_restart_keeps_alerts_ids_acks_and_the_interval_in_progress(
        tmp_path: Path, service: tuple[Service, Mosquitto, Any], mqtt_recorder: Any) -> None:
    svc, broker, vm = service
    health = mqtt_recorder(broker, "metergate/analytics/+/health", client_id="health")
    assert health.wait_for(bool, timeout=60), svc.log.read_text()
    rows = readings(days=40)
    cut = next(i for i, r in enumerate(rows) if r[0] >= rows[0][0] + 25 * 86_400 * 10**9 + 17 * 60 * 10**9)
    pub = Publisher(broker.host, broker.port)
    _publish(pub, rows[:cut])
    assert health.wait_for(lambda _: _counts(health).get("messages", 0) >= cut, timeout=240)
    before = _retained(broker, mqtt_recorder, 2, "before")
    target = sorted(before)[0]
    pub.send(ack_topic("metergate", SITE), ack_payload(target, "ops-2"))
    assert health.wait_for(lambda _: _counts(health).get("acks", 0) == 1, timeout=30)
    assert svc.stop() == 0  # SIGTERM: a clean stop saves the readings of the interval in progress
    svc.start()
    health2 = mqtt_recorder(broker, "metergate/analytics/+/health", client_id="health2")
    assert health2.wait_for(lambda msgs: any(json.loads(m.payload)["uptime_s"] < 30 and not m.retain
                                             for m in msgs), timeout=60)
    _publish(pub, rows[cut:], first_seq=cut + 1)
    pub.close()
    assert health2.wait_for(lambda _: _counts(health2).get("messages", 0) >= len(rows) - cut, timeout=240)

    expected = {a["id"]: a for a in _batch(tmp_path, rows) if a["state"] == "active"}
    after = _retained(broker, mqtt_recorder, len(expected), "after")
    assert set(before) == set(after) == set(expected)  # the same ids across the restart, none raised twice
    assert after[target]["acked_by"] == "ops-2"
    listed = CliRunner().invoke(app, ["alerts", "--config", str(svc.cfg), "--all", "--json"])
    assert {a["id"] for a in json.loads(listed.output)["alerts"]} == set(expected)
    # no interval lost at the restart: every hourly aggregate equals the batch aggregation
    got, want_intervals = _gov_main_intervals(vm, rows)
    assert got == pytest.approx(want_intervals, rel=1e-9)
