"""Oldest-first eviction inside a write transaction, and what a transaction changed.

Evicted messages are counted in the database (meta evicted_total, evicted_first, evicted_last) in
the same transaction that deletes them, so the count survives a crash and a restart.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from gateway.outbox import schema
from gateway.outbox.budget import HIGH_WATER, LOW_WATER, Budget, page_limit
from gateway.outbox.codec import Keys


@dataclass(slots=True)
class Txn:
    """What one write transaction changed, applied to the in-memory state only after COMMIT."""

    layouts: dict[tuple[str, Keys], int] = field(default_factory=dict)
    added: int = 0
    acked: int = 0  # acknowledged messages deleted with this transaction
    evicted: int = 0
    evicted_range: tuple[int, int] | None = None
    why: str = ""  # why messages were evicted, for the warning


def pages(db: sqlite3.Connection) -> tuple[int, int]:
    """(pages in the file, pages holding data); the difference is the reusable freelist."""
    total = int(db.execute("PRAGMA page_count").fetchone()[0])
    return total, total - int(db.execute("PRAGMA freelist_count").fetchone()[0])


def make_room(db: sqlite3.Connection, budget: Budget, path: Path, depth: int, incoming: int,
              protect_from: int | None, txn: Txn, limit: int | None = None) -> int:
    """Once the data pages plus `incoming` pass the high water, evict the oldest down to the low
    water -- never rows at or above protect_from (the append in progress). `depth` is the number
    of messages before this transaction. Returns the page limit used (pass it back as `limit` to
    check again within the same transaction)."""
    _, live = pages(db)
    if limit is None:
        limit, txn.why = page_limit(budget)
    if live + incoming <= limit * HIGH_WATER:
        return limit
    target = limit * LOW_WATER - incoming
    while live > target:
        left = depth + txn.added - txn.acked - txn.evicted
        count = math.ceil((live - target) * left / max(live, 1)) + 1
        if not evict(db, count, protect_from, txn):
            break  # nothing older left: this append alone is about the size of the budget
        _, live = pages(db)
    return limit


def evict(db: sqlite3.Connection, count: int, protect_from: int | None, txn: Txn) -> bool:
    """Delete the `count` oldest messages (below protect_from); False when none could go."""
    bound = protect_from if protect_from is not None else 2**63 - 1
    first, last, gone = db.execute(
        "SELECT min(seq), max(seq), count(*) FROM (SELECT seq FROM messages WHERE seq < ? "
        "ORDER BY seq LIMIT ?)", (bound, count)).fetchone()
    if not gone:
        return False
    db.execute("DELETE FROM messages WHERE seq <= ?", (last,))
    start = txn.evicted_range[0] if txn.evicted_range else first
    txn.evicted += gone
    txn.evicted_range = (start, last)
    db.execute("UPDATE meta SET value = value + ? WHERE key = 'evicted_total'", (gone,))
    schema.set_meta(db, evicted_first=start, evicted_last=last)
    return True
