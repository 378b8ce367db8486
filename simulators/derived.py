"""Values for quantities a profile maps but the physics does not model.

The physics gives the quantities that matter for energy accounting; a real register map also holds
configuration and status registers and a few values computed from others. Those are filled here, so
every mapped register holds something a real device would plausibly show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

# Constant state registers of a healthy, freshly commissioned device.
STATE_DEFAULTS: dict[str, float] = {
    "ct_ratio": 1.0,
    "pt_ratio": 1.0,
    "wiring_mode": 0.0,  # 3P4W on the DTSU666
    "error_code": 0.0,
    "operating_state": 1.0,
    "signal_quality": 85.0,  # TUF-2000M shows 0..99; above 60 is a good transducer coupling
}

PIPE_AREA_M2 = math.pi * 0.025**2  # DN50, for a flow velocity from a volume flow


def complete(values: Mapping[str, float], wanted: Iterable[str],
             state: Mapping[str, float]) -> dict[str, float]:
    """`values` plus every quantity in `wanted` it lacks: state registers from `state` or
    STATE_DEFAULTS, simple derivations where the parts exist, else 0."""
    out = dict(values)
    for q in wanted:
        if q in out:
            continue
        if q in state:
            out[q] = state[q]
        elif q in STATE_DEFAULTS:
            out[q] = STATE_DEFAULTS[q]
        else:
            derived = _derive(q, out)
            out[q] = 0.0 if derived is None else derived
    return out


_EXTENSIVE = ("power_active", "power_reactive", "power_apparent", "current_", "energy_")
NOMINAL_V = 230.0
HEADROOM = 0.6  # peak load at 60 % of the meter's rating: noise, power factor and HVAC fit under it


def fitting_scale(peak_w: float | None, ranges: Mapping[str, tuple[float, float]],
                  single_phase: bool) -> float:
    """Load scale that puts a building of `peak_w` behind a meter of the given ranges: a direct
    SDM630 (120 A) sits on a sub-distribution, not on a whole building's feeder. 1 if it fits."""
    if not peak_w:
        return 1.0
    phases = 1 if single_phase else 3
    peak = peak_w / 3 if single_phase else peak_w  # single-phase: phase L1 of the building
    caps = []
    if "power_active" in ranges:
        caps.append(max(abs(v) for v in ranges["power_active"]))
    currents = [max(abs(v) for v in r) for q, r in ranges.items() if q.startswith("current_l")]
    if currents:
        caps.append(min(currents) * NOMINAL_V * phases)
    if not caps:
        return 1.0
    return min(1.0, HEADROOM * min(caps) / peak)


def is_single_phase(kind: str, quantities: Iterable[str]) -> bool:
    """An electricity map with no L2/L3 quantity (SDM120 and the like)."""
    names = set(quantities)
    return kind == "electricity" and "power_active" in names and not any(
        q.endswith(("_l2", "_l3")) for q in names)


def single_phase(values: Mapping[str, float]) -> dict[str, float]:
    """A single-phase meter's view of a three-phase building: phase L1's values as the totals."""
    out = dict(values)
    for q in ("power_active", "power_reactive", "power_apparent", "power_factor",
              "energy_active_import", "energy_active_export"):
        if f"{q}_l1" in values:
            out[q] = values[f"{q}_l1"]
    out.pop("energy_active_total", None)  # derived again from the new parts
    for q in ("energy_reactive_import", "energy_reactive_export"):
        if q in values:
            out[q] = values[q] / 3.0
    return out


def scaled(values: Mapping[str, float], factor: float) -> dict[str, float]:
    """Extensive quantities (power, current, energy) times `factor`; intensive ones unchanged."""
    if factor == 1.0:
        return dict(values)
    return {q: v * factor if q.startswith(_EXTENSIVE) else v for q, v in values.items()}


def _derive(q: str, v: Mapping[str, float]) -> float | None:
    suffix = q[-3:] if q[-3:] in ("_l1", "_l2", "_l3") else ""
    if q.startswith("power_apparent"):
        p, r = v.get(f"power_active{suffix}"), v.get(f"power_reactive{suffix}")
        return None if p is None else math.hypot(p, r or 0.0)
    if q.startswith("power_factor"):
        p, r = v.get(f"power_active{suffix}"), v.get(f"power_reactive{suffix}")
        if p is None:
            return None
        s = math.hypot(p, r or 0.0)
        return 1.0 if s == 0 else p / s
    if q == "energy_active_total":
        return v.get("energy_active_import", 0.0) + v.get("energy_active_export", 0.0)
    if q == "water_volume_net":
        fwd = v.get("water_volume")
        return None if fwd is None else fwd - v.get("water_volume_reverse", 0.0)
    if q == "flow_velocity":
        flow = v.get("water_flow", v.get("heat_flow"))
        return None if flow is None else flow / 3600.0 / PIPE_AREA_M2
    if q.startswith("voltage_l") and "_l" in q[9:]:  # line-to-line from phase voltages
        a, b = v.get(f"voltage_{q[8:10]}"), v.get(f"voltage_{q[11:13]}")
        return None if a is None or b is None else math.sqrt(a * a + b * b + a * b)
    return None
