"""Group commit: bus threads hand their polls to one writer thread that commits whatever has queued
up in one outbox transaction.

With many buses each committing its own transaction, the bus threads queue on the outbox lock and
every poll costs a WAL write of several pages; one writer committing batches costs a fraction of
both (benchmarks/gateway_throughput.py). There is no added delay: under light load each poll is
committed alone as soon as it arrives; under heavy load batches grow by themselves while the
previous transaction runs. A poll is accepted once it is committed: a crash loses at most the polls
still queued (milliseconds' worth), never a committed one.

After each commit the committed messages are handed to `on_committed` (the publisher takes them
from memory instead of reading them back; the outbox stays the source of truth).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from gateway.outbox import CommittedMessage, Outbox, OutboxError
from gateway.scheduler import PollResult
from gateway.threadname import name_this_thread

log = logging.getLogger("metergate.outbox")

MAX_QUEUED = 50_000  # polls waiting for the writer; beyond it a poll is refused and counted
MAX_BATCH = 1_000


class OutboxWriter:
    def __init__(self, outbox: Outbox, *,
                 on_committed: Callable[[Sequence[CommittedMessage]], None],
                 on_error: Callable[[int, OutboxError], None]) -> None:
        self.outbox = outbox
        self._on_committed = on_committed
        self._on_error = on_error
        self._queue: queue.Queue[PollResult | None] = queue.Queue(MAX_QUEUED)
        self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)

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
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        name_this_thread("outbox-writer")
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch = [] if first is None else [first]
            stopping = first is None
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._commit(batch)

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
