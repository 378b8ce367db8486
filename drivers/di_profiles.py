"""Profiles of meters read by data identifier (DL/T 645-2007, CJ/T 188-2004): load, check every
problem at once, compile to frozen objects.

Files live in a folder per protocol beside the Modbus profiles — config/profiles/dlt645/*.toml,
config/profiles/cjt188/*.toml, and the same subfolders of every other profile folder
(drivers.profiles.profile_dirs) — so the Modbus loader never sees them. A point names its data
identifier, its format as the standard writes it, the byte offset of the value in the answer (for
block identifiers such as CJ/T 188 901F) and its unit; compiling resolves the unit into the quantity's
canonical unit. Errors name the file, the key and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.quantities import QUANTITIES, unit_factor
from drivers import profile_files as pf
from drivers.cjt188.units import UNITS
from drivers.di_formats import DiFormat, parse_format
from drivers.errors import ProfileError, ProfileNotFound
from drivers.profiles import DeviceLimits, SerialSettings, profile_dirs

if TYPE_CHECKING:  # the schema (pydantic) only to load a file, as in drivers.profiles
    from drivers.di_profile_schema import DiDeviceSpec, DiPointSpec, DiProfileSpec, DiVariantSpec

PROTOCOLS = {"dlt645": "DL/T 645-2007", "cjt188": "CJ/T 188-2004"}
DI_DIGITS = {"dlt645": 8, "cjt188": 4}
DEFAULT_TURNAROUND_MS = {"dlt645": 100.0, "cjt188": 150.0}
DEFAULT_PREAMBLE = {"dlt645": 4, "cjt188": 2}


@dataclass(frozen=True, slots=True)
class DiPoint(pf.MappedQuantity):
    """One value of a meter read by data identifier, compiled."""

    di: int
    offset: int  # byte offset of the value in the answer (after the DI echo)
    fmt: DiFormat
    factor: float  # value as read x factor = canonical unit (scale and unit together)
    range: tuple[float, float] | None = None
    max_rate: float | None = None
    note: str = ""
    ratio: str | None = None  # never set: meters read by DI apply their own CT/PT ratios

    def decode(self, answer: bytes) -> tuple[float | None, str]:
        """The canonical value from the answer to this point's DI, or None and why."""
        value, why, coded = self.fmt.decode(answer[self.offset :])
        if value is None:
            return None, why
        if coded is None:
            return value * self.factor, ""
        _name, vocab_unit, to_vocab = next(u for u in UNITS.values() if u[0] == coded)
        quantity = QUANTITIES[self.quantity]
        into = unit_factor(quantity, vocab_unit)
        if into is None:
            return None, f"the meter names its unit {coded}, not a unit of {self.quantity}"
        return value * to_vocab * into * self.factor, ""


@dataclass(frozen=True)
class DiVariant(pf.VariantHeader, pf.PointsByQuantity[DiPoint]):
    protocol: str
    points: tuple[DiPoint, ...]
    device: DeviceLimits
    meter_type: int | None = None  # CJ/T 188 T byte
    preamble: int = 4  # FE bytes the meter sends before a reply (for airtime)
    di_high_first: bool = False  # CJ/T 188: ask 901F as 90 1F
    fingerprint: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiProfile(pf.ProfileFile[DiVariant]):
    """A DL/T 645 or CJ/T 188 profile file compiled (config/profiles/<protocol>/*.toml)."""

    protocol: str = "dlt645"


# ---------------------------------------------------------------------------------------------------
# finding


def di_profile_files(protocol: str, dirs: Iterable[Path] | None = None) -> dict[str, Path]:
    """Profile id (file stem) -> file, from the `protocol` subfolder of every profile folder."""
    found: dict[str, Path] = {}
    for d in profile_dirs() if dirs is None else dirs:
        sub = d / protocol
        if sub.is_dir():
            for f in sorted(sub.glob("*.toml")):
                found[f.stem] = f
    return found


def find_di_profile(name: str, protocol: str, dirs: Iterable[Path] | None = None) -> DiProfile:
    """A profile of `protocol` by id or by path to a .toml file."""
    if name.endswith(".toml") or os.sep in name:
        profile = load_di_profile(name)
        if profile.protocol != protocol:
            raise ProfileNotFound(f"{name} is a {PROTOCOLS[profile.protocol]} profile, not "
                                  f"{PROTOCOLS.get(protocol, protocol)}")
        return profile
    return pf.find_named(name, di_profile_files(protocol, dirs), load_di_profile,
                      f"{PROTOCOLS.get(protocol, protocol)} profile",
                      [d / protocol for d in (profile_dirs() if dirs is None else dirs)])


def resolve_di_variant(spec: str, protocol: str, dirs: Iterable[Path] | None = None) -> DiVariant:
    """'PROFILE' or 'PROFILE:VARIANT' of `protocol` -> compiled variant."""
    name, _, variant = spec.partition(":")
    return find_di_profile(name, protocol, dirs).variant(variant or None)


def load_all_di(protocol: str, dirs: Iterable[Path] | None = None) -> dict[str, DiProfile]:
    return pf.load_each(di_profile_files(protocol, dirs), load_di_profile)


# ---------------------------------------------------------------------------------------------------
# loading and compiling


def load_di_profile(path: str | Path) -> DiProfile:
    from pydantic import ValidationError

    from drivers.di_profile_schema import DiProfileSpec

    path = Path(path)
    _text, raw = pf.read_profile_toml(path)
    try:
        spec = DiProfileSpec.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(str(path), [pf.describe_shape_error(e, raw) for e in exc.errors()]) from None
    problems: list[str] = []
    profile = _compile(spec, path, problems)
    if problems:
        raise ProfileError(str(path), problems)
    return profile


def _compile(spec: DiProfileSpec, path: Path, problems: list[str]) -> DiProfile:
    if not spec.variants:
        problems.append("no [variants.NAME] table: add at least one, e.g. [variants.default]")
    elif spec.default_variant not in spec.variants:
        problems.append(f"default_variant = {spec.default_variant!r} names no variant; variants "
                        f"are {', '.join(spec.variants)}")
    variants: dict[str, DiVariant] = {}
    for vname, vspec in spec.variants.items():
        variants[vname] = _variant(path.stem, vname, vspec, spec, problems)
    return DiProfile(id=path.stem, manufacturer=spec.manufacturer, model=spec.model,
                     kind=spec.kind, description=spec.description, sources=tuple(spec.sources),
                     modelled=spec.modelled, default_variant=spec.default_variant,
                     variants=variants, path=path, protocol=spec.protocol)


def _variant(pid: str, vname: str, vspec: DiVariantSpec, spec: DiProfileSpec,
             problems: list[str]) -> DiVariant:
    vkey = f"variants.{vname}"
    merged = pf.merged_points(spec.points, vspec.inherit_points, vspec.remove, vspec.points, vkey,
                           problems)
    pf.check_duplicate_quantities(spec.points, "points", problems)
    pf.check_duplicate_quantities(vspec.points, f"{vkey}.points", problems)
    unit_first = spec.unit_first if vspec.unit_first is None else vspec.unit_first
    points = [pt for p, where in merged.values()
              if (pt := _point(p, spec.protocol, where, problems, unit_first)) is not None]
    points.sort(key=lambda p: (p.di, p.offset))
    _overlaps(points, {p.quantity: w for p, w in merged.values()}, problems)
    device = _device(spec.device, vspec.device, spec.protocol)
    mtype_text = vspec.meter_type or spec.meter_type
    meter_type = None
    if spec.protocol == "cjt188":
        meter_type = _meter_type(mtype_text, f"{vkey}.meter_type", problems)
    elif mtype_text is not None:
        problems.append(f"{vkey}: meter_type is a CJ/T 188 key; a DL/T 645 frame has no meter type")
    if not points:
        problems.append(f"{vkey}: no points; add points to the base map or the variant")
    preamble = _merged(spec.device, vspec.device, "preamble")
    order = vspec.di_order or spec.di_order
    if order != "low_first" and spec.protocol != "cjt188":
        problems.append(f"{vkey}: di_order is a CJ/T 188 key; DL/T 645 sends DI0 first always")
    return DiVariant(pid, vname, vspec.description or spec.description, spec.manufacturer,
                     spec.model, spec.kind, spec.protocol, tuple(points), device, meter_type,
                     DEFAULT_PREAMBLE[spec.protocol] if preamble is None else preamble,
                     order == "high_first")


def _merged(base: DiDeviceSpec, override: DiDeviceSpec | None, key: str) -> Any:
    value = getattr(override, key, None) if override is not None else None
    return getattr(base, key) if value is None else value


def _device(base: DiDeviceSpec, override: DiDeviceSpec | None, protocol: str) -> DeviceLimits:
    serial = _merged(base, override, "serial")
    turnaround = _merged(base, override, "turnaround_ms")
    return DeviceLimits(
        max_registers=1, max_gap=0,
        turnaround_ms=DEFAULT_TURNAROUND_MS[protocol] if turnaround is None else turnaround,
        serial=SerialSettings(serial.baud, serial.parity, serial.stopbits, serial.bytesize)
        if serial is not None else None)


def _meter_type(text: str | None, where: str, problems: list[str]) -> int | None:
    if text is None:
        problems.append(f"{where}: missing; a CJ/T 188 profile names the meter type (T byte) as "
                        'hex: "10" cold water, "11" hot water, "20" heat, "30" gas')
        return None
    try:
        value = int(text, 16)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFF or len(text) != 2:
        problems.append(f"{where}: {text!r} is not a meter type; write two hex digits such as \"10\"")
        return None
    return value


def _point(p: DiPointSpec, protocol: str, where: str, problems: list[str],
           unit_first: bool = False) -> DiPoint | None:
    where = f"{where} (quantity {p.quantity!r})"
    before = len(problems)
    quantity = pf.known_quantity(p.quantity, where, problems)
    if quantity is None:
        return None
    digits = DI_DIGITS[protocol]
    di = None
    text = p.di.strip()
    if len(text) == digits and all(c in "0123456789abcdefABCDEF" for c in text):
        di = int(text, 16)
    else:
        problems.append(f"{where}: di: {p.di!r} is not a {PROTOCOLS[protocol]} data identifier; "
                        f"write its {digits} hex digits as the standard does "
                        f"({'02010100' if protocol == 'dlt645' else '901F'})")
    fmt = None
    try:
        fmt = parse_format(p.format, signed=p.signed, unit_code=p.unit_code,
                           unit_first=unit_first, nbytes=p.bytes, bits=p.bits)
    except ValueError as exc:
        problems.append(f"{where}: format: {exc}")
    if p.unit_code and protocol != "cjt188":
        problems.append(f"{where}: unit_code: only CJ/T 188 values carry a unit code")
    factor: float | None = 1.0
    if p.unit_code:
        if p.unit is not None:
            problems.append(f"{where}: unit: the unit code in the answer names the unit; remove `unit`")
    else:
        factor = pf.unit_into_canonical(quantity, p.unit, where, problems)
    pf.check_plausibility(quantity, p.range, p.max_rate, where, problems)
    if p.scale == 0:
        problems.append(f"{where}: scale: 0 would turn every reading into 0")
    if len(problems) > before or di is None or fmt is None or factor is None:
        return None
    return DiPoint(quantity.name, quantity.unit, quantity.kind, di, p.offset, fmt,
                   factor * p.scale, tuple(p.range) if p.range else None,  # type: ignore[arg-type]
                   p.max_rate, p.note)


def _overlaps(points: list[DiPoint], wheres: dict[str, str], problems: list[str]) -> None:
    """Two points of one DI whose bytes overlap (bit fields of one status word may share bytes)."""
    for i, p in enumerate(points):
        for q in points[i + 1 :]:
            if q.di != p.di:
                break
            if p.fmt.bits is not None and q.fmt.bits is not None:
                continue
            if q.offset < p.offset + p.fmt.width:
                problems.append(f"{wheres[q.quantity]} (quantity {q.quantity!r}): offset {q.offset} "
                                f"overlaps {wheres[p.quantity]} (quantity {p.quantity!r}, bytes "
                                f"{p.offset}..{p.offset + p.fmt.width - 1}); check both offsets")


__all__ = [
    "PROTOCOLS",
    "DiPoint",
    "DiProfile",
    "DiVariant",
    "di_profile_files",
    "find_di_profile",
    "load_all_di",
    "load_di_profile",
    "resolve_di_variant",
]
