"""Interval aggregation against a plain-Python oracle, hypothesis properties, and one test per flag."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import _kernels
from analytics.flags import IntervalFlag as F
from analytics.intervals import interval_consumption, interval_mean

S = 1_000_000_000  # ns per second
NS_H = 3600 * S


# ------------------------------------------------------------------------------------------- the oracle


def _clean(meter, ts, value):
    """Per meter: readings sorted by time, NaN dropped, duplicate timestamps → the largest value."""
    per: dict = {}
    for m, t, v in zip(meter.tolist(), ts.tolist(), value.tolist(), strict=True):
        if math.isnan(v):
            continue
        d = per.setdefault(m, {})
        d[t] = max(d.get(t, -math.inf), v)
    return {m: sorted(d.items()) for m, d in per.items()}


def gap_limit(pts, max_gap_s):
    """The documented rule: a fixed limit, or max(15 min, 4 × the median of the meter's steps)."""
    if max_gap_s is not None:
        return max_gap_s * S
    steps = [t1 - t0 for (t0, _), (t1, _) in itertools.pairwise(pts)]
    return max(900 * S, 4 * statistics.median(steps)) if steps else math.inf


def oracle_consumption(meter, ts, value, start, end, interval_s, rollover=None, max_rate=None,
                       max_gap_s=None):
    """Loop over steps; each step's counted delta is spread over the intervals in proportion to time."""
    step = round(interval_s * S)
    n_int = -(-(end - start) // step)
    meters = sorted(set(meter.tolist()))
    cons = [[0.0] * n_int for _ in meters]
    cov = [[0.0] * n_int for _ in meters]
    per = _clean(meter, ts, value)
    rates = max_rate if isinstance(max_rate, dict) else dict.fromkeys(meters, max_rate)
    for row, m in enumerate(meters):
        pts = per.get(m, [])
        gap = gap_limit(pts, max_gap_s)
        max_rate = rates.get(m)
        for (t0, v0), (t1, v1) in itertools.pairwise(pts):
            dt, dv = t1 - t0, v1 - v0
            covered = dt <= gap
            if not covered:
                delta = 0.0
            elif dv < 0:
                delta = 0.0
                if rollover is not None:
                    rise = dv + rollover
                    ok = (-dv > rollover / 2) if max_rate is None else (rise * 3600 * S <= max_rate * dt)
                    if ok and rise >= 0:
                        delta = rise
            elif max_rate is not None and dv > max_rate * dt / (3600 * S):
                delta = 0.0
            else:
                delta = dv
            for k in range(n_int):
                a, b = start + k * step, start + (k + 1) * step
                ov = max(0, min(b, t1) - max(a, t0))
                if ov:
                    cons[row][k] += delta * ov / dt
                    if covered:
                        cov[row][k] += ov / step
    c = np.array(cons, dtype=float).reshape(len(meters), n_int)
    cv = np.array(cov, dtype=float).reshape(len(meters), n_int)
    c[cv <= 0] = np.nan
    return np.array(meters), c, cv


def oracle_mean(meter, ts, value, start, end, interval_s, max_gap_s=None):
    step = round(interval_s * S)
    n_int = -(-(end - start) // step)
    meters = sorted(set(meter.tolist()))
    out = np.full((len(meters), n_int), np.nan)
    per = _clean(meter, ts, value)
    for row, m in enumerate(meters):
        pts = per.get(m, [])
        gap = gap_limit(pts, max_gap_s)
        for k in range(n_int):
            a, b = start + k * step, start + (k + 1) * step
            area = covered = 0.0
            for (t0, v0), (t1, v1) in itertools.pairwise(pts):
                if t1 - t0 > gap:
                    continue
                lo, hi = max(a, t0), min(b, t1)
                if hi <= lo:
                    continue
                va = v0 + (v1 - v0) * (lo - t0) / (t1 - t0)
                vb = v0 + (v1 - v0) * (hi - t0) / (t1 - t0)
                area += (va + vb) / 2 * (hi - lo)
                covered += hi - lo
            if covered:
                out[row, k] = area / covered
    return out


# ----------------------------------------------------------------------------------------- generators


@st.composite
def counter_data(draw, resets=False, dups=False, nans=False, max_meters=4, max_n=25):
    n_m = draw(st.integers(1, max_meters))
    meter, ts, value = [], [], []
    for m in range(n_m):
        n = draw(st.integers(0, max_n))
        times = sorted(draw(st.lists(st.integers(-300, 4000), min_size=n, max_size=n, unique=not dups)))
        c = draw(st.floats(0, 1e6))
        for t in times:
            c += draw(st.floats(0, 50))
            v = c
            if resets and draw(st.integers(0, 9)) == 0:
                c = v = draw(st.floats(0, 100))
            if nans and draw(st.integers(0, 9)) == 0:
                v = math.nan
            meter.append(m * 7 + 3)
            ts.append(t * S)
            value.append(v)
    return np.array(meter, np.int64), np.array(ts, np.int64), np.array(value, np.float64)


def _assert_same(result, meters, cons, cov):
    np.testing.assert_array_equal(result.meters, meters)
    np.testing.assert_allclose(result.coverage, cov, rtol=1e-9, atol=1e-12)
    scale = max(1.0, float(np.nanmax(np.abs(cons))) if np.isfinite(cons).any() else 1.0)
    np.testing.assert_allclose(result.values, cons, rtol=1e-9, atol=1e-9 * scale, equal_nan=True)


# ------------------------------------------------------------------------------------- oracle tests

PROP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROP
@given(counter_data(resets=True, dups=True, nans=True), st.sampled_from([300, 600, 1000]),
       st.sampled_from([None, 400.0, math.inf]), st.sampled_from([None, 20_000.0]))
def test_consumption_matches_oracle(data, interval_s, max_gap_s, max_rate):
    meter, ts, value = data
    got = interval_consumption(meter, ts, value, 0, 3600 * S, interval_s, max_gap_s=max_gap_s,
                               max_rate=max_rate)
    _assert_same(got, *oracle_consumption(meter, ts, value, 0, 3600 * S, interval_s, max_rate=max_rate,
                                          max_gap_s=max_gap_s))


@PROP
@given(counter_data(resets=True, dups=True), st.sampled_from([None, 500.0, "per-meter"]), st.booleans())
def test_consumption_matches_oracle_across_blocks(data, max_rate, reverse_groups):
    """Tiny blocks, so every full-length pass (and its threads) crosses many block boundaries."""
    meter, ts, value = data
    if reverse_groups:  # grouped by meter but ids descending: still the fast path
        order = np.lexsort((ts, -meter))
        meter, ts, value = meter[order], ts[order], value[order]
    if max_rate == "per-meter":
        max_rate = {m: (300.0 if m % 2 else 30_000.0) for m in set(meter.tolist())}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_kernels, "BLOCK", 3)
        got = interval_consumption(meter, ts, value, 0, 3600 * S, 600, max_gap_s=math.inf,
                                   max_rate=max_rate)
        mean = interval_mean(meter, ts, value, 0, 3600 * S, 600, max_gap_s=math.inf)
    _assert_same(got, *oracle_consumption(meter, ts, value, 0, 3600 * S, 600, max_gap_s=math.inf,
                                          max_rate=max_rate))
    want_mean = oracle_mean(meter, ts, value, 0, 3600 * S, 600, max_gap_s=math.inf)
    np.testing.assert_allclose(mean.mean, want_mean, rtol=1e-9, atol=1e-6, equal_nan=True)


@PROP
@given(counter_data(resets=True, dups=True, nans=True), st.randoms(use_true_random=False))
def test_string_ids_any_order(data, rnd):
    meter, ts, value = data
    names = np.array([f"meter-{m}" for m in meter.tolist()], dtype=str)
    perm = np.arange(len(ts))
    rnd.shuffle(perm)
    got = interval_consumption(names[perm], ts[perm], value[perm], 0, 3600 * S, 600)
    _, cons, cov = oracle_consumption(names, ts, value, 0, 3600 * S, 600)
    _assert_same(got, np.array(sorted(set(names.tolist()))), cons, cov)


@settings(max_examples=60, deadline=None)
@given(counter_data(resets=True, dups=True, nans=True), st.randoms(use_true_random=False))
def test_sparse_ids_and_very_wide_time_range_use_the_fallback_sorts(data, rnd):
    """Ids spread over 10**15 (np.unique instead of a lookup table); one reading in 1897 (lexsort)."""
    meter, ts, value = data
    meter = meter * 10**15
    ts = np.append(ts, -(2**61))
    meter = np.append(meter, meter[:1] if len(meter) else [3])
    value = np.append(value, 0.0)
    perm = np.arange(len(ts))
    rnd.shuffle(perm)
    meter, ts, value = meter[perm], ts[perm], value[perm]
    got = interval_consumption(meter, ts, value, 0, 3600 * S, 600, max_gap_s=500)
    _assert_same(got, *oracle_consumption(meter, ts, value, 0, 3600 * S, 600, max_gap_s=500))


@PROP
@given(counter_data(dups=True, nans=True), st.sampled_from([300, 700]), st.sampled_from([None, 400.0]))
def test_mean_matches_oracle(data, interval_s, max_gap_s):
    meter, ts, value = data
    got = interval_mean(meter, ts, value, 0, 3600 * S, interval_s, max_gap_s=max_gap_s)
    want = oracle_mean(meter, ts, value, 0, 3600 * S, interval_s, max_gap_s=max_gap_s)
    np.testing.assert_allclose(got.mean, want, rtol=1e-9, atol=1e-6, equal_nan=True)


# ------------------------------------------------------------------------------------------ properties


@PROP
@given(counter_data(dups=True))
def test_no_resets_sum_is_last_minus_first(data):
    meter, ts, value = data
    got = interval_consumption(meter, ts, value, -300 * S, 4001 * S, 900, max_gap_s=math.inf)
    per = _clean(meter, ts, value)
    for row, m in enumerate(got.meters.tolist()):
        pts = per[m]
        want = pts[-1][1] - pts[0][1]
        total = float(np.nansum(got.consumption[row]))
        assert total == pytest.approx(want, rel=1e-9, abs=1e-9 * max(1.0, abs(pts[0][1])))


@st.composite
def true_and_read(draw, rollover):
    """Readings of one meter whose true consumption is known, with resets or rollovers injected."""
    n = draw(st.integers(2, 40))
    incs = draw(st.lists(st.floats(0, 40), min_size=n - 1, max_size=n - 1))
    c = draw(st.floats(0, 999))
    read = [c]
    for inc in incs:
        if rollover:
            c = (c + inc) % 1000.0
        else:
            # a reset: the meter restarts below its last reading (the step's true energy is lost)
            c = c * draw(st.floats(0, 0.99)) if draw(st.integers(0, 5)) == 0 else c + inc
        read.append(c)
    ts = np.arange(n, dtype=np.int64) * 10 * S
    return ts, np.array(read), float(sum(incs))


@PROP
@given(true_and_read(rollover=False))
def test_resets_never_create_negative_or_phantom_energy(data):
    ts, read, true_total = data
    got = interval_consumption(np.zeros(len(ts), int), ts, read, 0, int(ts[-1]) + S, 60)
    assert np.all(np.nan_to_num(got.consumption) >= 0)
    assert np.nansum(got.consumption) <= true_total * (1 + 1e-9) + 1e-9


@PROP
@given(true_and_read(rollover=True))
def test_rollovers_count_exactly_the_true_energy(data):
    ts, read, true_total = data
    got = interval_consumption(np.zeros(len(ts), int), ts, read, 0, int(ts[-1]) + S, 60, rollover=1000.0)
    assert np.all(np.nan_to_num(got.consumption) >= 0)
    assert np.nansum(got.consumption) == pytest.approx(true_total, rel=1e-9, abs=1e-6)


@PROP
@given(counter_data(resets=True, dups=True, nans=True), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_input_order(data, rnd):
    meter, ts, value = data
    perm = np.arange(len(ts))
    rnd.shuffle(perm)
    a = interval_consumption(meter, ts, value, 0, 3600 * S, 600, max_rate=30_000.0, rollover=1e6)
    b = interval_consumption(meter[perm], ts[perm], value[perm], 0, 3600 * S, 600, max_rate=30_000.0,
                             rollover=1e6)
    np.testing.assert_array_equal(a.meters, b.meters)
    np.testing.assert_allclose(a.consumption, b.consumption, rtol=1e-12, atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(a.coverage, b.coverage)
    np.testing.assert_array_equal(a.flags, b.flags)
    ma = interval_mean(meter, ts, value, 0, 3600 * S, 600)
    mb = interval_mean(meter[perm], ts[perm], value[perm], 0, 3600 * S, 600)
    np.testing.assert_allclose(ma.mean, mb.mean, rtol=1e-12, equal_nan=True)


@PROP
@given(counter_data(dups=True), st.floats(-1e9, 1e9, allow_nan=False), st.sampled_from([None, 400.0]))
def test_mean_of_a_constant_is_that_constant(data, const, max_gap_s):
    meter, ts, _ = data
    got = interval_mean(meter, ts, np.full(len(ts), const), 0, 3600 * S, 600, max_gap_s=max_gap_s)
    vals = got.mean[got.coverage > 0]
    assert np.all(vals == const)
    assert np.all(np.isnan(got.mean[got.coverage == 0]))


# ------------------------------------------------------------------------------------------ the flags


def one(ts_s, values, start=0, end=3600, interval_s=900, **kw):
    ts = np.asarray(ts_s, np.int64) * S
    return interval_consumption(np.zeros(len(ts), int), ts, np.asarray(values, float), start * S,
                                end * S, interval_s, **kw)


def test_linear_split_across_a_boundary():
    r = one([0, 1800], [0, 30], end=1800, max_gap_s=3600)
    np.testing.assert_allclose(r.consumption, [[15.0, 15.0]])
    assert (r.flags == 0).all() and (r.coverage == 1).all()


def test_gap_flag_and_coverage():
    r = one([0, 300, 600, 2400, 2700, 3600], [0, 1, 2, 50, 51, 54])  # default max gap: 900 s
    assert r.flags[0, 0] & F.GAP and r.flags[0, 1] & F.GAP and r.flags[0, 2] & F.GAP
    assert not r.flags[0, 3] & F.GAP
    np.testing.assert_allclose(r.coverage[0], [600 / 900, 0, 300 / 900, 1])
    assert math.isnan(r.consumption[0, 1]) and r.flags[0, 1] & F.NO_DATA
    assert r.flags[0, 0] & F.PARTIAL and r.flags[0, 2] & F.PARTIAL
    np.testing.assert_allclose(r.consumption[0, [0, 2, 3]], [2, 1, 3])  # the 48 across the gap is not counted
    r = one([0, 300, 600, 2400, 2700, 3600], [0, 1, 2, 50, 51, 54], max_gap_s=600)
    assert r.flags[0, 3] & F.GAP and r.flags[0, 3] & F.NO_DATA


def test_reset_starts_a_new_segment():
    r = one([0, 900, 1800, 2700], [100, 110, 5, 15])
    assert r.flags[0, 1] & F.RESET and not r.flags[0, 0] & F.RESET
    np.testing.assert_allclose(r.consumption[0, :3], [10, 0, 10])


def test_rollover_counts_the_wrap():
    r = one([0, 900, 1800], [9990, 9998, 3], rollover=10_000)
    assert r.flags[0, 1] & F.ROLLOVER and not r.flags[0, 1] & F.RESET
    np.testing.assert_allclose(r.consumption[0, :2], [8, 5])


def test_rollover_implausible_under_max_rate_is_a_reset():
    r = one([0, 900, 1800], [9990, 9998, 3], rollover=10_000, max_rate=10)  # implied rise 5 in 15 min = 20/h
    assert r.flags[0, 1] & F.RESET and not r.flags[0, 1] & F.ROLLOVER
    assert r.consumption[0, 1] == 0


def test_rollover_per_meter_mapping_and_small_drop_is_reset():
    ts = np.array([0, 900, 1800, 0, 900, 1800]) * S
    v = np.array([990, 995, 2, 500, 600, 10.0])
    r = interval_consumption(np.array(["a", "a", "a", "b", "b", "b"]), ts, v, 0, 3600 * S, 900,
                             rollover={"a": 1000.0})
    assert list(r.meters) == ["a", "b"]
    assert r.flags[0, 1] & F.ROLLOVER and r.flags[1, 1] & F.RESET
    np.testing.assert_allclose(r.consumption[:, :2], [[5, 7], [100, 0]])


def test_spike_is_flagged_and_excluded():
    r = one([0, 300, 600, 900, 1200], [0, 1, 500, 501, 502], max_rate=100)  # 499 in 5 min > 100/h
    assert r.flags[0, 0] & F.SPIKE and not r.flags[0, 1] & F.SPIKE
    np.testing.assert_allclose(r.consumption[0, :2], [2, 1])


def test_spike_per_meter_array():
    ts = np.array([0, 300, 600, 0, 300, 600]) * S
    v = np.array([0, 50, 100, 0, 50, 100.0])
    r = interval_consumption(np.array([2, 2, 2, 1, 1, 1]), ts, v, 0, 900 * S, 900, max_rate=[1000, 100])
    assert not r.flags[0, 0] & F.SPIKE and r.flags[1, 0] & F.SPIKE  # rows: meter 1, meter 2


def test_duplicates_keep_the_largest_value():
    r = one([0, 900, 900, 1800], [0, 8, 9, 12])
    assert r.flags[0, 1] & F.DUPLICATE and not r.flags[0, 0] & F.DUPLICATE
    np.testing.assert_allclose(r.consumption[0, :2], [9, 3])


def test_nan_is_ignored_not_zero():
    r = one([0, 450, 900], [10, math.nan, 20], end=900)
    assert r.flags[0, 0] & F.INVALID
    np.testing.assert_allclose(r.consumption, [[10]])


def test_partial_and_no_data():
    r = one([1350, 2250], [0, 9])
    np.testing.assert_allclose(r.coverage[0], [0, 0.5, 0.5, 0])
    assert r.flags[0, 0] & F.NO_DATA and r.flags[0, 1] & F.PARTIAL and r.flags[0, 3] & F.NO_DATA
    np.testing.assert_allclose(r.consumption[0, 1:3], [4.5, 4.5])


def test_meter_with_only_nan_readings_is_a_row_of_no_data():
    ts = np.array([0, 900, 0]) * S
    r = interval_consumption(np.array([1, 1, 2]), ts, np.array([0, 1, math.nan]), 0, 900 * S, 900)
    assert list(r.meters) == [1, 2]
    assert r.flags[1, 0] & F.NO_DATA and r.flags[1, 0] & F.INVALID and math.isnan(r.consumption[1, 0])


def test_grouped_but_unsorted_meter_ids_and_result_shape():
    ts = np.array([0, 900, 0, 900]) * S
    r = interval_consumption(np.array([9, 9, 4, 4]), ts, np.array([0, 1, 0, 2.0]), 0, 1000 * S, 900)
    assert list(r.meters) == [4, 9] and r.consumption.shape == (2, 2)
    np.testing.assert_array_equal(r.edges_ns, [0, 900 * S, 1800 * S])
    assert r.values is r.consumption and r.interval_s == 900 and r.start_ns == 0
    np.testing.assert_allclose(r.consumption[:, 0], [2, 1])
    with pytest.raises(AttributeError):
        _ = r.mean


def test_mean_trapezoid_and_empty_input():
    ts = np.array([0, 900]) * S
    r = interval_mean(np.array([1, 1]), ts, np.array([0.0, 10.0]), 0, 900 * S, 450)  # max gap 900 s
    np.testing.assert_allclose(r.mean, [[2.5, 7.5]])
    e = interval_consumption(np.array([], int), np.array([], np.int64), np.array([]), 0, 900 * S)
    assert e.consumption.shape == (0, 1)


def test_datetime64_timestamps_accepted():
    ts = np.array(["2024-01-01T00:00", "2024-01-01T00:15"], dtype="datetime64[m]")
    start = int(ts[0].astype("datetime64[ns]").astype(np.int64))
    r = interval_consumption(np.array([1, 1]), ts, np.array([0.0, 3.0]), start, start + 900 * S)
    np.testing.assert_allclose(r.consumption, [[3.0]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"meter": np.zeros((2, 1))}, "1-D"),
        ({"value": np.zeros(3)}, "equal lengths"),
        ({"ts_ns": np.zeros(2)}, "integer nanoseconds"),
        ({"end_ns": 0}, "after start_ns"),
        ({"interval_s": 0}, "positive"),
        ({"max_gap_s": -1}, "max_gap_s"),
        ({"rollover": [1, 2, 3]}, "aligned"),
        ({"max_rate": -5}, "> 0"),
    ],
)
def test_validation_errors(kwargs, message):
    args = {"meter": np.array([1, 1]), "ts_ns": np.array([0, S]), "value": np.array([0.0, 1.0]),
            "start_ns": 0, "end_ns": 900 * S}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        interval_consumption(**args)
