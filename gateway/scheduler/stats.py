"""Counters the scheduler keeps for its snapshot (the health topic and the `watch` table), beside
the Prometheus metrics it feeds. Written by one bus thread, read by any: the owner guards them with
its lock."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Availability = Literal["unknown", "online", "offline"]
POLL_RESULTS = ("ok", "partial", "failed", "skipped")
BUSY_WINDOW_S = 60.0


@dataclass(slots=True)
class DeviceStats:
    requests: int = 0
    timeouts: int = 0
    crc_errors: int = 0  # RTU only: bytes arrived, CRC wrong
    bad_frames: int = 0  # Modbus TCP only: bytes arrived, not a valid answer
    exceptions: int = 0
    connect_errors: int = 0
    polls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLL_RESULTS, 0))
    availability: Availability = "unknown"
    last_ok_ts: float | None = None
    last_error: str | None = None
    last_error_kind: str | None = None  # drivers.errors ModbusError.kind of last_error
    last_error_ts: float | None = None


@dataclass(slots=True)
class PollOutcome:
    """What the requests of one poll met, as the bus line saw them."""

    requests: int = 0
    answered: int = 0  # data, or a Modbus exception from the device itself
    silent: int = 0  # timeouts, and gateway exceptions 10/11 (the device behind did not answer)
    connect_errors: int = 0
    last_error: str | None = None
    last_error_kind: str | None = None

    @property
    def dead(self) -> bool:
        """Nobody answered and something stayed silent: what opens a device's breaker."""
        return self.answered == 0 and self.silent > 0


class BusyWindow:
    """Time spent inside requests over the last minute, as a share of wall time.

    Kept in one-second buckets on a ring, so its memory is constant: a list of every request of the
    last minute was about 6 MB at a thousand requests a second."""

    def __init__(self, started: float, window_s: float = BUSY_WINDOW_S) -> None:
        self.started = started
        self.window_s = window_s
        size = max(1, math.ceil(window_s)) + 1
        self._sums = [0.0] * size  # seconds spent in requests that ended in that second
        self._second = [-1] * size  # which second each bucket holds

    def add(self, start: float, end: float) -> None:
        second = int(end)
        i = second % len(self._sums)
        if self._second[i] != second:
            self._second[i] = second
            self._sums[i] = 0.0
        self._sums[i] += max(0.0, end - start)

    def ratio(self, now: float) -> float:
        cutoff = now - self.window_s
        total = sum(busy for busy, second in zip(self._sums, self._second, strict=True)
                    if second >= 0 and cutoff < second + 1 and second <= now)
        wall = min(self.window_s, now - self.started)
        if wall <= 0 or total <= 0:
            return 0.0
        return min(1.0, total / wall)
