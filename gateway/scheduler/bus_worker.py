"""One thread per physical bus: executes the due polls of its meters one at a time, in deadline order.

For each due (meter, poll group):
1. the device's breaker may skip it (backoff after a poll nobody answered): counted as "skipped",
   no readings;
2. a bus that cannot be opened skips it too (its meters are reported offline once);
3. otherwise the group's MeterReader reads only that group's points through the bus line (paced,
   counted); the result is ok, partial (some comm_error readings) or failed (all of them), and is
   handed to the sink with the readings, each stamped with the time its request went out.

The sink and the availability callback run on this thread, outside the worker's lock; a slow sink
delays only this bus.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.reading import Quality
from drivers.reader import Reading
from drivers.readers import PollReader, make_reader
from gateway.metrics import DeviceCounts, GatewayMetrics
from gateway.scheduler.breaker import Breaker
from gateway.scheduler.deadlines import Aligner
from gateway.scheduler.fairness import BusLoad
from gateway.scheduler.line import BusLine, ConnectionFactory, MeterLink
from gateway.scheduler.queue import PollQueue, PollTask
from gateway.scheduler.result import PollResult
from gateway.scheduler.stats import Availability, DeviceStats, PollOutcome
from gateway.threadname import name_this_thread
from site_config.model import Bus, Meter

log = logging.getLogger("metergate.scheduler")

MAX_IDLE_S = 1.0  # wake at least this often (clock steps, busy ratio, stop)
BUSY_EVERY_S = 1.0  # the busy ratio is recomputed at most this often
RATIO_QUANTITIES = {"ct_ratio": "ct", "pt_ratio": "pt"}

Sink = Callable[[PollResult], None]
OnAvailability = Callable[[str, str, str | None], None]


@dataclass(eq=False, slots=True)
class _Device:
    meter: Meter
    stats: DeviceStats
    link: MeterLink
    breaker: Breaker
    readers: list[PollReader] = field(default_factory=list)


def classify(readings: Sequence[Reading]) -> str:
    """ok: no comm_error reading; failed: every reading comm_error; partial: some."""
    bad = sum(1 for r in readings if r.quality is Quality.COMM_ERROR)
    if bad == 0:
        return "ok"
    return "failed" if bad == len(readings) else "partial"


class BusWorker:
    def __init__(self, bus: Bus, meters: Sequence[Meter], load: BusLoad, *, sink: Sink,
                 metrics: GatewayMetrics, on_availability: OnAvailability | None,
                 connection_factory: ConnectionFactory, clock: Callable[[], float],
                 monotonic: Callable[[], float], align: Aligner,
                 random_unit: Callable[[], float]) -> None:
        self.bus = bus
        self.load = load
        self._sink = sink
        self._metrics = metrics
        self._on_availability = on_availability
        self._clock = clock
        self._monotonic = monotonic
        self._align = align
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.line = BusLine(bus.id, bus.endpoint, timeout_s=bus.timeout_s, pause_s=bus.pause_s,
                            unit_switch_delay_s=bus.unit_switch_delay_s,
                            factory=connection_factory, metrics=metrics, lock=self._lock,
                            stop=self._stop, monotonic=monotonic)
        self._missed = metrics.missed.labels(bus.id)
        self._busy = metrics.busy.labels(bus.id)
        self.missed = 0
        self.busy_ratio = 0.0
        self._busy_at = -BUSY_EVERY_S
        self.devices: dict[str, _Device] = {}
        self.tasks: list[PollTask] = []
        for meter in meters:
            self._add_meter(meter, load.stretch, random_unit)

    def _add_meter(self, meter: Meter, stretch: float, random_unit: Callable[[], float]) -> None:
        stats = DeviceStats()
        link = self.line.link(meter.id, stats)
        fastest = min((g.interval_s for g in meter.poll), default=1.0) * stretch
        dev = _Device(meter, stats, link, Breaker(max(1.0, fastest), random_unit=random_unit))
        ratios = {k: v for k, v in (("ct", meter.ct), ("pt", meter.pt)) if v}
        for index, group in enumerate(meter.poll):
            reader = make_reader(link, meter.variant, unit=meter.unit, address=meter.address,
                                 ratios=ratios, quantities=group.quantities, clock=self._clock,
                                 keep_raw=False)
            dev.readers.append(reader)
            self.tasks.append(PollTask(meter, index, group, group.interval_s * stretch,
                                       reader=reader))
        self.devices[meter.id] = dev

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"metergate-bus-{self.bus.id}",
                                        daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop soon: wakes the thread and closes the connection to cut a request short."""
        self._stop.set()
        self.line.close()

    def join(self, timeout: float) -> bool:
        """True if the thread has ended."""
        if self._thread is None:
            return True
        self._thread.join(max(0.0, timeout))
        return not self._thread.is_alive()

    # -- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        name_this_thread(f"bus-{self.bus.id}")
        queue = PollQueue(self.tasks, self._clock(), align=self._align)
        try:
            while not self._stop.is_set():
                now = self._clock()
                task, missed = queue.pop(now)
                if missed:
                    self._count_missed(missed)
                if task is None:
                    due = queue.next_due()
                    wait = MAX_IDLE_S if due is None else min(MAX_IDLE_S, max(0.001, due - now))
                    self._update_busy()
                    self._stop.wait(wait)
                    continue
                try:
                    self._serve(task)
                except Exception as exc:
                    if self._stop.is_set():
                        break
                    log.exception("bus %s: unexpected error polling %s", self.bus.id, task.name)
                    self.line.drop(f"unexpected error: {type(exc).__name__}: {exc}")
                queue.reschedule(task)
                self._update_busy()
        finally:
            self.line.close()

    def _serve(self, task: PollTask) -> None:
        dev = self.devices[task.meter.id]
        with self._lock:
            allowed = dev.breaker.allow(task.due)
        if not allowed:
            self._count_poll(dev, "skipped")
            return
        if not self.line.ready():
            self._count_poll(dev, "skipped")
            self._bus_down(self.line.last_error or "not connected")
            return
        start = self._clock()
        outcome = dev.link.begin()
        readings = task.reader.read()
        result = classify(readings)
        if self._stop.is_set() and result != "ok":
            return  # interrupted by stop(): nothing to report
        self._judge(dev, task, outcome, result, start)
        self._share_ratios(dev, task, readings)
        # the poll's time is its first request's (readings of that block then need no own ts)
        first_request = min((r.ts for r in readings), default=start)
        poll = PollResult(task.meter.id, task.group.interval_s, first_request, readings, result,
                          deadline=task.due)
        try:
            self._sink(poll)
        except Exception:
            log.exception("bus %s: the sink failed on a poll of %s (%d readings)", self.bus.id,
                          task.meter.id, len(readings))

    def _judge(self, dev: _Device, task: PollTask, outcome: PollOutcome, result: str,
               start: float) -> None:
        """Breaker, availability and counters after one poll."""
        self._count_poll(dev, result)
        with self._lock:
            if result != "failed":
                dev.stats.last_ok_ts = start
            if outcome.last_error is not None:
                dev.stats.last_error = outcome.last_error
                dev.stats.last_error_kind = outcome.last_error_kind
                dev.stats.last_error_ts = start
        if outcome.answered:
            with self._lock:
                failures = dev.breaker.failures
                dev.breaker.success()
            if failures:
                log.info("meter %s (%s on bus %s) answers again after %d poll(s) without "
                         "an answer", dev.meter.id, dev.meter.station, self.bus.id, failures)
            self._set_availability(dev, "online", None)
        elif outcome.dead:
            with self._lock:
                retry_at = dev.breaker.failure(task.due)
                failures = dev.breaker.failures
            reason = outcome.last_error or "no answer"
            if failures == 1:
                log.warning("meter %s (%s on bus %s) does not answer: %s; retrying with "
                            "backoff (next try after %.1f s, then doubling up to %g s)",
                            dev.meter.id, dev.meter.station, self.bus.id, reason,
                            retry_at - task.due, dev.breaker.cap_s)
            else:
                log.debug("meter %s: still no answer (%d polls); next try after %.1f s",
                          dev.meter.id, failures, retry_at - task.due)
            self._set_availability(dev, "offline", reason)
        elif outcome.connect_errors:
            self._bus_down(outcome.last_error or "connection lost")

    def _share_ratios(self, dev: _Device, task: PollTask, readings: Sequence[Reading]) -> None:
        """A CT/PT ratio read by one group scales the other groups' secondary values too (unless
        the site config gives the ratio)."""
        if len(dev.readers) < 2:
            return
        configured = {"ct": dev.meter.ct, "pt": dev.meter.pt}
        for r in readings:
            name = RATIO_QUANTITIES.get(r.quantity)
            if name is None or configured[name] or r.quality is not Quality.OK or not r.value:
                continue
            for reader in dev.readers:
                if reader is not task.reader:
                    reader.ratios[name] = r.value

    def _bus_down(self, reason: str) -> None:
        for dev in self.devices.values():
            self._set_availability(dev, "offline", f"bus {self.bus.id}: {reason}")

    def _set_availability(self, dev: _Device, state: Availability, reason: str | None) -> None:
        with self._lock:
            if dev.stats.availability == state:
                return
            previous = dev.stats.availability
            dev.stats.availability = state
        log.debug("meter %s: %s -> %s (%s)", dev.meter.id, previous, state, reason or "answered")
        if self._on_availability is not None:
            try:
                self._on_availability(dev.meter.id, state, reason)
            except Exception:
                log.exception("availability callback failed for %s", dev.meter.id)

    def _count_poll(self, dev: _Device, result: str) -> None:
        with self._lock:
            dev.stats.polls[result] += 1

    def _count_missed(self, n: int) -> None:
        self._missed.inc(n)
        with self._lock:
            self.missed += n

    def _update_busy(self) -> None:
        now = self._monotonic()
        if now - self._busy_at < BUSY_EVERY_S:
            return  # a one-minute ratio: once a second is plenty (this runs after every poll)
        self._busy_at = now
        ratio = self.line.busy.ratio(now)
        self._busy.set(ratio)
        with self._lock:
            self.busy_ratio = ratio

    # -- snapshot --------------------------------------------------------------------------------

    def counts(self) -> list[DeviceCounts]:
        """Every device's counters, for Prometheus (gateway.metrics.DeviceCollector)."""
        with self._lock:
            return [DeviceCounts(self.bus.id, meter_id, d.stats.requests, dict(d.stats.polls),
                                 None if d.stats.availability == "unknown"
                                 else d.stats.availability == "online")
                    for meter_id, d in self.devices.items()]

    def snapshot(self, now: float) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """(this bus's entry, its devices' entries) for Scheduler.snapshot()."""
        load = self.load
        devices: dict[str, dict[str, Any]] = {}
        with self._lock:
            bus = {
                "type": self.bus.type, "endpoint": str(self.bus.endpoint), "state": self.line.state,
                "last_error": self.line.last_error,
                "last_error_kind": self.line.last_error_kind, "meters": len(self.devices),
                "airtime_planned": load.as_dict()["utilisation"], "verdict": load.verdict,
                "stretch": load.stretch, "busy_ratio": round(self.busy_ratio, 4),
                "missed": self.missed,
                "requests": sum(d.stats.requests for d in self.devices.values()),
                "timeouts": sum(d.stats.timeouts for d in self.devices.values()),
            }
            for meter_id, dev in self.devices.items():
                s, b = dev.stats, dev.breaker
                devices[meter_id] = {
                    "bus": self.bus.id, "unit": dev.meter.unit,
                    "state": _device_state(s.availability, b.state, b.retry_at, now),
                    "breaker": {"state": b.state, "failures": b.failures,
                                "next_retry_ts": b.retry_at},
                    "polls": dict(s.polls), "requests": s.requests, "timeouts": s.timeouts,
                    "crc_errors": s.crc_errors, "bad_frames": s.bad_frames,
                    "exceptions": s.exceptions, "connect_errors": s.connect_errors,
                    "last_ok_ts": s.last_ok_ts, "last_error": s.last_error,
                    "last_error_kind": s.last_error_kind, "last_error_ts": s.last_error_ts,
                }
        for meter_id, entry in devices.items():
            pct = self.devices[meter_id].link.window.percentiles()
            entry["latency_s"] = {k: None if v is None else round(v, 4) for k, v in pct.items()}
        return bus, devices


def _device_state(availability: Availability, breaker: str, retry_at: float | None,
                  now: float) -> str:
    if breaker == "open" and retry_at is not None and retry_at > now:
        return "backoff"
    return availability
