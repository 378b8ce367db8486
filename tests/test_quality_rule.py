"""The one quality rule (core.reading) is the rule of every place that judges a reading: the JSON
Schema of the readings document, the contract's fast check, the outbox codes and the line protocol."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from core.contract import schema
from core.reading import NULL_QUALITIES, QUALITIES, Quality, value_fits
from gateway.outbox.codec import QUALITIES as OUTBOX_QUALITIES
from services.shared.lineproto import QUALITY_CODES

VALUES: list[Any] = [None, 0, 1.5, -2, True, "1.5"]


def _doc(quality: str, value: Any) -> dict[str, Any]:
    return {"schema": "metergate.readings/1", "site": "s", "gateway": "g", "meter": "m", "seq": 1,
            "ts": 1710208800.25, "time": "2024-03-12T02:00:00.250Z",
            "readings": [{"quantity": "energy_active_import", "value": value, "unit": "kWh",
                          "quality": quality}]}


@pytest.mark.parametrize(("quality", "value"), list(itertools.product([*QUALITIES, "bogus"], VALUES)))
def test_the_schema_and_the_fast_check_apply_the_rule(quality: str, value: Any) -> None:
    doc = _doc(quality, value)
    expected = value_fits(quality, value)
    assert (schema.problems(doc, "readings") == []) is expected, schema.problems(doc, "readings")
    if expected:  # the fast path may only err towards asking jsonschema
        assert schema.fits_readings(doc)
    else:
        assert not schema.fits_readings(doc)


def test_the_rule_itself() -> None:
    assert {"invalid", "comm_error"} == NULL_QUALITIES
    assert not value_fits("comm_error", 0) and value_fits("comm_error", None)
    assert not value_fits("ok", None) and not value_fits("ok", float("nan")) and value_fits("ok", 0)


def test_every_store_knows_every_quality() -> None:
    assert set(OUTBOX_QUALITIES) == set(Quality)
    assert set(QUALITY_CODES) == set(QUALITIES)
    assert schema.schema("readings")["$defs"]["reading"]["properties"]["quality"]["enum"] == list(QUALITIES)
