"""The poll queue of one bus: earliest deadline first, round robin among equal deadlines, missed
deadlines skipped instead of queued.

- Every (meter, poll group) is a task with one pending deadline.
- The task with the earliest deadline runs first; among tasks due at the same instant, the one
  served longest ago runs first, so when a bus cannot serve everything in one period the meters left
  over go first in the next one (no meter starves).
- A task whose pending deadline is a whole interval or more in the past (the bus fell behind) jumps
  to its latest deadline at or before now; the deadlines jumped over are counted as missed. A task
  is therefore at most one poll behind: there is never a burst of catch-up polls.
- The first deadline of a task is the current period's boundary (already passed): every group is
  polled once right at start, then at its boundaries. That start-up deadline is not counted as
  missed if the first cycle runs past the next boundary.
- If the wall clock steps back by more than an interval, pending deadlines are realigned to it.

Pure: the caller passes the time. Not thread-safe: one bus thread owns it.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

from gateway.scheduler.deadlines import Aligner, latest_deadline, next_deadline, utc_aligner
from site_config.model import Meter, PollGroup


@dataclass(eq=False, slots=True)
class PollTask:
    meter: Meter
    index: int  # the group's index in meter.poll
    group: PollGroup
    interval_s: float  # effective interval: configured × the bus's stretch factor
    due: float = 0.0
    served: int = 0  # turn of the last service (lower = longer ago)
    starting: bool = True  # still on its start-up deadline
    reader: Any = None  # the MeterReader of this (meter, group), set by the bus worker

    @property
    def name(self) -> str:
        return f"{self.meter.id}[{self.index}]"


# (due, served, seq, task): a plain tuple, compared in C (a dataclass with order=True built two
# tuples per comparison, a few per push and pop); seq is unique, so a task is never compared
_Entry = tuple[float, int, int, PollTask]


class PollQueue:
    def __init__(self, tasks: list[PollTask], now: float, *, align: Aligner = utc_aligner) -> None:
        self._align = align
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._turn = itertools.count(1)
        for position, task in enumerate(tasks):
            task.due = latest_deadline(task.interval_s, now, align(task.interval_s, now))
            task.served = position - len(tasks)  # config order first
            task.starting = True
            self._push(task)
        self.missed = 0  # deadlines skipped since the queue was made

    def __len__(self) -> int:
        return len(self._heap)

    def _push(self, task: PollTask) -> None:
        heapq.heappush(self._heap, (task.due, task.served, next(self._seq), task))

    def next_due(self) -> float | None:
        """The earliest pending deadline (None if the queue is empty)."""
        return self._heap[0][0] if self._heap else None

    def pop(self, now: float) -> tuple[PollTask | None, int]:
        """(the task to run now or None if nothing is due yet, deadlines missed while looking)."""
        missed = 0
        while self._heap:
            task = self._heap[0][3]
            interval = task.interval_s
            if task.due > now:
                if task.due - now > interval + 1.0:  # the clock stepped back: realign
                    task.due = next_deadline(interval, now, self._align(interval, now))
                    heapq.heapreplace(self._heap, (task.due, task.served, next(self._seq), task))
                    continue
                break
            latest = latest_deadline(interval, now, self._align(interval, now))
            if task.due < latest:  # fell a whole interval behind: skip to the latest deadline
                missed += max(1, round((latest - task.due) / interval)) - (1 if task.starting else 0)
                task.starting = False
                task.due = latest
                heapq.heapreplace(self._heap, (task.due, task.served, next(self._seq), task))
                continue
            heapq.heappop(self._heap)
            self.missed += missed
            return task, missed
        self.missed += missed
        return None, missed

    def reschedule(self, task: PollTask) -> None:
        """Put a task that was just served (or skipped) back with its next deadline."""
        interval = task.interval_s
        task.due = next_deadline(interval, task.due, self._align(interval, task.due))
        task.served = next(self._turn)
        task.starting = False
        self._push(task)
