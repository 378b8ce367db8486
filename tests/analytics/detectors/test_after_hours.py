"""After-hours waste and base-load creep."""

from __future__ import annotations

import numpy as np

from analytics.events import AlertKind
from tests.analytics.detectors._data import (
    DAY,
    T0,
    H,
    counter,
    elec,
    grid,
    local,
    of_kind,
    office_kw,
    readings,
    run,
)

E = "energy_active_import"


def test_base_load_step_of_25_percent_found_within_three_nights() -> None:
    ts = grid(28)
    kw = office_kw(ts) + np.where(ts >= T0 + 17 * DAY + 14 * H, 0.5, 0.0)  # base 2 kW -> 2.5 kW
    found = run(readings(("E1", E, ts, counter(ts, kw))), [elec()])
    (d,) = of_kind(found, AlertKind.BASE_LOAD_CREEP)
    assert d.subject == "E1"
    # Thursday to Sunday nights: the Saturday night has too few Saturdays of reference to be judged,
    # so the median of the last three nights is above creep_enter (20 %) at the third
    assert int(d.details["detected_ns"]) <= T0 + 20 * DAY + 5 * H + 2 * 900 * 10**9
    assert np.isclose(d.value, 2.5, rtol=0.05) and np.isclose(d.threshold, 2.0, rtol=0.05)
    assert of_kind(found, AlertKind.AFTER_HOURS_WASTE) == []


def test_small_base_load_wobble_is_not_creep() -> None:
    ts = grid(28)
    kw = office_kw(ts) + np.where(ts >= T0 + 17 * DAY, 0.1, 0.0)  # +5 %
    assert run(readings(("E1", E, ts, counter(ts, kw))), [elec()]) == []


def test_evening_waste_found_and_not_called_creep() -> None:
    ts = grid(28)
    hour, work = local(ts)
    # lights left on until midnight on five working days
    waste = (ts >= T0 + 16 * DAY) & (ts < T0 + 21 * DAY) & (hour >= 18) & work
    kw = office_kw(ts) + np.where(waste, 6.0, 0.0)
    found = run(readings(("E1", E, ts, counter(ts, kw))), [elec()])
    (d,) = of_kind(found, AlertKind.AFTER_HOURS_WASTE)
    assert d.subject == "E1"
    assert d.start_ns == T0 + 16 * DAY + 5 * H  # the meter's day runs 05:00 to 05:00
    assert d.end_ns is not None and d.end_ns <= T0 + 21 * DAY + 5 * H
    assert of_kind(found, AlertKind.BASE_LOAD_CREEP) == []


def test_a_circuit_that_follows_no_schedule_has_no_after_hours_waste() -> None:
    """A 24/7 load (a server room: 4 kW day and night, ±5 %, a little more in the afternoons) whose
    evenings rise for five days is not "waste after hours": it has no hours off. The same rise on the
    office circuit is."""
    ts = grid(28)
    hour, work = local(ts)
    rng = np.random.default_rng(3)
    flat = 4.0 + 0.5 * ((hour >= 12) & (hour < 18)) + rng.uniform(-0.2, 0.2, len(ts))
    rise = (ts >= T0 + 16 * DAY) & (ts < T0 + 21 * DAY) & (hour >= 18) & work
    found = run(readings(("S1", E, ts, counter(ts, flat + np.where(rise, 3.0, 0.0))),
                         ("E1", E, ts, counter(ts, office_kw(ts) + np.where(rise, 6.0, 0.0)))),
                [elec("S1"), elec("E1")])
    assert [d.subject for d in of_kind(found, AlertKind.AFTER_HOURS_WASTE)] == ["E1"]


def test_daily_detectors_silent_without_a_week_of_history() -> None:
    ts = grid(6)
    kw = office_kw(ts) + np.where(ts >= T0 + 3 * DAY, 1.5, 0.0)
    found = run(readings(("E1", E, ts, counter(ts, kw))), [elec()])
    assert of_kind(found, AlertKind.BASE_LOAD_CREEP) == of_kind(found, AlertKind.AFTER_HOURS_WASTE) == []


def test_a_load_its_baseline_cannot_predict_has_no_waste_or_creep() -> None:
    """A household-like circuit (every quarter-hour ×/÷ 3 around an office shape) whose nights and
    evenings then rise by 60 % for ten days: nothing its own history would call unusual, so neither
    after-hours waste nor base-load creep. The same rise on the steady office circuit is creep."""
    ts = grid(35)
    rise = np.where(ts >= T0 + 20 * DAY, 1.2, 0.0)
    noisy = office_kw(ts, noise=0.0) * np.random.default_rng(5).lognormal(0.0, 1.1, len(ts))
    found = run(readings(("H1", E, ts, counter(ts, noisy + rise)),
                         ("E1", E, ts, counter(ts, office_kw(ts) + rise))), [elec("H1"), elec("E1")])
    kinds = (AlertKind.AFTER_HOURS_WASTE, AlertKind.BASE_LOAD_CREEP)
    assert {d.subject for d in found if d.kind in kinds} == {"E1"}
