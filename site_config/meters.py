"""Compiling [[meters]]: profile and variant, bus and building references, unit ids, poll groups.

Called by site_config/load.py with the tables that already passed their shape check; every problem
goes to the Findings (file, line, key) and compiling goes on with the next meter.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.problems import Findings
from core.subitems import CODES, code_fits, code_for, resolve
from core.toml_lines import KeyPath
from core.units import format_duration, parse_poll_interval
from drivers.codec import parse_order
from drivers.di_profiles import DiVariant
from drivers.profiles import MeterVariant, PointOverride, override_points
from drivers.readers import AnyVariant
from site_config.model import Meter, PollGroup
from site_config.schema import (
    BusSpec,
    MeterSpec,
    PointOverrideSpec,
    PollGroupSpec,
    RtuOverTcpBusSpec,
    SerialBusSpec,
)
from site_config.stations import check_station, line_protocol, resolve_message


@dataclass(frozen=True, slots=True)
class Declared:
    """What the other tables offer a meter: valid buses, and every id written (valid or not), so a
    meter pointing at a broken bus is not reported a second time."""

    buses: Mapping[str, BusSpec]
    bus_ids: frozenset[str]
    buildings: frozenset[str]
    building_ids: frozenset[str]
    default_interval_s: float
    config_dir: Path  # a profile given as a relative path to a .toml file is found from here


def compile_meters(
    items: Sequence[tuple[int, dict[str, Any], MeterSpec | None]], declared: Declared, f: Findings,
    profile_dirs: Iterable[Path] | None = None,
) -> list[Meter]:
    """Meters from their tables; an item whose shape failed (spec None) still gets its profile, bus
    and building checked from the raw values, so one run shows all of its problems."""
    dirs = list(profile_dirs) if profile_dirs is not None else None
    # (protocol, profile spec) -> variant, or why it failed
    cache: dict[tuple[str, str], MeterVariant | DiVariant | str] = {}

    def variant_of(profile: str, here: KeyPath,
                   protocol: str = "modbus") -> MeterVariant | DiVariant | None:
        key = (protocol, profile)
        if key not in cache:
            cache[key] = resolve_message(_profile_spec(profile, declared.config_dir), protocol, dirs)
        found = cache[key]
        if isinstance(found, str):
            f.error((*here, "profile"), found)
            return None
        return found

    units: dict[tuple[str, int], int] = {}  # (bus, unit) -> index of the meter that has it
    addresses: dict[tuple[str, str], int] = {}  # (bus, DL/T 645 / CJ/T 188 address) -> index
    meters: list[Meter] = []
    for index, raw, spec in items:
        here: KeyPath = ("meters", index)
        if spec is None:
            _check_raw(raw, here, declared, f, variant_of)
            continue
        ok = _check_ref("bus", spec.bus, here, declared, f)
        ok &= _check_ref("building", spec.building, here, declared, f)
        bus = declared.buses.get(spec.bus)
        address = None
        if bus is not None:
            station_ok, address = check_station(spec, bus, here, addresses, index, f, raw)
            ok &= station_ok
            if station_ok and address is None:
                ok &= _check_unit(spec, bus, here, units, index, f)
        variant = variant_of(spec.profile, here, line_protocol(bus, spec))
        if variant is None:
            continue
        ok &= _check_electrical(spec, variant, here, f)
        applied: tuple[tuple[str, PointOverride], ...] = ()
        if spec.overrides is not None and isinstance(variant, DiVariant):
            f.error((*here, "overrides"), f"{variant.key} is a {variant.protocol} profile: its "
                                          "formats are the standard's; copy the profile to change one")
            ok = False
        elif spec.overrides is not None and isinstance(variant, MeterVariant):
            overridden = apply_overrides(spec.overrides, variant, (*here, "overrides"), f)
            ok &= overridden is not None
            if overridden is not None:
                variant, applied = overridden
        if bus is not None:
            _check_line(spec, variant, bus, here, f)
        poll = compile_poll(spec.poll, variant, declared.default_interval_s, (*here, "poll"), f)
        subitem = resolve(spec.subitem)[0] if spec.subitem is not None else None
        code = code_for(spec.subitem, variant.kind) if spec.subitem is not None else None
        if code is not None and not code_fits(code, variant.kind):
            f.error((*here, "subitem"), f"national item code {code} is not for a {variant.kind} meter "
                                        f"({CODES[code][0]} of {', '.join(CODES[code][1])} meters)")
            ok = False
        if ok and poll is not None:
            meters.append(Meter(
                id=spec.id, profile=spec.profile, variant=variant, unit=spec.unit or 0, bus=spec.bus,
                building=spec.building, subitem=subitem, subitem_code=code, circuit=spec.circuit,
                description=spec.description, ct=spec.ct, pt=spec.pt, poll=poll, pair=spec.pair,
                overrides=applied,
                role=spec.role, address=address,
            ))
    return meters


def _profile_spec(profile: str, config_dir: Path) -> str:
    """A profile named by a relative path to a .toml file is relative to the config's folder."""
    name, sep, variant = profile.partition(":")
    if (name.endswith(".toml") or os.sep in name) and not Path(name).is_absolute():
        return f"{config_dir / name}{sep}{variant}"
    return profile


def _check_raw(raw: dict[str, Any], here: KeyPath, declared: Declared, f: Findings,
               variant_of: Callable[[str, KeyPath, str], AnyVariant | None]) -> None:
    """The checks a meter whose table has shape errors can still get."""
    for key in ("bus", "building"):
        if isinstance(raw.get(key), str):
            _check_ref(key, raw[key], here, declared, f)
    if isinstance(raw.get("profile"), str):
        bus = declared.buses.get(raw["bus"]) if isinstance(raw.get("bus"), str) else None
        variant_of(raw["profile"], here, line_protocol(bus))


def _check_ref(key: str, name: str, here: KeyPath, declared: Declared, f: Findings) -> bool:
    """True if the meter's `bus` or `building` names a valid one."""
    if key == "bus":
        valid, written, table = set(declared.buses), declared.bus_ids, "[[buses]]"
    else:
        valid, written, table = set(declared.buildings), declared.building_ids, "[[buildings]]"
    if name in valid:
        return True
    if name not in written:  # else that table has its own errors
        close = difflib.get_close_matches(name, written, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        known = ", ".join(sorted(written)) or "none"
        f.error((*here, key), f"no {key} with id {name!r}; {hint}define it under {table} "
                              f"(known: {known})")
    return False


def _check_unit(spec: MeterSpec, bus: BusSpec, here: KeyPath, units: dict[tuple[str, int], int],
                index: int, f: Findings) -> bool:
    assert spec.unit is not None  # site_config.stations.check_station said so
    if bus.type != "tcp" and not 1 <= spec.unit <= 247:
        f.error((*here, "unit"), f"unit {spec.unit} cannot be addressed on a serial line; use 1..247 "
                                 "(0 is broadcast, 248..255 are reserved)")
        return False
    other = units.setdefault((spec.bus, spec.unit), index)
    if other != index:
        first = f.label(("meters", other))
        line = f.lines.get(("meters", other, "unit"))
        at = f" (line {line})" if line else ""
        f.error((*here, "unit"), f"unit {spec.unit} on bus {spec.bus!r} is already used by {first}{at}; "
                                 "each device on a bus needs its own unit id (set it on the device)")
        return False
    return True


def _check_electrical(spec: MeterSpec, variant: AnyVariant, here: KeyPath, f: Findings) -> bool:
    ok = True
    if variant.kind == "electricity" and spec.subitem is None:
        f.error((*here, "subitem"), "required for an electricity meter: the sub-item (分项) its energy "
                                    "counts towards: total, lighting_sockets, hvac, power, special "
                                    "or other, or its national item code (01000, 01A00, 01B00 …)")
        ok = False
    ratios = {p.ratio for p in variant.points if p.ratio}
    for key, value in (("ct", spec.ct), ("pt", spec.pt)):
        if value is not None and not any(key in r for r in ratios):
            f.warn((*here, key), f"has no effect: no point of {variant.key} is scaled by the {key} "
                                 "ratio (the meter applies its ratios itself); remove it or check "
                                 "the profile")
    return ok


def apply_overrides(
    overrides: Mapping[str, PointOverrideSpec], variant: MeterVariant, here: KeyPath, f: Findings,
) -> tuple[MeterVariant, tuple[tuple[str, PointOverride], ...]] | None:
    """The variant with a meter's `overrides` applied, and the overrides that change something;
    None (errors noted) if one names a point the variant lacks or a scale of 0."""
    points = {p.quantity: p for p in variant.points}
    compiled: dict[str, PointOverride] = {}
    ok = True
    for name, o in overrides.items():
        where = (*here, name)
        if name != "*" and name not in points:
            close = difflib.get_close_matches(name, points, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            f.error(where, f"{name!r} is not a point of {variant.key}; {hint}name one of its points, "
                           "or \"*\" for every point")
            ok = False
            continue
        if o.scale == 0:
            f.error((*where, "scale"), "0 would turn every reading into the offset")
            ok = False
            continue
        if o.order is None and o.scale is None and o.offset is None:
            f.warn(where, "changes nothing; give order, scale or offset, or remove it")
            continue
        order = parse_order(o.order) if o.order else None
        targets = list(points.values()) if name == "*" else [points[name]]
        if order is not None and order.swap_words and not order.swap_bytes \
                and all(p.codec.count == 1 for p in targets):
            f.warn((*where, "order"), f"{order.value} swaps words, and a 16-bit value has one: "
                                      "no effect (BADC or DCBA swap the bytes)")
        compiled[name] = PointOverride(order, o.scale, o.offset)
    return (override_points(variant, compiled), tuple(compiled.items())) if ok else None


def _check_line(spec: MeterSpec, variant: AnyVariant, bus: BusSpec, here: KeyPath,
                f: Findings) -> None:
    """Warn when a meter's factory line settings differ from its bus (stop bits aside: a receiver
    takes one or two stop bits alike)."""
    if not isinstance(bus, SerialBusSpec | RtuOverTcpBusSpec):
        return
    factory = variant.device.serial
    if factory is None:
        f.warn((*here, "profile"), f"{variant.key} has no serial settings (a Modbus TCP device?) but "
                                   f"bus {bus.id!r} is an RS-485 line; check the profile and the bus")
        return
    if bus.baud is None:
        return
    if (factory.baud, factory.parity, factory.bytesize) != (bus.baud, bus.parity, bus.bytesize):
        f.warn((*here, "profile"),
               f"{variant.key} ships set to {factory}, bus {bus.id!r} runs {bus.baud} "
               f"{bus.bytesize}{bus.parity}{bus.stopbits}; set the meter to the bus's settings "
               "(on its display) or it will not answer")


def compile_poll(
    groups: list[PollGroupSpec] | None, variant: AnyVariant, default_interval_s: float,
    here: KeyPath, f: Findings,
) -> tuple[PollGroup, ...] | None:
    """Poll groups with their points; None if a group names a quantity the variant lacks."""
    available = [p.quantity for p in variant.points]
    if groups is None:
        return (_group(default_interval_s, available, variant),)
    if not groups:
        f.error(here, "an empty list polls nothing; leave `poll` out (every point at "
                      "defaults.poll_interval) or add a group")
        return None
    ok = True
    claimed: dict[str, int] = {}
    star: int | None = None
    intervals: list[float] = []
    for gi, group in enumerate(groups):
        try:
            intervals.append(parse_poll_interval(group.interval))
        except ValueError as exc:
            f.error((*here, gi, "interval"), str(exc))
            ok = False
        if group.quantities == "*":
            if star is not None:
                f.error((*here, gi, "quantities"), f"\"*\" already used by poll[{star}]; only one "
                                                   "group can take the remaining points")
                ok = False
            star = gi if star is None else star
            continue
        if not group.quantities:
            f.error((*here, gi, "quantities"), "an empty list polls nothing; name quantities, "
                                               "write \"*\", or remove the group")
            ok = False
        for qi, quantity in enumerate(group.quantities):
            where = (*here, gi, "quantities", qi)
            if quantity not in available:
                close = difflib.get_close_matches(quantity, available, n=3)
                hint = (f"did you mean {', '.join(close)}?" if close
                        else f"its points: {', '.join(available)}")
                f.error(where, f"{quantity!r} is not a point of {variant.key}; {hint}")
                ok = False
            elif quantity in claimed:
                f.error(where, f"{quantity!r} is already polled by poll[{claimed[quantity]}]; a "
                               "quantity may appear in only one group")
                ok = False
            else:
                claimed[quantity] = gi
    if not ok:
        return None
    rest = [q for q in available if q not in claimed]
    compiled: list[PollGroup] = []
    for gi, group in enumerate(groups):
        names = rest if group.quantities == "*" else list(group.quantities)
        if not names:
            f.warn((*here, gi, "quantities"), "\"*\" matches no point: every point is in another "
                                              "group; remove this group")
            continue
        compiled.append(_group(intervals[gi], names, variant))
    if star is None and rest:
        f.warn(here, f"{len(rest)} point(s) of {variant.key} are in no group and will not be polled: "
                     f"{', '.join(rest)}; add them to a group, or add a group with "
                     "quantities = \"*\"")
    _warn_same_interval(intervals, here, f)
    return tuple(compiled)


def _group(interval_s: float, names: Sequence[str], variant: AnyVariant) -> PollGroup:
    return PollGroup(interval_s, tuple(names), tuple(variant.point(q) for q in names))


def _warn_same_interval(intervals: Sequence[float], here: KeyPath, f: Findings) -> None:
    first: dict[float, int] = {}
    for gi, interval in enumerate(intervals):
        if interval in first:
            f.warn((*here, gi, "interval"),
                   f"poll[{first[interval]}] also runs every {format_duration(interval)}; merge the "
                   "two groups so their registers share requests")
        first.setdefault(interval, gi)
