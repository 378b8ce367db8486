"""How much of a window each meter's counter readings cover, and which days they leave uncovered.

    cov = meter_coverage(readings, meters, "Asia/Shanghai", start_ns, end_ns, 3600)
    cov[0].coverage, cov[0].missing, cov[0].reason

Coverage is analytics.intervals' (the share of each interval backed by readings on both sides), the
same the indicators' coverage is made of; a meter of the site config without any reading of its
counter quantity in the window has coverage 0 and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from analytics.indicators import mean_periods, period_index
from analytics.intervals import interval_consumption
from analytics.local_days import local_day
from analytics.rollup import KIND_QUANTITY, MeterInfo, ReadingColumns


@dataclass(frozen=True, slots=True)
class MeterCoverage:
    meter: str
    building: str
    quantity: str  # the counter quantity judged
    coverage: float  # 0..1 over the window
    missing: tuple[tuple[str, str], ...]  # (first, last) local days not wholly covered, in order
    reason: str  # "" when wholly covered


def meter_coverage(readings: Mapping[str, ReadingColumns], meters: Sequence[MeterInfo], timezone: str,
                   start_ns: int, end_ns: int, interval_s: int) -> list[MeterCoverage]:
    """One row per meter that has a counter quantity (KIND_QUANTITY), in site-config order."""
    per: dict[str, tuple[float, tuple[tuple[str, str], ...], int]] = {}
    for quantity in dict.fromkeys(KIND_QUANTITY.values()):
        cols = readings.get(quantity)
        if cols is None or not len(cols.ts_ns):
            continue
        res = interval_consumption(cols.meter, cols.ts_ns, cols.value, start_ns, end_ns, interval_s)
        days, idx = period_index(res.edges_ns, timezone, "day")
        daily = mean_periods(res.coverage, idx, len(days))
        for i, m in enumerate(res.meters):
            gaps = int(np.count_nonzero(res.coverage[i] < 1.0))
            per[f"{quantity}:{m}"] = (float(np.mean(res.coverage[i])) if res.n_intervals else 0.0,
                                      _ranges(days, daily[i] < 1.0), gaps)
    tz = ZoneInfo(timezone)
    whole = ((local_day(start_ns, tz).isoformat(), local_day(end_ns - 1, tz).isoformat()),)
    out = []
    for m in meters:
        if m.kind not in KIND_QUANTITY:
            continue
        quantity = KIND_QUANTITY[m.kind]
        cov, missing, gaps = per.get(f"{quantity}:{m.id}", (0.0, whole, -1))
        if gaps < 0:
            reason = f"no {quantity} readings in the period"
        elif gaps:
            reason = f"{gaps} interval(s) of {interval_s} s without readings on both sides"
        else:
            reason = ""
        out.append(MeterCoverage(m.id, m.building, quantity, cov, missing, reason))
    return out


def _ranges(days: Sequence[str], bad: np.ndarray) -> tuple[tuple[str, str], ...]:
    """Runs of consecutive flagged days as (first, last)."""
    out: list[tuple[str, str]] = []
    start: int | None = None
    for i, flag in enumerate([*bad.tolist(), False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((days[start], days[i - 1]))
            start = None
    return tuple(out)


__all__ = ["MeterCoverage", "meter_coverage"]
