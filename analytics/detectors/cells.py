"""Raw readings → per meter × interval cells: the engine's interval series plus raw-reading facts.

A cell of interval k depends only on readings with timestamps in [edge_k − max_gap, edge_k+1 + max_gap]
(the engine interpolates at an edge between the readings around it, and steps longer than max_gap are
gaps), so it is final once the clock has passed edge_k+1 + max_gap: the streaming detectors finalise
each interval one `lag` later and compute its cells from the same readings the batch sees.

Per cell: the engine's value (consumption for a counter, time-weighted mean for an instantaneous
quantity), coverage and flags; from the raw readings: the count of valid and of invalid (NaN, ±inf)
readings, min/max/last valid value and the last reading's time. Non-finite values are passed to the
engine as NaN (its INVALID flag), never as 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from analytics.detectors.settings import MeterRole
from analytics.intervals import interval_consumption, interval_mean
from analytics.readings_io import Columns

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
NO_TS = np.iinfo(np.int64).min


@dataclass(frozen=True, kw_only=True)
class PerMeter:
    """What is known of each meter in an interval, in the order of the roles: (n_meters, n_intervals)
    arrays in Cells, (n_meters,) in one interval's Column."""

    value: F64
    coverage: F64
    flags: npt.NDArray[np.uint16]
    n_valid: I64
    n_bad: I64
    vmin: F64
    vmax: F64
    vlast: F64
    last_ts: I64


_PER_METER = tuple(f.name for f in fields(PerMeter))


@dataclass(frozen=True, kw_only=True)
class Cells(PerMeter):
    """Every interval between `edges_ns`; `temp` is (n_intervals,)."""

    edges_ns: I64
    temp: F64

    @property
    def n_intervals(self) -> int:
        return len(self.edges_ns) - 1

    def column(self, k: int) -> Column:
        return Column(start_ns=int(self.edges_ns[k]), end_ns=int(self.edges_ns[k + 1]),
                      temp=float(self.temp[k]), **{name: getattr(self, name)[:, k] for name in _PER_METER})


@dataclass(frozen=True, kw_only=True)
class Column(PerMeter):
    """One interval of every meter."""

    start_ns: int
    end_ns: int
    temp: float


def compute_cells(readings: Mapping[str, Columns], roles: Sequence[MeterRole], edges_ns: I64,
                  max_gap_s: float, temp: tuple[npt.ArrayLike, npt.ArrayLike] | None = None) -> Cells:
    """Cells of every role over the intervals between `edges_ns` (evenly spaced)."""
    edges = np.asarray(edges_ns, np.int64)
    n_m, n_k = len(roles), len(edges) - 1
    step = int(edges[1] - edges[0])
    gap_ns = round(max_gap_s * 1e9)
    lo, hi = int(edges[0]) - gap_ns, int(edges[-1]) + gap_ns
    value = np.full((n_m, n_k), np.nan)
    coverage = np.zeros((n_m, n_k))
    flags = np.zeros((n_m, n_k), np.uint16)
    n_valid = np.zeros((n_m, n_k), np.int64)
    n_bad = np.zeros((n_m, n_k), np.int64)
    vmin = np.full((n_m, n_k), np.nan)
    vmax = np.full((n_m, n_k), np.nan)
    vlast = np.full((n_m, n_k), np.nan)
    last_ts = np.full((n_m, n_k), NO_TS, np.int64)
    for q, rows in rows_by_quantity(roles).items():
        cols = readings.get(q)
        if cols is None or len(cols) == 0:
            continue
        names = np.array([roles[r].meter for r in rows])
        order = np.argsort(names)
        sorted_names = names[order]
        ts = np.asarray(cols.ts_ns, np.int64)
        sel = (ts >= lo) & (ts <= hi) & np.isin(cols.meter, sorted_names)
        m, t = np.asarray(cols.meter)[sel], ts[sel]
        v = np.asarray(cols.value, np.float64)[sel]
        if t.size == 0:
            continue
        pos = np.searchsorted(sorted_names, m)
        row = np.asarray(rows, np.int64)[order][pos]
        bad = ~np.isfinite(v)
        v = np.where(bad, np.nan, v)
        _raw_stats(row, t, v, bad, edges, step, n_valid, n_bad, vmin, vmax, vlast, last_ts)
        counter = [roles[r].counter for r in rows]
        for is_counter in (True, False):
            part = np.isin(row, [r for r, c in zip(rows, counter, strict=True) if c == is_counter])
            if not part.any():
                continue
            if is_counter:
                res = interval_consumption(
                    row[part], t[part], v[part], int(edges[0]), int(edges[-1]), step / 1e9,
                    rollover=_declared(roles, rows, "rollover"), max_rate=_declared(roles, rows, "max_rate"),
                    max_gap_s=max_gap_s)
            else:
                res = interval_mean(row[part], t[part], v[part], int(edges[0]), int(edges[-1]), step / 1e9,
                                    max_gap_s=max_gap_s)
            rr = np.asarray(res.meters, np.int64)
            value[rr] = res.values[:, :n_k]
            coverage[rr] = res.coverage[:, :n_k]
            flags[rr] = res.flags[:, :n_k]
    return Cells(edges_ns=edges, value=value, coverage=coverage, flags=flags, n_valid=n_valid, n_bad=n_bad,
                 vmin=vmin, vmax=vmax, vlast=vlast, last_ts=last_ts, temp=_temp_cells(temp, edges, step))


def select_window(c: Columns, lo: int, hi: int | None) -> Columns:
    """The readings with lo <= ts (<= hi), in their order."""
    sel = c.ts_ns >= lo if hi is None else (c.ts_ns >= lo) & (c.ts_ns <= hi)
    return Columns(c.meter[sel], c.ts_ns[sel], c.value[sel])


def _declared(roles: Sequence[MeterRole], rows: list[int], name: str) -> dict[int, float] | None:
    out = {r: float(getattr(roles[r], name)) for r in rows if getattr(roles[r], name) is not None}
    return out or None


def _raw_stats(row: I64, t: I64, v: F64, bad: npt.NDArray[np.bool_], edges: I64, step: int, n_valid: I64,
               n_bad: I64, vmin: F64, vmax: F64, vlast: F64, last_ts: I64) -> None:
    n_k = len(edges) - 1
    k = (t - edges[0]) // step
    inside = (t >= edges[0]) & (k < n_k)
    row, t, v, bad, k = row[inside], t[inside], v[inside], bad[inside], k[inside]
    if t.size == 0:
        return
    n_m = n_valid.shape[0]
    flat = row * n_k + k
    np.add.at(n_bad.reshape(-1), flat[bad], 1)
    np.maximum.at(last_ts.reshape(-1), flat, t)
    ok = ~bad
    f, tv, vv = flat[ok], t[ok], v[ok]
    if f.size == 0:
        return
    np.add.at(n_valid.reshape(-1), f, 1)
    cells = np.unique(f)
    big = np.full(n_m * n_k, -np.inf)
    small = np.full(n_m * n_k, np.inf)
    np.maximum.at(big, f, vv)
    np.minimum.at(small, f, vv)
    vmax.reshape(-1)[cells] = big[cells]
    vmin.reshape(-1)[cells] = small[cells]
    order = np.lexsort((vv, tv, f))  # last by time; equal times: the largest, as the engine keeps it
    f_o = f[order]
    last = np.flatnonzero(np.append(f_o[1:] != f_o[:-1], True))
    vlast.reshape(-1)[f_o[last]] = vv[order][last]


def _temp_cells(temp: tuple[npt.ArrayLike, npt.ArrayLike] | None, edges: I64, step: int) -> F64:
    n_k = len(edges) - 1
    if temp is None:
        return np.full(n_k, np.nan)
    t = np.asarray(temp[0], np.int64)
    v = np.asarray(temp[1], np.float64)
    k = (t - edges[0]) // step
    ok = (t >= edges[0]) & (k < n_k) & np.isfinite(v)
    k, t, v = k[ok], t[ok], v[ok]
    order = np.lexsort((t, k))
    k, v = k[order], v[order]
    total = np.bincount(k, weights=v, minlength=n_k)
    count = np.bincount(k, minlength=n_k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def rows_by_quantity(roles: Sequence[MeterRole]) -> dict[str, list[int]]:
    """Row numbers of the roles, grouped by the quantity each meter is analysed on."""
    by_q: dict[str, list[int]] = {}
    for r, role in enumerate(roles):
        by_q.setdefault(role.quantity, []).append(r)
    return by_q
