"""Recent latencies in a fixed ring, with percentiles on demand (gateway devices, ingest writes)."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable

WINDOW = 256  # recent requests kept per device for percentiles


class LatencyWindow:
    """Recent request latencies of one device in a ring of C floats (1 KiB, not 256 Python
    floats: with a thousand devices that difference is megabytes); percentiles on demand."""

    def __init__(self, size: int = WINDOW) -> None:
        self._ring = array("f", bytes(4 * size))  # float32: microseconds are plenty
        self._count = 0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._ring[self._count % len(self._ring)] = seconds
            self._count += 1

    def percentiles(self, qs: Iterable[float] = (0.5, 0.95, 0.99)) -> dict[str, float | None]:
        with self._lock:
            values = sorted(self._ring[: min(self._count, len(self._ring))])
        out: dict[str, float | None] = {}
        for q in qs:
            key = f"p{round(q * 100)}"
            out[key] = values[min(len(values) - 1, int(q * len(values)))] if values else None
        return out
