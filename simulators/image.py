"""A meter's register image: engineering values -> the 16-bit words a device would hold.

Every value is quantized to what its register can show, and the value the registers decode to (with
the profile's own codec, fraction part and CT/PT ratio, exactly as drivers.reader computes it) is
returned next to the words, so a simulator knows the "true" reading without decoding twice.

A value of None stands for "the device has no valid value": NaN for floats, the point's first
declared sentinel for integers, or all-ones registers (0xFFFF...) when it declares none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from core.quantities import Kind
from drivers.codec import FLOAT_TYPES, FieldCodec, Order, encode_raw, int_limits
from drivers.profiles import Point

Word = tuple[int, int]  # (value, mask): a bit-field point owns only some bits of its registers
FULL = 0xFFFF


@dataclass(frozen=True, slots=True)
class Encoded:
    """The words one point puts in the image (wire address -> (value, mask)) and what they decode to."""

    words: dict[int, Word]
    value: float | None


def served_points(points: Iterable[Point], order: Order | None = None, shift: int = 0) -> list[Point]:
    """The points as a device lays them out: every codec in `order` (if given), addresses moved by
    `shift` (a device whose registers sit one off from the profile's numbering)."""
    out = []
    for p in points:
        codec = p.codec if order is None else replace(p.codec, order=order)
        fcodec = p.fraction_codec
        if order is not None and fcodec is not None:
            fcodec = replace(fcodec, order=order)
        faddr = None if p.fraction_address is None else p.fraction_address + shift
        lowest = min(p.address + shift, p.address + shift if faddr is None else faddr)
        if lowest < 0 or p.address + shift + codec.count > 65536:
            raise ValueError(f"shift={shift} moves {p.quantity} (wire {p.address}) off the "
                             "register map (0..65535); use a shift in the other direction")
        out.append(replace(p, address=p.address + shift, codec=codec,
                           fraction_address=faddr, fraction_codec=fcodec))
    return out


def ratio_factor(point: Point, ratios: Mapping[str, float]) -> float:
    """CT/PT multiplier applied to a secondary-side point, computed as drivers.reader does."""
    k = 1.0
    if point.ratio:
        for part in point.ratio.split("*"):
            k *= ratios.get(part, 1.0)
    return k


def encode_point(point: Point, value: float | None, ratios: Mapping[str, float]) -> Encoded:
    """Words for `point` holding engineering `value` (primary side), quantized; None = invalid."""
    k = ratio_factor(point, ratios)
    floor = point.kind is Kind.COUNTER  # a counter shows 123.45 until it reaches 123.46
    if value is None or not math.isfinite(value):
        words = _invalid_words(point)
        decoded = _decode_words(point, words)  # a number only for integers without sentinels
        return Encoded(words, None if decoded is None else decoded * k)
    secondary = value / k
    if point.fraction_codec is not None and point.fraction_address is not None:
        return _encode_split(point, secondary, k)
    if point.codec.bits is not None:
        return _encode_bits(point, secondary)
    regs = _encode(point.codec, secondary, floor=floor)
    words = {point.address + i: (w, FULL) for i, w in enumerate(regs)}
    decoded = point.codec.decode(regs)
    return Encoded(words, None if decoded is None else decoded * k)


def _encode(codec: FieldCodec, value: float, *, floor: bool) -> list[int]:
    if codec.dtype in FLOAT_TYPES or not floor:
        return codec.encode(value)
    raw = (value / codec.factor - codec.offset) / codec.scale
    lo, hi = int_limits(codec.dtype)
    return encode_raw(min(max(math.floor(raw + 1e-6), lo), hi), codec.dtype, codec.order)


def _encode_split(point: Point, value: float, k: float) -> Encoded:
    """Integer-plus-fraction totaliser: the integer register holds the whole units (rounded down),
    the fraction register the rest, so integer + fraction never exceeds the true total."""
    assert point.fraction_codec is not None and point.fraction_address is not None
    codec, fcodec = point.codec, point.fraction_codec
    step = codec.scale * codec.factor
    whole = math.floor(value / step + 1e-9) * step
    regs = _encode(codec, whole, floor=True)
    main = codec.decode(regs)
    rest = max(value - (main or 0.0), 0.0)
    fregs = _encode(fcodec, rest, floor=True)
    fraction = fcodec.decode(fregs)
    words = {point.address + i: (w, FULL) for i, w in enumerate(regs)}
    words.update({point.fraction_address + i: (w, FULL) for i, w in enumerate(fregs)})
    decoded = None if main is None or fraction is None else main + fraction
    return Encoded(words, None if decoded is None else decoded * k)


def _encode_bits(point: Point, value: float) -> Encoded:
    codec = point.codec
    assert codec.bits is not None
    start, length = codec.bits
    field = round((value / codec.factor - codec.offset) / codec.scale) & ((1 << length) - 1)
    mask_raw = ((1 << length) - 1) << start
    regs = encode_raw(field << start, codec.dtype, codec.order)
    masks = encode_raw(mask_raw, codec.dtype, codec.order)
    words = {point.address + i: (w, m) for i, (w, m) in enumerate(zip(regs, masks, strict=True))}
    return Encoded(words, (field * codec.scale + codec.offset) * codec.factor)


def _invalid_words(point: Point) -> dict[int, Word]:
    words = {point.address + i: (w, FULL) for i, w in enumerate(_invalid_registers(point.codec))}
    if point.fraction_codec is not None and point.fraction_address is not None:
        fregs = _invalid_registers(point.fraction_codec)
        words.update({point.fraction_address + i: (w, FULL) for i, w in enumerate(fregs)})
    return words


def _invalid_registers(codec: FieldCodec) -> list[int]:
    if codec.dtype in FLOAT_TYPES:
        return encode_raw(math.nan, codec.dtype, codec.order)
    if codec.sentinels:
        return encode_raw(sorted(codec.sentinels)[0], codec.dtype, codec.order)
    return [FULL] * codec.count


def _decode_words(point: Point, words: Mapping[int, Word]) -> float | None:
    """What drivers.reader makes of `words` for this point (before ratios)."""
    value = point.codec.decode([words[point.address + i][0] for i in range(point.codec.count)])
    if value is not None and point.fraction_codec is not None and point.fraction_address is not None:
        fraction = point.fraction_codec.decode(
            [words[point.fraction_address + i][0] for i in range(point.fraction_codec.count)])
        value = None if fraction is None else value + fraction
    return value


def merge(image: dict[int, int], words: Mapping[int, Word]) -> None:
    """Write `words` into `image` (wire address -> register), honouring bit masks."""
    for addr, (value, mask) in words.items():
        image[addr] = (image.get(addr, 0) & ~mask & FULL) | (value & mask)

