"""The reading model every role shares, and its one quality rule.

A reading is (quantity, value, unit, quality, ts, error). Quality is explicit and a value is never
invented:
- ok: decoded and plausible
- invalid: NaN, infinity, a declared sentinel, or a register the device refuses — no value
- out_of_range: decoded but outside the plausible range (the value is kept so a person can see it)
- comm_error: the request failed (timeout, checksum, exception) — no value
- stale: a value repeated from an earlier read
The rule: `value` is None exactly when the quality is in NULL_QUALITIES, and a finite number
otherwise. The outbox, the MQTT payloads and their JSON Schema (core/contract/schemas/readings.json),
the contract check and ingest all apply this one rule (tests/test_quality_rule.py holds them to it).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Protocol


class Quality(StrEnum):
    OK = "ok"
    INVALID = "invalid"
    OUT_OF_RANGE = "out_of_range"
    COMM_ERROR = "comm_error"
    STALE = "stale"


QUALITIES: tuple[str, ...] = tuple(q.value for q in Quality)
NULL_QUALITIES: frozenset[str] = frozenset({Quality.INVALID.value, Quality.COMM_ERROR.value})
VALUE_QUALITIES: frozenset[str] = frozenset(QUALITIES) - NULL_QUALITIES


def value_fits(quality: str, value: object) -> bool:
    """The quality rule: no value on an invalid or comm_error reading, a finite number on any other."""
    if quality in NULL_QUALITIES:
        return value is None
    if quality not in VALUE_QUALITIES or isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


class ReadingLike(Protocol):
    """What stores and publishers need of a reading: a driver's Reading, or one read back from the
    outbox."""

    @property
    def quantity(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def unit(self) -> str: ...
    @property
    def quality(self) -> str: ...
    @property
    def ts(self) -> float: ...
    @property
    def error(self) -> str: ...
