"""Airtime budget of a bus: how much of an RS-485 line the configured polling occupies.

Pure arithmetic over a checked config. Each poll group of each meter is planned into register reads
(drivers.planner.plan_blocks, with the meter's device limits); one read occupies the line for its
request and response frames, the frame gaps and the device's turnaround (drivers.wiretime.read_airtime),
then the bus's pause. A group poll that talks to another unit than the last request adds the bus's
unit-switch delay once. Utilisation is the sum over groups of (line time of one poll / interval):
above 1 the line cannot carry the polling; above 0.7 retries and late answers have little room.

Buses without wire timing (Modbus TCP, or a converter whose baud is not given) get request counts but
no utilisation (None).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from drivers.planner import Block, plan_blocks
from drivers.profiles import DeviceLimits
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
    spans = [span for point in group.points for span in point.spans()]
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
    switching = len({m.unit for m in on_bus}) > 1
    loads: list[GroupLoad] = []
    for meter in on_bus:
        limits = meter.variant.device
        for index, group in enumerate(meter.poll):
            blocks = group_blocks(meter, group)
            busy: float | None = None
            if bus.wire is not None:
                busy = sum(read_time_s(bus.wire, b.count, limits) + bus.pause_s for b in blocks)
                busy += bus.unit_switch_delay_s if switching and blocks else 0.0
            loads.append(GroupLoad(meter.id, meter.unit, index, group.interval_s, len(blocks),
                                   sum(b.count for b in blocks), busy))
    if bus.wire is None:
        return None, tuple(loads)
    return sum(load.utilisation or 0.0 for load in loads), tuple(loads)


def longest_read_s(wire: WireLine, meters: Iterable[Meter]) -> float:
    """Line time of the longest single read any meter's poll groups need (0 without reads)."""
    longest = 0.0
    for meter in meters:
        for group in meter.poll:
            for block in group_blocks(meter, group):
                longest = max(longest, read_time_s(wire, block.count, meter.variant.device))
    return longest


def verdict(utilisation: float | None) -> Verdict:
    if utilisation is None:
        return "unknown"
    if utilisation > 1.0:
        return "over"
    return "high" if utilisation > HIGH_UTILISATION else "ok"
