"""Meter profiles: load config/profiles/*.toml, check every problem at once, compile to frozen objects.

A profile is data. Loading validates the file's shape (drivers/profile_schema.py), merges each variant
over the base map, checks meaning (quantities, units, addresses, limits) and compiles each point into a
codec, so the poll loop only executes. Errors name the file, the key and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metergate_data import bundled

from core.toml_lines import KeyPath, key_lines, line_of
from drivers.codec import FLOAT_TYPES, DataType, FieldCodec, Order, parse_order, parse_type
from drivers.errors import ProfileError
from drivers.profile_files import (
    MappedQuantity,
    PointsByQuantity,
    ProfileFile,
    VariantHeader,
    check_duplicate_quantities,
    check_plausibility,
    describe_shape_error,
    find_named,
    known_quantity,
    load_each,
    merged_points,
    read_profile_toml,
    unit_into_canonical,
)

if TYPE_CHECKING:  # the schema (pydantic) is imported only to load a file: a running gateway
    # holds compiled profiles, unpickled from the loading child (core.forked_load), without it
    from drivers.profile_schema import (
        DeviceSpec,
        FingerprintCheck,
        PointDefaults,
        PointSpec,
        ProfileSpec,
        VariantSpec,
    )

BUNDLED_PROFILES = bundled("profiles")
DEFAULT_MAX_REGISTERS = 125  # Modbus limit for one read of holding/input registers (253-byte PDU)
DEFAULT_MAX_GAP = 10  # bridging 10 registers costs ~20 bytes, less than a new request's overhead


@dataclass(frozen=True, slots=True)
class SerialSettings:
    baud: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    def __str__(self) -> str:
        return f"{self.baud} {self.bytesize}{self.parity}{self.stopbits}"


@dataclass(frozen=True, slots=True)
class Unreadable:
    start: int
    end: int  # inclusive
    function: int | None = None

    def blocks(self, function: int, start: int, end: int) -> bool:
        """True if a read of [start, end] with `function` touches this range."""
        fc_match = self.function is None or self.function == function
        return fc_match and start <= self.end and end >= self.start


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    max_registers: int = DEFAULT_MAX_REGISTERS
    max_gap: int = DEFAULT_MAX_GAP
    turnaround_ms: float = 20.0
    unit_switch_delay_ms: float = 0.0
    unreadable: tuple[Unreadable, ...] = ()
    serial: SerialSettings | None = None


@dataclass(frozen=True, slots=True)
class Point(MappedQuantity):
    """One value of a meter, compiled: where it lives and how it decodes to its canonical unit."""

    function: int
    address: int  # wire (0-based PDU) address
    codec: FieldCodec
    fraction_address: int | None = None
    fraction_codec: FieldCodec | None = None
    range: tuple[float, float] | None = None
    max_rate: float | None = None  # canonical unit per hour (counters)
    ratio: str | None = None  # "ct", "pt" or "ct*pt"
    note: str = ""

    def spans(self) -> list[tuple[int, int, int]]:
        """(function, wire address, register count) of every register run this point needs."""
        runs = [(self.function, self.address, self.codec.count)]
        if self.fraction_codec is not None and self.fraction_address is not None:
            runs.append((self.function, self.fraction_address, self.fraction_codec.count))
        return runs


@dataclass(frozen=True, slots=True)
class FingerprintRegister:
    function: int
    address: int
    codec: FieldCodec
    equals: float | None
    range: tuple[float, float] | None


FingerprintItem = str | FingerprintRegister


@dataclass(frozen=True)
class MeterVariant(VariantHeader, PointsByQuantity[Point]):
    points: tuple[Point, ...]
    device: DeviceLimits
    fingerprint: tuple[FingerprintItem, ...]


class MeterProfile(ProfileFile[MeterVariant]):
    """A Modbus profile file compiled (config/profiles/*.toml)."""


@dataclass(frozen=True, slots=True)
class PointOverride:
    """What one meter decodes differently from its profile (a site config's `overrides`): each
    field given replaces the point's own, with the meaning it has in a profile file."""

    order: Order | None = None
    scale: float | None = None
    offset: float | None = None

    def over(self, base: PointOverride | None) -> PointOverride:
        """This override on top of `base` (the "*" one): fields set here win."""
        if base is None:
            return self
        return PointOverride(self.order or base.order,
                             base.scale if self.scale is None else self.scale,
                             base.offset if self.offset is None else self.offset)


def override_points(variant: MeterVariant, overrides: Mapping[str, PointOverride]) -> MeterVariant:
    """`variant` with some points decoded differently: `overrides` maps a quantity, or "*" for
    every point, to the order, scale and offset that replace the profile's. The variant keeps its
    key; the fingerprint (for scans) is left as the profile has it."""
    every = overrides.get("*")
    points = []
    for p in variant.points:
        own = overrides.get(p.quantity)
        o = own.over(every) if own is not None else every
        points.append(p if o is None else _overridden(p, o))
    return replace(variant, points=tuple(points))


def _overridden(p: Point, o: PointOverride) -> Point:
    codec = p.codec
    scale = codec.scale if o.scale is None else o.scale
    new = replace(codec, order=o.order or codec.order, scale=scale,
                  offset=codec.offset if o.offset is None else o.offset)
    fraction = p.fraction_codec
    if fraction is not None:
        # the fraction follows the point's scale (profile: fraction.scale x scale) and, unless the
        # profile gave it its own order, the point's order
        order = o.order if o.order and fraction.order == codec.order else fraction.order
        fraction = replace(fraction, order=order, scale=fraction.scale / codec.scale * scale)
    return replace(p, codec=new, fraction_codec=fraction)


# ---------------------------------------------------------------------------------------------------
# loading


def load_profile(path: str | Path) -> MeterProfile:
    """Load and compile one profile file; raise ProfileError listing every problem in it."""
    from pydantic import ValidationError

    from drivers.profile_schema import ProfileSpec

    path = Path(path)
    text, raw = read_profile_toml(path)
    try:
        spec = ProfileSpec.model_validate(raw)
    except ValidationError as exc:
        shape = [describe_shape_error(err, raw, _allowed_keys) for err in exc.errors()]
        raise ProfileError(str(path), shape + _point_meaning_problems(raw)) from None
    problems: list[str] = []
    wheres: dict[str, dict[str, str]] = {}
    profile = _compile_profile(spec, path, problems, wheres)
    if profile is not None:
        problems += _overlap_problems(profile, wheres, path, key_lines(text))
    if problems or profile is None:
        raise ProfileError(str(path), problems or ["profile could not be compiled"])
    return profile


def profile_dirs() -> list[Path]:
    """Folders searched for profiles, lowest precedence first (later ones override by id)."""
    dirs = [BUNDLED_PROFILES, Path("/etc/metergate/profiles"),
            Path.home() / ".config" / "metergate" / "profiles"]
    extra = os.environ.get("METERGATE_PROFILE_PATH", "")
    dirs += [Path(p) for p in extra.split(os.pathsep) if p]
    return dirs


def profile_files(dirs: Iterable[Path] | None = None) -> dict[str, Path]:
    """Profile id (file stem) -> file, later folders overriding earlier ones."""
    found: dict[str, Path] = {}
    for d in profile_dirs() if dirs is None else dirs:
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                found[f.stem] = f
    return found


def load_all(dirs: Iterable[Path] | None = None) -> dict[str, MeterProfile]:
    """Every profile found; raise ProfileError naming all broken files at once."""
    return load_each(profile_files(dirs), load_profile)


def find_profile(name: str, dirs: Iterable[Path] | None = None) -> MeterProfile:
    """A profile by id (file stem) or by path to a .toml file."""
    if name.endswith(".toml") or os.sep in name:
        return load_profile(name)
    return find_named(name, profile_files(dirs), load_profile, "profile",
                      profile_dirs() if dirs is None else dirs)


def resolve_variant(spec: str, dirs: Iterable[Path] | None = None) -> MeterVariant:
    """'PROFILE' or 'PROFILE:VARIANT' -> compiled variant."""
    name, _, variant = spec.partition(":")
    return find_profile(name, dirs).variant(variant or None)


# ---------------------------------------------------------------------------------------------------
# compiling


def _compile_profile(spec: ProfileSpec, path: Path, problems: list[str],
                     wheres: dict[str, dict[str, str]] | None = None) -> MeterProfile | None:
    """`wheres` (if given) receives, per variant key, where each point is written in the file."""
    pid = path.stem  # the file name is the id: lookup and overriding use it
    for key in ("type", "order"):
        parse = parse_type if key == "type" else parse_order
        _parse(parse, getattr(spec.defaults, key), f"defaults.{key}", problems)
    if not spec.variants:
        problems.append("no [variants.NAME] table: add at least one, e.g. [variants.default]")
        return None
    if spec.default_variant not in spec.variants:
        problems.append(
            f"default_variant = {spec.default_variant!r} names no variant; "
            f"variants are {', '.join(spec.variants)}"
        )
    check_duplicate_quantities(spec.points, "points", problems)
    variants: dict[str, MeterVariant] = {}
    for vname, vspec in spec.variants.items():
        variant = _compile_variant(pid, vname, vspec, spec, problems, wheres)
        if variant is not None:
            variants[vname] = variant
    return MeterProfile(
        id=pid, manufacturer=spec.manufacturer, model=spec.model, kind=spec.kind,
        description=spec.description, sources=tuple(spec.sources), modelled=spec.modelled,
        default_variant=spec.default_variant, variants=variants, path=path,
    )


def _compile_variant(
    pid: str, vname: str, vspec: VariantSpec, spec: ProfileSpec, problems: list[str],
    wheres: dict[str, dict[str, str]] | None = None,
) -> MeterVariant | None:
    vkey = f"variants.{vname}"
    defaults = _merge_model(spec.defaults, vspec.defaults)
    device = _merge_model(spec.device, vspec.device)
    check_duplicate_quantities(vspec.points, f"{vkey}.points", problems)

    # merge: base points (unless replaced) then the variant's points, replacing by quantity
    merged = merged_points(spec.points, vspec.inherit_points, vspec.remove, vspec.points, vkey,
                           problems)

    limits = _compile_device(device, vkey, problems)
    points: list[Point] = []
    for pspec, where in merged.values():
        point = _compile_point(pspec, defaults, where, problems)
        if point is not None:
            points.append(point)
            _check_readable(point, limits, where, problems)
    points.sort(key=lambda p: (p.function, p.address))

    fingerprint: list[FingerprintItem] = []
    for i, item in enumerate(list(spec.fingerprint) + list(vspec.fingerprint)):
        fp = _compile_fingerprint(item, {p.quantity for p in points}, defaults,
                                  f"{vkey}.fingerprint[{i}]", problems)
        if fp is not None:
            fingerprint.append(fp)
    variant = MeterVariant(
        profile_id=pid, name=vname, description=vspec.description or spec.description,
        manufacturer=spec.manufacturer, model=spec.model, kind=spec.kind,
        points=tuple(points), device=limits, fingerprint=tuple(fingerprint),
    )
    if wheres is not None:
        wheres[variant.key] = {q: where for q, (_, where) in merged.items()}
    return variant


def _merge_model(base: Any, override: Any) -> Any:
    """Fields set explicitly in `override` win over `base` (both pydantic models of one class)."""
    if override is None:
        return base
    data = base.model_dump(exclude_unset=False)
    data.update(override.model_dump(exclude_unset=True))
    return type(base).model_validate(data)


def _compile_device(device: DeviceSpec, where: str, problems: list[str]) -> DeviceLimits:
    unreadable = tuple(Unreadable(u.start, u.end, u.function) for u in device.unreadable or [])
    for i, u in enumerate(unreadable):
        if u.end < u.start:
            problems.append(f"{where}: device.unreadable[{i}]: end {u.end} is before start "
                            f"{u.start}; give the inclusive wire-address range as start <= end")
    serial = None
    if device.serial is not None:
        s = device.serial
        serial = SerialSettings(s.baud, s.parity, s.stopbits, s.bytesize)
    return DeviceLimits(
        max_registers=device.max_registers or DEFAULT_MAX_REGISTERS,
        max_gap=DEFAULT_MAX_GAP if device.max_gap is None else device.max_gap,
        turnaround_ms=20.0 if device.turnaround_ms is None else device.turnaround_ms,
        unit_switch_delay_ms=device.unit_switch_delay_ms or 0.0,
        unreadable=unreadable,
        serial=serial,
    )


def _compile_point(
    p: PointSpec, defaults: PointDefaults, where: str, problems: list[str]
) -> Point | None:
    where = f"{where} (quantity {p.quantity!r})"
    before = len(problems)
    quantity = known_quantity(p.quantity, where, problems)
    if quantity is None:
        return None
    dtype = _parse(parse_type, p.type or defaults.type, f"{where}: type", problems, p.type is None)
    order = _parse(parse_order, p.order or defaults.order, f"{where}: order", problems,
                   p.order is None)
    factor = unit_into_canonical(quantity, p.unit, where, problems)
    base = defaults.address_base if p.address_base is None else p.address_base
    wire = p.address - base
    if wire < 0:
        problems.append(f"{where}: address: {p.address} with address_base = 1 is wire address -1; "
                        "1-based register numbers start at 1")
    check_plausibility(quantity, p.range, p.max_rate, where, problems,
                       " (e.g. rated power for an energy counter)")
    if p.scale == 0:
        problems.append(f"{where}: scale: 0 would turn every reading into the offset")
    if dtype is not None and p.bits is not None:
        if dtype in FLOAT_TYPES:
            problems.append(f"{where}: bits: bit fields need an integer type, not {dtype}")
        elif p.bits[0] < 0 or p.bits[1] < 1 or sum(p.bits) > 16 * _count(dtype):
            problems.append(f"{where}: bits: [{p.bits[0]}, {p.bits[1]}] does not fit in {dtype}")
    fraction_codec = fraction_address = None
    if p.fraction is not None and dtype is not None and order is not None:
        ftype = _parse(parse_type, p.fraction.type or dtype, f"{where}: fraction.type", problems)
        forder = _parse(parse_order, p.fraction.order or order, f"{where}: fraction.order",
                        problems)
        fraction_address = p.fraction.address - base
        if ftype is not None and forder is not None:
            fraction_codec = FieldCodec(ftype, forder, scale=p.fraction.scale * p.scale,
                                        factor=factor or 1.0)
    if len(problems) > before or dtype is None or order is None or factor is None:
        return None
    if wire + _count(dtype) > 65536:
        problems.append(f"{where}: address: {p.address} + {_count(dtype)} registers runs past 65535")
        return None
    codec = FieldCodec(
        dtype, order, scale=p.scale, offset=p.offset, factor=factor,
        sentinels=frozenset(p.sentinels), bits=tuple(p.bits) if p.bits else None,  # type: ignore[arg-type]
    )
    return Point(
        quantity=quantity.name, unit=quantity.unit, kind=quantity.kind,
        function=p.function or defaults.function, address=wire, codec=codec,
        fraction_address=fraction_address, fraction_codec=fraction_codec,
        range=tuple(p.range) if p.range else None,  # type: ignore[arg-type]
        max_rate=p.max_rate, ratio=p.ratio, note=p.note,
    )


def _point_meaning_problems(raw: dict[str, Any]) -> list[str]:
    """Meaning checks of the points that are well-formed, so a file with a shape error still gets
    every other error reported in the same run."""
    from pydantic import ValidationError

    from drivers.profile_schema import PointDefaults, PointSpec

    problems: list[str] = []
    try:
        defaults = PointDefaults.model_validate(raw.get("defaults", {}))
    except ValidationError:
        defaults = PointDefaults()
    lists: list[tuple[str, Any]] = [("points", raw.get("points"))]
    variants = raw.get("variants")
    if isinstance(variants, dict):
        lists += [(f"variants.{k}.points", v.get("points")) for k, v in variants.items()
                  if isinstance(v, dict)]
    for where, items in lists:
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                spec = PointSpec.model_validate(item)
            except ValidationError:
                continue
            _compile_point(spec, defaults, f"{where}[{i}]", problems)
    return problems


def _compile_fingerprint(
    item: str | FingerprintCheck, quantities: set[str], defaults: PointDefaults, where: str,
    problems: list[str],
) -> FingerprintItem | None:
    if isinstance(item, str):
        if item not in quantities:
            problems.append(f"{where}: {item!r} is not a point of this variant; name one of its "
                            "quantities or give {address, type, equals|range}")
            return None
        return item
    dtype = _parse(parse_type, item.type, f"{where}: type", problems)
    order = _parse(parse_order, item.order or defaults.order, f"{where}: order", problems)
    if item.equals is None and item.range is None:
        problems.append(f"{where}: give `equals` or `range` for the identification register")
    base = defaults.address_base if item.address_base is None else item.address_base
    if item.address - base < 0:
        problems.append(f"{where}: address {item.address} with address_base = 1 is wire address -1")
        return None
    if dtype is None or order is None:
        return None
    return FingerprintRegister(item.function or defaults.function, item.address - base,
                               FieldCodec(dtype, order), item.equals, item.range)


def _overlap_problems(profile: MeterProfile, wheres: dict[str, dict[str, str]], path: Path,
                      lines: dict[KeyPath, int]) -> list[str]:
    """Two points of one variant that read a register in common (same function code): one of them
    is at the wrong address, or a type is too wide. Bit fields (`bits`) of one register may share
    it when their bits do not. Each problem names file:line: key, once even if every variant
    inherits it."""
    problems: list[str] = []
    for variant in profile.variants.values():
        where = wheres.get(variant.key, {})
        runs = [(fc, a, a + n - 1, p) for p in variant.points for fc, a, n in p.spans()]
        runs.sort(key=lambda r: (r[0], r[1]))
        for i, (fc, _first, last, p) in enumerate(runs):
            for fc2, first2, _last2, q in runs[i + 1:]:
                if fc2 != fc or first2 > last:
                    break
                if q is p or _disjoint_bits(p, q):
                    continue
                earlier, later = sorted((p, q), key=lambda x: _key_path(where.get(x.quantity, "")))
                text = (f"{_located(path, lines, where.get(later.quantity, ''))}"
                        f" (quantity {later.quantity!r}).address: FC{fc} wire "
                        f"{_span_text(later, fc)} overlaps {where.get(earlier.quantity, '?')} "
                        f"(quantity {earlier.quantity!r}, {earlier.codec.dtype} at wire "
                        f"{_span_text(earlier, fc)}); one register holds one value: check both "
                        "addresses, address_base and the types' widths")
                if text not in problems:
                    problems.append(text)
    return problems


def _disjoint_bits(p: Point, q: Point) -> bool:
    """Bit fields of one and the same register whose bits do not overlap."""
    a, b = p.codec.bits, q.codec.bits
    if a is None or b is None or (p.address, p.codec.count) != (q.address, q.codec.count):
        return False
    return a[0] + a[1] <= b[0] or b[0] + b[1] <= a[0]


def _span_text(p: Point, fc: int) -> str:
    runs = [f"{a}..{a + n - 1}" if n > 1 else str(a) for f, a, n in p.spans() if f == fc]
    return " and ".join(runs)


def _key_path(where: str) -> KeyPath:
    """'variants.v1.points[3]' -> ('variants', 'v1', 'points', 3)."""
    path: list[str | int] = []
    for part in where.split("."):
        name, _, index = part.partition("[")
        path.append(name)
        if index:
            path.append(int(index.rstrip("]")))
    return tuple(path)


def _located(path: Path, lines: dict[KeyPath, int], where: str) -> str:
    line = line_of(lines, _key_path(where)) if where else None
    return f"{path}:{line}: {where}" if line is not None else f"{path}: {where}"


def _check_readable(point: Point, limits: DeviceLimits, where: str, problems: list[str]) -> None:
    for fc, addr, count in point.spans():
        for u in limits.unreadable:
            if u.blocks(fc, addr, addr + count - 1):
                problems.append(f"{where}: address: wire {addr}..{addr + count - 1} lies in the "
                                f"device's unreadable range {u.start}..{u.end}")


def _count(dtype: DataType) -> int:
    return FieldCodec(dtype).count


def _parse(fn: Any, text: str, where: str, problems: list[str], quiet: bool = False) -> Any:
    """fn(text), or None with a problem noted (`quiet`: already reported where it was set)."""
    try:
        return fn(text)
    except ValueError as exc:
        if not quiet:
            problems.append(f"{where}: {exc}")
        return None


def _allowed_keys(loc: Sequence[Any]) -> list[str]:
    """Field names valid at the place of an unknown key, for a 'did you mean' hint."""
    from core.model_paths import model_of
    from drivers.profile_schema import ProfileSpec

    model: Any = ProfileSpec
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        fld = model.model_fields.get(part)
        if fld is not None:  # otherwise a dict key such as a variant name: same model
            model = model_of(fld.annotation)
    return list(model.model_fields) if model is not None else []


__all__ = [
    "BUNDLED_PROFILES", "DeviceLimits", "FingerprintRegister", "MeterProfile", "MeterVariant",
    "Order", "Point", "PointOverride", "SerialSettings", "Unreadable", "find_profile", "load_all",
    "load_profile", "override_points", "profile_dirs", "profile_files", "resolve_variant",
]
