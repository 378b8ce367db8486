"""Upgrades keep the outbox: a file written by the previous release (fixtures/outbox-cab8598.sqlite,
made by that release's own code, see fixtures/outbox_release.py) is read and drained by this one; a
file from a newer release is refused with a clear message and left as it was."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from core.reading import Quality
from drivers.reader import Reading
from gateway.outbox import Outbox, OutboxError
from tests.gateway.fixtures import outbox_release as release

FIXTURE = Path(__file__).parent / "fixtures" / "outbox-cab8598.sqlite"


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "outbox.sqlite"
    shutil.copyfile(FIXTURE, path)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_previous_releases_outbox_is_read_exactly_and_drained(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    ob = Outbox(path)
    try:
        pending = ob.pending(limit=10_000)
        want = release.expected()
        assert len(pending) == len(want) == ob.depth()
        assert [m.seq for m in pending] == sorted({m.seq for m in pending})  # in order, no duplicate
        for got, (meter, ts, rows) in zip(pending, want, strict=True):
            assert (got.meter, round(got.ts, 6)) == (meter, round(ts, 6))
            assert len(got.readings) == len(rows)
            for r, (q, v, unit, quality, rts, err) in zip(got.readings, rows, strict=True):
                assert (r.quantity, r.unit, r.quality, r.error) == (q, unit, Quality(quality), err)
                assert release.same_value(r.value, v), (q, r.value, v)  # None stays None, -0.0 too
                assert abs(r.ts - rts) <= 1e-6
        # this release appends after them, numbering on, and drains everything
        new = ob.append("admin-main", release.T0 + 10**6, [Reading("power_active", 1.5, "W", Quality.OK,
                                                                   release.T0 + 10**6)])
        assert new > pending[-1].seq
        assert ob.ack([m.seq for m in pending] + [new]) == len(pending) + 1
        assert ob.depth() == 0
    finally:
        ob.close()
    reopened = Outbox(path)
    try:
        assert reopened.depth() == 0
        assert reopened.append("admin-main", release.T0 + 2 * 10**6, []) > new
    finally:
        reopened.close()


@pytest.mark.parametrize("newer", [2, 99])
def test_an_outbox_from_a_newer_release_is_refused_and_left_as_it_was(tmp_path: Path, newer: int) -> None:
    path = _copy(tmp_path)
    with sqlite3.connect(path) as db:  # what a future release would have written
        db.execute(f"PRAGMA user_version = {newer}")
    before = _digest(path)
    with pytest.raises(OutboxError, match=rf"newer metergate \(outbox format {newer}, this one reads 1\)"):
        Outbox(path)
    assert _digest(path) == before
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == release.POLLS * len(
            release.METERS) - release.ACKED
