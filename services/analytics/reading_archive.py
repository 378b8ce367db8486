"""The counter readings the service keeps for its scheduled reports, in the alert store's file.

    archive = ReadingArchive(store_path)              # its own connection: one per thread
    archive.add("campus-a", "lib-main", [("energy_active_import", ts_ns, 1523.4)])
    archive.readings("campus-a", start_ns, end_ns)    # -> analytics.readings_io.Readings
    archive.trim("campus-a", before_ns)

Why raw readings and not the service's daily totals: a report is `metergate report`'s computation
(interval consumption with each meter's own cadence, peak power per day, coverage per meter), which
needs the readings; kept as they arrived, the scheduled report equals `metergate report --from` on the
same readings by construction. Only the carriers' counters (analytics.rollup.CARRIER_QUANTITIES) are
kept, of quality `ok` with a finite value — what `metergate report` reads from a gateway outbox. A
reading delivered twice is stored once (the key is site, quantity, meter, time).

Table `report_readings`, added to an existing store when [report] is first enabled (an older release
ignores it); the service trims it to what the next reports need (from 1 January of the year before).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import numpy as np

from analytics.readings_io import Columns, Readings
from analytics.rollup import CARRIER_QUANTITIES

SCHEMA = """
CREATE TABLE IF NOT EXISTS report_readings (
    site TEXT NOT NULL, quantity TEXT NOT NULL, meter TEXT NOT NULL, ts_ns INTEGER NOT NULL,
    value REAL NOT NULL, PRIMARY KEY (site, quantity, meter, ts_ns)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS report_readings_time ON report_readings (site, ts_ns);
"""
KEPT = frozenset(CARRIER_QUANTITIES)


class ReadingArchive:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # timeout: the main thread writes while the report worker reads (WAL: readers never wait)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # as the alert store: no fsync per message
        self.db.executescript(SCHEMA)

    def __enter__(self) -> ReadingArchive:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def add(self, site: str, meter: str, rows: Iterable[tuple[str, int, float]]) -> int:
        """Keep the (quantity, ts_ns, value) rows of one message; returns how many were kept."""
        kept = [(site, q, meter, ts, v) for q, ts, v in rows if q in KEPT]
        if kept:
            self.db.execute("BEGIN")
            try:
                self.db.executemany("INSERT OR REPLACE INTO report_readings VALUES (?, ?, ?, ?, ?)", kept)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        return len(kept)

    def readings(self, site: str, start_ns: int, end_ns: int) -> Readings:
        """The site's readings at start_ns <= ts <= end_ns, per quantity, in time order."""
        out: Readings = {}
        for quantity in sorted(KEPT):
            rows = self.db.execute(
                "SELECT meter, ts_ns, value FROM report_readings WHERE site = ? AND quantity = ? "
                "AND ts_ns BETWEEN ? AND ? ORDER BY ts_ns, meter", (site, quantity, start_ns, end_ns)
            ).fetchall()
            if rows:
                meters, ts, values = zip(*rows, strict=True)
                out[quantity] = Columns(np.array(meters, dtype=np.str_), np.array(ts, dtype=np.int64),
                                        np.array(values, dtype=np.float64))
        return out

    def trim(self, site: str, before_ns: int) -> int:
        """Drop the site's readings before `before_ns`; returns how many."""
        cur = self.db.execute("DELETE FROM report_readings WHERE site = ? AND ts_ns < ?", (site, before_ns))
        return cur.rowcount


__all__ = ["KEPT", "ReadingArchive"]
