"""Energy and water quotas (能耗定额) as data, and a building's year to date against them.

    table = load_quotas()                                # config/quotas/*.toml, every problem at once
    quotas = table.for_building(subject)                 # the entries that apply to one building

A quota file holds one standard (`[standard]`: id, title, year, factor set, source, confidence) and its
entries (`[[quotas]]`: category → subcategory → level → climate zone (→ heating type) → indicator →
constraint / baseline / guide, with unit and confidence). Problems raise QuotaError, each naming the
file, the line and the key.

Following a building's year to date against its quotas is analytics/quota_tracking.py.
docs/quotas.md has the format, the tables shipped and the method.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from metergate_data import bundled
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from analytics.factors import FactorTable

QUOTAS_DIR = bundled("quotas")
TIERS = ("guide", "baseline", "constraint")  # low to high
HEATING_TYPES = ("district_heat", "air_conditioning", "boiler")
Confidence = Literal["V", "S", "R"]
_RANK = {"V": 0, "S": 1, "R": 2}  # checked, secondary source, assumed


def lower_confidence(a: str, b: str) -> str:
    """The weaker of two confidence marks: a result is no better than what it rests on."""
    return a if _RANK.get(a, 2) >= _RANK.get(b, 2) else b


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
    from core.categories import CATEGORIES

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
    from core.toml_lines import key_lines, line_of

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


__all__ = ["HEATING_TYPES", "INDICATORS", "QUOTAS_DIR", "TIERS", "IndicatorDef", "Quota", "QuotaError",
           "QuotaSubject", "QuotaTable", "Standard", "load_quotas", "lower_confidence"]
