"""The indicators of a window of days, from inputs already read: what `metergate analyze` computes.

    run = run_indicators(buildings, meters, "Asia/Shanghai", readings, Window("month"), table,
                         table.factor_set("calorific"), basis=basis, records=records)
    run.rows, run.notes

The window: from `Window.first_day` (default: the local day of the first reading or recorded month; for
"ytd" 1 January of the last day's year) to `Window.last_day` inclusive (default: the local day of the last
reading or recorded month; a reading at local midnight closes the day before). Each period's grid
factor is `carbon` if given, else the national series' of its year (`FactorTable.grid_factor`, with a
note when it uses another year). Records count in the months wholly inside the window.

Reading the files (site config, readings, outbox, factors, basis, records) is the caller's. A problem
raises IndicatorRunError, worded for the `analyze` command (its options and files); a window without
any reading raises NoReadingsInWindow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from analytics.basis import Basis, YearBasis
from analytics.factors import CarbonFactors, FactorSet, FactorTable
from analytics.indicators import IndicatorRow, indicator_rows, period_index, sum_periods, with_year_on_year
from analytics.local_days import local_day, midnight_ns
from analytics.readings_io import Columns
from analytics.records import CARRIERS, Records, RecordsError, RecordUsage, check_overlap
from analytics.rollup import (
    CARRIER_QUANTITIES,
    BuildingInfo,
    BuildingSeries,
    MeterInfo,
    RollUp,
    RollupError,
    VirtualMeter,
    series_from_readings,
)
from core.errors import MetergateError


class IndicatorRunError(MetergateError):
    """Inputs that give no indicators: readings of meters the site lacks, no counter readings, a window
    that ends before it starts, records of what meters also measured."""


class NoReadingsInWindow(IndicatorRunError):
    """None of the readings lies in the window (they cover other days)."""


@dataclass(frozen=True, slots=True)
class Window:
    period: str  # one of analytics.indicators.PERIODS
    first_day: date | None = None  # local; None: see the module's docstring
    last_day: date | None = None  # inclusive
    interval_s: int = 3600  # divides a day; the indicators do not depend on it


@dataclass(frozen=True, slots=True)
class IndicatorRun:
    rows: list[IndicatorRow]
    notes: list[str]  # the factor set, a grid factor of another year, records left out, …


def run_indicators(buildings: tuple[BuildingInfo, ...], meters: Sequence[MeterInfo], timezone: str,
                   readings: Mapping[str, Columns] | None, window: Window, table: FactorTable,
                   coal: FactorSet, *, carbon: CarbonFactors | None = None,
                   virtual: Sequence[VirtualMeter] = (), basis: Basis | None = None,
                   records: Records | None = None, readings_name: str = "readings",
                   site_name: str = "the site config") -> IndicatorRun:
    """Indicator rows of every building, institution, category and the fleet per period of `window`.

    `buildings` as relabelled by `basis.apply`; `readings` None: none given (records only, then
    without building rows). `readings_name` and `site_name` name the inputs in messages."""
    if readings is None and records is None:
        raise IndicatorRunError("no readings and no records: nothing to compute indicators from")
    data = readings or {}
    _check_meters(data, meters, readings_name, site_name)
    counters = {q: c for q, c in data.items() if q in CARRIER_QUANTITIES and len(c)}
    if not counters and readings is not None:
        raise IndicatorRunError(f"{readings_name}: no counter readings ({', '.join(CARRIER_QUANTITIES)})")
    tz = ZoneInfo(timezone)
    first, last = _span(counters, records, tz)
    start_day, end_day = _days(window, first, last, tz)
    start_ns, end_ns = midnight_ns(start_day, tz), midnight_ns(end_day + timedelta(days=1), tz)
    try:
        if counters:
            series, coverage = series_from_readings(counters, buildings, meters, start_ns, end_ns,
                                                    window.interval_s, virtual)
        else:
            series, coverage = _empty_series(buildings, start_ns, end_ns, window.interval_s), None
    except (RollupError, ValueError) as exc:
        raise IndicatorRunError(str(exc)) from exc
    if coverage is not None and not np.nanmax(np.nan_to_num(coverage), initial=0.0) > 0:
        raise NoReadingsInWindow(f"no readings in {start_day} … {end_day}: the readings of "
                                 f"{readings_name} cover {local_day(first, tz)} … {local_day(last, tz)}")
    notes: list[str] = [f"factor set {coal.name}: {coal.label}"]
    grid = _grid_by_year(table, carbon, notes)
    adjust = None
    if basis is not None or records is not None:
        adjust = _adjust(basis, records, buildings, series, timezone, start_day, end_day, coal, grid, notes)
        adjust.metered = bool(counters)
    try:
        rows = with_year_on_year(indicator_rows(series, buildings, timezone, window.period, coal, grid,
                                                coverage, adjust))
    except ValueError as exc:  # e.g. a year before the basis' first row
        raise IndicatorRunError(str(exc)) from exc
    extra = adjust.extra if adjust is not None else None
    if isinstance(extra, RecordUsage):
        rows = _with_sources(rows, extra, metered=bool(counters))
    if not counters:
        rows = [r for r in rows if r.level != "building"]
        notes.append("no readings: only the records, per institution (no building rows)")
    return IndicatorRun(rows, notes)


def _check_meters(data: Mapping[str, Columns], meters: Sequence[MeterInfo], readings_name: str,
                  site_name: str) -> None:
    known = {m.id for m in meters}
    for quantity, cols in data.items():
        unknown = sorted(set(np.unique(cols.meter).tolist()) - known)
        if unknown:
            raise IndicatorRunError(f"{readings_name}: {quantity} readings of meter(s) not in {site_name}: "
                                    f"{', '.join(unknown[:10])}")


def _days(window: Window, first: int, last: int, tz: ZoneInfo) -> tuple[date, date]:
    """The window's first and last day (inclusive) from the options and the span [first, last] (ns)."""
    # a reading at local midnight closes the day before
    end_day = window.last_day if window.last_day is not None else local_day(last - 1, tz)
    if window.first_day is not None:
        start_day = window.first_day
    elif window.period == "ytd":
        start_day = date(end_day.year, 1, 1)
    else:
        start_day = local_day(first, tz)
    if start_day > end_day:
        raise IndicatorRunError(f"--from {start_day} is after --to {end_day}")
    return start_day, end_day


def _grid_by_year(table: FactorTable, fixed: CarbonFactors | None,
                  notes: list[str]) -> Callable[[int], CarbonFactors]:
    """The grid factor of a period's year: `fixed`, else the national series' (once a note per year
    it has no value for)."""
    def carbon(year: int) -> CarbonFactors:
        if fixed is not None:
            return fixed
        grid = table.grid_factor(year)
        note = f"no national grid factor for {year}: used national-{grid.year}"
        if grid.year != year and note not in notes:
            notes.append(note)
        return grid

    return carbon


def _span(counters: Mapping[str, Columns], recs: Records | None, tz: ZoneInfo) -> tuple[int, int]:
    """First and last instant (ns) of the readings and of the records' months."""
    starts = [int(c.ts_ns.min()) for c in counters.values()]
    ends = [int(c.ts_ns.max()) for c in counters.values()]
    if recs is not None:
        months = recs.months()
        starts.append(midnight_ns(_month_days(months[0])[0], tz))
        ends.append(midnight_ns(_month_days(months[-1])[1] + timedelta(days=1), tz))
    return min(starts), max(ends)


def _empty_series(buildings: tuple[BuildingInfo, ...], start_ns: int, end_ns: int,
                  interval: int) -> BuildingSeries:
    """No readings (records only): a series of the window's intervals with nothing metered."""
    n = -(-(end_ns - start_ns) // (interval * 10**9))
    edges = start_ns + np.arange(n + 1, dtype=np.int64) * interval * 10**9
    zeros = {c: np.zeros((len(buildings), n)) for c in ("electricity", "heat", "natural_gas", "water")}
    return BuildingSeries(tuple(b.id for b in buildings), edges, zeros, np.zeros((len(buildings), n)),
                          RollUp((), np.zeros((0, n))))


def _adjust(basis: Basis | None, recs: Records | None, buildings: tuple[BuildingInfo, ...],
            series: BuildingSeries, timezone: str, start_day: date, end_day: date, coal: FactorSet,
            carbon: Callable[[int], CarbonFactors], notes: list[str]) -> YearBasis:
    """indicator_rows' hook: each year's basis, and the records of the months inside the window."""
    yb = YearBasis(basis, buildings, notes)
    if recs is None:
        return yb
    inside = {m for m in recs.months() if _month_days(m)[0] >= start_day and _month_days(m)[1] <= end_day}
    cut = [m for m in recs.months() if m not in inside
           and _month_days(m)[1] >= start_day and _month_days(m)[0] <= end_day]
    if cut:
        notes.append(f"records of {', '.join(cut)} left out: --from/--to cut those months")
    try:
        check_overlap(recs, _metered_months(series, buildings, timezone))
    except RecordsError as exc:
        raise IndicatorRunError(str(exc)) from exc
    yb.extra = RecordUsage(recs, inside, coal, carbon, yb.key)
    return yb


def _month_days(month: str) -> tuple[date, date]:
    """The first and last day of "YYYY-MM"."""
    y, m = map(int, month.split("-"))
    return date(y, m, 1), date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)


def _metered_months(series: BuildingSeries, buildings: tuple[BuildingInfo, ...],
                    timezone: str) -> dict[tuple[str, str], set[str]]:
    """(institution, carrier) -> the months in which its buildings' meters measured some use."""
    labels, idx = period_index(series.edges_ns, timezone, "month")
    out: dict[tuple[str, str], set[str]] = {}
    for carrier, values in series.carriers.items():
        per = sum_periods(values, idx, len(labels))
        for i, b in enumerate(buildings):
            for p in np.flatnonzero(np.nan_to_num(per[i])):  # NaN (no data) is not use
                out.setdefault((b.institution, carrier), set()).add(labels[p])
    return out


def _with_sources(rows: list[IndicatorRow], used: RecordUsage, *, metered: bool) -> list[IndicatorRow]:
    """Mark what came from records: each carrier's recorded quantity and the kgce from records."""
    out = []
    for r in rows:
        key = (r.level, r.id, r.period.removesuffix(" YTD"))
        recorded = used.sources.get(key, {}) if r.level != "building" else {}
        kgce = used.kgce.get(key, 0.0) if r.level != "building" else 0.0
        total = r.values.get("energy_kgce")
        out.append(replace(r, sources={
            "records": {f"{c}_{CARRIERS[c]}": q for c, q in recorded.items()},
            "records_kgce": kgce,
            "metered_kgce": None if total is None or not metered else total - kgce}))
    return out


__all__ = ["IndicatorRun", "IndicatorRunError", "NoReadingsInWindow", "Window", "run_indicators"]
