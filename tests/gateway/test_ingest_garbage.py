"""Acceptance (garbage): >= 1,000 malformed messages interleaved with good ones. Every bad one is
dead-lettered with a reason, every good one is written, the service keeps running. Also: a batch the
database refuses (a field type conflict in influxd) is bisected down to single lines; only the
refused reading is dead-lettered."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from services.ingest.service import IngestService
from tests.support.influxdb1 import InfluxFactory
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
KEPT = 256 * 1024  # limits.max_payload_bytes (default): a dead letter keeps the payload up to it


def _good(seq: int, now: float) -> tuple[str, bytes]:
    meter = f"m{seq % 7}"
    return topic_for(meter), readings_payload(meter, seq=seq, ts=round(now - 100 + seq * 0.01, 3),
                                              values={"power_active": seq + 0.25, "voltage_l1": 231.5})


def _json(doc: dict[str, object]) -> bytes:
    return json.dumps(doc).encode()


def _bad_makers(now: float) -> list[tuple[str, Callable[[int], tuple[str, bytes]]]]:
    def doc(n: int, **changes: object) -> dict[str, object]:
        d = readings_doc("m1", seq=n, ts=round(now - 50, 3), values={"power_active": 1.0})
        d.update(changes)
        return d

    def item(n: int, **changes: object) -> dict[str, object]:
        d = doc(n)
        d["readings"][0].update(changes)  # type: ignore[index]
        return d

    t = topic_for("m1")
    future = now + 10 * 365 * 86400
    return [
        ("truncated", lambda s: (t, _json(doc(s))[: 40 + s % 60])),
        ("value is a string", lambda s: (t, _json(item(s, value="230.1")))),
        ("seq is a string", lambda s: (t, _json(doc(s, seq=str(s))))),
        ("readings is an object", lambda s: (t, _json(doc(s, readings={"x": 1})))),
        ("huge", lambda s: (t, _json(doc(s, pad="x" * 300_000)))),
        ("NaN", lambda s: (t, _json(doc(s)).replace(b'"value": 1.0', b'"value": NaN'))),
        ("Infinity", lambda s: (t, _json(doc(s)).replace(b'"value": 1.0', b'"value": -Infinity'))),
        ("site differs from topic", lambda s: (topic_for("m1", site="campus-b"), _json(doc(s)))),
        ("meter differs from topic", lambda s: (topic_for("m2"), _json(doc(s)))),
        ("bad topic level", lambda s: ("metergate/v1/campus a/gw-1/meters/m1/readings", _json(doc(s)))),
        ("future ts", lambda s: (t, _json(doc(s, ts=future, time=readings_doc(
            "m1", seq=1, ts=future, values={})["time"])))),
        ("ts before 2000", lambda s: (t, _json(doc(s, ts=1000.0, time="1970-01-01T00:16:40.000+00:00")))),
        ("reading ts in future", lambda s: (t, _json(item(s, ts=future)))),
        ("not UTF-8", lambda s: (t, b"\xff\xfe" + _json(doc(s)))),
        ("duplicate key", lambda s: (t, _json(doc(s)).replace(b'"seq":', b'"seq": 1, "seq":'))),
        ("schema version 2", lambda s: (t, _json(doc(s, schema="metergate.readings/2")))),
        ("value beyond float", lambda s: (t, _json(doc(s)).replace(b'"value": 1.0',
                                                                   b'"value": 1' + b"0" * 400))),
        ("empty", lambda s: (t, b"")),
        ("time is not ts", lambda s: (t, _json(doc(s, time="2001-01-01T00:00:00.000+00:00")))),
        ("ok value null", lambda s: (t, _json(item(s, value=None)))),
        ("JSON array", lambda s: (t, b"[1, 2, 3]")),
    ]


def test_garbage_is_dead_lettered_and_good_is_written(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, DEAD, client_id="dead-letter-watch")
    service = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services)
    now = time.time()
    makers = _bad_makers(now)
    pub = Publisher(broker.host, broker.port)
    sent_bad: list[tuple[str, str, bytes]] = []
    good = 0
    for i in range(1100):
        kind, make = makers[i % len(makers)]
        topic, payload = make(i + 1)
        pub.send(topic, payload)
        sent_bad.append((kind, topic, payload))
        if i % 4 == 0:
            good += 1
            pub.send(*_good(good, now))
    assert pub.flush(60)
    assert dead.wait_for(lambda m: len(m) >= len(sent_bad), timeout=60), \
        f"{len(dead.snapshot())} dead letters for {len(sent_bad)} bad messages"
    letters = [json.loads(m.payload) for m in dead.snapshot()]
    assert len(letters) == len(sent_bad)
    # every bad message is there once, with a reason and the whole payload (only an oversized one cut)
    got = Counter((d["topic"], _payload_of(d)) for d in letters)
    want = Counter((topic, payload[:KEPT]) for _, topic, payload in sent_bad)
    assert got == want
    for d in letters:
        assert d["schema"] == "metergate.dead-letter/1" and d["reason"] and d["kind"] and d["received_at"]
        assert d["truncated"] == (d["payload_bytes"] > KEPT)
    reasons = {kind: next(d["reason"] for d in letters if (d["topic"], _payload_of(d)) ==
                          (topic, payload[:KEPT]))
               for kind, topic, payload in sent_bad[: len(makers)]}
    assert "not JSON" in reasons["truncated"]
    assert "larger than the limit" in reasons["huge"]
    assert "NaN" in reasons["NaN"] and "Infinity" in reasons["Infinity"]
    assert "campus-b" in reasons["site differs from topic"]
    assert "future" in reasons["future ts"] and "before the minimum" in reasons["ts before 2000"]
    assert "readings[0].ts" in reasons["reading ts in future"]
    assert "UTF-8" in reasons["not UTF-8"] and "twice" in reasons["duplicate key"]
    assert "too large for a float" in reasons["value beyond float"]
    assert sum(d["truncated"] for d in letters) == sum(kind == "huge" for kind, _, _ in sent_bad)
    # a well-formed message with bad readings: the refused readings with a reason each, its ids
    per_reading = [d for d in letters if "refused" in d]
    assert len(per_reading) == sum(kind in ("reading ts in future", "value beyond float")
                                   for kind, _, _ in sent_bad)
    for d in per_reading:
        assert [r["index"] for r in d["refused"]] == [0] and d["refused"][0]["reason"]
        assert (d["site"], d["gateway"], d["meter"]) == ("campus-a", "gw-1", "m1")
        assert d["seq"] == json.loads(d["payload"])["seq"]
    assert "topic level" in reasons["bad topic level"]
    # every good message is written, the service still runs and takes more
    assert vm.wait_count('{__name__="power_active_value"}', good, timeout=30) == good
    pub.send(*_good(good + 1, now))
    assert pub.flush(10)
    assert vm.wait_count('{__name__="power_active_value"}', good + 1, timeout=30) == good + 1
    samples = vm.samples('{__name__="power_active_value"}')
    assert sorted(samples.values()) == [seq + 0.25 for seq in range(1, good + 2)]
    assert service.metrics.n_messages == len(sent_bad) + good + 1
    deadline = time.monotonic() + 5
    while service.unacked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.unacked == 0


def _payload_of(letter: dict[str, object]) -> bytes:
    if "payload_base64" in letter:
        return base64.b64decode(str(letter["payload_base64"]))
    return str(letter["payload"]).encode()


def test_database_refusal_is_bisected_to_the_poison_message(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        influxdb1: InfluxFactory, services: list[IngestService]) -> None:
    broker, db = mosquitto(), influxdb1()
    db.create_database("energy")
    dead = mqtt_recorder(broker, DEAD, client_id="dead-letter-watch")
    # someone else wrote `fan_state` as an integer (in the same shard: field types are per shard in
    # 1.x): our float value conflicts, HTTP 400 "partial write: field type conflict"
    now = time.time()
    db.write(f"fan_state,gateway=gw-1,meter=m3,site=campus-a value=1i {int(now - 100) * 10**9}", "energy")
    service = start_ingest(ingest_toml(
        tmp_path, broker.port, influx_url=db.url, api="v1", max_points=100_000, max_delay="1s"), services)
    pub = Publisher(broker.host, broker.port)
    for seq in range(1, 41):
        meter = f"m{seq % 5}"
        values: dict[str, float | None] = {"power_active": float(seq)}
        if seq == 23:
            values["fan_state"] = 2.0  # m3: the poison point
        pub.send(topic_for(meter), readings_payload(meter, seq=seq, ts=round(now - 40 + seq, 3),
                                                    values=values))
    assert pub.flush(10)
    assert dead.wait_for(lambda m: len(m) >= 1, timeout=30)
    deadline = time.monotonic() + 10
    while len(db.points("power_active", "energy")) < 40 and time.monotonic() < deadline:
        time.sleep(0.2)
    letters = [json.loads(m.payload) for m in dead.snapshot()]
    assert len(letters) == 1
    letter = letters[0]
    assert letter["kind"] == "database" and "field type conflict" in letter["reason"]
    assert json.loads(letter["payload"])["seq"] == 23 and letter["seq"] == 23
    assert (letter["site"], letter["gateway"], letter["meter"]) == ("campus-a", "gw-1", "m3")
    # bisected down to the one line: only the fan_state reading is refused, with the server's text
    assert [(r["index"], r["reading"]["quantity"]) for r in letter["refused"]] == [(1, "fan_state")]
    assert "field type conflict" in letter["refused"][0]["reason"]
    # message 23's power_active point is written, only its conflicting fan_state point is refused
    written = sorted(p["value"] for p in db.points("power_active", "energy"))
    assert written == list(range(1, 41))
    assert [p["value"] for p in db.points("fan_state", "energy")] == [1]
    deadline = time.monotonic() + 5
    while service.unacked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.unacked == 0
