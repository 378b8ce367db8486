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
    assert d.details["pair"] == "HPE" and d.details["building"] == "B1"


def test_healthy_pump_following_the_weather_is_fine() -> None:
    rd, temp = _pump(20)
    assert run(rd, ROLES, outdoor_temp=temp) == []


def test_without_outdoor_temperature_the_days_heat_stands_in() -> None:
    rd, _ = _pump(20, T0 + 14 * DAY + 5 * H, 1.6)
    found = run(rd, ROLES)
    assert [d.kind for d in found] == [AlertKind.HEAT_PUMP_COP]
    rd, _ = _pump(20)  # healthy, the weather swinging over 9 days: no temperatures, no alert either
    assert run(rd, ROLES) == []


def _site_of_pumps(n: int, faulty: set[int], cold_snap: bool) -> tuple[list[MeterRole], object]:
    """`n` heat pumps under one sky (a 9-day weather swing, optionally a 3-day cold snap from day 14);
    those in `faulty` lose 40 % of their COP from day 14."""
    ts = grid(20)
    t_out = 2.0 + 6.0 * np.sin(2 * np.pi * (ts - T0) / DAY) + 4.0 * np.sin(2 * np.pi * (ts - T0) / (9 * DAY))
    if cold_snap:
        t_out = t_out - np.where((ts >= T0 + 14 * DAY) & (ts < T0 + 17 * DAY), 14.0, 0.0)
    roles: list[MeterRole] = []
    series = []
    for i in range(n):
        heat = (15.0 + 5 * i) * np.clip((16.0 - t_out) / 26.0, 0.05, 1.0)
        elec = heat / np.clip(2.0 + 0.08 * (t_out + 10.0), 1.2, None)
        if i in faulty:
            elec = np.where(ts >= T0 + 14 * DAY + 5 * H, elec * 1.6, elec)
        roles += [MeterRole(f"E{i}", "B1", "heat_pump", "energy_active_import"),
                  MeterRole(f"Q{i}", "B1", "heat", "heat_energy", pair=f"E{i}")]
        series += [(f"E{i}", "energy_active_import", ts, counter(ts, elec)),
                   (f"Q{i}", "heat_energy", ts, counter(ts, heat))]
    return roles, readings(*series)


def test_a_drop_every_heat_pump_of_the_site_shares_is_the_weather() -> None:
    roles, rd = _site_of_pumps(3, set(), cold_snap=True)
    assert [d for d in run(rd, roles) if d.kind == AlertKind.HEAT_PUMP_COP] == []
    roles, rd = _site_of_pumps(3, {1}, cold_snap=False)  # one machine of three: its own fault
    assert [d.subject for d in run(rd, roles) if d.kind == AlertKind.HEAT_PUMP_COP] == ["Q1"]


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
