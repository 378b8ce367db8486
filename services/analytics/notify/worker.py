"""The notifier: routed at once, queued per channel, one worker thread per channel, every attempt
recorded in the alert store.

    notifier = Notifier(settings, store_path)
    notifier.start()                 # sends what an earlier run left pending
    notifier.submit(notification)    # never blocks: a full queue drops it (counted, logged)
    notifier.close()                 # at stop: see below

- `submit` routes the notification (routing.plan, pure: which channels and, with quiet hours,
  when) and puts it into the bounded queue of each channel; nothing there waits on the network, so
  the evaluation never waits on SMTP or HTTP.
- Each channel has its own worker thread (a "lane"), so a receiver that hangs or fails holds back
  only its own channel. The lane records one `pending` row in the alert store, then attempts it when
  due. A failed attempt is tried again after a backoff (core.backoff: initial, doubled after each
  failure, capped, with jitter), until `retry.attempts` attempts were made or the receiver refused it
  for good; waiting deliveries sit in the lane's schedule, not in a sleep.
- At stop (`close`), for up to `drain` seconds each lane still attempts the deliveries already due
  (none is waited for); what is left stays `pending` in the store, with its attempts so far, and the
  next start sends it. An attempt cut short by the deadline may have gone out: at least once.
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

POLL_S = 0.2  # a lane looks at its schedule at least this often (and the clock may be a test's)
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
        self.counts: Counter[str] = Counter()  # read with snapshot(): several threads write it
        self._counts_lock = threading.Lock()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0  # deliveries queued or scheduled, not finished (nor left pending at stop)
        self._dropped_logged = False
        self.lanes = {cid: _Lane(self, ch) for cid, ch in settings.channels.items()}

    # -- the caller's side (the service's main thread) ----------------------------------------------

    def start(self) -> None:
        if self.resume:
            self._load_pending()
        for lane in self.lanes.values():
            lane.start()

    def submit(self, n: Notification) -> bool:
        """Route `n` and queue it for each of its channels. False if no channel took it: none matched
        (counted as `unrouted`) or the queues were full (`dropped`). Never blocks."""
        now = self.clock()
        targets = plan(n, self.settings.routes, now)
        if not targets:
            self._count("unrouted")
            return False
        taken = 0
        for cid, due in targets.items():
            self._add_busy(1)
            try:
                self.lanes[cid].inbox.put_nowait((n, now, due))
                taken += 1
            except queue.Full:
                self._add_busy(-1)
                self._count("dropped")
                if not self._dropped_logged:
                    self._dropped_logged = True
                    log.error("the notification queue of channel %s is full (%d): notifications are "
                              "dropped (counted as notify_dropped; logged once)", cid, self.settings.queue)
        if taken:
            self._count("submitted")
        return taken > 0

    def snapshot(self) -> dict[str, int]:
        """The counts (submitted, delivered, failed, retried, held, dropped, unrouted), a copy."""
        with self._counts_lock:
            return dict(self.counts)

    def flush(self, timeout: float) -> bool:
        """Wait until every delivery queued is delivered or failed (True), or `timeout` (False)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, POLL_S))
        return True

    def close(self) -> None:
        """Stop: each lane attempts what is due for up to `drain` seconds; the rest stays pending."""
        self._stop.set()
        deadline = time.monotonic() + self.settings.drain_s + 1.0
        for lane in self.lanes.values():
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))
        hung = [lane for lane in self.lanes.values() if lane.thread is not None and lane.thread.is_alive()]
        if not hung:
            return
        # an attempt outlasts the deadline: keep what waits in those lanes' queues ourselves
        log.warning("notifications: an attempt to %s is still running after %.0f s; what waits for it "
                    "stays pending for the next start", ", ".join(lane.channel.id for lane in hung),
                    self.settings.drain_s)
        store = NotificationLog(self.store_path)
        try:
            for lane in hung:
                lane.persist_inbox(store)
        finally:
            store.close()

    # -- shared by the lanes -------------------------------------------------------------------------

    def _count(self, key: str, k: int = 1) -> None:
        with self._counts_lock:
            self.counts[key] += k

    def _add_busy(self, k: int) -> None:
        with self._idle:
            self._busy += k
            if self._busy <= 0:
                self._idle.notify_all()

    def _load_pending(self) -> None:
        """The rows an earlier run left pending, into their lanes' schedules (before the lanes start)."""
        try:
            store = NotificationLog(self.store_path)
        except (OSError, sqlite3.Error) as exc:
            log.error("notifications: cannot read the pending ones from %s: %s", self.store_path, exc)
            return
        try:
            loaded = 0
            for p in store.pending():
                lane = self.lanes.get(p.channel)
                if lane is None:
                    store.abandon(p.row, f"channel {p.channel!r} is no longer configured")
                    continue
                lane.schedule_job(_Job(p.due_ns / 1e9, 0, p.row, p.notification, p.attempts))
                loaded += 1
        finally:
            store.close()
        if loaded:
            self._add_busy(loaded)
            log.info("notifications: %d pending from an earlier run", loaded)


class _Lane:
    """One channel: its queue, its schedule, its thread and its own store connection."""

    def __init__(self, owner: Notifier, channel: Channel) -> None:
        self.owner = owner
        self.channel = channel
        self.inbox: queue.Queue[tuple[Notification, float, float]] = queue.Queue(owner.settings.queue)
        self.schedule: list[_Job] = []
        self._seq = itertools.count(1)
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"notify-{self.channel.id}", daemon=True)
        self.thread.start()

    def schedule_job(self, job: _Job) -> None:
        job.seq = next(self._seq)  # equal due times keep their order
        heapq.heappush(self.schedule, job)

    def _run(self) -> None:
        o = self.owner
        try:
            store = NotificationLog(o.store_path)
        except (OSError, sqlite3.Error) as exc:
            log.error("notifications to %s: cannot open the alert store %s: %s; nothing is sent",
                      self.channel.id, o.store_path, exc)
            o._count("worker_failed")
            return
        try:
            while not o._stop.is_set():
                try:
                    self._step(store)
                except sqlite3.Error as exc:
                    # the store busy or full: the job in hand stays as last recorded (a pending row
                    # is sent after the next start); the lane goes on
                    o._count("store_errors")
                    log.error("notifications to %s: the alert store failed: %s", self.channel.id, exc)
                    o._stop.wait(1.0)
            self._drain(store)
        except Exception:
            log.exception("notifications to %s: the worker failed; nothing more is sent there",
                          self.channel.id)
            o._count("worker_failed")
        finally:
            store.close()

    def _step(self, store: NotificationLog) -> None:
        clock = self.owner.clock
        wait = POLL_S if not self.schedule else max(0.0, min(POLL_S, self.schedule[0].due - clock()))
        try:
            item = self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait()
        except queue.Empty:
            item = None
        if item is not None:
            self._accept(item, store)
        while self.schedule and self.schedule[0].due <= clock() and not self.owner._stop.is_set():
            self._attempt(heapq.heappop(self.schedule), store)

    def _drain(self, store: NotificationLog) -> None:
        """At stop: accept what is queued, attempt what is due until `drain`, leave the rest pending."""
        o = self.owner
        deadline = time.monotonic() + o.settings.drain_s
        while True:
            try:
                self._accept(self.inbox.get_nowait(), store)
            except queue.Empty:
                break
        while self.schedule and time.monotonic() < deadline and self.schedule[0].due <= o.clock():
            self._attempt(heapq.heappop(self.schedule), store)  # a retry or a hold is not waited for
        self.persist_inbox(store)
        if self.schedule:
            o._add_busy(-len(self.schedule))
            log.info("notifications to %s: %d left pending in the store for the next start",
                     self.channel.id, len(self.schedule))

    def persist_inbox(self, store: NotificationLog) -> None:
        """What still waits in the queue, recorded as pending (a stop): sent after the next start."""
        kept = 0
        while True:
            try:
                n, now, due = self.inbox.get_nowait()
            except queue.Empty:
                break
            store.add(n, self.channel.id, int(now * 1e9), int(due * 1e9))
            kept += 1
        self.owner._add_busy(-kept)

    def _accept(self, item: tuple[Notification, float, float], store: NotificationLog) -> None:
        n, now, due = item
        row = store.add(n, self.channel.id, int(now * 1e9), int(due * 1e9))
        if due > now:
            self.owner._count("held")
            log.info("notification %s of %s to %s held by quiet hours until %s", n.event,
                     n.alert_id or n.site, self.channel.id,
                     time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(due)))
        self.schedule_job(_Job(due, 0, row, n))

    def _attempt(self, job: _Job, store: NotificationLog) -> None:
        o = self.owner
        job.attempts += 1
        started, t0 = o.clock(), time.monotonic()
        error: str | None = None
        permanent = False
        try:
            o.sender(self.channel, job.n)
        except DeliveryFailed as exc:
            error, permanent = exc.message, exc.permanent
        except Exception as exc:  # a bug in rendering or sending: recorded, never retried in a loop
            log.exception("notification %d to %s failed unexpectedly", job.row, self.channel.id)
            error, permanent = f"{type(exc).__name__}: {exc}", True
        ms = int((time.monotonic() - t0) * 1000)
        at_ns = int(started * 1e9)
        what = f"{job.n.event} {job.n.alert_id or job.n.site}"
        policy = o.settings.retry
        if error is None or permanent or (policy.max_attempts is not None
                                          and job.attempts >= policy.max_attempts):
            status = "delivered" if error is None else "failed"
            store.attempt(job.row, job.attempts, at_ns, ms, error, status=status, next_due_ns=None)
            o._count(status)
            if error is None:
                log.info("notification %s sent to %s (attempt %d)", what, self.channel.id, job.attempts)
            else:
                log.error("notification %s to %s failed after %d attempt(s)%s: %s", what, self.channel.id,
                          job.attempts, " (not retried)" if permanent else "", error)
            o._add_busy(-1)
            return
        backoff = Backoff(policy, o.rng)
        backoff.failures = job.attempts - 1  # the step of this attempt: initial * 2^(attempts-1)
        job.due = o.clock() + backoff.next()
        store.attempt(job.row, job.attempts, at_ns, ms, error, status="pending",
                      next_due_ns=int(job.due * 1e9))
        o._count("retried")
        log.warning("notification %s to %s: attempt %d failed (%s); next in %.1f s", what, self.channel.id,
                    job.attempts, error, job.due - o.clock())
        self.schedule_job(job)


__all__ = ["Notifier", "send"]
