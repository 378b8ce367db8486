"""Interval aggregation: counter readings → consumption per interval; instantaneous → time-weighted mean.

Public API: :func:`interval_consumption`, :func:`interval_mean`, :class:`IntervalResult`. Semantics are
documented in docs/analytics.md ("Interval aggregation"). Inputs are validated here, once; the kernels in
``analytics._kernels`` trust them. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics import _kernels as kern
from analytics.flags import FLAG_DTYPE, IntervalFlag

__all__ = ["IntervalResult", "interval_consumption", "interval_mean"]

DEFAULT_MAX_GAP_S = 900.0  # the adaptive gap limit is never below 15 min
GAP_CADENCE_FACTOR = 4.0  # adaptive: a step longer than 4 × the meter's typical step is a gap
CADENCE_SAMPLE = 257  # steps sampled per meter (evenly spread) for its typical step

PerMeter = float | Mapping[Any, float] | npt.ArrayLike | None


@dataclass(frozen=True)
class IntervalResult:
    """Per meter (rows) × per interval (columns).

    ``values`` holds the numbers: consumption for :func:`interval_consumption` (also ``.consumption``),
    the time-weighted mean for :func:`interval_mean` (also ``.mean``). NaN where coverage is 0.
    """

    meters: np.ndarray  # distinct meter ids, sorted; row order
    values: npt.NDArray[np.float64]  # (n_meters, n_intervals)
    coverage: npt.NDArray[np.float64]  # fraction 0..1 of each interval backed by readings on both sides
    flags: npt.NDArray[np.uint16]  # IntervalFlag bits per cell
    start_ns: int
    interval_s: float
    edges_ns: npt.NDArray[np.int64]  # n_intervals + 1 boundaries
    kind: str = "consumption"  # "consumption" or "mean"

    @property
    def consumption(self) -> npt.NDArray[np.float64]:
        if self.kind != "consumption":
            raise AttributeError("an interval_mean result has .mean (or .values), not .consumption")
        return self.values

    @property
    def mean(self) -> npt.NDArray[np.float64]:
        if self.kind != "mean":
            raise AttributeError("an interval_consumption result has .consumption (or .values), not .mean")
        return self.values

    @property
    def n_intervals(self) -> int:
        return len(self.edges_ns) - 1


# ---------------------------------------------------------------------------------------------- boundary


@dataclass(frozen=True)
class _Clean:
    """Readings grouped by run, time strictly increasing in each run, no NaN."""

    ts: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    cand: npt.NDArray[np.int64]  # candidate steps from the scan
    meters: np.ndarray  # row ids (sorted)
    run_rows: npt.NDArray[np.int64]  # row of each run
    dropped_rows: npt.NDArray[np.int64]  # readings dropped as duplicates / NaN: row and time
    dropped_ts: npt.NDArray[np.int64]
    dropped_dup: npt.NDArray[np.bool_]  # True: duplicate, False: NaN


def _as_arrays(meter: Any, ts_ns: Any, value: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = np.asarray(meter)
    t = np.asarray(ts_ns)
    v = np.asarray(value)
    for name, arr in (("meter", m), ("ts_ns", t), ("value", v)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if not (len(m) == len(t) == len(v)):
        raise ValueError(f"meter, ts_ns and value must have equal lengths, got {len(m)}, {len(t)}, {len(v)}")
    if m.dtype.kind not in "iuUSO":
        raise TypeError(f"meter ids must be integers or strings, got dtype {m.dtype}")
    if t.dtype.kind == "M":
        t = t.astype("datetime64[ns]").view(np.int64)
    elif t.dtype.kind in "iu":
        t = t.astype(np.int64, copy=False)
    else:
        raise TypeError(f"ts_ns must be integer nanoseconds (or datetime64), got dtype {t.dtype}")
    if v.dtype.kind not in "fiu":
        raise TypeError(f"value must be numeric, got dtype {v.dtype}")
    v = v.astype(np.float64, copy=False)
    return m, t, v


def _window(start_ns: int, end_ns: int, interval_s: float) -> npt.NDArray[np.int64]:
    step = round(float(interval_s) * 1e9)
    if not math.isfinite(float(interval_s)) or step <= 0:
        raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
    start, end = int(start_ns), int(end_ns)
    if end <= start:
        raise ValueError(f"end_ns ({end}) must be after start_ns ({start})")
    n_int = -(-(end - start) // step)
    return start + np.arange(n_int + 1, dtype=np.int64) * step


_NO_GAP = int(np.iinfo(np.uint64).max)


def _gap_ns(max_gap_s: float | None) -> int:
    """The scan's threshold: the fixed limit, or (adaptive, None) the floor every meter's limit is above."""
    g = DEFAULT_MAX_GAP_S if max_gap_s is None else float(max_gap_s)
    if not g > 0:
        raise ValueError(f"max_gap_s must be > 0 seconds (or inf), got {max_gap_s!r}")
    return _NO_GAP if math.isinf(g) else round(g * 1e9)


def typical_step_ns(ts: npt.NDArray[np.int64], starts: npt.NDArray[np.int64],
                    ends: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Per run, the median step (NaN for a single reading): of all steps when there are at most
    CADENCE_SAMPLE, else of CADENCE_SAMPLE evenly spread ones. The sample keeps this O(meters), not
    O(readings); the median ignores a few gaps and bursts."""
    n_steps = ends - starts - 1
    out = np.full(len(starts), np.nan)
    rows = np.flatnonzero(n_steps > 0)
    j = np.arange(CADENCE_SAMPLE, dtype=np.int64)[None, :]
    for a in range(0, len(rows), 4096):  # bounded temporaries: 4096 meters × CADENCE_SAMPLE at a time
        r = rows[a : a + 4096]
        n = n_steps[r, None]
        spread = np.floor(j / (CADENCE_SAMPLE - 1) * (n - 1)).astype(np.int64)
        pos = starts[r, None] + 1 + np.where(n <= CADENCE_SAMPLE, np.minimum(j, n - 1), spread)
        dt = (ts[pos] - ts[pos - 1]).astype(np.float64)
        dt[(n <= CADENCE_SAMPLE) & (j >= n)] = np.inf  # padding sorts last
        dt.sort(axis=1)
        cnt = np.minimum(n[:, 0], CADENCE_SAMPLE)
        k = np.arange(len(r))
        out[r] = 0.5 * (dt[k, (cnt - 1) // 2] + dt[k, cnt // 2])  # the median of the first cnt
    return out


def _run_gaps(cl: _Clean, max_gap_s: float | None, gap_ns: int) -> npt.NDArray[np.float64]:
    """Per run, the gap limit in ns: fixed, or max(15 min, GAP_CADENCE_FACTOR × typical step)."""
    if max_gap_s is not None:
        return np.full(len(cl.starts), np.inf if gap_ns == _NO_GAP else float(gap_ns))
    typical = typical_step_ns(cl.ts, cl.starts, cl.ends)
    return np.fmax(GAP_CADENCE_FACTOR * typical, DEFAULT_MAX_GAP_S * 1e9)


def _readings_and_window(meter: npt.ArrayLike, ts_ns: npt.ArrayLike, value: npt.ArrayLike, start_ns: int,
                         end_ns: int, interval_s: float, max_gap_s: float | None, *, counter: bool
                         ) -> tuple[_Clean, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The checked and cleaned readings, the interval edges and each run's gap limit (ns)."""
    m, t, v = _as_arrays(meter, ts_ns, value)
    edges = _window(start_ns, end_ns, interval_s)
    gap_ns = _gap_ns(max_gap_s)
    cl = _prepare(m, t, v, gap_ns, counter=counter)
    return cl, edges, _run_gaps(cl, max_gap_s, gap_ns)


def _prepare(m: np.ndarray, t: npt.NDArray[np.int64], v: npt.NDArray[np.float64], gap_ns: int,
             counter: bool) -> _Clean:
    empty = np.zeros(0, np.int64)
    if len(t):
        sc = kern.scan_steps(m, t, v, gap_ns, counter)
        starts = sc.starts
        ends = np.append(starts[1:], len(t)).astype(np.int64)
        c = sc.cand
        prev = np.maximum(c - 1, 0)
        dt = t[c] - t[prev]
        messy = bool(np.any(dt <= 0) or np.isnan(v[c]).any() or np.isnan(v[prev]).any()
                     or np.isnan(v[starts]).any())
        if not messy:
            ids = m[starts]
            if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
                return _Clean(t, v, starts, ends, c, ids, np.arange(len(ids), dtype=np.int64),
                              empty, empty, np.zeros(0, bool))
            uniq, inv = np.unique(ids, return_inverse=True)
            if len(uniq) == len(ids):  # grouped, just not in id order
                return _Clean(t, v, starts, ends, c, uniq, inv.astype(np.int64),
                              empty, empty, np.zeros(0, bool))
    # general path: codes, drop NaN, sort by (meter, time), keep the largest of equal timestamps
    uniq, codes = _codes(m)
    nan = np.isnan(v)
    nan_rows, nan_ts = codes[nan], t[nan]
    if nan.any():
        keep = ~nan
        codes, t, v = codes[keep], t[keep], v[keep]
    codes, t, v, dup_rows, dup_ts = _sort_dedupe(codes, t, v, len(uniq))
    t = np.ascontiguousarray(t)
    v = np.ascontiguousarray(v)
    if len(t):
        sc = kern.scan_steps(codes, t, v, gap_ns, counter)
        starts, cand = sc.starts, sc.cand
    else:
        starts, cand = empty, empty
    ends = np.append(starts[1:], len(t)).astype(np.int64)
    return _Clean(t, v, starts, ends, cand, uniq, codes[starts],
                  np.concatenate([dup_rows, nan_rows]), np.concatenate([dup_ts, nan_ts]),
                  np.concatenate([np.ones(len(dup_rows), bool), np.zeros(len(nan_rows), bool)]))


def _codes(m: np.ndarray) -> tuple[np.ndarray, npt.NDArray[np.int64]]:
    """Distinct sorted ids and the code of each reading; O(n) for integer ids of a compact range."""
    if m.dtype.kind in "iu" and len(m):
        lo, hi = int(m.min()), int(m.max())
        if hi - lo <= 4 * len(m) + 1024:
            present = np.zeros(hi - lo + 1, bool)
            off = m - lo
            present[off] = True
            lookup = np.cumsum(present, dtype=np.int64) - 1
            return np.flatnonzero(present).astype(m.dtype) + m.dtype.type(lo), lookup[off]
    uniq, codes = np.unique(m, return_inverse=True)
    return uniq, codes.astype(np.int64).ravel()


def _sort_dedupe(codes: npt.NDArray[np.int64], t: npt.NDArray[np.int64], v: npt.NDArray[np.float64],
                 n_codes: int) -> tuple[Any, Any, Any, Any, Any]:
    """Sort by (code, time); of equal (code, time) keep the largest value. Returns the dropped ones too."""
    if len(t) == 0:
        return codes, t, v, codes[:0], t[:0]
    t_lo = int(t.min())
    width = int(t.max()) - t_lo + 1
    if n_codes * width < 2**62:  # one int64 key, one sort
        key = codes * width + (t - t_lo)
        order = np.argsort(key)
        key = key[order]
        v = v[order]
        same = key[1:] == key[:-1]
        if same.any():
            first = np.flatnonzero(np.concatenate(([True], ~same)))
            v = np.maximum.reduceat(v, first)
            dropped = np.flatnonzero(same)  # every row equal to its successor: one per duplicate
            dup_codes, dup_ts = key[dropped] // width, key[dropped] % width + t_lo
            key = key[first]
        else:
            dup_codes, dup_ts = codes[:0], t[:0]
        return key // width, key % width + t_lo, v, dup_codes, dup_ts
    order = np.lexsort((v, t, codes))
    codes, t, v = codes[order], t[order], v[order]
    dup = np.zeros(len(t), bool)
    dup[:-1] = (codes[1:] == codes[:-1]) & (t[1:] == t[:-1])
    dup_codes, dup_ts = codes[dup], t[dup]
    if dup.any():
        keep = ~dup
        codes, t, v = codes[keep], t[keep], v[keep]
    return codes, t, v, dup_codes, dup_ts


def _per_meter(name: str, spec: PerMeter, meters: np.ndarray, run_rows: npt.NDArray[np.int64]
               ) -> npt.NDArray[np.float64] | None:
    """A scalar, a mapping {meter id: number} or an array aligned with the sorted meter ids → per run."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        rows = np.array([float(spec[k]) if spec.get(k) is not None else np.nan for k in meters.tolist()],
                        dtype=np.float64)
    else:
        arr = np.asarray(spec, dtype=np.float64)
        if arr.ndim == 0:
            rows = np.full(len(meters), float(arr))
        elif arr.shape == (len(meters),):
            rows = arr
        else:
            raise ValueError(f"{name} must be a scalar, a mapping by meter id or an array of "
                             f"{len(meters)} values aligned with the sorted meter ids; got shape {arr.shape}")
    if np.any(rows[~np.isnan(rows)] <= 0):
        raise ValueError(f"{name} must be > 0 (NaN or a missing key means: not declared)")
    return rows[run_rows]


# ------------------------------------------------------------------------------------------------ public


def interval_consumption(meter: npt.ArrayLike, ts_ns: npt.ArrayLike, value: npt.ArrayLike,
                         start_ns: int, end_ns: int, interval_s: float = 900, *,
                         rollover: PerMeter = None, max_rate: PerMeter = None,
                         max_gap_s: float | None = None) -> IntervalResult:
    """Consumption per meter and interval from cumulative counter readings (any order).

    The (reset-, rollover- and spike-corrected) counter is interpolated linearly at each interval edge;
    consumption of interval k is ``C(edge[k+1]) − C(edge[k])``. Intervals are ``[start_ns + k·interval,
    start_ns + (k+1)·interval)`` for k = 0 .. ceil((end_ns − start_ns) / interval) − 1.

    rollover: register modulus (the counter wraps to 0 on reaching it): scalar, {meter: value} or an
        array aligned with the sorted meter ids; NaN/missing = none. max_rate: physical maximum rise in
        counter units per hour, same forms. max_gap_s: steps longer than this are not interpolated
        (default None: adaptive per meter, ``max(900 s, 4 × the meter's typical step)``; ``math.inf``
        disables). See docs/analytics.md for every rule.
    """
    cl, edges, run_gap = _readings_and_window(meter, ts_ns, value, start_ns, end_ns, interval_s, max_gap_s,
                                              counter=True)
    roll = _per_meter("rollover", rollover, cl.meters, cl.run_rows)
    rate = _per_meter("max_rate", max_rate, cl.meters, cl.run_rows)
    ts, val = cl.ts, cl.value

    # classify candidate steps (few): gap > rollover/reset (drops) ; spikes come from their own pass
    c = cl.cand
    dt = ts[c] - ts[c - 1]
    dv = val[c] - val[c - 1]
    run_c = np.searchsorted(cl.starts, c, "right") - 1
    gap = dt > run_gap[run_c]
    drop = ~gap & (dv < 0)
    roll_ok = np.zeros(len(c), bool)
    if roll is not None:
        r = roll[run_c]
        rise = dv + r
        if rate is None:
            plausible = -dv > 0.5 * r  # a drop of more than half the register is a wrap
        else:
            rr = rate[run_c]
            plausible = np.isnan(rr) | (rise * kern.NS_PER_HOUR <= rr * dt)
        roll_ok = drop & ~np.isnan(r) & plausible & (rise >= 0)
    reset = drop & ~roll_ok
    kinds = {IntervalFlag.GAP: c[gap], IntervalFlag.RESET: c[reset], IntervalFlag.ROLLOVER: c[roll_ok]}
    ev_idx = [c[gap | drop]]
    ev_delta = [np.where(roll_ok, dv + (roll[run_c] if roll is not None else 0.0), 0.0)[gap | drop]]
    ev_gap = [gap[gap | drop]]
    if rate is not None and len(ts) > 1:
        sp = kern.spike_steps(ts, val, cl.starts, cl.ends, rate)
        sp = sp[~np.isin(sp, c)]
        kinds[IntervalFlag.SPIKE] = sp
        ev_idx.append(sp)
        ev_delta.append(np.zeros(len(sp)))
        ev_gap.append(np.zeros(len(sp), bool))
    idx = np.concatenate(ev_idx)
    order = np.argsort(idx, kind="stable")
    ev = kern.Events(idx[order], np.concatenate(ev_delta)[order], np.concatenate(ev_gap)[order])
    return _finish(cl, edges, interval_s, ev, kinds, integral=None)


def interval_mean(meter: npt.ArrayLike, ts_ns: npt.ArrayLike, value: npt.ArrayLike, start_ns: int,
                  end_ns: int, interval_s: float = 900, *,
                  max_gap_s: float | None = None) -> IntervalResult:
    """Time-weighted mean of an instantaneous quantity (power, flow, temperature) per meter and interval.

    The signal is linear between consecutive readings (trapezoid rule) and is averaged over the covered
    part of each interval; steps longer than ``max_gap_s`` (default: adaptive per meter, as for
    :func:`interval_consumption`) are not covered. The mean of a constant signal is exactly that
    constant. NaN where coverage is 0.
    """
    cl, edges, run_gap = _readings_and_window(meter, ts_ns, value, start_ns, end_ns, interval_s, max_gap_s,
                                              counter=False)
    c = cl.cand
    run_c = np.searchsorted(cl.starts, c, "right") - 1
    gap_idx = c[(cl.ts[c] - cl.ts[c - 1]) > run_gap[run_c]]
    ev = kern.Events(gap_idx, np.zeros(len(gap_idx)), np.ones(len(gap_idx), bool))
    integral = kern.running_integral(cl.ts, cl.value, cl.starts, cl.ends, gap_idx)
    return _finish(cl, edges, interval_s, ev, {IntervalFlag.GAP: gap_idx}, integral=integral)


def _finish(cl: _Clean, edges: npt.NDArray[np.int64], interval_s: float, ev: kern.Events,
            kinds: dict[IntervalFlag, npt.NDArray[np.int64]],
            integral: npt.NDArray[np.float64] | None) -> IntervalResult:
    n_rows, n_int = len(cl.meters), len(edges) - 1
    step = float(edges[1] - edges[0])
    values = np.full((n_rows, n_int), np.nan)
    coverage = np.zeros((n_rows, n_int))
    flags = np.zeros((n_rows, n_int), dtype=FLAG_DTYPE)
    if len(cl.starts):
        acc, cov_t = kern.evaluate_edges(cl.ts, cl.value, cl.starts, cl.ends, edges, ev, integral=integral)
        amount = np.diff(acc, axis=1)
        covered = np.diff(cov_t, axis=1)
        if integral is None:
            # the corrected counter never decreases; clear rounding noise below zero
            np.maximum(amount, 0.0, out=amount)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                amount = amount / covered + cl.value[cl.starts][:, None]
        amount[covered <= 0] = np.nan
        values[cl.run_rows] = amount
        cov = np.clip(covered / step, 0.0, 1.0)
        cov[np.abs(cov - 1.0) < 1e-12] = 1.0  # float rounding of ns sums over long spans
        coverage[cl.run_rows] = cov
        # step events: every interval overlapping (t[i-1], t[i])
        for bit, idx in kinds.items():
            if len(idx) == 0:
                continue
            rows = cl.run_rows[np.searchsorted(cl.starts, idx, "right") - 1]
            k0 = (cl.ts[idx - 1] - edges[0]) // (edges[1] - edges[0])
            k1 = -((edges[0] - cl.ts[idx]) // (edges[1] - edges[0])) - 1
            hit = kern.paint_ranges(n_rows, n_int, rows, np.maximum(k0, 0), np.minimum(k1, n_int - 1))
            flags[hit] |= np.uint16(bit)
    # point events: dropped duplicates and NaN readings
    if len(cl.dropped_ts):
        k = (cl.dropped_ts - edges[0]) // (edges[1] - edges[0])
        ok = (k >= 0) & (k < n_int)
        for bit, sel in ((IntervalFlag.DUPLICATE, cl.dropped_dup), (IntervalFlag.INVALID, ~cl.dropped_dup)):
            s = ok & sel
            hit = np.zeros((n_rows, n_int), bool)
            hit[cl.dropped_rows[s], k[s]] = True
            flags[hit] |= np.uint16(bit)
    flags[coverage <= 0] |= np.uint16(IntervalFlag.NO_DATA)
    flags[(coverage > 0) & (coverage < 1)] |= np.uint16(IntervalFlag.PARTIAL)
    kind = "consumption" if integral is None else "mean"
    return IntervalResult(cl.meters, values, coverage, flags, int(edges[0]), float(interval_s), edges, kind)
