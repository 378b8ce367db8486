"""The contract is what is published: `metergate run` on simulated meters (Home Assistant discovery on),
`metergate ingest` into a real VictoriaMetrics and `metergate analytics`, all against one real mosquitto.
A subscriber to `#` checks EVERY message: its topic is under a topic documented in docs/mqtt.md, its
document validates against the schema that row names, and carries no field the schema does not name
(also inside the open health objects), with the documented QoS; a newcomer gets the documented
retained kinds and no others; and every documented kind is seen in the one run: status
online and offline (the last will, after a SIGKILL), health, readings, availability (a meter that
does not answer), meta, discovery, both shapes of dead letter, ingest health, an alert raised (a
counter read as NaN: a sentinel), acknowledged and cleared (the empty retained message), the ack
command, the analytics health and a scheduled report's announcement (the service's archive seeded
with last month's readings, as a service that ran then would have kept them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.contract.schema import check_message, check_service, parse_json
from core.contract.topics import KINDS
from services.analytics.payloads import ack_payload, ack_topic
from services.analytics.reading_archive import ReadingArchive
from tests.e2e.site import site_toml
from tests.support import contract_doc as cd
from tests.support.ingest import Publisher, ingest_toml, readings_doc
from tests.support.mosquitto import Mosquitto, Recorder

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
VALUES = {"prefix": "metergate", "discovery_prefix": "homeassistant"}
SITE, GATEWAY = "e2e", "e2e-gw"
CLEARED = "alert cleared (empty retained message)"


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _site(folder: Path, sim_port: int, broker: Mosquitto) -> Path:
    path = site_toml(folder, tcp_port=sim_port, units=range(1, 4), mqtt_port=broker.port)
    text = path.read_text().replace(f"port = {broker.port}\n",
                                    f"port = {broker.port}\nhomeassistant_discovery = true\n")
    path.write_text(text, encoding="utf-8")
    return path


def _analytics(folder: Path, site: Path, broker: Mosquitto) -> Path:
    path = folder / "analytics.toml"
    path.write_text(f"""sites = ["{site.name}"]

[mqtt]
host = "127.0.0.1"
port = {broker.port}
client_id = "analytics-e2e"

[store]
path = "{folder / 'alerts.sqlite'}"

[engine]
interval = "2s"
lateness = "1s"
raise_after = 1
clear_after = 1

[detectors]  # the detectors' own grid, seconds instead of a quarter of an hour
interval_s = 2
max_gap_s = 1.5

[health]
interval = "1s"

[report]
folder = "{folder / 'reports'}"
formats = ["html"]
""", encoding="utf-8")
    _last_month(folder / "alerts.sqlite")
    return path


def _last_month(store: Path) -> None:
    """Hourly counters of m01-m03 over the two months before this one (Asia/Shanghai, the site's
    zone), kept as the analytics service keeps its readings for the monthly report: it renders the
    latest month due at start (the one before last on the 1st before 06:00)."""
    from zoneinfo import ZoneInfo

    first = datetime.now(ZoneInfo("Asia/Shanghai")).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(2):
        first = (first - timedelta(days=1)).replace(day=1)
    start = int(first.timestamp())
    with ReadingArchive(store) as archive:
        for h in range(65 * 24):
            for unit in range(1, 4):
                archive.add(SITE, f"m{unit:02d}", [("energy_active_import", (start + h * 3600) * 10**9,
                                                    100.0 * unit + 1.5 * h)])


def _undocumented(doc: Any, fields: set[str], path: str = "") -> list[str]:
    """Fields of `doc` the schema does not name (where the schema describes what is inside)."""
    out = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{path}.{key}" if path else key
            if here not in fields:
                here = f"{path}.{{}}" if path else "{}"
                if here not in fields:
                    out.append(f"{path}.{key}" if path else key)
                    continue
            if any(f.startswith((f"{here}.", f"{here}[]")) for f in fields):
                out += _undocumented(value, fields, here)
    elif isinstance(doc, list) and f"{path}[]" in fields:
        for item in doc:
            out += _undocumented(item, fields, f"{path}[]")
    return out


def _check(topic: str, payload: bytes) -> str:
    """The documented kind of one delivered message (its schema id); AssertionError if it breaks the
    contract."""
    row = cd.classify(topic, VALUES)
    assert row is not None, f"{topic}: not under any topic documented in docs/mqtt.md"
    name = cd.schema_name(row.schema_id)
    if name == "alert" and payload == b"":
        return CLEARED
    if name in KINDS:
        doc = check_message(topic, payload).doc
    else:
        doc = parse_json(payload)
        check_service(doc, name)  # type: ignore[arg-type]
    extra = _undocumented(doc, set(cd.schema_fields(cd.schema_files()[row.schema_id])))
    assert not extra, f"{topic}: fields not in {row.schema_id}: {extra}"
    return row.schema_id


def _kinds(rec: Recorder, garbage: str) -> dict[str, list[dict[str, Any]]]:
    """Every message checked, by kind; the test's own garbage on `garbage` left out."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in rec.snapshot():
        if m.topic == garbage:
            continue
        kind = _check(m.topic, m.payload)
        row = cd.classify(m.topic, VALUES)
        assert row is not None and m.qos == int(row.qos), f"{m.topic}: QoS {m.qos}, documented {row.qos}"
        out.setdefault(kind, []).append(json.loads(m.payload) if m.payload else {})
    return out


def test_every_document_published_fits_the_documented_contract(
        tmp_path: Path, mosquitto: Any, mqtt_recorder: Any, modbus_simulator: Any, victoria: Any,
        processes: list[subprocess.Popen[bytes]]) -> None:
    sim = modbus_simulator([f"{u}=eastron-sdm120" for u in range(1, 4)], tcp=True)
    sim.inject(2, "no_answer")  # m02: offline, with a reason
    broker, vm = mosquitto(), victoria()
    everything = mqtt_recorder(broker, "#", client_id="platform")
    site = _site(tmp_path, sim.tcp_endpoint.port, broker)
    ingest = ingest_toml(tmp_path, broker.port, influx_url=vm.url, client_id="ingest-e2e",
                         health_interval="1s")
    analytics = _analytics(tmp_path, site, broker)
    processes.append(_start(["analytics", str(analytics)], tmp_path / "analytics.log"))
    processes.append(_start(["ingest", str(ingest)], tmp_path / "ingest.log"))
    gateway = _start(["run", str(site)], tmp_path / "gateway.log")
    processes.append(gateway)

    def logs() -> str:
        health = [m.payload.decode() for m in everything.snapshot()
                  if m.topic.startswith("metergate/analytics/")]
        return "\n".join([f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log"))]
                         + health[-1:])

    def up(ms: Any) -> bool:  # every service publishes, and m03's readings flow
        return {"ingest", "analytics", "m03"} <= {p for m in ms for p in m.topic.split("/")}

    assert everything.wait_for(up, timeout=30), logs()
    sim.inject(3, "nan:quantity=energy_active_import,duration=6")  # m03's counter reads NaN: a sentinel
    # garbage for ingest: a message refused whole, and one with a reading from the future
    pub = Publisher(broker.host, broker.port, client_id="operator")
    probe = f"metergate/v1/{SITE}/probe-gw/meters/x1/readings"
    pub.send(probe, b'{"schema": "metergate.readings/1", "seq": ')
    now = time.time()
    doc = readings_doc("x1", seq=1, ts=now, values={"power_active": 1.0, "voltage_l1": 230.0},
                       site=SITE, gateway="probe-gw")
    doc["readings"][1]["ts"] = now + 86_400
    pub.send(probe, json.dumps(doc).encode())

    def raised(ms: Any) -> list[dict[str, Any]]:  # m03's (m02's comm errors may raise one of their own)
        found = [json.loads(m.payload) for m in ms if "/alerts/" in m.topic and m.payload
                 and not m.topic.endswith("/ack")]
        return [a for a in found if a["subject"] == "m03"]

    assert everything.wait_for(raised, timeout=40), logs()
    alert = raised(everything.snapshot())[0]
    pub.send(ack_topic("metergate", SITE), ack_payload(alert["id"], "ops-1", "meter checked"))
    assert pub.flush(10)
    assert everything.wait_for(lambda ms: any(a["acked"] for a in raised(ms)), timeout=20), logs()
    alert_topic = f"metergate/v1/{SITE}/alerts/{alert['id']}"
    assert everything.wait_for(lambda ms: any(m.topic == alert_topic and m.payload == b"" for m in ms),
                               timeout=30), logs()
    pub.close()
    gateway.send_signal(signal.SIGKILL)  # the broker publishes the last will
    gateway.wait(10)
    status = f"metergate/v1/{SITE}/{GATEWAY}/status"
    assert everything.wait_for(lambda ms: any(m.topic == status and json.loads(m.payload)["state"]
                                              == "offline" for m in ms), timeout=20), logs()

    assert everything.wait_for(lambda ms: any("/reports/" in m.topic for m in ms), timeout=120), logs()

    # a newcomer gets exactly the documented retained kinds (m03's alert was cleared: it is not there)
    expected = {r.schema_id for r in cd.topic_rows() if r.retained == "yes"}
    late = mqtt_recorder(broker, "#", client_id="newcomer", persistent=False)
    late.wait_for(lambda ms: expected - {"metergate.alert/1"} <= {
        r.schema_id for m in ms if (r := cd.classify(m.topic, VALUES)) is not None}, timeout=10)
    time.sleep(0.3)  # what else the broker retained follows at once
    first: dict[str, Any] = {}
    for m in late.snapshot():  # the services' health goes on live after its retained copy
        first.setdefault(m.topic, m)
    assert all(m.retain for m in first.values()), [t for t, m in first.items() if not m.retain]
    retained = {cd.classify(t, VALUES) for t in first}
    assert None not in retained and expected - {"metergate.alert/1"} <= \
        {r.schema_id for r in retained if r is not None} <= expected
    assert f"metergate/v1/{SITE}/alerts/{alert['id']}" not in first  # cleared: gone from the broker

    kinds = _kinds(everything, probe)  # every message checked, each raises with the topic and the reason
    documented = {r.schema_id for r in cd.topic_rows()}
    assert documented | {CLEARED} == set(kinds), f"documented but not seen: {documented - set(kinds)}"
    assert {s["state"] for s in kinds["metergate.status/1"]} == {"online", "offline"}
    offline = [a for a in kinds["metergate.availability/1"]
               if a["meter"] == "m02" and a["state"] == "offline"]
    assert offline and offline[-1]["reason"]
    health = kinds["metergate.health/1"][-1]
    assert set(health["devices"]) == {"m01", "m02", "m03"} and health["devices"]["m02"]["timeouts"] >= 1
    assert health["outbox"]["newest_seq"] >= 1 and health["buses"]["sim"]["type"] == "tcp"
    dead = kinds["metergate.dead-letter/1"]
    assert {d["kind"] for d in dead} == {"contract", "timestamp"}
    assert [d["refused"][0]["index"] for d in dead if "refused" in d] == [1]
    assert kinds["metergate.ingest-health/1"][-1]["dead_letters"]["total"] == 2
    assert alert["kind"] == "sentinel" and alert["subject"] == "m03"
    assert any(a["acked_by"] == "ops-1" for a in kinds["metergate.alert/1"] if a["acked"])
    (report,) = kinds["metergate.report/1"]
    assert report["site"] == SITE and Path(report["files"][0]["path"]).is_file()
    counts = kinds["metergate.analytics-health/1"][-1]["counts"]
    assert counts["acks"] == 1 and counts["readings"] > 0
    assert len(kinds["metergate.ha-discovery/1"]) == 3 * len(kinds["metergate.meta/1"][0]["quantities"])
