"""The notifier: a bounded queue in, one worker thread out to the channels, every attempt recorded.

    notifier = Notifier(settings, store_path)
    notifier.start()                 # sends what an earlier run left pending
    notifier.submit(notification)    # never blocks: a full queue drops it (counted, logged)
    notifier.close()                 # at stop: see below

- `submit` only puts into the queue, so the evaluation never waits on SMTP or HTTP.
- The worker routes each notification (routing.plan: channels and, with quiet hours, when), records
  one `pending` row per channel in the alert store, then attempts it when due. A failed attempt is
  tried again after a backoff (core.backoff: initial, doubled after each failure, capped, with jitter),
  until `retry.attempts` attempts were made or the receiver refused it for good; waiting deliveries
  sit in a schedule, so one failing channel never holds back the others (an attempt itself can, for
  at most the channel's timeout: one worker thread).
- At stop (`close`), for up to `drain` seconds the deliveries already due are still attempted (none
  is waited for); what is left stays `pending` in the store, with its attempts so far, and the next
  start sends it. An attempt cut short by the deadline may have gone out: delivery is at least once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.backoff import Backoff
from services.analytics.notify.config import Channel, EmailChannel, NotifySettings
from services.analytics.notify.errors import DeliveryFailed
from services.analytics.notify.mail import send_email
from services.analytics.notify.message import Notification
from services.analytics.notify.records import NotificationLog
from services.analytics.notify.routing import plan
from services.analytics.notify.webhook import post_webhook

log = logging.getLogger(__name__)

POLL_S = 0.2  # the worker looks at its schedule at least this often (and the clock may be a test's)
Sender = Callable[[Channel, Notification], None]


def send(ch: Channel, n: Notification) -> None:
    if isinstance(ch, EmailChannel):
        send_email(ch, n)
    else:
        post_webhook(ch, n)


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    row: int = field(compare=False)
    channel: str = field(compare=False)
    n: Notification = field(compare=False)
    attempts: int = field(compare=False, default=0)


class Notifier:
    def __init__(self, settings: NotifySettings, store_path: str | Path, *,
                 clock: Callable[[], float] = time.time, rng: Callable[[], float] = random.random,
                 sender: Sender = send, resume: bool = True) -> None:
        self.settings = settings
        self.store_path = Path(store_path)
        self.clock = clock
        self.rng = rng
        self.sender = sender
        self.resume = resume  # send what an earlier run left pending (False: a one-shot sender)
        self.inbox: queue.Queue[Notification] = queue.Queue(settings.queue)
        self.counts: Counter[str] = Counter()  # read with snapshot(): two threads write it
        self._counts_lock = threading.Lock()
        self._schedule: list[_Job] = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0  # accepted and not finished (delivered, failed or left pending at stop)
        self._thread: threading.Thread | None = None
        self._dropped_logged = False

    # -- the caller's side (the service's main thread) ----------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="analytics-notify", daemon=True)
        self._thread.start()

    def submit(self, n: Notification) -> bool:
        """Queue `n`; False (counted as `dropped`) if the queue is full. Never blocks."""
        with self._idle:
            self._busy += 1
        try:
            self.inbox.put_nowait(n)
        except queue.Full:
            with self._idle:
                self._busy -= 1
            self._count("dropped")
            if not self._dropped_logged:
                self._dropped_logged = True
                log.error("the notification queue is full (%d): notifications are dropped (counted as "
                          "notify_dropped; logged once)", self.settings.queue)
            return False
        self._count("submitted")
        return True

    def snapshot(self) -> dict[str, int]:
        """The counts (submitted, delivered, failed, retried, held, dropped, unrouted), a copy."""
        with self._counts_lock:
            return dict(self.counts)

    def _count(self, key: str) -> None:
        with self._counts_lock:
            self.counts[key] += 1

    def flush(self, timeout: float) -> bool:
        """Wait until every notification submitted is delivered or failed (True), or `timeout`."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, POLL_S))
        return True

    def close(self) -> None:
        """Stop: attempt what is due for up to `drain` seconds, leave the rest pending in the store."""
        self._stop.set()
        t = self._thread
        if t is None:
            return
        longest = max((c.timeout for c in self.settings.channels.values()), default=0.0)
        t.join(self.settings.drain_s + 1.0)
        if t.is_alive():
            # an attempt outlasts the deadline: keep the queued notifications ourselves
            log.warning("notifications: an attempt is still running after %.0f s (channel timeout up to "
                        "%.0f s); queued notifications are kept pending for the next start",
                        self.settings.drain_s, longest)
            store = NotificationLog(self.store_path)
            try:
                self._persist_inbox(store)
            finally:
                store.close()

    # -- the worker ----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            store = NotificationLog(self.store_path)
        except (OSError, sqlite3.Error) as exc:
            log.error("notifications: cannot open the alert store %s: %s; no notification is sent",
                      self.store_path, exc)
            self._count("worker_failed")
            return
        try:
            if self.resume:
                self._load_pending(store)
            while not self._stop.is_set():
                self._step(store)
            deadline = time.monotonic() + self.settings.drain_s
            self._accept_all(store)
            while self._schedule and time.monotonic() < deadline:
                job = self._schedule[0]
                if job.due > self.clock():
                    break  # a retry or a quiet-hours hold: not waited for at stop
                heapq.heappop(self._schedule)
                self._attempt(job, store)
            self._persist_inbox(store)
            with self._idle:  # what is left stays pending in the store
                self._busy -= len(self._schedule)
                self._idle.notify_all()
            if self._schedule:
                log.info("notifications: %d left pending in the store for the next start",
                         len(self._schedule))
        except Exception:
            log.exception("the notification worker failed; notifications are no longer sent")
            self._count("worker_failed")
        finally:
            store.close()

    def _step(self, store: NotificationLog) -> None:
        now = self.clock()
        wait = POLL_S if not self._schedule else max(0.0, min(POLL_S, self._schedule[0].due - now))
        try:
            n = self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait()
        except queue.Empty:
            n = None
        if n is not None:
            self._accept(n, store)
        while self._schedule and self._schedule[0].due <= self.clock() and not self._stop.is_set():
            self._attempt(heapq.heappop(self._schedule), store)

    def _accept_all(self, store: NotificationLog) -> None:
        while True:
            try:
                n = self.inbox.get_nowait()
            except queue.Empty:
                return
            self._accept(n, store)

    def _persist_inbox(self, store: NotificationLog) -> None:
        """Queued notifications recorded as pending (a stop); they are sent after the next start."""
        kept = 0
        while True:
            try:
                n = self.inbox.get_nowait()
            except queue.Empty:
                break
            now = self.clock()
            for channel, due in plan(n, self.settings.routes, now).items():
                store.add(n, channel, int(now * 1e9), int(due * 1e9))
            kept += 1
        if kept:
            with self._idle:
                self._busy -= kept
                self._idle.notify_all()

    def _accept(self, n: Notification, store: NotificationLog) -> None:
        now = self.clock()
        targets = plan(n, self.settings.routes, now)
        if not targets:
            self._count("unrouted")
            self._done()
            return
        with self._idle:  # one submitted notification becomes one job per channel
            self._busy += len(targets) - 1
        for channel, due in targets.items():
            row = store.add(n, channel, int(now * 1e9), int(due * 1e9))
            if due > now:
                self._count("held")
                log.info("notification %s of %s to %s held by quiet hours until %s", n.event,
                         n.alert_id or n.site, channel, time.strftime("%Y-%m-%d %H:%M", time.localtime(due)))
            heapq.heappush(self._schedule, _Job(due, next(self._seq), row, channel, n))

    def _load_pending(self, store: NotificationLog) -> None:
        loaded = 0
        for p in store.pending():
            if p.channel not in self.settings.channels:
                store.abandon(p.row, f"channel {p.channel!r} is no longer configured")
                continue
            heapq.heappush(self._schedule, _Job(p.due_ns / 1e9, next(self._seq), p.row, p.channel,
                                                p.notification, p.attempts))
            loaded += 1
        if loaded:
            with self._idle:
                self._busy += loaded
            log.info("notifications: %d pending from an earlier run", loaded)

    def _attempt(self, job: _Job, store: NotificationLog) -> None:
        ch = self.settings.channels[job.channel]
        job.attempts += 1
        started, t0 = self.clock(), time.monotonic()
        error: str | None = None
        permanent = False
        try:
            self.sender(ch, job.n)
        except DeliveryFailed as exc:
            error, permanent = exc.message, exc.permanent
        except Exception as exc:  # a bug in rendering or sending: recorded, never retried in a loop
            log.exception("notification %d to %s failed unexpectedly", job.row, job.channel)
            error, permanent = f"{type(exc).__name__}: {exc}", True
        ms = int((time.monotonic() - t0) * 1000)
        at_ns = int(started * 1e9)
        what = f"{job.n.event} {job.n.alert_id or job.n.site}"
        if error is None:
            store.attempt(job.row, job.attempts, at_ns, ms, None, status="delivered", next_due_ns=None)
            self._count("delivered")
            log.info("notification %s sent to %s (attempt %d)", what, job.channel, job.attempts)
            self._done()
            return
        policy = self.settings.retry
        if permanent or (policy.max_attempts is not None and job.attempts >= policy.max_attempts):
            store.attempt(job.row, job.attempts, at_ns, ms, error, status="failed", next_due_ns=None)
            self._count("failed")
            log.error("notification %s to %s failed after %d attempt(s)%s: %s", what, job.channel,
                      job.attempts, " (not retried)" if permanent else "", error)
            self._done()
            return
        backoff = Backoff(policy, self.rng)
        backoff.failures = job.attempts - 1
        job.due = self.clock() + backoff.next()
        store.attempt(job.row, job.attempts, at_ns, ms, error, status="pending",
                      next_due_ns=int(job.due * 1e9))
        self._count("retried")
        log.warning("notification %s to %s: attempt %d failed (%s); next in %.1f s", what, job.channel,
                    job.attempts, error, job.due - self.clock())
        heapq.heappush(self._schedule, job)

    def _done(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()


__all__ = ["Notifier", "send"]
