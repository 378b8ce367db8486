"""What every simulated meter has, whatever protocol it speaks: a profile variant, the building
physics behind it on a clock, its faults, and the values the physics gives each mapped quantity now
(single-phase where the meter is, scaled to the meter's rating). The Modbus meter (simulators.meter)
turns them into registers, the DL/T 645 / CJ/T 188 one (simulators.di_meter) into answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Protocol

from core.quantities import Kind
from drivers.di_profiles import DiVariant
from drivers.profiles import MeterVariant, SerialSettings
from simulators.clock import Clock, SimClock
from simulators.derived import complete, fitting_scale, is_single_phase, scaled, single_phase
from simulators.faults import Fault, FaultSet


class PhysicsLike(Protocol):
    """What a meter needs from simulators.physics.MeterPhysics."""

    kind: str

    def advance(self, t: float) -> None: ...
    def values(self) -> dict[str, float]: ...
    def add_leak(self, flow_m3h: float) -> None: ...


class _Options(Protocol):
    @property
    def line(self) -> SerialSettings | None: ...
    @property
    def turnaround_ms(self) -> float | None: ...


def physics_anchor(t: float, tz_offset_h: float = 8.0) -> float:
    """Local midnight before `t`: the physics starts there, so two runs with one seed agree on the
    values at the same times wherever in the day they were started (and start up fast)."""
    tz = timezone(timedelta(hours=tz_offset_h))
    day = datetime.fromtimestamp(t, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def make_meter_physics(kind: str, *, seed: int, unit: int, start: float,
                       tz_offset_h: float = 8.0) -> PhysicsLike:
    from simulators.physics import make_physics  # imported late: the package stays import-free

    return make_physics(kind, seed=seed, unit=unit, start=physics_anchor(start, tz_offset_h),
                        tz_offset_h=tz_offset_h)


class MeterBody:
    """The physics, faults and line of one simulated meter. Thread-safe: servers read it from their
    loop, tests from theirs. `seed_unit` seeds the physics and the faults per meter."""

    DEFAULT_LINE = SerialSettings(9600, "N", 1, 8)

    def __init__(self, variant: MeterVariant | DiVariant, seed_unit: int, physics: PhysicsLike | None, *,
                 seed: int, clock: Clock | None, options: _Options, load_scale: float | None,
                 monotonic: Callable[[], float] | None) -> None:
        self.variant = variant
        self.options = options
        self.clock: Clock = clock or SimClock()
        self.physics = physics or make_meter_physics(variant.kind, seed=seed, unit=seed_unit,
                                                     start=self.clock())
        fault_kwargs = {"monotonic": monotonic} if monotonic is not None else {}
        self.faults = FaultSet(seed=seed * 1000 + seed_unit, **fault_kwargs)
        self._lock = threading.RLock()
        self._counters = frozenset(p.quantity for p in variant.points if p.kind is Kind.COUNTER)
        self._single_phase = is_single_phase(variant.kind, (p.quantity for p in variant.points))
        if load_scale is None:  # the physics' building peak (electricity) against the meter's rating
            ranges = {p.quantity: p.range for p in variant.points if p.range is not None}
            load_scale = fitting_scale(getattr(self.physics, "peak_w", None), ranges,
                                       self._single_phase)
        self._load_scale = load_scale

    @property
    def kind(self) -> str:
        return self.variant.kind

    @property
    def line(self) -> SerialSettings:
        """The serial settings the device answers at."""
        return self.options.line or self.variant.device.serial or self.DEFAULT_LINE

    @property
    def turnaround_s(self) -> float:
        ms = self.options.turnaround_ms
        return (self.variant.device.turnaround_ms if ms is None else ms) / 1000.0

    def _physical(self, quantities: Iterable[str], state: Mapping[str, float]) -> dict[str, float]:
        """The physics' values now, completed for `quantities` (no faults, no quantizing)."""
        with self._lock:
            self.physics.advance(self.clock())
            for leak in self.faults.start_leaks():
                self.physics.add_leak(leak.flow)
            values = self.physics.values()
        if self._single_phase:
            values = single_phase(values)
        return complete(scaled(values, self._load_scale), quantities, state)

    def _add_fault(self, fault: Fault | str, who: str) -> Fault:
        """Add a fault (a Fault or its spec 'KIND[:KEY=VALUE,...]') naming a mapped quantity."""
        fault = Fault.parse(fault) if isinstance(fault, str) else fault
        names = {p.quantity for p in self.variant.points}
        if fault.quantity is not None and fault.quantity not in names:
            raise ValueError(f"{who} ({self.variant.key}) has no quantity "
                             f"{fault.quantity!r}; it maps {', '.join(sorted(names))}")
        self.faults.add(fault)
        return fault

    def clear(self, kind: str | None = None) -> None:
        """Remove faults (of one kind, or all). A leak already flowing stays in the physics."""
        self.faults.clear(kind)


__all__ = ["MeterBody", "PhysicsLike", "make_meter_physics", "physics_anchor"]
