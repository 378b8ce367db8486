"""Per-device circuit breaker with exponential backoff: a dead meter costs at most one timeout per
backoff period, and is retried forever.

closed     polls go ahead.
open       the last poll got no answer at all; polls due before `retry_at` are skipped.
half_open  `retry_at` has passed; the next due poll is the trial. An answer closes the breaker, no
           answer opens it again for twice as long.

The k-th consecutive failure waits min(cap, base × 2^(k-1)), times (1 + jitter × u) from the second
failure on (u uniform in [0, 1)): with base 1 s about 1, 2, 4, 8 ... 300 s. The scheduler takes the
base from the meter's shortest poll interval, so after a single failure (a glitch on the line) the
next deadline is tried as usual; jitter only lengthens later waits, so several dead devices do not
keep retrying in lock-step. Times are whatever clock the caller passes (the scheduler uses the
deadline of the poll, wall clock). Not thread-safe: one bus thread owns it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]
DEFAULT_CAP_S = 300.0
DEFAULT_JITTER = 0.2
_TOLERANCE_S = 1e-6  # deadlines are rounded to the microsecond


class Breaker:
    __slots__ = ("_random", "base_s", "cap_s", "failures", "jitter", "retry_at", "state")

    def __init__(self, base_s: float, *, cap_s: float = DEFAULT_CAP_S,
                 jitter: float = DEFAULT_JITTER,
                 random_unit: Callable[[], float] = random.random) -> None:
        if base_s <= 0:
            raise ValueError(f"backoff base {base_s} s: must be > 0")
        self.base_s = base_s
        self.cap_s = max(cap_s, base_s)
        self.jitter = jitter
        self._random = random_unit
        self.state: BreakerState = "closed"
        self.failures = 0  # consecutive polls without any answer
        self.retry_at: float | None = None

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th consecutive failure, before jitter."""
        return min(self.cap_s, self.base_s * 2.0 ** max(0, failures - 1))

    def allow(self, t: float) -> bool:
        """May a poll due at `t` go ahead? The first one at or after retry_at is the trial."""
        if self.state == "closed":
            return True
        if self.retry_at is not None and t >= self.retry_at - _TOLERANCE_S:
            self.state = "half_open"
            return True
        return False

    def success(self) -> bool:
        """The device answered: close. True if the breaker was not closed (a recovery)."""
        recovered = self.state != "closed"
        self.state = "closed"
        self.failures = 0
        self.retry_at = None
        return recovered

    def failure(self, t: float) -> float:
        """The poll at `t` got no answer: open until the returned retry time."""
        self.failures += 1
        wait = self.delay(self.failures)
        if self.failures > 1:
            wait *= 1.0 + self.jitter * self._random()
        self.state = "open"
        self.retry_at = t + wait
        return self.retry_at
