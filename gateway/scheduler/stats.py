"""Counters the scheduler keeps for its snapshot (the health topic and the `watch` table), beside
the Prometheus metrics it feeds. Written by one bus thread, read by any: the owner guards them with
its lock."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

Availability = Literal["unknown", "online", "offline"]
POLL_RESULTS = ("ok", "partial", "failed", "skipped")
BUSY_WINDOW_S = 60.0


@dataclass(slots=True)
class DeviceStats:
    requests: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    exceptions: int = 0
    connect_errors: int = 0
    polls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLL_RESULTS, 0))
    availability: Availability = "unknown"
    last_ok_ts: float | None = None
    last_error: str | None = None
    last_error_ts: float | None = None


@dataclass(slots=True)
class PollOutcome:
    """What the requests of one poll met, as the bus line saw them."""

    requests: int = 0
    answered: int = 0  # data, or a Modbus exception from the device itself
    silent: int = 0  # timeouts, and gateway exceptions 10/11 (the device behind did not answer)
    connect_errors: int = 0
    last_error: str | None = None

    @property
    def dead(self) -> bool:
        """Nobody answered and something stayed silent: what opens a device's breaker."""
        return self.answered == 0 and self.silent > 0


class BusyWindow:
    """Time spent inside requests over the last minute, as a share of wall time."""

    def __init__(self, started: float, window_s: float = BUSY_WINDOW_S) -> None:
        self.started = started
        self.window_s = window_s
        self._spans: deque[tuple[float, float]] = deque()  # (end, duration)
        self._total = 0.0

    def add(self, start: float, end: float) -> None:
        duration = max(0.0, end - start)
        self._spans.append((end, duration))
        self._total += duration

    def ratio(self, now: float) -> float:
        cutoff = now - self.window_s
        while self._spans and self._spans[0][0] < cutoff:
            self._total -= self._spans.popleft()[1]
        wall = min(self.window_s, now - self.started)
        if wall <= 0 or not self._spans:
            return 0.0
        return min(1.0, max(0.0, self._total) / wall)
