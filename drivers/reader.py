"""Read a meter through its profile: execute the read plan, decode, judge each value.

A reading is (quantity, value, unit, ts, quality). Quality is explicit and a value is never invented:
- ok: decoded and plausible
- invalid: NaN, infinity, a declared sentinel, or a register the device refuses (value None)
- out_of_range: decoded but outside the plausible range, or a counter rising faster than physics
  allows (the value is kept so a person can see it; it is not clamped)
- comm_error: the request failed (timeout, CRC, exception); value None
The timestamp is the time the request that carried the value went out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from core.quantities import Kind
from core.reading import Quality
from drivers.errors import ConnectError, ModbusError, ModbusExceptionResponse, ModbusTimeout
from drivers.planner import Block, ReadPlan, Span
from drivers.profiles import MeterVariant, Point


@dataclass(frozen=True, slots=True)
class Reading:
    quantity: str
    value: float | None
    unit: str
    quality: Quality
    ts: float  # epoch seconds when the request went out
    error: str = ""  # why the quality is not ok, in words
    raw: tuple[int, ...] = ()  # the registers behind the value, for commissioning views

    def as_dict(self) -> dict[str, object]:
        return {"quantity": self.quantity, "value": self.value, "unit": self.unit,
                "quality": self.quality.value, "ts": self.ts, "error": self.error or None,
                "raw": [f"0x{r:04X}" for r in self.raw]}


class RegisterSource(Protocol):
    """Anything that reads registers: ModbusConnection, or a simulator in-process."""

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]: ...


@dataclass(slots=True)
class ReadStats:
    requests: int = 0
    registers: int = 0
    failures: dict[str, int] = field(default_factory=dict)


# per point: its spans and the (function, address) keys of its registers and of its fraction's
_PointLayout = tuple[list[Span], list[tuple[int, int]], list[tuple[int, int]]]
_POINT_LAYOUTS: dict[Point, _PointLayout] = {}


def _point_layout(p: Point) -> _PointLayout:
    """Computed once per distinct point and shared: a thousand meters of one model hold one copy
    (per reader it was about 8 KB for 20 points)."""
    found = _POINT_LAYOUTS.get(p)
    if found is None:
        fraction = ([(p.function, p.fraction_address + i) for i in range(p.fraction_codec.count)]
                    if p.fraction_codec is not None and p.fraction_address is not None else [])
        found = _POINT_LAYOUTS.setdefault(
            p, (p.spans(), [(p.function, p.address + i) for i in range(p.codec.count)], fraction))
    return found


class MeterReader:
    """Reads one meter (a unit id on a bus) through a compiled profile variant.

    `keep_raw=False` leaves `Reading.raw` empty: the gateway's poll loop publishes values, not
    registers, and so saves a tuple per reading; commissioning tools keep them."""

    # one reader per meter and poll group: slots instead of a __dict__ each
    __slots__ = ("_judged", "_last_counter", "_layouts", "_scaled", "clock", "keep_raw", "plan",
                 "points", "ratios", "source", "stats", "unit", "variant")

    def __init__(
        self,
        source: RegisterSource,
        variant: MeterVariant,
        unit: int,
        *,
        ratios: Mapping[str, float] | None = None,
        quantities: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        keep_raw: bool = True,
    ) -> None:
        self.source = source
        self.variant = variant
        self.unit = unit
        self.ratios = dict(ratios or {})
        wanted = set(quantities) if quantities is not None else None
        self.points = [p for p in variant.points if wanted is None or p.quantity in wanted]
        self._layouts = [_point_layout(p) for p in self.points]
        self.plan = ReadPlan((s for layout in self._layouts for s in layout[0]), variant.device)
        self.keep_raw = keep_raw
        # ratios matter only if a point scales by one; judging only if a point has a range or a rate
        self._scaled = any(p.ratio for p in self.points)
        self._judged = [p.range is not None or (p.kind is Kind.COUNTER and p.max_rate is not None)
                        for p in self.points]
        self.clock = clock
        self.stats = ReadStats()
        self._last_counter: dict[str, tuple[float, float]] = {}  # quantity -> (value, ts)

    def read(self) -> list[Reading]:
        """One full read of every point; failures become readings with their quality."""
        registers: dict[tuple[int, int], int] = {}  # (function, address) -> register
        sent_at: dict[Span, float] = {}
        failed: dict[Span, ModbusError] = {}
        queue: list[Block] = list(self.plan.blocks)
        while queue:
            block = queue.pop(0)
            ts = self.clock()
            try:
                values = self.source.read_registers(self.unit, block.function, block.address,
                                                    block.count)
            except ModbusExceptionResponse as exc:
                if exc.code == 2:
                    queue[:0] = self.plan.split(block)  # try the halves now; the plan keeps them
                    if len(block.spans) > 1:
                        continue
                self._fail(block, exc, failed)
                continue
            except (ModbusTimeout, ConnectError) as exc:
                # a silent meter costs one timeout per read, not one per block
                self._fail(block, exc, failed)
                for rest in queue:
                    for span in rest.spans:
                        failed[span] = type(exc)(f"not asked: {exc}")
                queue.clear()
                continue
            except ModbusError as exc:
                self._fail(block, exc, failed)
                continue
            finally:
                self.stats.requests += 1
            self.stats.registers += block.count
            for offset, reg in enumerate(values):
                registers[(block.function, block.address + offset)] = reg
            for span in block.spans:
                sent_at[span] = ts
        for span in self.plan.refused:
            failed.setdefault(span, ModbusExceptionResponse(2, "the device refuses this address "
                                                               "(exception 2)"))
        reading = self._reading
        readings = [reading(p, layout, registers, sent_at, failed)
                    for p, layout in zip(self.points, self._layouts, strict=True)]
        return self._apply_ratios(readings)

    def _fail(self, block: Block, exc: ModbusError, failed: dict[Span, ModbusError]) -> None:
        reason = exc.reason if not isinstance(exc, ModbusExceptionResponse) else f"exception_{exc.code}"
        self.stats.failures[reason] = self.stats.failures.get(reason, 0) + 1
        for span in block.spans:
            failed[span] = exc

    def _reading(
        self, point: Point, layout: _PointLayout, registers: dict[tuple[int, int], int],
        sent_at: dict[Span, float], failed: dict[Span, ModbusError],
    ) -> Reading:
        spans, keys, fraction_keys = layout
        problems = [failed[s] for s in spans if s in failed] if failed else []
        ts = sent_at.get(spans[0])
        if ts is None:
            ts = self.clock()
        if problems:
            # the device refuses the register (exception 2, illegal data address): not a comm fault
            refused = all(isinstance(e, ModbusExceptionResponse) and e.code == 2 for e in problems)
            quality = Quality.INVALID if refused else Quality.COMM_ERROR
            return Reading(point.quantity, None, point.unit, quality, ts, str(problems[0]))
        raw = [registers[k] for k in keys]
        value = point.codec.decode(raw)
        if value is not None and point.fraction_codec is not None:
            fraw = [registers[k] for k in fraction_keys]
            raw += fraw
            fraction = point.fraction_codec.decode(fraw)
            value = None if fraction is None else value + fraction
        kept = tuple(raw) if self.keep_raw else ()
        if value is None:
            return Reading(point.quantity, None, point.unit, Quality.INVALID, ts,
                           "the meter reports no valid value (NaN or sentinel)", kept)
        return Reading(point.quantity, value, point.unit, Quality.OK, ts, "", kept)

    def _apply_ratios(self, readings: list[Reading]) -> list[Reading]:
        """Scale secondary-side values by CT/PT ratios, then judge plausibility."""
        if not self._scaled:
            judge = self._judge
            return [judge(p, r) if j else r
                    for p, r, j in zip(self.points, readings, self._judged, strict=True)]
        by_q = {r.quantity: r for r in readings}
        ratios = dict(self.ratios)
        for name in ("ct", "pt"):
            r = by_q.get(f"{name}_ratio")
            if name not in ratios and r is not None and r.value and r.quality is Quality.OK:
                ratios[name] = r.value
        out = []
        for point, reading in zip(self.points, readings, strict=True):
            scaled = reading
            if point.ratio and reading.value is not None:
                k = 1.0
                for part in point.ratio.split("*"):
                    k *= ratios.get(part, 1.0)
                scaled = replace(reading, value=reading.value * k)
            out.append(self._judge(point, scaled))
        return out

    def _judge(self, point: Point, reading: Reading) -> Reading:
        return judge(point, reading, self._last_counter)


class JudgedPoint(Protocol):
    """What plausibility needs of a point (a Modbus Point or a DL/T 645 / CJ/T 188 DiPoint)."""

    @property
    def quantity(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def range(self) -> tuple[float, float] | None: ...
    @property
    def max_rate(self) -> float | None: ...


def judge(point: JudgedPoint, reading: Reading,
          last_counter: dict[str, tuple[float, float]]) -> Reading:
    """An ok reading outside the point's range, or a counter rising faster than `max_rate` since
    the last one (kept in `last_counter`), becomes out_of_range with the reason; the value stays."""
    if reading.quality is not Quality.OK or reading.value is None:
        return reading
    value = reading.value
    if point.range is not None and not point.range[0] <= value <= point.range[1]:
        return replace(reading, quality=Quality.OUT_OF_RANGE,
                       error=f"{value:g} {point.unit} outside the plausible range "
                             f"{point.range[0]:g}..{point.range[1]:g}")
    if point.kind is Kind.COUNTER and point.max_rate is not None:
        last = last_counter.get(point.quantity)
        last_counter[point.quantity] = (value, reading.ts)
        if last is not None and reading.ts > last[1]:
            rate = (value - last[0]) / ((reading.ts - last[1]) / 3600.0)
            if rate > point.max_rate:
                return replace(reading, quality=Quality.OUT_OF_RANGE,
                               error=f"rose {value - last[0]:g} {point.unit} in "
                                     f"{reading.ts - last[1]:.1f} s, faster than "
                                     f"{point.max_rate:g} {point.unit}/h")
    return reading
