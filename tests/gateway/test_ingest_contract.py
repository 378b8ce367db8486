"""The ingest service's own messages against their JSON Schemas: a real ingest service (in-process,
real mosquitto and VictoriaMetrics) gets good messages and bad ones of every shape of dead letter
(bad JSON, non-UTF-8 bytes, ids that differ from the topic, an invalid topic level, one bad
reading among good ones, an oversized payload); every dead letter and every health document it
publishes must fit schemas/dead-letter.json and schemas/ingest-health.json."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from core.contract import schema
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

DEAD = "metergate/ingest/dead-letter"
HEALTH = "metergate/ingest/ingest-contract/health"
LIMIT = 256 * 1024  # limits.max_payload_bytes (default)


def _payload_of(letter: dict[str, object]) -> bytes:
    if "payload_base64" in letter:
        return base64.b64decode(str(letter["payload_base64"]), validate=True)
    return str(letter["payload"]).encode()


def test_the_schemas_are_valid_draft_2020_12() -> None:
    for name in schema.SERVICE_SCHEMAS:
        s = schema.service_schema(name)
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert s["title"] == f"metergate.{name}/1"
        assert schema.service_validator(name) is not None
    with pytest.raises(ValueError, match="not a service document"):
        schema.service_schema("readings")  # type: ignore[arg-type]


def test_dead_letters_and_health_fit_their_schemas(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, DEAD, client_id="contract-dead-watch")
    health = mqtt_recorder(broker, "metergate/ingest/+/health", client_id="contract-health-watch")
    start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url, client_id="ingest-contract",
                             health_interval="500ms"), services)

    now = time.time()
    t = topic_for("m1")

    def good(seq: int) -> bytes:
        return readings_payload("m1", seq=seq, ts=round(now - 60 + seq, 3),
                                values={"power_active": seq + 0.5, "voltage_l1": 230.0})

    mixed = readings_doc("m1", seq=20, ts=round(now - 30, 3),
                         values={"power_active": 20.5, "voltage_l1": 231.0, "frequency": 50.0})
    mixed["readings"][1]["ts"] = round(now + 86400, 3)  # one reading's clock is a day ahead
    oversize = json.loads(good(21))
    oversize["pad"] = "é" * 150_000  # 300,000 bytes of UTF-8: cut at the limit, inside a character
    bad: dict[str, tuple[str, bytes]] = {
        "bad JSON": (t, b'{"schema": "metergate.readings/1", broken'),
        "not UTF-8": (t, b"\xff\xfe" + good(22)),
        "site differs from the topic": (topic_for("m1", site="campus-b"), good(23)),
        "meter differs from the topic": (topic_for("m2"), good(24)),
        "invalid topic level": ("metergate/v1/campus a/gw-1/meters/m1/readings", good(25)),
        "one bad reading": (t, json.dumps(mixed).encode()),
        "oversize": (t, json.dumps(oversize, ensure_ascii=False).encode()),
    }
    assert len(bad["oversize"][1]) > LIMIT
    pub = Publisher(broker.host, broker.port, client_id="contract-publisher")
    seq = 0
    for topic, payload in bad.values():
        seq += 1
        pub.send(t, good(seq))
        pub.send(topic, payload)
    assert pub.flush(10)

    # the good messages and the good readings of the mixed one are written
    assert vm.wait_count('{__name__="power_active_value"}', seq + 1, timeout=20) == seq + 1
    assert dead.wait_for(lambda m: len(m) >= len(bad), timeout=20)
    time.sleep(0.3)  # nothing more may come
    messages = dead.snapshot()
    assert len(messages) == len(bad)
    assert all(m.qos == 1 and not m.retain for m in messages)
    letters = [json.loads(m.payload) for m in messages]
    for letter in letters:
        assert schema.service_problems(letter, "dead-letter") == [], letter
        schema.check_service(letter, "dead-letter")
        assert letter["ingest"] == "ingest-contract"

    by_case: dict[str, dict[str, Any]] = {}
    for case, (topic, payload) in bad.items():
        if case == "oversize":  # its text is cut, maybe inside a character: checked below
            found = [d for d in letters if d["kind"] == "size"]
        else:
            found = [d for d in letters if d["topic"] == topic and _payload_of(d) == payload]
        assert len(found) == 1, case
        by_case[case] = found[0]
        assert found[0]["payload_bytes"] == len(payload)

    assert by_case["bad JSON"]["kind"] == "contract" and "not JSON" in by_case["bad JSON"]["reason"]
    utf = by_case["not UTF-8"]
    assert utf["kind"] == "contract" and "UTF-8" in utf["reason"]
    assert "payload" not in utf and base64.b64decode(utf["payload_base64"]) == bad["not UTF-8"][1]
    assert by_case["site differs from the topic"]["kind"] == "contract"
    assert "campus-b" in by_case["site differs from the topic"]["reason"]
    assert by_case["meter differs from the topic"]["kind"] == "contract"
    assert "'m2'" in by_case["meter differs from the topic"]["reason"]
    assert by_case["invalid topic level"]["kind"] == "topic"
    assert "topic level" in by_case["invalid topic level"]["reason"]
    for case in bad:
        whole = by_case[case]
        if case != "one bad reading":  # refused whole: the envelope fields only
            assert not {"refused", "site", "gateway", "meter", "seq"} & whole.keys(), case
            assert whole["truncated"] is (case == "oversize"), case

    part = by_case["one bad reading"]
    assert part["kind"] == "timestamp" and "1 of 3 reading(s) refused" in part["reason"]
    assert (part["site"], part["gateway"], part["meter"], part["seq"]) == ("campus-a", "gw-1", "m1", 20)
    assert [(r["index"], r["kind"], r["reading"]["quantity"]) for r in part["refused"]] == [
        (1, "timestamp", "voltage_l1")]
    assert "readings[1].ts" in part["refused"][0]["reason"] and part["truncated"] is False
    assert part["payload"].encode() == bad["one bad reading"][1]

    big = by_case["oversize"]
    assert big["kind"] == "size" and "larger than the limit" in big["reason"]
    assert big["truncated"] is True and big["payload_bytes"] == len(bad["oversize"][1])
    kept = big["payload"].encode()  # UTF-8 text, so text: a character cut in half at the end is dropped
    assert LIMIT - 2 <= len(kept) <= LIMIT and bad["oversize"][1].startswith(kept)

    # health: every document fits; the last ones count what happened
    total = len(bad)
    assert health.wait_for(lambda m: any(
        json.loads(x.payload)["dead_letters"]["total"] == total and json.loads(x.payload)["unacked"] == 0
        for x in m), timeout=10)
    reports = health.snapshot()
    assert reports and all(m.topic == HEALTH and m.qos == 1 for m in reports)
    docs = [json.loads(m.payload) for m in reports]
    for doc in docs:
        assert schema.service_problems(doc, "ingest-health") == [], doc
        schema.check_service(doc, "ingest-health")
        assert doc["client_id"] == "ingest-contract"
    last = next(d for d in docs if d["dead_letters"]["total"] == total and d["unacked"] == 0)
    assert last["dead_letters"] == {"total": total, "contract": 4, "topic": 1, "timestamp": 1, "size": 1}
    assert last["messages_in"] == 2 * len(bad)
    assert last["points_written"] == 2 * len(bad) + 2  # 2 per good message, 2 of the mixed one
    assert last["connected"] is True and last["write"]["retries"] == 0 and last["write"]["last_error"] is None
    assert last["write"]["latency_ms_p50"] is not None
    # a late subscriber gets the latest document retained
    late = mqtt_recorder(broker, HEALTH, client_id="contract-health-late")
    assert late.wait_for(lambda m: len(m) >= 1, timeout=5)
    first = late.snapshot()[0]
    assert first.retain and schema.service_problems(json.loads(first.payload), "ingest-health") == []
