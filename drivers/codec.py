"""Register codec: 16-bit Modbus registers <-> numbers.

Byte and word order use the common letters for the bytes of a 32-bit value, most significant first:
- ABCD: big-endian bytes, high word first (the Modbus default)
- CDAB: big-endian bytes, low word first ("word swap", common for 32-bit floats)
- BADC: bytes swapped inside each word, high word first
- DCBA: fully little-endian
For 64-bit types the same two switches apply (swap words = reverse the word order, swap bytes = swap
inside each word). For 16-bit types only the byte swap matters: CDAB == ABCD and DCBA == BADC.

Decoding never invents a value: NaN, infinities and declared sentinels come back as None with
quality "invalid".
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"


class Order(StrEnum):
    ABCD = "ABCD"
    CDAB = "CDAB"
    BADC = "BADC"
    DCBA = "DCBA"

    @property
    def swap_words(self) -> bool:
        return self in (Order.CDAB, Order.DCBA)

    @property
    def swap_bytes(self) -> bool:
        return self in (Order.BADC, Order.DCBA)


# Names other tools use for the same orders, normalised in one place.
ORDER_ALIASES: dict[str, Order] = {
    "abcd": Order.ABCD, "big": Order.ABCD, "be": Order.ABCD, "msw": Order.ABCD,
    "cdab": Order.CDAB, "word_swap": Order.CDAB, "little_word": Order.CDAB, "lsw": Order.CDAB,
    "badc": Order.BADC, "byte_swap": Order.BADC,
    "dcba": Order.DCBA, "little": Order.DCBA, "le": Order.DCBA,
}

TYPE_ALIASES: dict[str, DataType] = {
    "i16": DataType.INT16, "u16": DataType.UINT16, "i32": DataType.INT32, "u32": DataType.UINT32,
    "i64": DataType.INT64, "u64": DataType.UINT64, "f32": DataType.FLOAT32, "f64": DataType.FLOAT64,
    "float": DataType.FLOAT32, "double": DataType.FLOAT64,
}

_STRUCT: dict[DataType, str] = {
    DataType.INT16: ">h", DataType.UINT16: ">H", DataType.INT32: ">i", DataType.UINT32: ">I",
    DataType.INT64: ">q", DataType.UINT64: ">Q", DataType.FLOAT32: ">f", DataType.FLOAT64: ">d",
}

_STRUCTS = {t: struct.Struct(f) for t, f in _STRUCT.items()}

REGISTER_COUNT: dict[DataType, int] = {
    DataType.INT16: 1, DataType.UINT16: 1, DataType.INT32: 2, DataType.UINT32: 2,
    DataType.INT64: 4, DataType.UINT64: 4, DataType.FLOAT32: 2, DataType.FLOAT64: 4,
}

FLOAT_TYPES = frozenset({DataType.FLOAT32, DataType.FLOAT64})


def parse_order(text: str) -> Order:
    """Accept ABCD/CDAB/BADC/DCBA (any case) or a common alias; raise ValueError otherwise."""
    try:
        return Order(text.upper())
    except ValueError:
        pass
    try:
        return ORDER_ALIASES[text.lower()]
    except KeyError:
        raise ValueError(
            f"unknown byte/word order {text!r}; use one of ABCD, CDAB, BADC, DCBA"
        ) from None


def parse_type(text: str) -> DataType:
    try:
        return DataType(text.lower())
    except ValueError:
        pass
    try:
        return TYPE_ALIASES[text.lower()]
    except KeyError:
        raise ValueError(
            f"unknown data type {text!r}; use one of {', '.join(t.value for t in DataType)}"
        ) from None


_WORDS = {(n, swap): struct.Struct(f"{'<' if swap else '>'}{n}H") for n in (1, 2, 4)
          for swap in (False, True)}


def _arrange(words: Sequence[int], order: Order) -> bytes:
    """Put wire registers into big-endian byte order for struct (the transform is its own inverse).

    Packing the words little-endian swaps the bytes inside each word; reversing them swaps words:
    two C calls per value, which matters at a thousand 20-point polls a second."""
    seq = words[::-1] if order.swap_words else words
    return _WORDS[len(words), order.swap_bytes].pack(*seq)


def decode_raw(registers: Sequence[int], dtype: DataType, order: Order = Order.ABCD) -> int | float:
    """The raw number held by `registers` (exactly REGISTER_COUNT[dtype] of them)."""
    n = REGISTER_COUNT[dtype]
    if len(registers) != n:
        raise ValueError(f"{dtype} needs {n} registers, got {len(registers)}")
    return _STRUCTS[dtype].unpack(_arrange(registers, order))[0]  # type: ignore[no-any-return]


def encode_raw(value: int | float, dtype: DataType, order: Order = Order.ABCD) -> list[int]:
    """Registers that hold `value` (the inverse of decode_raw). Integers must fit the type."""
    if dtype not in FLOAT_TYPES:
        value = int(value)
    data = struct.pack(_STRUCT[dtype], value)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return list(_arrange_back(words, order))


def _arrange_back(big_endian_words: list[int], order: Order) -> list[int]:
    seq = big_endian_words
    if order.swap_bytes:
        seq = [((w & 0xFF) << 8) | (w >> 8) for w in seq]
    return seq[::-1] if order.swap_words else seq


def int_limits(dtype: DataType) -> tuple[int, int]:
    bits = 16 * REGISTER_COUNT[dtype]
    if dtype.value.startswith("u"):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True, slots=True)
class FieldCodec:
    """How one value is laid out in registers and turned into engineering units.

    engineering = (raw_field * scale + offset) * factor, where raw_field is the raw number, or the bit
    field `bits` (offset, length) of it, and factor carries unit conversion and CT/PT ratios.
    """

    dtype: DataType
    order: Order = Order.ABCD
    scale: float = 1.0
    offset: float = 0.0
    factor: float = 1.0
    sentinels: frozenset[int | float] = frozenset()
    bits: tuple[int, int] | None = None

    @property
    def count(self) -> int:
        return REGISTER_COUNT[self.dtype]

    def decode(self, registers: Sequence[int]) -> float | None:
        """Engineering value, or None when the registers hold NaN, infinity or a declared sentinel."""
        raw = decode_raw(registers, self.dtype, self.order)
        if self.dtype in FLOAT_TYPES and not math.isfinite(raw):
            return None
        if raw in self.sentinels:
            return None
        if self.bits is not None:
            start, length = self.bits
            raw = (int(raw) >> start) & ((1 << length) - 1)
        return (raw * self.scale + self.offset) * self.factor

    def encode(self, value: float) -> list[int]:
        """Registers a device would hold for engineering `value` (used by the simulators)."""
        if self.bits is not None:
            raise ValueError("bit fields are encoded by their owner register, not one field")
        raw = (value / self.factor - self.offset) / self.scale
        if self.dtype not in FLOAT_TYPES:
            lo, hi = int_limits(self.dtype)
            raw = min(max(round(raw), lo), hi)
        return encode_raw(raw, self.dtype, self.order)

    def resolution(self) -> float:
        """The smallest engineering step the register can show (0 for floats)."""
        if self.dtype in FLOAT_TYPES:
            return 0.0
        return abs(self.scale * self.factor)

    def quantize(self, value: float) -> float:
        """`value` as it reads back after encode/decode (what the device can actually show)."""
        decoded = self.decode(self.encode(value))
        return value if decoded is None else decoded
