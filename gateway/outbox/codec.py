"""Compact binary encoding of one poll's readings, the body of an outbox row.

The outbox must hold 30 days of polls, so a row carries only what changes from poll to poll. The
meter and the ordered (quantity, unit) pairs of its readings form a *layout*, stored once in its own
table; a row names its layout and its request time (a float, exact), and its body holds per reading:

    flags   1 byte: bits 0-2 quality, bits 3-5 value kind, bit 6 own timestamp, bit 7 error
    value   by kind: nothing (None); a zigzag varint m for an integer or m x 10^-k (k = 1..6);
            4 bytes for a float32, or a float32 times a scale (one more byte names the scale);
            8 bytes for anything else -- whichever gives the float back bit for bit
    ts      zigzag varint microseconds from the previous reading's time (the first: the row's), only
            when it differs -- the readings of one Modbus request share a time
    error   varint index into the row's error table, only when the reading has an error

The body starts with the error table (a count, then length-prefixed UTF-8 strings), so a dead meter's
20 identical "timeout" errors cost one string. Values are never rounded: every kind is chosen only if
decoding gives back the same float bit for bit, so None stays None and 0.0 stays 0.0.
This is an on-disk format: codes and bit positions never change meaning (FORMAT_VERSION guards it).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import NamedTuple

from core.reading import Quality, ReadingLike

FORMAT_VERSION = 1

# Quality codes on disk; append new qualities at the end, never reorder (3 bits: up to 8).
QUALITIES: tuple[Quality, ...] = (Quality.OK, Quality.INVALID, Quality.OUT_OF_RANGE,
                                  Quality.COMM_ERROR, Quality.STALE)
_QUALITY_CODE: dict[str, int] = {q: i for i, q in enumerate(QUALITIES)}

# Value kinds (bits 3-5). Registers are mostly integers times a power of ten (-> a short varint) or
# float32, sometimes float32 times a scale (DTSU666: float32 in 0.1 V); only the rest takes 8 bytes.
_K_NONE, _K_INT, _K_F32, _K_F64 = 0, 1, 2, 3
_K_DEC = 4  # 4, 5, 6: varint m, value = m * 0.1, 0.01, 0.001 (SCALES[0..2]), as the codec scales
_K_EXT = 7  # one more byte: (sub-kind << 4) | index into SCALES
_SUB_DEC, _SUB_F32 = 0, 1  # m * SCALES[i] with a varint m; float32 * SCALES[i]
SCALES = (0.1, 0.01, 0.001, 0.0001, 0.00001, 0.000001, 10.0, 100.0, 1000.0)
_DECIMALS = 6  # SCALES[:6] are the decimal ones
_POWERS = (10.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0)  # exact inverses of SCALES[:6]
_HAS_TS = 0x40
_HAS_ERROR = 0x80
_MAX_EXACT_INT = 2**53
_SMALL_VARINT = 2**28  # a decimal mantissa beyond this costs as much as a float32 or more
_F32_MAX = 3.4e38
_FLOAT32 = struct.Struct("<f")
_FLOAT64 = struct.Struct("<d")




class StoredReading(NamedTuple):
    """A reading as the outbox gives it back: (quantity, value|None, unit, quality, ts, error)."""

    quantity: str
    value: float | None
    unit: str
    quality: Quality
    ts: float
    error: str  # "" when there is none, as in drivers.reader.Reading


Keys = tuple[tuple[str, str], ...]  # the (quantity, unit) pairs of a layout, in reading order


def layout_keys(readings: Sequence[ReadingLike]) -> Keys:
    return tuple((r.quantity, r.unit) for r in readings)


def encode(readings: Sequence[ReadingLike], ts: float, hints: list[int] | None = None) -> bytes:
    """The body for readings taken in a poll whose request time is `ts`.

    `hints` (one list per meter, kept by the caller between polls) remembers, per reading
    position, the scaled kind its last value needed, and tries that first next time: a meter's
    value at one position is scaled the same way poll after poll, and the full search for a scaled
    kind is most of the encoding's cost. The hint is checked like any kind (bit for bit); a value
    that is both a short decimal and a scaled float32 may then be stored as the latter, which
    costs up to three bytes more but decodes to the same float."""
    errors: dict[str, int] = {}
    out = bytearray()
    last, last_decoded = ts, ts  # readings of one request share its time: store only the changes
    if hints is not None and len(hints) < len(readings):
        hints.extend([-1] * (len(readings) - len(hints)))
    for n, r in enumerate(readings):
        flags = _QUALITY_CODE.get(r.quality)  # a StrEnum: "ok" finds Quality.OK too
        if flags is None:
            raise ValueError(f"{r.quantity}: unknown quality {r.quality!r}")
        if hints is None:
            kind, payload = _encode_value(r.value)
        else:
            kind, payload = _encode_hinted(r.value, hints, n)
        flags |= kind << 3
        rts = r.ts
        delta = 0
        if rts != last:
            flags |= _HAS_TS
            delta = round((rts - last_decoded) * 1e6)  # from what the decoder has, so no drift
            last, last_decoded = rts, last_decoded + delta / 1e6
        error = r.error
        if error:
            flags |= _HAS_ERROR
        out.append(flags)
        out += payload
        if flags & _HAS_TS:
            _put_varint(out, _zigzag(delta))
        if error:
            _put_varint(out, errors.setdefault(error, len(errors)))
    head = bytearray()
    _put_varint(head, len(errors))
    for text in errors:  # dicts keep insertion order, which is the index order
        raw = text.encode()
        _put_varint(head, len(raw))
        head += raw
    return bytes(head + out)


def decode(body: bytes, keys: Keys, ts: float) -> tuple[StoredReading, ...]:
    """The readings of a body written by encode() for a layout with `keys`."""
    pos = 0
    count, pos = _get_varint(body, pos)
    errors: list[str] = []
    for _ in range(count):
        size, pos = _get_varint(body, pos)
        errors.append(body[pos:pos + size].decode())
        pos += size
    readings = []
    rts = ts
    for quantity, unit in keys:
        flags = body[pos]
        pos += 1
        value, pos = _decode_value(body, pos, (flags >> 3) & 0x07)
        if flags & _HAS_TS:
            delta, pos = _get_varint(body, pos)
            rts = rts + _unzigzag(delta) / 1e6
        error = ""
        if flags & _HAS_ERROR:
            index, pos = _get_varint(body, pos)
            error = errors[index]
        readings.append(StoredReading(quantity, value, unit, QUALITIES[flags & 0x07], rts, error))
    if pos != len(body):
        raise ValueError(f"outbox body has {len(body) - pos} stray bytes for a layout of {len(keys)}")
    return tuple(readings)


def _encode_value(value: float | None) -> tuple[int, bytes]:
    """The first kind, cheapest first, that gives `value` back bit for bit."""
    if value is None:
        return _K_NONE, b""
    v = float(value)
    if not math.isfinite(v) or (v == 0.0 and math.copysign(1.0, v) < 0):
        return _K_F64, _FLOAT64.pack(v)  # NaN payloads, infinities and -0.0 need the raw bits
    if v.is_integer() and abs(v) < _MAX_EXACT_INT:
        return _K_INT, _varint(_zigzag(int(v)))
    small = abs(v) <= _F32_MAX
    if small:
        packed = _FLOAT32.pack(v)
        if _FLOAT32.unpack(packed)[0] == v:
            return _K_F32, packed  # most meters send float32: try it first
    for i in range(_DECIMALS if abs(v) < _SMALL_VARINT else 0):
        m = round(v * _POWERS[i])
        if abs(m) >= _SMALL_VARINT:
            break  # more places only make m longer
        if m * SCALES[i] == v:
            if i < 3:
                return _K_DEC + i, _varint(_zigzag(m))
            return _K_EXT, bytes([_SUB_DEC << 4 | i]) + _varint(_zigzag(m))
    for i, scale in enumerate(SCALES if small else ()):
        scaled = _scaled_f32(v, scale)
        if scaled is not None:
            return _K_EXT, bytes([_SUB_F32 << 4 | i]) + scaled
    return _K_F64, _FLOAT64.pack(v)


def _encode_hinted(value: float | None, hints: list[int], n: int) -> tuple[int, bytes]:
    """_encode_value, trying the scaled kind in hints[n] right after the cheap kinds."""
    hint = hints[n]
    if hint >= 0 and value is not None:
        v = float(value)
        if math.isfinite(v) and v != 0.0 and not v.is_integer() and abs(v) <= _F32_MAX:
            packed = _FLOAT32.pack(v)
            if _FLOAT32.unpack(packed)[0] == v:
                return _K_F32, packed
            i = hint & 0x0F
            if hint >> 4 == _SUB_F32:
                scaled = _scaled_f32(v, SCALES[i])
                if scaled is not None:
                    return _K_EXT, bytes((hint,)) + scaled
            elif abs(v) < _SMALL_VARINT:
                m = round(v * _POWERS[i])
                if abs(m) < _SMALL_VARINT and m * SCALES[i] == v:
                    if i < 3:
                        return _K_DEC + i, _varint(_zigzag(m))
                    return _K_EXT, bytes((hint,)) + _varint(_zigzag(m))
    kind, payload = _encode_value(value)
    if kind == _K_EXT:
        hints[n] = payload[0]
    elif _K_DEC <= kind < _K_EXT:
        hints[n] = _SUB_DEC << 4 | (kind - _K_DEC)
    return kind, payload


def _scaled_f32(v: float, scale: float) -> bytes | None:
    """float32 bytes f with f * scale == v exactly, if there is such an f."""
    x = v / scale
    if abs(x) > _F32_MAX:
        return None
    packed = _FLOAT32.pack(x)
    return packed if _FLOAT32.unpack(packed)[0] * scale == v else None


def _decode_value(body: bytes, pos: int, kind: int) -> tuple[float | None, int]:
    if kind == _K_NONE:
        return None, pos
    if kind == _K_F32:
        return _FLOAT32.unpack_from(body, pos)[0], pos + 4
    if kind == _K_F64:
        return _FLOAT64.unpack_from(body, pos)[0], pos + 8
    scale = 1.0
    if kind == _K_EXT:
        ext = body[pos]
        pos += 1
        scale = SCALES[ext & 0x0F]
        if ext >> 4 == _SUB_F32:
            return _FLOAT32.unpack_from(body, pos)[0] * scale, pos + 4
    elif kind != _K_INT:
        scale = SCALES[kind - _K_DEC]
    raw, pos = _get_varint(body, pos)
    m = _unzigzag(raw)
    return (float(m) if kind == _K_INT else m * scale), pos


def _zigzag(n: int) -> int:
    return (n << 1) if n >= 0 else ((-n << 1) - 1)


def _unzigzag(n: int) -> int:
    return (n >> 1) if not n & 1 else -((n + 1) >> 1)


def _varint(n: int) -> bytes:
    out = bytearray()
    _put_varint(out, n)
    return bytes(out)


def _put_varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _get_varint(body: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = body[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
