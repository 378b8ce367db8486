"""Batch detection: readings in, Detections out (pure numpy, no I/O, no wall clock)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from analytics.detectors.cells import compute_cells
from analytics.detectors.engine import Engine, grid_floor, lag_ns, sort_key
from analytics.detectors.settings import DetectorSettings, MeterRole, Schedule
from analytics.events import Detection
from analytics.readings_io import Readings


def data_span(readings: Readings, meters: Sequence[MeterRole]) -> tuple[int, int] | None:
    """(first, last) timestamp of the readings of the given meters, or None if there are none."""
    lo, hi = None, None
    by_q: dict[str, list[str]] = {}
    for r in meters:
        by_q.setdefault(r.quantity, []).append(r.meter)
    for q, names in by_q.items():
        cols = readings.get(q)
        if cols is None or len(cols) == 0:
            continue
        ts = np.asarray(cols.ts_ns, np.int64)[np.isin(cols.meter, names)]
        if ts.size:
            a, b = int(ts.min()), int(ts.max())
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
    return None if lo is None or hi is None else (lo, hi)


def detect_batch(readings: Readings, meters: Sequence[MeterRole], *,
                 settings: DetectorSettings = DetectorSettings(),  # noqa: B008 - frozen, immutable
                 schedules: Mapping[str, Schedule] | None = None,
                 outdoor_temp: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
                 start_ns: int | None = None, end_ns: int | None = None) -> list[Detection]:
    """Every episode found in the readings, as if evaluated at every interval boundary.

    Intervals run on the absolute grid of `settings.interval_s` from `start_ns` (default: the first
    reading, floored to the grid) up to `end_ns` (default: the last reading, rounded up). Episodes still
    open at the end have `end_ns` None. `outdoor_temp` is (ts_ns, °C) samples for the heat-pump
    detector. Identical to feeding the same readings to `StreamingDetectors` and calling `evaluate` at
    each boundary up to `end_ns` + one interval (see docs/detectors.md).
    """
    step = settings.step_ns
    span = data_span(readings, meters)
    if span is None and (start_ns is None or end_ns is None):
        return []
    lo = grid_floor(int(start_ns) if start_ns is not None else span[0], step)  # type: ignore[index]
    hi = int(end_ns) if end_ns is not None else span[1] + 1  # type: ignore[index]
    n = max(1, -(-(hi - lo) // step))
    edges = lo + step * np.arange(n + 1, dtype=np.int64)
    engine = Engine(meters, settings, schedules, settings.history_weeks)
    cells = compute_cells(readings, engine.roles, edges, settings.max_gap_s, outdoor_temp)
    lag = lag_ns(settings)
    found: list[Detection] = []
    for k in range(n):
        found.extend(engine.push(cells.column(k), int(edges[k + 1]) + lag))
    found.extend(engine.ongoing())
    return sorted(found, key=sort_key)
