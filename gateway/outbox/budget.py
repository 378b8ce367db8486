"""The disk budget: how many database pages the outbox may hold, now and at most.

The budget covers the three files SQLite keeps: the database, its write-ahead log and the WAL
index. The WAL gets a fixed reserve (checkpointed at a quarter of it, truncated back to it); the
rest is the page budget. Only the budget evicts: a disk that fills up before the outbox reaches its
budget refuses new polls (OutboxFullError, counted) and keeps every poll already accepted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from site_config.model import DEFAULT_OUTBOX_BYTES

DEFAULT_MAX_BYTES = DEFAULT_OUTBOX_BYTES  # the site config's default (one number, reasoned there)
MIN_MAX_BYTES = 256 * 1024
WAL_RESERVE_MAX = 4 << 20
WAL_RESERVE_MIN = 64 * 1024
SHM_BYTES = 32 * 1024  # the WAL index file
HIGH_WATER = 0.995  # evict when data pages pass this share of the limit ...
LOW_WATER = 0.98  # ... down to this share, so warnings come in chunks, not once per poll
ROW_OVERHEAD = 24  # bytes of row header, key and cell pointer next to a body
PAGE_FILL = 0.9  # appended rows fill pages to about this share


@dataclass(frozen=True, slots=True)
class Budget:
    max_bytes: int
    page_size: int
    wal_reserve: int  # journal_size_limit: the WAL is truncated back to this
    wal_autocheckpoint: int  # pages
    pages: int  # database pages allowed; also the hard cap (max_page_count)


def plan(max_bytes: int, page_size: int, disk_bytes: int) -> Budget:
    """The split of `max_bytes` between WAL and database for a disk of `disk_bytes`.

    On a small disk the WAL stays small too, or it could take the space a checkpoint needs to move
    it into the database."""
    reserve = max(min(WAL_RESERVE_MAX, max_bytes // 8, disk_bytes // 8), WAL_RESERVE_MIN)
    checkpoint = max(4, reserve // (page_size + 24) // 4)  # the rest absorbs the crossing transaction
    pages = (max_bytes - reserve - SHM_BYTES) // page_size
    return Budget(max_bytes, page_size, reserve, checkpoint, pages)


def page_limit(budget: Budget) -> tuple[int, str]:
    """The data pages allowed and why eviction happens (only the configured budget evicts)."""
    return budget.pages, f"the outbox passed its budget of {budget.max_bytes} bytes"


def disk_room(path: Path) -> int | None:
    """Bytes the disk holding `path` can still give the outbox, or None if unknown."""
    try:
        st = os.statvfs(os.path.dirname(os.fspath(path)) or ".")
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def pages_for(bodies: Sequence[bytes], page_size: int) -> int:
    """Pages that rows with these bodies will take (an estimate, a little generous)."""
    return math.ceil(sum(len(b) + ROW_OVERHEAD for b in bodies) / (page_size * PAGE_FILL))


def files_size(path: Path) -> int:
    return sum(file_size(f"{path}{suffix}") for suffix in ("", "-wal", "-shm"))


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def disk_size(path: Path) -> int:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return 1 << 62
    return st.f_blocks * st.f_frsize
