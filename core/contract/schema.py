"""The contract's JSON Schemas (draft 2020-12): load them and check messages against them.

Used by the tests on every message the publisher sends, and by ingest on every message it
receives: `check_message(topic, payload)` parses the topic, refuses oversized payloads, invalid
UTF-8, duplicate keys, NaN and infinities (which Python's json would otherwise accept), validates
the document against the schema its topic calls for, and checks that the ids in the payload match
the topic and that `time` is the same instant as `ts`.

The central services' documents and the gateway's Home Assistant discovery configs are not in the
gateway's topic tree, so `check_message` does not know their topics; their schemas are loaded by name
(SERVICE_SCHEMAS): `service_validator(name)`, `service_problems(doc, name)` and
`check_service(doc, name)` (docs/mqtt.md, "The central services' documents" and "Home Assistant
discovery").
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # jsonschema is imported on first use: the gateway validates rarely (meta)
    from jsonschema import Draft202012Validator

from core.contract.topics import DEFAULT_PREFIX, KINDS, Kind, ParsedTopic, TopicError, parse
from core.reading import NULL_QUALITIES, VALUE_QUALITIES

MAX_PAYLOAD_BYTES = 256 * 1024  # a poll of 100 quantities with long error texts stays far below
TIME_TOLERANCE_S = 0.001  # `time` is `ts` to the millisecond
# How every `pattern` in schemas/*.json ends. JSON Schema patterns are ECMA-262, where `$` (no
# multiline flag) is the end of the string; jsonschema evaluates them with Python's re.search,
# where `$` also matches just before a final "\n", so "power_active\n" fitted ^[a-z][a-z0-9_]*$.
# `$(?!\n)` is the end of the string in both dialects (ECMA's `\Z` is a literal "Z", so not that).
PATTERN_END = "$(?!\\n)"

# the documents of the central services (ingest, analytics), and the gateway's optional Home
# Assistant discovery configs, which are not in its topic tree: schemas/{name}.json
ServiceSchema = Literal["dead-letter", "ingest-health", "alert", "alert-ack", "analytics-health",
                        "report", "ha-discovery"]
SERVICE_SCHEMAS: tuple[ServiceSchema, ...] = ("dead-letter", "ingest-health", "alert", "alert-ack",
                                              "analytics-health", "report", "ha-discovery")


class ContractError(ValueError):
    """A message that breaks the contract; `reason` says how, naming the field (at most
    REASON_CHARS characters: jsonschema quotes the offending value whole, and a reason goes into a
    dead letter and the log)."""

    def __init__(self, reason: str) -> None:
        if len(reason) > REASON_CHARS:
            reason = f"{reason[:REASON_CHARS - 40]}… ({len(reason)} characters in all)"
        self.reason = reason
        super().__init__(reason)


REASON_CHARS = 500


@cache
def schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema of one message type."""
    if kind not in KINDS:
        raise ValueError(f"{kind!r} is not a message type; use one of {', '.join(KINDS)}")
    return _load(kind)


@cache
def validator(kind: Kind) -> Draft202012Validator:
    return _checked_validator(schema(kind))


def _load(name: str) -> dict[str, Any]:
    text = resources.files("core.contract").joinpath("schemas", f"{name}.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _checked_validator(s: dict[str, Any]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # lazily: the gateway's hot path never needs it

    Draft202012Validator.check_schema(s)
    return Draft202012Validator(s)


@cache
def service_schema(name: ServiceSchema) -> dict[str, Any]:
    """The JSON Schema of one of the central services' documents."""
    if name not in SERVICE_SCHEMAS:
        raise ValueError(f"{name!r} is not a service document; use one of {', '.join(SERVICE_SCHEMAS)}")
    return _load(name)


@cache
def service_validator(name: ServiceSchema) -> Draft202012Validator:
    return _checked_validator(service_schema(name))


def service_problems(doc: Any, name: ServiceSchema) -> list[str]:
    """Every way `doc` breaks the schema of the service document `name`; [] when it fits."""
    found = [f"{_where(e.absolute_path)}: {e.message}" for e in service_validator(name).iter_errors(doc)]
    found += [f"{where}: {value!r} is not a finite number" for where, value in _non_finite(doc, "$")]
    return found


def check_service(doc: Any, name: ServiceSchema) -> None:
    """ContractError with the most relevant violation, if `doc` does not fit schemas/`name`.json."""
    from jsonschema.exceptions import best_match

    error = best_match(service_validator(name).iter_errors(doc))
    if error is not None:
        raise ContractError(f"{name}: {_where(error.absolute_path)}: {error.message}")
    for where, value in _non_finite(doc, "$"):
        raise ContractError(f"{name}: {where}: {value!r} is not a finite number")


def _no_constant(name: str) -> None:
    raise ContractError(f"{name} is not a JSON number (JSON has no NaN or infinity)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise ContractError(f"key {key!r} appears twice in one object")
        doc[key] = value
    return doc


def parse_json(payload: bytes | str) -> Any:
    """The JSON document in `payload`; ContractError for anything that is not strict JSON."""
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
    except UnicodeDecodeError as exc:
        raise ContractError(f"the payload is not UTF-8: {exc}") from None
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ContractError(f"the payload is not JSON: {exc}") from None
    except RecursionError:
        raise ContractError("the payload nests too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits (Python's int/str limit)
        raise ContractError(f"the payload is not JSON this reader takes: {exc}") from None


def problems(doc: Any, kind: Kind) -> list[str]:
    """Every way `doc` breaks the schema of `kind`, each naming the field; [] when it fits."""
    found = [f"{_where(e.absolute_path)}: {e.message}" for e in validator(kind).iter_errors(doc)]
    found += [f"{where}: {value!r} is not a finite number" for where, value in _non_finite(doc, "$")]
    return found


def validate(doc: Any, kind: Kind) -> None:
    """ContractError with the most relevant schema violation, if `doc` does not fit `kind`."""
    if kind == "readings" and fits_readings(doc):
        return  # the fast path; anything it does not vouch for goes through jsonschema
    from jsonschema.exceptions import best_match

    if kind == "readings" and _many_readings(doc):
        reason = _first_reading_error(doc)
        if reason is not None:
            raise ContractError(f"{kind}: {reason}")
    else:
        error = best_match(validator(kind).iter_errors(doc))
        if error is not None:
            raise ContractError(f"{kind}: {_where(error.absolute_path)}: {error.message}")
    for where, value in _non_finite(doc, "$"):
        raise ContractError(f"{kind}: {where}: {value!r} is not a finite number")


@dataclass(frozen=True, slots=True)
class CheckedMessage:
    topic: ParsedTopic
    doc: dict[str, Any]


def check_message(topic: str, payload: bytes | str, *, prefix: str = DEFAULT_PREFIX,
                  max_bytes: int = MAX_PAYLOAD_BYTES) -> CheckedMessage:
    """The parsed, validated message; ContractError with the reason if it breaks the contract."""
    try:
        parsed = parse(topic, prefix)
    except TopicError as exc:
        raise ContractError(str(exc)) from None
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > max_bytes:
        raise ContractError(f"payload of {size} bytes is larger than the limit of {max_bytes}")
    doc = parse_json(payload)
    validate(doc, parsed.kind)
    for key in ("site", "gateway", "meter"):
        expected = getattr(parsed, key)
        if key in doc and expected is not None and doc[key] != expected:
            raise ContractError(f"{parsed.kind}: {key} {doc[key]!r} in the payload does not match "
                                f"{expected!r} in the topic")
    if parsed.kind == "readings":
        _check_time(doc["time"], doc["ts"])
    return CheckedMessage(parsed, doc)


def _check_time(time: str, ts: float) -> None:
    """ContractError unless `time` (fits the schema's pattern) is a real date and time, the instant `ts`."""
    try:
        at = datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError as exc:  # the pattern lets "2026-13-45T25:61:61Z" through
        raise ContractError(f"readings: time {time!r} is not a date and time: {exc}") from None
    try:
        apart = abs(at.timestamp() - ts)
    except (OverflowError, ValueError):  # ts an integer beyond a float, a time beyond the calendar
        apart = math.inf
    if at.tzinfo is None or not apart <= TIME_TOLERANCE_S:
        raise ContractError(f"readings: time {time!r} is not the instant ts {ts!r}")


# -- a fast path for the hot message type ---------------------------------------------------------
# jsonschema takes about a millisecond for a poll of 20 readings; ingest sees thousands a second.
# fits_readings() is a direct check of schemas/readings.json that may only err on the side of
# "not sure": when it says True the document fits the schema (a property test holds it to that);
# when it says False, validate() asks jsonschema, which decides and words the reason.

_READINGS_KEYS = frozenset(("schema", "site", "gateway", "meter", "seq", "ts", "time", "readings"))
_ITEM_REQUIRED = frozenset(("quantity", "value", "unit", "quality"))
_ITEM_KEYS = _ITEM_REQUIRED | {"ts", "error"}
_NULL_QUALITIES = NULL_QUALITIES  # the one rule: core.reading
_VALUE_QUALITIES = VALUE_QUALITIES
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_QUANTITY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
                   r"([+-][0-9]{2}:[0-9]{2}|Z)")
_SEQ_MAX = 2**63 - 1


def _number(x: Any) -> bool:
    return (type(x) is float and math.isfinite(x)) or type(x) is int


def fits_readings(doc: Any) -> bool:
    """True only if `doc` fits metergate.readings/1 (False: not sure, ask jsonschema)."""
    if type(doc) is not dict or doc.keys() != _READINGS_KEYS:
        return False
    seq, ts, items = doc["seq"], doc["ts"], doc["readings"]
    if not (doc["schema"] == "metergate.readings/1" and type(seq) is int and 1 <= seq <= _SEQ_MAX
            and _number(ts) and ts > 0 and type(doc["time"]) is str and _TIME.fullmatch(doc["time"])
            and type(items) is list and items):
        return False
    for key in ("site", "gateway", "meter"):
        value = doc[key]
        if type(value) is not str or not _ID.fullmatch(value):
            return False
    return all(map(_fits_reading, items))


def _fits_reading(item: Any) -> bool:
    """True only if `item` fits the schema's reading (False: not sure)."""
    if type(item) is not dict or not _ITEM_REQUIRED <= item.keys() <= _ITEM_KEYS:
        return False
    quantity, unit, quality, value = item["quantity"], item["unit"], item["quality"], item["value"]
    if type(quantity) is not str or not _QUANTITY.fullmatch(quantity):
        return False
    if type(unit) is not str or len(unit) > 16:
        return False
    if type(quality) is not str:
        return False
    if quality in _NULL_QUALITIES:
        if value is not None:
            return False
    elif quality not in _VALUE_QUALITIES or not _number(value):
        return False
    if "ts" in item and not (_number(item["ts"]) and item["ts"] > 0):
        return False
    return "error" not in item or (type(item["error"]) is str and bool(item["error"]))


# jsonschema spends ~150 µs per reading (a $ref each) and collects every error before best_match
# picks one: a 256 KiB payload of 60,000 empty readings took 10 s, during which ingest (which
# checks messages one at a time) acknowledged nothing. A long `readings` list is therefore checked
# in slices: the envelope with the readings the fast path is unsure of, _SLICE at a time.
_SLICE = 64


def _many_readings(doc: Any) -> bool:
    return type(doc) is dict and type(doc.get("readings")) is list and len(doc["readings"]) > _SLICE


def _first_reading_error(doc: dict[str, Any]) -> str | None:
    """The schema violation of a readings document with a long `readings` list ("$.where: why"), or
    None if it fits: the first one among the readings the fast path is unsure of, in order, named by
    its own index in the message."""
    from jsonschema.exceptions import best_match

    items = doc["readings"]
    unsure = [i for i, item in enumerate(items) if not _fits_reading(item)] or [0]
    for start in range(0, len(unsure), _SLICE):
        chosen = unsure[start:start + _SLICE]
        errors = list(validator("readings").iter_errors({**doc, "readings": [items[i] for i in chosen]}))
        if not errors:
            continue
        by_reading: dict[int, list[Any]] = {}
        envelope = []
        for error in errors:
            path = list(error.absolute_path)
            if len(path) > 1 and path[0] == "readings" and isinstance(path[1], int):
                by_reading.setdefault(path[1], []).append(error)
            else:
                envelope.append(error)
        if envelope:
            error = best_match(envelope)
            return f"{_where(error.absolute_path)}: {error.message}"
        first = min(by_reading)
        error = best_match(by_reading[first])
        path = list(error.absolute_path)
        path[1] = chosen[first]  # its index in the message, not in the slice
        return f"{_where(path)}: {error.message}"
    return None


def _where(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _non_finite(doc: Any, where: str) -> list[tuple[str, float]]:
    """NaN and infinities in a document built in Python (a parsed payload cannot hold them)."""
    if isinstance(doc, float):
        return [] if math.isfinite(doc) else [(where, doc)]
    if isinstance(doc, dict):
        return [hit for k, v in doc.items() for hit in _non_finite(v, f"{where}.{k}")]
    if isinstance(doc, list):
        return [hit for i, v in enumerate(doc) for hit in _non_finite(v, f"{where}[{i}]")]
    return []
