"""Interval aggregation benchmark: counter readings → 15-min consumption, ours vs pandas vs polars.

    python -m benchmarks.interval_aggregation [--meters 1000] [--hours 24] [--hz 1] [--shuffled]
                                              [--no-pandas] [--no-polars] [--repeat 3]

Default: 1,000 meters × 1 Hz × 24 h = 86.4 million readings, generated in memory, sorted by meter then
time (the layout of a database export). In the same run it times:
- ours: ``analytics.interval_consumption`` (fast path: already grouped and sorted);
- pandas, the idiom a data engineer writes: ``groupby('meter').diff()`` then
  ``groupby('meter').resample('15min', closed='right', label='left').sum()`` of the deltas;
- polars: ``diff().over('meter')`` then ``group_by_dynamic('ts', every='15m', group_by='meter',
  closed='right', label='left')`` summing the deltas;
- the single-pass bound: ``np.copy`` of the three input arrays, once.
Frames are built before timing (their construction is not counted against pandas or polars).

Where the semantics agree the numbers must agree: readings fall exactly on every interval edge (the
timestamps are whole seconds from midnight), so "sum the deltas of readings in (edge_k, edge_k+1]"
equals our linear interpolation at the edges. Compared cells: every cell with no flag (fully covered,
no gap/reset/spike); the last interval of the day lacks the reading at 24:00 and is PARTIAL.
pandas and polars are a benchmark-only extra (pip install pandas polars), never imported by analytics/.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from analytics import interval_consumption

S = 1_000_000_000
DAY0 = 1_700_006_400 * S  # 2023-11-15T00:00:00Z, a midnight
INTERVAL_S = 900


def generate(meters: int, hours: float, hz: float, seed: int = 7
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plausible energy counters (kWh), sorted by meter then time; readings on every whole second."""
    rng = np.random.default_rng(seed)
    per = round(hours * 3600 * hz)
    step_ns = round(S / hz)
    meter = np.repeat(np.arange(1001, 1001 + meters, dtype=np.int64), per)
    ts = np.tile(DAY0 + np.arange(per, dtype=np.int64) * step_ns, meters)
    value = np.empty(meters * per)
    base_kw = rng.uniform(1.0, 80.0, meters)
    start_kwh = rng.uniform(0.0, 2e5, meters)
    for i in range(meters):  # generation only: one row of the output at a time keeps memory flat
        row = value[i * per : (i + 1) * per]
        rng.random(per, out=row)
        row *= base_kw[i] * (1.0 / 3600.0 / hz)  # kWh per reading, 0..base_kw
        np.cumsum(row, out=row)
        row += start_kwh[i]
    return meter, ts, value


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def peak_bytes(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return peak


def run_pandas(meter: np.ndarray, ts: np.ndarray, value: np.ndarray, n_int: int) -> tuple[float, np.ndarray]:
    import pandas as pd

    df = pd.DataFrame({"meter": meter, "ts": pd.to_datetime(ts, unit="ns"), "value": value})

    def idiom() -> Any:
        d = df.assign(delta=df.groupby("meter")["value"].diff())
        return (d.set_index("ts").groupby("meter")["delta"]
                .resample("15min", closed="right", label="left").sum())

    t0 = time.perf_counter()
    out = idiom()
    elapsed = time.perf_counter() - t0
    grid = _to_grid(out.index.get_level_values(0).to_numpy(),
                    out.index.get_level_values(1).as_unit("ns").asi8, out.to_numpy(), meter, n_int)
    return elapsed, grid


def run_polars(meter: np.ndarray, ts: np.ndarray, value: np.ndarray, n_int: int) -> tuple[float, np.ndarray]:
    import polars as pl

    df = pl.DataFrame({"meter": meter, "ts": ts, "value": value}).with_columns(
        pl.col("ts").cast(pl.Datetime("ns")))

    def idiom() -> Any:
        return (df.with_columns(pl.col("value").diff().over("meter").alias("delta"))
                .group_by_dynamic("ts", every="15m", group_by="meter", closed="right", label="left")
                .agg(pl.col("delta").sum()))

    t0 = time.perf_counter()
    out = idiom()
    elapsed = time.perf_counter() - t0
    grid = _to_grid(out["meter"].to_numpy(), out["ts"].cast(pl.Int64).to_numpy(), out["delta"].to_numpy(),
                    meter, n_int)
    return elapsed, grid


def _to_grid(m: np.ndarray, label_ns: np.ndarray, vals: np.ndarray, meter: np.ndarray, n_int: int
             ) -> np.ndarray:
    ids = np.unique(meter)
    grid = np.full((len(ids), n_int), np.nan)
    k = (label_ns - DAY0) // (INTERVAL_S * S)
    ok = (k >= 0) & (k < n_int)
    grid[np.searchsorted(ids, m[ok]), k[ok]] = vals[ok]
    return grid


def compare(name: str, ours: Any, theirs: np.ndarray) -> str:
    cells = ours.flags == 0
    a, b = ours.consumption[cells], theirs[cells]
    diff = np.abs(a - b)
    tol = 1e-9 * np.abs(a) + 1e-6  # kWh; counters reach 2e5 kWh, summing 900 deltas loses ~1e-8
    ok = bool(np.all(diff <= tol))
    return (f"  {name:<7} vs ours on {int(cells.sum()):,} flag-free cells of {cells.size:,}: "
            f"max |diff| {diff.max():.2e} kWh, max rel {np.max(diff / np.maximum(np.abs(a), 1e-12)):.2e} "
            f"-> {'AGREE' if ok else 'DISAGREE'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--hz", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shuffled", action="store_true", help="also time ours on a shuffled copy (sort path)")
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument("--no-polars", action="store_true")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    meter, ts, value = generate(args.meters, args.hours, args.hz)
    n = len(ts)
    in_bytes = meter.nbytes + ts.nbytes + value.nbytes
    start, end = DAY0, DAY0 + round(args.hours * 3600) * S
    n_int = -(-(end - start) // (INTERVAL_S * S))
    print(f"interval aggregation: {args.meters:,} meters × {args.hz:g} Hz × {args.hours:g} h = "
          f"{n:,} readings "
          f"({in_bytes / 2**20:,.0f} MiB of input arrays), {n_int} × 15-min intervals; "
          f"generated in {time.perf_counter() - t0:.1f} s")

    def ours() -> Any:
        return interval_consumption(meter, ts, value, start, end, INTERVAL_S)

    def copy_once() -> Any:
        return np.copy(meter), np.copy(ts), np.copy(value)

    t_copy, _ = best(copy_once, args.repeat)
    t_ours, res = best(ours, args.repeat)
    peak = peak_bytes(ours)
    rows = [("single-pass bound (np.copy ×3)", t_copy), ("ours: interval_consumption", t_ours)]
    checks = []
    t_shuf = None
    if args.shuffled:
        perm = np.random.default_rng(1).permutation(n)
        sm, st_, sv = meter[perm], ts[perm], value[perm]
        del perm
        t_shuf, res_s = best(lambda: interval_consumption(sm, st_, sv, start, end, INTERVAL_S), 1)
        same = np.allclose(res_s.consumption, res.consumption, rtol=1e-12, atol=1e-9, equal_nan=True)
        checks.append(f"  shuffled input gives {'the same' if same else 'DIFFERENT'} result")
        rows.append(("ours, shuffled input (sort path)", t_shuf))
        del sm, st_, sv, res_s
    t_pl = t_pd = None
    if not args.no_polars:
        t_pl, grid = run_polars(meter, ts, value, n_int)
        rows.append(("polars: diff().over + group_by_dynamic", t_pl))
        checks.append(compare("polars", res, grid))
        del grid
        gc.collect()
    if not args.no_pandas:
        t_pd, grid = run_pandas(meter, ts, value, n_int)
        rows.append(("pandas: groupby diff + groupby.resample", t_pd))
        checks.append(compare("pandas", res, grid))
        del grid

    print(f"\n{'method':<42}{'time':>10}{'readings/s':>16}")
    for name, t in rows:
        print(f"{name:<42}{t:>9.3f}s{n / t:>16,.0f}")
    print("\nagreement (cells where the semantics agree):")
    for line in checks:
        print(line)
    print("\nratios (targets in brackets):")
    if t_pl is not None:
        r = t_pl / t_ours
        print(f"  ours vs polars: {r:8.1f}× faster   [≥ 10×]  {'met' if r >= 10 else 'MISSED'}")
    if t_pd is not None:
        r = t_pd / t_ours
        print(f"  ours vs pandas: {r:8.1f}× faster   [≥ 100×] {'met' if r >= 100 else 'MISSED'}")
    frac = t_copy / t_ours
    print(f"  single-pass bound / ours: {frac:6.0%}          [≥ 50 %] {'met' if frac >= 0.5 else 'MISSED'}")
    mem = peak / in_bytes
    print(f"  peak memory of our call (tracemalloc): {peak / 2**20:,.1f} MiB = {mem:.3f}× the input arrays "
          f"[≤ 1.5×] {'met' if mem <= 1.5 else 'MISSED'}")
    print(f"  result: {res.consumption.shape[0]} meters × {res.consumption.shape[1]} intervals, "
          f"{int((res.flags != 0).sum())} flagged cells (the last interval lacks its 24:00 reading: PARTIAL)")
    if t_shuf is not None:
        print(f"  shuffled input (general path: sort, dedupe): {t_shuf:.2f} s, "
              f"{t_shuf / t_ours:.0f}× the fast path")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
