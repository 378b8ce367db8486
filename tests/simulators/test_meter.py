"""SimulatedMeter: register image from the physics, quantized so decoding gives true_values()."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.reading import Quality
from drivers.codec import Order
from drivers.errors import ModbusExceptionResponse
from drivers.profiles import BUNDLED_PROFILES, MeterVariant, load_profile, profile_files
from drivers.reader import MeterReader
from simulators.clock import SimClock, fixed_clock
from simulators.local import LocalSource
from simulators.meter import MeterOptions, SimulatedMeter
from simulators.meter_spec import MeterSpec, MeterSpecError, build_meters
from simulators.pytest_plugin import FIXED_TIME

TEST_PROFILE = """
manufacturer = "Test"
model = "SIM1"
kind = "electricity"
default_variant = "main"
defaults = { type = "float32" }
[device]
serial = { baud = 2400, parity = "E", stopbits = 1 }
turnaround_ms = 40
unreadable = [{ start = 50, end = 59 }]
[[points]]
quantity = "voltage_l1"
address = 0
range = [0, 500]
[[points]]
quantity = "current_l1"
address = 2
type = "int16"
scale = 0.01
range = [-300, 300]
ratio = "ct"
sentinels = [-32768]
[[points]]
quantity = "power_active"
address = 4
type = "int32"
order = "CDAB"
range = [-1e6, 1e6]
[[points]]
quantity = "energy_active_import"
address = 10
type = "uint32"
unit = "kWh"
range = [0, 1e9]
max_rate = 1e5
fraction = { address = 12, type = "uint16", scale = 0.001 }
[[points]]
quantity = "ct_ratio"
address = 20
type = "uint16"
[[points]]
quantity = "error_code"
address = 21
type = "uint16"
bits = [0, 4]
[[points]]
quantity = "frequency"
address = 60
function = 4
scale = 0.01
unit = "Hz"
range = [45, 65]
[variants.main]
"""

BUNDLED = [f"{pid}:{v}" for pid, path in sorted(profile_files([BUNDLED_PROFILES]).items())
           for v in load_profile(path).variants]


@pytest.fixture
def variant(tmp_path: Path) -> MeterVariant:
    path = tmp_path / "sim-test.toml"
    path.write_text(TEST_PROFILE, encoding="utf-8")
    return load_profile(path).variant()


def _meter(variant: MeterVariant, **options: object) -> SimulatedMeter:
    return SimulatedMeter(variant, 1, seed=3, clock=fixed_clock(FIXED_TIME),
                          options=MeterOptions(**options))  # type: ignore[arg-type]


def _read(meter: SimulatedMeter, variant: MeterVariant | None = None) -> dict:
    reader = MeterReader(LocalSource({meter.unit: meter}), variant or meter.variant, meter.unit)
    return {r.quantity: r for r in reader.read()}


@pytest.mark.parametrize("spec", BUNDLED)
@pytest.mark.parametrize("t", [FIXED_TIME, FIXED_TIME + 13.5 * 3600, FIXED_TIME + 4 * 86400])
def test_every_bundled_profile_decodes_to_true_values(
    simulated_meter: Callable[..., SimulatedMeter], spec: str, t: float
) -> None:
    meter = simulated_meter(spec, unit=5, seed=11, clock=fixed_clock(t))
    readings = _read(meter)
    truth = meter.true_values()
    assert set(readings) == set(truth)
    for q, r in readings.items():
        assert r.value == truth[q], q  # exactly: the image is quantized to what registers show
        assert r.quality is Quality.OK, (q, r.value, r.error)


def test_quantized_like_the_registers(variant: MeterVariant) -> None:
    meter = _meter(variant)
    truth: dict[str, Any] = meter.true_values()
    physical = meter.physical_values()
    assert truth["current_l1"] == pytest.approx(physical["current_l1"], abs=0.005)
    assert round(truth["current_l1"] * 100) == pytest.approx(truth["current_l1"] * 100)
    assert truth["power_active"] == float(int(truth["power_active"]))
    # integer + fraction: floor to 0.001 kWh, never above the physics' total
    assert physical["energy_active_import"] - 0.001 < truth["energy_active_import"]
    assert truth["energy_active_import"] <= physical["energy_active_import"]
    assert truth["ct_ratio"] == 1.0 and truth["error_code"] == 0.0


def test_ct_ratio_secondary_values(variant: MeterVariant) -> None:
    meter = _meter(variant, ct_ratio=40.0)
    readings = _read(meter)
    assert readings["ct_ratio"].value == 40.0
    assert readings["current_l1"].value == meter.true_values()["current_l1"]
    raw = meter.read(3, 2, 1)[0]
    assert raw == round(meter.physical_values()["current_l1"] / 40 / 0.01)  # secondary side


def test_unmapped_registers_read_zero_and_limits(variant: MeterVariant) -> None:
    meter = _meter(variant)
    assert meter.read(3, 30, 10) == [0] * 10
    assert meter.read(4, 0, 2) == [0, 0]  # FC4 table holds only the frequency
    assert meter.read(4, 60, 2) != [0, 0]
    for fc, address, count, code in [(3, 45, 10, 2), (4, 59, 1, 2), (3, 0, 126, 3), (3, 0, 0, 3),
                                     (3, 65535, 2, 2)]:
        with pytest.raises(ModbusExceptionResponse) as info:
            meter.read(fc, address, count)
        assert info.value.code == code


def test_both_functions_serve_one_table(variant: MeterVariant) -> None:
    meter = _meter(variant, both_functions=True)
    assert meter.read(4, 0, 2) == meter.read(3, 0, 2) != [0, 0]


def test_order_override_serves_the_whole_map_in_another_order(variant: MeterVariant) -> None:
    plain, swapped = _meter(variant), _meter(variant, order=Order.CDAB)
    a, b = plain.read(3, 0, 2), swapped.read(3, 0, 2)
    assert b == a[::-1]
    wrong = _read(swapped)
    assert wrong["voltage_l1"].value != plain.true_values()["voltage_l1"]
    assert swapped.true_values() == plain.true_values()  # same device, other layout


def test_address_shift_moves_every_register(variant: MeterVariant) -> None:
    plain, shifted = _meter(variant), _meter(variant, address_shift=1)
    assert shifted.read(3, 1, 6) == plain.read(3, 0, 6)
    with pytest.raises(ModbusExceptionResponse):
        shifted.read(3, 51, 10)  # the unreadable range moved too
    shifted.read(3, 49, 1)


def test_writes_refused_unless_writable(variant: MeterVariant) -> None:
    with pytest.raises(ModbusExceptionResponse) as info:
        _meter(variant).write(20, [5])
    assert info.value.code == 1
    meter = _meter(variant, writable=True)
    before = meter.true_values()["current_l1"]
    meter.write(20, [5])  # CT ratio: the meter now reports secondary current / 5
    meter.write(40, [1234])
    assert meter.read(3, 40, 1) == [1234]
    assert _read(meter)["ct_ratio"].value == 5.0
    assert _read(meter)["current_l1"].value == pytest.approx(before, abs=5 * 0.01)
    with pytest.raises(ModbusExceptionResponse) as info:
        meter.write(0, [1, 2])
    assert info.value.code == 2


def test_same_seed_same_values_and_time_moves_them(variant: MeterVariant) -> None:
    a = SimulatedMeter(variant, 1, seed=9, clock=fixed_clock(FIXED_TIME))
    b = SimulatedMeter(variant, 1, seed=9, clock=fixed_clock(FIXED_TIME))
    c = SimulatedMeter(variant, 1, seed=10, clock=fixed_clock(FIXED_TIME))
    assert a.true_values() == b.true_values() != c.true_values()
    now = [FIXED_TIME]
    moving = SimulatedMeter(variant, 1, seed=9, clock=lambda: now[0])
    first: dict[str, Any] = moving.true_values()
    now[0] += 600
    later: dict[str, Any] = moving.true_values()
    assert later["energy_active_import"] > first["energy_active_import"]
    assert later["voltage_l1"] != first["voltage_l1"]


def test_a_run_started_later_agrees_at_the_same_time() -> None:
    from drivers.profiles import resolve_variant

    v = resolve_variant("chint-dtsu666")
    early = SimulatedMeter(v, 1, seed=4, clock=fixed_clock(FIXED_TIME - 3 * 3600))
    early.true_values()
    early.clock = fixed_clock(FIXED_TIME)
    late = SimulatedMeter(v, 1, seed=4, clock=fixed_clock(FIXED_TIME))
    assert early.true_values() == late.true_values()


def test_sim_clock_speed_and_start() -> None:
    t = [100.0]
    clock = SimClock(1000.0, speed=60, monotonic=lambda: t[0])
    t[0] += 2
    assert clock() == 1120.0
    with pytest.raises(ValueError):
        SimClock(speed=0)


def test_single_phase_meter_stays_in_range(simulated_meter: Callable[..., SimulatedMeter]) -> None:
    for seed in range(8):
        meter = simulated_meter("eastron-sdm120", seed=seed,
                                clock=fixed_clock(FIXED_TIME + 4 * 3600))
        assert all(r.quality is Quality.OK for r in _read(meter).values())


def test_meter_specs() -> None:
    spec = MeterSpec.parse("4=chint-dtsu666:huawei,order=CDAB,shift=1,baud=2400,ct=50")
    assert (spec.unit, spec.profile) == (4, "chint-dtsu666:huawei")
    (meter,) = build_meters([spec], seed=1, clock=fixed_clock(FIXED_TIME))
    assert meter.options.order is Order.CDAB and meter.options.address_shift == 1
    assert (meter.line.baud, meter.line.stopbits) == (2400, 1) and meter.options.ct_ratio == 50
    for bad, words in [("chint-dtsu666", "UNIT=PROFILE"), ("0=chint-dtsu666", "1..247"),
                       ("1=chint-dtsu666,colour=red", "order, shift"),
                       ("1=chint-dtsu666,order=XYZW", "unknown byte/word order")]:
        with pytest.raises(MeterSpecError, match=words):
            build_meters([MeterSpec.parse(bad)])
    with pytest.raises(MeterSpecError, match="given twice"):
        build_meters([MeterSpec.parse("1=chint-dtsu666"), MeterSpec.parse("1=tuf-2000m")])
