"""CJ/T 188 unit codes: the byte after a value names its unit (KingDa CJT-188-2004.h
CJT_188_UnitType and protocols.md agree on every code below). Each code maps to a unit the quantity
vocabulary converts (core.quantities) and a factor into it, so a meter that switches from kWh to
MWh as its register grows is still read right."""

from __future__ import annotations

# code -> (name as printed, unit in the vocabulary, factor into that unit)
UNITS: dict[int, tuple[str, str, float]] = {
    0x02: ("Wh", "kWh", 1e-3),
    0x05: ("kWh", "kWh", 1.0),
    0x08: ("MWh", "kWh", 1e3),
    0x0A: ("MWh x 100", "kWh", 1e5),
    0x01: ("J", "kWh", 1 / 3.6e6),
    0x0B: ("kJ", "kWh", 1 / 3.6e3),
    0x0E: ("MJ", "kWh", 1 / 3.6),
    0x11: ("GJ", "kWh", 1e3 / 3.6),
    0x13: ("GJ x 100", "kWh", 1e5 / 3.6),
    0x14: ("W", "W", 1.0),
    0x17: ("kW", "W", 1e3),
    0x1A: ("MW", "W", 1e6),
    0x29: ("L", "m³", 1e-3),
    0x2C: ("m³", "m³", 1.0),
    0x32: ("L/h", "m³/h", 1e-3),
    0x35: ("m³/h", "m³/h", 1.0),
}
CODE_OF = {name: code for code, (name, _u, _f) in UNITS.items()}


def unit_of(code: int) -> tuple[str, str, float] | None:
    return UNITS.get(code)
