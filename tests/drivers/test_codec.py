"""Codec: the four orders against hand-worked byte layouts, round trips, sentinels and NaN."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.codec import (
    REGISTER_COUNT,
    DataType,
    FieldCodec,
    Order,
    decode_raw,
    encode_raw,
    int_limits,
    parse_order,
    parse_type,
)

# 36.625 as float32 is 0x42128000: bytes A=42 B=12 C=80 D=00
FLOAT_36_625 = {
    Order.ABCD: [0x4212, 0x8000],
    Order.CDAB: [0x8000, 0x4212],
    Order.BADC: [0x1242, 0x0080],
    Order.DCBA: [0x0080, 0x1242],
}


@pytest.mark.parametrize("order", list(Order))
def test_float32_each_order_matches_hand_worked_bytes(order: Order) -> None:
    assert decode_raw(FLOAT_36_625[order], DataType.FLOAT32, order) == 36.625
    assert encode_raw(36.625, DataType.FLOAT32, order) == FLOAT_36_625[order]


def test_tuf2000m_manual_example_low_word_first() -> None:
    # The TUF-2000M manual shows bytes 80 6B 42 12 that mean 36.625 only as 0x4212806B (CDAB).
    value = decode_raw([0x806B, 0x4212], DataType.FLOAT32, Order.CDAB)
    assert value == pytest.approx(36.625, abs=1e-3)


def test_int64_word_and_byte_orders() -> None:
    value = 0x0102030405060708
    assert encode_raw(value, DataType.UINT64, Order.ABCD) == [0x0102, 0x0304, 0x0506, 0x0708]
    assert encode_raw(value, DataType.UINT64, Order.CDAB) == [0x0708, 0x0506, 0x0304, 0x0102]
    assert encode_raw(value, DataType.UINT64, Order.BADC) == [0x0201, 0x0403, 0x0605, 0x0807]
    assert encode_raw(value, DataType.UINT64, Order.DCBA) == [0x0807, 0x0605, 0x0403, 0x0201]


def test_16_bit_types_only_see_the_byte_swap() -> None:
    assert decode_raw([0x1234], DataType.UINT16, Order.CDAB) == 0x1234
    assert decode_raw([0x1234], DataType.UINT16, Order.DCBA) == 0x3412
    assert decode_raw([0xFFFE], DataType.INT16) == -2


def test_wrong_register_count_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode_raw([1], DataType.FLOAT32)


_values = {
    DataType.INT16: st.integers(*int_limits(DataType.INT16)),
    DataType.UINT16: st.integers(*int_limits(DataType.UINT16)),
    DataType.INT32: st.integers(*int_limits(DataType.INT32)),
    DataType.UINT32: st.integers(*int_limits(DataType.UINT32)),
    DataType.INT64: st.integers(*int_limits(DataType.INT64)),
    DataType.UINT64: st.integers(*int_limits(DataType.UINT64)),
    DataType.FLOAT32: st.floats(width=32, allow_nan=False),
    DataType.FLOAT64: st.floats(allow_nan=False),
}


@given(data=st.data(), dtype=st.sampled_from(list(DataType)), order=st.sampled_from(list(Order)))
def test_encode_decode_round_trip(data: st.DataObject, dtype: DataType, order: Order) -> None:
    value = data.draw(_values[dtype])
    regs = encode_raw(value, dtype, order)
    assert len(regs) == REGISTER_COUNT[dtype]
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode_raw(regs, dtype, order) == value


def test_nan_and_infinity_decode_to_none_never_zero() -> None:
    codec = FieldCodec(DataType.FLOAT32)
    assert codec.decode(encode_raw(math.nan, DataType.FLOAT32)) is None
    assert codec.decode(encode_raw(math.inf, DataType.FLOAT32)) is None
    assert codec.decode([0x7FC0, 0x0000]) is None


def test_declared_sentinel_decodes_to_none() -> None:
    codec = FieldCodec(DataType.UINT16, scale=0.1, sentinels=frozenset({0xFFFF}))
    assert codec.decode([0xFFFF]) is None
    assert codec.decode([2301]) == pytest.approx(230.1)


def test_scale_offset_and_factor() -> None:
    codec = FieldCodec(DataType.INT16, scale=0.01, offset=-40.0, factor=1.0)
    assert codec.decode([6500]) == pytest.approx(25.0)
    wh_to_kwh = FieldCodec(DataType.INT32, Order.CDAB, factor=1e-3)
    assert wh_to_kwh.decode(encode_raw(123456, DataType.INT32, Order.CDAB)) == pytest.approx(123.456)


def test_bit_field() -> None:
    codec = FieldCodec(DataType.UINT16, bits=(4, 3))
    assert codec.decode([0b0000_0000_0101_0000]) == 5


def test_encode_quantizes_to_register_resolution() -> None:
    codec = FieldCodec(DataType.INT32, scale=0.01)
    assert codec.quantize(123.456789) == pytest.approx(123.46)
    assert codec.resolution() == pytest.approx(0.01)
    assert FieldCodec(DataType.FLOAT32).resolution() == 0.0


def test_parse_aliases_and_errors() -> None:
    assert parse_order("cdab") is Order.CDAB
    assert parse_order("word_swap") is Order.CDAB
    assert parse_type("f32") is DataType.FLOAT32
    with pytest.raises(ValueError, match="ABCD, CDAB, BADC, DCBA"):
        parse_order("ABDC")
    with pytest.raises(ValueError, match="float32"):
        parse_type("real")
