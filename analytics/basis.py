"""The statistics basis of institutions: which buildings each has, and its floor area, heated area and
occupants (用能人数) year by year, as the yearly statistics form (公共机构能源资源消费统计) reports them.

A basis file is TOML, kept apart from the site config (the gateway does not need it, and it is kept by
whoever fills in the statistics form, once a year):

    [[institutions]]
    id = "city-hall"                   # letters (either case), digits, '-', '_'
    name = "市政府机关大院"
    category = "office"                # default: the category of its buildings, when they agree
    buildings = ["admin", "annex"]     # building ids of the site config; [] for records only
    [[institutions.basis]]
    year = 2022
    floor_area_m2 = 41200
    heated_area_m2 = 38000             # optional
    occupants = 1630

Per-area and per-person indicators of an institution, and of the categories and fleet it belongs to,
use the basis of each period's year. A year without a row uses the nearest earlier year, and a note
says so; a year before the first row is an error (`basis_for`). Buildings keep their own fixed
`floor_area_m2` and `occupants` from the site config for their own rows.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.indicators import Scale, Usage
from analytics.rollup import BuildingInfo
from core.problems import Findings

F64 = NDArray[np.float64]
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_INSTITUTION_KEYS = {"id", "name", "category", "buildings", "basis"}
_BASIS_KEYS = {"year", "floor_area_m2", "heated_area_m2", "occupants"}


class BasisError(ValueError):
    """A basis file that cannot be used, or a year it does not cover; one `file:line: key: what` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class BasisYear:
    year: int
    floor_area_m2: float
    heated_area_m2: float | None
    occupants: float


@dataclass(frozen=True)
class Institution:
    id: str
    name: str
    category: str
    buildings: tuple[str, ...]
    years: dict[int, BasisYear]
    where: str  # "FILE:LINE" of its [[institutions]] header, for messages

    def basis_for(self, year: int) -> BasisYear:
        """The basis of `year`, else of the nearest earlier year; BasisError before the first year."""
        if year in self.years:
            return self.years[year]
        earlier = [y for y in self.years if y < year]
        if not earlier:
            raise BasisError([f"{self.where}: institutions (id {self.id!r}): no basis for {year} or "
                              f"earlier (years given: {', '.join(map(str, sorted(self.years)))}); add "
                              f"[[institutions.basis]] year = {year}"])
        return self.years[max(earlier)]


@dataclass(frozen=True)
class Basis:
    path: str
    institutions: tuple[Institution, ...]
    _of_building: dict[str, str] = field(default_factory=dict)

    def institution(self, iid: str) -> Institution | None:
        return next((i for i in self.institutions if i.id == iid), None)

    def apply(self, buildings: Sequence[BuildingInfo]) -> tuple[BuildingInfo, ...]:
        """Buildings relabelled with their institution (and its category, so that category rows group
        institutions whole); buildings in no institution keep the site's institution and category."""
        out = []
        for b in buildings:
            inst = self.institution(self._of_building.get(b.id, ""))
            out.append(replace(b, institution=inst.id, category=inst.category) if inst else b)
        return tuple(out)


def load_basis(path: str | Path, buildings: Sequence[BuildingInfo],
               categories: Mapping[str, str]) -> Basis:
    """Read and check a basis file against the site's buildings; BasisError with every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BasisError([f"{path}: {exc}"]) from None
    f = Findings(str(path), text, raw)
    for key in raw:
        if key != "institutions":
            f.error((key,), "unknown key (a basis file holds [[institutions]])")
    tables = raw.get("institutions", [])
    if not isinstance(tables, list) or not tables:
        f.error(("institutions",), "expected one or more [[institutions]] tables")
        tables = []
    known = {b.id: b for b in buildings}
    owner: dict[str, str] = {}
    out: list[Institution] = []
    for i, t in enumerate(tables):
        inst = _institution(f, i, t, known, owner, categories)
        if inst is not None:
            out.append(inst)
    ids = [x.id for x in out]
    for i, t in enumerate(tables):
        if isinstance(t, dict) and ids.count(str(t.get("id"))) > 1:
            f.error(("institutions", i, "id"), f"duplicate institution id {t.get('id')!r}")
    if f.errors:
        raise BasisError([str(p) for p in f.errors])
    return Basis(str(path), tuple(out), owner)


def _institution(f: Findings, i: int, t: Any, known: Mapping[str, BuildingInfo],
                 owner: dict[str, str], categories: Mapping[str, str]) -> Institution | None:
    at = ("institutions", i)
    if not isinstance(t, dict):
        f.error(at, "expected a table")
        return None
    errors = len(f.errors)
    for key in sorted(set(t) - _INSTITUTION_KEYS):
        f.error((*at, key), f"unknown key; an institution has {', '.join(sorted(_INSTITUTION_KEYS))}")
    iid = t.get("id")
    if not isinstance(iid, str) or not _ID.fullmatch(iid):
        f.error((*at, "id"), f"{iid!r} is not an id: 1-64 letters, digits, '-' and '_'")
    name = t.get("name", iid)
    if not isinstance(name, str):
        f.error((*at, "name"), "expected a string")
    members = t.get("buildings", [])
    if not isinstance(members, list) or not all(isinstance(b, str) for b in members):
        f.error((*at, "buildings"), "expected a list of building ids, e.g. [\"admin\", \"annex\"]")
        members = []
    for b in members:
        if b not in known:
            f.error((*at, "buildings"), f"no building {b!r} in the site config")
        elif b in owner:
            f.error((*at, "buildings"), f"building {b!r} already belongs to institution {owner[b]!r}")
        else:
            owner[b] = str(iid)
    category = t.get("category")
    if category is None:
        cats = {known[b].category for b in members if b in known}
        if len(cats) == 1:
            category = cats.pop()
        else:
            f.error((*at, "category"), "missing: give the institution's category "
                    f"({'its buildings are ' + ', '.join(sorted(cats)) if cats else 'it has no buildings'})")
    elif category not in categories:
        f.error((*at, "category"), f"{category!r} is not a category; use one of {', '.join(categories)}")
    years = _years(f, at, t.get("basis"))
    if len(f.errors) > errors:
        return None
    line = f.lines.get(at)
    where = f"{f.file}:{line}" if line else f.file
    return Institution(str(iid), str(name), str(category), tuple(members), years, where)


def _years(f: Findings, at: tuple[str | int, ...], rows: Any) -> dict[int, BasisYear]:
    if not isinstance(rows, list) or not rows:
        f.error((*at, "basis"), "expected one or more [[institutions.basis]] tables (year, floor_area_m2, "
                "heated_area_m2, occupants)")
        return {}
    years: dict[int, BasisYear] = {}
    for j, r in enumerate(rows):
        key = (*at, "basis", j)
        if not isinstance(r, dict):
            f.error(key, "expected a table")
            continue
        for k in sorted(set(r) - _BASIS_KEYS):
            f.error((*key, k), f"unknown key; a basis row has {', '.join(sorted(_BASIS_KEYS))}")
        year = r.get("year")
        if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:
            f.error((*key, "year"), f"expected a year (1990..2100), got {year!r}")
            continue
        if year in years:
            f.error((*key, "year"), f"{year} is given twice")
            continue
        area = _number(f, (*key, "floor_area_m2"), r.get("floor_area_m2"), positive=True)
        heated = r.get("heated_area_m2")
        if heated is not None:
            heated = _number(f, (*key, "heated_area_m2"), heated, positive=True)
            if heated is not None and area is not None and heated > area:
                f.error((*key, "heated_area_m2"), f"{heated:g} m² is more than the floor area {area:g} m²")
        people = r.get("occupants")
        if isinstance(people, float) and people.is_integer():
            people = int(people)
        if isinstance(people, bool) or not isinstance(people, int) or people < 0:
            f.error((*key, "occupants"), f"expected a whole number of people ≥ 0, got {people!r}")
            people = None
        if area is not None and people is not None:
            years[year] = BasisYear(year, area, heated, float(people))
    return years


def _number(f: Findings, key: tuple[str | int, ...], v: Any, *, positive: bool) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        f.error(key, f"expected a number, got {v!r}" if v is not None else "missing")
        return None
    if positive and not v > 0:
        f.error(key, f"must be positive, got {v!r}")
        return None
    return float(v)


# --- the per-period adjustment of indicator_rows ----------------------------------------------------


@dataclass
class YearBasis:
    """indicator_rows' `adjust` hook: institutions (and their categories and the fleet) take the
    basis of the period's year; `extra(level, keys, label)` adds what records report (a Usage with
    one column per key) — see analytics.records. Notes (a year borrowed from an earlier one) collect
    in `notes`."""

    basis: Basis | None
    buildings: Sequence[BuildingInfo]  # as relabelled by Basis.apply
    notes: list[str]
    extra: Callable[[str, list[str], str], Usage | None] | None = None
    institution_category: dict[str, str] = field(default_factory=dict)
    metered: bool = True  # False: no readings at all, so only records are data

    def __post_init__(self) -> None:
        for b in self.buildings:
            self.institution_category.setdefault(b.institution, b.category)
        for inst in self.basis.institutions if self.basis else ():
            self.institution_category[inst.id] = inst.category

    def __call__(self, level: str, order: list[str], label: str, p: int, usage: Usage,
                 scale: Scale) -> tuple[list[str], Usage, Scale]:
        if level == "building":
            return order, usage, scale
        scale_of = self._scale(level, int(label[:4]))
        new_order = list(dict.fromkeys([*order, *scale_of]))
        usage = _pad(usage, len(new_order))
        if not self.metered:  # no readings at all: only records are data (rows without are blanked below)
            usage = _zeroed(usage)
        rows = [scale_of.get(k, (0.0, 0.0, 0.0)) for k in new_order]
        scale = Scale(*(np.array([r[n] for r in rows]) for n in range(3)))
        recorded: set[str] = set()
        if self.extra is not None:
            add = self.extra(level, new_order, label)
            if add is not None:
                usage = _add_column(usage, add, p)
                recorded = getattr(self.extra, "recorded", set())
        # rows with no metered building and no record in this period: no data, not 0
        empty = [i for i, k in enumerate(new_order)
                 if k not in recorded and (k not in order or not self.metered)]
        return new_order, _blank(usage, empty, p) if empty else usage, scale

    def key(self, level: str, institution: str) -> str:
        """The row an institution's figures go to at `level` (institution, category or fleet)."""
        return {"institution": institution, "category": self.institution_category.get(institution, ""),
                "fleet": "all"}[level]

    def _scale(self, level: str, year: int) -> dict[str, tuple[float, float, float]]:
        """(floor area, heated area, occupants) per row of `level` for `year`: a basis institution
        counts whole with that year's basis, a building of no basis institution with its own."""
        out: dict[str, list[float]] = {}
        in_basis = {i.id for i in self.basis.institutions} if self.basis else set()
        for b in self.buildings:
            if b.institution in in_basis:
                continue
            k = {"institution": b.institution, "category": b.category, "fleet": "all"}[level]
            acc = out.setdefault(k, [0.0, 0.0, 0.0])
            acc[0] += b.floor_area_m2
            acc[1] += b.heated_area_m2 or 0.0
            acc[2] += b.occupants
        for inst in self.basis.institutions if self.basis else ():
            row = inst.basis_for(year)
            if row.year != year:
                note = (f"institution {inst.id}: no basis for {year}; used {row.year}'s "
                        f"(floor area {row.floor_area_m2:g} m², {row.occupants:g} occupants)")
                if note not in self.notes:
                    self.notes.append(note)
            acc = out.setdefault(self.key(level, inst.id), [0.0, 0.0, 0.0])
            acc[0] += row.floor_area_m2
            acc[1] += row.heated_area_m2 or 0.0
            acc[2] += row.occupants
        return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def _pad(usage: Usage, rows: int) -> Usage:
    """Usage with zero rows appended up to `rows` (entities with no metered buildings)."""
    def pad(x: F64 | None) -> F64 | None:
        if x is None or x.shape[0] >= rows:
            return x
        return np.concatenate([x, np.zeros((rows - x.shape[0], *x.shape[1:]))])
    return Usage(**{k: pad(getattr(usage, k)) for k in usage.__dataclass_fields__})  # type: ignore[arg-type]


def _zeroed(usage: Usage) -> Usage:
    """usage with every known array set to 0 (the meters' side when no readings were given)."""
    return Usage(**{k: None if (x := getattr(usage, k)) is None else np.zeros_like(x)  # type: ignore[arg-type]
                    for k in usage.__dataclass_fields__})


def _blank(usage: Usage, rows: list[int], p: int) -> Usage:
    """usage with NaN (no data) in period column p of `rows`."""
    out = {}
    for k in usage.__dataclass_fields__:
        x = getattr(usage, k)
        if x is not None:
            x = np.array(x, dtype=float, copy=True)
            x[rows, p] = np.nan
        out[k] = x
    return Usage(**out)


def _add_column(usage: Usage, add: Usage, p: int) -> Usage:
    """usage with `add` (one value per entity) added to period column p; None fields count as 0."""
    out = {}
    for k in usage.__dataclass_fields__:
        base, extra = getattr(usage, k), getattr(add, k)
        if extra is None:
            out[k] = base
            continue
        if base is None:
            base = np.zeros_like(usage.electricity_kwh)
        base = np.array(base, dtype=float, copy=True)
        # a record is data where the meters gave none (water from bills for a building without a
        # water meter); NaN where neither has any stays NaN
        col = base[:, p]
        base[:, p] = np.where(np.isnan(col) & (extra > 0), extra, col + extra)
        out[k] = base
    return Usage(**out)


__all__ = ["Basis", "BasisError", "BasisYear", "Institution", "YearBasis", "load_basis"]
