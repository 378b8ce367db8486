"""Consumption against the robust time-of-week baseline; cold start."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.detectors.baseline import robust_z
from analytics.detectors.settings import DetectorSettings
from analytics.events import AlertKind
from tests.analytics.detectors._data import DAY, T0, H, counter, elec, grid, of_kind, office_kw, readings, run

E = "energy_active_import"


def _with_anomaly(days: float, at: int, hours: float, factor: float) -> tuple[np.ndarray, np.ndarray]:
    ts = grid(days)
    kw = office_kw(ts, noise=0.05)
    win = (ts >= at) & (ts < at + round(hours * H))
    return ts, counter(ts, np.where(win, kw * factor, kw))


def test_anomaly_found_with_its_start_and_subject() -> None:
    at = T0 + 29 * DAY + 10 * H  # a Wednesday in week 5: four weeks of baseline
    ts, v = _with_anomaly(35, at, 3, 2.0)
    found = run(readings(("E1", E, ts, v)), [elec()])
    (d,) = of_kind(found, AlertKind.CONSUMPTION_ANOMALY)
    assert d.subject == "E1" and d.start_ns == at
    assert d.end_ns == at + 3 * H
    assert d.value > d.threshold  # consumption per interval above the baseline median
    assert found == [d]


def test_drop_is_found_too() -> None:
    at = T0 + 29 * DAY + 10 * H
    ts, v = _with_anomaly(35, at, 3, 0.3)
    (d,) = of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY)
    assert d.start_ns == at and d.value < d.threshold


def test_clean_weeks_give_nothing() -> None:
    ts = grid(35)
    v = counter(ts, office_kw(ts, noise=0.05, seed=4))
    assert run(readings(("E1", E, ts, v)), [elec()]) == []


def test_short_blip_below_the_minimum_duration_is_ignored() -> None:
    at = T0 + 29 * DAY + 10 * H
    ts, v = _with_anomaly(35, at, 0.5, 3.0)
    assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY) == []


def test_cold_start_uses_previous_days_and_is_silent_at_first() -> None:
    # day 3 (Thursday): two workdays of history, the cold-start baseline finds a doubling
    at = T0 + 3 * DAY + 10 * H
    ts, v = _with_anomaly(5, at, 3, 2.5)
    (d,) = of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY)
    assert d.start_ns == at
    # day 1: one day of history only, nothing is said however large the deviation
    at = T0 + 1 * DAY + 10 * H
    ts, v = _with_anomaly(2, at, 3, 5.0)
    assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY) == []


def test_cold_start_threshold_is_wider() -> None:
    at = T0 + 3 * DAY + 10 * H
    ts, v = _with_anomaly(5, at, 3, 1.3)  # 30 %: above min_rel_dev 25 %, below 25 % x 1.5
    assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY) == []
    at = T0 + 29 * DAY + 10 * H
    ts, v = _with_anomaly(35, at, 3, 1.45)  # with weeks of history the same kind of step is found
    assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY) != []


def test_missing_history_is_not_zero_history() -> None:
    # a week of comm loss in the history: its NaN cells are absent, not zeros dragging the median down
    ts = grid(35)
    v = counter(ts, office_kw(ts, noise=0.05))
    keep = (ts < T0 + 7 * DAY) | (ts >= T0 + 14 * DAY)
    found = run(readings(("E1", E, ts[keep], v[keep])), [elec()])
    assert {d.kind for d in found} == {AlertKind.COMM_LOSS}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=8), st.floats(-1e3, 1e3),
       st.floats(0.1, 100.0), st.floats(-1e3, 1e3))
def test_robust_z_is_invariant_to_shift_and_scale(hist: list[float], x: float, a: float, b: float) -> None:
    h = np.array([hist])
    z1, med1, n1 = robust_z(np.array([x]), h, np.array([1e-3]))
    z2, med2, n2 = robust_z(np.array([a * x + b]), a * h + b, np.array([a * 1e-3]))
    assert n1[0] == n2[0] == len(hist)
    assert np.isclose(med2[0], a * med1[0] + b, rtol=1e-9, atol=1e-6)
    assert np.isclose(z1[0], z2[0], rtol=1e-6, atol=1e-6)


def test_robust_z_ignores_nan_history() -> None:
    z, med, n = robust_z(np.array([10.0]), np.array([[1.0, np.nan, 1.0, 3.0, np.nan]]), np.array([0.0]))
    assert n[0] == 3 and med[0] == 1.0 and z[0] == np.inf


@pytest.mark.parametrize("n_rows", [1, 2, 13])
def test_history_of_a_block_of_steps_equals_each_step_bit_for_bit(n_rows: int) -> None:
    """The batch's block-wise history statistics are the ring reads of each step, to the last bit,
    with the day-type mask (holidays, adjusted working days) applied alike."""
    from analytics.detectors.baseline import _Ahead, _same_type, _windows
    from analytics.detectors.history import IntervalRing

    s = DetectorSettings()
    weeks, w, per_week = s.baseline_weeks, s.window_intervals, 7 * s.per_day
    rng = np.random.default_rng(n_rows)
    n_k = weeks * per_week + 3 * w + _Ahead.BLOCK  # past the ring's start, over a block boundary
    values = rng.lognormal(1.0, 1.5, (n_rows, n_k))
    values[rng.random(values.shape) < 0.05] = np.nan
    week_lags = per_week * np.arange(1, weeks + 1, dtype=np.int64)
    win_now = np.arange(w, dtype=np.int64)
    win_lags = (week_lags[:, None] + win_now[None, :]).ravel()
    # day types by whole days, a few of them flipped (holidays on workdays, working weekends)
    days = np.arange(n_k) // s.per_day
    workday = ((days % 7) < 5) ^ (rng.random((n_rows, days.max() + 1)) < 0.1)[:, days]
    week_now, win_lags_now = week_lags % per_week, win_lags % per_week
    ahead = _Ahead(values, workday.astype(float), (week_lags, win_now, win_lags),
                   (week_now, win_lags_now), w)
    ring = IntervalRing(n_rows, (weeks + 1) * per_week + w)
    types = IntervalRing(n_rows, (weeks + 1) * per_week + w)
    rows = np.arange(n_rows)
    masked = 0
    for k in sorted({*range(0, n_k, 97), weeks * per_week + w, _Ahead.BLOCK, n_k - 1}):
        while ring.count <= k:
            ring.push(values[:, ring.count])
            types.push(workday[:, types.count].astype(float))
        hist = _same_type(ring.at(week_lags, rows), types.at(week_lags), types.at(week_now))
        past = _same_type(ring.at(win_lags, rows), types.at(win_lags), types.at(win_lags_now))
        masked += int(np.isnan(hist).sum() - np.isnan(ring.at(week_lags, rows)).sum())
        one = _windows(hist, ring.at(win_now, rows), past, w)
        block = ahead.at(k)
        for name in ("hist", "now", "xw", "hw", "med", "mad", "med_w", "mad_w", "slot_median"):
            np.testing.assert_array_equal(getattr(block, name), getattr(one, name), err_msg=name)
    assert masked > 0  # the mask did drop some weeks
