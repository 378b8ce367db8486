"""A building's year to date against its quotas (能耗定额), day by day: pure numpy.

    usage = daily_usage(interval_results, buildings, meters, timezone)   # buildings x local days
    result = track_quotas(usage, subjects, table, factors, settings=QuotaSettings())
    result.detections                                    # QUOTA_* and REDUCTION_TARGET Detections
    result.status                                        # the latest QuotaStatus per building and quota

The year's quota is spread over the days by a seasonal profile (last year's monthly shape when all 12
months of last year are known, else flat; heating indicators without a year of data: flat over the
heating season), the year to date is compared with the pro-rated tiers, and the year end is projected
from the year to date plus the recent rate (last `recent_days`) over what is left of the profile.
The quota tables and their lookup are analytics/quotas.py; docs/quotas.md has the method.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from analytics.events import AlertKind, Detection, Severity
from analytics.factors import FactorSet, FactorTable
from analytics.indicators import period_index, sum_periods
from analytics.local_days import local_day, midnight_ns
from analytics.quotas import INDICATORS, IndicatorDef, QuotaSubject, QuotaTable, lower_confidence
from analytics.rollup import BuildingInfo, IntervalLike, MeterInfo, building_series

F64 = NDArray[np.float64]


# -- daily consumption per building -----------------------------------------------------------------

@dataclass(frozen=True)
class DailyUsage:
    """Buildings × consecutive local days: kWh of electricity (heat pumps' included), kWh of purchased
    heat, m³ of gas and water, kWh of heat pumps; `known` where the building had counter data."""

    buildings: tuple[str, ...]
    first_day: date
    electricity: F64
    heat: F64
    natural_gas: F64
    water: F64
    heating_electricity: F64
    known: NDArray[np.bool_]
    # carrier → buildings × days where the building has meters of it but no data (its amount above is 0)
    unknown: dict[str, NDArray[np.bool_]] = field(default_factory=dict)

    @property
    def n_days(self) -> int:
        return int(self.electricity.shape[1])

    def day(self, i: int) -> date:
        return self.first_day + timedelta(days=i)


def daily_usage(results: Mapping[str, IntervalLike], buildings: Sequence[BuildingInfo],
                meters: Sequence[MeterInfo], timezone: str) -> DailyUsage:
    """Interval consumption (one result per counter quantity, same intervals starting at a local
    midnight and dividing the day) → per building and local day. A building's day is known when one
    of its meters has coverage on that day."""
    series = building_series(results, buildings, meters)
    labels, idx = period_index(series.edges_ns, timezone, "day")
    n = len(labels)
    # no data is NaN in the series; here `known` says which days have data, and an unknown day's
    # amount is never used as one (a day without any carrier's meter still adds nothing)
    raw = {k: sum_periods(v, idx, n) for k, v in series.carriers.items()}
    unknown = {k: np.array([bool(m) for m in series.total_meters.get(k, ((),) * len(buildings))])[:, None]
               & np.isnan(v) for k, v in raw.items()}
    per_day = {k: np.nan_to_num(v) for k, v in raw.items()}
    known = np.zeros((len(buildings), n), bool)
    row = {b.id: i for i, b in enumerate(buildings)}
    where = {m.id: m.building for m in meters}
    for res in results.values():
        covered = sum_periods(np.asarray(res.coverage, float), idx, n) > 0
        for r, m in enumerate(res.meters):
            known[row[where[str(m)]]] |= covered[r]
    first = date.fromisoformat(labels[0]) if labels else date(1970, 1, 1)
    return DailyUsage(series.buildings, first, per_day["electricity"], per_day["heat"],
                      per_day["natural_gas"], per_day["water"],
                      np.nan_to_num(sum_periods(series.heating_electricity, idx, n)), known, unknown)


def numerator(usage: DailyUsage, row: int, indicator: str, coal: FactorSet | None,
              heating_type: str | None) -> F64:
    """A building's daily amount of the indicator's numerator (kgce, kWh, m³ or L)."""
    e, h, g = usage.electricity[row], usage.heat[row], usage.natural_gas[row]
    hp, w = usage.heating_electricity[row], usage.water[row]
    boiler = heating_type == "boiler"  # gas heats; otherwise gas is non-heating use
    if indicator in ("electricity_kwh_per_m2",):
        return e
    if indicator == "non_heating_kwh_per_m2":
        return e - hp
    if indicator == "water_m3_per_person":
        return w
    if indicator == "water_l_per_bed_day":
        return w * 1000.0
    if coal is None:
        raise ValueError(f"{indicator} needs a factor set")
    fe, fh, fg = coal.kgce("electricity"), coal.kgce("heat"), coal.kgce("natural_gas")
    if indicator in ("kgce_per_m2", "kgce_per_person"):
        return e * fe + h * fh + g * fg
    if indicator == "non_heating_kgce_per_m2":
        return (e - hp) * fe + (0.0 if boiler else 1.0) * g * fg
    if indicator == "heating_kgce_per_m2":
        return h * fh + hp * fe + (1.0 if boiler else 0.0) * g * fg
    raise ValueError(f"unknown indicator {indicator!r}")


# -- seasonal profile -------------------------------------------------------------------------------

def month_lengths(year: int) -> NDArray[np.int64]:
    return np.array([calendar.monthrange(year, m)[1] for m in range(1, 13)], np.int64)


def monthly_shape(daily: F64, known: NDArray[np.bool_], year: int, min_known: float = 0.9) -> F64 | None:
    """Twelve monthly totals of one calendar year of daily values, or None unless every month has
    data on at least `min_known` of its days (the "12 months known" rule). A month's total is its
    known days' sum scaled by days / known days: a missing day is not 0, or last year's total (and a
    reduction target from it) would be up to 1 − `min_known` too low."""
    lengths = month_lengths(year)
    if len(daily) != int(lengths.sum()):
        raise ValueError(f"expected {int(lengths.sum())} days of {year}, got {len(daily)}")
    edges = np.concatenate([[0], np.cumsum(lengths)])
    known_days = np.add.reduceat(known.astype(float), edges[:-1])
    if np.any(known_days / lengths < min_known):
        return None
    totals = np.add.reduceat(np.where(known, daily, 0.0), edges[:-1]) * lengths / known_days
    if not totals.sum() > 0 or np.any(totals < 0):
        return None
    return totals


def in_season(day: date, season: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    (m0, d0), (m1, d1) = season
    md = (day.month, day.day)
    if (m0, d0) <= (m1, d1):
        return (m0, d0) <= md <= (m1, d1)
    return md >= (m0, d0) or md <= (m1, d1)


def cumulative_share(year: int, shape: F64 | None = None,
                     season: tuple[tuple[int, int], tuple[int, int]] | None = None) -> F64:
    """Share of the year's quota due by the end of each day of `year` (last value 1.0).

    `shape`: twelve monthly weights (last year's totals): a month gets its weight, spread evenly over
    its days. Without it: flat over the heating `season` if given, else flat over the year."""
    lengths = month_lengths(year)
    if shape is not None:
        weights = np.repeat(np.asarray(shape, float) / lengths, lengths)
    elif season is not None:
        start = date(year, 1, 1)
        weights = np.array([1.0 if in_season(start + timedelta(days=i), season) else 0.0
                            for i in range(int(lengths.sum()))])
    else:
        weights = np.ones(int(lengths.sum()))
    cum = np.cumsum(weights)
    return cum / cum[-1]


# -- tracking ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class QuotaSettings:
    tolerance: float = 0.02  # a tier is crossed when above it by more than this share
    # hysteresis: a condition raised stays until the figure is back below the line by `release` (3 %
    # of the tier, the constraint or the target) on `release_days` consecutive days
    release: float = 0.03
    release_days: int = 7
    min_share: float = 0.05  # judge only once this share of the year's profile is due
    recent_days: int = 28  # the projection's recent rate
    reduction: float | None = None  # yearly reduction target, e.g. -0.02; None: not tracked
    reduction_indicators: tuple[str, ...] = ("kgce_per_m2", "water_m3_per_person")
    reduction_factor_set: str = "calorific"
    standards: tuple[str, ...] | None = None  # None: every standard that matches a building


@dataclass
class _Latch:
    """One condition with hysteresis: on once the figure crosses the entering line, off only after
    `days` consecutive days below the release line (the entering line less the release margin)."""

    days: int
    on: bool = False
    below: int = 0

    def step(self, enter: bool, hold: bool) -> bool:
        if enter or (self.on and hold):
            self.on, self.below = True, 0
        elif self.on:
            self.below += 1
            if self.below >= self.days:
                self.on, self.below = False, 0
        return self.on


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """Where a building stands against one quota (or its reduction target) at the end of `day`."""

    building: str
    scope: str  # "STANDARD:INDICATOR" or "reduction:INDICATOR"
    indicator: str
    day: date
    profile: str  # seasonal | flat | heating_season
    share: float  # of the year's profile due
    ytd: float  # year to date, in the indicator's year-to-date unit
    ytd_unit: str
    projected: float  # year end, in the quota's unit
    unit: str
    tiers: Mapping[str, float]  # the year's values, in the quota's unit
    tier: str | None  # the highest tier the year to date is above (pro-rated), or None
    confidence: str
    coverage: float | None = None  # share of the year's days so far with counter data


@dataclass(frozen=True)
class QuotaResult:
    detections: list[Detection]
    status: list[QuotaStatus]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Track:
    """One (building, quota or target) to follow through the days."""

    subject: QuotaSubject
    row: int
    indicator: IndicatorDef
    scope: str
    tiers: dict[str, float]  # year values in `unit`; for a target: {"target": value}
    unit: str
    confidence: str
    label: str  # for messages: "DB37/T 2672-2019" or "reduction target -2 %"
    coal: FactorSet | None
    season: tuple[tuple[int, int], tuple[int, int]] | None
    reduction: float | None = None  # a target: its change; the tiers come from last year's use


def track_quotas(usage: DailyUsage, subjects: Sequence[QuotaSubject], table: QuotaTable,
                 factors: FactorTable, *, timezone: str = "Asia/Shanghai",
                 settings: QuotaSettings = QuotaSettings(), through: date | None = None) -> QuotaResult:
    """Evaluate every building against its quotas at the end of each day of `usage` (up to `through`).

    Returns the Detections (episodes; one per run of days with the same kind and severity, starting at
    the local midnight after the first day found, ending at the midnight after the last; the last run
    is ongoing) and the status at the last day evaluated."""
    tz = ZoneInfo(timezone)
    pos = {b: i for i, b in enumerate(usage.buildings)}
    notes: list[str] = []
    tracks: list[_Track] = []
    for s in subjects:
        if s.id not in pos:
            continue
        for q in table.for_building(s, settings.standards):
            ind = INDICATORS[q.indicator]
            if s.denominator(ind.per) is None:
                what = ind.per.replace("_", " ")
                notes.append(f"{s.id}: {q.scope} not tracked: the building has no {what}")
                continue
            coal = factors.factor_set(q.standard.factor_set) if q.standard.factor_set else None
            confidence = q.confidence
            if ind.kgce and coal is not None:  # a kgce result rests on the standard's factor set too
                confidence = lower_confidence(confidence, q.standard.factor_set_confidence)
            tracks.append(_Track(s, pos[s.id], ind, q.scope, q.tiers, q.unit, confidence, q.standard.title,
                                 coal, q.standard.heating_season))
        if settings.reduction is not None:
            coal = factors.factor_set(settings.reduction_factor_set)
            for name in settings.reduction_indicators:
                ind = INDICATORS[name]
                if s.denominator(ind.per) is None:
                    continue
                tracks.append(_Track(s, pos[s.id], ind, f"reduction:{name}", {}, ind.unit, "-",
                                     f"reduction target {settings.reduction:+.0%}", coal, None,
                                     settings.reduction))
    last = usage.n_days if through is None else min(usage.n_days, (through - usage.first_day).days + 1)
    detections: list[Detection] = []
    status: list[QuotaStatus] = []
    for t in tracks:
        found, st = _follow(usage, t, last, tz, settings)
        detections += found
        if st is not None:
            status.append(st)
    return QuotaResult(detections, status, notes)


def _follow(usage: DailyUsage, t: _Track, last: int, tz: ZoneInfo,
            settings: QuotaSettings) -> tuple[list[Detection], QuotaStatus | None]:
    """Day by day: the condition of each alert kind; runs of equal (kind, severity) become episodes."""
    daily = numerator(usage, t.row, t.indicator.name, t.coal, t.subject.heating_type)
    known = usage.known[t.row]
    denom = t.subject.denominator(t.indicator.per)
    assert denom is not None
    days = [usage.day(i) for i in range(last)]
    # per kind: list of (day index, severity, value, threshold, unit, message, details) when present
    states: dict[AlertKind, list[tuple[int, Severity, float, float, str, str, dict[str, Any]]]] = {}
    latest: QuotaStatus | None = None
    year_cache: dict[int, tuple[F64, str, float | None]] = {}
    latches: dict[str, _Latch] = {}  # per tier, "projected", "target": the year's hysteresis

    def latch(name: str, figure: float, line: float) -> bool:
        """Whether the condition `figure > line × (1 + tolerance)` holds, with hysteresis."""
        lt = latches.setdefault(name, _Latch(settings.release_days))
        return lt.step(figure > line * (1 + settings.tolerance),
                       figure > line * (1 + settings.tolerance - settings.release))

    for i, day in enumerate(days):
        year = day.year
        if year not in year_cache:
            year_cache[year] = _year_profile(usage, daily, known, year, t)
            latches.clear()  # a new year to date
        cum, profile, last_year_total = year_cache[year]
        doy = (day - date(year, 1, 1)).days
        share = float(cum[doy])
        if share < settings.min_share:
            continue
        start = max(0, i - doy)
        if not known[start:i + 1].any():  # no data this year: no status (never a year to date of 0)
            continue
        ytd_num = float(np.sum(daily[start:i + 1]))
        first_doy = doy - (i - start)  # > 0 when the data begins after 1 January
        if first_doy > 0:
            # The days before the data are unmeasured, not zero: estimate the year to date from the
            # measured part's share of the profile (said in the details as `ytd_estimated_from`).
            covered = share - float(cum[first_doy - 1])
            if covered <= 0:
                continue
            ytd_num *= share / covered
        n_year = len(cum)
        scale = denom * (n_year if t.indicator.per_day else 1.0)  # quota value x scale = year amount
        recent_from = max(start, i - settings.recent_days + 1)
        before = doy - (i - recent_from) - 1  # day of year before the recent window (not a data index)
        share_before = float(cum[before]) if before >= 0 else 0.0
        recent_share = share - share_before
        recent_num = float(np.sum(daily[recent_from:i + 1]))
        rate = recent_num / recent_share if recent_share > 0 else ytd_num / share
        projected_num = ytd_num + rate * (1.0 - share)
        if t.reduction is not None:
            if last_year_total is None:
                continue
            tiers = {"target": last_year_total * (1.0 + t.reduction) / scale}
        else:
            tiers = t.tiers
        elapsed = doy + 1
        ytd_value = ytd_num / denom / (elapsed if t.indicator.per_day else 1.0)
        per_day = n_year / elapsed if t.indicator.per_day else 1.0
        to_date = {k: v * share * per_day for k, v in tiers.items()}
        # the highest tier whose latch is on: crossed, and not yet clearly back below it
        above = [k for k in tiers if latch(k, ytd_num, tiers[k] * scale * share)]
        tier = above[-1] if above else None
        held = tier is not None and not ytd_num > tiers[tier] * scale * share * (1 + settings.tolerance)
        projected = projected_num / scale
        latest = QuotaStatus(t.subject.id, t.scope, t.indicator.name, day, profile, share, ytd_value,
                             t.indicator.ytd_unit, projected, t.unit, dict(tiers), tier, t.confidence,
                             float(np.count_nonzero(known[start:i + 1])) / (doy + 1))
        base = {"scope": t.scope, "indicator": t.indicator.name, "profile": profile,
                "share": round(share, 4), "confidence": t.confidence}
        ymsg = (f"{t.indicator.name} year to date {ytd_value:.4g} {t.indicator.ytd_unit}")
        if first_doy > 0:
            since = date(year, 1, 1) + timedelta(days=first_doy)
            base["ytd_estimated_from"] = since.isoformat()
            ymsg += f", estimated from the data since {since.isoformat()}"
        if t.reduction is not None and last_year_total is not None:
            target = tiers["target"]
            off_track = latch("projected", projected, target)
            if ytd_num > target * scale * (1 + settings.tolerance):
                sev = Severity.MAJOR
            elif off_track:
                sev = Severity.WARNING
            else:
                continue
            states.setdefault(AlertKind.REDUCTION_TARGET, []).append((
                i, sev, projected, target, t.unit,
                f"{t.subject.id}: {t.label} off track: {t.indicator.name} projected {projected:.4g} "
                f"{t.unit} against {target:.4g} (last year {last_year_total / scale:.4g}; {ymsg})",
                {**base, "target": t.reduction, "last_year": round(last_year_total / scale, 6)}))
            continue
        if tier is not None:
            kind = {"guide": AlertKind.QUOTA_GUIDE, "baseline": AlertKind.QUOTA_BASELINE,
                    "constraint": AlertKind.QUOTA_CONSTRAINT}[tier]
            sev = {"guide": Severity.INFO, "baseline": Severity.WARNING, "constraint": Severity.MAJOR}[tier]
            if tier == "constraint" and ytd_num > tiers["constraint"] * scale:
                sev = Severity.CRITICAL  # the whole year's constraint is already used up
            name = f"{tier} value"
            word = (f"back within {settings.release:.0%} of" if held else "above")  # held by the hysteresis
            states.setdefault(kind, []).append((
                i, sev, ytd_value, to_date[tier], t.indicator.ytd_unit,
                f"{t.subject.id}: {ymsg} is {word} the {name} pro-rated to date, {to_date[tier]:.4g} "
                f"({t.label}: {tiers[tier]:g} {t.unit}; {profile} profile, {share:.0%} of the year due)",
                {**base, "tier": tier, "annual": tiers[tier]}))
        constraint = tiers.get("constraint")
        if constraint is not None and latch("projected", projected, constraint):
            states.setdefault(AlertKind.QUOTA_PROJECTED, []).append((
                i, Severity.WARNING, projected, constraint, t.unit,
                f"{t.subject.id}: {t.indicator.name} projected to end the year at {projected:.4g} {t.unit}, "
                f"above the constraint value {constraint:g} ({t.label}; {ymsg})",
                {**base, "tier": "constraint", "annual": constraint}))
    out: list[Detection] = []
    for kind, rows in states.items():
        out += _episodes(kind, t.subject.id, rows, days, last, tz)
    return out, latest


def _year_profile(usage: DailyUsage, daily: F64, known: NDArray[np.bool_], year: int,
                  t: _Track) -> tuple[F64, str, float | None]:
    """(cumulative share per day of `year`, profile name, last year's total of the numerator or None)."""
    first = (date(year - 1, 1, 1) - usage.first_day).days
    n_prev = 366 if calendar.isleap(year - 1) else 365
    shape = None
    if first >= 0 and first + n_prev <= usage.n_days:
        shape = monthly_shape(daily[first:first + n_prev], known[first:first + n_prev], year - 1)
    total = float(shape.sum()) if shape is not None else None
    if shape is not None:
        return cumulative_share(year, shape), "seasonal", total
    if t.indicator.heating and t.season is not None:
        return cumulative_share(year, season=t.season), "heating_season", None
    return cumulative_share(year), "flat", None


def _episodes(kind: AlertKind, subject: str,
              rows: list[tuple[int, Severity, float, float, str, str, dict[str, Any]]],
              days: list[date], n: int, tz: ZoneInfo) -> list[Detection]:
    """Runs of consecutive days with one severity → Detections. A day's finding is known at the local
    midnight that ends it: that is its start; a run ends at the midnight that ends its last day."""
    out: list[Detection] = []
    run: list[tuple[int, Severity, float, float, str, str, dict[str, Any]]] = []

    def close() -> None:
        first, last_row = run[0], run[-1]
        end_i = last_row[0] + 1
        end = None if end_i >= n else midnight_ns(days[end_i] + timedelta(days=1), tz)
        _, sev, value, threshold, unit, message, details = last_row
        out.append(Detection(kind, subject, midnight_ns(days[first[0]] + timedelta(days=1), tz), end, sev,
                             value, threshold, unit, message, details))

    for r in rows:
        if run and (r[0] != run[-1][0] + 1 or r[1] != run[-1][1]):
            close()
            run = []
        run.append(r)
    if run:
        close()
    return out


__all__ = ["DailyUsage", "QuotaResult", "QuotaSettings", "QuotaStatus", "cumulative_share", "daily_usage",
           "in_season", "local_day", "month_lengths", "monthly_shape", "numerator", "track_quotas"]
