"""The indicators public institutions are judged by, as pure functions on numpy arrays.

    usage = Usage(electricity_kwh=..., heat_kwh=..., natural_gas_m3=..., water_m3=...)   # per entity
    coal, grid = table.factor_set("calorific"), table.carbon_series("national-2023")
    ind = compute_indicators(usage, scale, coal, grid)
    ind.kgce_per_m2, ind.kgce_per_person, ind.water_m3_per_person, ind.kgco2_per_m2, ind.heating_kgce_per_m2

An entity is a building, an institution, a category or the fleet (rows); arrays may carry a second
axis of periods (entities × periods). Comprehensive energy (综合能耗) is electricity, purchased heat
and natural gas in kgce with ONE factor set; water is reported in m³, not converted. Values are for
the period given (a day's kgce/m² is that day's energy over the floor area; nothing is annualised).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from analytics.factors import CarbonFactors, FactorSet, Target
from analytics.rollup import BuildingInfo, BuildingSeries

F64 = NDArray[np.float64]
Adjust = Callable[[str, list[str], str, int, "Usage", "Scale"], tuple[list[str], "Usage", "Scale"]]
PERIODS = ("day", "month", "ytd", "year")
INDICATOR_NAMES = ("energy_kgce", "co2_kg", "kgce_per_m2", "kgce_per_person", "water_m3_per_person",
                   "kgco2_per_m2", "heating_kgce_per_m2")


@dataclass(frozen=True)
class Usage:
    """Consumption per entity (and period): kWh of electricity, kWh of purchased heat, m³ of gas and water.

    `heating_electricity_kwh` is the part of the electricity that heats (heat pumps): it is already in
    `electricity_kwh` and only used for heating energy per heated area.
    """

    electricity_kwh: F64
    heat_kwh: F64
    natural_gas_m3: F64
    water_m3: F64
    heating_electricity_kwh: F64
    # fuels no meter reads (petrol, diesel, LPG, coal from a records file), already in kgce and kgCO2
    # with the factor set and carbon factors of the period (analytics.records); None = none
    fuel_kgce: F64 | None = None
    fuel_co2_kg: F64 | None = None

    def regroup(self, labels: Sequence[str], keys: Sequence[str]) -> Usage:
        return Usage(**{f.name: None if getattr(self, f.name) is None else  # type: ignore[arg-type]
                        _regroup(getattr(self, f.name), labels, keys) for f in fields(self)})


@dataclass(frozen=True)
class Scale:
    """Per entity: floor area, heated area (0 when unknown) and occupants (energy users)."""

    floor_area_m2: F64
    heated_area_m2: F64
    occupants: F64

    def regroup(self, labels: Sequence[str], keys: Sequence[str]) -> Scale:
        return Scale(**{f.name: _regroup(getattr(self, f.name), labels, keys) for f in fields(self)})


@dataclass(frozen=True)
class Indicators:
    energy_kgce: F64  # comprehensive energy
    co2_kg: F64
    kgce_per_m2: F64
    kgce_per_person: F64
    water_m3_per_person: F64
    kgco2_per_m2: F64
    heating_kgce_per_m2: F64  # (purchased heat + heat pumps' electricity) per heated area; NaN without
    factor_set: str
    carbon_series: str

    def row(self, i: int | tuple[int, ...]) -> dict[str, float | None]:
        """One entity's (and period's) values; NaN becomes None (for JSON)."""
        out: dict[str, float | None] = {}
        for name in INDICATOR_NAMES:
            v = float(getattr(self, name)[i])
            out[name] = None if np.isnan(v) else v
        return out


def compute_indicators(usage: Usage, scale: Scale, coal: FactorSet, carbon: CarbonFactors) -> Indicators:
    """kgce with the factor set `coal` (当量值 or 等价值, never mixed); kgCO2 with dated `carbon` factors."""
    energy = (usage.electricity_kwh * coal.kgce("electricity") + usage.heat_kwh * coal.kgce("heat")
              + usage.natural_gas_m3 * coal.kgce("natural_gas"))
    co2 = (usage.electricity_kwh * carbon.electricity + usage.heat_kwh * carbon.heat
           + usage.natural_gas_m3 * carbon.natural_gas)
    if usage.fuel_kgce is not None:
        energy = energy + usage.fuel_kgce
    if usage.fuel_co2_kg is not None:
        co2 = co2 + usage.fuel_co2_kg
    heating = usage.heat_kwh * coal.kgce("heat") + usage.heating_electricity_kwh * coal.kgce("electricity")
    area, heated, people = (_per_row(x, energy.ndim) for x in
                            (scale.floor_area_m2, scale.heated_area_m2, scale.occupants))
    return Indicators(
        energy_kgce=energy, co2_kg=co2, kgce_per_m2=ratio(energy, area),
        kgce_per_person=ratio(energy, people), water_m3_per_person=ratio(usage.water_m3, people),
        kgco2_per_m2=ratio(co2, area), heating_kgce_per_m2=ratio(heating, heated),
        factor_set=coal.name, carbon_series=carbon.series)


def ratio(num: F64, den: F64) -> F64:
    """num / den, NaN where den is not positive."""
    den_b = np.broadcast_to(den, np.broadcast_shapes(np.shape(num), np.shape(den)))
    out = np.full(den_b.shape, np.nan)
    np.divide(num, den_b, out=out, where=den_b > 0)
    return out


def change(current: F64, previous: F64) -> F64:
    """Year-on-year (or any) relative change: -0.02 = down 2 %. NaN where `previous` is not positive."""
    return ratio(np.asarray(current) - np.asarray(previous), np.asarray(previous, dtype=float))


@dataclass(frozen=True, slots=True)
class TargetProgress:
    indicator: str
    baseline: float  # baseline-year value
    value: float  # current value
    achieved: float  # value / baseline - 1
    target: float  # the target's change, e.g. -0.05
    share: float  # achieved / target: 1.0 = the target's reduction reached, < 0 = moved the wrong way
    met: bool


def target_progress(target: Target, indicator: str, value: float,
                    baseline: float | None = None) -> TargetProgress:
    """Progress of `value` against `target` from `baseline` (default: the target's published baseline)."""
    if indicator not in target.change:
        raise KeyError(f"target {target.name!r} has no {indicator}; it has {', '.join(target.change)}")
    base = target.baseline.get(indicator) if baseline is None else baseline
    if base is None or not base > 0:
        raise ValueError(f"target {target.name!r}: no baseline for {indicator}; pass the "
                         f"{target.baseline_year} value")
    achieved = value / base - 1.0
    goal = target.change[indicator]
    return TargetProgress(indicator, base, value, achieved, goal, achieved / goal, achieved <= goal)


def period_index(edges_ns: NDArray[np.int64], timezone: str,
                 period: str) -> tuple[list[str], NDArray[np.intp]]:
    """Label each interval with its local day, month or year (`ytd` groups like `year`).

    Returns (labels in time order, index of each interval into labels). An interval that crosses a
    period boundary in local time is an error: choose intervals that divide the local day.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    tz = ZoneInfo(timezone)
    width = {"day": 10, "month": 7, "ytd": 4, "year": 4}[period]

    def label(ns: int) -> str:
        return datetime.fromtimestamp(ns // 10**9, UTC).astimezone(tz).date().isoformat()[:width]

    labels: list[str] = []
    idx = np.empty(len(edges_ns) - 1, np.intp)
    for i in range(len(edges_ns) - 1):
        start, last = label(int(edges_ns[i])), label(int(edges_ns[i + 1]) - 1)
        if start != last:
            raise ValueError(f"interval {i} crosses a {period} boundary in {timezone}; use intervals "
                             "that divide the local day")
        if not labels or labels[-1] != start:
            labels.append(start)
        idx[i] = len(labels) - 1
    return labels, idx


def sum_periods(values: F64, idx: NDArray[np.intp], n_periods: int) -> F64:
    """entities × intervals → entities × periods, summing the intervals of each period."""
    out = np.zeros((values.shape[0], n_periods))
    np.add.at(out.T, idx, values.T)
    return out


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    level: str  # building | institution | category | fleet
    id: str
    period: str
    values: dict[str, float | None]  # INDICATOR_NAMES
    factor_set: str
    carbon_series: str
    coverage: float | None = None  # mean coverage of the building's meters (buildings only)
    sources: dict[str, object] | None = None  # with a records file: what came from records (analyze)


def indicator_rows(series: BuildingSeries, buildings: Sequence[BuildingInfo], timezone: str, period: str,
                   coal: FactorSet, carbon: Callable[[int], CarbonFactors],
                   coverage: F64 | None = None, adjust: Adjust | None = None) -> list[IndicatorRow]:
    """Indicators per building, institution, category and fleet, for every period of the series.

    `carbon(year)` gives the carbon factors for a period's year (a fixed series, or the dated one).
    `adjust(level, keys, label, p, usage, scale)` may give each level's rows of one period another
    basis and add usage, returning (keys, usage, scale) (analytics.basis.YearBasis: the basis of
    each year, records of fuels no meter reads).
    """
    labels, idx = period_index(series.edges_ns, timezone, period)
    c = {k: sum_periods(v, idx, len(labels)) for k, v in series.carriers.items()}
    usage = Usage(c["electricity"], c["heat"], c["natural_gas"], c["water"],
                  sum_periods(series.heating_electricity, idx, len(labels)))
    scale = Scale(np.array([b.floor_area_m2 for b in buildings]),
                  np.array([b.heated_area_m2 or 0.0 for b in buildings]),
                  np.array([float(b.occupants) for b in buildings]))
    levels: list[tuple[str, list[str]]] = [
        ("building", [b.id for b in buildings]), ("institution", [b.institution for b in buildings]),
        ("category", [b.category for b in buildings]), ("fleet", ["all"] * len(buildings))]
    rows: list[IndicatorRow] = []
    for p, label in enumerate(labels):
        grid = carbon(int(label[:4]))
        for level, keys in levels:
            order = list(dict.fromkeys(keys))
            u, s = usage.regroup(keys, order), scale.regroup(keys, order)
            if adjust is not None:
                order, u, s = adjust(level, order, label, p, u, s)
            ind = compute_indicators(u, s, coal, grid)
            for i, key in enumerate(order):
                cov = None
                if level == "building" and coverage is not None and not np.isnan(coverage[i]):
                    cov = float(coverage[i])
                rows.append(IndicatorRow(level, key, label if period != "ytd" else f"{label} YTD",
                                         ind.row((i, p)), coal.name, grid.series, cov))
    return rows


def _per_row(x: F64, ndim: int) -> F64:
    x = np.asarray(x, dtype=float)
    return x.reshape(x.shape + (1,) * (ndim - x.ndim))


def _regroup(x: F64, labels: Sequence[str], keys: Sequence[str]) -> F64:
    x = np.asarray(x, dtype=float)
    pos = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(keys), *x.shape[1:]))
    np.add.at(out, np.fromiter((pos[label] for label in labels), np.intp, len(labels)), x)
    return out


HEADLINE = ("kgce_per_m2", "kgce_per_person", "water_m3_per_person", "kgco2_per_m2")


def previous_year_label(label: str) -> str | None:
    """The same period a year earlier: '2023' -> '2022', '2023-05' -> '2022-05' (None for days,
    whose year-on-year comparison is not meaningful without weekday alignment)."""
    year, _, rest = label.partition("-")
    if not year.isdigit() or len(rest) > 2:
        return None
    return f"{int(year) - 1}{'-' + rest if rest else ''}"


def with_year_on_year(rows: Sequence[IndicatorRow]) -> list[IndicatorRow]:
    """Rows with `<indicator>_yoy` added for the headline indicators where the same entity has the
    same period a year earlier in `rows` (relative change: -0.02 = down 2 %)."""
    index = {(r.level, r.id, r.period): r for r in rows}
    out = []
    for r in rows:
        before_label = previous_year_label(r.period)
        before = index.get((r.level, r.id, before_label)) if before_label else None
        values = dict(r.values)
        for name in HEADLINE:
            now, then = r.values.get(name), before.values.get(name) if before else None
            values[f"{name}_yoy"] = (now / then - 1.0) if (now is not None and then) else None
        out.append(replace(r, values=values))
    return out


__all__ = [
    "HEADLINE",
    "INDICATOR_NAMES",
    "PERIODS",
    "IndicatorRow",
    "Indicators",
    "Scale",
    "TargetProgress",
    "Usage",
    "change",
    "compute_indicators",
    "indicator_rows",
    "period_index",
    "previous_year_label",
    "ratio",
    "sum_periods",
    "target_progress",
    "with_year_on_year",
]
