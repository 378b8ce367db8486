"""The local alert store: one SQLite file (WAL) with the alerts, their history and the engine's state.

    with AlertStore(path) as store:
        store.apply(changes)                 # raised / updated / acked / cleared, one transaction
        store.active(); store.recent(since_ns=...); store.history(alert_id)
        store.save_daily(rows); store.load_daily(); store.get_state(key); store.set_state(key, value)

Tables: `alerts` (the latest state of every alert, active or cleared), `events` (every change, in
order: the history), `daily` (per quantity, meter and local day: consumption and coverage, so quotas
survive a restart), `state` (small key/value: the next tick and last closed day per site, and the dashboard's
`summary:`/`meters:` documents, services/analytics/summary.py), `buffer` (the counter
readings buffered at a clean stop, so the first interval after a restart keeps its left edge),
`notifications` (one row per notification and channel: pending, delivered or failed, with its
attempts and last error) and `notification_attempts` (every attempt and its outcome), written by the
notifier's own connection (services/analytics/notify/records.py). One connection, used from one
thread; `check_same_thread` is left on so a misuse fails loudly.

Migrations: tables are only ever added (`CREATE TABLE IF NOT EXISTS`), so an older store opens as it
is and gains the new tables, and an older release ignores tables it does not know.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from analytics.alerts import Alert, Change
from analytics.events import AlertKind, Severity

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    scope TEXT NOT NULL, state TEXT NOT NULL, severity INTEGER NOT NULL, start_ns INTEGER NOT NULL,
    raised_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL, cleared_ns INTEGER,
    last_seen_ns INTEGER NOT NULL,
    value REAL NOT NULL, threshold REAL NOT NULL, unit TEXT NOT NULL, message TEXT NOT NULL,
    details TEXT NOT NULL, acked_ns INTEGER, acked_by TEXT, ack_note TEXT);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, site);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ns INTEGER NOT NULL, alert_id TEXT NOT NULL,
    change TEXT NOT NULL, severity INTEGER NOT NULL, by TEXT, note TEXT);
CREATE INDEX IF NOT EXISTS events_alert ON events (alert_id, seq);
CREATE TABLE IF NOT EXISTS daily (
    site TEXT NOT NULL, quantity TEXT NOT NULL, meter TEXT NOT NULL, day TEXT NOT NULL,
    value REAL NOT NULL, covered INTEGER NOT NULL, PRIMARY KEY (site, quantity, meter, day));
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buffer (
    site TEXT NOT NULL, quantity TEXT NOT NULL, meter TEXT NOT NULL, ts_ns INTEGER NOT NULL,
    value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_ns INTEGER NOT NULL, site TEXT NOT NULL,
    alert_id TEXT, event TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, due_ns INTEGER NOT NULL, last_attempt_ns INTEGER,
    delivered_ns INTEGER, error TEXT, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS notifications_alert ON notifications (alert_id, id);
CREATE INDEX IF NOT EXISTS notifications_status ON notifications (status, id);
CREATE TABLE IF NOT EXISTS notification_attempts (
    notification INTEGER NOT NULL, attempt INTEGER NOT NULL, at_ns INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL, ok INTEGER NOT NULL, error TEXT,
    PRIMARY KEY (notification, attempt));
"""
_COLUMNS = ("id", "site", "kind", "subject", "scope", "state", "severity", "start_ns", "raised_ns",
            "updated_ns", "cleared_ns", "last_seen_ns", "value", "threshold", "unit", "message", "details",
            "acked_ns", "acked_by", "ack_note")


class NotificationRecord(NamedTuple):
    id: int
    created_ns: int
    site: str
    alert_id: str | None
    event: str
    channel: str
    status: str  # pending | delivered | failed
    attempts: int
    due_ns: int
    last_attempt_ns: int | None
    delivered_ns: int | None
    error: str | None


class AlertStoreError(RuntimeError):
    """The store cannot be opened or used; the message names the file."""


class AlertStore:
    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        """`read_only`: a reader beside the service (the dashboard): never writes, never creates."""
        self.path = Path(path)
        try:
            if read_only:
                self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                          isolation_level=None)
                self.db.execute("SELECT 1 FROM alerts LIMIT 1")
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise AlertStoreError(f"{self.path}: cannot open the alert store: {exc}") from None

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # -- alerts -------------------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change]) -> None:
        """Record each change: the alert's new state and a history row, all in one transaction."""
        if not changes:
            return
        with self._txn():
            self._changes(changes)

    def commit_tick(self, site: str, changes: Sequence[Change],
                    daily: Iterable[tuple[str, str, str, float, bool]], state: Mapping[str, str]) -> None:
        """A tick's effects in one transaction: its alert changes, its day's totals and the engine
        state (next tick, closed day). Separately, a crash in between would re-run the tick on
        re-delivery and count the day's totals twice."""
        with self._txn():
            self._changes(changes)
            self._daily(site, daily)
            for key, value in state.items():
                self.set_state(key, value)

    def _changes(self, changes: Sequence[Change]) -> None:
        for c in changes:
            a = c.alert
            self.db.execute(
                f"INSERT OR REPLACE INTO alerts ({', '.join(_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(_COLUMNS))})",
                (a.id, a.site, a.kind.value, a.subject, a.scope, a.state, int(a.severity), a.start_ns,
                 a.raised_ns, a.updated_ns, a.cleared_ns, a.last_seen_ns, a.value, a.threshold, a.unit,
                 a.message, json.dumps(dict(a.details), ensure_ascii=False), a.acked_ns, a.acked_by,
                 a.ack_note))
            by, note = (a.acked_by, a.ack_note) if c.kind == "acked" else (None, None)
            self.db.execute("INSERT INTO events (at_ns, alert_id, change, severity, by, note) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (c.at_ns, a.id, c.kind, int(a.severity), by, note))

    def active(self, site: str | None = None) -> list[Alert]:
        return self._select("state = 'active'" + (" AND site = ?" if site else ""), (site,) if site else ())

    def recent(self, since_ns: int | None = None, site: str | None = None) -> list[Alert]:
        """Active alerts and those cleared at or after `since_ns` (every alert when None)."""
        where = "(state = 'active' OR cleared_ns >= ?)" if since_ns is not None else "1"
        args: tuple[object, ...] = (since_ns,) if since_ns is not None else ()
        if site:
            where += " AND site = ?"
            args += (site,)
        return self._select(where, args)

    def get(self, alert_id: str) -> Alert | None:
        found = self._select("id = ?", (alert_id,))
        return found[0] if found else None

    def history(self, alert_id: str) -> list[tuple[int, str, Severity, str | None, str | None]]:
        rows = self.db.execute("SELECT at_ns, change, severity, by, note FROM events WHERE alert_id = ? "
                               "ORDER BY seq", (alert_id,)).fetchall()
        return [(r[0], r[1], Severity(r[2]), r[3], r[4]) for r in rows]

    def _select(self, where: str, args: tuple[object, ...]) -> list[Alert]:
        rows = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM alerts WHERE {where} "
                               "ORDER BY start_ns, id", args).fetchall()
        return [Alert(r[0], r[1], AlertKind(r[2]), r[3], r[4], r[5], Severity(r[6]), r[7], r[8], r[9],
                      r[10], r[11], r[12], r[13], r[14], r[15], json.loads(r[16]), r[17], r[18], r[19])
                for r in rows]

    def notifications(self, alert_id: str | None = None, site: str | None = None) -> list[NotificationRecord]:
        """The notifications recorded (of one alert, or one site), oldest first."""
        where, args = [], []
        for col, val in (("alert_id", alert_id), ("site", site)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        rows = self.db.execute(
            "SELECT id, created_ns, site, alert_id, event, channel, status, attempts, due_ns, "
            "last_attempt_ns, delivered_ns, error FROM notifications"
            + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id", args).fetchall()
        return [NotificationRecord(*r) for r in rows]

    def notification_attempts(self, notification: int) -> list[tuple[int, int, int, bool, str | None]]:
        """(attempt, at_ns, duration_ms, ok, error) of one notification, in order."""
        rows = self.db.execute("SELECT attempt, at_ns, duration_ms, ok, error FROM notification_attempts "
                               "WHERE notification = ? ORDER BY attempt", (notification,)).fetchall()
        return [(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    # -- engine state -------------------------------------------------------------------------------

    def save_daily(self, site: str, rows: Iterable[tuple[str, str, str, float, bool]]) -> None:
        with self._txn():
            self._daily(site, rows)

    def _daily(self, site: str, rows: Iterable[tuple[str, str, str, float, bool]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO daily VALUES (?, ?, ?, ?, ?, ?)",
                            [(site, q, m, d, v, int(c)) for q, m, d, v, c in rows])

    def load_daily(self, site: str) -> list[tuple[str, str, str, float, bool]]:
        rows = self.db.execute("SELECT quantity, meter, day, value, covered FROM daily WHERE site = ?",
                               (site,)).fetchall()
        return [(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def daily_since(self, site: str, first_day: str) -> list[tuple[str, str, str, float, bool]]:
        """(quantity, meter, day, value, covered) of the days from `first_day` (ISO) on."""
        rows = self.db.execute("SELECT quantity, meter, day, value, covered FROM daily WHERE site = ? "
                               "AND day >= ? ORDER BY day", (site, first_day)).fetchall()
        return [(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def save_buffer(self, site: str, rows: Iterable[tuple[str, str, int, float]]) -> None:
        """Replace the site's saved reading buffer (a clean stop)."""
        with self._txn():
            self.db.execute("DELETE FROM buffer WHERE site = ?", (site,))
            self.db.executemany("INSERT INTO buffer VALUES (?, ?, ?, ?, ?)",
                                [(site, q, m, t, v) for q, m, t, v in rows])

    def take_buffer(self, site: str) -> list[tuple[str, str, int, float]]:
        """The saved reading buffer of a site, removed from the store (used once, at start)."""
        with self._txn():
            rows = self.db.execute("SELECT quantity, meter, ts_ns, value FROM buffer WHERE site = ?",
                                   (site,)).fetchall()
            self.db.execute("DELETE FROM buffer WHERE site = ?", (site,))
        return [(r[0], r[1], int(r[2]), float(r[3])) for r in rows]

    def get_state(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, value))

    def _txn(self) -> _Txn:
        return _Txn(self.db)


class _Txn:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


__all__ = ["SCHEMA", "AlertStore", "AlertStoreError", "NotificationRecord"]
