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
from dataclasses import dataclass, field, fields, replace
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
    """entities × intervals → entities × periods, summing the intervals of each period.

    NaN (no data) is skipped, never added as 0; a period without any number is NaN."""
    out = np.zeros((values.shape[0], n_periods))
    count = np.zeros((values.shape[0], n_periods))
    known = ~np.isnan(values)
    np.add.at(out.T, idx, np.where(known, values, 0.0).T)
    np.add.at(count.T, idx, known.T)
    out[count == 0] = np.nan
    return out


def mean_periods(values: F64, idx: NDArray[np.intp], n_periods: int) -> F64:
    """entities × intervals → entities × periods, the mean over the intervals of each period."""
    out = np.zeros((values.shape[0], n_periods))
    np.add.at(out.T, idx, values.T)
    n = np.bincount(idx, minlength=n_periods).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(out / n, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    level: str  # building | institution | category | fleet
    id: str
    period: str
    values: dict[str, float | None]  # INDICATOR_NAMES; None = no data (see no_data)
    factor_set: str
    carbon_series: str
    coverage: float | None = None  # mean coverage (0..1) of the meters behind the row, in this period
    no_data: dict[str, str] = field(default_factory=dict)  # indicator → why it is None
    amounts: dict[str, float | None] = field(default_factory=dict)  # AMOUNT_NAMES; None = no data
    sources: dict[str, object] | None = None  # with a records file: what came from records (analyze)


AMOUNT_NAMES = {"electricity": "electricity_kwh", "heat": "heat_kwh", "natural_gas": "natural_gas_m3",
                "water": "water_m3"}


ENERGY_CARRIERS = ("electricity", "heat", "natural_gas")
_ENERGY_FIELDS = ("energy_kgce", "co2_kg", "kgce_per_m2", "kgce_per_person", "kgco2_per_m2")


def indicator_rows(series: BuildingSeries, buildings: Sequence[BuildingInfo], timezone: str, period: str,
                   coal: FactorSet, carbon: Callable[[int], CarbonFactors],
                   coverage: F64 | None = None, adjust: Adjust | None = None) -> list[IndicatorRow]:
    """Indicators per building, institution, category and fleet, for every period of the series.

    `carbon(year)` gives the carbon factors for a period's year (a fixed series, or the dated one).
    `adjust(level, keys, label, p, usage, scale)` may give each level's rows of one period another
    basis and add usage, returning (keys, usage, scale) (analytics.basis.YearBasis: the basis of
    each year, records of fuels no meter reads). Those rows are sums over all their
    buildings (a basis area is the whole institution's), so one building without data makes them None.
    No data is never 0: a carrier a building has no meter for is absent (it adds nothing); a carrier
    whose meters have no readings in a period makes that period's energy indicators None, with the
    reason in `no_data`. Above buildings, each indicator is a ratio of sums over the buildings that
    have it (their energy over their floor area), so a building without data does not dilute it.
    (`coverage` is ignored: the series carries coverage per period.)
    """
    labels, idx = period_index(series.edges_ns, timezone, period)
    n_p = len(labels)
    c = {k: sum_periods(v, idx, n_p) for k, v in series.carriers.items()}
    has = {k: np.array([bool(m) for m in series.total_meters.get(k, ((),) * len(buildings))], dtype=bool)
           for k in c}
    heating_el = sum_periods(series.heating_electricity, idx, n_p)
    hp_meters = ~np.all(np.isnan(heating_el), axis=1)  # a building whose heat pumps have data
    missing = {k: has[k][:, None] & np.isnan(c[k]) for k in c}
    absent_zero = {k: np.where(has[k][:, None], c[k], 0.0) for k in c}
    any_energy = np.any([has[k] for k in ENERGY_CARRIERS], axis=0)[:, None]
    energy_missing = np.any([missing[k] for k in ENERGY_CARRIERS], axis=0) | ~any_energy
    usage = Usage(np.where(energy_missing, np.nan, absent_zero["electricity"]),
                  np.where(energy_missing, np.nan, absent_zero["heat"]),
                  np.where(energy_missing, np.nan, absent_zero["natural_gas"]),
                  c["water"], np.where(np.isnan(heating_el), 0.0, heating_el))
    no_heating = ~(has["heat"] | hp_meters)[:, None]
    cov = _period_coverage(series, idx, n_p)
    area = np.array([b.floor_area_m2 for b in buildings], float)
    heated = np.array([b.heated_area_m2 or 0.0 for b in buildings], float)
    people = np.array([float(b.occupants) for b in buildings])
    # adjusted (basis/records) rows are plain sums over their buildings: energy is NaN where a
    # building's energy is, water where a building has no water reading (a record may fill it)
    group_usage = Usage(usage.electricity_kwh, usage.heat_kwh, usage.natural_gas_m3, c["water"],
                        usage.heating_electricity_kwh)
    building_scale = Scale(area, heated, people)
    levels: list[tuple[str, list[str]]] = [
        ("building", [b.id for b in buildings]), ("institution", [b.institution for b in buildings]),
        ("category", [b.category for b in buildings]), ("fleet", ["all"] * len(buildings))]
    rows: list[IndicatorRow] = []
    for p, label in enumerate(labels):
        grid = carbon(int(label[:4]))
        ind = compute_indicators(Usage(*(x[:, p] for x in (usage.electricity_kwh, usage.heat_kwh,
                                                           usage.natural_gas_m3, usage.water_m3,
                                                           usage.heating_electricity_kwh))),
                                 Scale(area, heated, people), coal, grid)
        heating_num = (usage.heat_kwh[:, p] * coal.kgce("heat")
                       + usage.heating_electricity_kwh[:, p] * coal.kgce("electricity"))
        heating_num = np.where(no_heating[:, 0], np.nan, heating_num)
        nums = {"energy_kgce": (ind.energy_kgce, None), "co2_kg": (ind.co2_kg, None),
                "kgce_per_m2": (ind.energy_kgce, area), "kgce_per_person": (ind.energy_kgce, people),
                "water_m3_per_person": (usage.water_m3[:, p], people),
                "kgco2_per_m2": (ind.co2_kg, area), "heating_kgce_per_m2": (heating_num, heated)}
        why = _building_reasons(series, p, label, has, missing, no_heating, area, heated, people)
        for level, keys in levels:
            order = list(dict.fromkeys(keys))
            if adjust is not None and level != "building":
                rows.extend(_adjusted_rows(level, keys, label, p, period, group_usage, building_scale,
                                           cov[:, p], coal, grid, adjust))
                continue
            values = {name: _group_ratio(num, den, keys, order) for name, (num, den) in nums.items()}
            level_cov = _group_nanmean(cov[:, p], keys, order)
            amounts = {AMOUNT_NAMES[k]: _group_ratio(v[:, p], None, keys, order) for k, v in c.items()}
            for i, key in enumerate(order):
                vals = {name: (None if np.isnan(v[i]) else float(v[i])) for name, v in values.items()}
                if level == "building":
                    reasons = {k: r for k, r in why[i].items() if vals.get(k) is None}
                else:
                    reasons = {k: f"no building of this {level} has data for it" for k, v in vals.items()
                               if v is None}
                rows.append(IndicatorRow(level, key, label if period != "ytd" else f"{label} YTD", vals,
                                         coal.name, grid.series,
                                         None if np.isnan(level_cov[i]) else float(level_cov[i]), reasons,
                                         {k: None if np.isnan(v[i]) else float(v[i])
                                          for k, v in amounts.items()}))
    return rows


def _adjusted_rows(level: str, keys: list[str], label: str, p: int, period: str, usage: Usage,
                   scale: Scale, cov: F64, coal: FactorSet, grid: CarbonFactors,
                   adjust: Adjust) -> list[IndicatorRow]:
    """One level's rows of period `p` through `adjust` (analytics.basis.YearBasis), which may add rows
    (institutions no building belongs to), change the basis and add recorded usage."""
    order = list(dict.fromkeys(keys))
    level_cov = dict(zip(order, _group_nanmean(cov, keys, order), strict=True)) if keys else {}
    order, u, s = adjust(level, order, label, p, usage.regroup(keys, order), scale.regroup(keys, order))
    ind = compute_indicators(u, s, coal, grid)
    rows = []
    for i, key in enumerate(order):
        vals = ind.row((i, p))
        reasons = {k: f"no data for this {level} in {label}: a building without readings, or neither a "
                      "meter nor a record" for k, v in vals.items() if v is None}
        amounts = {AMOUNT_NAMES[k]: _known(getattr(u, AMOUNT_NAMES[k])[i, p]) for k in AMOUNT_NAMES}
        rows.append(IndicatorRow(level, key, label if period != "ytd" else f"{label} YTD", vals, coal.name,
                                 grid.series, _known(level_cov.get(key, np.nan)), reasons, amounts))
    return rows


def _known(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _period_coverage(series: BuildingSeries, idx: NDArray[np.intp], n_p: int) -> F64:
    """Buildings × periods: mean coverage of the meters the building's totals are made of."""
    total = np.zeros((len(series.buildings), n_p))
    count = np.zeros(len(series.buildings))
    for carrier, cov in series.coverage.items():
        n = np.array([len(m) for m in series.total_meters.get(carrier, ())] or np.zeros(len(count)))
        if not n.any():
            continue
        total += np.nan_to_num(mean_periods(cov, idx, n_p)) * n[:, None]
        count += n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / count[:, None], dtype=np.float64)


def _building_reasons(series: BuildingSeries, p: int, label: str, has: dict[str, NDArray[np.bool_]],
                      missing: dict[str, NDArray[np.bool_]], no_heating: NDArray[np.bool_], area: F64,
                      heated: F64, people: F64) -> list[dict[str, str]]:
    """Per building, why each indicator would be None in period `p`."""
    out: list[dict[str, str]] = []
    for i in range(len(area)):
        why: dict[str, str] = {}
        lost = [k for k in ENERGY_CARRIERS if missing[k][i, p]]
        if not any(has[k][i] for k in ENERGY_CARRIERS):
            energy = "no electricity, heat or gas meter in the site config"
        elif lost:
            energy = "; ".join(f"no {k.replace('_', ' ')} readings in {label} (meter "
                               f"{', '.join(series.total_meters[k][i])})" for k in lost)
        else:
            energy = ""
        for name in _ENERGY_FIELDS:
            if energy:
                why[name] = energy
        if not energy:
            if not area[i] > 0:
                why["kgce_per_m2"] = why["kgco2_per_m2"] = "no floor area"
            if not people[i] > 0:
                why["kgce_per_person"] = "no occupants"
        if not has["water"][i]:
            why["water_m3_per_person"] = "no water meter in the site config"
        elif missing["water"][i, p]:
            why["water_m3_per_person"] = (f"no water readings in {label} (meter "
                                          f"{', '.join(series.total_meters['water'][i])})")
        elif not people[i] > 0:
            why["water_m3_per_person"] = "no occupants"
        if no_heating[i, 0]:
            why["heating_kgce_per_m2"] = "no heat or heat-pump meter"
        elif not heated[i] > 0:
            why["heating_kgce_per_m2"] = "no heated area"
        elif missing["heat"][i, p]:
            why["heating_kgce_per_m2"] = f"no heat readings in {label}"
        out.append(why)
    return out


def _group_ratio(num: F64, den: F64 | None, labels: Sequence[str], keys: Sequence[str]) -> F64:
    """Per group: sum(num) / sum(den) over the members whose num is known (den None: the sum itself).
    NaN when no member has num, or the denominator is not positive."""
    top, n = _known_sums(num, labels, keys)
    top[n == 0] = np.nan
    if den is None:
        return top
    return ratio(top, _regroup(np.where(np.isnan(num), 0.0, den), labels, keys))


def _group_nanmean(x: F64, labels: Sequence[str], keys: Sequence[str]) -> F64:
    top, n = _known_sums(x, labels, keys)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(top / n, dtype=np.float64)


def _known_sums(x: F64, labels: Sequence[str], keys: Sequence[str]) -> tuple[F64, F64]:
    """Per group of `keys` (`labels`: each member's group): the sum of its members' known (not NaN)
    values of `x`, and how many are known."""
    known = ~np.isnan(x)
    return _regroup(np.where(known, x, 0.0), labels, keys), _regroup(known.astype(np.float64), labels, keys)


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
    "AMOUNT_NAMES",
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
    "mean_periods",
    "period_index",
    "previous_year_label",
    "ratio",
    "sum_periods",
    "target_progress",
    "with_year_on_year",
]
