"""Airtime budget of a bus: how much of an RS-485 line the configured polling occupies.

Pure arithmetic over a checked config. Each poll group of each meter is planned into register reads
(drivers.planner.plan_blocks, with the meter's device limits); one read occupies the line for its
request and response frames, the frame gaps and the device's turnaround (drivers.wiretime.read_airtime),
then the bus's pause. A group poll that talks to another unit than the last request adds the bus's
unit-switch delay once. Utilisation is the sum over groups of (line time of one poll / interval):
above 1 the line cannot carry the polling; above 0.7 retries and late answers have little room.

Buses without wire timing (Modbus TCP, or a converter whose baud is not given) get request counts but
no utilisation (None). A DL/T 645 or CJ/T 188 meter costs one request per data identifier, each a
dozen bytes of framing and a preamble around a few bytes of value (drivers.di_wiretime).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from drivers.di_planner import plan_requests
from drivers.di_profiles import DiPoint, DiVariant
from drivers.di_wiretime import di_airtime
from drivers.planner import Block, plan_blocks
from drivers.profiles import DeviceLimits, Point
from drivers.wiretime import read_airtime
from site_config.model import Bus, Meter, PollGroup, WireLine

HIGH_UTILISATION = 0.7
Verdict = Literal["ok", "high", "over", "unknown"]


@dataclass(frozen=True, slots=True)
class GroupLoad:
    """One poll group of one meter: requests per poll and the line time they take."""

    meter: str
    unit: int
    group: int  # index in Meter.poll
    interval_s: float
    requests: int
    registers: int
    busy_s: float | None  # line time of one poll of this group; None without wire timing

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.interval_s

    @property
    def utilisation(self) -> float | None:
        return None if self.busy_s is None else self.busy_s / self.interval_s


def group_blocks(meter: Meter, group: PollGroup) -> list[Block]:
    """The register reads one poll of `group` takes, planned with the meter's device limits."""
    limits = meter.variant.device
    spans = [span for point in group.points if isinstance(point, Point) for span in point.spans()]
    return plan_blocks(spans, max_registers=limits.max_registers, max_gap=limits.max_gap,
                       unreadable=limits.unreadable)


def read_time_s(wire: WireLine, count: int, limits: DeviceLimits) -> float:
    """Line time of one read of `count` registers from a device with these limits (no pause)."""
    return read_airtime(count, wire.baud, wire.bits_per_char, limits.turnaround_ms / 1000)


def bus_utilisation(bus: Bus, meters: Iterable[Meter]) -> tuple[float | None, tuple[GroupLoad, ...]]:
    """(share of the bus's time the polling occupies, load of each meter's each group).

    `meters` may hold meters of other buses; only those on `bus` count. The share is None when the
    bus has no wire timing."""
    on_bus = [m for m in meters if m.bus == bus.id]
    switching = len({m.station for m in on_bus}) > 1
    loads: list[GroupLoad] = []
    for meter in on_bus:
        for index, group in enumerate(meter.poll):
            requests = request_times(meter, group, bus.wire)
            busy: float | None = None
            if bus.wire is not None:
                busy = sum((t or 0.0) + bus.pause_s for _, t in requests)
                busy += bus.unit_switch_delay_s if switching and requests else 0.0
            loads.append(GroupLoad(meter.id, meter.unit, index, group.interval_s, len(requests),
                                   sum(n for n, _ in requests), busy))
    if bus.wire is None:
        return None, tuple(loads)
    return sum(load.utilisation or 0.0 for load in loads), tuple(loads)


def longest_read_s(wire: WireLine, meters: Iterable[Meter]) -> float:
    """Line time of the longest single read any meter's poll groups need (0 without reads)."""
    longest = 0.0
    for meter in meters:
        for group in meter.poll:
            for _, t in request_times(meter, group, wire):
                longest = max(longest, t or 0.0)
    return longest


def request_times(meter: Meter, group: PollGroup,
                  wire: WireLine | None) -> list[tuple[int, float | None]]:
    """Per request of one poll of `group`: (registers read, or bytes answered for DL/T 645 /
    CJ/T 188, and its line time without the pause; None without wire timing). A DL/T 645 or
    CJ/T 188 meter is asked once per data identifier (drivers.di_planner)."""
    variant = meter.variant
    limits = variant.device
    if isinstance(variant, DiVariant):
        points = [p for p in group.points if isinstance(p, DiPoint)]
        return [(r.answer_bytes,
                 None if wire is None else di_airtime(
                     variant.protocol, r.answer_bytes, wire.baud, wire.bits_per_char,
                     turnaround_s=limits.turnaround_ms / 1000, preamble=variant.preamble))
                for r in plan_requests(points)]
    return [(b.count, None if wire is None else read_time_s(wire, b.count, limits))
            for b in group_blocks(meter, group)]


def verdict(utilisation: float | None) -> Verdict:
    if utilisation is None:
        return "unknown"
    if utilisation > 1.0:
        return "over"
    return "high" if utilisation > HIGH_UTILISATION else "ok"
