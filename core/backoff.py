"""How long to wait between attempts — database writes, broker reconnects: exponential backoff
with jitter, capped.

A `RetryPolicy` is plain data (from the config's [retry] table or a caller's choice); `Backoff`
walks it. `max_attempts=None` retries for ever, which is what ingest does while the database is
down: the broker holds the unacknowledged messages, so waiting loses nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float = 0.5  # seconds before the first retry
    maximum: float = 30.0  # the cap of the backoff
    max_attempts: int | None = None  # None: for ever (until the writer is closed)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"retry: need 0 < initial ({self.initial}) <= maximum ({self.maximum})")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"retry: max_attempts must be at least 1 (or None), not {self.max_attempts}")


class Backoff:
    """Delays initial, 2*initial, 4*initial ... capped at maximum; each between half and all of
    its step ('equal jitter'), so instances that failed together do not retry in lockstep."""

    def __init__(self, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.rng = rng
        self.failures = 0

    def next(self) -> float:
        step = min(self.policy.maximum, self.policy.initial * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return step * (0.5 + 0.5 * self.rng())

    def exhausted(self, attempts: int) -> bool:
        return self.policy.max_attempts is not None and attempts >= self.policy.max_attempts

    def reset(self) -> None:
        self.failures = 0
