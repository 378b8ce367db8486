"""Where a meter sits on its bus, by protocol: a Modbus unit id, or a DL/T 645 (12 digits) / CJ/T 188
(14 digits) address as printed on the nameplate; and which profile folder a bus's meters come from.
Called by gateway/config/meters.py; every problem goes to the Findings with its key."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.problems import Findings
from core.toml_lines import KeyPath
from drivers.bcd import parse_address
from drivers.di_profiles import PROTOCOLS, DiVariant, di_profile_files, resolve_di_variant
from drivers.errors import ProfileError, ProfileNotFound
from drivers.profiles import MeterVariant, profile_files, resolve_variant
from site_config.schema import PROTOCOL_NAMES, BusSpec, MeterSpec

ADDRESS_DIGITS = {"dlt645": 12, "cjt188": 14}


def line_protocol(bus: BusSpec | None, spec: MeterSpec | None = None) -> str:
    """The bus's protocol; for a meter whose bus is unknown, a guess from its own keys."""
    if bus is not None:
        return getattr(bus, "protocol", "modbus")
    if spec is not None and spec.address is not None:
        digits = sum(c.isdigit() for c in spec.address)
        return "cjt188" if digits > 12 else "dlt645"
    return "modbus"


def resolve_for(protocol: str, profile: str,
                dirs: Iterable[Path] | None) -> MeterVariant | DiVariant:
    """The variant from the protocol's profiles; ProfileNotFound says when the name is a profile of
    another protocol (the bus's `protocol` is then likely wrong)."""
    if protocol == "modbus":
        try:
            return resolve_variant(profile, dirs)
        except ProfileNotFound as exc:
            raise ProfileNotFound(f"{exc}{_elsewhere(profile, protocol, dirs)}") from None
    try:
        return resolve_di_variant(profile, protocol, dirs)
    except ProfileNotFound as exc:
        raise ProfileNotFound(f"{exc}{_elsewhere(profile, protocol, dirs)}") from None


def _elsewhere(profile: str, protocol: str, dirs: Iterable[Path] | None) -> str:
    name = profile.partition(":")[0]
    dirs = list(dirs) if dirs is not None else None
    others = [p for p in ("modbus", *PROTOCOLS) if p != protocol
              and name in (profile_files(dirs) if p == "modbus" else di_profile_files(p, dirs))]
    if not others:
        return ""
    return (f"; {name!r} is a {PROTOCOL_NAMES[others[0]]} profile, and this meter's bus speaks "
            f"{PROTOCOL_NAMES[protocol]}: set protocol = \"{others[0]}\" on the bus, or pick a "
            f"{PROTOCOL_NAMES[protocol]} profile")


def check_station(spec: MeterSpec, bus: BusSpec, here: KeyPath, seen: dict[tuple[str, str], int],
                  index: int, f: Findings, written: Iterable[str]) -> tuple[bool, str | None]:
    """(ok, the address in nameplate digits for a DL/T 645 / CJ/T 188 meter, else None).
    `written`: the keys of the meter's table (a key written but unset failed its shape check and
    is reported already)."""
    if {"unit", "address"} & set(written) - {k for k in ("unit", "address") if getattr(spec, k) is not None}:
        return False, None
    protocol = line_protocol(bus)
    if protocol == "modbus":
        if spec.address is not None:
            f.error((*here, "address"), f"bus {bus.id!r} speaks Modbus: give the meter's `unit` id; "
                                        "`address` is for DL/T 645 and CJ/T 188 meters (set "
                                        "protocol on the bus if this is one)")
            return False, None
        if spec.unit is None:
            f.error(here, "unit: required key is missing; give the meter's Modbus unit id "
                          "(1..247 on a serial line)")
            return False, None
        return True, None
    name = PROTOCOL_NAMES[protocol]
    digits = ADDRESS_DIGITS[protocol]
    if spec.unit is not None:
        f.error((*here, "unit"), f"bus {bus.id!r} speaks {name}: a meter there has an `address` "
                                 f"({digits} digits from its nameplate), not a Modbus unit id")
        return False, None
    if spec.address is None:
        f.error(here, f"address: required key is missing; give the {digits}-digit address printed "
                      f"on the meter's nameplate (bus {bus.id!r} speaks {name})")
        return False, None
    try:
        wire = parse_address(spec.address, digits, what=f"{name} address")
    except ValueError as exc:
        f.error((*here, "address"), str(exc))
        return False, None
    address = bytes(reversed(wire)).hex()
    other = seen.setdefault((spec.bus, address), index)
    if other != index:
        f.error((*here, "address"), f"address {address} on bus {spec.bus!r} is already used by "
                                    f"{f.label(('meters', other))}; each meter on a line has its own")
        return False, None
    return True, address


def resolve_message(profile: str, protocol: str, dirs: list[Path] | None) -> MeterVariant | DiVariant | str:
    """The variant, or why it cannot be had (for Findings)."""
    try:
        return resolve_for(protocol, profile, dirs)
    except ProfileNotFound as exc:
        return f"{exc}; see `metergate scan` to identify a meter"
    except ProfileError as exc:
        located = [p if p.startswith(f"{exc.path}:") else f"{exc.path}: {p}" for p in exc.problems]
        return (f"profile {profile!r} cannot be loaded ({len(exc.problems)} problem(s): "
                f"{'; '.join(located)}); fix the profile file")
