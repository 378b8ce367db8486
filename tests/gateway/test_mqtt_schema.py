"""The readings fast path never vouches for a document the JSON Schema refuses (property test)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.contract import schema
from core.reading import Quality
from gateway.mqtt import payloads
from gateway.outbox import OutboxMessage, StoredReading

TS = 1710208800.25
QUALITIES = [q.value for q in Quality]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
keys = st.sampled_from(["schema", "site", "gateway", "meter", "seq", "ts", "time", "readings", "extra"])
item_keys = st.sampled_from(["quantity", "value", "unit", "quality", "ts", "error", "raw"])
TRICKY: list[Any] = [0, 1, -1, 1.0, 5.5, 2**63, 2**63 - 1, True, False, None, "", "a", "m1\n",
                     "a/b", "x" * 65, "x" * 17, "ok", "invalid", "comm_error", "stale", "Z",
                     "2024-03-12T10:00:00.250+08:00", "2024-03-12 10:00:00", [], {}, [1],
                     "metergate.readings/1", "metergate.readings/2", "energy_active_import"]
tricky = st.sampled_from(TRICKY)


@st.composite
def valid_docs(draw: st.DrawFn) -> dict[str, Any]:
    readings = []
    for i in range(draw(st.integers(1, 4))):
        quality = draw(st.sampled_from(QUALITIES))
        value = None if quality in ("invalid", "comm_error") else draw(
            st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53))
        ts = draw(st.sampled_from([TS, TS + 0.5]))
        readings.append(StoredReading(f"q_{i}", value, draw(st.sampled_from(["kWh", "", "m³"])),
                                      Quality(quality), ts, draw(st.sampled_from(["", "timeout"]))))
    msg = OutboxMessage(draw(st.integers(1, 2**63 - 1)), draw(st.sampled_from(["m1", "M-2_x"])), TS,
                        tuple(readings))
    return json.loads(payloads.readings_payload("campus", "gw1", msg))


@st.composite
def mutated_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(draw(valid_docs()))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["set", "delete", "item_set", "item_delete", "readings"]))
        value = draw(tricky | json_values)
        if action == "set":
            doc[draw(keys)] = value
        elif action == "delete":
            doc.pop(draw(keys), None)
        elif action == "readings":
            doc["readings"] = value
        elif isinstance(doc.get("readings"), list) and doc["readings"] and \
                isinstance(doc["readings"][0], dict):
            item = doc["readings"][draw(st.integers(0, len(doc["readings"]) - 1))]
            if isinstance(item, dict):
                if action == "item_set":
                    item[draw(item_keys)] = value
                else:
                    item.pop(draw(item_keys), None)
    return doc


@settings(max_examples=200, deadline=None)
@given(valid_docs())
def test_the_fast_path_takes_every_document_the_builder_makes(doc: dict[str, Any]) -> None:
    assert schema.validator("readings").is_valid(doc)
    assert schema.fits_readings(doc)


@settings(max_examples=1000, deadline=None)
@given(mutated_docs())
def test_the_fast_path_never_vouches_for_an_invalid_document(doc: dict[str, Any]) -> None:
    if schema.fits_readings(doc):
        assert schema.validator("readings").is_valid(doc), doc


def test_the_fast_path_patterns_are_the_schemas() -> None:
    s = schema.schema("readings")
    end = schema.PATTERN_END
    assert s["$defs"]["id"]["pattern"] == f"^{schema._ID.pattern}{end}"
    assert s["properties"]["time"]["pattern"] == f"^{schema._TIME.pattern}{end}"
    assert s["$defs"]["reading"]["properties"]["quantity"]["pattern"] == f"^{schema._QUANTITY.pattern}{end}"
    assert s["properties"]["seq"]["maximum"] == schema._SEQ_MAX
    assert set(s["required"]) == schema._READINGS_KEYS == set(s["properties"])
    assert set(s["$defs"]["reading"]["properties"]) == schema._ITEM_KEYS
    assert s["$defs"]["reading"]["properties"]["quality"]["enum"] == QUALITIES


def test_a_trailing_newline_in_an_id_is_refused() -> None:
    doc = json.loads(payloads.readings_payload("campus", "gw1", OutboxMessage(
        1, "m1", TS, (StoredReading("energy_active_import", 1.0, "kWh", Quality.OK, TS, ""),))))
    doc["meter"] = "m1\n"
    assert not schema.fits_readings(doc)
    topic = "metergate/v1/campus/gw1/meters/m1/readings"
    try:
        schema.check_message(topic, json.dumps(doc))
    except schema.ContractError as exc:
        assert "meter" in exc.reason
    else:
        raise AssertionError("a meter id with a newline was accepted")
