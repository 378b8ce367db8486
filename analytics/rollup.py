"""Roll-ups: meter → sub-item (分项) → building → institution → category → fleet, on interval arrays.

Rows are meters (or groups), columns are intervals, as in analytics.intervals' IntervalResult.

- A meter's carrier follows from its quantity (and kind): `energy_active_import` is electricity (a
  heat pump's input too), `heat_energy` of a `heat` meter is purchased heat (a heat pump's heat output
  is not purchased energy and is left out), `water_volume` water, `gas_volume` natural gas.
- A building's total of a carrier is the sum of its meters with sub-item `total` (or none); if it has
  no such meter, the sum of its sub-item meters. Sub-items never add to a total, so nothing counts twice.
- Virtual meters (sums and differences of meters, e.g. main minus sub-meters = unmetered remainder)
  come from a small TOML file (`load_virtual_meters`), since the site config accepts no unknown keys.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from core.subitems import resolve

F64 = NDArray[np.float64]
SUBITEMS = ("total", "lighting_sockets", "hvac", "power", "special", "other")  # = core.subitems
CARRIER_QUANTITIES = {"energy_active_import": "electricity", "heat_energy": "heat",
                      "water_volume": "water", "gas_volume": "natural_gas"}
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # the site config's ids (site_config/schema.py)


class RollupError(ValueError):
    """A virtual-meter file or a roll-up input that cannot be used; the message names file and key."""


@dataclass(frozen=True, slots=True)
class BuildingInfo:
    id: str
    institution: str
    category: str
    floor_area_m2: float
    heated_area_m2: float | None
    occupants: int


@dataclass(frozen=True, slots=True)
class MeterInfo:
    id: str
    building: str
    kind: str  # electricity | water | heat | heat_pump
    subitem: str | None  # a name of SUBITEMS (a national code in the site config is resolved to it)
    code: str | None = None  # the national item code (core.subitems), for reports


@dataclass(frozen=True, slots=True)
class VirtualMeter:
    id: str
    building: str
    subitem: str
    quantity: str
    terms: tuple[tuple[str, float], ...]  # (meter id, +1.0 or -1.0)


@dataclass(frozen=True)
class RollUp:
    """Rows `keys` × intervals."""

    keys: tuple[str, ...]
    values: F64

    def row(self, key: str) -> F64:
        return self.values[self.keys.index(key)]


def carrier_of(meter: MeterInfo, quantity: str) -> str | None:
    """The energy carrier a meter's quantity counts towards, or None when it is not consumption."""
    carrier = CARRIER_QUANTITIES.get(quantity)
    if carrier == "heat" and meter.kind != "heat":
        return None
    return carrier


def parse_expression(expr: str) -> tuple[tuple[str, float], ...]:
    """"a + b - c" → (("a", 1), ("b", 1), ("c", -1)). Operators need spaces around them (ids hold '-')."""
    tokens = expr.split()
    if not tokens or len(tokens) % 2 == 0:
        raise ValueError(f"expected 'METER [+|- METER ...]', got {expr!r}")
    terms = []
    sign = 1.0
    for i, tok in enumerate(tokens):
        if i % 2:
            if tok not in "+-" or len(tok) != 1:
                raise ValueError(f"expected + or - (with spaces around it), got {tok!r} in {expr!r}")
            sign = 1.0 if tok == "+" else -1.0
        elif not _ID.fullmatch(tok):
            raise ValueError(f"{tok!r} is not a meter id in {expr!r}")
        else:
            terms.append((tok, sign))
    return tuple(terms)


def load_virtual_meters(path: str | Path, meters: Sequence[MeterInfo],
                        buildings: Sequence[BuildingInfo]) -> tuple[VirtualMeter, ...]:
    """Read `[[virtual_meters]]` (id, building, subitem, expression, quantity) and check them."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RollupError(f"{path}: {exc}") from None
    known = {m.id for m in meters}
    building_ids = {b.id for b in buildings}
    problems: list[str] = [f"{path}: {k}: unknown key (expected [[virtual_meters]])"
                           for k in raw if k != "virtual_meters"]
    out: list[VirtualMeter] = []
    for i, t in enumerate(raw.get("virtual_meters", [])):
        key = f"{path}: virtual_meters[{i}]"
        extra = set(t) - {"id", "building", "subitem", "expression", "quantity"}
        problems += [f"{key}.{k}: unknown key" for k in sorted(extra)]
        vid, building = t.get("id"), t.get("building")
        subitem, quantity = t.get("subitem", "other"), t.get("quantity", "energy_active_import")
        if not isinstance(vid, str) or not _ID.fullmatch(vid) or vid in known:
            problems.append(f"{key}.id: {vid!r} must be a new id of 1-64 letters, digits, '-', '_'")
        if building not in building_ids:
            problems.append(f"{key}.building: no building {building!r} in the site config")
        try:
            subitem = resolve(str(subitem))[0]  # a name, or a national item code
        except ValueError as exc:
            problems.append(f"{key}.subitem: {exc}")
        if quantity not in CARRIER_QUANTITIES:
            problems.append(f"{key}.quantity: {quantity!r} is not one of {', '.join(CARRIER_QUANTITIES)}")
        try:
            terms = parse_expression(str(t.get("expression", "")))
        except ValueError as exc:
            problems.append(f"{key}.expression: {exc}")
            continue
        unknown = [m for m, _ in terms if m not in known]
        if unknown:
            problems.append(f"{key}.expression: unknown meter(s) {', '.join(unknown)}")
        if subitem == "total" and any(m.building == building and m.subitem in (None, "total")
                                      and carrier_of(m, quantity) for m in meters):
            problems.append(f"{key}.subitem: building {building!r} already has a total meter; "
                            "a virtual total would count it twice")
        if isinstance(vid, str):
            known.add(vid)
        out.append(VirtualMeter(str(vid), str(building), str(subitem), str(quantity), terms))
    if problems:
        raise RollupError("\n".join(problems))
    return tuple(out)


def add_virtual(ids: Sequence[str] | NDArray[np.str_], values: F64, virtual: Sequence[VirtualMeter],
                quantity: str) -> tuple[tuple[str, ...], F64]:
    """Append the rows of the virtual meters of `quantity`, computed in order (one may use another)."""
    mine = [v for v in virtual if v.quantity == quantity]
    if not mine:
        return tuple(ids), values
    index = {m: i for i, m in enumerate(ids)}
    rows = np.zeros((len(ids) + len(mine), values.shape[1]))
    rows[: len(ids)] = values
    for n, v in enumerate(mine):
        missing = [m for m, _ in v.terms if m not in index]
        if missing:
            raise RollupError(f"virtual meter {v.id!r}: no {quantity} readings for {', '.join(missing)}")
        for m, sign in v.terms:
            rows[len(ids) + n] += sign * rows[index[m]]
        index[v.id] = len(ids) + n
    return (*ids, *(v.id for v in mine)), rows


def group_sum(values: F64, labels: Sequence[str], keys: Sequence[str] | None = None) -> RollUp:
    """Sum the rows of `values` by label; `keys` fixes the order (and includes empty groups).

    NaN (no data) is skipped, never added as 0; a group without any number in a column (an empty
    group, or only NaN) is NaN there."""
    keys = tuple(dict.fromkeys(labels)) if keys is None else tuple(keys)
    pos = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(keys), values.shape[1]))
    count = np.zeros((len(keys), values.shape[1]))
    idx = np.fromiter((pos[x] for x in labels), np.intp, len(labels))
    known = ~np.isnan(values)
    np.add.at(out, idx, np.where(known, values, 0.0))
    np.add.at(count, idx, known)
    out[count == 0] = np.nan
    return RollUp(keys, out)


def nan_add(a: F64, b: F64) -> F64:
    """a + b where NaN is "no data": the sum of what is known, NaN only where both are NaN."""
    out = np.where(np.isnan(a), b, np.where(np.isnan(b), a, a + b))
    return np.asarray(out, dtype=np.float64)


def subitem_rollup(ids: Sequence[str], values: F64, meters: Mapping[str, MeterInfo | VirtualMeter],
                   quantity: str = "energy_active_import") -> RollUp:
    """Electricity (or another quantity) by "building/subitem", totals and unmetered meters left out."""
    rows = [i for i, m in enumerate(ids) if m in meters and meters[m].subitem not in (None, "total")
            and _counts(meters[m], quantity)]
    labels = [f"{meters[ids[i]].building}/{meters[ids[i]].subitem}" for i in rows]
    return group_sum(values[rows], labels)


def total_rows(ids: Sequence[str], meters: Mapping[str, MeterInfo | VirtualMeter], quantity: str
               ) -> list[int]:
    """The rows a building's total is made of: its total meters if it has any, else its sub-item
    meters (virtual sub-items excluded)."""
    rows = [i for i, m in enumerate(ids) if m in meters and _counts(meters[m], quantity)]
    has_total = {meters[ids[i]].building for i in rows if meters[ids[i]].subitem in (None, "total")}
    return [i for i in rows if (meters[ids[i]].subitem in (None, "total")) ==
            (meters[ids[i]].building in has_total)
            and not (isinstance(meters[ids[i]], VirtualMeter) and meters[ids[i]].subitem != "total")]


def building_totals(ids: Sequence[str], values: F64, meters: Mapping[str, MeterInfo | VirtualMeter],
                    buildings: Sequence[str], quantity: str) -> RollUp:
    """Per building: its total meters if it has any, else its sub-item meters (virtual ones excluded).
    NaN for a building without such a meter or without data (group_sum)."""
    use = total_rows(ids, meters, quantity)
    return group_sum(values[use], [meters[ids[i]].building for i in use], buildings)


def heat_pump_electricity(ids: Sequence[str], values: F64, meters: Mapping[str, MeterInfo | VirtualMeter],
                          buildings: Sequence[str]) -> RollUp:
    """Electricity of heat pumps per building: heating energy (DB37/T 2672: heating pumps' power)."""
    use = [i for i, m in enumerate(ids) if isinstance(meters.get(m), MeterInfo)
           and meters[m].kind == "heat_pump"]  # type: ignore[union-attr]
    return group_sum(values[use], [meters[ids[i]].building for i in use], buildings)


class IntervalLike(Protocol):
    """What roll-ups need of analytics.intervals.IntervalResult."""

    @property
    def meters(self) -> Sequence[str] | NDArray[np.str_]: ...
    @property
    def consumption(self) -> F64: ...
    @property
    def edges_ns(self) -> NDArray[np.int64]: ...
    @property
    def coverage(self) -> F64: ...


# the counter quantity a meter of each kind is expected to deliver (a heat pump's heat output is no carrier)
KIND_QUANTITY = {"electricity": "energy_active_import", "heat_pump": "energy_active_import",
                 "heat": "heat_energy", "water": "water_volume"}


@dataclass(frozen=True)
class BuildingSeries:
    """Per building × interval: consumption of each carrier, heat pumps' electricity, sub-items.

    NaN is "no data": a building without a meter of a carrier, or whose meters of it have no readings
    around that interval. `coverage[carrier]` is the mean coverage (0..1) of the meters its total is
    made of, meters without any readings counting 0; NaN where the building has no such meter."""

    buildings: tuple[str, ...]
    edges_ns: NDArray[np.int64]
    carriers: dict[str, F64]  # electricity (kWh), heat (kWh), natural_gas (m³), water (m³)
    heating_electricity: F64  # kWh of heat pumps (part of electricity)
    subitems: RollUp  # electricity by "building/subitem", virtual meters included
    coverage: dict[str, F64] = field(default_factory=dict)  # carrier → buildings × intervals
    # carrier → per building, the meters its total is made of
    total_meters: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)


def building_series(results: Mapping[str, IntervalLike], buildings: Sequence[BuildingInfo],
                    meters: Sequence[MeterInfo], virtual: Sequence[VirtualMeter] = ()) -> BuildingSeries:
    """Roll interval consumption (one result per counter quantity, same intervals) up to buildings.

    Cells without data (NaN) stay NaN: a sum skips them, and is NaN only when nothing is known.
    A configured meter without any readings of its quantity counts as a row of NaN (coverage 0).
    """
    ids = tuple(b.id for b in buildings)
    info: dict[str, MeterInfo | VirtualMeter] = {m.id: m for m in meters}
    info.update({v.id: v for v in virtual})
    edges = next(iter(results.values())).edges_ns if results else np.zeros(1, np.int64)
    n = len(edges) - 1
    carriers = {c: np.full((len(ids), n), np.nan) for c in ("electricity", "heat", "natural_gas", "water")}
    coverage = {c: np.full((len(ids), n), np.nan) for c in carriers}
    members: dict[str, list[list[str]]] = {c: [[] for _ in ids] for c in carriers}
    heating = np.full((len(ids), n), np.nan)
    subitems = RollUp((), np.zeros((0, n)))
    pos = {b: i for i, b in enumerate(ids)}
    for quantity in dict.fromkeys([*results, *(KIND_QUANTITY[m.kind] for m in meters
                                               if m.kind in KIND_QUANTITY)]):
        carrier = CARRIER_QUANTITIES.get(quantity)
        if carrier is None:
            continue
        res = results.get(quantity)
        if res is not None and not np.array_equal(res.edges_ns, edges):
            raise RollupError(f"{quantity}: intervals differ from the other quantities'")
        got = [str(m) for m in res.meters] if res is not None else []
        unknown = [m for m in got if m not in info]
        if unknown:
            raise RollupError(f"{quantity}: readings of meter(s) not in the site config: "
                              f"{', '.join(unknown)}")
        # meters of the site config that should count this quantity but sent none: rows of NaN
        silent = [m.id for m in meters if KIND_QUANTITY.get(m.kind) == quantity and m.id not in got]
        cons = np.full((len(got) + len(silent), n), np.nan)
        cov = np.zeros((len(got) + len(silent), n))
        if res is not None:
            cons[: len(got)] = res.consumption
            cov[: len(got)] = res.coverage
        row_ids, values = add_virtual([*got, *silent], cons, virtual, quantity)
        carriers[carrier] = nan_add(carriers[carrier], building_totals(row_ids, values, info, ids,
                                                                       quantity).values)
        use = [i for i in total_rows(row_ids, info, quantity) if i < len(cov)]  # real meters
        for i in use:
            members[carrier][pos[info[row_ids[i]].building]].append(row_ids[i])
        cov_mean = group_mean(cov[use], [info[row_ids[i]].building for i in use], ids)
        coverage[carrier] = np.where(np.isnan(coverage[carrier]), cov_mean,
                                     np.fmin(coverage[carrier], cov_mean))
        if carrier == "electricity":
            heating = nan_add(heating, heat_pump_electricity(row_ids, values, info, ids).values)
            subitems = subitem_rollup(row_ids, values, info, quantity)
    return BuildingSeries(ids, edges, carriers, heating, subitems, coverage,
                          {c: tuple(tuple(x) for x in v) for c, v in members.items()})


def group_mean(values: F64, labels: Sequence[str], keys: Sequence[str]) -> F64:
    """Mean of the rows by label (NaN for an empty group)."""
    pos = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(keys), values.shape[1]))
    count = np.zeros(len(keys))
    idx = np.fromiter((pos[x] for x in labels), np.intp, len(labels))
    np.add.at(out, idx, values)
    np.add.at(count, idx, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(out / count[:, None], dtype=np.float64)


def series_from_readings(readings: Mapping[str, ReadingColumns], buildings: Sequence[BuildingInfo],
                         meters: Sequence[MeterInfo], start_ns: int, end_ns: int, interval_s: int,
                         virtual: Sequence[VirtualMeter] = ()) -> tuple[BuildingSeries, F64]:
    """Counter readings per quantity → interval consumption (gap limit adapted to each meter's cadence)
    → building series; also each building's coverage over the whole window (mean over its meters,
    meters without readings counting 0; NaN when it has no counter meter)."""
    from analytics.intervals import interval_consumption

    results = {q: interval_consumption(c.meter, c.ts_ns, c.value, start_ns, end_ns, interval_s)
               for q, c in readings.items() if q in CARRIER_QUANTITIES and len(c.ts_ns)}
    series = building_series(results, buildings, meters, virtual)
    return series, building_coverage(series)


def building_coverage(series: BuildingSeries, cells: slice | NDArray[np.bool_] = slice(None)) -> F64:
    """Per building, the mean coverage of its meters over the chosen intervals (NaN: no meter)."""
    total = np.zeros(len(series.buildings))
    count = np.zeros(len(series.buildings))
    for carrier, cov in series.coverage.items():
        n = np.array([len(m) for m in series.total_meters.get(carrier, ())] or np.zeros(len(total)))
        if cov.shape[1] == 0 or not n.any():
            continue
        mean = np.nan_to_num(np.mean(cov[:, cells], axis=1))
        total += mean * n
        count += n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / count, dtype=np.float64)


class ReadingColumns(Protocol):
    """What series_from_readings needs of analytics.readings_io.Columns."""

    @property
    def meter(self) -> NDArray[np.str_]: ...
    @property
    def ts_ns(self) -> NDArray[np.int64]: ...
    @property
    def value(self) -> F64: ...


def _counts(m: MeterInfo | VirtualMeter, quantity: str) -> bool:
    if isinstance(m, VirtualMeter):
        return m.quantity == quantity
    return carrier_of(m, quantity) is not None


__all__ = ["CARRIER_QUANTITIES", "KIND_QUANTITY", "SUBITEMS", "BuildingInfo", "BuildingSeries",
           "IntervalLike", "MeterInfo", "RollUp", "RollupError", "VirtualMeter", "add_virtual",
           "building_coverage", "building_series", "building_totals", "carrier_of",
           "group_mean", "group_sum", "heat_pump_electricity", "load_virtual_meters", "nan_add",
           "parse_expression", "series_from_readings", "subitem_rollup", "total_rows"]
