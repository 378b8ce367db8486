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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gateway.config import SiteConfig

F64 = NDArray[np.float64]
SUBITEMS = ("total", "lighting_sockets", "hvac", "power", "special", "other")
CARRIER_QUANTITIES = {"energy_active_import": "electricity", "heat_energy": "heat",
                      "water_volume": "water", "gas_volume": "natural_gas"}
_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")


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
    subitem: str | None


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


def from_site_config(site: SiteConfig) -> tuple[tuple[BuildingInfo, ...], tuple[MeterInfo, ...]]:
    """The metadata roll-ups need, from a loaded site config (institution = [site] institution)."""
    buildings = tuple(BuildingInfo(b.id, site.site.institution, b.category, b.floor_area_m2,
                                   b.heated_area_m2, b.occupants) for b in site.buildings)
    meters = tuple(MeterInfo(m.id, m.building, m.kind, m.subitem) for m in site.meters)
    return buildings, meters


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
            problems.append(f"{key}.id: {vid!r} must be a new id of lowercase letters, digits, '-', '_'")
        if building not in building_ids:
            problems.append(f"{key}.building: no building {building!r} in the site config")
        if subitem not in SUBITEMS:
            problems.append(f"{key}.subitem: {subitem!r} is not one of {', '.join(SUBITEMS)}")
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
    """Sum the rows of `values` by label; `keys` fixes the order (and includes empty groups)."""
    keys = tuple(dict.fromkeys(labels)) if keys is None else tuple(keys)
    pos = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(keys), values.shape[1]))
    np.add.at(out, np.fromiter((pos[x] for x in labels), np.intp, len(labels)), values)
    return RollUp(keys, out)


def subitem_rollup(ids: Sequence[str], values: F64, meters: Mapping[str, MeterInfo | VirtualMeter],
                   quantity: str = "energy_active_import") -> RollUp:
    """Electricity (or another quantity) by "building/subitem", totals and unmetered meters left out."""
    rows = [i for i, m in enumerate(ids) if m in meters and meters[m].subitem not in (None, "total")
            and _counts(meters[m], quantity)]
    labels = [f"{meters[ids[i]].building}/{meters[ids[i]].subitem}" for i in rows]
    return group_sum(values[rows], labels)


def building_totals(ids: Sequence[str], values: F64, meters: Mapping[str, MeterInfo | VirtualMeter],
                    buildings: Sequence[str], quantity: str) -> RollUp:
    """Per building: its total meters if it has any, else its sub-item meters (virtual ones excluded)."""
    rows = [i for i, m in enumerate(ids) if m in meters and _counts(meters[m], quantity)]
    has_total = {meters[ids[i]].building for i in rows if meters[ids[i]].subitem in (None, "total")}
    use = [i for i in rows if (meters[ids[i]].subitem in (None, "total")) ==
           (meters[ids[i]].building in has_total)
           and not (isinstance(meters[ids[i]], VirtualMeter) and meters[ids[i]].subitem != "total")]
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


@dataclass(frozen=True)
class BuildingSeries:
    """Per building × interval: consumption of each carrier, heat pumps' electricity, sub-items."""

    buildings: tuple[str, ...]
    edges_ns: NDArray[np.int64]
    carriers: dict[str, F64]  # electricity (kWh), heat (kWh), natural_gas (m³), water (m³)
    heating_electricity: F64  # kWh of heat pumps (part of electricity)
    subitems: RollUp  # electricity by "building/subitem", virtual meters included


def building_series(results: Mapping[str, IntervalLike], buildings: Sequence[BuildingInfo],
                    meters: Sequence[MeterInfo], virtual: Sequence[VirtualMeter] = ()) -> BuildingSeries:
    """Roll interval consumption (one result per counter quantity, same intervals) up to buildings.

    Cells without data (NaN) count as 0 here; their coverage is the interval result's to report.
    """
    ids = tuple(b.id for b in buildings)
    info: dict[str, MeterInfo | VirtualMeter] = {m.id: m for m in meters}
    info.update({v.id: v for v in virtual})
    edges = next(iter(results.values())).edges_ns if results else np.zeros(1, np.int64)
    n = len(edges) - 1
    carriers = {c: np.zeros((len(ids), n)) for c in ("electricity", "heat", "natural_gas", "water")}
    heating = np.zeros((len(ids), n))
    subitems = RollUp((), np.zeros((0, n)))
    for quantity, res in results.items():
        carrier = CARRIER_QUANTITIES.get(quantity)
        if carrier is None:
            continue
        if not np.array_equal(res.edges_ns, edges):
            raise RollupError(f"{quantity}: intervals differ from the other quantities'")
        unknown = [m for m in res.meters if m not in info]
        if unknown:
            raise RollupError(f"{quantity}: readings of meter(s) not in the site config: "
                              f"{', '.join(unknown)}")
        row_ids, values = add_virtual(res.meters, np.nan_to_num(res.consumption), virtual, quantity)
        carriers[carrier] += building_totals(row_ids, values, info, ids, quantity).values
        if carrier == "electricity":
            heating += heat_pump_electricity(row_ids, values, info, ids).values
            subitems = subitem_rollup(row_ids, values, info, quantity)
    return BuildingSeries(ids, edges, carriers, heating, subitems)


def series_from_readings(readings: Mapping[str, ReadingColumns], buildings: Sequence[BuildingInfo],
                         meters: Sequence[MeterInfo], start_ns: int, end_ns: int, interval_s: int,
                         virtual: Sequence[VirtualMeter] = ()) -> tuple[BuildingSeries, F64]:
    """Counter readings per quantity → interval consumption → building series; also the coverage of
    each building (mean over its meters and intervals, NaN when it has no counter readings)."""
    from analytics.intervals import interval_consumption

    results = {q: interval_consumption(c.meter, c.ts_ns, c.value, start_ns, end_ns, interval_s)
               for q, c in readings.items() if q in CARRIER_QUANTITIES and len(c.ts_ns)}
    series = building_series(results, buildings, meters, virtual)
    where = {m.id: m.building for m in meters}
    cov_sum = np.zeros(len(buildings))
    cov_n = np.zeros(len(buildings))
    pos = {b.id: i for i, b in enumerate(buildings)}
    for res in results.values():
        for row, m in enumerate(res.meters):
            cov_sum[pos[where[str(m)]]] += float(np.mean(res.coverage[row]))
            cov_n[pos[where[str(m)]]] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return series, cov_sum / cov_n


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


__all__ = ["CARRIER_QUANTITIES", "SUBITEMS", "BuildingInfo", "BuildingSeries", "IntervalLike", "MeterInfo",
           "RollUp", "RollupError", "VirtualMeter", "add_virtual", "building_series", "building_totals",
           "carrier_of", "from_site_config", "group_sum", "heat_pump_electricity", "load_virtual_meters",
           "parse_expression", "series_from_readings", "subitem_rollup"]
