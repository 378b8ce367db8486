"""Group commit: bus threads hand their polls to one writer thread that commits them together in
one outbox transaction, once per `commit_interval_s` (the site config's `outbox.commit_interval`,
1 s by default).

Every commit writes whole database pages to the WAL — the table's tail, the sequence counter, the
header — however little it adds, so on flash storage the number of commits, not the bytes of the
readings, decides the wear: committing each of 20 polls a second on its own wrote 8.4 KB per poll for
0.13 KB of readings; one commit a second writes a fraction of that (docs/outbox.md, "Writes to the
storage"). With an interval of 0 each poll is committed as soon as it arrives (under load batches
still grow by themselves while the previous transaction runs).

A poll is accepted once it is committed, and nothing is published before its commit: a crash loses
at most the polls still waiting for their commit (up to one interval's worth, never published, so
never acknowledged by the broker), never a committed one. A clean stop commits what is waiting.

After each commit the committed messages are handed to `on_committed` (the publisher takes them
from memory instead of reading them back; the outbox stays the source of truth).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from gateway.outbox import CommittedMessage, Outbox, OutboxError
from gateway.scheduler import PollResult
from gateway.threadname import name_this_thread

log = logging.getLogger("metergate.outbox")

MAX_QUEUED = 50_000  # polls waiting for the writer; beyond it a poll is refused and counted
MAX_BATCH = 20_000  # polls in one transaction at the most (1,000 meters a second fit in one)


class OutboxWriter:
    def __init__(self, outbox: Outbox, *,
                 on_committed: Callable[[Sequence[CommittedMessage]], None],
                 on_error: Callable[[int, OutboxError], None],
                 commit_interval_s: float = 0.0) -> None:
        self.outbox = outbox
        self.commit_interval_s = commit_interval_s
        self._on_committed = on_committed
        self._on_error = on_error
        self._queue: queue.Queue[PollResult | None] = queue.Queue(MAX_QUEUED)
        self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
        self._stopping = threading.Event()  # ends the wait for the interval at once

    def start(self) -> None:
        self._thread.start()

    def submit(self, poll: PollResult) -> bool:
        """Queue a poll for the next commit; False (and counted by the caller) if the writer is
        so far behind that the queue is full."""
        try:
            self._queue.put_nowait(poll)
        except queue.Full:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Commit everything queued, then stop."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        name_this_thread("outbox-writer")
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch, stopping = self._gather(first, time.monotonic() + self.commit_interval_s)
            self._commit(batch)

    def _gather(self, first: PollResult, deadline: float) -> tuple[list[PollResult], bool]:
        """`first` and what has arrived by `deadline`; True when the stop came, which ends the wait
        at once. The writer sleeps through the interval and then takes the queue in one go: waiting
        on the queue itself would wake it (and hand it the interpreter lock) for every poll."""
        wait = deadline - time.monotonic()
        if wait > 0:
            self._stopping.wait(wait)
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, batch: list[PollResult]) -> None:
        try:
            committed = self.outbox.append_messages([(p.meter_id, p.ts, p.readings) for p in batch])
        except OutboxError as exc:
            self._on_error(len(batch), exc)
        except Exception:  # one malformed poll must not cost the batch: store them one by one
            log.exception("outbox writer: a batch of %d polls failed; storing them one by one",
                          len(batch))
            self._commit_each(batch)
        else:
            self._on_committed(committed)

    def _commit_each(self, batch: list[PollResult]) -> None:
        committed: list[CommittedMessage] = []
        for p in batch:
            try:
                committed += self.outbox.append_messages([(p.meter_id, p.ts, p.readings)])
            except Exception as exc:  # counted and reported; the writer goes on
                error = exc if isinstance(exc, OutboxError) else OutboxError(
                    str(self.outbox.path), f"poll of {p.meter_id} not stored: {exc}")
                self._on_error(1, error)
        self._on_committed(committed)
