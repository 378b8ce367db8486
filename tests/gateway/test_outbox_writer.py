"""The group-commit writer: batches, keeps order, isolates a malformed poll, counts failures, hands
what it committed on."""

from __future__ import annotations

import time
from pathlib import Path

from drivers.reader import Reading
from gateway.outbox import CommittedMessage, Outbox, OutboxError
from gateway.outbox_writer import OutboxWriter
from gateway.scheduler import PollResult

T0 = 1_700_000_000.0


def _poll(meter: str, i: int, quality: str = "ok") -> PollResult:
    # a quality outside the vocabulary makes the outbox codec refuse the poll
    reading = Reading("power_active", float(i), "W", quality, T0 + i)  # type: ignore[arg-type]
    return PollResult(meter, 1.0, T0 + i, [reading], "ok")


def test_commits_everything_in_order_and_isolates_a_bad_poll(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    errors: list[tuple[int, OutboxError]] = []
    handed: list[CommittedMessage] = []
    writer = OutboxWriter(outbox, on_committed=handed.extend,
                          on_error=lambda n, e: errors.append((n, e)))
    polls = [_poll(f"m{i % 3}", i) for i in range(500)]
    polls.insert(250, _poll("bad", 0, quality="no-such-quality"))
    for p in polls:  # queued before the writer runs: they go in batches
        assert writer.submit(p)
    writer.start()
    writer.stop()
    stored = outbox.pending(limit=1000)
    assert [(m.meter, m.ts) for m in stored] == [(p.meter_id, p.ts) for p in polls
                                                if p.meter_id != "bad"]
    assert len(errors) == 1 and errors[0][0] == 1 and "bad" in str(errors[0][1])
    # the hand-off is exactly what is stored, in order: the good polls of the bad one's batch too
    assert [(m.seq, m.meter, m.ts) for m in handed] == [(m.seq, m.meter, m.ts) for m in stored]
    def fields(m: object) -> list[tuple[object, ...]]:
        return [(r.quantity, r.value, r.unit, r.quality, r.ts, r.error)
                for r in m.readings]  # type: ignore[attr-defined]
    assert [fields(m) for m in handed] == [fields(m) for m in stored]
    outbox.close()


class _CountingOutbox(Outbox):
    """An outbox that records the size of every transaction the writer commits."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[int] = []

    def append_messages(self, items):  # type: ignore[no-untyped-def]
        self.batches.append(len(items))
        return super().append_messages(items)


def _started(tmp_path: Path, interval_s: float
             ) -> tuple[_CountingOutbox, OutboxWriter, list[CommittedMessage]]:
    """A counting outbox, a running writer with `interval_s`, and what it has handed on."""
    outbox = _CountingOutbox(tmp_path / "outbox.sqlite")
    handed: list[CommittedMessage] = []
    writer = OutboxWriter(outbox, on_committed=handed.extend, on_error=lambda n, e: None,
                          commit_interval_s=interval_s)
    writer.start()
    return outbox, writer, handed


def test_polls_of_one_commit_interval_go_in_one_transaction(tmp_path: Path) -> None:
    outbox, writer, handed = _started(tmp_path, 0.6)
    first = time.monotonic()
    for i in range(20):  # one poll every 10 ms: all inside one interval
        writer.submit(_poll(f"m{i}", i))
        time.sleep(0.01)
    assert not handed  # nothing is committed, so nothing offered, before the interval is over
    deadline = time.monotonic() + 5
    while not handed and time.monotonic() < deadline:
        time.sleep(0.01)
    waited = time.monotonic() - first
    assert outbox.batches == [20] and len(handed) == 20
    assert 0.55 <= waited < 2.0  # committed when the interval of the first poll ended
    writer.stop()
    outbox.close()


def test_a_stop_commits_what_waits_at_once(tmp_path: Path) -> None:
    outbox, writer, _ = _started(tmp_path, 30.0)
    for i in range(5):
        writer.submit(_poll("m", i))
    started = time.monotonic()
    writer.stop()
    assert time.monotonic() - started < 2.0  # not the 30 s of the interval
    assert outbox.batches == [5] and outbox.depth() == 5
    outbox.close()


def test_an_interval_of_zero_commits_each_poll_as_it_arrives(tmp_path: Path) -> None:
    outbox, writer, handed = _started(tmp_path, 0.0)
    for i in range(3):
        writer.submit(_poll("m", i))
        deadline = time.monotonic() + 5
        while len(handed) <= i and time.monotonic() < deadline:
            time.sleep(0.005)
    assert outbox.batches == [1, 1, 1]
    writer.stop()
    outbox.close()
