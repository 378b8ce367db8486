"""Standard-coal and carbon factors, and reduction targets, loaded from the data in config/factors/.

    table = load_factors()                       # every *.toml in config/factors, checked at once
    coal = table.factor_set("calorific")         # 当量值; "equivalent" = 等价值 (DB37/T 2672-2019)
    grid = table.carbon_series("national-2023")  # dated grid factor, kgCO2/kWh
    target = table.target("national-14th-fyp")

Every factor is normalised to the unit the analytics count in: kgce or kgCO2 per kWh of electricity,
per kWh of heat (readings' `heat_energy` is in kWh) and per m³ of natural gas. A problem in a file
raises FactorError listing every problem, each naming the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from metergate_data import bundled

FACTORS_DIR = bundled("factors")
CARRIERS = ("electricity", "heat", "natural_gas")
# fuels no meter reads (vehicle petrol and diesel, LPG, coal), counted in kg; optional in a factor set
# and in [carriers], needed only when a records file (analytics/records.py) reports them
FUELS = ("petrol", "diesel", "lpg", "coal")
CONFIDENCE = ("V", "S", "R")
INDICATORS = ("kgce_per_m2", "kgce_per_person", "water_m3_per_person", "kgco2_per_m2")

# (carrier, unit) -> multiplier to the base unit of that carrier (kWh, kWh, m³)
_COAL_UNITS = {
    ("electricity", "kgce/kWh"): 1.0, ("electricity", "kgce/MWh"): 1e-3,
    ("heat", "kgce/kWh"): 1.0, ("heat", "kgce/MJ"): 3.6, ("heat", "kgce/GJ"): 3.6e-3,
    ("natural_gas", "kgce/m³"): 1.0,
    **{(f, u): m for f in FUELS for u, m in (("kgce/kg", 1.0), ("kgce/t", 1e-3))},
}
_CARBON_UNITS = {
    ("electricity", "kgCO2/kWh"): 1.0, ("electricity", "tCO2/MWh"): 1.0,
    ("heat", "kgCO2/kWh"): 1.0, ("heat", "kgCO2/MJ"): 3.6, ("heat", "tCO2/GJ"): 3.6,
    ("natural_gas", "kgCO2/m³"): 1.0,
    **{(f, u): 1.0 for f in FUELS for u in ("kgCO2/kg", "tCO2/t")},
}
# densities of liquid fuels, to turn litres into kg: (fuel, unit) -> multiplier to kg/L
_DENSITY_UNITS = {(f, u): m for f in ("petrol", "diesel") for u, m in
                  (("kg/L", 1.0), ("kg/m³", 1e-3), ("t/m³", 1.0))}


class FactorError(ValueError):
    """Problems in factor files; `problems` holds one "file: key: what" line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Factor:
    value: float  # in the base unit: per kWh (electricity, heat) or per m³ (natural gas)
    unit: str  # as written in the file
    written: float  # as written in the file
    source: str
    confidence: str


@dataclass(frozen=True, slots=True)
class FactorSet:
    """One standard-coal convention: kgce per base unit of each carrier."""

    name: str
    label: str
    standard: str
    year: int
    factors: dict[str, Factor]

    def kgce(self, carrier: str) -> float:
        return self.factors[carrier].value


@dataclass(frozen=True, slots=True)
class CarbonSeries:
    name: str
    scope: str  # national | regional | provincial
    region: str
    purpose: str
    source: str
    confidence: str
    values: dict[int, float]  # year -> kgCO2/kWh


@dataclass(frozen=True, slots=True)
class CarbonFactors:
    """The carbon factors one indicator uses: a dated grid factor and the fixed other carriers."""

    series: str  # e.g. "national-2023"
    year: int
    electricity: float  # kgCO2/kWh
    heat: float  # kgCO2/kWh of heat
    natural_gas: float  # kgCO2/m³
    source: str
    fuels: dict[str, float] = field(default_factory=dict)  # kgCO2/kg of the FUELS that have one


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    label: str
    source: str
    baseline_year: int
    target_year: int
    change: dict[str, float]  # indicator -> fraction (-0.05 = down 5 %)
    baseline: dict[str, float]  # indicator -> published baseline value, where there is one


@dataclass(frozen=True)
class FactorTable:
    factor_sets: dict[str, FactorSet]
    series: dict[str, CarbonSeries]
    carriers: dict[str, Factor]  # carbon factors of heat and natural gas
    targets: dict[str, Target]
    densities: dict[str, Factor] = field(default_factory=dict)  # kg/L of petrol and diesel

    def factor_set(self, name: str) -> FactorSet:
        if name not in self.factor_sets:
            raise KeyError(f"no factor set {name!r}; known: {', '.join(sorted(self.factor_sets))}")
        return self.factor_sets[name]

    def carbon_series(self, name: str, year: int | None = None) -> CarbonFactors:
        """"national-2023", or ("national", 2023): the grid factor of that series and year."""
        m = re.fullmatch(r"(.+)-(\d{4})", name)
        if m and m.group(1) in self.series:
            name, year = m.group(1), int(m.group(2))
        if name not in self.series:
            raise KeyError(f"no carbon series {name!r}; known: {', '.join(self.series_names())}")
        s = self.series[name]
        if year is None:
            year = max(s.values)
        if year not in s.values:
            raise KeyError(f"carbon series {name!r} has no value for {year}; years: "
                           f"{', '.join(map(str, sorted(s.values)))}")
        return CarbonFactors(series=f"{name}-{year}", year=year, electricity=s.values[year],
                             heat=self.carriers["heat"].value,
                             natural_gas=self.carriers["natural_gas"].value, source=s.source,
                             fuels={f: self.carriers[f].value for f in FUELS if f in self.carriers})

    def grid_factor(self, year: int, series: str = "national") -> CarbonFactors:
        """The grid factor of `series` for `year`: that year's value, else the latest earlier year's,
        else (every year of the series is later) its latest year's. The result's `year` is the one
        used. The one rule for a period's grid factor: `metergate analyze` and the analytics service."""
        years = self.series[series].values
        return self.carbon_series(series, max([y for y in years if y <= year] or years))

    def series_names(self) -> list[str]:
        return [f"{s.name}-{y}" for s in self.series.values() for y in sorted(s.values)]

    def by_region(self, region: str, year: int) -> CarbonFactors:
        """The series of a region or province (e.g. "华东", "河北") for a year."""
        for s in self.series.values():
            if s.region == region and year in s.values and s.purpose.startswith("electricity"):
                return self.carbon_series(s.name, year)
        raise KeyError(f"no consumption-accounting series for region {region!r} and year {year}")

    def target(self, name: str) -> Target:
        if name not in self.targets:
            raise KeyError(f"no target {name!r}; known: {', '.join(sorted(self.targets))}")
        return self.targets[name]


def load_factors(directory: str | Path = FACTORS_DIR) -> FactorTable:
    """Read and check every *.toml in `directory`; FactorError with every problem found."""
    problems: list[str] = []
    sets: dict[str, FactorSet] = {}
    series: dict[str, CarbonSeries] = {}
    carriers: dict[str, Factor] = {}
    targets: dict[str, Target] = {}
    densities: dict[str, Factor] = {}
    files = sorted(Path(directory).glob("*.toml"))
    if not files:
        raise FactorError([f"{directory}: no *.toml factor files"])
    for path in files:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        c = _Checker(str(path), problems)
        for i, t in enumerate(raw.pop("factor_sets", [])):
            fs = c.factor_set(f"factor_sets[{i}]", t)
            if fs is not None:
                c.unique(sets, fs.name, fs, f"factor_sets[{i}].name")
        for i, t in enumerate(raw.pop("series", [])):
            s = c.series(f"series[{i}]", t)
            if s is not None:
                c.unique(series, s.name, s, f"series[{i}].name")
        for carrier, t in raw.pop("carriers", {}).items():
            f = c.factor(f"carriers.{carrier}", carrier, t, _CARBON_UNITS)
            if f is not None:
                carriers[carrier] = f
        for fuel, t in raw.pop("densities", {}).items():
            f = c.factor(f"densities.{fuel}", fuel, t, _DENSITY_UNITS)
            if f is not None:
                densities[fuel] = f
        for i, t in enumerate(raw.pop("targets", [])):
            tg = c.target(f"targets[{i}]", t)
            if tg is not None:
                c.unique(targets, tg.name, tg, f"targets[{i}].name")
        for key in raw:
            problems.append(f"{path}: {key}: unknown table (expected factor_sets, series, carriers, "
                            "densities, targets)")
    for needed in ("heat", "natural_gas"):
        if series and needed not in carriers:
            problems.append(f"{directory}: carriers.{needed}: missing carbon factor")
    if problems:
        raise FactorError(problems)
    return FactorTable(sets, series, carriers, targets, densities)


class _Checker:
    def __init__(self, file: str, problems: list[str]) -> None:
        self.file, self.problems = file, problems

    def bad(self, key: str, what: str) -> None:
        self.problems.append(f"{self.file}: {key}: {what}")

    def unique(self, into: dict, name: str, value: object, key: str) -> None:  # type: ignore[type-arg]
        if name in into:
            self.bad(key, f"duplicate name {name!r}")
        into[name] = value

    def text(self, key: str, t: dict, field: str) -> str:  # type: ignore[type-arg]
        v = t.get(field)
        if not isinstance(v, str) or not v:
            self.bad(f"{key}.{field}", "missing or not a non-empty string")
            return ""
        return v

    def number(self, key: str, v: object, *, positive: bool = True) -> float | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.bad(key, f"expected a number, got {v!r}")
            return None
        if positive and not v > 0:
            self.bad(key, f"must be positive, got {v!r}")
            return None
        return float(v)

    def year(self, key: str, v: object) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not 1990 <= v <= 2100:
            self.bad(key, f"expected a year (1990..2100), got {v!r}")
            return 0
        return v

    def confidence(self, key: str, t: dict) -> str:  # type: ignore[type-arg]
        v = t.get("confidence")
        if v not in CONFIDENCE:
            self.bad(f"{key}.confidence", f"must be one of {', '.join(CONFIDENCE)}, got {v!r}")
            return ""
        return str(v)

    def factor(self, key: str, carrier: str, t: object,
               units: dict[tuple[str, str], float]) -> Factor | None:
        if not any(c == carrier for c, _ in units):
            self.bad(key, f"unknown carrier; known: {', '.join(dict.fromkeys(c for c, _ in units))}")
            return None
        if not isinstance(t, dict):
            self.bad(key, "expected a table { value, unit, source, confidence }")
            return None
        n = len(self.problems)
        value = self.number(f"{key}.value", t.get("value"))
        unit = t.get("unit")
        known = [u for c, u in units if c == carrier]
        if (carrier, unit) not in units:
            self.bad(f"{key}.unit", f"{unit!r} is not a unit for {carrier}; use one of {', '.join(known)}")
        source, conf = self.text(key, t, "source"), self.confidence(key, t)
        for extra in set(t) - {"value", "unit", "source", "confidence"}:
            self.bad(f"{key}.{extra}", "unknown key")
        if len(self.problems) > n or value is None:
            return None
        return Factor(value * units[(carrier, str(unit))], str(unit), value, source, conf)

    def factor_set(self, key: str, t: dict) -> FactorSet | None:  # type: ignore[type-arg]
        n = len(self.problems)
        name, label = self.text(key, t, "name"), self.text(key, t, "label")
        standard, year = self.text(key, t, "standard"), self.year(f"{key}.year", t.get("year"))
        factors = {}
        for carrier in CARRIERS:
            if carrier not in t:
                self.bad(f"{key}.{carrier}", "missing factor")
                continue
            f = self.factor(f"{key}.{carrier}", carrier, t[carrier], _COAL_UNITS)
            if f is not None:
                factors[carrier] = f
        for fuel in FUELS:  # optional: only records of fuels need them
            if fuel in t:
                f = self.factor(f"{key}.{fuel}", fuel, t[fuel], _COAL_UNITS)
                if f is not None:
                    factors[fuel] = f
        for extra in set(t) - {"name", "label", "standard", "year", *CARRIERS, *FUELS}:
            self.bad(f"{key}.{extra}", "unknown key")
        return None if len(self.problems) > n else FactorSet(name, label, standard, year, factors)

    def series(self, key: str, t: dict) -> CarbonSeries | None:  # type: ignore[type-arg]
        n = len(self.problems)
        fields = {f: self.text(key, t, f) for f in ("name", "scope", "region", "purpose", "source")}
        conf = self.confidence(key, t)
        unit = t.get("unit")
        if ("electricity", unit) not in _CARBON_UNITS:
            self.bad(f"{key}.unit", f"{unit!r}: use kgCO2/kWh or tCO2/MWh")
        values: dict[int, float] = {}
        raw = t.get("values")
        if not isinstance(raw, dict) or not raw:
            self.bad(f"{key}.values", "expected a table { YEAR = factor, ... }")
            raw = {}
        for y, v in raw.items():
            year = self.year(f"{key}.values.{y}", int(y) if str(y).isdigit() else y)
            value = self.number(f"{key}.values.{y}", v)
            if year and value is not None:
                values[year] = value
        for extra in set(t) - {*fields, "confidence", "unit", "values"}:
            self.bad(f"{key}.{extra}", "unknown key")
        if len(self.problems) > n:
            return None
        return CarbonSeries(values=values, confidence=conf, **fields)

    def target(self, key: str, t: dict) -> Target | None:  # type: ignore[type-arg]
        n = len(self.problems)
        name, label, source = (self.text(key, t, f) for f in ("name", "label", "source"))
        self.confidence(key, t)
        base_y = self.year(f"{key}.baseline_year", t.get("baseline_year"))
        target_y = self.year(f"{key}.target_year", t.get("target_year"))
        change: dict[str, float] = {}
        baseline: dict[str, float] = {}
        for ind in INDICATORS:
            spec = t.get(ind)
            if spec is None:
                continue
            if not isinstance(spec, dict) or "change" not in spec:
                self.bad(f"{key}.{ind}", "expected { change = FRACTION, baseline = VALUE }")
                continue
            ch = self.number(f"{key}.{ind}.change", spec["change"], positive=False)
            if ch is not None and not -1 < ch < 1:
                self.bad(f"{key}.{ind}.change", f"a fraction between -1 and 1, got {ch} (-0.05 = down 5 %)")
            elif ch is not None:
                change[ind] = ch
            if "baseline" in spec:
                b = self.number(f"{key}.{ind}.baseline", spec["baseline"])
                if b is not None:
                    baseline[ind] = b
            for extra in set(spec) - {"change", "baseline"}:
                self.bad(f"{key}.{ind}.{extra}", "unknown key")
        for extra in set(t) - {"name", "label", "source", "confidence", "baseline_year", "target_year",
                               *INDICATORS}:
            self.bad(f"{key}.{extra}", f"unknown key; indicators: {', '.join(INDICATORS)}")
        if len(self.problems) > n:
            return None
        return Target(name, label, source, base_y, target_y, change, baseline)


__all__ = ["CARRIERS", "FACTORS_DIR", "FUELS", "CarbonFactors", "CarbonSeries", "Factor", "FactorError",
           "FactorSet", "FactorTable", "Target", "load_factors"]
