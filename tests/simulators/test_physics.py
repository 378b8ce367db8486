"""Meter physics: determinism, counters as exact integrals, building behaviour, speed."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from core.quantities import QUANTITIES, Kind
from simulators.physics import (
    HEATING,
    HOT_WATER,
    KINDS,
    OFF,
    RHO_C_WATER,
    HeatPhysics,
    MeterPhysics,
    heat_pump_cop,
    make_physics,
    occupancy,
    outdoor_temperature,
)

TZ = timezone(timedelta(hours=8))


def local(year: int, month: int, day: int, hour: int = 0) -> float:
    """Epoch seconds of a local (UTC+8) wall-clock time."""
    return datetime(year, month, day, hour, tzinfo=TZ).timestamp()


WINTER_MONDAY = local(2024, 1, 15)
WINTER_SATURDAY = local(2024, 1, 20)
SPRING_MONDAY = local(2024, 4, 15)
SUMMER_MONDAY = local(2024, 7, 15)
HOUR = 3600.0
DAY = 86400.0
COUNTERS = {n for n, q in QUANTITIES.items() if q.kind is Kind.COUNTER}

# counter -> (rate it integrates, counter units per rate unit and second, transform of the rate)
INTEGRALS: dict[str, list[tuple[str, str, float, str]]] = {
    "electricity": [
        ("energy_active_import", "power_active", 1 / 3.6e6, "identity"),
        ("energy_active_import_l1", "power_active_l1", 1 / 3.6e6, "identity"),
        ("energy_active_import_l2", "power_active_l2", 1 / 3.6e6, "identity"),
        ("energy_active_import_l3", "power_active_l3", 1 / 3.6e6, "identity"),
        ("energy_reactive_import", "power_reactive", 1 / 3.6e6, "identity"),
    ],
    "water": [("water_volume", "water_flow", 1 / 3600, "identity")],
    "gas": [("gas_volume", "gas_flow", 1 / 3600, "identity")],
    "heat": [
        ("heat_energy", "heat_power", 1 / 3.6e6, "positive"),
        ("cooling_energy", "heat_power", 1 / 3.6e6, "negative"),
        ("heat_volume", "heat_flow", 1 / 3600, "identity"),
    ],
    "heat_pump": [
        ("energy_active_import", "power_active", 1 / 3.6e6, "identity"),
        ("heat_energy", "heat_power", 1 / 3.6e6, "identity"),
    ],
}
TRANSFORMS = {"identity": lambda x: x, "positive": lambda x: np.maximum(x, 0.0),
              "negative": lambda x: np.maximum(-x, 0.0)}

# plausible ranges of every gauge, per kind
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "electricity": {
        "power_active": (1e3, 200e3), "power_active_l": (300.0, 70e3),
        "power_reactive": (0.0, 100e3), "power_apparent": (1e3, 230e3),
        "power_factor": (0.85, 0.99), "voltage_l": (215.0, 245.0),
        "voltage_l1_l2": (370.0, 425.0), "voltage_l2_l3": (370.0, 425.0),
        "voltage_l3_l1": (370.0, 425.0), "current_l": (1.0, 350.0), "current_n": (0.0, 100.0),
        "frequency": (49.95, 50.05),
    },
    "water": {
        "water_flow": (0.0, 30.0), "flow_velocity": (0.0, 3.0), "temp_supply": (5.0, 25.0),
        "temp_return": (5.0, 25.0), "signal_quality": (85.0, 99.0), "error_code": (0.0, 0.0),
    },
    "heat": {
        "heat_power": (-300e3, 300e3), "heat_flow": (0.0, 40.0), "temp_supply": (4.0, 60.0),
        "temp_return": (4.0, 60.0), "temp_t3": (10.0, 30.0), "temp_t4": (-25.0, 42.0),
        "error_code": (0.0, 0.0),
    },
    "heat_pump": {
        "power_active": (20.0, 40e3), "heat_power": (0.0, 120e3), "cop": (0.0, 6.0),
        "heat_flow": (0.0, 20.0), "temp_supply": (15.0, 60.0), "temp_return": (15.0, 60.0),
        "temp_outdoor": (-25.0, 42.0), "temp_hot_water_top": (40.0, 56.0),
        "temp_hot_water_bottom": (30.0, 56.0), "temp_buffer_top": (20.0, 60.0),
        "temp_buffer_bottom": (15.0, 60.0), "operating_state": (0.0, 2.0),
        "error_code": (0.0, 0.0),
    },
    "gas": {"gas_flow": (0.0, 150.0), "temp_gas": (0.0, 25.0), "gas_pressure": (2.0, 110.0),
            "error_code": (0.0, 0.0)},
}


def _range_of(kind: str, name: str) -> tuple[float, float] | None:
    ranges = RANGES[kind]
    if name in ranges:
        return ranges[name]
    return ranges.get(name.rstrip("123"))  # per-phase names share one range (power_active_l...)


def _cooling_unit(seed: int) -> int:
    """A unit whose heat-meter circuit also delivers cooling (not every one does)."""
    return next(u for u in range(1, 20)
                if HeatPhysics(seed=seed, unit=u, start=WINTER_MONDAY).cooling_w > 0)


def _mean_rate(meter: MeterPhysics, counter: str, t0: float, t1: float) -> float:
    """Mean rate over [t0, t1) from the counter, per hour (kW from kWh, m³/h from m³)."""
    meter.advance(t0)
    a = meter.values()[counter]
    meter.advance(t1)
    return (meter.values()[counter] - a) / ((t1 - t0) / HOUR)


# --- interface ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_values_use_the_quantity_vocabulary(kind: str) -> None:
    meter = make_physics(kind, seed=1, unit=1, start=WINTER_MONDAY + 10 * HOUR)
    assert isinstance(meter, MeterPhysics)
    assert meter.kind == kind
    values = meter.values()
    assert set(values) <= set(QUANTITIES)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())
    assert any(n in COUNTERS for n in values)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown meter kind"):
        make_physics("steam", seed=1, unit=1, start=WINTER_MONDAY)


# --- determinism -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_values_do_not_depend_on_how_time_was_advanced(kind: str) -> None:
    start = WINTER_MONDAY + 1234.56  # not aligned to anything
    checkpoints = [start + dt for dt in (0.3, 59.9, 60.0, 3599.0, 3600.7, 1.5 * DAY + 17.25,
                                         3 * DAY + 5.0)]
    stepper = make_physics(kind, seed=5, unit=2, start=start)
    jumper = make_physics(kind, seed=5, unit=2, start=start)
    rng = np.random.default_rng(0)
    t = start
    for checkpoint in checkpoints:
        while t < checkpoint:  # irregular steps: sub-second, a few seconds, many minutes
            t = min(checkpoint, t + float(rng.choice([0.4, 1.0, 7.0, 613.0, 2500.0])))
            stepper.advance(t)
            stepper.advance(t - 100.0)  # going back is ignored
        jumper.advance(checkpoint)
        fresh = make_physics(kind, seed=5, unit=2, start=start)
        fresh.advance(checkpoint)
        expected = fresh.values()
        assert stepper.values() == expected
        assert jumper.values() == expected


@pytest.mark.parametrize("kind", KINDS)
def test_time_never_goes_back(kind: str) -> None:
    meter = make_physics(kind, seed=3, unit=1, start=WINTER_MONDAY)
    meter.advance(WINTER_MONDAY + 5 * HOUR)
    before = meter.values()
    meter.advance(WINTER_MONDAY + HOUR)
    assert meter.values() == before


def test_same_inputs_same_meter_other_inputs_other_meter() -> None:
    def peak(seed: int, unit: int) -> float:
        meter = make_physics("electricity", seed=seed, unit=unit, start=WINTER_MONDAY)
        return _mean_rate(meter, "energy_active_import", WINTER_MONDAY + 10 * HOUR,
                          WINTER_MONDAY + 11 * HOUR)

    assert peak(1, 1) == peak(1, 1)
    sizes = [peak(1, unit) for unit in range(1, 7)]
    assert len(set(sizes)) == len(sizes)
    assert max(sizes) / min(sizes) > 1.5  # buildings of different sizes


# --- counters --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_counters_are_the_integral_of_their_rates(kind: str) -> None:
    """Sample the rates every second over a whole day: the counter deltas are their sums."""
    start = (SUMMER_MONDAY if kind == "heat" else WINTER_MONDAY) + 0.5
    unit = _cooling_unit(seed=6) if kind == "heat" else 4  # heat: cover cooling_energy too
    meter = make_physics(kind, seed=6, unit=unit, start=start)
    first = meter.values()
    rates: dict[str, list[float]] = {rate: [] for _, rate, _, _ in INTEGRALS[kind]}
    for step in range(int(DAY)):
        meter.advance(start + step)
        values = meter.values()
        for rate, samples in rates.items():
            samples.append(values[rate])
    meter.advance(start + DAY)
    last = meter.values()
    for counter, rate, per_second, transform in INTEGRALS[kind]:
        integral = float(np.sum(TRANSFORMS[transform](np.array(rates[rate])))) * per_second
        delta = last[counter] - first[counter]
        assert delta == pytest.approx(integral, rel=1e-9, abs=DAY * 1e-9), counter
        if counter not in ("heat_energy", "cooling_energy"):
            assert delta > 0, counter
    if kind == "heat":  # July: the circuit cools
        assert last["cooling_energy"] > first["cooling_energy"]
        assert last["heat_energy"] == first["heat_energy"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("season_start", [WINTER_MONDAY, SPRING_MONDAY, SUMMER_MONDAY])
def test_values_are_finite_plausible_and_counters_monotone(kind: str,
                                                            season_start: float) -> None:
    rng = np.random.default_rng(int(season_start))
    for unit in (1, 2, 3):
        meter = make_physics(kind, seed=11, unit=unit, start=season_start)
        previous = meter.values()
        assert all(previous[n] > 0 for n in previous if n in COUNTERS
                   and not n.startswith(("energy_active_export", "energy_reactive_export",
                                         "cooling_energy")))
        for t in np.sort(rng.uniform(season_start, season_start + 14 * DAY, 150)):
            meter.advance(float(t))
            values = meter.values()
            assert values.keys() == previous.keys()
            for name, value in values.items():
                assert math.isfinite(value), name
                if name in COUNTERS:
                    assert value >= previous[name], name
                bounds = _range_of(kind, name)
                if bounds is not None:
                    assert bounds[0] - 1e-9 <= value <= bounds[1] + 1e-9, (name, value)
            _check_identities(kind, values)
            previous = values


def _check_identities(kind: str, v: dict[str, float]) -> None:
    approx = pytest.approx
    if kind == "electricity":
        assert v["power_active"] == approx(sum(v[f"power_active_l{i}"] for i in (1, 2, 3)))
        assert v["power_reactive"] == approx(sum(v[f"power_reactive_l{i}"] for i in (1, 2, 3)))
        assert v["power_factor"] == approx(v["power_active"] / v["power_apparent"])
        for i in (1, 2, 3):
            p, pf = v[f"power_active_l{i}"], v[f"power_factor_l{i}"]
            assert v[f"power_reactive_l{i}"] == approx(p * math.tan(math.acos(pf)))
            assert v[f"power_apparent_l{i}"] == approx(p / pf)
            assert v[f"current_l{i}"] == approx(p / (v[f"voltage_l{i}"] * pf))
        mean_phase = (v["voltage_l1"] + v["voltage_l2"] + v["voltage_l3"]) / 3
        assert v["voltage_l1_l2"] == approx(math.sqrt(3) * mean_phase, rel=0.02)
        assert v["energy_active_total"] == approx(
            v["energy_active_import"] + v["energy_active_export"])
    elif kind == "water":
        assert v["water_volume_net"] == approx(v["water_volume"] - v["water_volume_reverse"])
        assert (v["flow_velocity"] > 0) == (v["water_flow"] > 0)
    elif kind == "heat":
        if v["heat_flow"] > 0:
            delta_t = v["heat_power"] / 1000 / (RHO_C_WATER * v["heat_flow"])
            assert v["temp_supply"] - v["temp_return"] == approx(delta_t, abs=1e-9)
        else:
            assert v["heat_power"] == 0.0
    elif kind == "heat_pump":
        assert v["operating_state"] in (OFF, HEATING, HOT_WATER)
        if v["operating_state"] == OFF:
            assert v["heat_power"] == 0.0
            assert v["cop"] == 0.0
        else:
            assert v["heat_power"] == approx(v["power_active"] * v["cop"])
            delta_t = v["heat_power"] / 1000 / (RHO_C_WATER * v["heat_flow"])
            assert v["temp_supply"] - v["temp_return"] == approx(delta_t, abs=1e-9)


# --- building behaviour ----------------------------------------------------------------------------


@pytest.mark.parametrize("unit", range(1, 6))
def test_weekday_daytime_electricity_exceeds_night_and_weekend(unit: int) -> None:
    meter = make_physics("electricity", seed=4, unit=unit, start=WINTER_MONDAY)
    counter = "energy_active_import"
    night = _mean_rate(meter, counter, WINTER_MONDAY + 2 * HOUR, WINTER_MONDAY + 3 * HOUR)
    day = _mean_rate(meter, counter, WINTER_MONDAY + 10 * HOUR, WINTER_MONDAY + 11 * HOUR)
    lunch = _mean_rate(meter, counter, WINTER_MONDAY + 12.25 * HOUR, WINTER_MONDAY + 13 * HOUR)
    weekend = _mean_rate(meter, counter, WINTER_SATURDAY + 10 * HOUR,
                         WINTER_SATURDAY + 11 * HOUR)
    assert day > 1.5 * night
    assert day > 1.5 * weekend
    assert night < lunch < day  # the lunch dip


@pytest.mark.parametrize("unit", range(1, 6))
def test_water_peaks_at_lunch_and_is_near_zero_at_night(unit: int) -> None:
    meter = make_physics("water", seed=4, unit=unit, start=WINTER_MONDAY)
    hourly = [_mean_rate(meter, "water_volume", WINTER_MONDAY + h * HOUR,
                         WINTER_MONDAY + (h + 1) * HOUR) for h in range(24)]
    assert int(np.argmax(hourly)) == 12  # 12:00-13:00
    assert hourly[12] > 10 * hourly[3] and hourly[12] > 0
    assert hourly[8] > 3 * hourly[3] and hourly[15] > 3 * hourly[3]  # morning, afternoon
    assert hourly[3] < 0.05 * max(hourly)


def test_outdoor_temperature_and_occupancy_accept_arrays() -> None:
    t = WINTER_MONDAY + np.arange(0, 7 * DAY, 900.0)
    temps = outdoor_temperature(t, seed=1)
    occ = occupancy(t)
    assert temps.shape == occ.shape == t.shape
    assert outdoor_temperature(float(t[5]), seed=1) == pytest.approx(temps[5])
    assert isinstance(occupancy(float(t[40])), float)
    assert occupancy(float(t[40])) == pytest.approx(occ[40])
    assert occ.min() >= 0.0 and occ.max() <= 1.0
    hour = ((t - WINTER_MONDAY) % DAY) / HOUR
    weekday = t < WINTER_MONDAY + 5 * DAY
    assert occ[weekday & (hour == 10)].min() > 0.9
    assert occ[~weekday & (hour == 10)].max() < 0.2
    assert occ[hour == 3].max() == 0.0
    # afternoons are warmer than early mornings, July than January
    assert temps[hour == 14.5].mean() > temps[hour == 5].mean() + 4
    july = outdoor_temperature(SUMMER_MONDAY + np.arange(0, 14 * DAY, HOUR), seed=1)
    assert july.mean() > temps.mean() + 15


def test_outdoor_temperature_is_shared_by_the_site_and_seen_by_the_heat_pump() -> None:
    t = SPRING_MONDAY + 7.25 * HOUR
    meter = make_physics("heat_pump", seed=8, unit=3, start=t)
    seen = meter.values()["temp_outdoor"]
    assert seen == pytest.approx(outdoor_temperature(t, seed=8), abs=0.01)
    assert outdoor_temperature(t, seed=8) != outdoor_temperature(t, seed=9)


def test_heat_pump_cop_formula() -> None:
    outdoor = np.array([-15.0, -5.0, 0.0, 5.0, 10.0])
    cop = heat_pump_cop(np.full(5, 45.0), outdoor)
    assert np.all(np.diff(cop) > 0)  # falls as the outdoor temperature falls
    assert heat_pump_cop(55.0, 5.0) < heat_pump_cop(35.0, 5.0)  # and as the flow gets hotter
    assert heat_pump_cop(35.0, 7.0) == pytest.approx(0.45 * 308.15 / 28.0)
    assert heat_pump_cop(30.0, 29.5) == 6.0 and heat_pump_cop(60.0, -40.0) == 1.5


def test_heat_pump_cop_falls_as_outdoor_temperature_falls() -> None:
    start = local(2024, 2, 20)
    meter = make_physics("heat_pump", seed=3, unit=1, start=start)
    temps, cops = [], []
    for t in np.arange(start, start + 21 * DAY, 600.0):
        meter.advance(float(t))
        v = meter.values()
        if v["operating_state"] == HEATING:
            temps.append(v["temp_outdoor"])
            cops.append(v["cop"])
    temps_a, cops_a = np.array(temps), np.array(cops)
    assert len(temps) > 100 and np.ptp(temps_a) > 8
    assert np.corrcoef(temps_a, cops_a)[0, 1] > 0.7
    cold, mild = temps_a < np.percentile(temps_a, 25), temps_a > np.percentile(temps_a, 75)
    assert cops_a[cold].mean() < cops_a[mild].mean() - 0.3
    assert cops_a.min() >= 1.5 and cops_a.max() <= 6.0


def test_heat_pump_runs_harder_when_colder_and_cycles_in_mild_weather() -> None:
    def day_stats(day: float) -> tuple[float, int, set[float]]:
        meter = make_physics("heat_pump", seed=3, unit=2, start=day)
        states = []
        for t in np.arange(day, day + DAY, 60.0):
            meter.advance(float(t))
            states.append(meter.values()["operating_state"])
        energy = _mean_rate(meter, "energy_active_import", day, day + DAY) * 24
        return energy, int(np.sum(np.diff(states) != 0)), set(states)

    winter, winter_switches, _ = day_stats(WINTER_MONDAY)
    spring, spring_switches, spring_states = day_stats(SPRING_MONDAY)
    summer, _, summer_states = day_stats(SUMMER_MONDAY)
    assert winter > 1.5 * spring > summer > 0
    assert spring_switches > winter_switches and spring_switches >= 10  # on/off cycling
    assert OFF in spring_states and HEATING in spring_states
    assert summer_states == {OFF, HOT_WATER}  # hot water only


def test_heat_meter_heats_in_winter_and_cools_in_summer() -> None:
    unit = _cooling_unit(seed=6)
    for start, grows, stays in ((WINTER_MONDAY, "heat_energy", "cooling_energy"),
                                (SUMMER_MONDAY, "cooling_energy", "heat_energy")):
        meter = make_physics("heat", seed=6, unit=unit, start=start)
        before = meter.values()
        meter.advance(start + 7 * DAY)
        after = meter.values()
        assert after[grows] > before[grows]
        assert after[stays] == before[stays]
        assert after["heat_volume"] > before["heat_volume"]


# --- leaks -----------------------------------------------------------------------------------------


def test_a_leak_adds_a_constant_flow_and_its_volume() -> None:
    t0 = WINTER_MONDAY + 2 * HOUR
    leaking = make_physics("water", seed=9, unit=1, start=WINTER_MONDAY)
    healthy = make_physics("water", seed=9, unit=1, start=WINTER_MONDAY)
    leaking.advance(t0)
    leaking.add_leak(0.3)
    for t in np.arange(t0, t0 + 2 * HOUR, 97.0):
        leaking.advance(float(t))
        healthy.advance(float(t))
        assert leaking.values()["water_flow"] == pytest.approx(
            healthy.values()["water_flow"] + 0.3)
    leaking.advance(t0 + 2 * HOUR)
    healthy.advance(t0 + 2 * HOUR)
    leak, ok = leaking.values(), healthy.values()
    assert leak["water_volume"] - ok["water_volume"] == pytest.approx(0.6, abs=1e-6)
    assert leak["water_volume_net"] - ok["water_volume_net"] == pytest.approx(0.6, abs=1e-6)
    assert leak["flow_velocity"] > ok["flow_velocity"]


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "water"])
def test_only_water_meters_can_leak(kind: str) -> None:
    with pytest.raises(ValueError, match="leak"):
        make_physics(kind, seed=1, unit=1, start=WINTER_MONDAY).add_leak(0.1)


def test_a_negative_leak_is_refused() -> None:
    with pytest.raises(ValueError, match="leak flow"):
        make_physics("water", seed=1, unit=1, start=WINTER_MONDAY).add_leak(-0.1)


# --- speed -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_two_week_jump_is_integrated_in_one_go(kind: str) -> None:
    meter = make_physics(kind, seed=1, unit=1, start=WINTER_MONDAY)
    before = meter.values()
    began = time.perf_counter()
    meter.advance(WINTER_MONDAY + 14 * DAY)
    after = meter.values()
    jump_s = time.perf_counter() - began
    began = time.perf_counter()
    for step in range(1, 3601):
        meter.advance(WINTER_MONDAY + 14 * DAY + step)
    step_us = (time.perf_counter() - began) / 3600 * 1e6
    print(f"{kind}: 14-day jump {jump_s * 1e3:.0f} ms, 1 s advance {step_us:.1f} µs")
    assert all(after[n] >= before[n] for n in before if n in COUNTERS)
