"""A received message -> its lines, or `Refused` with the reason (the message is dead-lettered).

Checks, in order: the payload's size; the topic is a readings topic of the tree under the prefix;
the payload is strict UTF-8 JSON that fits metergate.readings/1 (core.contract.schema.check_message:
its fast path is held to the JSON Schema by a property test, and anything it is unsure of goes to
jsonschema); site, gateway and meter in the topic equal those in the payload; every timestamp
(the message's `ts` and each reading's own `ts`) lies between `min_timestamp` and now +
`max_future`; every value fits a float. NaN and infinities cannot pass: the JSON parser refuses
their tokens, and values too large for a float are refused here rather than written as inf.

What is refused whole (`Refused`): a message whose envelope is wrong (size, topic, JSON, schema,
ids, the message's own `ts`). What is refused per reading (`Checked.refused`): a reading's own `ts`
out of range, a value too large for a float; the message's other readings are written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.contract.schema import ContractError, check_message
from services.shared.lineproto import reading_lines


class Refused(ValueError):
    """A message ingest will not write; `kind` groups reasons for counting, `reason` says which
    field and why."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind  # size | contract | topic | timestamp | value | database
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RefusedReading:
    index: int  # in the message's `readings`
    kind: str  # timestamp | value | database
    reason: str
    reading: object  # the reading as the message carried it


@dataclass(frozen=True, slots=True)
class Checked:
    lines: list[str]  # of the readings not refused, in order
    ts: float  # the message's ts (for the lag)
    site: str
    gateway: str
    meter: str
    seq: int
    refused: tuple[RefusedReading, ...] = ()
    index: tuple[int, ...] | None = None  # lines[i] is readings[index[i]]; None: readings[i]


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return "beyond the calendar"


class Validator:
    def __init__(self, *, prefix: str = "metergate", max_payload_bytes: int = 256 * 1024,
                 max_future: float = 300.0, min_timestamp: float = 946684800.0) -> None:
        self.prefix = prefix
        self.max_payload_bytes = max_payload_bytes
        self.max_future = max_future
        self.min_timestamp = min_timestamp

    def check(self, topic: str, payload: bytes, now: float) -> Checked:
        """The lines of a good readings message; Refused otherwise."""
        if len(payload) > self.max_payload_bytes:
            raise Refused("size", f"payload of {len(payload)} bytes is larger than the limit of "
                                  f"{self.max_payload_bytes}")
        try:
            message = check_message(topic, payload, prefix=self.prefix, max_bytes=self.max_payload_bytes)
        except ContractError as exc:
            kind = "topic" if "topic" in exc.reason and "payload" not in exc.reason else "contract"
            raise Refused(kind, exc.reason) from None
        if message.topic.kind != "readings":
            raise Refused("topic", f"topic {topic!r} is a {message.topic.kind} topic, not readings")
        doc = message.doc
        latest = now + self.max_future
        self._check_ts(doc["ts"], "ts", latest)  # the envelope's own time: all or nothing
        refused: list[RefusedReading] = []
        for i, item in enumerate(doc["readings"]):
            if "ts" in item:
                try:
                    self._check_ts(item["ts"], f"readings[{i}].ts", latest)
                except Refused as exc:
                    refused.append(RefusedReading(i, exc.kind, exc.reason, item))
                    continue
            value = item["value"]
            if value is not None and type(value) is int and not math.isfinite(_as_float(value)):
                refused.append(RefusedReading(i, "value", f"readings[{i}].value {value} is too large "
                                                          "for a float", item))
        head = (float(doc["ts"]), doc["site"], doc["gateway"], doc["meter"], doc["seq"])
        if not refused:  # the common case: every reading, lines[i] is readings[i]
            return Checked(reading_lines(doc), *head)
        bad = {r.index for r in refused}
        index = tuple(i for i in range(len(doc["readings"])) if i not in bad)
        good = {**doc, "readings": [doc["readings"][i] for i in index]}
        return Checked(reading_lines(good), *head, refused=tuple(refused), index=index)

    def check_whole(self, doc: dict[str, Any], now: float) -> None:
        """Refused("timestamp"/"value") unless every time is in range (check_times) and every value
        fits a float: for the analytics service, which refuses such a message whole."""
        self.check_times(doc, now)
        for i, item in enumerate(doc["readings"]):
            value = item["value"]
            if type(value) is int and not math.isfinite(_as_float(value)):
                raise Refused("value", f"readings[{i}].value {value} is too large for a float")

    def check_times(self, doc: dict[str, Any], now: float) -> None:
        """Refused("timestamp") unless the message's `ts` and every reading's own `ts` lie between
        `min_timestamp` and `now` + `max_future` (a schema-checked readings document). For the
        analytics service, which refuses such a message whole."""
        latest = now + self.max_future
        self._check_ts(doc["ts"], "ts", latest)
        for i, item in enumerate(doc["readings"]):
            if "ts" in item:
                self._check_ts(item["ts"], f"readings[{i}].ts", latest)

    def _check_ts(self, ts: float, where: str, latest: float) -> None:
        if ts > latest:
            raise Refused("timestamp", f"{where} {ts!r} ({_iso(ts)}) is more than "
                                       f"{self.max_future:g} s in the future; is the gateway's clock set?")
        if ts < self.min_timestamp:
            raise Refused("timestamp", f"{where} {ts!r} ({_iso(ts)}) is before the minimum timestamp "
                                       f"{_iso(self.min_timestamp)}")


def _as_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf
