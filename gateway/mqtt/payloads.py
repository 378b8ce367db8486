"""The JSON documents of the MQTT contract (docs/mqtt.md; schemas in core/contract/schemas/).

Builders return plain dicts in the documented key order; `encode` turns one into compact UTF-8 JSON
and refuses NaN and infinities (JSON has neither). A readings document is a pure function of its
outbox message, so a re-sent message is byte-identical to the first copy.

Reading rules (enforced here and by the schema): `value` is null exactly when `quality` is
"invalid" or "comm_error" -- an invalid reading never carries 0 or any other number -- and is a
finite number otherwise; `ts` appears only when the reading's time differs from the message's;
`error` only when there is one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, tzinfo
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # json.dumps of a str
from math import isfinite
from typing import Any, NamedTuple, Protocol

from core.contract.json_doc import PayloadError, encode, iso_time, software_version
from core.contract.topics import Kind, check_segment
from core.quantities import Kind as QuantityKind
from core.reading import NULL_QUALITIES, QUALITIES, Quality, ReadingLike
from drivers.readers import AnyVariant

SCHEMA_IDS: dict[Kind, str] = {
    "status": "metergate.status/1",
    "health": "metergate.health/1",
    "readings": "metergate.readings/1",
    "availability": "metergate.availability/1",
    "meta": "metergate.meta/1",
}
STATES = ("online", "offline")
QUANTITY_KINDS: tuple[str, ...] = tuple(k.value for k in QuantityKind)

Doc = dict[str, Any]


class MessageLike(Protocol):
    """gateway.outbox.OutboxMessage: one stored poll of one meter."""

    @property
    def seq(self) -> int: ...
    @property
    def meter(self) -> str: ...
    @property
    def ts(self) -> float: ...
    @property
    def readings(self) -> Sequence[ReadingLike]: ...


class Repaired(NamedTuple):
    """A reading rewritten by `repair_reading` so it fits the contract."""

    quantity: str
    value: float | None
    unit: str
    quality: str
    ts: float
    error: str


def _epoch(ts: object, what: str) -> float:
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts) or ts <= 0:
        raise PayloadError(f"{what} must be a positive finite number of epoch seconds, not {ts!r}")
    return float(ts)


def _state(state: str) -> str:
    if state not in STATES:
        raise PayloadError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    return state


def _id(value: str, what: str) -> str:
    try:
        return check_segment(value, what)
    except ValueError as exc:
        raise PayloadError(str(exc)) from None


# -- readings ---------------------------------------------------------------------------------------

_QUALITY_OF: dict[str, str] = {q.value: q.value for q in Quality}  # Quality members hash as their str


def reading_item(reading: ReadingLike, message_ts: float) -> Doc:
    """One entry of a readings document; PayloadError if the reading breaks the rules above.

    This runs for every reading published (tens of thousands a second on a big gateway), so the
    common case takes the fewest steps: a float value, a known quality, no own timestamp."""
    quality = _QUALITY_OF.get(reading.quality)
    if quality is None:
        raise PayloadError(f"{reading.quantity}: quality {reading.quality!r} is not one of "
                           f"{', '.join(QUALITIES)}")
    value = reading.value
    kind = type(value)
    if quality in NULL_QUALITIES:
        if value is not None:
            raise PayloadError(f"{reading.quantity}: a reading of quality {quality} carries no value, "
                               f"not {value!r}")
    elif kind is float:
        if not isfinite(value):  # type: ignore[arg-type]  # kind is float, so value is
            raise PayloadError(f"{reading.quantity}: refused to publish the non-finite value {value!r} "
                               f"as quality {quality}; a NaN is an invalid reading with no value")
    elif kind is not int:
        if value is None:
            raise PayloadError(f"{reading.quantity}: a reading of quality {quality} needs a value")
        if kind is bool or not isinstance(value, int | float):
            raise PayloadError(f"{reading.quantity}: value {value!r} is not a number")
        if not math.isfinite(value):
            raise PayloadError(f"{reading.quantity}: refused to publish the non-finite value {value!r} "
                               f"as quality {quality}; a NaN is an invalid reading with no value")
    item: Doc = {"quantity": reading.quantity, "value": value, "unit": reading.unit, "quality": quality}
    ts = reading.ts
    if ts != message_ts:
        item["ts"] = ts if type(ts) is float and 0 < ts < math.inf else _epoch(ts, f"{reading.quantity}: ts")
    if reading.error:
        item["error"] = reading.error
    return item


def readings_doc(site: str, gateway: str, message: MessageLike, *, tz: tzinfo = UTC) -> Doc:
    """The readings document of one outbox message."""
    if isinstance(message.seq, bool) or not isinstance(message.seq, int) or message.seq < 1:
        raise PayloadError(f"seq must be an integer >= 1, not {message.seq!r}")
    ts = _epoch(message.ts, "ts")
    if not message.readings:
        raise PayloadError(f"seq {message.seq}: a poll with no readings is not published")
    return {
        "schema": SCHEMA_IDS["readings"],
        "site": _id(site, "site id"),
        "gateway": _id(gateway, "gateway id"),
        "meter": _id(message.meter, "meter id"),
        "seq": message.seq,
        "ts": ts,
        "time": iso_time(ts, tz),
        "readings": [reading_item(r, message.ts) for r in message.readings],
    }


def readings_payload(site: str, gateway: str, message: MessageLike, *, tz: tzinfo = UTC) -> bytes:
    return encode(readings_doc(site, gateway, message, tz=tz))


class ReadingsRenderer:
    """`readings_payload` for one gateway, with the fixed parts of the JSON built once.

    The head of a message (schema, site, gateway, meter) and of a reading (quantity, unit,
    quality) are the same poll after poll; only seq, the times and the values are formatted per
    message. The bytes are those of `readings_payload` for the same message, except that every
    value is written as a float (5.0, not 5): the outbox gives every value back as a float, so a
    message rendered from the readings just polled is byte-identical to its copy read back from
    the outbox. Anything unusual (a bad quality, NaN, a value on an invalid reading) goes
    through `reading_item`, which raises the same PayloadError."""

    def __init__(self, site: str, gateway: str, *, tz: tzinfo = UTC) -> None:
        self.tz = tz
        self._prefix = (f'{{"schema":{encode_basestring(SCHEMA_IDS["readings"])},'
                        f'"site":{encode_basestring(_id(site, "site id"))},'
                        f'"gateway":{encode_basestring(_id(gateway, "gateway id"))},"meter":')
        self._heads: dict[str, str] = {}  # meter -> the message up to "seq":
        self._items: dict[tuple[str, str, str], tuple[str, str, bool]] = {}

    def render(self, message: MessageLike) -> bytes:
        seq = message.seq
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise PayloadError(f"seq must be an integer >= 1, not {seq!r}")
        mts = message.ts
        ts = mts if type(mts) is float and 0 < mts < math.inf else _epoch(mts, "ts")
        readings = message.readings
        if not readings:
            raise PayloadError(f"seq {seq}: a poll with no readings is not published")
        head = self._heads.get(message.meter)
        if head is None:
            head = self._heads.setdefault(
                message.meter, f'{self._prefix}{encode_basestring(_id(message.meter, "meter id"))},'
                               '"seq":')
        parts = [head, str(int(seq)), ',"ts":', float.__repr__(ts), ',"time":"', iso_time(ts, self.tz),
                 '","readings":[']
        items = self._items
        append = parts.append
        first = True
        for r in readings:
            key = (r.quantity, r.unit, r.quality)
            fixed = items.get(key)
            if fixed is None:
                fixed = items.setdefault(key, self._fixed(r))
            start, middle, null = fixed
            value = r.value
            if null:
                if value is not None:
                    reading_item(r, mts)  # raises: an invalid reading carries no value
                text = "null"
            elif type(value) is float and isfinite(value):
                text = float.__repr__(value)
            else:
                text = float.__repr__(float(reading_item(r, mts)["value"]))
            if first:
                first = False
            else:
                append(",")
            append(start)
            append(text)
            append(middle)
            rts = r.ts
            if rts != mts:
                append(',"ts":')
                append(float.__repr__(rts if type(rts) is float and 0 < rts < math.inf
                                      else _epoch(rts, f"{r.quantity}: ts")))
            if r.error:
                append(',"error":')
                append(encode_basestring(r.error))
            append("}")
        append("]}")
        return "".join(parts).encode()

    @staticmethod
    def _fixed(reading: ReadingLike) -> tuple[str, str, bool]:
        quality = _QUALITY_OF.get(reading.quality)
        if quality is None:
            reading_item(reading, reading.ts)  # raises, naming the quality
            raise AssertionError("unreachable")
        return (f'{{"quantity":{encode_basestring(reading.quantity)},"value":',
                f',"unit":{encode_basestring(reading.unit)},"quality":"{quality}"',
                quality in NULL_QUALITIES)


def repair_reading(reading: ReadingLike) -> tuple[ReadingLike, str | None]:
    """The reading unchanged and None if it fits the contract, else a fitting one and what changed.

    Used by the publisher for a stored reading that breaks the rules (a bug upstream), so one bad
    value cannot block the outbox: a NaN, infinity or missing value becomes quality "invalid" with
    no value, a value on an invalid/comm_error reading is dropped. The change is put into `error`.
    """
    try:
        reading_item(reading, reading.ts)
        return reading, None
    except PayloadError as exc:
        problem = str(exc)
    quality = str(reading.quality)
    if quality not in QUALITIES:
        quality = Quality.INVALID.value
    value = reading.value
    if quality in NULL_QUALITIES or value is None or isinstance(value, bool) \
            or not isinstance(value, int | float) or not math.isfinite(value):
        if quality not in NULL_QUALITIES:
            quality = Quality.INVALID.value
        value = None
    note = f"changed by the publisher: {problem}"
    error = f"{reading.error}; {note}" if reading.error else note
    return Repaired(reading.quantity, value, reading.unit, quality, reading.ts, error), problem


# -- gateway and meter documents --------------------------------------------------------------------

def status_doc(site: str, gateway: str, *, state: str, ts: float, started: float,
               version: str | None = None) -> Doc:
    return {
        "schema": SCHEMA_IDS["status"],
        "site": _id(site, "site id"),
        "gateway": _id(gateway, "gateway id"),
        "state": _state(state),
        "ts": _epoch(ts, "ts"),
        "version": version if version is not None else software_version(),
        "started": _epoch(started, "started"),
    }


def availability_doc(meter: str, state: str, ts: float, reason: str | None = None) -> Doc:
    doc: Doc = {"schema": SCHEMA_IDS["availability"], "meter": _id(meter, "meter id"),
                "state": _state(state), "ts": _epoch(ts, "ts")}
    if reason:
        doc["reason"] = reason
    return doc


def meta_doc(meter: str, *, profile: str, variant: str, manufacturer: str, model: str, kind: str,
             unit_id: int, bus: str, building: str, quantities: Mapping[str, tuple[str, str]],
             subitem: str | None = None) -> Doc:
    """What a meter is; `quantities` maps each quantity it publishes to (unit, kind)."""
    for quantity, (_, qkind) in quantities.items():
        if qkind not in QUANTITY_KINDS:
            raise PayloadError(f"{quantity}: kind {qkind!r} is not one of {', '.join(QUANTITY_KINDS)}")
    doc: Doc = {
        "schema": SCHEMA_IDS["meta"],
        "meter": _id(meter, "meter id"),
        "profile": profile,
        "variant": variant,
        "manufacturer": manufacturer,
        "model": model,
        "kind": kind,
        "unit_id": unit_id,
        "bus": bus,
        "building": building,
    }
    if subitem:
        doc["subitem"] = subitem
    doc["quantities"] = {q: {"unit": unit, "kind": qkind} for q, (unit, qkind) in quantities.items()}
    return doc


def meta_from_variant(meter: str, variant: AnyVariant, *, unit_id: int, bus: str, building: str,
                      subitem: str | None = None, quantities: Iterable[str] | None = None) -> Doc:
    """meta_doc for a meter read through a profile variant (all its points, or `quantities`)."""
    wanted = None if quantities is None else set(quantities)
    points = [p for p in variant.points if wanted is None or p.quantity in wanted]
    return meta_doc(meter, profile=variant.profile_id, variant=variant.name,
                    manufacturer=variant.manufacturer, model=variant.model, kind=variant.kind,
                    unit_id=unit_id, bus=bus, building=building, subitem=subitem,
                    quantities={p.quantity: (p.unit, p.kind.value) for p in points})


def health_doc(site: str, gateway: str, *, ts: float, uptime_s: float, outbox: Mapping[str, Any],
               buses: Mapping[str, Any], devices: Mapping[str, Any], mqtt: Mapping[str, Any]) -> Doc:
    """The periodic health document; the inner objects are open (their fields are documented)."""
    return {
        "schema": SCHEMA_IDS["health"],
        "site": _id(site, "site id"),
        "gateway": _id(gateway, "gateway id"),
        "ts": _epoch(ts, "ts"),
        "uptime_s": float(uptime_s),
        "outbox": dict(outbox),
        "buses": dict(buses),
        "devices": dict(devices),
        "mqtt": dict(mqtt),
    }
