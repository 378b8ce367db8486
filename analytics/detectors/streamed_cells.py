"""The cells the streaming path computes one interval at a time, for many intervals at once.

Streaming computes each interval's cells from a window of readings, [start − max_gap, end + max_gap],
in a call of its own. One call over the whole range agrees on every verdict-relevant fact, but not to
the last bit: `interval_consumption` interpolates relative to the first reading it sees and sums its
corrections (gaps, resets, spikes) as running totals over all rows of the call, so a wider call rounds
differently. To stay bit-identical this module

* stacks the windows: every (meter, interval) window becomes a row of its own, its times shifted onto
  one common interval (only time differences enter the arithmetic), so each row sees exactly the
  readings and the first reading it sees when streamed; and
* sends every interval in which any window has a step that could become an event (a gap, a drop, a
  rise near the meter's max rate, an unordered or invalid reading) — whose result would depend on the
  running totals of other rows — through `compute_cells` on its own window, literally as streaming
  does. A row with no event has both running totals unchanged across it, so its result cannot depend
  on its neighbours.

The raw-reading facts (counts, min/max/last) involve no rounding and come from one call over the range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from analytics._kernels import NS_PER_HOUR
from analytics.detectors.cells import Cells, compute_cells, rows_by_quantity, select_window
from analytics.detectors.settings import MeterRole
from analytics.intervals import interval_consumption
from analytics.readings_io import Columns

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
CHUNK = 4096  # intervals stacked per call: bounds the memory of the stacked windows


def streamed_cells(readings: Mapping[str, Columns], roles: Sequence[MeterRole], edges_ns: I64,
                   max_gap_s: float) -> Cells:
    """Bit for bit what `compute_cells` gives for each interval between `edges_ns` when called on that
    interval alone with the readings of its window (the streaming path; no outdoor temperature)."""
    edges = np.asarray(edges_ns, np.int64)
    cells = compute_cells(readings, roles, edges, max_gap_s)
    if cells.n_intervals == 0:
        return cells
    gap = round(max_gap_s * 1e9)
    eventful = np.zeros(cells.n_intervals, bool)
    for q, rows in rows_by_quantity(roles).items():
        cols = readings.get(q)
        if cols is None or len(cols) == 0:
            continue
        if not all(roles[r].counter for r in rows):  # means: no stacking, every interval as streamed
            eventful[:] = True
            continue
        eventful |= _stack_counters(cols, roles, rows, edges, gap, max_gap_s, cells)
    for k in np.flatnonzero(eventful).tolist():
        _as_streamed(readings, roles, edges, k, gap, max_gap_s, cells)
    return cells


def _as_streamed(readings: Mapping[str, Columns], roles: Sequence[MeterRole], edges: I64, k: int,
                 gap: int, max_gap_s: float, cells: Cells) -> None:
    """Interval k's engine values from its own window, exactly the streaming call."""
    s0, s1 = int(edges[k]), int(edges[k + 1])
    window = {q: select_window(c, s0 - gap, s1 + gap) for q, c in readings.items()}
    one = compute_cells(window, roles, np.array([s0, s1], np.int64), max_gap_s)
    cells.value[:, k] = one.value[:, 0]
    cells.coverage[:, k] = one.coverage[:, 0]
    cells.flags[:, k] = one.flags[:, 0]


def _stack_counters(cols: Columns, roles: Sequence[MeterRole], rows: list[int], edges: I64, gap: int,
                    max_gap_s: float, cells: Cells) -> Bool:
    """Fill the counter cells of `rows` from stacked windows; returns the intervals with an eventful
    window (left for the literal per-interval call)."""
    row, t, v = _by_meter(cols, roles, rows)
    n_k = len(edges) - 1
    step = int(edges[1] - edges[0])
    if t.size == 0:
        return np.zeros(n_k, bool)
    rate = _per_role(roles, rows, "max_rate")
    lo, hi = _windows(row, t, rows, edges[:-1] - gap, edges[:-1] + step + gap)  # (len(rows), n_k)
    nan = np.isnan(v)
    suspect = np.concatenate([[False], _suspect(row, t, v, rate, gap)]) | nan
    before = np.concatenate([[0], np.cumsum(suspect)])  # suspects among readings [0, i)
    first = np.minimum(lo, len(v) - 1)
    # a suspect step into readings lo+1 .. hi-1, or an invalid first reading
    n_bad = np.where(hi > lo, before[hi] - before[np.minimum(lo + 1, hi)] + nan[first], 0)
    eventful = np.asarray((n_bad > 0).any(axis=0), bool)
    take = (hi > lo) & ~eventful[None, :]
    _no_readings(cells, np.asarray(rows, np.int64), (hi == lo) & ~eventful[None, :])
    stack = _Stack(row, t, v, step, len(roles), _per_role(roles, rows, "rollover"), rate, max_gap_s)
    for a in range(0, n_k, CHUNK):
        b = min(a + CHUNK, n_k)
        stack.fill(lo[:, a:b], hi[:, a:b], take[:, a:b], edges[a:b], a, cells)
    return eventful


def _no_readings(cells: Cells, rows: I64, empty: Bool) -> None:
    """A meter without a reading in an interval's window is left out of the streaming call: no value,
    no coverage, no flag (the call over the range would say NO_DATA)."""
    j, k = np.nonzero(empty)
    cells.value[rows[j], k] = np.nan
    cells.coverage[rows[j], k] = 0.0
    cells.flags[rows[j], k] = 0


def _by_meter(cols: Columns, roles: Sequence[MeterRole], rows: list[int]) -> tuple[I64, I64, F64]:
    """The readings of `rows`' meters as (role index, time, value), sorted by role then time (equal
    times in arrival order); non-finite values as NaN, as compute_cells passes them on."""
    index = {roles[r].meter: r for r in rows}
    m = np.asarray(cols.meter)
    known = np.isin(m, list(index))
    names, inverse = np.unique(m[known], return_inverse=True)
    row = np.array([index[x] for x in names.tolist()], np.int64)[inverse.ravel()]
    t = np.asarray(cols.ts_ns, np.int64)[known]
    v = np.asarray(cols.value, np.float64)[known]
    v = np.where(np.isfinite(v), v, np.nan)
    order = np.lexsort((t, row))  # stable: equal times keep their arrival order
    return row[order], t[order], v[order]


def _per_role(roles: Sequence[MeterRole], rows: list[int], name: str) -> F64 | None:
    """A declared per-meter figure by role index (NaN: not declared); None when no row declares it,
    as compute_cells passes it."""
    if all(getattr(roles[r], name) is None for r in rows):
        return None
    out = np.full(len(roles), np.nan)
    for r in rows:
        x = getattr(roles[r], name)
        if x is not None:
            out[r] = float(x)
    return out


def _windows(row: I64, t: I64, rows: list[int], lo_ns: I64, hi_ns: I64) -> tuple[I64, I64]:
    """Per role and interval, the reading range [lo, hi) with lo_ns <= t <= hi_ns."""
    lo = np.zeros((len(rows), len(lo_ns)), np.int64)
    hi = np.zeros_like(lo)
    for j, r in enumerate(rows):
        a, b = np.searchsorted(row, [r, r + 1])
        lo[j] = a + np.searchsorted(t[a:b], lo_ns, "left")
        hi[j] = a + np.searchsorted(t[a:b], hi_ns, "right")
    return lo, hi


def _suspect(row: I64, t: I64, v: F64, rate: F64 | None, gap: int) -> Bool:
    """Per step (reading i−1 → i of one meter): could interval_consumption make it an event? A
    superset on purpose: not strictly later, longer than max_gap, not a rise (a fall or NaN), or a
    rise above half the meter's max rate (a spike needs all of it)."""
    dt = np.diff(t)
    dv = np.diff(v)
    odd = (dt <= 0) | (dt > gap) | ~(dv >= 0)
    if rate is not None:
        r = rate[row[1:]]
        with np.errstate(invalid="ignore"):
            odd |= ~np.isnan(r) & (dv * NS_PER_HOUR > 0.5 * r * dt)
    out: Bool = (row[1:] == row[:-1]) & odd
    return out


class _Stack:
    """One meter's readings sorted by (role, time); `fill` runs one interval_consumption call over the
    windows of a block of intervals, each window a row of its own shifted onto the first interval."""

    def __init__(self, row: I64, t: I64, v: F64, step: int, n_roles: int, rollover: F64 | None,
                 max_rate: F64 | None, max_gap_s: float) -> None:
        self.row, self.t, self.v, self.step, self.n_roles = row, t, v, step, n_roles
        self.rollover, self.max_rate, self.max_gap_s = rollover, max_rate, max_gap_s

    def fill(self, lo: I64, hi: I64, take: Bool, starts: I64, k0: int, cells: Cells) -> None:
        j, k = np.nonzero(take)  # (role slot, interval in block) of each stacked window
        if j.size == 0:
            return
        a, n = lo[j, k], hi[j, k] - lo[j, k]
        owner = np.repeat(np.arange(j.size), n)
        idx = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(a, n)
        base = int(starts[0])
        role = self.row[a]
        pid = (k + k0) * self.n_roles + role  # one row per window, in the order of the sorted ids
        shift = (starts[k] - base)[owner]
        res = interval_consumption(pid[owner], self.t[idx] - shift, self.v[idx], base, base + self.step,
                                   self.step / 1e9, rollover=self._aligned(self.rollover, pid),
                                   max_rate=self._aligned(self.max_rate, pid), max_gap_s=self.max_gap_s)
        got = np.asarray(res.meters, np.int64)
        kk, rr = got // self.n_roles, got % self.n_roles
        cells.value[rr, kk] = res.values[:, 0]
        cells.coverage[rr, kk] = res.coverage[:, 0]
        cells.flags[rr, kk] = res.flags[:, 0]

    def _aligned(self, per_role: F64 | None, pid: I64) -> F64 | None:
        """Per stacked row in the sorted order of the ids, as interval_consumption wants an array."""
        return None if per_role is None else per_role[np.sort(pid) % self.n_roles]
