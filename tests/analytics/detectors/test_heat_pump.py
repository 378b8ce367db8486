"""Heat pump COP against its expectation for the outdoor temperature."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.detectors import MeterRole
from analytics.detectors.heat_pump import expected_cop
from analytics.events import AlertKind
from tests.analytics.detectors._data import DAY, T0, H, counter, grid, readings, run

ROLES = [MeterRole("HPE", "B1", "heat_pump", "energy_active_import"),
         MeterRole("HPH", "B1", "heat", "heat_energy", pair="HPE")]


def _pump(days: float, degrade_from: int | None = None, factor: float = 1.0):
    ts = grid(days)
    t_out = 2.0 + 6.0 * np.sin(2 * np.pi * (ts - T0) / DAY) + 4.0 * np.sin(2 * np.pi * (ts - T0) / (9 * DAY))
    heat = 20.0 * np.clip((16.0 - t_out) / 26.0, 0.05, 1.0)  # kW
    cop = 2.0 + 0.08 * (t_out + 10.0)
    elec = heat / cop
    if degrade_from is not None:
        elec = np.where(ts >= degrade_from, elec * factor, elec)
    rd = readings(("HPE", "energy_active_import", ts, counter(ts, elec)),
                  ("HPH", "heat_energy", ts, counter(ts, heat)))
    return rd, (ts, t_out)


def test_cop_drop_found_on_the_heat_meter() -> None:
    rd, temp = _pump(20, T0 + 14 * DAY + 5 * H, 1.4)
    (d,) = run(rd, ROLES, outdoor_temp=temp)
    assert d.kind == AlertKind.HEAT_PUMP_COP and d.subject == "HPH"
    assert d.start_ns == T0 + 14 * DAY + 5 * H
    assert d.value < 0.8 * d.threshold


def test_healthy_pump_following_the_weather_is_fine() -> None:
    rd, temp = _pump(20)
    assert run(rd, ROLES, outdoor_temp=temp) == []


def test_without_outdoor_temperature_the_median_cop_is_the_reference() -> None:
    rd, _ = _pump(20, T0 + 14 * DAY + 5 * H, 1.6)
    found = run(rd, ROLES)
    assert [d.kind for d in found] == [AlertKind.HEAT_PUMP_COP]


@settings(max_examples=50, deadline=None)
@given(st.floats(1.0, 4.0), st.floats(-0.1, 0.2),
       st.lists(st.floats(-15, 15), min_size=7, max_size=20, unique=True), st.floats(-15, 15))
def test_expected_cop_recovers_a_straight_line(a: float, b: float, temps: list[float], now: float) -> None:
    t = np.array([temps])
    if np.ptp(t) < 2.0:
        return
    exp = expected_cop(a + b * t, t, np.array([now]), 7)
    assert np.isclose(exp[0], a + b * now, rtol=1e-6, atol=1e-6)


def test_expected_cop_needs_enough_days() -> None:
    t = np.array([[1.0, 5.0, np.nan, 9.0]])
    assert np.isnan(expected_cop(np.array([[3.0, 3.2, np.nan, 3.4]]), t, np.array([4.0]), 7)[0])
