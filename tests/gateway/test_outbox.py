"""The durable outbox: round trip, sequence numbers, acks, crash safety, eviction, full disk,
corrupt files, two threads at once."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.reading import Quality
from drivers.reader import Reading
from gateway.outbox import (
    DEFAULT_MAX_BYTES,
    Outbox,
    OutboxCorruptError,
    OutboxError,
    OutboxFullError,
    StoredReading,
    schema,
)
from gateway.outbox.codec import decode, encode, layout_keys

T0 = 1_790_000_000.0
REPO = Path(__file__).resolve().parents[2]


def poll(i: int, points: int = 20, *, dead: bool = False) -> list[Reading]:
    """One meter's poll: float32-like and decimal values, two request times, a None."""
    t = T0 + 60 * i
    out = []
    for j in range(points):
        ts = t + (0.0421 if j >= points // 2 else 0.0)
        if dead:
            out.append(Reading(f"q{j}", None, "kWh", Quality.COMM_ERROR, ts, "no answer within 1 s"))
        elif j == 3:
            out.append(Reading(f"q{j}", None, "V", Quality.INVALID, ts, "sentinel 0xFFFF"))
        else:
            value = struct.unpack("<f", struct.pack("<f", 200 + i * 0.37 + j))[0] if j % 2 else i + j * 0.01
            out.append(Reading(f"q{j}", value, "kWh" if j % 2 else "V", Quality.OK, ts))
    return out


def same(stored: StoredReading, original: Reading) -> bool:
    """Equal as stored: values bit for bit (None stays None), times to the microsecond."""
    if (stored.quantity, stored.unit, stored.quality, stored.error) != (
            original.quantity, original.unit, original.quality, original.error):
        return False
    if (stored.value is None) != (original.value is None):
        return False
    if stored.value is not None and original.value is not None and (  # bits: NaN, -0.0 too
            struct.pack("<d", stored.value) != struct.pack("<d", original.value)):
        return False
    return abs(stored.ts - original.ts) <= 1e-6


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    ob = Outbox(tmp_path / "outbox.db", max_bytes=64 << 20)
    yield ob
    ob.close()


def all_pending(ob: Outbox) -> list[int]:
    return [m.seq for m in ob.pending(limit=10**9)]


# -- round trip ------------------------------------------------------------------------------------


def test_round_trip_keeps_none_zero_qualities_and_errors(outbox: Outbox) -> None:
    readings = [
        Reading("energy_active_import", 12345.67, "kWh", Quality.OK, T0),
        Reading("voltage_l1", 229.8000030517578, "V", Quality.OK, T0 + 0.05),
        Reading("power_active", None, "W", Quality.COMM_ERROR, T0 + 0.1, "timeout after 1 s"),
        Reading("power_reactive", None, "var", Quality.COMM_ERROR, T0 + 0.1, "timeout after 1 s"),
        Reading("frequency", None, "Hz", Quality.INVALID, T0 + 0.1, "NaN"),
        Reading("energy_active_export", 0.0, "kWh", Quality.OK, T0),
        Reading("power_factor", -0.0, "", Quality.OUT_OF_RANGE, T0, "below -1"),
        Reading("current_l1", 1e300, "A", Quality.STALE, T0 - 3.5),
        Reading("voltage_l1_l2", 224.62783203125002, "V", Quality.OK, T0),
        Reading("water_volume", 1234.5678901, "m³", Quality.OK, T0),
    ]
    seq = outbox.append("b1-sdm630-001", T0, readings)
    [message] = outbox.pending()
    assert (message.seq, message.meter, message.ts) == (seq, "b1-sdm630-001", T0)
    assert all(same(s, r) for s, r in zip(message.readings, readings, strict=True))
    assert message.readings[2].value is None and message.readings[5].value == 0.0
    assert [r.quality for r in message.readings] == [r.quality for r in readings]
    quantity, value, unit, quality, _, error = message.readings[2]  # a plain tuple too
    assert (quantity, value, unit, quality, error) == ("power_active", None, "W", "comm_error",
                                                       "timeout after 1 s")


finite_or_not = st.floats(allow_nan=True, allow_infinity=True) | st.none()
decimals = st.builds(lambda m, k: m * (0.1, 0.01, 0.001, 0.0001)[k],
                     st.integers(-10**8, 10**8), st.integers(0, 3))
float32s = st.floats(width=32, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(finite_or_not | decimals | float32s, st.sampled_from(list(Quality)),
                          st.floats(-5.0, 5.0), st.sampled_from(["", "timeout", "CRC error", "é"])),
                min_size=1, max_size=40))
def test_codec_gives_every_value_back_bit_for_bit(items: list[tuple[float | None, Quality, float, str]]
                                                  ) -> None:
    readings = [Reading(f"q{i}", v, "u", q, T0 + dt, e) for i, (v, q, dt, e) in enumerate(items)]
    back = decode(encode(readings, T0), layout_keys(readings), T0)
    for stored, original in zip(back, readings, strict=True):
        assert same(stored, original), (stored, original)


scaled_f32s = st.builds(lambda f, k: f * (0.1, 0.01, 10.0)[k], float32s, st.integers(0, 2))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(finite_or_not | decimals | float32s | scaled_f32s, min_size=5, max_size=5),
                min_size=1, max_size=8))
def test_hinted_encoding_gives_every_value_back_bit_for_bit(polls: list[list[float | None]]) -> None:
    """The kinds remembered from earlier polls (per meter, per position) never change a value."""
    hints: list[int] = []
    for values in polls:
        readings = [Reading(f"q{i}", v, "u", Quality.OK, T0) for i, v in enumerate(values)]
        back = decode(encode(readings, T0, hints), layout_keys(readings), T0)
        for stored, original in zip(back, readings, strict=True):
            assert same(stored, original), (stored, original)


def test_hints_remember_the_scaled_kind_of_each_position() -> None:
    values = [230.1 * 0.1, 0.5, 2301.0, float(1e38 * 5.0), 12.345]  # scaled, float32, integer, ...
    readings = [Reading(f"q{i}", v, "u", Quality.OK, T0) for i, v in enumerate(values)]
    hints: list[int] = []
    first = encode(readings, T0, hints)
    assert len(hints) == 5 and hints[1] == hints[2] == -1  # nothing to remember for cheap kinds
    assert first == encode(readings, T0)  # the first poll is encoded as without hints
    assert encode(readings, T0, hints) == first


def test_realistic_poll_is_small(outbox: Outbox) -> None:
    body = encode(poll(5), T0 + 300)
    # 20 flags + 10 float32 + 9 short decimals + one time change + one error text (17)
    assert len(body) <= 110


def test_unknown_quality_is_refused(outbox: Outbox) -> None:
    bad = Reading("q", 1.0, "", "excellent", T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="excellent"):
        outbox.append("m", T0, [bad])
    assert outbox.depth() == 0


# -- sequence numbers and acks -----------------------------------------------------------------------


def test_seq_is_monotonic_across_reopen_ack_and_eviction(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as ob:
        first = [ob.append("m", T0 + i, poll(i)) for i in range(5)]
        assert first == list(range(first[0], first[0] + 5))
        assert first[0] > 1_000_000_000_000_000  # seeded from the clock (µs): a new file starts above
        ob.ack(first[2:])  # the newest go: their numbers are still never reused
    with Outbox(path) as ob:
        again = ob.append_many([("m", T0, poll(1)), ("n", T0, poll(2))])
        assert again == [first[-1] + 1, first[-1] + 2]
        ob.ack(all_pending(ob))
        assert ob.depth() == 0
    with Outbox(path, max_bytes=256 * 1024) as ob:  # evicts as it goes
        seqs = [ob.append("m", T0 + i, poll(i)) for i in range(3000)]
        assert ob.stats().evicted_total > 0
        assert seqs == list(range(again[-1] + 1, again[-1] + 3001))


def test_pending_is_in_seq_order_after_a_seq_and_limited(outbox: Outbox) -> None:
    seqs = outbox.append_many([(f"m{i % 3}", T0 + i, poll(i)) for i in range(10)])
    assert [m.seq for m in outbox.pending(limit=4)] == seqs[:4]
    assert [m.seq for m in outbox.pending(after_seq=seqs[6])] == seqs[7:]
    assert [m.meter for m in outbox.pending(limit=3)] == ["m0", "m1", "m2"]


def test_acks_out_of_order_and_unknown_seqs(outbox: Outbox) -> None:
    seqs = [outbox.append("m", T0 + i, poll(i)) for i in range(10)]
    assert outbox.ack([seqs[7], seqs[2], seqs[9]]) == 3
    assert outbox.ack([seqs[7], seqs[0] - 1, 2**62]) == 0  # gone already or never there: no-op
    assert outbox.ack([]) == 0
    assert all_pending(outbox) == [s for i, s in enumerate(seqs) if i not in (2, 7, 9)]
    assert outbox.depth() == 7
    assert outbox.oldest_ts() == T0
    outbox.ack(seqs[:2])
    assert outbox.oldest_ts() == T0 + 3


def test_acks_with_the_next_commit(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    ob = Outbox(path)
    seqs = ob.append_many([("m", T0 + i, poll(i)) for i in range(10)])
    ob.ack_with_next_commit(seqs[:4])
    assert ob.depth() == ob.stats().depth == 6  # acknowledged: not waiting any more
    assert ob.stats().oldest_seq == seqs[4] and ob.oldest_ts() == T0 + 4  # the backlog's age

    def rows() -> int:
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])

    assert rows() == 10  # still in the file until the next commit
    ob.append("m", T0 + 10, poll(10))
    assert rows() == 7 and ob.depth() == 7 and ob.stats().evicted_total == 0
    ob.ack_with_next_commit(seqs[4:6])
    assert ob.ack([seqs[6]]) == 3  # an ack now takes the waiting ones with it
    assert rows() == 4 and all_pending(ob) == [*seqs[7:], seqs[-1] + 1]
    ob.ack_with_next_commit(seqs[7:])
    ob.close()  # a clean stop deletes what waits
    assert rows() == 1


def test_stats_and_closed_outbox(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    seqs = ob.append_many([("m", T0, poll(0)), ("m", T0 + 60, poll(1))])
    stats = ob.stats()
    assert (stats.depth, stats.oldest_seq, stats.oldest_ts, stats.newest_seq, stats.evicted_total) == (
        2, seqs[0], T0, seqs[1], 0)
    assert 0 < stats.bytes_on_disk == ob.bytes_on_disk()
    ob.close()
    ob.close()  # twice is fine
    with pytest.raises(OutboxError, match="closed"):
        ob.append("m", T0, poll(0))


def test_synchronous_knob(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", synchronous="full") as ob:
        assert ob._db is not None
        assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert ob._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ValueError, match="NORMAL, FULL"):
        Outbox(tmp_path / "p.db", synchronous="OFF")
    with pytest.raises(ValueError, match="max_bytes"):
        Outbox(tmp_path / "p.db", max_bytes=1000)


# -- crash safety ----------------------------------------------------------------------------------

CHILD = """
import sys
from core.reading import Quality
from drivers.reader import Reading
from gateway.outbox import Outbox

ob = Outbox(sys.argv[1], synchronous=sys.argv[2])
i = 0
while True:
    t = 1.79e9 + i
    rs = [Reading(f"q{j}", i + j * 0.5, "kWh", Quality.OK, t) for j in range(20)]
    seqs = ob.append_many([("m1", t, rs), ("m2", t, rs)]) if i % 3 == 0 else [ob.append("m1", t, rs)]
    print(" ".join(map(str, seqs)), flush=True)
    i += 1
"""


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_sigkill_mid_stream_loses_nothing_returned(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "outbox.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), synchronous],
                             stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert child.stdout is not None
    returned: list[int] = []
    while len(returned) < 400:
        line = child.stdout.readline()
        assert line, "the child stopped early"
        returned += map(int, line.split())
    os.kill(child.pid, signal.SIGKILL)  # mid-stream: it is appending as fast as it can
    child.wait()
    returned += [int(s) for line in child.stdout.read().splitlines() for s in line.split()]
    with Outbox(path) as ob:
        present = all_pending(ob)
        assert set(returned) <= set(present)
        extra = sorted(set(present) - set(returned))  # committed, killed before it printed
        assert len(extra) <= 2 and all(s > max(returned) for s in extra)
        message = ob.pending(after_seq=returned[-1] - 1, limit=1)[0]
        assert message.readings[3].value is not None and message.readings[0].unit == "kWh"
        assert ob.append("m1", T0, poll(0)) == max(present) + 1  # same boot: no gap after a crash


SNAPSHOT_CHILD = """
import sys, time
from core.reading import Quality
from drivers.reader import Reading
from gateway.outbox import Outbox

ob = Outbox(sys.argv[1])
i = 0
while True:
    t = 1.79e9 + i
    rs = [Reading(f"q{j}", i + j * 0.25, "kWh", Quality.OK, t) for j in range(20)]
    seqs = ob.append_many([(f"m{k}", t, rs) for k in range(20)])  # a second's polls, one commit
    ob.ack_with_next_commit(seqs[::2])  # half acknowledged: deleted with the next commit
    print("kept", " ".join(map(str, seqs[1::2])), flush=True)
    i += 1
    time.sleep(0.002)
"""


def test_a_copy_taken_mid_write_is_a_healthy_outbox_with_everything_committed(tmp_path: Path) -> None:
    """The files as they are at an arbitrary instant of writing (the writer frozen mid-commit and
    the database, WAL and index copied, as a power cut with the page cache written would leave
    them): the copy opens as a healthy outbox and holds every poll whose commit had returned and
    was not acknowledged."""
    path = tmp_path / "outbox.db"
    child = subprocess.Popen([sys.executable, "-c", SNAPSHOT_CHILD, str(path)],
                             stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert child.stdout is not None
    kept: list[int] = []
    rng = random.Random(7)
    try:
        for n in range(5):
            while len(kept) < 150 * (n + 1):
                line = child.stdout.readline()
                assert line, "the child stopped early"
                kept += map(int, line.split()[1:])
            time.sleep(rng.uniform(0, 0.01))  # somewhere inside a commit or between two
            os.kill(child.pid, signal.SIGSTOP)
            copy = tmp_path / f"copy{n}.db"
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{path}{suffix}").exists():
                    shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
            os.kill(child.pid, signal.SIGCONT)
            with Outbox(copy) as ob:  # opening runs the integrity check
                present = set(all_pending(ob))
                assert set(kept) <= present, sorted(set(kept) - present)[:5]
                assert ob.append("m1", T0, poll(0)) > max(present)
    finally:
        child.kill()
        child.wait()


def test_power_loss_after_reboot_skips_seqs_so_none_is_reused(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as ob:
        first = ob.append("m", T0, poll(0))
        last = ob.append_many([("m", T0, poll(0))] * 10)[-1]

    def unclean(boot: str, sync: str) -> None:
        with sqlite3.connect(path) as db:
            db.executemany("UPDATE meta SET value = ? WHERE key = ?",
                           [(0, "clean"), (boot, "boot_id"), (sync, "synchronous")])

    unclean(schema._boot_id() or "", "NORMAL")  # a process crash: same boot, page cache intact
    with Outbox(path) as ob:
        last = ob.append("m", T0, poll(0))
        assert last == ob.stats().newest_seq == first + 11
    unclean("an-earlier-boot", "NORMAL")  # a power cut: commits after the last fsync may be gone
    with caplog.at_level(logging.WARNING), Outbox(path) as ob:
        resumed = ob.append("m", T0, poll(0))
    assert resumed == first + schema.SEQ_BLOCK + 1  # above every seq reserved (durably) before
    assert "not closed cleanly before a reboot" in caplog.text
    unclean("an-earlier-boot", "FULL")  # every commit was on disk: nothing to skip
    with Outbox(path) as ob:
        assert ob.append("m", T0, poll(0)) == resumed + 1


def test_seq_reservation_is_fsynced_once_per_block(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as ob:
        first = ob.append("m", T0, poll(0))
        assert ob._db is not None
        reserved = lambda: ob._db.execute(  # noqa: E731
            "SELECT value FROM meta WHERE key = 'seq_reserved'").fetchone()[0]
        assert reserved() == first + schema.SEQ_BLOCK
        ob.append_many([("m", T0, poll(0, 2))] * schema.SEQ_BLOCK)
        assert reserved() == first + schema.SEQ_BLOCK
        batch = ob.append_many([("m", T0, poll(0, 2))] * 3)
        assert reserved() == batch[-1] + schema.SEQ_BLOCK
        assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # back to NORMAL


# -- eviction --------------------------------------------------------------------------------------


def test_eviction_keeps_the_newest_counts_and_bounds_the_file(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "outbox.db"
    budget = 256 * 1024
    sizes = []
    with caplog.at_level(logging.WARNING), Outbox(path, max_bytes=budget) as ob:
        seqs = []
        for i in range(6000):
            seqs.append(ob.append(f"m{i % 7}", T0 + i, poll(i, dead=i % 50 == 0)))
            assert ob.bytes_on_disk() <= budget
            if i % 1000 == 999:
                sizes.append(path.stat().st_size)
        stats = ob.stats()
        kept = all_pending(ob)
    assert stats.evicted_total > 0 and stats.evicted_total + stats.depth == 6000
    assert kept == seqs[-stats.depth:]  # oldest first out; the newest are all there
    assert stats.last_evicted is not None and stats.last_evicted[1] == kept[0] - 1
    assert max(sizes) <= budget and sizes[-1] == sizes[2]  # steady state: freed pages are reused
    assert "evicted the" in caplog.text and f"seq {stats.last_evicted[0]}..{stats.last_evicted[1]}" in \
        caplog.text
    with Outbox(path, max_bytes=budget) as ob:  # the count survives a restart
        assert ob.stats().evicted_total == stats.evicted_total
        assert ob.stats().last_evicted == stats.last_evicted
        newest = ob.pending(after_seq=seqs[-2])[0]
        assert all(same(s, r) for s, r in zip(newest.readings, poll(5999), strict=True))


def test_eviction_never_takes_the_append_in_progress(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", max_bytes=256 * 1024) as ob:
        older = ob.append_many([("m", T0 + i, poll(i)) for i in range(800)])  # ~ 2/3 of the budget
        batch = ob.append_many([("n", T0 + i, poll(i, points=60)) for i in range(150)])  # ~ 1/3
        kept = all_pending(ob)
        assert kept[-len(batch):] == batch  # the whole new batch, whatever it cost of the older
        assert ob.stats().evicted_total == len(older) + len(batch) - len(kept)
        huge = [("n", T0 + i, poll(i, points=60)) for i in range(1000)]  # more than the budget
        with pytest.raises(OutboxFullError, match="do not fit in the budget"):
            ob.append_many(huge)
        assert all_pending(ob) == kept  # refused whole, and nothing evicted for it


def test_default_budget_holds_30_days_of_realistic_polls(tmp_path: Path) -> None:
    """100 meters x 20 points every minute for 30 days, measured on simulator readings."""
    from drivers.profiles import load_all
    from drivers.reader import MeterReader
    from simulators.local import LocalSource
    from simulators.meter import SimulatedMeter

    clock = [T0]
    variant = load_all()["eastron-sdm630"].variants["default"]
    meter = SimulatedMeter(variant, 1, seed=4, clock=lambda: clock[0])
    reader = MeterReader(LocalSource({1: meter}), variant, 1,
                         quantities=[p.quantity for p in variant.points[:20]], clock=lambda: clock[0])
    polls = []
    for _ in range(50):
        clock[0] += 60
        polls.append((clock[0], reader.read()))
    path = tmp_path / "o.db"
    with Outbox(path) as ob:
        for k in range(100):
            ob.append_many([(f"m{j}", ts + 3000 * k, rs) for j, (ts, rs) in enumerate(polls)])
    with sqlite3.connect(path) as db:
        used = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count"
                                                                           ).fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    per_message = used * page_size / 5000
    thirty_days = per_message * 100 * 60 * 24 * 30
    # 1 KiB pages (flash-friendly, docs/outbox.md) hold ~166 bytes a message against ~130 with 4 KiB
    assert thirty_days * 1.4 <= DEFAULT_MAX_BYTES, per_message


# -- full disk -------------------------------------------------------------------------------------


def test_full_store_refuses_clearly_and_keeps_everything_accepted(tmp_path: Path) -> None:
    """PRAGMA max_page_count below the budget gives the same SQLITE_FULL as a full disk."""
    path = tmp_path / "outbox.db"
    ob = Outbox(path, max_bytes=64 << 20)
    assert ob._db is not None
    pages = ob._db.execute("PRAGMA page_count").fetchone()[0]
    ob._db.execute(f"PRAGMA max_page_count = {pages + 40}")  # the "disk" holds 40 more pages
    seqs: list[int] = []
    refused = 0
    for i in range(3000):
        try:
            seqs.append(ob.append("m", T0 + i, poll(i)))
        except OutboxFullError as exc:
            assert str(path) in str(exc) and "free disk space" in str(exc)
            refused += 1
    stats = ob.stats()
    assert refused > 0 and stats.full_errors == refused
    assert stats.evicted_total == 0  # only the configured budget evicts
    assert all_pending(ob) == seqs  # everything accepted is there
    ob._db.execute("PRAGMA max_page_count = 100000")  # space is back
    after = ob.append("m", T0, poll(1))
    assert after > seqs[-1]
    ob.close()
    with Outbox(path) as again:
        assert all_pending(again) == [*seqs, after]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB filesystem (tmpfs); mounting needs root."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 1 MiB tmpfs needs root; the max_page_count test covers SQLITE_FULL")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:  # lazily if a failed test left a file open, so one failure does not cascade
        if subprocess.run(["umount", str(mount)], check=False).returncode:
            subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk`, as a runaway log would."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_real_full_disk_outbox_alone_keeps_everything_accepted(tiny_disk: Path) -> None:
    path = tiny_disk / "outbox.db"
    seqs: list[int] = []
    with Outbox(path, max_bytes=64 << 20) as ob:  # a budget far above the disk
        for i in range(8000):
            with contextlib.suppress(OutboxFullError):
                seqs.append(ob.append("m", T0 + i, poll(i)))
        stats = ob.stats()
        assert stats.full_errors > 0 and stats.evicted_total == 0
        assert stats.bytes_on_disk <= 1 << 20
    copy = tiny_disk.parent / "copy"  # opening replays the WAL, which needs room: read a copy
    copy.mkdir()
    for f in tiny_disk.glob("outbox.db*"):
        shutil.copy(f, copy / f.name)
    with Outbox(copy / "outbox.db", max_bytes=64 << 20) as ob:
        assert all_pending(ob) == seqs


def test_real_full_disk_refuses_what_cannot_fit_then_recovers(tiny_disk: Path) -> None:
    path = tiny_disk / "outbox.db"
    ob = Outbox(path, max_bytes=64 << 20)
    returned = [ob.append("m", T0 + i, poll(i)) for i in range(20)]
    filler = fill(tiny_disk)  # something else took the whole disk
    big = [Reading(f"q{j}", None, "", Quality.COMM_ERROR, T0, f"error {j} " + "x" * 30) for j in range(3000)]
    for _ in range(2):
        with pytest.raises(OutboxFullError) as info:
            ob.append("big", T0, big)
        assert str(path) in str(info.value) and "free disk space" in str(info.value)
    for i in range(20):  # small polls go on as far as evicting the oldest makes room
        with contextlib.suppress(OutboxFullError):
            returned.append(ob.append("m", T0 + i, poll(i)))
    stats = ob.stats()
    assert stats.full_errors >= 2  # refused, counted, and the caller went on
    filler.unlink()
    returned.append(ob.append("big", T0, big))  # space is back: it fits now
    ob.close()
    with Outbox(path, max_bytes=64 << 20) as again:  # all kept but what was evicted (counted)
        last_evicted = stats.last_evicted[1] if stats.last_evicted else 0
        assert all_pending(again) == [s for s in returned if s > last_evicted]
        assert len(returned) - again.depth() == stats.evicted_total


def test_real_full_disk_at_start_is_a_clear_error(tiny_disk: Path) -> None:
    fill(tiny_disk)
    path = tiny_disk / "outbox.db"
    with pytest.raises(OutboxFullError) as info:
        Outbox(path)
    assert str(path) in str(info.value) and "free disk space" in str(info.value)


def test_real_full_disk_with_data_keeps_everything_committed(tiny_disk: Path) -> None:
    path = tiny_disk / "outbox.db"
    ob = Outbox(path, max_bytes=64 << 20)
    returned = [ob.append("m", T0 + i, poll(i)) for i in range(1500)]
    filler = fill(tiny_disk)
    for i in range(1000):
        with contextlib.suppress(OutboxFullError):  # counted, and the poller goes on
            returned.append(ob.append("m", T0 + i, poll(i)))
    stats = ob.stats()
    ob.close()
    filler.unlink()
    with Outbox(path, max_bytes=64 << 20) as again:
        last_evicted = stats.last_evicted[1] if stats.last_evicted else 0
        assert all_pending(again) == [s for s in returned if s > last_evicted]


# -- damaged files ---------------------------------------------------------------------------------


def test_garbage_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    garbage = random.Random(1).randbytes(8192)
    path.write_bytes(garbage)
    with pytest.raises(OutboxCorruptError) as info:
        Outbox(path)
    assert str(path) in str(info.value) and "mv " in str(info.value)
    assert path.read_bytes() == garbage


def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE readings (x)")
    before = path.read_bytes()
    with pytest.raises(OutboxCorruptError, match="not a metergate outbox"):
        Outbox(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("damage", ["pages", "truncate"])
def test_damaged_outbox_is_refused_naming_the_file(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as ob:
        ob.append_many([("m", T0 + i, poll(i)) for i in range(3000)])
    data = bytearray(path.read_bytes())
    if damage == "pages":
        data[10 * 4096:14 * 4096] = random.Random(2).randbytes(4 * 4096)
    else:
        del data[len(data) // 2:]
    path.write_bytes(data)
    with pytest.raises(OutboxCorruptError) as info:
        Outbox(path)
    assert str(path) in str(info.value) and "move the file aside" in str(info.value)
    assert path.read_bytes() == data  # never "repaired" by deleting


def test_a_directory_or_a_newer_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutboxError, match="not a regular file"):
        Outbox(tmp_path)
    path = tmp_path / "outbox.db"
    Outbox(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(OutboxError, match="newer metergate"):
        Outbox(path)


def test_one_undecodable_message_is_skipped_not_deleted(outbox: Outbox,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    seqs = [outbox.append("m", T0 + i, poll(i)) for i in range(3)]
    assert outbox._db is not None
    outbox._db.execute("UPDATE messages SET body = x'0203' WHERE seq = ?", (seqs[1],))
    with caplog.at_level(logging.ERROR):
        assert [m.seq for m in outbox.pending()] == [seqs[0], seqs[2]]
    assert f"seq {seqs[1]} cannot be decoded" in caplog.text
    assert outbox.depth() == 3


# -- two threads -----------------------------------------------------------------------------------


def test_writer_and_acker_threads_together(outbox: Outbox) -> None:
    appended: list[int] = []
    acked: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for i in range(1500):
                if i % 5 == 0:
                    appended.extend(outbox.append_many([(f"m{k}", T0 + i, poll(i, 5)) for k in range(4)]))
                else:
                    appended.append(outbox.append("m", T0 + i, poll(i, 5)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def acker() -> None:
        rng, last = random.Random(3), 0
        try:
            while True:
                batch = [m.seq for m in outbox.pending(after_seq=last, limit=50)]
                if not batch:
                    if done.is_set() and outbox.depth() == 0:
                        return
                    time.sleep(0.0005)
                    continue
                last = batch[-1]
                rng.shuffle(batch)  # PUBACKs come back in any order
                outbox.ack(batch[:20])
                outbox.ack(batch[20:])
                acked.extend(batch)
                outbox.depth(), outbox.stats()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=acker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert sorted(acked) == sorted(appended) and len(appended) == 1200 * 1 + 300 * 4
    assert appended == sorted(appended)
    assert outbox.depth() == 0 and all_pending(outbox) == []
