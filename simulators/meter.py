"""A simulated meter: a profile variant, a unit id and the physics behind it, as registers.

The register image is built from the physics' true values through each point's codec, quantized to
what the registers can show, so a master decoding the registers with the profile gets exactly
`true_values()`. Faults (simulators.faults) change the values or the answers.

Device behaviour (see docs/simulator.md):
- registers no point maps read as 0; a read touching a `device.unreadable` range answers exception 2,
  a read of 0 or more than 125 registers exception 3;
- FC3 and FC4 are separate tables (as the profile says), unless `both_functions` (the DTSU666 answers
  the same registers to both);
- writes (FC6/FC16) are refused with exception 1 unless `writable`: then writes to state points
  (ct_ratio, pt_ratio, wiring_mode...) and to unmapped registers are kept, and writes touching a
  measured value answer exception 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.quantities import Kind
from drivers.codec import Order
from drivers.errors import ModbusExceptionResponse
from drivers.profiles import MeterVariant, Point, SerialSettings, Unreadable
from simulators.clock import Clock
from simulators.faults import Fault
from simulators.image import encode_point, merge, served_points
from simulators.meter_body import MeterBody, PhysicsLike

MAX_READ = 125  # registers per FC3/FC4 request (a 253-byte PDU)
MAX_WRITE = 123  # registers per FC16 request


@dataclass(frozen=True, slots=True)
class MeterOptions:
    """How this device differs from its profile or from a fresh default one."""

    order: Order | None = None  # serve every value in this byte/word order instead of the profile's
    address_shift: int = 0  # the device's registers sit this many addresses after the profile's
    ct_ratio: float = 1.0
    pt_ratio: float = 1.0
    line: SerialSettings | None = None  # serial settings; default: the profile's device.serial
    turnaround_ms: float | None = None  # default: the profile's device.turnaround_ms
    both_functions: bool = False  # answer FC3 and FC4 from one table
    writable: bool = False
    load_scale: float | None = None  # power, current, energy × this; default: fit the rating


class SimulatedMeter(MeterBody):
    """One device on a bus. Thread-safe: servers read it from their thread, tests from theirs."""

    def __init__(
        self,
        variant: MeterVariant,
        unit: int,
        physics: PhysicsLike | None = None,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        options: MeterOptions | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        if not 1 <= unit <= 247:
            raise ValueError(f"unit id {unit}: a device on a bus has 1..247")
        self.variant: MeterVariant = variant
        self.unit = unit
        self.options: MeterOptions = options or MeterOptions()
        self.seed = seed
        super().__init__(variant, unit, physics, seed=seed, clock=clock, options=self.options,
                         load_scale=self.options.load_scale, monotonic=monotonic)
        shift = self.options.address_shift
        self.points = served_points(variant.points, self.options.order, shift)
        self.unreadable = tuple(Unreadable(u.start + shift, u.end + shift, u.function)
                                for u in variant.device.unreadable)
        self._state = {"ct_ratio": self.options.ct_ratio, "pt_ratio": self.options.pt_ratio}
        self._written: dict[tuple[int, int], int] = {}  # (table, address) -> register written
        self._spans = [(p, _owned(p)) for p in self.points]

    def __repr__(self) -> str:
        return f"SimulatedMeter({self.variant.key!r}, unit={self.unit})"

    # -- values -----------------------------------------------------------------------------------

    def physical_values(self) -> dict[str, float]:
        """The physics' values now, completed for every mapped quantity (no faults, no quantizing)."""
        return self._physical((p.quantity for p in self.points), self._state)

    def _served(self, touched: frozenset[str] | None) -> tuple[dict[int, dict[int, int]],
                                                               dict[str, float | None]]:
        """(table -> address -> register, quantity -> decoded value) right now."""
        values: dict[str, float | None] = dict(self.physical_values())
        values = self.faults.apply(values, self._counters, touched)
        ratios = self._ratios(values)
        tables: dict[int, dict[int, int]] = {3: {}, 4: {}}
        true: dict[str, float | None] = {}
        for p in self.points:
            enc = encode_point(p, values.get(p.quantity), ratios)
            merge(tables[self._table(p.function)], enc.words)
            true[p.quantity] = enc.value
        for (table, addr), reg in self._written.items():
            tables[table][addr] = reg
        return tables, true

    def _ratios(self, values: Mapping[str, float | None]) -> dict[str, float]:
        """CT/PT ratios as a reader sees them: the ratio points' quantized values when mapped."""
        ratios = dict(ct=self._state["ct_ratio"], pt=self._state["pt_ratio"])
        for p in self.points:
            if p.quantity in ("ct_ratio", "pt_ratio"):
                value = encode_point(p, values.get(p.quantity), {}).value
                if value:  # drivers.reader ignores a ratio register reading 0 or invalid
                    ratios[p.quantity[:2]] = value
        return ratios

    def true_values(self) -> dict[str, float | None]:
        """The engineering value each mapped quantity's registers decode to now (with the profile's
        codecs and ratios, as drivers.reader computes it); None where they hold NaN or a sentinel."""
        with self._lock:
            return self._served(None)[1]

    def inject(self, fault: Fault | str) -> Fault:
        """Add a fault (a Fault or its spec 'KIND[:KEY=VALUE,...]')."""
        fault = Fault.parse(fault) if isinstance(fault, str) else fault
        if fault.kind == "leak" and self.kind != "water":
            raise ValueError(f"unit {self.unit} is a {self.kind} meter; a leak needs a water meter")
        return self._add_fault(fault, f"unit {self.unit}")

    # -- registers --------------------------------------------------------------------------------

    def _table(self, function: int) -> int:
        return 3 if self.options.both_functions else function

    def _check(self, function: int, address: int, count: int, limit: int) -> None:
        if not 1 <= count <= limit:
            raise ModbusExceptionResponse(3, f"count {count}: 1..{limit} registers per request")
        if address + count > 65536:
            raise ModbusExceptionResponse(2, "read runs past register 65535")
        end = address + count - 1
        if any(u.blocks(function, address, end) for u in self.unreadable):
            raise ModbusExceptionResponse(2)

    def read(self, function: int, address: int, count: int) -> list[int]:
        """Registers as the device answers FC3/FC4; raises ModbusExceptionResponse(2 or 3)."""
        self._check(function, address, count, MAX_READ)
        end = address + count
        touched = frozenset(p.quantity for p, (lo, hi) in self._spans
                            if self._table(p.function) == self._table(function)
                            and lo < end and hi > address)
        with self._lock:
            tables, _ = self._served(touched)
        table = tables[self._table(function)]
        return [table.get(a, 0) for a in range(address, end)]

    def write(self, address: int, values: list[int]) -> None:
        """FC6/FC16 into the holding registers; raises ModbusExceptionResponse (1, 2 or 3)."""
        if not self.options.writable:
            raise ModbusExceptionResponse(1, "this meter is read-only")
        self._check(3, address, len(values), MAX_WRITE)
        end = address + len(values)
        hit = [p for p, (lo, hi) in self._spans
               if self._table(p.function) == 3 and lo < end and hi > address]
        if any(p.kind is not Kind.STATE for p in hit):
            raise ModbusExceptionResponse(2, "measured values cannot be written")
        with self._lock:
            for i, v in enumerate(values):
                self._written[(3, address + i)] = v & 0xFFFF
            for p in hit:
                self._adopt_state(p)

    def _adopt_state(self, p: Point) -> None:
        """A written state point becomes the device's setting (a new CT ratio rescales readings)."""
        regs = [self._written.get((3, p.address + i)) for i in range(p.codec.count)]
        if None in regs or p.codec.bits is not None:
            return
        value = p.codec.decode(regs)  # type: ignore[arg-type]
        if value is not None and math.isfinite(value):
            self._state[p.quantity] = value
            for i in range(p.codec.count):  # the image encodes it from now on
                self._written.pop((3, p.address + i), None)


def _owned(p: Point) -> tuple[int, int]:
    """[lo, hi) of the registers a point occupies (integer and fraction parts)."""
    lo, hi = p.address, p.address + p.codec.count
    if p.fraction_address is not None and p.fraction_codec is not None:
        lo = min(lo, p.fraction_address)
        hi = max(hi, p.fraction_address + p.fraction_codec.count)
    return lo, hi
