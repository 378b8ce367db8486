"""MeterReader against a small in-memory register map: qualities, splits, ratios, fractions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core.reading import Quality
from drivers.codec import DataType, Order, encode_raw
from drivers.errors import ModbusExceptionResponse, ModbusTimeout
from drivers.profiles import load_profile
from drivers.reader import MeterReader

PROFILE = """
manufacturer = "Example"
model = "T1"
kind = "electricity"
default_variant = "main"
[defaults]
type = "float32"
[[points]]
quantity = "voltage_l1"
address = 0
range = [0, 500]
[[points]]
quantity = "current_l1"
address = 2
range = [0, 100]
ratio = "ct"
[[points]]
quantity = "frequency"
address = 4
range = [45, 65]
[[points]]
quantity = "energy_active_import"
address = 10
type = "uint32"
fraction = { address = 12, type = "float32" }
range = [0, 1e9]
max_rate = 50
[[points]]
quantity = "ct_ratio"
address = 20
type = "uint16"
[variants.main]
fingerprint = ["voltage_l1"]
"""


class FakeMeter:
    """Registers in a dict; addresses in `refuse` answer exception 2, like a meter lacking them."""

    def __init__(self) -> None:
        self.regs: dict[int, int] = {}
        self.refuse: set[int] = set()
        self.calls: list[tuple[int, int]] = []
        self.silent = False

    def put(self, address: int, value: float, dtype: DataType = DataType.FLOAT32) -> None:
        for i, r in enumerate(encode_raw(value, dtype, Order.ABCD)):
            self.regs[address + i] = r

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        self.calls.append((address, count))
        if self.silent:
            raise ModbusTimeout("no answer")
        if any(a in self.refuse for a in range(address, address + count)):
            raise ModbusExceptionResponse(2)
        return [self.regs.get(a, 0) for a in range(address, address + count)]


@pytest.fixture
def meter() -> FakeMeter:
    m = FakeMeter()
    m.put(0, 231.5)
    m.put(2, 2.5)
    m.put(4, 50.0)
    m.put(10, 1234, DataType.UINT32)
    m.put(12, 0.5)
    m.put(20, 40, DataType.UINT16)
    return m


@pytest.fixture
def variant(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "t1.toml"
    path.write_text(PROFILE, encoding="utf-8")
    return load_profile(path).variant()


def _by_q(readings):  # type: ignore[no-untyped-def]
    return {r.quantity: r for r in readings}


def test_reads_in_planned_blocks_and_decodes(meter: FakeMeter, variant) -> None:  # type: ignore[no-untyped-def]
    reader = MeterReader(meter, variant, unit=1)
    got = _by_q(reader.read())
    assert meter.calls == [(0, 21)]  # one request: gaps of <= 10 registers are bridged
    assert got["voltage_l1"].value == pytest.approx(231.5)
    assert got["energy_active_import"].value == pytest.approx(1234.5)  # integer + fraction
    assert got["current_l1"].value == pytest.approx(2.5 * 40)  # CT ratio read from the meter
    assert all(r.quality is Quality.OK for r in got.values())


def test_ratio_given_by_the_user_wins(meter: FakeMeter, variant) -> None:  # type: ignore[no-untyped-def]
    got = _by_q(MeterReader(meter, variant, unit=1, ratios={"ct": 100}).read())
    assert got["current_l1"].value == pytest.approx(250)


def test_nan_is_invalid_not_zero(meter: FakeMeter, variant) -> None:  # type: ignore[no-untyped-def]
    meter.put(0, math.nan)
    r = _by_q(MeterReader(meter, variant, unit=1).read())["voltage_l1"]
    assert r.quality is Quality.INVALID and r.value is None


def test_out_of_range_keeps_the_value(meter: FakeMeter, variant) -> None:  # type: ignore[no-untyped-def]
    meter.put(4, 0.02)
    r = _by_q(MeterReader(meter, variant, unit=1).read())["frequency"]
    assert r.quality is Quality.OUT_OF_RANGE and r.value == pytest.approx(0.02)
    assert "plausible range 45..65" in r.error


def test_illegal_address_splits_and_remembers(meter: FakeMeter, variant) -> None:  # type: ignore[no-untyped-def]
    meter.refuse = {4}
    reader = MeterReader(meter, variant, unit=1)
    got = _by_q(reader.read())
    assert got["frequency"].quality is Quality.INVALID and got["frequency"].value is None
    assert "exception 2" in got["frequency"].error
    others = [r for q, r in got.items() if q != "frequency"]
    assert all(r.quality is Quality.OK for r in others)
    calls_first = len(meter.calls)
    meter.calls.clear()
    reader.read()
    assert len(meter.calls) < calls_first  # the split is remembered: no re-discovery
    assert all(4 not in range(a, a + c) for a, c in meter.calls)


def test_timeout_is_comm_error_for_every_point(meter: FakeMeter, variant) -> None:  # type: ignore[no-untyped-def]
    meter.silent = True
    got = MeterReader(meter, variant, unit=1).read()
    assert {r.quality for r in got} == {Quality.COMM_ERROR}
    assert all(r.value is None for r in got)


def test_silent_meter_costs_one_timeout_per_read(meter: FakeMeter, variant) -> None:  # type: ignore[no-untyped-def]
    reader = MeterReader(meter, variant, unit=1)
    meter.refuse = {4}
    reader.read()  # learn a split plan with several blocks
    assert reader.plan.request_count > 1
    meter.silent = True
    meter.calls.clear()
    got = reader.read()
    assert len(meter.calls) == 1
    assert {r.quality for r in got} == {Quality.COMM_ERROR, Quality.INVALID}


def test_counter_rising_faster_than_physics_is_flagged(meter: FakeMeter, variant) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]
    reader = MeterReader(meter, variant, unit=1, clock=lambda: now[0])
    reader.read()
    now[0] += 60
    meter.put(10, 1234 + 100, DataType.UINT32)  # +100 kWh in a minute; max_rate is 50 kWh/h
    r = _by_q(reader.read())["energy_active_import"]
    assert r.quality is Quality.OUT_OF_RANGE and "faster than 50" in r.error
    now[0] += 3600
    meter.put(10, 1234 + 110, DataType.UINT32)
    assert _by_q(reader.read())["energy_active_import"].quality is Quality.OK
