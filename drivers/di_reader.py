"""Read a DL/T 645 or CJ/T 188 meter through its profile: one request per data identifier, each
point decoded from its answer and judged like a Modbus reading (drivers.reader).

Quality, as for Modbus, never invents a value:
- comm_error: no answer, a bad checksum, a broken line (value None); after a timeout the rest of
  the poll is not asked (a silent meter costs one timeout per poll, not one per identifier);
- invalid: the meter answered with its error reply (e.g. "no requested data"), or its bytes are not a
  number (FF/EE, an unknown unit code, an answer too short for the format) (value None);
- out_of_range / ok: judged by drivers.reader.judge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from core.reading import Quality
from drivers.di_planner import DiRequest, describe, plan_requests
from drivers.di_profiles import DiPoint, DiVariant
from drivers.errors import ConnectError, ErrorReply, ModbusError, ModbusTimeout
from drivers.reader import Reading, ReadStats, judge


class DiSource(Protocol):
    """Anything that reads a data identifier: a Dlt645Connection / Cjt188Connection, the gateway's
    bus link, a simulator in-process."""

    def read_di(self, address: str, di: int, meter_type: int | None = None,
                high_first: bool = False) -> bytes: ...


class DiPlan:
    """The requests of one poll; `request_count` and describe() as a Modbus ReadPlan has them."""

    def __init__(self, points: Iterable[DiPoint]) -> None:
        self.requests: list[DiRequest] = plan_requests(points)

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def describe(self) -> str:
        return describe(self.requests)


class DiReader:
    """Reads one meter (an address on a line) through a compiled DI profile variant."""

    __slots__ = ("_last_counter", "address", "clock", "keep_raw", "plan", "points", "ratios",
                 "source", "stats", "variant")

    def __init__(self, source: DiSource, variant: DiVariant, address: str, *,
                 ratios: Mapping[str, float] | None = None, quantities: Iterable[str] | None = None,
                 clock: Callable[[], float] = time.time, keep_raw: bool = True) -> None:
        self.source = source
        self.variant = variant
        self.address = address
        self.ratios = dict(ratios or {})  # unused: these meters apply their own ratios
        wanted = set(quantities) if quantities is not None else None
        self.points = [p for p in variant.points if wanted is None or p.quantity in wanted]
        self.plan = DiPlan(self.points)
        self.clock = clock
        self.keep_raw = keep_raw
        self.stats = ReadStats()
        self._last_counter: dict[str, tuple[float, float]] = {}

    def read(self) -> list[Reading]:
        """One full read of every point, in the variant's order; failures become readings."""
        by_quantity: dict[str, Reading] = {}
        stop: str | None = None  # why the rest is not asked
        for request in self.plan.requests:
            ts = self.clock()
            if stop is not None:
                for p in request.points:
                    by_quantity[p.quantity] = Reading(p.quantity, None, p.unit, Quality.COMM_ERROR,
                                                      ts, f"not asked: {stop}")
                continue
            try:
                answer = self.source.read_di(self.address, request.di, self.variant.meter_type,
                                             self.variant.di_high_first)
            except ErrorReply as exc:
                self._count(exc)
                for p in request.points:
                    by_quantity[p.quantity] = Reading(
                        p.quantity, None, p.unit, Quality.INVALID, ts,
                        f"the meter refuses DI {request.di:0{self._digits()}X}: {exc}")
                continue
            except (ModbusTimeout, ConnectError) as exc:
                self._count(exc)
                stop = str(exc)
                for p in request.points:
                    by_quantity[p.quantity] = Reading(p.quantity, None, p.unit, Quality.COMM_ERROR,
                                                      ts, str(exc))
                continue
            except ModbusError as exc:
                self._count(exc)
                for p in request.points:
                    by_quantity[p.quantity] = Reading(p.quantity, None, p.unit, Quality.COMM_ERROR,
                                                      ts, str(exc))
                continue
            finally:
                self.stats.requests += 1
            self.stats.registers += len(answer)
            for p in request.points:
                by_quantity[p.quantity] = self._decoded(p, answer, ts)
        return [by_quantity[p.quantity] for p in self.points]

    def _decoded(self, p: DiPoint, answer: bytes, ts: float) -> Reading:
        raw = tuple(answer[p.offset : p.offset + p.fmt.width]) if self.keep_raw else ()
        value, why = p.decode(answer)
        if value is None:
            return Reading(p.quantity, None, p.unit, Quality.INVALID, ts, why, raw)
        return judge(p, Reading(p.quantity, value, p.unit, Quality.OK, ts, "", raw),
                     self._last_counter)

    def _count(self, exc: ModbusError) -> None:
        self.stats.failures[exc.kind] = self.stats.failures.get(exc.kind, 0) + 1

    def _digits(self) -> int:
        return 8 if self.variant.protocol == "dlt645" else 4
