"""Private numpy kernels of interval aggregation. They trust their inputs (validated in intervals.py).

Conventions: readings are grouped in *runs* (one run per meter, consecutive rows) given by ``starts`` and
``ends`` (half-open row ranges). A *step* ``i`` is the pair of readings ``(i - 1, i)`` of the same run.
No Python loop touches individual readings: the full-length passes work in cache-sized blocks with
preallocated buffers, everything after them works on the (few) events and on meters × edges.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BLOCK = 1 << 16  # readings per block of a full-length pass: temporaries stay in the CPU cache
WORKERS = min(4, os.cpu_count() or 1)  # threads of the full-length validation pass
NS_PER_HOUR = 3_600_000_000_000.0

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Scan:
    """Result of the full-length validation pass."""

    starts: I64  # first row of each run
    cand: I64  # steps that are not "same meter, 0 < dt <= max_gap, value ok"; sorted


def scan_steps(meter: np.ndarray, ts: I64, value: F64, gap_ns: int, counter: bool) -> Scan:
    """One pass over the readings: run boundaries and the steps that need a closer look.

    A step is ordinary when it stays in one run, ``0 < dt <= gap_ns`` and (counter) ``dv >= 0`` or
    (instantaneous) ``dv`` is not NaN. Everything else is a candidate, classified later on few rows.
    Large inputs are scanned by ``WORKERS`` threads over contiguous ranges (numpy releases the GIL).
    """
    n = len(ts)
    if n < 2:
        return Scan(np.zeros(min(n, 1), np.int64), np.zeros(0, np.int64))
    parts = max(1, min(WORKERS, (n - 1) // (4 * BLOCK)))
    cuts = [(n - 1) * i // parts for i in range(parts + 1)]
    if parts == 1:
        found = [_scan_range(meter, ts, value, gap_ns, counter, 0, n - 1)]
    else:
        with ThreadPoolExecutor(parts) as pool:
            found = list(pool.map(lambda i: _scan_range(meter, ts, value, gap_ns, counter, cuts[i],
                                                        cuts[i + 1]), range(parts)))
    starts = np.concatenate([np.zeros(1, np.int64)] + [f[0] for f in found]).astype(np.int64)
    cand = np.concatenate([f[1] for f in found]).astype(np.int64)
    return Scan(starts, cand)


def _scan_range(meter: np.ndarray, ts: I64, value: F64, gap_ns: int, counter: bool, lo: int, hi: int
                ) -> tuple[I64, I64]:
    """Steps ``lo + 1 .. hi`` (rows ``lo .. hi``): (run starts, candidate steps)."""
    starts_parts: list[I64] = [np.zeros(0, np.int64)]
    cand_parts: list[I64] = [np.zeros(0, np.int64)]
    b = min(BLOCK, hi - lo)
    dt = np.empty(b, np.int64)
    dv = np.empty(b, np.float64)
    okt = np.empty(b, np.bool_)
    okv = np.empty(b, np.bool_)
    bnd = np.empty(b, np.bool_)
    gap_u = np.uint64(gap_ns)
    numeric = meter.dtype.kind in "iu"
    for a in range(lo, hi, b):
        z = min(b, hi - a)  # steps a+1 .. a+z
        m = meter[a : a + z + 1]
        t = ts[a : a + z + 1]
        v = value[a : a + z + 1]
        bd, dtt, dvv, ot, ov = bnd[:z], dt[:z], dv[:z], okt[:z], okv[:z]
        np.subtract(t[1:], t[:-1], out=dtt)
        np.subtract(v[1:], v[:-1], out=dvv)
        bpos = _breaks(m) if numeric else None
        if bpos is None:
            np.not_equal(m[1:], m[:-1], out=bd)
            bpos = np.flatnonzero(bd) if bd.any() else bpos
        if bpos is not None and len(bpos):
            starts_parts.append(bpos + (a + 1))
            dtt[bpos] = 1  # steps across runs are not steps: make them ordinary
            dvv[bpos] = 0.0
        # the common case, decided by reductions alone (no per-reading output)
        vmin = dvv.min()
        v_ok = vmin >= 0.0 if counter else not np.isnan(vmin)
        if v_ok and int(dtt.min()) > 0 and int(dtt.max()) <= gap_ns:
            continue
        np.subtract(dtt, 1, out=dtt)
        np.less(dtt.view(np.uint64), gap_u, out=ot)  # 1 <= dt <= gap
        if counter:
            np.greater_equal(dvv, 0.0, out=ov)  # False for NaN and drops
        else:
            np.equal(dvv, dvv, out=ov)  # False for NaN
        np.logical_and(ot, ov, out=ot)
        cand_parts.append(np.flatnonzero(~ot) + (a + 1))
    return np.concatenate(starts_parts), np.concatenate(cand_parts)


def _breaks(m: np.ndarray) -> I64 | None:
    """Positions ``j`` with ``m[j + 1] != m[j]`` in a block of integer ids, by reductions only.

    Walks the runs with ``searchsorted`` (as if the ids were sorted) and proves each run constant with
    ``min == max``; every break found this way is a real break whatever the order. Returns None when
    the proof fails (ids not sorted in this block): the caller compares element by element instead.
    """
    last = len(m)
    first = m[0]
    if m[-1] == first and m.min() == m.max():
        return np.zeros(0, np.int64)
    out: list[int] = []
    i = 0
    while i < last:
        x = m[i]
        p = i + int(np.searchsorted(m[i:], x, "right"))
        piece = m[i:p]
        if p - i > 1 and not (piece.min() == x == piece.max()):
            return None
        if p < last:
            if m[p] == x:
                return None
            out.append(p - 1)
        i = p
    return np.asarray(out, np.int64)


def per_row(starts: I64, ends: I64, per_run: np.ndarray, a: int, b: int) -> np.ndarray:
    """Expand a per-run value to rows ``a .. b-1`` (b > a)."""
    r0 = int(np.searchsorted(starts, a, "right")) - 1
    r1 = int(np.searchsorted(starts, b - 1, "right"))
    lo = np.maximum(starts[r0:r1], a)
    hi = np.minimum(ends[r0:r1], b)
    return np.repeat(per_run[r0:r1], hi - lo)


def spike_steps(ts: I64, value: F64, starts: I64, ends: I64, rate: F64) -> I64:
    """Steps whose rise exceeds the run's max rate (counter units per hour); NaN rate = unlimited."""
    n = len(ts)
    out: list[I64] = []
    if n < 2:
        return np.zeros(0, np.int64)
    scalar = bool(np.all(rate == rate[0])) if len(rate) else True
    b = min(BLOCK, n - 1)
    lim = np.empty(b, np.float64)
    dv = np.empty(b, np.float64)
    hit = np.empty(b, np.bool_)
    for a in range(0, n - 1, b):
        z = min(b, n - 1 - a)
        t = ts[a : a + z + 1]
        v = value[a : a + z + 1]
        li, dvv, h = lim[:z], dv[:z], hit[:z]
        np.subtract(t[1:], t[:-1], out=li, casting="unsafe")
        if scalar:
            np.multiply(li, rate[0] / NS_PER_HOUR, out=li)
        else:
            np.multiply(li, per_row(starts, ends, rate, a + 1, a + z + 1) / NS_PER_HOUR, out=li)
        np.subtract(v[1:], v[:-1], out=dvv)
        np.greater(dvv, li, out=h)  # NaN limit never hits
        if h.any():
            out.append(np.flatnonzero(h) + (a + 1))
    idx = np.concatenate(out) if out else np.zeros(0, np.int64)
    # steps that cross a run boundary are not steps
    return idx[~np.isin(idx, starts)]


def seg_searchsorted(ts: I64, lo: I64, hi: I64, q: I64) -> I64:
    """Vectorised bisection: per query, the first row in ``[lo, hi)`` with ``ts > q`` (else ``hi``).

    ``ts`` must be sorted inside each ``[lo, hi)``; the three arrays broadcast together.
    """
    lo, hi, q = np.broadcast_arrays(lo, hi, q)
    shape = q.shape
    lo = lo.astype(np.int64, copy=True).ravel()
    hi = hi.astype(np.int64, copy=True).ravel()
    qf = q.ravel()
    if lo.size == 0:
        return lo.reshape(shape)
    width = int((hi - lo).max())
    act = np.arange(lo.size)
    for _ in range(max(width, 1).bit_length() + 1):
        sel = lo[act] < hi[act]
        act = act[sel]
        if act.size == 0:
            break
        la, ha = lo[act], hi[act]
        mid = (la + ha) >> 1
        go = ts[mid] <= qf[act]
        lo[act] = np.where(go, mid + 1, la)
        hi[act] = np.where(go, ha, mid)
    return lo.reshape(shape)


def _locate(ts: I64, starts: I64, ends: I64, edges: I64) -> I64:
    """Per run and edge, the first row with ``ts > edge`` (else the run's end): ``seg_searchsorted``
    started from a linear-interpolation guess, checked, so regular sampling needs about two rounds."""
    s = starts[:, None]
    e = ends[:, None]
    t0 = ts[starts][:, None]
    span = (ts[ends - 1][:, None] - t0).astype(np.float64)
    q = edges[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = np.where(span > 0, (q - t0) / np.where(span > 0, span, 1.0) * (e - s - 1), 0.0)
    g = s + np.clip(np.nan_to_num(pos), -1.0, (e - s).astype(np.float64)).astype(np.int64)
    lo = np.clip(g - 1, s, e)
    hi = np.clip(g + 3, s, e)
    # the answer lies in [lo, hi] when ts[lo - 1] <= q (or lo is the run's start) and ts[hi] > q (or end)
    ok_lo = (lo == s) | (ts[np.maximum(lo - 1, 0)] <= q)
    ok_hi = (hi == e) | (ts[np.minimum(hi, len(ts) - 1)] > q)
    good = ok_lo & ok_hi
    lo = np.where(good, lo, s)
    hi = np.where(good, hi, e)
    return seg_searchsorted(ts, lo, hi, np.broadcast_to(q, lo.shape))


@dataclass(frozen=True)
class Events:
    """Classified steps, sorted by step index (global row of the later reading)."""

    idx: I64
    delta: F64  # the step's counted (corrected) delta: 0 for gap/reset/spike, dv + R for rollover
    gap: Bool  # step not interpolated (not covered)


def evaluate_edges(
    ts: I64, value: F64, starts: I64, ends: I64, edges: I64, ev: Events, *, integral: F64 | None = None
) -> tuple[F64, F64]:
    """Corrected counter ``C`` (or the running integral) and covered time ``F`` at every edge.

    ``C`` is relative to the run's first reading: ``C_i = (v_i - v_s) + Σ corrections up to i``; between
    two readings it is linear; before the first reading 0, after the last ``C_last``. ``F`` is the covered
    time since the first reading (gap steps excluded). With ``integral`` (a per-row running integral of
    the signal's deviation from the run's first value, in value·ns) the first result is that integral
    at the edges instead (trapezoid, linear signal). Returns two (n_runs, n_edges) arrays.
    """
    s = starts[:, None]
    e_last = ends[:, None] - 1
    q = edges[None, :]
    lo = _locate(ts, starts, ends, edges)
    inside = (lo > s) & (lo <= e_last)
    li = np.clip(lo - 1, s, e_last)
    ri = np.where(inside, lo, li)
    tl = ts[li]
    dt_step = (ts[ri] - tl).astype(np.float64)
    span = np.where(inside, q - tl, 0).astype(np.float64)
    frac = np.divide(span, dt_step, out=np.zeros_like(span), where=inside)

    # events at the right-hand reading of each step, and cumulative corrections / gap time
    k_r = np.searchsorted(ev.idx, ri)
    k_rc = np.minimum(k_r, max(len(ev.idx) - 1, 0))
    is_ev = inside & (k_r < len(ev.idx)) & (ev.idx[k_rc] == ri) if len(ev.idx) else np.zeros_like(inside)
    ev_gap = np.where(is_ev, ev.gap[k_rc], False) if len(ev.idx) else is_ev
    gap_dt = np.zeros(len(ev.idx) + 1)
    if len(ev.idx):
        gap_dt[1:] = np.cumsum(np.where(ev.gap, (ts[ev.idx] - ts[ev.idx - 1]).astype(np.float64), 0.0))
    k_l = np.searchsorted(ev.idx, li, "right")
    k_s = np.searchsorted(ev.idx, s, "right")
    covered = (tl - ts[s]).astype(np.float64) - (gap_dt[k_l] - gap_dt[k_s])
    covered += np.where(ev_gap, 0.0, span)

    vs = value[s]
    if integral is None:
        corr = np.zeros(len(ev.idx) + 1)
        if len(ev.idx):
            raw = value[ev.idx] - value[ev.idx - 1]
            corr[1:] = np.cumsum(ev.delta - raw)
        c_l = (value[li] - vs) + (corr[k_l] - corr[k_s])
        d = np.where(is_ev, ev.delta[k_rc] if len(ev.idx) else 0.0, value[ri] - value[li])
        return c_l + d * frac, covered
    # running integral of (v - v_s): trapezoid from t_l to the edge on the linear signal
    a_l = integral[li] - integral[s]
    dl = value[li] - vs
    dr = value[ri] - vs
    part = span * (dl + 0.5 * (dr - dl) * frac)
    return a_l + np.where(ev_gap, 0.0, part), covered


def running_integral(ts: I64, value: F64, starts: I64, ends: I64, gap_idx: I64) -> F64:
    """Per-row cumulative trapezoid integral of ``v - v_first_of_run`` over non-gap steps (value·ns).

    Steps across run boundaries and gap steps contribute nothing. Deviations from the run's first value
    keep the sums small, and make the integral of a constant exactly 0.
    """
    n = len(ts)
    out = np.zeros(n, np.float64)
    if n < 2:
        return out
    bad = np.unique(np.concatenate([starts[1:], gap_idx]))
    carry = 0.0
    b = BLOCK
    for a in range(0, n - 1, b):
        z = min(b, n - 1 - a)
        t = ts[a : a + z + 1]
        d = value[a : a + z + 1] - per_row(starts, ends, value[starts], a, a + z + 1)
        area = (d[1:] + d[:-1]) * 0.5 * (t[1:] - t[:-1])
        lo, hi = np.searchsorted(bad, [a + 1, a + z + 1])
        area[bad[lo:hi] - (a + 1)] = 0.0
        area[0] += carry
        np.cumsum(area, out=out[a + 1 : a + z + 1])
        carry = float(out[a + z])
    return out


def paint_ranges(n_rows: int, n_int: int, rows: I64, k0: I64, k1: I64) -> Bool:
    """Boolean (n_rows, n_int): True on intervals k0..k1 (inclusive) of each row; empty ranges skipped."""
    ok = k0 <= k1
    diff = np.zeros((n_rows, n_int + 1), np.int32)
    np.add.at(diff, (rows[ok], k0[ok]), 1)
    np.add.at(diff, (rows[ok], k1[ok] + 1), -1)
    return np.cumsum(diff[:, :n_int], axis=1) > 0
