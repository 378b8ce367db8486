"""Opening the outbox database: create or check the schema, set the pragmas, track clean shutdowns.

Nothing here deletes or rewrites an existing file that is not a healthy outbox: it raises
OutboxCorruptError naming the file and telling the operator to move it aside.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from gateway.outbox.codec import FORMAT_VERSION
from gateway.outbox.errors import OutboxCorruptError, OutboxError, OutboxFullError

log = logging.getLogger(__name__)

APPLICATION_ID = 0x4D475458  # "MGTX" in the file header: this file is a metergate outbox
SYNCHRONOUS = ("NORMAL", "FULL")
# With synchronous=NORMAL a power cut can take the last commits and their sequence numbers with
# them, and a number that was published must never be issued again. So seqs are reserved in blocks
# with one fsynced commit per block; after a power cut numbering resumes above the reservation.
SEQ_BLOCK = 10_000
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    "CREATE TABLE layouts (id INTEGER PRIMARY KEY, meter TEXT NOT NULL, keys TEXT NOT NULL, "
    "UNIQUE (meter, keys))",
    # AUTOINCREMENT: sqlite_sequence keeps the highest seq ever issued, so a seq is never reused,
    # not even after the newest rows were acknowledged or evicted.
    "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, layout INTEGER NOT NULL, "
    "ts REAL NOT NULL, body BLOB NOT NULL)",
)

# SQLite's page cache for the outbox's connection (default 2 MiB). Appends and acks touch the tail
# of the table and its index, which move through the file as freed pages are reused, so a bigger
# cache only fills up over minutes with pages that are not read again: resident memory for nothing.
CACHE_KIB = 512

# Pages of a new outbox. Every commit writes each page it touches whole to the WAL (and a checkpoint
# writes it again), and a commit of a second's polls touches a handful of pages whatever their size:
# at 20 polls a second 1 KiB pages write about a third of what SQLite's default 4 KiB pages do
# (docs/outbox.md, "Writes to the storage"). Rows of one poll (~130 bytes) fit several to a page.
# An existing outbox keeps the page size it was created with.
PAGE_SIZE = 1024

MOVE_ASIDE = ("stop the gateway and move the file aside (with its -wal and -shm files), e.g. "
              "`mv {p} {p}.bad`; the gateway then starts a fresh outbox, and the old file can be "
              "examined or salvaged with `sqlite3 {p}.bad .recover`")


def connect(path: Path, synchronous: str, *, check: bool) -> sqlite3.Connection:
    """Open (creating if new) and check the outbox at `path`; the connection is in autocommit mode."""
    _check_path(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    except sqlite3.Error as exc:
        raise OutboxError(str(path), f"cannot open: {exc}") from exc
    try:
        _prepare(conn, path, synchronous, check=check)
    except BaseException:
        conn.close()
        raise
    return conn


def corrupt(path: Path, exc: BaseException) -> OutboxCorruptError:
    return OutboxCorruptError(str(path), f"the database is damaged or not a database ({exc}); "
                                         + MOVE_ASIDE.format(p=path))


def _check_path(path: Path) -> None:
    if path.exists() and not path.is_file():
        raise OutboxError(str(path), "exists but is not a regular file; point the outbox path at a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutboxError(str(path), f"cannot create its directory: {exc}") from exc
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise OutboxError(str(path), "is not readable and writable by this user; fix its owner or mode")


def _prepare(conn: sqlite3.Connection, path: Path, synchronous: str, *, check: bool) -> None:
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        if _is_corruption(exc):
            raise corrupt(path, exc) from exc
        raise OutboxError(str(path), f"cannot read: {exc}") from exc
    if not tables and app_id == 0:
        _create(conn, path)
    elif app_id != APPLICATION_ID or "messages" not in tables:
        raise OutboxCorruptError(str(path), "is a SQLite database but not a metergate outbox; point the "
                                            "outbox path elsewhere, or " + MOVE_ASIDE.format(p=path))
    elif version > FORMAT_VERSION:
        raise OutboxError(str(path), f"was written by a newer metergate (outbox format {version}, this "
                                     f"one reads {FORMAT_VERSION}); upgrade, or " + MOVE_ASIDE.format(p=path))
    _set_pragmas(conn, path, synchronous)
    if check:
        _quick_check(conn, path)


def _create(conn: sqlite3.Connection, path: Path) -> None:
    """A fresh outbox. The first seq is the creation time in microseconds: a later outbox at this
    path (after the file was lost or moved aside) starts above anything this one could have issued,
    so receivers de-duplicating on seq never drop its messages (true while the clock is set)."""
    first_seq = int(time.time() * 1e6)
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # fixed by the first write
        conn.execute("PRAGMA journal_mode = WAL")  # before the first write
        conn.execute("BEGIN IMMEDIATE")  # one transaction: a crash leaves no half-made outbox
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)", (first_seq - 1,))
        set_meta(conn, created=time.time(), clean=1, evicted_total=0, seq_reserved=first_seq - 1)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if is_full(exc):
            raise OutboxFullError(str(path), f"no space to create the outbox ({exc}); free disk "
                                             "space, then start again") from exc
        raise OutboxError(str(path), f"cannot create the outbox: {exc}") from exc
    log.info("outbox %s created; first seq %d", path, first_seq)


def _set_pragmas(conn: sqlite3.Connection, path: Path, synchronous: str) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise OutboxError(str(path), f"cannot use write-ahead logging here (journal mode stays {mode}); "
                                     "put the outbox on a local filesystem")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise corrupt(path, exc) from exc
    if rows != ["ok"]:
        raise corrupt(path, RuntimeError("; ".join(rows)))


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or (
        code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB))


def is_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF == sqlite3.SQLITE_FULL) or "is full" in str(exc)


def is_corruption(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and _is_corruption(exc)


def get_meta(conn: sqlite3.Connection) -> dict[str, object]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def set_meta(conn: sqlite3.Connection, **values: object) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())


def begin_session(conn: sqlite3.Connection, path: Path, synchronous: str) -> int:
    """Mark the outbox in use; returns how many seqs were skipped after a possible power loss.

    The marker is committed with synchronous=FULL whatever the mode, so after a power cut we know
    the previous session did not close cleanly, and on which boot it ran. A process crash (same
    boot) loses nothing that was committed, so it skips nothing."""
    meta = get_meta(conn)
    boot = _boot_id()
    last = int(conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()[0])
    reserved = int(str(meta.get("seq_reserved", last)))
    lost_power = meta.get("clean") == 0 and (boot is None or meta.get("boot_id") != boot)
    skipped = max(0, reserved - last) if lost_power and meta.get("synchronous") != "FULL" else 0
    if skipped:
        log.warning("outbox %s was not closed cleanly before a reboot and ran with synchronous=%s: the "
                    "last commits may be lost; numbering resumes after seq %d (%d skipped) so that "
                    "no seq is ever issued twice", path, meta.get("synchronous"), reserved, skipped)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")
    if skipped:
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'messages'", (reserved,))
    set_meta(conn, clean=0, boot_id=boot, synchronous=synchronous)
    conn.execute("COMMIT")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return skipped


def end_session(conn: sqlite3.Connection) -> None:
    """Checkpoint everything into the main file, then mark the outbox closed cleanly (durably)."""
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("BEGIN IMMEDIATE")
    set_meta(conn, clean=1)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _boot_id() -> str | None:
    try:
        return Path(BOOT_ID_FILE).read_text().strip() or None
    except OSError:
        return None
