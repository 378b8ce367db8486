"""Energy and water quotas (能耗定额) as data, and a building's year to date against them.

    table = load_quotas()                                # config/quotas/*.toml, every problem at once
    quotas = table.for_building(subject)                 # the entries that apply to one building
    result = track_quotas(usage, subjects, table, factors, settings=QuotaSettings())
    result.detections                                    # QUOTA_* and REDUCTION_TARGET Detections
    result.status                                        # the latest QuotaStatus per building and quota

A quota file holds one standard (`[standard]`: id, title, year, factor set, source, confidence) and its
entries (`[[quotas]]`: category → subcategory → level → climate zone (→ heating type) → indicator →
constraint / baseline / guide, with unit and confidence). Problems raise QuotaError, each naming the
file, the line and the key.

Tracking is pure numpy on daily consumption per building (`DailyUsage`): the year's quota is spread
over the days by a seasonal profile (last year's monthly shape when all 12 months of last year are
known, else flat; heating indicators without a year of data: flat over the heating season), the year to
date is compared with the pro-rated tiers, and the year end is projected from the year to date plus
the recent rate (last `recent_days`) over what is left of the profile. docs/quotas.md has the method.
"""

from __future__ import annotations

import calendar
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from analytics.events import AlertKind, Detection, Severity
from analytics.factors import FactorSet, FactorTable
from analytics.indicators import period_index, sum_periods
from analytics.rollup import BuildingInfo, IntervalLike, MeterInfo, building_series
from gateway.config import SiteConfig

F64 = NDArray[np.float64]
QUOTAS_DIR = Path(__file__).resolve().parents[1] / "config" / "quotas"
TIERS = ("guide", "baseline", "constraint")  # low to high
HEATING_TYPES = ("district_heat", "air_conditioning", "boiler")
Confidence = Literal["V", "S", "R"]


@dataclass(frozen=True, slots=True)
class IndicatorDef:
    """How an indicator is computed from a building's daily consumption."""

    name: str
    unit: str  # the unit a quota of this indicator must be written in
    ytd_unit: str  # the unit of the year-to-date figure in messages
    numerator: str  # kgce | kWh | m³ | L
    per: Literal["floor_area", "heated_area", "occupants", "beds"]
    per_day: bool = False  # a daily rate (L/(bed·d)) rather than a yearly amount
    heating: bool = False  # pro-rated over the heating season when no year of data is known

    @property
    def kgce(self) -> bool:
        return self.numerator == "kgce"


INDICATORS: dict[str, IndicatorDef] = {d.name: d for d in (
    IndicatorDef("kgce_per_m2", "kgce/(m²·a)", "kgce/m²", "kgce", "floor_area"),
    IndicatorDef("non_heating_kgce_per_m2", "kgce/(m²·a)", "kgce/m²", "kgce", "floor_area"),
    IndicatorDef("heating_kgce_per_m2", "kgce/(m²·a)", "kgce/m²", "kgce", "heated_area", heating=True),
    IndicatorDef("kgce_per_person", "kgce/(person·a)", "kgce/person", "kgce", "occupants"),
    IndicatorDef("electricity_kwh_per_m2", "kWh/(m²·a)", "kWh/m²", "kWh", "floor_area"),
    IndicatorDef("non_heating_kwh_per_m2", "kWh/(m²·a)", "kWh/m²", "kWh", "floor_area"),
    IndicatorDef("water_m3_per_person", "m³/(person·a)", "m³/person", "m³", "occupants"),
    IndicatorDef("water_l_per_bed_day", "L/(bed·d)", "L/(bed·d)", "L", "beds", per_day=True),
)}


class QuotaError(ValueError):
    """Problems in quota files; `problems` holds one "file:line: key: what" line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- the file format (pydantic) ---------------------------------------------------------------------

def _month_day(value: str) -> str:
    try:
        datetime.strptime(f"2000-{value}", "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"{value!r} is not a day of the year; write MM-DD, e.g. \"11-15\"") from None
    return value


def _indicator(value: str) -> str:
    if value not in INDICATORS:
        raise ValueError(f"{value!r} is not an indicator; use one of {', '.join(INDICATORS)}")
    return value


def _category(value: str) -> str:
    from gateway.config.schema import CATEGORIES

    if value not in CATEGORIES:
        raise ValueError(f"{value!r} is not a building category; use one of {', '.join(CATEGORIES)}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeasonSpec(_Strict):
    start: Annotated[str, AfterValidator(_month_day)]
    end: Annotated[str, AfterValidator(_month_day)]
    confidence: Confidence
    source: str


class StandardSpec(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    title: str
    region: str
    year: Annotated[int, Field(ge=1990, le=2100)]
    factor_set: str | None = None
    factor_set_confidence: Confidence | None = None
    source: str
    confidence: Confidence
    notes: str = ""
    tier_names: dict[Literal["guide", "baseline", "constraint"], str] = {}
    heating_season: SeasonSpec | None = None


Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class QuotaSpec(_Strict):
    category: Annotated[str, AfterValidator(_category)]
    subcategory: str | None = None
    level: str | None = None
    climate_zone: str | None = None
    heating_type: Literal["district_heat", "air_conditioning", "boiler"] | None = None
    indicator: Annotated[str, AfterValidator(_indicator)]
    unit: str
    constraint: Positive
    baseline: Positive | None = None
    guide: Positive | None = None
    confidence: Confidence
    source: str | None = None  # default: the standard's

    @model_validator(mode="after")
    def _consistent(self) -> QuotaSpec:
        expected = INDICATORS[self.indicator].unit
        if self.unit != expected:
            raise ValueError(f"unit {self.unit!r} does not fit {self.indicator}: write {expected!r}")
        values = [v for v in (self.guide, self.baseline, self.constraint) if v is not None]
        if values != sorted(values):
            raise ValueError("tiers must not decrease: guide <= baseline <= constraint")
        return self


class QuotaFileSpec(_Strict):
    standard: StandardSpec
    quotas: Annotated[list[QuotaSpec], Field(min_length=1)]


# -- loaded values ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Standard:
    id: str
    title: str
    region: str
    year: int
    factor_set: str | None
    factor_set_confidence: str
    source: str
    confidence: str
    notes: str
    tier_names: Mapping[str, str]
    heating_season: tuple[tuple[int, int], tuple[int, int]] | None  # ((month, day), (month, day))
    path: str


@dataclass(frozen=True, slots=True)
class Quota:
    standard: Standard
    category: str
    subcategory: str | None
    level: str | None
    climate_zone: str | None
    heating_type: str | None
    indicator: str
    unit: str
    constraint: float
    baseline: float | None
    guide: float | None
    confidence: str
    source: str

    @property
    def scope(self) -> str:
        """What distinguishes this quota's alerts from another's on the same building."""
        return f"{self.standard.id}:{self.indicator}"

    @property
    def tiers(self) -> dict[str, float]:
        """Tier name -> value, low to high, only the tiers the standard has."""
        return {t: v for t in TIERS if (v := getattr(self, t)) is not None}

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.subcategory, self.level, self.climate_zone,
                                           self.heating_type))


@dataclass(frozen=True, slots=True)
class QuotaSubject:
    """What quota lookup and tracking need of a building (from the site config)."""

    id: str
    category: str
    floor_area_m2: float
    occupants: int
    subcategory: str | None = None
    levels: tuple[str, ...] = ()
    quota_zone: str | None = None
    climate_zone: str | None = None
    heating_type: str | None = None
    heated_area_m2: float | None = None
    beds: int | None = None

    def denominator(self, per: str) -> float | None:
        value = {"floor_area": self.floor_area_m2, "heated_area": self.heated_area_m2,
                 "occupants": float(self.occupants), "beds": None if self.beds is None else float(self.beds)
                 }[per]
        return value if value is not None and value > 0 else None


@dataclass(frozen=True)
class QuotaTable:
    standards: dict[str, Standard]
    quotas: tuple[Quota, ...]

    def for_building(self, b: QuotaSubject, standards: Collection[str] | None = None) -> list[Quota]:
        """The entries that apply to `b`: per (standard, indicator) the most specific match."""
        if standards is not None:
            unknown = sorted(set(standards) - set(self.standards))
            if unknown:
                raise KeyError(f"no quota standard {', '.join(map(repr, unknown))}; known: "
                               f"{', '.join(sorted(self.standards))}")
        best: dict[str, Quota] = {}
        zones = {z for z in (b.quota_zone, b.climate_zone) if z}
        for q in self.quotas:
            if standards is not None and q.standard.id not in standards:
                continue
            if (q.category != b.category or (q.subcategory is not None and q.subcategory != b.subcategory)
                    or (q.level is not None and q.level not in b.levels)
                    or (q.climate_zone is not None and q.climate_zone not in zones)
                    or (q.heating_type is not None and q.heating_type != b.heating_type)):
                continue
            held = best.get(q.scope)
            if held is None or q.specificity > held.specificity:
                best[q.scope] = q
        return list(best.values())


def load_quotas(directory: str | Path = QUOTAS_DIR, factors: FactorTable | None = None) -> QuotaTable:
    """Read and check every *.toml in `directory`; QuotaError with every problem found.

    With `factors`, each standard's `factor_set` must name a set in it."""
    from gateway.config.locate import key_lines, line_of

    problems: list[str] = []
    standards: dict[str, Standard] = {}
    quotas: list[Quota] = []
    files = sorted(Path(directory).glob("*.toml"))
    if not files:
        raise QuotaError([f"{directory}: no *.toml quota files"])
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            raw = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        lines = key_lines(text)

        def bad(key: tuple[str | int, ...], what: str, path: Path = path,
                lines: Mapping[tuple[str | int, ...], int] = lines) -> None:
            line = line_of(lines, key)
            label = "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if i else k)
                            for i, k in enumerate(key))
            problems.append(f"{path}{f':{line}' if line else ''}: {label or '(file)'}: {what}")

        try:
            spec = QuotaFileSpec.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown key"
                elif err["type"] == "missing":
                    msg = f"required key is missing; add `{loc[-1]} = ...`"
                bad(loc, msg)
            continue
        st = spec.standard
        if st.id in standards:
            bad(("standard", "id"), f"{st.id!r} is already the id of {standards[st.id].path}")
            continue
        if factors is not None and st.factor_set is not None and st.factor_set not in factors.factor_sets:
            bad(("standard", "factor_set"), f"no factor set {st.factor_set!r} in config/factors; known: "
                                            f"{', '.join(sorted(factors.factor_sets))}")
        season = None
        if st.heating_season is not None:
            a, b = (tuple(int(x) for x in s.split("-")) for s in (st.heating_season.start,
                                                                  st.heating_season.end))
            season = ((a[0], a[1]), (b[0], b[1]))
        standard = Standard(st.id, st.title, st.region, st.year, st.factor_set,
                            st.factor_set_confidence or st.confidence, st.source, st.confidence, st.notes,
                            {str(k): v for k, v in st.tier_names.items()}, season, str(path))
        standards[st.id] = standard
        for i, q in enumerate(spec.quotas):
            if INDICATORS[q.indicator].kgce and st.factor_set is None:
                bad(("quotas", i, "indicator"), f"{q.indicator} is in kgce: the [standard] needs "
                                                "factor_set (the standard-coal factors it prescribes)")
            quotas.append(Quota(standard, q.category, q.subcategory, q.level, q.climate_zone,
                                q.heating_type, q.indicator, q.unit, q.constraint, q.baseline, q.guide,
                                q.confidence, q.source or st.source))
    if problems:
        raise QuotaError(problems)
    return QuotaTable(standards, tuple(quotas))


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

    @property
    def n_days(self) -> int:
        return int(self.electricity.shape[1])

    def day(self, i: int) -> date:
        return self.first_day + timedelta(days=i)


def subjects_from_site(site: SiteConfig) -> tuple[QuotaSubject, ...]:
    """The quota view of a loaded site config's buildings."""
    return tuple(QuotaSubject(b.id, b.category, b.floor_area_m2, b.occupants, b.subcategory, b.levels,
                              b.quota_zone, b.climate_zone, b.heating_type, b.heated_area_m2, b.beds)
                 for b in site.buildings)


def daily_usage(results: Mapping[str, IntervalLike], buildings: Sequence[BuildingInfo],
                meters: Sequence[MeterInfo], timezone: str) -> DailyUsage:
    """Interval consumption (one result per counter quantity, same intervals starting at a local
    midnight and dividing the day) → per building and local day. A building's day is known when one
    of its meters has coverage on that day."""
    series = building_series(results, buildings, meters)
    labels, idx = period_index(series.edges_ns, timezone, "day")
    n = len(labels)
    per_day = {k: sum_periods(v, idx, n) for k, v in series.carriers.items()}
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
                      sum_periods(series.heating_electricity, idx, n), known)


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
    data on at least `min_known` of its days (the "12 months known" rule)."""
    lengths = month_lengths(year)
    if len(daily) != int(lengths.sum()):
        raise ValueError(f"expected {int(lengths.sum())} days of {year}, got {len(daily)}")
    edges = np.concatenate([[0], np.cumsum(lengths)])
    totals = np.add.reduceat(np.where(known, daily, 0.0), edges[:-1])
    share_known = np.add.reduceat(known.astype(float), edges[:-1]) / lengths
    if np.any(share_known < min_known) or not totals.sum() > 0 or np.any(totals < 0):
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
    min_share: float = 0.05  # judge only once this share of the year's profile is due
    recent_days: int = 28  # the projection's recent rate
    reduction: float | None = None  # yearly reduction target, e.g. -0.02; None: not tracked
    reduction_indicators: tuple[str, ...] = ("kgce_per_m2", "water_m3_per_person")
    reduction_factor_set: str = "calorific"
    standards: tuple[str, ...] | None = None  # None: every standard that matches a building


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
            tracks.append(_Track(s, pos[s.id], ind, q.scope, q.tiers, q.unit, q.confidence, q.standard.title,
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
    for i, day in enumerate(days):
        year = day.year
        if year not in year_cache:
            year_cache[year] = _year_profile(usage, daily, known, year, t)
        cum, profile, last_year_total = year_cache[year]
        doy = (day - date(year, 1, 1)).days
        share = float(cum[doy])
        if share < settings.min_share:
            continue
        start = max(0, i - doy)
        ytd_num = float(np.sum(daily[start:i + 1]))
        n_year = len(cum)
        scale = denom * (n_year if t.indicator.per_day else 1.0)  # quota value x scale = year amount
        recent_from = max(start, i - settings.recent_days + 1)
        share_before = float(cum[recent_from - start - 1]) if recent_from - start - 1 >= 0 else 0.0
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
        above = [k for k in tiers if ytd_num > tiers[k] * scale * share * (1 + settings.tolerance)]
        tier = above[-1] if above else None
        projected = projected_num / scale
        latest = QuotaStatus(t.subject.id, t.scope, t.indicator.name, day, profile, share, ytd_value,
                             t.indicator.ytd_unit, projected, t.unit, dict(tiers), tier, t.confidence)
        base = {"scope": t.scope, "indicator": t.indicator.name, "profile": profile,
                "share": round(share, 4), "confidence": t.confidence}
        ymsg = (f"{t.indicator.name} year to date {ytd_value:.4g} {t.indicator.ytd_unit}")
        if t.reduction is not None and last_year_total is not None:
            target = tiers["target"]
            if ytd_num > target * scale * (1 + settings.tolerance):
                sev = Severity.MAJOR
            elif projected > target * (1 + settings.tolerance):
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
            states.setdefault(kind, []).append((
                i, sev, ytd_value, to_date[tier], t.indicator.ytd_unit,
                f"{t.subject.id}: {ymsg} is above the {name} pro-rated to date, {to_date[tier]:.4g} "
                f"({t.label}: {tiers[tier]:g} {t.unit}; {profile} profile, {share:.0%} of the year due)",
                {**base, "tier": tier, "annual": tiers[tier]}))
        constraint = tiers.get("constraint")
        if constraint is not None and projected > constraint * (1 + settings.tolerance):
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
        end = None if end_i >= n else _midnight(days[end_i] + timedelta(days=1), tz)
        _, sev, value, threshold, unit, message, details = last_row
        out.append(Detection(kind, subject, _midnight(days[first[0]] + timedelta(days=1), tz), end, sev,
                             value, threshold, unit, message, details))

    for r in rows:
        if run and (r[0] != run[-1][0] + 1 or r[1] != run[-1][1]):
            close()
            run = []
        run.append(r)
    if run:
        close()
    return out


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()) * 10**9


def local_day(ns: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ns // 10**9, UTC).astimezone(tz).date()


__all__ = [
    "HEATING_TYPES",
    "INDICATORS",
    "QUOTAS_DIR",
    "TIERS",
    "DailyUsage",
    "IndicatorDef",
    "Quota",
    "QuotaError",
    "QuotaResult",
    "QuotaSettings",
    "QuotaStatus",
    "QuotaSubject",
    "QuotaTable",
    "Standard",
    "cumulative_share",
    "daily_usage",
    "in_season",
    "load_quotas",
    "local_day",
    "month_lengths",
    "monthly_shape",
    "numerator",
    "subjects_from_site",
    "track_quotas",
]
