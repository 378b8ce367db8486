"""Structured fuzzing of ingest's input: hypothesis strategies that take a valid readings message and
break it field by field (types, lone surrogates, NaN/Infinity, huge numbers, trailing newlines, empty
strings, other scripts, missing and extra fields, topic ids that differ or cannot be ids) or send raw
bytes; and an oracle that says, from the payload alone, which points ingest may write for a message.

Used by test_ingest_fuzz.py (the validator and the dead-letter encoder directly, many examples) and by
the end-to-end fuzz (one corpus through a real mosquitto, ingest and VictoriaMetrics).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from hypothesis import strategies as st

from tests.support.ingest import readings_doc, topic_for

SITE, GATEWAY = "fz-site", "fz-gw"
NOW = time.time()
# the documented layout (docs/influx.md): measurement = quantity, fields value and quality (a code)
QUALITY_CODE = {"ok": 0, "out_of_range": 1, "stale": 2, "invalid": 3, "comm_error": 4}
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
QUANTITY = re.compile(r"[a-z][a-z0-9_]{0,63}")

SURROGATES = ("\ud800", "\udfff", "a\udc80b")
# strings that are wrong in some way for nearly every field
NASTY_TEXT = ("", " ", "\n", "\r\n", "\t", "\x00", "\x7f", "é", "能耗", "ｐｏｗｅｒ", "\u202e", "\ufeff",
              "x" * 65, "a b", "a,b", "a=b", 'a"b', "a\\b", "null", "NaN", *SURROGATES)
QUANTITIES = ("power_active", "energy_active_import", "voltage_l1", "water_volume", "power_factor")

any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
                   max_size=20)
numbers = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 2**63, 2**64, 10**30, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 5e-324, 1e400]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.sampled_from(NASTY_TEXT), any_text)
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.sampled_from(["a", "value", "quantity"]), scalars, max_size=2))


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    what: str  # how it was made (shown when an assertion fails)


def _base(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 10**6))
    meter = f"m{n}"
    quantities = draw(st.lists(st.sampled_from(QUANTITIES), min_size=1, max_size=3, unique=True))
    vals: dict[str, float | None] = {}
    for q in quantities:
        vals[q] = draw(st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False).map(
            lambda x: round(x, 3))))
    ts = round(NOW - 86_400 + n / 1000, 3)
    return readings_doc(meter, seq=n + 1, ts=ts, values=vals, site=SITE, gateway=GATEWAY)


def _mutate(draw: st.DrawFn, doc: dict[str, Any]) -> str:
    """Change `doc` in place in one way; say how."""
    action = draw(st.sampled_from(["top_set", "top_newline", "top_drop", "top_extra", "item_set",
                                   "item_newline", "item_drop", "item_extra", "readings", "ts_range",
                                   "item_ts", "item_huge", "oversize", "none"]))
    items = doc.get("readings")
    dicts = [x for x in items if isinstance(x, dict)] if isinstance(items, list) else []
    item: dict[str, Any] = draw(st.sampled_from(dicts)) if dicts else {}  # after a first mutation
    top = st.sampled_from(sorted(doc) or ["schema"])
    keys = st.sampled_from(["quantity", "value", "unit", "quality", "ts", "error"])
    if action == "top_set":
        key = draw(top)
        doc[key] = draw(values)
        return f"{key} = {doc[key]!r}"
    if action == "top_newline":
        key = draw(st.sampled_from(["schema", "site", "gateway", "meter", "time"]))
        doc[key] = str(doc.get(key)) + draw(st.sampled_from(["\n", "\r", "\r\n", " "]))
        return f"{key} ends in whitespace"
    if action == "top_drop":
        key = draw(top)
        doc.pop(key, None)
        return f"no {key}"
    if action == "top_extra":
        key = draw(st.sampled_from(["extra", "", "\ud800", "Seq", "readings\n"]))
        doc[key] = draw(values)
        return f"extra key {key!r}"
    if action == "item_set":
        key = draw(keys)
        item[key] = draw(values)
        return f"reading {key} = {item[key]!r}"
    if action == "item_newline":
        key = draw(st.sampled_from(["quantity", "unit", "quality", "error"]))
        item[key] = str(item.get(key, "x")) + "\n"
        return f"reading {key} ends in a newline"
    if action == "item_drop":
        key = draw(keys)
        item.pop(key, None)
        return f"reading without {key}"
    if action == "item_extra":
        key = draw(st.sampled_from(["extra", "Value", "\ud800", "quantity\n"]))
        item[key] = draw(values)
        return f"reading with extra key {key!r}"
    if action == "readings":
        doc["readings"] = draw(st.one_of(st.just([]), st.lists(values, max_size=3),
                                         st.just(dicts * 3), values))
        return "readings replaced"
    if action == "ts_range":
        ts = draw(st.sampled_from([NOW + 3600 * 24, 946684799.0, 1.0, NOW + 10**9]))
        doc["ts"] = ts
        return f"ts {ts}"
    if action == "item_ts":  # a reading refused for its time, its other fields made odd too
        item["ts"] = NOW + 86_400 * draw(st.integers(1, 3650))
        item["unit"] = draw(st.sampled_from(NASTY_TEXT))
        return f"reading ts in the future, unit {item['unit']!r}"
    if action == "item_huge":  # beyond a float: that reading is refused, the others written
        item["value"] = draw(st.sampled_from([10**400, -(10**309), 2**1024]))
        return "reading value beyond a float"
    if action == "oversize":
        doc["pad"] = "x" * (257 * 1024)
        return "larger than the payload limit"
    return "unchanged"


def _encode(draw: st.DrawFn, doc: dict[str, Any]) -> bytes:
    ascii_only = draw(st.booleans())
    text = json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True)  # NaN/Infinity tokens on purpose
    return text.encode("utf-8", "surrogatepass")  # a raw lone surrogate: invalid UTF-8


def _topic(draw: st.DrawFn, doc: dict[str, Any]) -> tuple[str, str]:
    meter = doc.get("meter") if isinstance(doc.get("meter"), str) else "m0"
    site, gateway = SITE, GATEWAY
    change = draw(st.sampled_from(["same"] * 6 + ["site", "gateway", "meter"]))
    # levels the broker takes in a PUBLISH topic: no wildcards, no '/', no control characters
    other = draw(st.one_of(st.sampled_from(["other", "", "é", "x" * 65, "a b", "m0", "FZ-SITE"]),
                           st.text(st.characters(min_codepoint=0x20, max_codepoint=0xD7FF,
                                                 exclude_characters="+#/\x7f"), max_size=8)))
    if change == "site":
        site = other
    elif change == "gateway":
        gateway = other
    elif change == "meter":
        meter = other
    site, gateway, meter = (x if _publishable(x) else "unpublishable" for x in (site, gateway, meter))
    how = "" if change == "same" else f"topic {change} {other!r}"
    return topic_for(meter, site=site, gateway=gateway), how


def _publishable(level: str) -> bool:
    """A topic level mosquitto takes in a PUBLISH (it disconnects a client that sends another):
    no wildcards or '/', no control characters, surrogates or non-characters (mosquitto's UTF-8 check)."""
    def bad(c: str) -> bool:
        n = ord(c)
        return (c in "+#/" or n < 0x20 or 0x7F <= n <= 0x9F or 0xD800 <= n <= 0xDFFF
                or 0xFDD0 <= n <= 0xFDEF or n & 0xFFFE == 0xFFFE)
    return not any(bad(c) for c in level)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """A readings message: valid, broken in one or two fields, or raw bytes."""
    kind = draw(st.sampled_from(["valid", "mutated", "mutated", "mutated", "twice", "raw", "truncated"]))
    doc = _base(draw)
    topic = topic_for(doc["meter"], site=SITE, gateway=GATEWAY)
    if kind == "raw":
        payload = draw(st.one_of(st.binary(max_size=64), st.sampled_from(
            [b"", b"{}", b"[]", b"null", b"\xed\xa0\x80", b"\xff", b'{"schema": "\xed\xa0\x80"}',
             b"1" * 5000, b'{"a": ' + b"1" * 5000 + b"}", b"[" * 5000])))
        return Message(topic, payload, "raw bytes")
    what = []
    if kind in ("mutated", "twice"):
        what.append(_mutate(draw, doc))
    if kind == "twice":
        what.append(_mutate(draw, doc))
    topic, how = _topic(draw, doc) if kind != "valid" else (topic, "")
    payload = _encode(draw, doc)
    if kind == "truncated":
        payload = payload[: draw(st.integers(0, max(0, len(payload) - 1)))]
        what.append("truncated")
    return Message(topic, payload, "; ".join(w for w in [*what, how] if w) or "valid")


# -- the oracle ------------------------------------------------------------------------------------

Key = tuple[str, tuple[tuple[str, str], ...], int]  # (metric name, labels, ms): Victoria.samples()


def ts_ms(ts: float) -> int:
    """Epoch seconds as written in the payload -> milliseconds, as VictoriaMetrics keeps them."""
    return int((Decimal(repr(ts)) * 1000).to_integral_value(ROUND_FLOOR))


def points(payload: bytes, skip: frozenset[int] = frozenset()) -> dict[Key, float] | None:
    """The samples a message must leave in VictoriaMetrics if ingest takes it (readings at indexes
    `skip` refused), per the documented layout; None if the payload cannot be a readings document
    at all (then ingest must have dead-lettered it)."""
    try:
        doc = json.loads(payload)
        labels = (("gateway", doc["gateway"]), ("meter", doc["meter"]), ("site", doc["site"]))
        out: dict[Key, float] = {}
        for i, item in enumerate(doc["readings"]):
            if i in skip:
                continue
            ms = ts_ms(item.get("ts", doc["ts"]))
            q = item["quantity"]
            out[(f"{q}_quality", labels, ms)] = float(QUALITY_CODE[item["quality"]])
            if item["value"] is not None:
                out[(f"{q}_value", labels, ms)] = float(item["value"])
        return out
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError):
        return None


def same_value(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or a == b
