"""Drills someone else wrote against ingest's checks (helper "drill"): garbage the fuzz test does not
generate. A payload within the size limit must be refused in well under a second whatever its shape,
since ingest checks messages one at a time: a message that costs seconds holds up every good one
behind it, and a flood of them stalls ingest for good."""

from __future__ import annotations

import json
import time

import pytest

from core.contract.schema import ContractError, check_message
from tests.support.ingest import readings_doc, topic_for

LIMIT = 256 * 1024  # limits.max_payload_bytes (default)


def _doc(readings: list[object]) -> bytes:
    doc = readings_doc("m1", seq=1, ts=time.time() - 60, values={"power_active": 1.5})
    doc["readings"] = readings
    return json.dumps(doc).encode()


def _fill(item: object, last: object | None = None) -> bytes:
    """As many copies of `item` in `readings` as fit under LIMIT (then `last`, if any)."""
    one = len(json.dumps(item)) + 2
    n = (LIMIT - 400) // one
    return _doc([item] * n + ([] if last is None else [last]))


@pytest.mark.parametrize(("name", "payload", "where"), [
    ("60k empty readings", _fill({}), "$.readings[0]"),
    ("100k numbers as readings", _fill(0), "$.readings[0]"),
    ("3k good readings and one bad", _fill({"quantity": "q", "value": 1.5, "unit": "W", "quality": "ok"},
                                          last={"quantity": "Bad"}), "$.readings[" ),
    ("3k readings with an extra key", _fill({"quantity": "q", "value": 1, "unit": "W", "quality": "ok",
                                              "x": 1}), "$.readings[0]"),
])
def test_a_large_bad_message_is_refused_quickly_naming_the_reading(name: str, payload: bytes,
                                                                    where: str) -> None:
    assert len(payload) <= LIMIT
    started = time.perf_counter()
    with pytest.raises(ContractError) as refused:
        check_message(topic_for("m1"), payload)
    took = time.perf_counter() - started
    assert where in refused.value.reason, refused.value.reason
    assert took < 0.5, f"{name}: refusing it took {took:.1f} s"


def test_a_bad_reading_among_good_ones_is_named_by_its_own_index() -> None:
    good = {"quantity": "q", "value": 1.5, "unit": "W", "quality": "ok"}
    payload = _doc([good] * 500 + [{"quantity": "q", "value": "x", "unit": "W", "quality": "ok"}]
                   + [good] * 10)
    with pytest.raises(ContractError, match=r"\$\.readings\[500\]\.value"):
        check_message(topic_for("m1"), payload)


def test_a_large_good_message_still_passes() -> None:
    good = {"quantity": "q", "value": 1.5, "unit": "W", "quality": "ok"}
    message = check_message(topic_for("m1"), _fill(good))
    assert len(message.doc["readings"]) > 2000


GOOD = {"quantity": "q", "value": 1.5, "unit": "W", "quality": "ok"}


@pytest.mark.parametrize("odd", [
    {**GOOD, "value": None}, {**GOOD, "quality": "comm_error", "value": None}, {**GOOD, "unit": "x" * 17},
    {**GOOD, "ts": 0}, {**GOOD, "ts": 5}, {**GOOD, "error": ""}, {**GOOD, "error": "e"},
    {**GOOD, "value": True},
    {**GOOD, "quantity": "q\n"}, [GOOD], None,
])
def test_a_long_message_is_judged_as_the_schema_judges_it(odd: object) -> None:
    """Checking a long readings list in slices accepts exactly what jsonschema accepts."""
    from core.contract.schema import problems

    for where in (0, 70, 199):
        items: list[object] = [dict(GOOD) for _ in range(200)]
        items[where] = odd
        doc = json.loads(_doc(items))
        expected = problems(doc, "readings")
        try:
            check_message(topic_for("m1"), json.dumps(doc).encode())
        except ContractError as exc:
            assert expected, f"refused what the schema accepts: {exc}"
            assert f"$.readings[{where}]" in exc.reason
        else:
            assert not expected, f"accepted what the schema refuses: {expected[0]}"


@pytest.mark.parametrize("value", ["DEL", [0] * 80_000, [[[[1]]]] * 20_000])
def test_the_reason_stays_short_whatever_the_value(value: object) -> None:
    """jsonschema's message quotes the offending value whole: a 200 KB string of DEL characters
    (1 byte each in JSON, 4 in Python's repr) made a reason of 800 KB, so the dead letter was 4x the
    payload (docs/ingest.md promises about twice at most) and analytics logged 800 KB lines."""
    payload = _doc([{"quantity": "q", "value": value, "unit": "W", "quality": "ok"}])
    payload = payload.replace(b'"DEL"', b'"' + b"\x7f" * 200_000 + b'"')  # raw: JSON allows it
    assert len(payload) <= LIMIT
    with pytest.raises(ContractError) as refused:
        check_message(topic_for("m1"), payload)
    assert "$.readings[0].value" in refused.value.reason
    assert len(refused.value.reason) <= 600, len(refused.value.reason)
