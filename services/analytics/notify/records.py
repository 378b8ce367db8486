"""The notifier's rows in the alert store (tables `notifications` and `notification_attempts`,
created by services.analytics.store.SCHEMA), through a connection of its own: the worker thread
writes them while the main thread writes alerts (SQLite in WAL mode takes one writer at a time, so a
short busy timeout lets the two take turns)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import NamedTuple

from services.analytics.notify.message import Notification
from services.analytics.store import SCHEMA

BUSY_TIMEOUT_S = 10.0


class Pending(NamedTuple):
    row: int
    channel: str
    attempts: int
    due_ns: int
    notification: Notification


class NotificationLog:
    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)  # the notifier may start on a store the service has not opened

    def close(self) -> None:
        self.db.close()

    def add(self, n: Notification, channel: str, created_ns: int, due_ns: int) -> int:
        cur = self.db.execute(
            "INSERT INTO notifications (created_ns, site, alert_id, event, channel, status, attempts, "
            "due_ns, payload) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            (created_ns, n.site, n.alert_id, n.event, channel, due_ns,
             json.dumps(n.as_dict(), ensure_ascii=False, allow_nan=False)))
        return int(cur.lastrowid or 0)

    def attempt(self, row: int, attempt: int, at_ns: int, duration_ms: int, error: str | None, *,
                status: str, next_due_ns: int | None) -> None:
        """One attempt and the row's new state, in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT OR REPLACE INTO notification_attempts VALUES (?, ?, ?, ?, ?, ?)",
                            (row, attempt, at_ns, duration_ms, int(error is None), error))
            self.db.execute(
                "UPDATE notifications SET status = ?, attempts = ?, last_attempt_ns = ?, error = ?, "
                "due_ns = COALESCE(?, due_ns), delivered_ns = ? WHERE id = ?",
                (status, attempt, at_ns, error, next_due_ns, at_ns if status == "delivered" else None, row))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def pending(self) -> list[Pending]:
        rows = self.db.execute("SELECT id, channel, attempts, due_ns, payload FROM notifications "
                               "WHERE status = 'pending' ORDER BY id").fetchall()
        return [Pending(r[0], r[1], r[2], r[3], Notification.from_dict(json.loads(r[4]))) for r in rows]

    def abandon(self, row: int, reason: str) -> None:
        """A pending row that cannot be sent any more (its channel was removed from the config)."""
        self.db.execute("UPDATE notifications SET status = 'failed', error = ? WHERE id = ?", (reason, row))


__all__ = ["NotificationLog", "Pending"]
