"""Simulated time: a start instant and a speed factor over a real monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

Clock = Callable[[], float]  # returns simulated epoch seconds


class SimClock:
    """Epoch seconds of the simulated world: `start` + `speed` × real time elapsed since creation.

    `start` is epoch seconds or a datetime; a naive datetime is the site's local time, `tz_offset_h`
    hours east of UTC (China, +8, by default, as the physics assumes). None means now. speed=60 runs
    one simulated minute per real second.
    """

    def __init__(self, start: float | datetime | None = None, speed: float = 1.0,
                 *, tz_offset_h: float = 8.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0:
            raise ValueError(f"speed {speed:g}: give a factor above 0 (1 = real time)")
        if isinstance(start, datetime):
            if start.tzinfo is None:
                start = start.replace(tzinfo=timezone(timedelta(hours=tz_offset_h)))
            start = start.timestamp()
        self.start = time.time() if start is None else float(start)
        self.speed = speed
        self._monotonic = monotonic
        self._t0 = monotonic()

    def __call__(self) -> float:
        return self.start + (self._monotonic() - self._t0) * self.speed


def fixed_clock(t: float) -> Clock:
    """A clock that never moves (for tests comparing a read with true_values())."""
    return lambda: t
