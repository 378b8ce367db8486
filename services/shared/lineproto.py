"""InfluxDB line protocol: `line()` for any point, `reading_lines()` for a readings message.

    measurement,tag1=v1,tag2=v2 field1=1.5,field2=3i 1710208800125000000

Escaping (the rules of the line protocol reference): in a measurement `,` and space; in tag keys,
tag values and field keys `,`, `=` and space; a backslash is doubled. Newlines cannot be escaped and
are refused, as are empty tag values (the server would refuse the line), non-finite floats and
integers outside int64. String fields are not offered: they are not portable across servers
(VictoriaMetrics drops them) and nothing we write needs them.

The layout of readings (docs/influx.md): measurement = quantity; tags site, gateway, meter;
fields `value` (float, absent when the reading has none) and `quality` (integer code, QUALITY_CODES);
timestamp = the gateway's time of the reading in integer nanoseconds (`ts_ns`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

# quality -> code of the `quality` field; ok is 0 so "quality = 0" selects good values
QUALITY_CODES: dict[str, int] = {"ok": 0, "out_of_range": 1, "stale": 2, "invalid": 3, "comm_error": 4}
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_NS = 1_000_000_000

_MEASUREMENT = str.maketrans({"\\": "\\\\", ",": "\\,", " ": "\\ "})
_KEY = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\=", " ": "\\ "})


class LineError(ValueError):
    """A point that cannot be written as line protocol; the message says which part and why."""


def _check_text(text: str, what: str) -> None:
    if not isinstance(text, str) or not text:
        raise LineError(f"{what} {text!r} must be a non-empty string")
    if "\n" in text or "\r" in text:
        raise LineError(f"{what} {text!r} contains a line break, which line protocol cannot carry")


def escape_measurement(name: str) -> str:
    _check_text(name, "measurement")
    return name.translate(_MEASUREMENT)


def escape_key(text: str, what: str = "tag") -> str:
    """A tag key, tag value or field key."""
    _check_text(text, what)
    return text.translate(_KEY)


def field_value(value: float | int | bool, key: str = "field") -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if not _I64_MIN <= value <= _I64_MAX:
            raise LineError(f"field {key!r}: {value} does not fit a 64-bit integer")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineError(f"field {key!r}: {value!r} is not a finite number")
        return repr(value)
    raise LineError(f"field {key!r}: {value!r} is not a float, int or bool (string fields are not "
                    "portable across servers)")


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, float | int | bool],
         ts_ns: int) -> str:
    """One point as line protocol. Tags are sorted by key (what the servers prefer); at least one
    field is required; `ts_ns` is integer nanoseconds since the epoch (UTC)."""
    if not fields:
        raise LineError(f"measurement {measurement!r}: a point needs at least one field")
    if type(ts_ns) is not int or not _I64_MIN <= ts_ns <= _I64_MAX:
        raise LineError(f"timestamp {ts_ns!r} is not an integer number of nanoseconds in int64 range")
    head = escape_measurement(measurement)
    for key in sorted(tags):
        head += f",{escape_key(key, 'tag key')}={escape_key(tags[key], f'tag {key!r} value')}"
    body = ",".join(f"{escape_key(k, 'field key')}={field_value(v, k)}" for k, v in fields.items())
    return f"{head} {body} {ts_ns}"


def ts_to_ns(ts: float | int) -> int:
    """Epoch seconds -> integer nanoseconds, exactly as the number is written in decimal.

    `ts * 1e9` would carry binary rounding noise into the nanoseconds (1710208800.1 * 1e9 =
    1710208800100000238.4...). Instead the float's shortest decimal form (`repr`, the digits the
    gateway's JSON carried) is read as a decimal: 1710208800.1 -> 1710208800100000000,
    1795311151.4440374 -> 1795311151444037400. The same payload always gives the same integer, so a
    re-delivered reading lands on the same timestamp and overwrites itself. Digits beyond the
    nanosecond (not something a float of today's epoch can hold) are rounded half to even.
    """
    if type(ts) is int:
        return ts * _NS
    text = repr(ts)
    whole, _, frac = text.partition(".")
    if "e" in text or "E" in text or len(frac) > 9:
        return int((Decimal(text) * _NS).to_integral_value())
    return int(whole + frac.ljust(9, "0"))


def reading_lines(doc: Mapping[str, Any]) -> list[str]:
    """The lines of one validated readings document (metergate.readings/1).

    Trusts what the contract guarantees (ids are topic-safe slugs, quantities are lowercase names),
    so nothing needs escaping. A reading without a value (quality invalid/comm_error) is written with
    its `quality` field only: the point records that the meter was polled and why there is no value,
    and never carries a stand-in number.
    """
    tags = f",gateway={doc['gateway']},meter={doc['meter']},site={doc['site']} "
    default_ts = ts_to_ns(doc["ts"])
    out: list[str] = []
    append = out.append
    for item in doc["readings"]:
        ts = ts_to_ns(item["ts"]) if "ts" in item else default_ts
        value = item["value"]
        code = QUALITY_CODES[item["quality"]]
        if value is None:
            append(f"{item['quantity']}{tags}quality={code}i {ts}")
        else:
            append(f"{item['quantity']}{tags}value={float(value)!r},quality={code}i {ts}")
    return out
