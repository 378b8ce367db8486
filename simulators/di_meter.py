"""A simulated DL/T 645 or CJ/T 188 meter: its address, its line settings, its values (from the
building physics, or set by a test) and how it answers one data identifier.

    meter = DiMeter(resolve_di_variant("dlt645-2007", "dlt645"), "000012345678")
    meter.set("voltage_l1", 231.4)          # pin a value (a test's known state)
    meter.answer(0x02010100)                # -> b"\\x14\\x23" (231.4 as XXX.X, low byte first)

Values are encoded with the profile's own formats (drivers.di_formats): the simulator checks the
line behaviour, not the codec; the codec is checked against published frames (tests/drivers).
A value the format cannot hold (negative in an unsigned format, too many digits), or None (a "nan"
fault), is sent as FF bytes: not BCD, as a meter without the value sends. The same faults as the
Modbus simulators apply (simulators.faults): request faults decide whether and how it answers,
value faults change the values.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from drivers.di_profiles import DiPoint, DiVariant
from drivers.profiles import SerialSettings
from simulators.clock import Clock
from simulators.faults import Decision, Fault
from simulators.meter_body import MeterBody, PhysicsLike

# the unit code a simulated CJ/T 188 meter names for each canonical unit, and the factor into it
CODE_FOR = {"kWh": ("kWh", 1.0), "W": ("kW", 1e-3), "m³": ("m³", 1.0), "m³/h": ("m³/h", 1.0)}
UNIT_SCALE = {"kWh": 1.0, "MWh": 1e-3, "GJ": 3.6e-3, "MJ": 3.6, "Wh": 1e3, "kW": 1e-3, "W": 1.0,
              "MW": 1e-6, "m³": 1.0, "L": 1e3, "m³/h": 1.0, "L/h": 1e3}


@dataclass(slots=True)
class DiMeterOptions:
    line: SerialSettings | None = None  # default: the profile's device.serial, else 2400 8E1
    turnaround_ms: float | None = None  # default: the profile's
    preamble: int | None = None  # FE bytes before each answer; default: the profile's
    preamble_varies: bool = False  # 0..4 FE, different for each answer
    stray: bytes = b""  # bytes sent before the preamble (noise on the line)
    trailing: bytes = b""  # bytes sent after the 16 (garbage)
    units: dict[str, str] = field(default_factory=dict)  # CJ/T 188: quantity -> unit name to report
    meter_type: int | None = None  # CJ/T 188: the T byte it answers as (default: the profile's)
    load_scale: float | None = None


class DiMeter(MeterBody):
    """Thread-safe: servers read it from their loop, tests from theirs."""

    DEFAULT_LINE = SerialSettings(2400, "E", 1, 8)

    def __init__(self, variant: DiVariant, address: str, physics: PhysicsLike | None = None, *,
                 seed: int = 0, clock: Clock | None = None, options: DiMeterOptions | None = None,
                 monotonic: Callable[[], float] | None = None) -> None:
        self.variant: DiVariant = variant
        self.address = address
        self.options: DiMeterOptions = options or DiMeterOptions()
        unit = zlib.crc32(address.encode()) % 247 + 1  # the physics' per-meter seed
        super().__init__(variant, unit, physics, seed=seed, clock=clock, options=self.options,
                         load_scale=self.options.load_scale, monotonic=monotonic)
        self._pinned: dict[str, float | None] = {}
        self._by_di: dict[int, list[DiPoint]] = {}
        for p in variant.points:
            self._by_di.setdefault(p.di, []).append(p)
        self._answers = 0

    @property
    def meter_type(self) -> int | None:
        return self.options.meter_type if self.options.meter_type is not None \
            else self.variant.meter_type

    def preamble(self) -> int:
        if self.options.preamble_varies:
            with self._lock:
                self._answers += 1
                return self._answers % 5
        return self.variant.preamble if self.options.preamble is None else self.options.preamble

    def __repr__(self) -> str:
        return f"DiMeter({self.variant.key!r}, address={self.address})"

    # -- values -----------------------------------------------------------------------------------

    def set(self, quantity: str, value: float | None) -> None:
        """Pin a quantity to `value` (None: the meter has no value) until unset()."""
        self.variant.point(quantity)  # KeyError naming the variant if it has no such point
        with self._lock:
            self._pinned[quantity] = value

    def unset(self, quantity: str | None = None) -> None:
        with self._lock:
            if quantity is None:
                self._pinned.clear()
            else:
                self._pinned.pop(quantity, None)

    def values(self, touched: frozenset[str] | None = None) -> dict[str, float | None]:
        """Every quantity's canonical value now, faults applied."""
        with self._lock:
            values: dict[str, float | None] = dict(
                self._physical((p.quantity for p in self.variant.points), {}))
            values.update(self._pinned)
            return self.faults.apply(values, self._counters, touched)

    def true_values(self) -> dict[str, float | None]:
        """What a reader should decode now (the values as the formats round them)."""
        out: dict[str, float | None] = {}
        for di in self._by_di:
            answer = self.answer(di)
            for p in self._by_di[di]:
                out[p.quantity] = None if answer is None else p.decode(answer)[0]
        return out

    # -- answers ----------------------------------------------------------------------------------

    def decide(self, function: int, di: int) -> Decision:
        return self.faults.decide(function, di & 0xFFFF, 1)

    def knows(self, di: int) -> bool:
        return di in self._by_di

    def answer(self, di: int) -> bytes | None:
        """The data bytes after the DI echo for `di`; None if the meter has no such identifier."""
        points = self._by_di.get(di)
        if points is None:
            return None
        values = self.values(frozenset(p.quantity for p in points))
        width = max(p.offset + p.fmt.width for p in points)
        data = bytearray(width)
        for p in points:
            chunk = self._encode(p, values.get(p.quantity))
            if p.fmt.bits is not None:  # bit fields of one status word share bytes
                for i, b in enumerate(chunk):
                    data[p.offset + i] |= b
            else:
                data[p.offset : p.offset + len(chunk)] = chunk
        return bytes(data)

    def _encode(self, p: DiPoint, value: float | None) -> bytes:
        if value is None:
            return b"\xff" * p.fmt.width
        if p.fmt.bits is not None:
            return p.fmt.encode(value)
        unit_name: str | None = None
        read = value / p.factor
        if p.fmt.unit_code:
            name = self.options.units.get(p.quantity) or CODE_FOR[p.unit][0]
            unit_name = name
            read = value * UNIT_SCALE[name] / p.factor
        try:
            return p.fmt.encode(read, unit_name)
        except (ValueError, KeyError):
            return b"\xff" * p.fmt.width

    def inject(self, fault: Fault | str) -> Fault:
        return self._add_fault(fault, self.address)


def meters_by_address(meters: Mapping[str, DiMeter] | list[DiMeter]) -> dict[str, DiMeter]:
    items = meters.values() if isinstance(meters, Mapping) else meters
    out: dict[str, DiMeter] = {}
    for m in items:
        if m.address in out:
            raise ValueError(f"address {m.address} is taken by {out[m.address]!r}")
        out[m.address] = m
    return out
