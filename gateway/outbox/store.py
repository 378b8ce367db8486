"""The durable outbox: every poll is committed here before it is published, and deleted when acked.

One SQLite database in WAL mode. A row is one message: one poll of one meter, with a per-gateway
`seq` (AUTOINCREMENT: never reused), a layout (meter and reading keys), the request time and the
readings in the compact encoding of gateway.outbox.codec. Thread model: one writer (the scheduler)
and one reader/acker (the publisher) share one connection behind a lock (docs/outbox.md has the
measurement that chose this over a connection per thread).

The disk budget (gateway.outbox.budget) is kept two ways: each append first evicts the oldest
messages if it would pass the high-water mark (gateway.outbox.evict), and `max_page_count` caps
the file hard, which turns any overshoot into the same SQLITE_FULL a full disk gives -- handled by
evicting and retrying once, else OutboxFullError.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.outbox import budget, evict, schema
from gateway.outbox.budget import DEFAULT_MAX_BYTES, LOW_WATER, MIN_MAX_BYTES
from gateway.outbox.codec import Keys, ReadingLike, StoredReading, decode, encode, layout_keys
from gateway.outbox.errors import OutboxError, OutboxFullError
from gateway.outbox.evict import Txn

log = logging.getLogger(__name__)

_FULL_EVICT_SHARE = 0.01  # on SQLITE_FULL, evict this share of the messages, or the batch's pages ...
_FULL_EVICT_PAGES = 4  # ... and this many more, so the retry finds whole free pages

Item = tuple[str, float, Sequence[ReadingLike]]  # (meter, request time, readings) for append_many
Row = tuple[str, Keys, float, bytes]  # (meter, layout keys, request time, encoded body)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One stored poll; the publisher renders it as the MQTT JSON payload."""

    seq: int
    meter: str
    ts: float  # epoch seconds when the poll's first request went out
    readings: tuple[StoredReading, ...]


@dataclass(frozen=True, slots=True)
class CommittedMessage:
    """A message just committed, as `pending` would give it back (the publisher's hand-off):
    the poll's own readings, which encode and decode to equal values, or the decoded ones when a
    reading has a time of its own (the outbox keeps reading times to the microsecond)."""

    seq: int
    meter: str
    ts: float
    readings: Sequence[ReadingLike]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int  # messages not yet acknowledged
    bytes_on_disk: int  # database, WAL and WAL-index files
    max_bytes: int
    evicted_total: int  # messages evicted over the outbox's life (persisted)
    last_evicted: tuple[int, int] | None  # seq range of the latest eviction
    full_errors: int  # appends refused with OutboxFullError since open
    oldest_seq: int | None
    oldest_ts: float | None  # request time of the oldest message waiting: the backlog's age
    newest_seq: int | None  # the highest seq ever issued, even if acked or evicted since


class Outbox:
    """The gateway's durable buffer of polls between the scheduler and the MQTT publisher."""

    def __init__(self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 synchronous: str = "NORMAL", check_on_open: bool = True) -> None:
        sync = synchronous.upper()
        if sync not in schema.SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(schema.SYNCHRONOUS)}, "
                             f"not {synchronous!r}")
        if max_bytes < MIN_MAX_BYTES:
            raise ValueError(f"max_bytes must be at least {MIN_MAX_BYTES}, not {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.synchronous = sync
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = schema.connect(self.path, sync, check=check_on_open)
        self._layouts: dict[tuple[str, Keys], int] = {}
        self._layout_by_id: dict[int, tuple[str, Keys]] = {}
        self._keys: dict[Keys, Keys] = {}  # one copy of equal layouts' keys (meters of one model)
        self._hints: dict[str, list[int]] = {}  # meter -> value kinds to try first (codec.encode)
        self._acked_waiting: list[int] = []  # acknowledged, deleted with the next commit
        self._full_errors = 0
        self._full_since: float | None = None  # set while appends fail for lack of space
        self._full_errors_before = 0
        try:
            self._configure_budget()
            schema.begin_session(self._db, self.path, sync)
            self._load_state()
        except sqlite3.Error as exc:
            self._db.close()
            self._db = None
            raise self._wrap(exc, "open") from exc

    # -- public API ------------------------------------------------------------------------------

    def append(self, meter: str, ts: float, readings: Sequence[ReadingLike]) -> int:
        """Store one poll; returns its seq once the commit is done (durable against a crash)."""
        return self.append_many([(meter, ts, readings)])[0]

    def append_many(self, items: Iterable[Item]) -> list[int]:
        """Store several polls in one transaction; their seqs, in order."""
        return self._append_rows([self._row(meter, ts, readings) for meter, ts, readings in items])

    def append_messages(self, items: Sequence[Item]) -> list[CommittedMessage]:
        """`append_many`, returning the committed messages themselves (seq, meter, ts, readings)
        so they can be published without reading them back."""
        rows = [self._row(meter, ts, readings) for meter, ts, readings in items]
        seqs = self._append_rows(rows)
        return [CommittedMessage(seq, meter, ts, readings if all(r.ts == ts for r in readings)
                                 else decode(body, keys, ts))
                for seq, (meter, keys, ts, body), (_, _, readings)
                in zip(seqs, rows, items, strict=True)]

    def _row(self, meter: str, ts: float, readings: Sequence[ReadingLike]) -> Row:
        hints = self._hints.get(meter)
        if hints is None:
            hints = self._hints.setdefault(meter, [])
        return meter, layout_keys(readings), float(ts), encode(readings, ts, hints)

    def _append_rows(self, rows: list[Row]) -> list[int]:
        if not rows:
            return []
        with self._locked() as db:
            incoming = budget.pages_for([body for *_, body in rows], self._budget.page_size)
            if incoming > self._budget.pages * LOW_WATER:  # would evict everything, then not fit
                self._full_errors += 1
                raise OutboxFullError(str(self.path), f"{len(rows)} message(s) of {incoming} pages do "
                                                      f"not fit in the budget of {self.max_bytes} bytes")
            try:
                seqs = self._insert(db, rows)
            except sqlite3.Error as exc:
                if not schema.is_full(exc):
                    raise self._wrap(exc, "append") from exc
                seqs = self._insert_when_full(db, rows, exc)
            if self._full_since is not None:
                log.warning("outbox %s: appends succeed again after %.0f s without space; %d refused",
                            self.path, time.monotonic() - self._full_since,
                            self._full_errors - self._full_errors_before)
                self._full_since = None
            return seqs

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxMessage]:
        """Up to `limit` unacknowledged messages with seq > after_seq, oldest first."""
        with self._locked() as db:
            try:
                rows = db.execute("SELECT seq, layout, ts, body FROM messages WHERE seq > ? "
                                  "ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
                layouts = {layout: self._layout(db, layout) for _, layout, _, _ in rows}
            except sqlite3.Error as exc:
                raise self._wrap(exc, "read") from exc
        # decoded outside the lock: the scheduler's appends do not wait for the publisher's CPU
        return [m for m in (self._message(seq, *layouts[layout], ts, body)
                            for seq, layout, ts, body in rows) if m is not None]

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged messages now, in any order, with those waiting for the next commit
        (ack_with_next_commit); unknown seqs are ignored. Returns how many went."""
        given = [int(s) for s in seqs]
        with self._locked() as db:
            seqs = self._acked_waiting + given
            if not seqs:
                return 0
            try:
                db.execute("BEGIN IMMEDIATE")
                gone = _delete(db, seqs)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(db)
                raise self._wrap(exc, "acknowledge") from exc
            self._acked_waiting = []
            self._depth -= gone
            return gone

    def ack_with_next_commit(self, seqs: Iterable[int]) -> None:
        """Delete acknowledged messages in the next append's transaction instead of one of their
        own: every commit writes whole pages (the header, the table's root), so folding the deletes
        into the appends halves the commits (docs/outbox.md, "Writes to the storage"). Until then
        they are not counted in depth(); `ack` or `close` deletes them at once. A crash before
        that commit only means they are published once more (receivers de-duplicate by seq)."""
        with self._lock:
            self._acked_waiting.extend(int(s) for s in seqs)

    def depth(self) -> int:
        """Messages stored and not yet acknowledged."""
        with self._lock:
            return max(self._depth - len(self._acked_waiting), 0)

    def oldest_ts(self) -> float | None:
        """Request time of the oldest message waiting (None when none is)."""
        with self._locked() as db:
            oldest = self._oldest(db)
            return None if oldest is None else oldest[1]

    def _oldest(self, db: sqlite3.Connection) -> tuple[int, float] | None:
        """(seq, ts) of the oldest message not acknowledged: acknowledged ones waiting for the next
        commit are mostly the oldest rows, so skip as many as wait."""
        waiting = set(self._acked_waiting)
        for seq, ts in db.execute("SELECT seq, ts FROM messages ORDER BY seq LIMIT ?",
                                  (len(waiting) + 1,)):
            if seq not in waiting:
                return int(seq), float(ts)
        return None

    def stats(self) -> OutboxStats:
        with self._locked() as db:
            oldest = self._oldest(db)
            return OutboxStats(
                depth=max(self._depth - len(self._acked_waiting), 0),
                bytes_on_disk=self.bytes_on_disk(), max_bytes=self.max_bytes,
                evicted_total=self._evicted_total, last_evicted=self._last_evicted,
                full_errors=self._full_errors, oldest_seq=None if oldest is None else oldest[0],
                oldest_ts=None if oldest is None else oldest[1], newest_seq=self._last_seq)

    def bytes_on_disk(self) -> int:
        return budget.files_size(self.path)

    def close(self) -> None:
        """Checkpoint and mark the outbox closed cleanly. Safe to call twice."""
        with self._lock:
            db, self._db = self._db, None
            if db is None:
                return
            try:
                if self._acked_waiting:  # acknowledged, waiting for a commit: one more
                    db.execute("BEGIN IMMEDIATE")
                    _delete(db, self._acked_waiting)
                    db.execute("COMMIT")
                    self._acked_waiting = []
                schema.end_session(db)
            except sqlite3.Error as exc:  # a full disk must not turn shutdown into a crash
                log.warning("outbox %s: could not checkpoint on close (%s); the WAL is replayed "
                            "at the next start", self.path, exc)
            finally:
                db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- set-up ----------------------------------------------------------------------------------

    def _configure_budget(self) -> None:
        assert self._db is not None
        db = self._db
        page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        self._budget = budget.plan(self.max_bytes, page_size, budget.disk_size(self.path))
        db.execute(f"PRAGMA journal_size_limit = {self._budget.wal_reserve}")
        db.execute(f"PRAGMA wal_autocheckpoint = {self._budget.wal_autocheckpoint}")
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        # The hard cap never cuts below what is already there: a smaller new budget evicts instead.
        db.execute(f"PRAGMA max_page_count = {max(self._budget.pages, pages)}")

    def _load_state(self) -> None:
        assert self._db is not None
        meta = schema.get_meta(self._db)
        self._depth = int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])
        self._evicted_total = int(str(meta.get("evicted_total") or 0))
        self._seq_reserved = int(str(meta.get("seq_reserved") or 0))
        self._last_seq = int(self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
                                              ).fetchone()[0])
        first, last = meta.get("evicted_first"), meta.get("evicted_last")
        self._last_evicted = (int(str(first)), int(str(last))) if first is not None else None
        log.info("outbox %s: %d messages pending, %d evicted so far, budget %d bytes, synchronous=%s",
                 self.path, self._depth, self._evicted_total, self.max_bytes, self.synchronous)
        room = budget.disk_room(self.path)
        if room is not None and budget.files_size(self.path) + room < self.max_bytes:
            log.warning("outbox %s: the disk can hold only %d more bytes, less than the budget of %d: "
                        "when it fills, new polls are refused (counted) and none stored is dropped; "
                        "lower outbox.max_bytes to keep the newest instead", self.path, room,
                        self.max_bytes)

    # -- writing ---------------------------------------------------------------------------------

    def _insert(self, db: sqlite3.Connection, rows: list[Row]) -> list[int]:
        txn = Txn()
        incoming = budget.pages_for([body for *_, body in rows], self._budget.page_size)
        self._reserve(db, len(rows))
        try:
            db.execute("BEGIN IMMEDIATE")
            # first: acknowledged messages are never counted as evicted
            txn.acked = _delete(db, self._acked_waiting) if self._acked_waiting else 0
            # before: the rows must fit under the hard cap; after: in case the estimate was short
            limit = evict.make_room(db, self._budget, self.path, self._depth, incoming, None, txn)
            seqs = []
            for meter, keys, ts, body in rows:
                layout = self._layout_id(db, meter, keys, txn)
                cur = db.execute("INSERT INTO messages (layout, ts, body) VALUES (?, ?, ?)",
                                 (layout, ts, body))
                seqs.append(int(cur.lastrowid or 0))
            txn.added = len(seqs)
            evict.make_room(db, self._budget, self.path, self._depth, 0, seqs[0], txn, limit)
            db.execute("COMMIT")
        except BaseException:
            self._rollback(db)
            raise
        self._last_seq = seqs[-1]
        self._acked_waiting = []  # (taken under the lock: none can have come in between)
        self._apply(txn)
        return seqs

    def _reserve(self, db: sqlite3.Connection, count: int) -> None:
        """Before issuing seqs past the reservation, reserve the next block in its own fsynced
        commit (a pragma cannot change inside a transaction), so that after a power cut with
        synchronous=NORMAL numbering resumes above every seq that may have been published."""
        if self._last_seq + count <= self._seq_reserved:
            return
        reserved = self._last_seq + count + schema.SEQ_BLOCK
        db.execute("PRAGMA synchronous = FULL")
        try:
            db.execute("BEGIN IMMEDIATE")
            schema.set_meta(db, seq_reserved=reserved)
            db.execute("COMMIT")
        except BaseException:
            self._rollback(db)
            raise
        finally:
            db.execute(f"PRAGMA synchronous = {self.synchronous}")
        self._seq_reserved = reserved

    def _insert_when_full(self, db: sqlite3.Connection, rows: list[Row], exc: sqlite3.Error) -> list[int]:
        """No room. At the page cap (the budget) evict the oldest once and retry; on a full disk
        refuse this append only: what is stored stays (nothing accepted is given up for space)."""
        total, live = evict.pages(db)
        needed = budget.pages_for([body for *_, body in rows], self._budget.page_size) + _FULL_EVICT_PAGES
        at_cap = total + needed > self._budget.pages
        if at_cap and self._full_since is None and self._depth > 0 and needed <= total:
            count = max(math.ceil(self._depth * _FULL_EVICT_SHARE),
                        math.ceil(needed * self._depth / max(live, 1)))
            try:
                self._evict_now(db, count, "the disk or the page budget is full")
                return self._insert(db, rows)
            except sqlite3.Error as again:
                if not schema.is_full(again):
                    raise self._wrap(again, "append") from again
                exc = again
        if self._full_since is None:
            self._full_since = time.monotonic()
            self._full_errors_before = self._full_errors
            log.error("outbox %s: no space to store a poll (%s); polls are refused (counted) until "
                      "space frees up, everything stored before is kept", self.path, exc)
        self._full_errors += 1
        raise OutboxFullError(str(self.path), f"no space to store {len(rows)} message(s): {exc}; free "
                                              "disk space or lower the outbox budget") from exc

    def _layout_id(self, db: sqlite3.Connection, meter: str, keys: Keys, txn: Txn) -> int:
        key = (meter, keys)
        found = self._layouts.get(key) or txn.layouts.get(key)
        if found is not None:
            return found
        key = (meter, self._keys.setdefault(keys, keys))
        text = json.dumps(keys, separators=(",", ":"))
        row = db.execute("SELECT id FROM layouts WHERE meter = ? AND keys = ?", (meter, text)).fetchone()
        if row is None:
            row = (db.execute("INSERT INTO layouts (meter, keys) VALUES (?, ?)", (meter, text)).lastrowid,)
        txn.layouts[key] = int(row[0])
        return int(row[0])

    def _apply(self, txn: Txn) -> None:
        """After COMMIT: update the in-memory state and say what was evicted."""
        self._layouts.update(txn.layouts)
        self._depth += txn.added - txn.acked - txn.evicted
        if txn.evicted and txn.evicted_range:
            self._evicted_total += txn.evicted
            self._last_evicted = txn.evicted_range
            log.warning("outbox %s: %s; evicted the %d oldest unpublished messages, seq %d..%d "
                        "(%d evicted in all)", self.path, txn.why, txn.evicted, *txn.evicted_range,
                        self._evicted_total)

    # -- eviction --------------------------------------------------------------------------------

    def _evict_now(self, db: sqlite3.Connection, count: int, why: str) -> None:
        txn = Txn(why=why)
        try:
            db.execute("BEGIN IMMEDIATE")
            evict.evict(db, count, None, txn)
            db.execute("COMMIT")
        except BaseException:
            self._rollback(db)
            raise
        self._apply(txn)

    # -- reading ---------------------------------------------------------------------------------

    def _message(self, seq: int, meter: str, keys: Keys, ts: float, body: bytes) -> OutboxMessage | None:
        try:
            return OutboxMessage(seq, meter, ts, decode(body, keys, ts))
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            # one damaged row must not stop publishing: skip it, keep it on disk, say so
            log.error("outbox %s: message seq %d cannot be decoded (%s); skipped, left in place",
                      self.path, seq, exc)
            return None

    def _layout(self, db: sqlite3.Connection, layout: int) -> tuple[str, Keys]:
        found = self._layout_by_id.get(layout)
        if found is None:
            meter, text = db.execute("SELECT meter, keys FROM layouts WHERE id = ?", (layout,)).fetchone()
            keys = tuple((q, u) for q, u in json.loads(text))
            found = (meter, self._keys.setdefault(keys, keys))
            self._layout_by_id[layout] = found
        return found

    # -- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise OutboxError(str(self.path), "is closed")
            yield self._db

    def _rollback(self, db: sqlite3.Connection) -> None:
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error as exc:  # SQLite may have rolled back already (SQLITE_FULL)
                log.debug("outbox %s: rollback: %s", self.path, exc)

    def _wrap(self, exc: sqlite3.Error, action: str) -> OutboxError:
        if schema.is_corruption(exc):
            return schema.corrupt(self.path, exc)
        if schema.is_full(exc):
            return OutboxFullError(str(self.path), f"no space to {action}: {exc}; free disk space")
        return OutboxError(str(self.path), f"cannot {action}: {exc}")


def _delete(db: sqlite3.Connection, seqs: Iterable[int]) -> int:
    """Delete the messages `seqs` inside the caller's transaction; how many were there."""
    before = db.total_changes
    db.executemany("DELETE FROM messages WHERE seq = ?", [(s,) for s in seqs])
    return db.total_changes - before
