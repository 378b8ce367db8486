"""Fuzzing ingest (tests/gateway/ingest_fuzz.py makes the messages).

- The validator directly: on any message it returns well-formed line protocol or refuses with a
  reason; it never raises anything else (which would be an `internal` dead letter).
- The dead-letter encoder directly: any payload, topic, reason and refused reading (lone surrogates
  included) gives a document that parses, fits schemas/dead-letter.json and gives the payload back.
- Every pattern of the contract's schemas refuses a trailing newline.
- End to end: one corpus of a few hundred messages through a real mosquitto, `IngestService` and a
  real VictoriaMetrics, good messages interleaved and after: each message is written exactly or
  dead-lettered once with a reason (never `internal`), nothing malformed reaches the database, and
  the acknowledgements keep going.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core.contract import schema
from services.ingest.service import IngestService, dead_letter_document, plain_dead_letter
from services.shared.consumer import Delivery
from services.shared.validate import Checked, Refused, Validator
from tests.gateway import ingest_fuzz as fz
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

LINE = re.compile(r"(?P<q>[a-z][a-z0-9_]{0,63}),gateway=[A-Za-z0-9_-]{1,64},meter=[A-Za-z0-9_-]{1,64},"
                  r"site=[A-Za-z0-9_-]{1,64} (value=-?[0-9.e+-]+(inf)?,)?quality=[0-4]i -?[0-9]{1,19}")
KINDS = {"size", "topic", "contract", "timestamp", "value", "database"}  # `internal` is a bug
DEAD = "metergate/ingest/dead-letter"
KEPT = 256 * 1024  # limits.max_payload_bytes (default): a dead letter keeps the payload up to it


# -- the validator ---------------------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fz.messages())
def test_the_validator_writes_clean_lines_or_refuses_with_a_reason(m: fz.Message) -> None:
    v = Validator(prefix="metergate")
    try:
        checked = v.check(m.topic, m.payload, fz.NOW)
    except Refused as exc:
        assert exc.kind in KINDS and exc.reason, m
        return
    assert isinstance(checked, Checked)
    for text in checked.lines:
        assert text.isascii() and LINE.fullmatch(text), (text, m)
        assert "value=nan" not in text and "value=inf" not in text and "value=-inf" not in text
    for r in checked.refused:
        assert r.kind in ("timestamp", "value") and r.reason


@pytest.mark.parametrize(("where", "change"), [
    ("$.readings[0].quantity", lambda d: d["readings"][0].update(quantity="power_active\n")),
    ("$.time", lambda d: d.update(time=d["time"].replace("+00:00", "+08:00") + "\n")),
    ("$.time", lambda d: d.update(time=d["time"] + "\n")),
    ("$.readings[0].quality", lambda d: d["readings"][0].update(quality="ok\n")),
    ("$.schema", lambda d: d.update(schema="metergate.readings/1\n")),
])
def test_a_trailing_newline_is_refused_by_the_contract_naming_the_field(where: str, change: Any) -> None:
    doc = readings_doc("m1", seq=1, ts=round(time.time() - 60, 3), values={"power_active": 1.5})
    change(doc)
    with pytest.raises(Refused) as refused:
        Validator().check(topic_for("m1"), json.dumps(doc).encode(), time.time())
    assert refused.value.kind == "contract" and refused.value.reason.startswith(f"readings: {where}:"), \
        refused.value.reason


@pytest.mark.parametrize(("time_text", "words"), [
    ("2026-13-45T25:61:61.000+00:00", "is not a date and time"),  # fits the pattern, not the calendar
    ("9999-12-31T23:59:59.999-23:59", "is not the instant"),
])
def test_a_time_the_pattern_lets_through_is_refused_as_contract(time_text: str, words: str) -> None:
    doc = readings_doc("m1", seq=1, ts=round(time.time() - 60, 3), values={"power_active": 1.5})
    doc["time"] = time_text
    with pytest.raises(Refused) as refused:
        Validator().check(topic_for("m1"), json.dumps(doc).encode(), time.time())
    assert refused.value.kind == "contract" and words in refused.value.reason


def test_an_integer_beyond_pythons_digit_limit_is_a_contract_refusal() -> None:
    payload = readings_payload("m1", seq=1, ts=round(time.time(), 3), values={"power_active": 1.0})
    payload = payload.replace(b'"value": 1.0', b'"value": ' + b"7" * 5000)
    with pytest.raises(Refused) as refused:
        Validator().check(topic_for("m1"), payload, time.time())
    assert refused.value.kind == "contract" and "not JSON" in refused.value.reason


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items()
                for p in ([v] if k == "pattern" and isinstance(v, str) else _patterns(v))]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


ALL_PATTERNS = sorted({p for name in (*schema.KINDS, *schema.SERVICE_SCHEMAS)
                       for p in _patterns(schema.service_schema(name) if name in schema.SERVICE_SCHEMAS
                                          else schema.schema(name))})


def test_every_pattern_of_the_contract_ends_where_the_string_ends() -> None:
    assert len(ALL_PATTERNS) >= 5
    for p in ALL_PATTERNS:
        assert p.startswith("^") and p.endswith(schema.PATTERN_END), p


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_no_pattern_of_the_contract_takes_a_trailing_newline(pattern: str, data: st.DataObject) -> None:
    body = pattern[1:-len(schema.PATTERN_END)]
    text = data.draw(st.from_regex(re.compile(body), fullmatch=True))
    assert re.search(pattern, text), (pattern, text)  # jsonschema's own test of a pattern
    for tail in ("\n", "\r\n", "\n\n"):
        assert not re.search(pattern, text + tail), (pattern, text + tail)


# -- the dead-letter encoder -----------------------------------------------------------------------

refused_readings = st.lists(st.fixed_dictionaries({
    "index": st.integers(0, 100), "kind": st.sampled_from(["timestamp", "value", "database"]),
    "reason": fz.any_text.filter(bool), "reading": st.fixed_dictionaries(
        {"quantity": fz.any_text, "value": fz.numbers.filter(lambda x: not isinstance(x, float) or
                                                              math.isfinite(x)),
         "unit": st.one_of(st.sampled_from(fz.SURROGATES), fz.any_text), "quality": fz.any_text})}),
    min_size=1, max_size=3)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(payload=st.one_of(st.binary(max_size=300),
                         fz.any_text.map(lambda t: t.encode("utf-8", "surrogatepass"))),
       topic=fz.any_text.filter(bool), reason=fz.any_text.filter(bool),
       kind=st.sampled_from(sorted(KINDS | {"internal"})), refused=st.one_of(st.none(), refused_readings),
       limit=st.integers(1, 400))
def test_a_dead_letter_always_encodes_fits_the_schema_and_keeps_the_payload(
        payload: bytes, topic: str, reason: str, kind: str, refused: list[dict[str, Any]] | None,
        limit: int) -> None:
    delivery = Delivery(topic, payload, 1, 1, 1, time.time())
    kind = "size" if len(payload) > limit else kind  # the schema: only a size refusal is cut
    extra = None if refused is None else {"site": "s", "gateway": "g", "meter": "m", "seq": 1,
                                          "refused": refused}
    body = dead_letter_document(delivery, kind, reason, "ingest-a", max_bytes=limit, extra=extra)
    doc = json.loads(body)  # bytes: json detects UTF-8; a surrogate arrives as its JSON escape
    assert schema.service_problems(doc, "dead-letter") == [], doc
    assert (doc["topic"], doc["reason"], doc["kind"]) == (topic, reason, kind)
    if refused is not None:
        assert doc["refused"] == refused
    kept = doc["payload"].encode("utf-8", "surrogatepass") if "payload" in doc else \
        base64.b64decode(doc["payload_base64"])
    assert payload[:limit].startswith(kept) and len(payload[:limit]) - len(kept) <= 3
    assert doc["truncated"] == (len(payload) > limit) and doc["payload_bytes"] == len(payload)
    plain = json.loads(plain_dead_letter(delivery, kind, reason, "ingest-a", max_bytes=limit))
    assert schema.service_problems(plain, "dead-letter") == []
    assert base64.b64decode(plain["payload_base64"]) == payload[:limit]


# -- end to end ------------------------------------------------------------------------------------

def corpus(n: int) -> list[fz.Message]:
    """`n` distinct messages, the same every run (derandomized), made up front."""
    found: dict[tuple[str, bytes], fz.Message] = {}

    @settings(max_examples=n, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(fz.messages())
    def collect(m: fz.Message) -> None:
        found.setdefault((m.topic, m.payload), m)

    collect()
    return list(found.values())


def _good(i: int) -> fz.Message:
    doc = readings_doc("good", seq=i + 1, ts=round(fz.NOW - 3600 + i / 1000, 3),
                       values={"power_active": i + 0.5}, site=fz.SITE, gateway=fz.GATEWAY)
    return fz.Message(topic_for("good", site=fz.SITE, gateway=fz.GATEWAY), json.dumps(doc).encode(), "good")


def _every_kind() -> list[fz.Message]:
    """One message per kind of dead letter, so the end-to-end run covers them all whatever the
    corpus happens to hold (hypothesis versions draw differently)."""
    def doc(n: int, ts: float = round(fz.NOW - 600, 3), **change: Any) -> dict[str, Any]:
        d = readings_doc(f"k{n}", seq=1, ts=ts, values={"power_active": 1.0}, site=fz.SITE,
                         gateway=fz.GATEWAY)
        d.update(change)
        return d

    def msg(d: dict[str, Any], what: str, topic: str | None = None) -> fz.Message:
        return fz.Message(topic or topic_for(d["meter"], site=fz.SITE, gateway=fz.GATEWAY),
                          json.dumps(d).encode(), what)

    huge = doc(1)
    huge["readings"].append({**huge["readings"][0], "quantity": "voltage_l1", "value": 10**400})
    return [
        msg(doc(2, pad="x" * (257 * 1024)), "size"),
        msg(doc(3), "topic", topic=topic_for("k3é", site=fz.SITE, gateway=fz.GATEWAY)),
        msg(doc(4, seq="one"), "contract"),
        msg(doc(5, ts=946684000.0), "timestamp"),
        msg(huge, "value"),
    ]


def _letter_payload(d: dict[str, Any]) -> bytes:
    if "payload_base64" in d:
        return base64.b64decode(d["payload_base64"])
    return str(d["payload"]).encode("utf-8", "surrogatepass")


@pytest.mark.slow
def test_fuzzed_messages_are_written_exactly_or_dead_lettered_once(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    messages = corpus(300) + _every_kind()
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, DEAD, client_id="fuzz-dead-letters")
    service = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url, receive_maximum=50),
                           services)
    pub = Publisher(broker.host, broker.port, "fuzz-publisher")
    sent, good = [], 0
    for i, m in enumerate(messages):
        sent.append(m)
        if i % 3 == 0:
            sent.append(_good(good))
            good += 1
    tail = [_good(good + k) for k in range(200)]  # after all the garbage: must all be written
    for m in sent + tail:
        pub.send(m.topic, m.payload)
    assert pub.flush(60)
    goods = good + len(tail)
    assert vm.wait_count(f'{{__name__="power_active_value",meter="good",site="{fz.SITE}"}}', goods,
                         timeout=30) == goods
    deadline = time.monotonic() + 20
    while service.unacked and time.monotonic() < deadline:
        time.sleep(0.1)
    assert service.unacked == 0, service.consumer.stall  # nothing held up the acknowledgements

    settled = -1  # the dead letters the broker has passed on to the recorder, once no more arrive
    while settled != len(dead.snapshot()):
        settled = len(dead.snapshot())
        time.sleep(0.5)
    letters = [json.loads(r.payload) for r in dead.snapshot()]
    by_message = Counter((d["topic"], _letter_payload(d)) for d in letters)
    assert all(d["kind"] != "internal" for d in letters), [d for d in letters if d["kind"] == "internal"]
    for d in letters:
        assert d["reason"] and schema.service_problems(d, "dead-letter") == [], d
    refused_at = {(d["topic"], _letter_payload(d)): frozenset(r["index"] for r in d["refused"])
                  for d in letters if "refused" in d}
    expected: dict[fz.Key, list[float]] = {}
    outcomes: Counter[str] = Counter()
    for m in sent + tail:
        key = (m.topic, m.payload[:KEPT])
        n = by_message.get(key, 0)
        assert n <= 1, (f"dead-lettered {n} times", m)
        if n and key not in refused_at:
            outcomes["dead-lettered"] += 1
            continue
        want = fz.points(m.payload, refused_at.get(key, frozenset()))
        assert want is not None, ("neither written nor dead-lettered", m)
        outcomes["partly" if n else "written"] += 1
        for k, value in want.items():
            expected.setdefault(k, []).append(value)
    got = vm.samples()
    assert set(got) == set(expected), (sorted(set(got) ^ set(expected))[:5])
    for k, value in got.items():
        assert any(fz.same_value(value, v) for v in expected[k]), (k, value, expected[k])
    for name, labels, _ in got:
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,63}_(value|quality)", name), name
        assert {k for k, _ in labels} == {"site", "gateway", "meter"}
        assert all(fz.ID.fullmatch(v) for _, v in labels), labels
    # the corpus exercised every outcome
    assert outcomes["dead-lettered"] >= 150 and outcomes["written"] >= goods, outcomes
    assert outcomes["partly"] >= 5, outcomes
    assert {d["kind"] for d in letters} >= {"size", "topic", "contract", "timestamp", "value"}
    print(f"fuzz: {len(sent) + len(tail)} messages, {dict(outcomes)}, dead letters by kind "
          f"{dict(Counter(d['kind'] for d in letters))}, {len(got)} samples checked")
