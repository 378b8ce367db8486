"""The one vocabulary of quantities a reading can carry, with canonical units.

Every profile point names one of these quantities; its value is converted to the canonical unit when
decoded, so everything downstream (MQTT, InfluxDB, analytics) sees one unit per quantity.
The vocabulary is documented in docs/quantities.md (generated from this table by a test that checks
the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a quantity behaves over time."""

    COUNTER = "counter"  # monotonic totaliser (energy, volume): never zeroed, clamped or smoothed
    GAUGE = "gauge"  # instantaneous value (power, flow, temperature)
    STATE = "state"  # status words, codes, configuration registers


@dataclass(frozen=True, slots=True)
class Quantity:
    name: str
    unit: str  # canonical unit; "" for dimensionless
    kind: Kind
    description: str


def _q(name: str, unit: str, kind: Kind, description: str) -> Quantity:
    return Quantity(name, unit, kind, description)


_C, _G, _S = Kind.COUNTER, Kind.GAUGE, Kind.STATE

_PHASES = ("l1", "l2", "l3")

_BASE: list[Quantity] = [
    # electricity: counters
    _q("energy_active_import", "kWh", _C, "active energy imported (consumed), total"),
    _q("energy_active_export", "kWh", _C, "active energy exported (fed back), total"),
    _q("energy_active_total", "kWh", _C, "active energy, import plus export"),
    _q("energy_reactive_import", "kvarh", _C, "reactive energy imported, total"),
    _q("energy_reactive_export", "kvarh", _C, "reactive energy exported, total"),
    # electricity: instantaneous
    _q("power_active", "W", _G, "active power, total (positive = import)"),
    _q("power_reactive", "var", _G, "reactive power, total"),
    _q("power_apparent", "VA", _G, "apparent power, total"),
    _q("power_factor", "", _G, "power factor, total (-1..1)"),
    _q("frequency", "Hz", _G, "grid frequency"),
    _q("voltage_l1_l2", "V", _G, "line-to-line voltage L1-L2"),
    _q("voltage_l2_l3", "V", _G, "line-to-line voltage L2-L3"),
    _q("voltage_l3_l1", "V", _G, "line-to-line voltage L3-L1"),
    _q("current_n", "A", _G, "neutral current"),
    # water
    _q("water_volume", "m³", _C, "water volume, forward totaliser"),
    _q("water_volume_reverse", "m³", _C, "water volume, reverse-flow totaliser"),
    _q("water_volume_net", "m³", _G, "water volume, net totaliser (forward minus reverse; may fall)"),
    _q("water_flow", "m³/h", _G, "water volume flow rate"),
    _q("flow_velocity", "m/s", _G, "fluid velocity in the pipe"),
    # heat (heat meters and heat pumps)
    _q("heat_energy", "kWh", _C, "thermal energy delivered, total"),
    _q("cooling_energy", "kWh", _C, "cooling energy delivered, total"),
    _q("heat_volume", "m³", _C, "volume through the heat meter, total"),
    _q("heat_power", "W", _G, "thermal power"),
    _q("heat_flow", "m³/h", _G, "volume flow in the heating circuit"),
    _q("temp_supply", "°C", _G, "supply (flow-line) temperature"),
    _q("temp_return", "°C", _G, "return temperature"),
    _q("temp_outdoor", "°C", _G, "outdoor temperature"),
    _q("temp_t3", "°C", _G, "third temperature sensor (heat meter t3)"),
    _q("temp_t4", "°C", _G, "fourth temperature sensor (heat meter t4)"),
    _q("temp_hot_water_top", "°C", _G, "domestic hot-water tank, top"),
    _q("temp_hot_water_bottom", "°C", _G, "domestic hot-water tank, bottom"),
    _q("temp_buffer_top", "°C", _G, "buffer tank, top"),
    _q("temp_buffer_bottom", "°C", _G, "buffer tank, bottom"),
    _q("cop", "", _G, "coefficient of performance reported by the device"),
    # natural gas (flow computers and volume correctors): volumes at base conditions (标况) unless named
    _q("gas_volume", "m³", _C, "natural gas volume at base (standard) conditions, total (标况累积量)"),
    _q("gas_volume_actual", "m³", _C, "natural gas volume at line (working) conditions, total (工况累积量)"),
    _q("gas_flow", "m³/h", _G, "natural gas flow rate at base (standard) conditions"),
    _q("gas_pressure", "kPa", _G, "gas pressure in the line, as the meter reports it"),
    _q("temp_gas", "°C", _G, "gas temperature in the line"),
    # device state and configuration
    _q("error_code", "", _S, "device error or alarm bit field"),
    _q("valve_state", "", _S, "valve of a water/heat/gas meter: 0 open, 1 closed, 3 abnormal (CJ/T 188 ST)"),
    _q("battery_low", "", _S, "meter battery: 0 normal, 1 low (CJ/T 188 ST)"),
    _q("operating_state", "", _S, "device operating state code"),
    _q("signal_quality", "%", _S, "measurement signal quality"),
    _q("ct_ratio", "", _S, "current-transformer ratio configured in the meter"),
    _q("pt_ratio", "", _S, "voltage-transformer ratio configured in the meter"),
    _q("wiring_mode", "", _S, "wiring mode code (e.g. 3P4W / 3P3W)"),
]

_PER_PHASE: list[Quantity] = []
for _p in _PHASES:
    _n = _p.upper()
    _PER_PHASE += [
        _q(f"energy_active_import_{_p}", "kWh", _C, f"active energy imported, phase {_n}"),
        _q(f"energy_active_export_{_p}", "kWh", _C, f"active energy exported, phase {_n}"),
        _q(f"power_active_{_p}", "W", _G, f"active power, phase {_n}"),
        _q(f"power_reactive_{_p}", "var", _G, f"reactive power, phase {_n}"),
        _q(f"power_apparent_{_p}", "VA", _G, f"apparent power, phase {_n}"),
        _q(f"power_factor_{_p}", "", _G, f"power factor, phase {_n}"),
        _q(f"voltage_{_p}", "V", _G, f"phase-to-neutral voltage {_n}"),
        _q(f"current_{_p}", "A", _G, f"current, phase {_n}"),
    ]

QUANTITIES: dict[str, Quantity] = {q.name: q for q in _BASE + _PER_PHASE}


# Units a profile may declare for a point, as factors to the canonical unit. Keyed by canonical unit.
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "kWh": {"kWh": 1.0, "Wh": 1e-3, "MWh": 1e3, "GJ": 1e9 / 3.6e6, "MJ": 1e6 / 3.6e6},
    "kvarh": {"kvarh": 1.0, "varh": 1e-3, "Mvarh": 1e3},
    "W": {"W": 1.0, "kW": 1e3, "MW": 1e6},
    "var": {"var": 1.0, "kvar": 1e3},
    "VA": {"VA": 1.0, "kVA": 1e3},
    "V": {"V": 1.0, "kV": 1e3, "mV": 1e-3},
    "A": {"A": 1.0, "mA": 1e-3, "kA": 1e3},
    "Hz": {"Hz": 1.0},
    "m³": {"m³": 1.0, "m3": 1.0, "L": 1e-3, "l": 1e-3},
    "m³/h": {"m³/h": 1.0, "m3/h": 1.0, "L/h": 1e-3, "l/h": 1e-3, "L/s": 3.6, "L/min": 0.06,
             "m³/s": 3600.0, "m3/s": 3600.0},
    "kPa": {"kPa": 1.0, "Pa": 1e-3, "MPa": 1e3, "bar": 100.0, "mbar": 0.1},
    "m/s": {"m/s": 1.0},
    "°C": {"°C": 1.0, "degC": 1.0, "C": 1.0},
    "%": {"%": 1.0},
    "": {"": 1.0},
}


def unit_factor(quantity: Quantity, unit: str) -> float | None:
    """Factor that converts `unit` into the quantity's canonical unit, or None if not convertible."""
    return UNIT_FACTORS.get(quantity.unit, {}).get(unit)


def accepted_units(quantity: Quantity) -> list[str]:
    return list(UNIT_FACTORS.get(quantity.unit, {quantity.unit: 1.0}))


def vocabulary_markdown() -> str:
    """docs/quantities.md, generated from the table above (python -m core.quantities > ...)."""
    lines = [
        "# Quantities",
        "",
        "The one vocabulary of quantities a reading carries. Every profile point names one of these;",
        "values are converted to the canonical unit when decoded, so everything downstream sees one",
        "unit per quantity. Counters are published as read: never zeroed, clamped or smoothed.",
        "",
        "Generated from `core/quantities.py` (`python -m core.quantities > docs/quantities.md`);",
        "a test checks the two agree.",
        "",
        "| quantity | unit | kind | description | units a profile may declare |",
        "|---|---|---|---|---|",
    ]
    for q in QUANTITIES.values():
        units = ", ".join(u or "(none)" for u in accepted_units(q))
        lines.append(f"| `{q.name}` | {q.unit or '–'} | {q.kind.value} | {q.description} | {units} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(vocabulary_markdown(), end="")
