"""The ingest Validator: everything it accepts fits the contract's JSON Schema and the timestamp
limits, and becomes exactly one line per reading; everything the schema refuses, it refuses with a
reason (property tests on the mutated documents of test_mqtt_schema)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings

from core.contract import schema
from services.shared.lineproto import QUALITY_CODES, ts_to_ns
from services.shared.validate import Refused, Validator
from tests.gateway.test_mqtt_schema import TS, mutated_docs, valid_docs

NOW = TS + 60
V = Validator(max_future=300.0, min_timestamp=946684800.0)


def _topic(doc: Any) -> str:
    ids = [doc.get(k) if isinstance(doc, dict) else None for k in ("site", "gateway", "meter")]
    site, gateway, meter = (i if isinstance(i, str) and i and "/" not in i else "x" for i in ids)
    return f"metergate/v1/{site}/{gateway}/meters/{meter}/readings"


def _check(doc: Any) -> tuple[list[str] | None, str | None]:
    try:
        payload = json.dumps(doc, allow_nan=False).encode()
    except (ValueError, TypeError):
        return None, "not serialisable"
    try:
        checked = V.check(_topic(doc), payload, NOW)
    except Refused as exc:
        return None, exc.reason
    if checked.refused:  # some readings refused: not accepted as a whole
        return None, "; ".join(r.reason for r in checked.refused)
    return checked.lines, None


def _assert_lines_match(doc: dict[str, Any], lines: list[str]) -> None:
    assert len(lines) == len(doc["readings"])
    for item, text in zip(doc["readings"], lines, strict=True):
        head, fields, ts = text.split(" ")
        assert head == f"{item['quantity']},gateway={doc['gateway']},meter={doc['meter']},site={doc['site']}"
        assert int(ts) == ts_to_ns(item.get("ts", doc["ts"]))
        parsed = dict(f.split("=") for f in fields.split(","))
        assert parsed["quality"] == f"{QUALITY_CODES[item['quality']]}i"
        if item["value"] is None:
            assert "value" not in parsed  # never a stand-in number
        else:
            assert float(parsed["value"]) == float(item["value"])


@settings(max_examples=300, deadline=None)
@given(valid_docs())
def test_takes_every_valid_document(doc: dict[str, Any]) -> None:
    lines, reason = _check(doc)
    assert lines is not None, reason
    _assert_lines_match(doc, lines)


@settings(max_examples=600, deadline=None)
@given(mutated_docs())
def test_accepts_only_what_the_schema_accepts(doc: Any) -> None:
    lines, reason = _check(doc)
    if lines is not None:
        assert schema.validator("readings").is_valid(doc), doc
        assert V.min_timestamp <= doc["ts"] <= NOW + V.max_future
        assert all(V.min_timestamp <= r.get("ts", doc["ts"]) <= NOW + V.max_future
                   for r in doc["readings"])
        _assert_lines_match(doc, lines)
    else:
        assert reason
    if reason != "not serialisable" and not schema.validator("readings").is_valid(doc):
        assert lines is None


def test_timestamp_limits_after_the_contract() -> None:
    from datetime import UTC, datetime
    for ts, words in ((NOW + 301, "in the future"), (946684799.0, "before the minimum")):
        doc = _valid()
        doc["ts"] = ts
        doc["time"] = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
        with pytest.raises(Refused, match=words) as err:
            V.check(_topic(doc), json.dumps(doc).encode(), NOW)
        assert err.value.kind == "timestamp"


def test_size_limit_and_non_readings_topics() -> None:
    small = Validator(max_payload_bytes=100)
    with pytest.raises(Refused, match="larger than the limit of 100") as err:
        small.check(_topic(_valid()), json.dumps(_valid()).encode(), NOW)
    assert err.value.kind == "size"
    status = {"schema": "metergate.status/1", "site": "s", "gateway": "g", "state": "online",
              "ts": TS, "version": "1", "started": TS}
    with pytest.raises(Refused, match="not readings"):
        V.check("metergate/v1/s/g/status", json.dumps(status).encode(), NOW)


def test_integer_beyond_float_is_refused_not_inf() -> None:
    doc = _valid()
    doc["readings"][0].update(value=10**400, quality="ok")
    checked = V.check(_topic(doc), json.dumps(doc).encode(), NOW)
    assert checked.lines == []
    assert [(r.index, r.kind) for r in checked.refused] == [(0, "value")]
    assert "too large for a float" in checked.refused[0].reason


def test_bad_readings_are_refused_one_by_one_and_the_rest_kept() -> None:
    doc = _valid()
    good = doc["readings"][0]
    doc["readings"] = [dict(good, quantity=f"q{i}", value=float(i)) for i in range(6)]
    doc["readings"][1]["ts"] = NOW + 3600  # too far ahead
    doc["readings"][3]["ts"] = 946684799.0  # before the minimum
    doc["readings"][4].update(value=10**400)
    checked = V.check(_topic(doc), json.dumps(doc).encode(), NOW)
    assert [(r.index, r.kind) for r in checked.refused] == [(1, "timestamp"), (3, "timestamp"),
                                                             (4, "value")]
    assert "readings[1].ts" in checked.refused[0].reason and "future" in checked.refused[0].reason
    assert "before the minimum" in checked.refused[1].reason
    assert checked.refused[2].reading == doc["readings"][4]
    assert checked.index == (0, 2, 5)
    assert [text.split(",")[0] for text in checked.lines] == ["q0", "q2", "q5"]
    assert (checked.site, checked.gateway, checked.meter, checked.seq) == ("campus", "gw1", "m1", 1)


def test_a_bad_message_timestamp_still_refuses_the_whole_message() -> None:
    doc = _valid()
    doc["readings"].append(dict(doc["readings"][0], quantity="q1", ts=TS))
    from datetime import UTC, datetime
    doc["ts"] = NOW + 3600
    doc["time"] = datetime.fromtimestamp(NOW + 3600, UTC).isoformat(timespec="milliseconds")
    with pytest.raises(Refused, match="in the future") as err:
        V.check(_topic(doc), json.dumps(doc).encode(), NOW)
    assert err.value.kind == "timestamp"


def _valid() -> dict[str, Any]:
    return {"schema": "metergate.readings/1", "site": "campus", "gateway": "gw1", "meter": "m1", "seq": 1,
            "ts": TS, "time": "2024-03-12T10:00:00.250+08:00",
            "readings": [{"quantity": "power_active", "value": 1.5, "unit": "W", "quality": "ok"}]}
