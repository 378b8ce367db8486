"""The group-commit writer: batches, keeps order, isolates a malformed poll, counts failures, hands
what it committed on."""

from __future__ import annotations

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
