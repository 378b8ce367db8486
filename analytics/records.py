"""Monthly records of what no meter reads: vehicle petrol and diesel, LPG, coal, bought heat, and bills
of electricity, gas and water — one CSV row per institution, month and carrier:

    institution,month,carrier,quantity,unit
    city-hall,2023-01,diesel,1250,L
    city-hall,2023-01,heat,812.5,GJ
    city-hall,2023-01,electricity,"152,300",kWh

Columns may come in any order; other columns (a note, a receipt number) are ignored. `carrier` is one
of CARRIERS or a Chinese name from the statistics form (汽油, 柴油, 液化石油气, 煤, 热力, 电, 天然气, 水);
`unit` one of that carrier's UNITS (litres of petrol and diesel through the densities in
config/factors/densities.toml). Several rows of one institution, month and carrier add up (two fuel
cards). A bad row gives `FILE:LINE: column 'NAME': what`; nothing is guessed and nothing becomes 0.

Records are folded into the indicators of their institution (and its category and the fleet) for the
periods whose months they fall in, with their source marked (`RecordUsage.sources`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analytics.factors import FUELS, CarbonFactors, FactorSet
from analytics.indicators import Usage

REQUIRED = ("institution", "month", "carrier", "quantity", "unit")
# carrier -> the unit it is counted in (as the indicators count: kWh, kWh of heat, m³, kg)
CARRIERS: dict[str, str] = {"electricity": "kWh", "heat": "kWh", "natural_gas": "m³", "water": "m³",
                            "petrol": "kg", "diesel": "kg", "lpg": "kg", "coal": "kg"}
ALIASES = {"gasoline": "petrol", "汽油": "petrol", "柴油": "diesel", "液化石油气": "lpg", "液化气": "lpg",
           "煤": "coal", "原煤": "coal", "煤炭": "coal", "热力": "heat", "热": "heat", "电": "electricity",
           "电力": "electricity", "天然气": "natural_gas", "水": "water", "gas": "natural_gas"}
_GJ = 1e9 / 3.6e6  # kWh per GJ
UNITS: dict[str, dict[str, float]] = {
    "electricity": {"kWh": 1.0, "MWh": 1e3, "万kWh": 1e4},
    "heat": {"kWh": 1.0, "MWh": 1e3, "GJ": _GJ, "MJ": _GJ / 1e3, "万GJ": _GJ * 1e4},
    "natural_gas": {"m³": 1.0, "m3": 1.0, "万m³": 1e4, "万m3": 1e4},
    "water": {"m³": 1.0, "m3": 1.0, "t": 1.0, "万m³": 1e4, "万m3": 1e4, "万t": 1e4},
    "petrol": {"kg": 1.0, "t": 1e3, "L": -1.0},  # -1: litres, through the fuel's density
    "diesel": {"kg": 1.0, "t": 1e3, "L": -1.0},
    "lpg": {"kg": 1.0, "t": 1e3},
    "coal": {"kg": 1.0, "t": 1e3},
}
_MONTH = re.compile(r"(\d{4})-(\d{2})")
Key = tuple[str, str, str]  # (institution, "YYYY-MM", carrier)


class RecordsError(ValueError):
    """A records file that cannot be used; one `FILE:LINE: column 'NAME': what` per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Records:
    path: str
    values: dict[Key, float]  # in CARRIERS' units
    lines: dict[Key, list[int]]  # the file lines each value came from

    def months(self) -> list[str]:
        return sorted({m for _, m, _ in self.values})

    def carriers(self) -> set[str]:
        return {c for _, _, c in self.values}


def load_records(path: str | Path, institutions: Collection[str],
                 densities: Mapping[str, float]) -> Records:
    """Read and check a records CSV; RecordsError with every bad row (up to 50)."""
    path = Path(path)
    problems: list[str] = []
    values: dict[Key, float] = {}
    lines: dict[Key, list[int]] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets write a BOM
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise RecordsError([f"{path}: empty file; the columns are {', '.join(REQUIRED)}"])
            col = {name.strip(): i for i, name in enumerate(header)}
            missing = [c for c in REQUIRED if c not in col]
            if missing:
                raise RecordsError([f"{path}:1: missing column(s) {', '.join(missing)}; the columns are "
                                    f"{', '.join(REQUIRED)} (found {', '.join(header)})"])
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # a blank line
                line = reader.line_num
                parsed = _row(f"{path}:{line}", row, col, institutions, densities, problems)
                if parsed is not None:
                    key, q = parsed
                    values[key] = values.get(key, 0.0) + q
                    lines.setdefault(key, []).append(line)
                if len(problems) >= 50:
                    problems.append(f"{path}: stopped after 50 problems")
                    break
    except UnicodeDecodeError:
        raise RecordsError([f"{path}: not UTF-8 text; save the sheet as CSV UTF-8"]) from None
    except OSError as exc:
        raise RecordsError([f"{path}: {exc}"]) from None
    except csv.Error as exc:
        raise RecordsError([f"{path}: {exc}"]) from None
    if problems:
        raise RecordsError(problems)
    if not values:
        raise RecordsError([f"{path}: no records (only a header)"])
    return Records(str(path), values, lines)


def _row(where: str, row: list[str], col: Mapping[str, int], institutions: Collection[str],
         densities: Mapping[str, float], problems: list[str]) -> tuple[Key, float] | None:
    def cell(name: str) -> str:
        i = col[name]
        return row[i].strip() if i < len(row) else ""

    def bad(name: str, what: str) -> None:
        problems.append(f"{where}: column {name!r}: {what}")

    n = len(problems)
    inst = cell("institution")
    if inst not in institutions:
        known = ", ".join(sorted(institutions)[:8]) or "none: give --basis with [[institutions]]"
        bad("institution", f"{inst!r} is not an institution of the basis file or site ({known})")
    month = cell("month")
    m = _MONTH.fullmatch(month)
    if not m or not 1 <= int(m.group(2)) <= 12 or not 1990 <= int(m.group(1)) <= 2100:
        bad("month", f"{month!r}: expected a month YYYY-MM, e.g. 2023-01")
    carrier = ALIASES.get(cell("carrier"), cell("carrier"))
    if carrier not in CARRIERS:
        bad("carrier", f"{cell('carrier')!r}: expected one of {', '.join(CARRIERS)}")
        return None
    text = cell("quantity").replace(",", "").replace(" ", "")
    try:
        q = float(text)
    except ValueError:
        bad("quantity", f"{cell('quantity')!r} is not a number" if text else
            "empty: give the quantity, or leave the row out (nothing is taken as 0)")
        return None
    if not np.isfinite(q) or q < 0:
        bad("quantity", f"{cell('quantity')!r}: must be a finite number ≥ 0")
    unit = cell("unit")
    factor = UNITS[carrier].get(unit)
    if factor is None:
        bad("unit", f"{unit!r} is not a unit for {carrier}; use one of {', '.join(UNITS[carrier])}")
    elif factor < 0:
        factor = densities.get(carrier)
        if factor is None:
            bad("unit", f"litres of {carrier} need its density in the factors' densities.toml")
    if len(problems) > n or factor is None:
        return None
    return (inst, month, carrier), q * factor


def check_overlap(records: Records, metered: Mapping[tuple[str, str], Collection[str]]) -> None:
    """Refuse records of a carrier for an institution and month its meters also measured: the
    same energy would count twice. `metered[(institution, carrier)]` = months with metered use."""
    problems = [f"{records.path}:{records.lines[k][0]}: institution {k[0]!r}, {k[1]}: {k[2]} is also "
                "metered (readings of its buildings' meters); it would count twice — leave out the "
                "row or the readings" for k in records.values if k[1] in metered.get((k[0], k[2]), ())]
    if problems:
        raise RecordsError(problems[:20])


def check_factors(records: Records, coal: FactorSet, fuels_carbon: Collection[str]) -> None:
    """Every fuel in the records needs a standard-coal factor in `coal` and a carbon factor."""
    problems = []
    for fuel in sorted(records.carriers() & set(FUELS)):
        line = min(v[0] for k, v in records.lines.items() if k[2] == fuel)
        if fuel not in coal.factors:
            problems.append(f"{records.path}:{line}: {fuel}: factor set {coal.name!r} has no "
                            "standard-coal factor for it (config/factors/standard_coal.toml)")
        if fuel not in fuels_carbon:
            problems.append(f"{records.path}:{line}: {fuel}: no carbon factor for it "
                            "([carriers] in config/factors/carbon.toml)")
    if problems:
        raise RecordsError(problems)


@dataclass
class RecordUsage:
    """`extra` hook of analytics.basis.YearBasis: the records of the period's months, per row.

    `months` are the months wholly inside the requested window (a record of a month the window cuts
    is not split). `key_of(level, institution)` names the row an institution counts to. After the
    rows are computed, `sources[(level, key, period label)]` holds each carrier's recorded quantity
    and `kgce[(level, key, label)]` the comprehensive energy that came from records.
    """

    records: Records
    months: Collection[str]
    coal: FactorSet
    carbon: Callable[[int], CarbonFactors]
    key_of: Callable[[str, str], str]
    sources: dict[tuple[str, str, str], dict[str, float]] = field(default_factory=dict)
    kgce: dict[tuple[str, str, str], float] = field(default_factory=dict)
    recorded: set[str] = field(default_factory=set)  # keys with a record in the last call's period

    def __call__(self, level: str, keys: list[str], label: str) -> Usage | None:
        grid = self.carbon(int(label[:4]))
        pos = {k: i for i, k in enumerate(keys)}
        qty = {c: np.zeros(len(keys)) for c in CARRIERS}
        found = False
        self.recorded = set()
        for (inst, month, carrier), q in self.records.values.items():
            if month not in self.months or not month.startswith(label):
                continue
            i = pos.get(self.key_of(level, inst))
            if i is None:
                continue
            qty[carrier][i] += q
            self.recorded.add(keys[i])
            found = True
        if not found:
            return None
        fuel_kgce = sum((qty[f] * self.coal.kgce(f) for f in FUELS if qty[f].any()), np.zeros(len(keys)))
        fuel_co2 = sum((qty[f] * grid.fuels[f] for f in FUELS if qty[f].any()), np.zeros(len(keys)))
        kgce = (qty["electricity"] * self.coal.kgce("electricity") + qty["heat"] * self.coal.kgce("heat")
                + qty["natural_gas"] * self.coal.kgce("natural_gas") + fuel_kgce)
        for k, i in pos.items():
            got = {c: float(v[i]) for c, v in qty.items() if v[i] > 0}
            if got:
                self.sources[(level, k, label)] = got
                self.kgce[(level, k, label)] = float(kgce[i])
        return Usage(qty["electricity"], qty["heat"], qty["natural_gas"], qty["water"],
                     np.zeros(len(keys)), fuel_kgce, fuel_co2)


__all__ = ["ALIASES", "CARRIERS", "REQUIRED", "UNITS", "RecordUsage", "Records", "RecordsError",
           "check_factors", "check_overlap", "load_records"]
