"""Benchmark: outbox bytes per message, projected 30-day size, and append throughput.

    python -m benchmarks.outbox_budget [--messages 200000] [--json-messages 40000] [--threading]

The workload is real: 100 simulated electricity meters (Eastron SDM630, CHINT DTSU666 in its native
and Huawei register maps) read through the product's MeterReader, 20 points each, polled once a
simulated minute, with a few meters dead (comm_error with their error text) and a few reading NaN or
sentinels (invalid, value None). Each poll is stored once with the outbox's encoding and once as the
baseline -- the MQTT JSON payload as text in an otherwise identical SQLite table -- in the same run.

Sizes are the pages holding data after a checkpoint ((page_count - freelist) x page_size), measured
at two sizes to check they grow linearly, then projected to 30 days of 100 meters x 20 points at
1-minute intervals (4.32 million messages). Throughput: appends per second one transaction per
message (the scheduler's worst case) and batched per poll cycle (append_many of 100), with
synchronous=NORMAL and FULL; and a writer thread appending while a publisher thread reads and acks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from drivers.profiles import load_all
from drivers.reader import MeterReader, Reading
from gateway.outbox import DEFAULT_MAX_BYTES, Outbox, budget
from simulators.local import LocalSource
from simulators.meter import SimulatedMeter

METERS = 100
POINTS = 20
MINUTES_30_DAYS = 30 * 24 * 60
MESSAGES_30_DAYS = METERS * MINUTES_30_DAYS  # 4.32 million
MODELS = (("eastron-sdm630", "default"), ("chint-dtsu666", "native"), ("chint-dtsu666", "huawei"))
DEAD = {7, 42, 77}  # meters that do not answer: every reading comm_error with the timeout text
NAN = {13, 58}  # meters whose values read NaN or their sentinel: quality invalid, value None
START = 1_790_000_000.0

Poll = tuple[str, float, list[Reading]]  # (meter, request time, readings): one message


class _Clock:
    """The simulated minute of the meters' physics."""

    def __init__(self) -> None:
        self.t = START

    def __call__(self) -> float:
        return self.t


class _RequestClock:
    """The readers' clock: each request goes out a little after the one before, as on a real bus
    (about 42 ms: one RTU request and answer at 9600 baud), so readings carry their own times."""

    def __init__(self, minute: _Clock) -> None:
        self.minute = minute
        self.base = minute.t
        self.n = 0

    def __call__(self) -> float:
        if self.minute.t != self.base:
            self.base, self.n = self.minute.t, 0
        self.n += 1
        return self.base + 0.0421337 * self.n


def fleet(clock: _Clock) -> list[tuple[str, MeterReader]]:
    profiles = load_all()
    out = []
    for i in range(METERS):
        pid, variant_name = MODELS[i % len(MODELS)]
        variant = profiles[pid].variants[variant_name]
        meter = SimulatedMeter(variant, 1, seed=i, clock=clock)
        if i in DEAD:
            meter.inject("no_answer")
        if i in NAN:
            meter.inject("nan")
        quantities = [p.quantity for p in variant.points[:POINTS]]
        reader = MeterReader(LocalSource({1: meter}), variant, 1, quantities=quantities,
                             clock=_RequestClock(clock))
        out.append((f"b{i // 40 + 1}-{pid}-{i:03d}", reader))
    return out


def sample_polls(cycles: int) -> list[list[Poll]]:
    """`cycles` poll cycles of every meter, one simulated minute apart (real simulator values)."""
    clock = _Clock()
    meters = fleet(clock)
    polls = []
    for _ in range(cycles):
        clock.t += 60.0
        polls.append([(name, clock.t, reader.read()) for name, reader in meters])  # ts: the deadline
    return polls


def workload(polls: list[list[Poll]], count: int) -> Iterator[list[Poll]]:
    """Poll cycles totalling `count` messages: the sampled cycles again and again, each a minute on.

    Rows do not share bytes (no compression across messages), so repeating sampled values with new
    timestamps measures the same bytes as new values would."""
    cycle_s = 60.0 * len(polls)
    made = 0
    for n in itertools.count():
        cycle = polls[n % len(polls)]
        shift = cycle_s * (n // len(polls))
        batch = [(m, ts + shift, [_shift(r, shift) for r in rs]) for m, ts, rs in cycle]
        batch = batch[:count - made]
        made += len(batch)
        yield batch
        if made >= count:
            return


def _shift(r: Reading, shift: float) -> Reading:
    return Reading(r.quantity, r.value, r.unit, r.quality, r.ts + shift, r.error)


def json_payload(seq: int, meter: str, ts: float, readings: Sequence[Reading]) -> str:
    """The baseline: a reading message as JSON, the shape the publisher puts on MQTT."""
    return json.dumps({"seq": seq, "meter": meter, "ts": ts, "readings": [
        {"quantity": r.quantity, "value": r.value, "unit": r.unit, "quality": r.quality.value,
         "ts": r.ts, "error": r.error or None} for r in readings]}, separators=(",", ":"))


def payload_bytes(polls: list[list[Poll]]) -> float:
    sizes = [len(json_payload(1_790_000_000_000_000, m, ts, rs)) for cycle in polls for m, ts, rs in cycle]
    return sum(sizes) / len(sizes)


def data_bytes(path: Path) -> int:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * db.execute("PRAGMA page_size").fetchone()[0])


def size_compact(polls: list[list[Poll]], count: int, tmp: Path) -> float:
    path = tmp / f"compact-{count}.db"
    with Outbox(path, max_bytes=64 << 30) as ob:
        for batch in workload(polls, count):
            ob.append_many(batch)
    return data_bytes(path) / count


def size_json(polls: list[list[Poll]], count: int, tmp: Path) -> float:
    path = tmp / f"json-{count}.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)")
    seq = 1_790_000_000_000_000  # the same size of number as the outbox's seq
    for batch in workload(polls, count):
        db.execute("BEGIN")
        for meter, ts, readings in batch:
            seq += 1
            db.execute("INSERT INTO messages (seq, payload) VALUES (?, ?)",
                       (seq, json_payload(seq, meter, ts, readings)))
        db.execute("COMMIT")
    db.close()
    return data_bytes(path) / count


def throughput(polls: list[list[Poll]], count: int, tmp: Path, *, batched: bool,
               synchronous: str) -> float:
    path = tmp / f"rate-{batched}-{synchronous}-{count}.db"
    with Outbox(path, max_bytes=64 << 30, synchronous=synchronous) as ob:
        start = time.perf_counter()
        for batch in workload(polls, count):
            if batched:
                ob.append_many(batch)
            else:
                for meter, ts, readings in batch:
                    ob.append(meter, ts, readings)
        return count / (time.perf_counter() - start)


def concurrent(polls: list[list[Poll]], count: int, tmp: Path) -> tuple[float, float]:
    """A writer appending one message per transaction while a publisher reads 100 and acks them."""
    path = tmp / f"concurrent-{count}.db"
    done = threading.Event()
    acked = 0
    with Outbox(path, max_bytes=64 << 30) as ob:
        def publisher() -> None:
            nonlocal acked
            last = 0
            while True:
                batch = ob.pending(after_seq=last, limit=100)
                if batch:
                    last = batch[-1].seq
                    acked += ob.ack(m.seq for m in reversed(batch))  # acks come back in any order
                    time.sleep(0.002)  # a publisher collects PUBACKs before acking
                elif done.is_set():
                    return
                else:
                    time.sleep(0.001)

        thread = threading.Thread(target=publisher)
        start = time.perf_counter()
        thread.start()
        for batch in workload(polls, count):
            for meter, ts, readings in batch:
                ob.append(meter, ts, readings)
        done.set()
        thread.join()
        elapsed = time.perf_counter() - start
        assert acked == count and ob.depth() == 0, (acked, ob.depth())
    return count / elapsed, acked / elapsed


def quick_check_rate(tmp: Path, polls: list[list[Poll]], count: int) -> float:
    """MB/s of the integrity check run when the outbox opens."""
    path = tmp / f"check-{count}.db"
    with Outbox(path, max_bytes=64 << 30) as ob:
        for batch in workload(polls, count):
            ob.append_many(batch)
    size = path.stat().st_size
    start = time.perf_counter()
    Outbox(path, max_bytes=64 << 30).close()
    return size / 1e6 / (time.perf_counter() - start)


def threading_comparison(tmp: Path, count: int = 20000) -> None:
    """Why one connection and a lock: the same SQL with a connection per thread is no faster."""
    body = bytes(120)
    for sync in ("NORMAL", "FULL"):
        for mode in ("lock", "per-thread"):
            rate = _raw_writer_acker(tmp / f"threads-{mode}-{sync}.db", mode, sync, body, count)
            print(f"  {mode:<11} synchronous={sync:<6} {rate:>9,.0f} appends/s with a concurrent acker")


def _raw_writer_acker(path: Path, mode: str, sync: str, body: bytes, count: int) -> float:
    shared = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    shared.execute("PRAGMA journal_mode = WAL")
    shared.execute(f"PRAGMA synchronous = {sync}")
    shared.execute("CREATE TABLE m (seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB)")
    lock = threading.Lock() if mode == "lock" else None
    done = threading.Event()

    def connection() -> sqlite3.Connection:
        if lock is not None:
            return shared
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        db.execute(f"PRAGMA synchronous = {sync}")
        return db

    def locked() -> threading.Lock | _NoLock:
        return lock if lock is not None else _NoLock()

    def acker() -> None:
        db, last = connection(), 0
        while True:
            with locked():
                rows = db.execute("SELECT seq FROM m WHERE seq > ? ORDER BY seq LIMIT 100",
                                  (last,)).fetchall()
            if rows:
                last = rows[-1][0]
                with locked():
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany("DELETE FROM m WHERE seq = ?", rows)
                    db.execute("COMMIT")
                time.sleep(0.002)
            elif done.is_set():
                return
            else:
                time.sleep(0.001)

    thread = threading.Thread(target=acker)
    start = time.perf_counter()
    thread.start()
    db = connection()
    for _ in range(count):
        with locked():
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO m (body) VALUES (?)", (body,))
            db.execute("COMMIT")
    done.set()
    thread.join()
    return count / (time.perf_counter() - start)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def usable_bytes(max_bytes: int) -> float:
    """Data the budget holds once full: less the WAL and its index, at eviction's low-water mark."""
    return (max_bytes - budget.WAL_RESERVE_MAX - budget.SHM_BYTES) * budget.LOW_WATER


def report_sizes(polls: list[list[Poll]], messages: int, json_messages: int, tmp: Path) -> float:
    """Print bytes per message for both encodings and the 30-day projection; the outbox's figure."""
    half, j_half_n = messages // 2, json_messages // 2
    c_half, c_full = size_compact(polls, half, tmp), size_compact(polls, messages, tmp)
    j_half, j_full = size_json(polls, j_half_n, tmp), size_json(polls, json_messages, tmp)
    print("\nbytes per message (one poll of one meter, 20 readings), data pages after checkpoint:")
    print(f"  outbox encoding  {c_half:7.1f} at {half:,} messages, {c_full:7.1f} at {messages:,} "
          f"(linearity {c_full / c_half - 1:+.1%})")
    print(f"  JSON as text     {j_half:7.1f} at {j_half_n:,} messages, {j_full:7.1f} at "
          f"{json_messages:,} (linearity {j_full / j_half - 1:+.1%})")
    raw = payload_bytes(polls)
    print(f"  ratio            JSON / outbox = {j_full / c_full:.1f}x (the JSON itself averages {raw:.0f} "
          f"bytes, {raw / c_full:.1f}x; SQLite fits one such row per 4 KiB page)")
    projected, projected_json = c_full * MESSAGES_30_DAYS, j_full * MESSAGES_30_DAYS
    print(f"\n30 days of {METERS} meters x {POINTS} points at 1 min = {MESSAGES_30_DAYS:,} messages:")
    print(f"  outbox encoding  {projected / 1e9:6.2f} GB")
    print(f"  JSON as text     {projected_json / 1e9:6.2f} GB")
    usable = usable_bytes(DEFAULT_MAX_BYTES)
    days = usable / (c_full * METERS * 24 * 60)
    print(f"  default budget   {DEFAULT_MAX_BYTES / 2**30:.2f} GiB ({DEFAULT_MAX_BYTES:,} bytes; "
          f"{usable / 1e9:.2f} GB for data after the WAL reserve and eviction's low-water mark) holds "
          f"{days:.0f} days -> 30 days {'fit' if days >= 30 else 'DO NOT FIT'}, "
          f"margin {usable / projected:.2f}x")
    return c_full


def report_rates(polls: list[list[Poll]], messages: int, tmp: Path) -> None:
    single_n = min(messages, 20_000)
    print("\nappend throughput (messages/s; a message is one meter's poll of 20 readings):")
    for sync in ("NORMAL", "FULL"):
        single = throughput(polls, single_n, tmp, batched=False, synchronous=sync)
        batched = throughput(polls, messages if sync == "NORMAL" else single_n, tmp, batched=True,
                             synchronous=sync)
        print(f"  synchronous={sync:<6} one per transaction {single:>9,.0f}   "
              f"batched per poll cycle (100) {batched:>9,.0f}")
    appended, acked = concurrent(polls, single_n, tmp)
    print(f"  writer + publisher threads: {appended:,.0f} appends/s (one per transaction) while "
          f"{acked:,.0f} messages/s are read and acked")
    rate = quick_check_rate(tmp, polls, messages // 2)
    print(f"\nintegrity check on open (PRAGMA quick_check): {rate:,.0f} MB/s")


def describe(polls: list[list[Poll]], seconds: float) -> None:
    readings = [r for cycle in polls for _, _, rs in cycle for r in rs]
    shares = {q: sum(r.quality == q for r in readings) / len(readings)
              for q in sorted({r.quality for r in readings})}
    models = ", ".join(f"{p}/{v}" for p, v in MODELS)
    print(f"workload: {METERS} simulated meters x {POINTS} points ({models}), {len(polls)} distinct "
          f"minutes sampled in {seconds:.1f} s; qualities "
          + ", ".join(f"{q} {share:.1%}" for q, share in shares.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000, help="outbox messages (largest size)")
    parser.add_argument("--json-messages", type=int, default=40_000, help="baseline messages")
    parser.add_argument("--cycles", type=int, default=60, help="distinct poll cycles sampled")
    parser.add_argument("--threading", action="store_true",
                        help="also compare one connection + lock with a connection per thread")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    polls = sample_polls(args.cycles)
    describe(polls, time.perf_counter() - start)
    with tempfile.TemporaryDirectory(prefix="outbox-bench-") as tmpdir:
        tmp = Path(tmpdir)
        per_message = report_sizes(polls, args.messages, args.json_messages, tmp)
        report_rates(polls, args.messages, tmp)
        if args.threading:
            print("\nthreading model, raw SQL, one writer + one acker thread:")
            threading_comparison(tmp)
    ok = per_message * MESSAGES_30_DAYS <= usable_bytes(DEFAULT_MAX_BYTES)
    print(f"\nresult: {'PASS' if ok else 'FAIL'} (the default budget holds >= 30 days)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
