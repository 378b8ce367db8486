"""Meter specs: 'UNIT=PROFILE[:VARIANT][,KEY=VALUE...]' -> SimulatedMeter.

Keys (all optional):
  order=CDAB        serve every value in this byte/word order (ABCD, CDAB, BADC, DCBA)
  shift=1           the device's registers sit this many addresses after the profile's (+1 / -1)
  baud=2400 parity=E stopbits=2 bytesize=8   serial line settings (default: the profile's)
  ct=200 pt=10      CT and PT ratios configured in the meter
  turnaround=50     device turnaround in ms (default: the profile's)
  scale=0.5         power, current and energy × this (default: the building fits the meter's rating)
  both_fc=1         answer FC3 and FC4 from one table (as the DTSU666 does)
  writable=1        accept writes to configuration and unmapped registers
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from drivers.codec import parse_order
from drivers.profiles import DeviceLimits, MeterVariant, SerialSettings, resolve_variant
from drivers.transport import SerialEndpoint
from simulators.clock import Clock
from simulators.meter import MeterOptions, SimulatedMeter

KEYS = ("order", "shift", "baud", "parity", "stopbits", "bytesize", "ct", "pt", "turnaround",
        "scale", "both_fc", "writable")


class MeterSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MeterSpec:
    unit: int
    profile: str  # 'PROFILE' or 'PROFILE:VARIANT' (or a path to a .toml file)
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> MeterSpec:
        unit_text, eq, rest = text.strip().partition("=")
        if not eq or not unit_text.strip().isdigit() or not 1 <= int(unit_text) <= 247:
            raise MeterSpecError(f"{text!r}: give UNIT=PROFILE[:VARIANT][,KEY=VALUE...] with UNIT "
                                 "1..247, e.g. 1=chint-dtsu666 or 4=chint-dtsu666:huawei,order=CDAB")
        profile, *items = [p.strip() for p in rest.split(",")]
        if not profile:
            raise MeterSpecError(f"{text!r}: name a profile after '{unit_text}='")
        options: dict[str, str] = {}
        for item in items:
            key, eq, value = item.partition("=")
            if key not in KEYS or not eq or not value:
                raise MeterSpecError(f"{text!r}: {item!r} is not KEY=VALUE with a key of "
                                     f"{', '.join(KEYS)}")
            options[key] = value
        return cls(int(unit_text), profile, options)

    def meter_options(self, device: DeviceLimits, line: SerialSettings | None) -> MeterOptions:
        """Options for the meter; `line` (from the command line) overrides the profile's line, and
        this spec's own line keys override both."""
        o = self.options
        try:
            base = line or device.serial or SerialSettings()
            own = [k for k in ("baud", "parity", "stopbits", "bytesize") if k in o]
            if own:
                base = SerialSettings(int(o.get("baud", base.baud)),
                                      o.get("parity", base.parity).upper(),
                                      int(o.get("stopbits", base.stopbits)),
                                      int(o.get("bytesize", base.bytesize)))
                SerialEndpoint("check", base.baud, base.parity, base.stopbits, base.bytesize)
            return MeterOptions(
                order=parse_order(o["order"]) if "order" in o else None,
                address_shift=int(o.get("shift", "0")),
                ct_ratio=float(o.get("ct", "1")),
                pt_ratio=float(o.get("pt", "1")),
                line=base if (line or own) else None,
                turnaround_ms=float(o["turnaround"]) if "turnaround" in o else None,
                load_scale=float(o["scale"]) if "scale" in o else None,
                both_functions=_flag(o.get("both_fc", "0")),
                writable=_flag(o.get("writable", "0")),
            )
        except ValueError as exc:
            raise MeterSpecError(f"meter {self.unit}={self.profile}: {exc}") from None


def _flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a yes/no value (1/0, true/false)")


def build_meters(specs: Iterable[MeterSpec], *, seed: int = 0, clock: Clock | None = None,
                 line: SerialSettings | None = None,
                 dirs: Iterable[Path] | None = None) -> list[SimulatedMeter]:
    """Meters for `specs`; raises MeterSpecError (bad option, duplicate unit) or the drivers'
    ProfileNotFound / ProfileError (unknown or broken profile)."""
    meters: list[SimulatedMeter] = []
    seen: set[int] = set()
    variants: dict[str, MeterVariant] = {}
    for spec in specs:
        if spec.unit in seen:
            raise MeterSpecError(f"unit id {spec.unit} is given twice; each meter needs its own")
        seen.add(spec.unit)
        if spec.profile not in variants:
            variants[spec.profile] = resolve_variant(spec.profile, dirs)
        variant = variants[spec.profile]
        options = spec.meter_options(variant.device, line)
        try:
            meters.append(SimulatedMeter(variant, spec.unit, seed=seed, clock=clock,
                                         options=options))
        except ValueError as exc:
            raise MeterSpecError(f"meter {spec.unit}={spec.profile}: {exc}") from None
    return meters
