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


def test_a_drop_is_not_a_consumption_anomaly() -> None:
    # less consumption is no waste; a meter that stops counting is a stuck meter or a comm loss
    at = T0 + 29 * DAY + 10 * H
    ts, v = _with_anomaly(35, at, 3, 0.3)
    assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY) == []
    ts, v = _with_anomaly(35, at, 3, 2.0)  # the same meter, the same hours, doubled instead
    assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY) != []


def _household_kw(ts: np.ndarray, seed: int) -> np.ndarray:
    """A load whose every quarter-hour wanders by a factor of 3 (lognormal sigma 1.1) around an office
    shape: a dormitory or household-like circuit that no time-of-week baseline predicts."""
    rng = np.random.default_rng(seed)
    return office_kw(ts, noise=0.0) * rng.lognormal(0.0, 1.1, len(ts))


def test_a_meter_its_baseline_cannot_predict_is_not_judged() -> None:
    ts = grid(35)
    found = [of_kind(run(readings(("E1", E, ts, counter(ts, _household_kw(ts, seed)))), [elec()]),
                     AlertKind.CONSUMPTION_ANOMALY) for seed in range(3)]
    assert found == [[], [], []]
    # an office meter with the same shape and 5 % noise: the same doubling is found (test above)


def test_thresholds_scale_with_the_meters_own_noise() -> None:
    at = T0 + 29 * DAY + 10 * H
    ts = grid(35)
    win = (ts >= at) & (ts < at + 4 * H)
    quiet, noisy = office_kw(ts, noise=0.02, seed=1), office_kw(ts, noise=0.25, seed=1)
    step = 1.45  # +45 %: well beyond 4 x the quiet meter's noise, within 4 x the noisy one's

    def found(kw: np.ndarray, **settings: float) -> bool:
        rd = readings(("E1", E, ts, counter(ts, np.where(win, kw * step, kw))))
        return of_kind(run(rd, [elec()], DetectorSettings(**settings)), AlertKind.CONSUMPTION_ANOMALY) != []

    assert found(quiet)
    assert not found(noisy)
    assert found(noisy, baseline_noise_k=0.0)  # the 2-h window's z alone would have raised it


def test_clean_weeks_give_nothing() -> None:
    ts = grid(35)
    v = counter(ts, office_kw(ts, noise=0.05, seed=4))
    assert run(readings(("E1", E, ts, v)), [elec()]) == []


def test_short_blip_below_the_minimum_duration_is_ignored() -> None:
    at = T0 + 29 * DAY + 10 * H
    ts, v = _with_anomaly(35, at, 0.5, 3.0)
    assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY) == []


def test_cold_start_uses_previous_days_and_is_silent_at_first() -> None:
    # day 15 (Tuesday of week 3): two weeks of that slot, fewer than baseline_min_weeks; the cold
    # start (the same hour of the previous workdays) finds a doubling
    at = T0 + 15 * DAY + 10 * H
    ts, v = _with_anomaly(17, at, 3, 2.5)
    (d,) = of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY)
    assert d.start_ns == at
    # days 1 and 3: the meter's noise is not known yet (min_history_days days of verdicts' deviations):
    # nothing is said however large the deviation
    for day in (1, 3):
        at = T0 + day * DAY + 10 * H
        ts, v = _with_anomaly(day + 1, at, 3, 5.0)
        assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.CONSUMPTION_ANOMALY) == []


def test_cold_start_threshold_is_wider() -> None:
    at = T0 + 15 * DAY + 10 * H
    ts, v = _with_anomaly(17, at, 3, 1.3)  # 30 %: above min_rel_dev 25 %, below 25 % x 1.5
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
