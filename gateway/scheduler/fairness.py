"""The airtime budget of each bus at start, and fair degradation when a line is over-subscribed.

site_config.airtime computes the share of an RS-485 line the configured polling needs. Above
100 % the polls cannot all happen on time; rather than let some meters starve (or all of them drift
at random), every poll group on the bus gets its interval stretched by the same factor

    k = utilisation / 0.9, rounded up to the next step of 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (× 10^n)

so the stretched polling needs at most 90 % of the line (room for retries and late answers) and
every meter keeps the share of the line the configuration gave it. A 1 s group on a bus stretched
× 1.5 is polled every 1.5 s (at boundaries that are multiples of 1.5 s), its 60 s group every 90 s.
Modbus TCP buses have no line time: no utilisation, no stretching.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

from site_config.airtime import HIGH_UTILISATION, GroupLoad, Verdict, bus_utilisation, verdict
from site_config.model import Bus, Meter

TARGET_UTILISATION = 0.9
STEPS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


def ceil_to_step(x: float) -> float:
    """The smallest step value (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^n) ≥ x (x ≥ 1)."""
    if x <= 1.0:
        return 1.0
    decade = 10.0 ** math.floor(math.log10(x))
    for step in (*STEPS, 10.0):
        if step * decade >= x - 1e-9:
            return step * decade
    return 10.0 * decade  # pragma: no cover - the loop always returns


def stretch_factor(utilisation: float | None) -> float:
    """1 when the bus can carry its polling (or has no line time), else the fair stretch."""
    if utilisation is None or utilisation <= 1.0:
        return 1.0
    return ceil_to_step(utilisation / TARGET_UTILISATION)


@dataclass(frozen=True, slots=True)
class BusLoad:
    """What a bus was asked to carry and what the scheduler does about it."""

    bus: str
    type: str
    utilisation: float | None  # planned share of the line (airtime); None: no wire timing
    verdict: Verdict  # ok (≤ 70 %), high (≤ 100 %), over, unknown (no wire timing)
    requests_per_cycle: int  # one poll of every group of every meter on the bus
    requests_per_s: float
    stretch: float  # every group's effective interval = configured × stretch
    groups: tuple[GroupLoad, ...]

    @property
    def effective_utilisation(self) -> float | None:
        return None if self.utilisation is None else self.utilisation / self.stretch

    @property
    def degradation(self) -> str:
        if self.stretch == 1.0:
            return "none"
        return f"every group's interval × {self.stretch:g}"

    def as_dict(self) -> dict[str, object]:
        return {"bus": self.bus, "type": self.type,
                "utilisation": _round(self.utilisation), "verdict": self.verdict,
                "requests_per_cycle": self.requests_per_cycle,
                "requests_per_s": round(self.requests_per_s, 3), "stretch": self.stretch,
                "effective_utilisation": _round(self.effective_utilisation),
                "degradation": self.degradation}


def plan_load(bus: Bus, meters: Iterable[Meter]) -> BusLoad:
    utilisation, groups = bus_utilisation(bus, meters)
    return BusLoad(bus=bus.id, type=bus.type, utilisation=utilisation, verdict=verdict(utilisation),
                   requests_per_cycle=sum(g.requests for g in groups),
                   requests_per_s=sum(g.requests_per_s for g in groups),
                   stretch=stretch_factor(utilisation), groups=groups)


def describe(load: BusLoad) -> tuple[int, str]:
    """(logging level, the line to log at start) for one bus."""
    head = f"bus {load.bus}: "
    counts = f"{load.requests_per_cycle} requests per cycle, {load.requests_per_s:.3g} requests/s"
    if load.utilisation is None:
        return logging.INFO, head + f"{counts}; no line time known ({load.type}, no airtime budget)"
    share = f"{load.utilisation * 100:.1f} % airtime planned ({counts})"
    if load.verdict == "over":
        assert load.effective_utilisation is not None
        return logging.ERROR, (
            head + share + f": over-subscribed: polling will be stretched fairly: every group's "
            f"effective interval × {load.stretch:g} ({load.effective_utilisation * 100:.1f} % "
            "planned after stretching). To poll at the configured rates: lengthen intervals, poll "
            "fewer quantities often, move meters to another bus or raise the baud rate")
    if load.verdict == "high":
        return logging.WARNING, (
            head + share + f": above {HIGH_UTILISATION * 100:.0f} %, little room is left for "
            "retries and late answers; lengthen intervals or move meters to another bus")
    return logging.INFO, head + share


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
