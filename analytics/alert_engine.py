"""Readings → interval aggregates → detections → alerts, the same way in batch and streaming.

    engine = AlertEngine(ctx, quotas, factors, EngineSettings(interval_s=3600))
    engine.add(meter, quantity, ts_ns, value)        # every good reading, in arrival order
    for boundary in engine.due():                    # boundaries the watermark has passed
        result = engine.tick(boundary)               # TickResult: changes, interval consumption, day closed

    batch = run_batch(readings, ctx, quotas, factors, EngineSettings(...))   # the same over a file

Ticks are the interval boundaries (multiples of `interval_s` since the epoch; the site's local
midnight must be one of them). The streaming engine evaluates boundary `b` once it has seen a reading
at or after `b + lateness_s` (the watermark), so every meter's reading just after `b` has arrived;
the batch run evaluates every boundary from the first reading to the last reading minus `lateness_s`.
At each tick the interval [b − interval, b) of every counter is aggregated (analytics.intervals, from
per-meter buffers of recent readings), added to per-meter daily totals, and — when the tick is a
local midnight — the quotas are evaluated on the complete days. Detections (quotas, and the anomaly
detectors when given) go through the alert lifecycle (analytics.alerts). Readings that arrive after
their boundary was evaluated are kept for later intervals but do not re-open earlier ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from analytics.alerts import Alert, AlertBook, Change, LifecycleSettings, ticks_between
from analytics.events import Detection
from analytics.factors import FactorTable
from analytics.intervals import IntervalResult, interval_consumption
from analytics.quota_tracking import (
    DailyUsage,
    QuotaResult,
    QuotaSettings,
    QuotaStatus,
    daily_usage,
    track_quotas,
)
from analytics.quotas import QuotaSubject, QuotaTable
from analytics.readings_io import Columns
from analytics.rollup import CARRIER_QUANTITIES, BuildingInfo, MeterInfo, ReadingColumns

F64 = NDArray[np.float64]
COUNTERS = tuple(CARRIER_QUANTITIES)  # counter quantities aggregated into intervals and days


class StreamingDetectorsLike(Protocol):
    """analytics.detectors.StreamingDetectors as the engine uses it (services.analytics.detect adapts it)."""

    def add(self, meter: str, quantity: str, ts_ns: int, value: float) -> None: ...
    def add_many(self, meter: NDArray[np.str_], quantity: str, ts_ns: NDArray[np.int64],
                 value: F64) -> None: ...
    def evaluate(self, boundary_ns: int) -> list[Detection]: ...


@runtime_checkable
class ReplayingDetectorsLike(StreamingDetectorsLike, Protocol):
    """Detectors that can give the batch's per-tick evaluations in one go (StreamingDetectors)."""

    def replay_ticks(self, readings: Mapping[str, Columns], ticks: Sequence[int],
                     late_ns: int) -> Iterator[list[Detection]]: ...


@dataclass(frozen=True, slots=True)
class SiteContext:
    """What the engine needs of a site config."""

    site: str
    timezone: str
    buildings: tuple[BuildingInfo, ...]
    meters: tuple[MeterInfo, ...]
    subjects: tuple[QuotaSubject, ...]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    interval_s: int = 3600
    lateness_s: int = 300  # wait this long past a boundary (in reading time) before evaluating it
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    quotas_enabled: bool = True

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or 86_400 % self.interval_s:
            raise ValueError(f"interval_s {self.interval_s} must divide a day (86400 s)")
        if self.lateness_s < 0:
            raise ValueError("lateness_s must not be negative")

    @property
    def max_gap_s(self) -> float:
        return max(float(self.interval_s), 900.0)  # interval_consumption's default


def check_alignment(timezone: str, interval_s: int, near_ns: int) -> None:
    """The site's local midnight must be a tick, or days could not be closed on a boundary."""
    tz = ZoneInfo(timezone)
    day = datetime.fromtimestamp(near_ns // 10**9, tz).date()
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
    if midnight % interval_s:
        raise ValueError(f"local midnight in {timezone} is not a multiple of the {interval_s} s interval "
                         "since the epoch; choose an interval that divides the time zone's UTC offset")


# -- per-meter buffers of recent readings -----------------------------------------------------------

class ReadingBuffer:
    """One meter's recent readings of one quantity, sorted by time: numpy arrays appended to (a late
    reading is inserted in place) and trimmed from the front; capacity doubles when needed, the live
    part is compacted to the front when trimmed."""

    __slots__ = ("_head", "_n", "ts", "value")

    def __init__(self, capacity: int = 64) -> None:
        self.ts = np.empty(capacity, np.int64)
        self.value = np.empty(capacity, np.float64)
        self._head = 0
        self._n = 0

    def __len__(self) -> int:
        return self._n - self._head

    def add(self, ts_ns: int, value: float) -> None:
        if self._n == len(self.ts):
            live = self._n - self._head
            if live * 2 > len(self.ts):
                self.ts = np.concatenate([self.ts[self._head:self._n], np.empty(live, np.int64)])
                self.value = np.concatenate([self.value[self._head:self._n], np.empty(live)])
            else:
                self.ts[:live] = self.ts[self._head:self._n]
                self.value[:live] = self.value[self._head:self._n]
            self._head, self._n = 0, live
        n = self._n
        if n > self._head and ts_ns < self.ts[n - 1]:
            # out of order (a re-delivery, a replay mixed with live): insert in place, so the live
            # part stays sorted and trim() keeps working
            at = self._head + int(np.searchsorted(self.ts[self._head:n], ts_ns, side="right"))
            self.ts[at + 1:n + 1] = self.ts[at:n].copy()
            self.value[at + 1:n + 1] = self.value[at:n].copy()
            n = at
        self.ts[n] = ts_ns
        self.value[n] = value
        self._n += 1

    def view(self) -> tuple[NDArray[np.int64], F64]:
        return self.ts[self._head:self._n], self.value[self._head:self._n]

    def trim(self, before_ns: int) -> None:
        """Forget readings older than `before_ns`, keeping the latest of them (an interval's left edge
        interpolates from it)."""
        ts, _ = self.view()
        older = np.flatnonzero(ts < before_ns)
        if len(older) > 1:  # ts is sorted (add keeps it so)
            self._head += int(older[-1])


# -- daily totals per meter -------------------------------------------------------------------------

@dataclass
class DailyTotals:
    """Per (quantity, meter, local day): consumption summed over the day's intervals with data
    and whether any interval of the day had coverage (a day without is NaN in `usage`, not 0).
    `closed` is the last complete day."""

    timezone: str
    cells: dict[tuple[str, str, date], list[float]] = field(default_factory=dict)  # [sum, covered]
    closed: date | None = None

    def add(self, quantity: str, meters: Sequence[str] | NDArray[np.str_], consumption: F64,
            coverage: F64, interval_start_ns: int) -> None:
        day = datetime.fromtimestamp(interval_start_ns // 10**9, ZoneInfo(self.timezone)).date()
        for m, c, cov in zip(meters, consumption, coverage, strict=True):
            cell = self.cells.setdefault((quantity, str(m), day), [0.0, 0.0])
            if not np.isnan(c):
                cell[0] += float(c)
            if cov > 0:
                cell[1] = 1.0

    def usage(self, buildings: Sequence[BuildingInfo], meters: Sequence[MeterInfo]) -> DailyUsage | None:
        """Complete days (up to `closed`) per building; None before the first day closes."""
        if self.closed is None or not self.cells:
            return None
        first = min(d for _, _, d in self.cells)
        n = (self.closed - first).days + 1
        if n <= 0:
            return None
        tz = ZoneInfo(self.timezone)
        edges = np.array([int(datetime.combine(first + timedelta(days=i), datetime.min.time(), tz)
                              .timestamp()) * 10**9 for i in range(n + 1)], np.int64)
        results: dict[str, _Daily] = {}
        for q in COUNTERS:
            ids = sorted({m for qq, m, _ in self.cells if qq == q})
            if not ids:
                continue
            row = {m: i for i, m in enumerate(ids)}
            cons = np.zeros((len(ids), n))
            cov = np.zeros((len(ids), n))
            for (qq, m, d), (s, c) in self.cells.items():
                k = (d - first).days
                if qq == q and 0 <= k < n:
                    cons[row[m], k], cov[row[m], k] = s, c
            cons[cov <= 0] = np.nan  # a day without data is no data, not 0
            results[q] = _Daily(np.array(ids), cons, edges, cov)
        if not results:
            return None
        return daily_usage(results, buildings, meters, self.timezone)

    def rows(self) -> list[tuple[str, str, str, float, bool]]:
        return [(q, m, d.isoformat(), s, bool(c)) for (q, m, d), (s, c) in self.cells.items()]

    def load(self, rows: Iterable[tuple[str, str, str, float, bool]]) -> None:
        for q, m, d, s, c in rows:
            self.cells[(q, m, date.fromisoformat(d))] = [float(s), 1.0 if c else 0.0]


@dataclass(frozen=True)
class _Daily:
    """An IntervalLike of whole days, for analytics.quota_tracking.daily_usage."""

    meters: NDArray[np.str_]
    consumption: F64
    edges_ns: NDArray[np.int64]
    coverage: F64


# -- the engine ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TickResult:
    boundary_ns: int
    changes: list[Change]
    intervals: dict[str, IntervalResult]  # per counter quantity: the one interval [b - Δ, b)
    day_closed: date | None


class AlertEngine:
    """The streaming side: buffers, ticks, daily totals, quotas, detectors, lifecycle."""

    def __init__(self, ctx: SiteContext, quotas: QuotaTable, factors: FactorTable,
                 settings: EngineSettings | None = None, *,
                 detectors: StreamingDetectorsLike | None = None,
                 book: AlertBook | None = None, daily: DailyTotals | None = None,
                 next_tick_ns: int | None = None) -> None:
        settings = settings or EngineSettings()
        self.ctx, self.quotas, self.factors, self.settings = ctx, quotas, factors, settings
        self.detectors = detectors
        self.book = book or AlertBook(ctx.site, settings.lifecycle)
        self.daily = daily or DailyTotals(ctx.timezone)
        self.next_tick_ns = next_tick_ns
        self.watermark_ns: int | None = None
        self.buffers: dict[tuple[str, str], ReadingBuffer] = {}
        self.known_meters = frozenset(m.id for m in ctx.meters)
        self.quota_result = QuotaResult([], [])
        self._episodes: dict[tuple[object, ...], Detection] = {}  # detector episodes known so far

    @property
    def step_ns(self) -> int:
        return self.settings.interval_s * 10**9

    def add(self, meter: str, quantity: str, ts_ns: int, value: float) -> None:
        """One reading; an invalid one (not quality ok, no value) as NaN: it moves the watermark and
        reaches the detectors (sentinels) but not the interval buffers. Unknown meters are the
        caller's to refuse, as are timestamps outside the service's limits."""
        if self.next_tick_ns is None:
            check_alignment(self.ctx.timezone, self.settings.interval_s, ts_ns)
            self.next_tick_ns = (ts_ns // self.step_ns + 1) * self.step_ns
        if self.watermark_ns is None or ts_ns > self.watermark_ns:
            self.watermark_ns = ts_ns
        if quantity in CARRIER_QUANTITIES and not math.isnan(value):  # interval_consumption drops NaN
            buf = self.buffers.get((quantity, meter))
            if buf is None:
                buf = self.buffers[(quantity, meter)] = ReadingBuffer()
            buf.add(ts_ns, value)
        if self.detectors is not None:
            self.detectors.add(meter, quantity, ts_ns, value)

    def buffered(self) -> list[tuple[str, str, int, float]]:
        """(quantity, meter, ts_ns, value) of every buffered counter reading (saved at a clean stop)."""
        out: list[tuple[str, str, int, float]] = []
        for (q, m), buf in self.buffers.items():
            ts, value = buf.view()
            out += [(q, m, int(t), float(v)) for t, v in zip(ts, value, strict=True)]
        return out

    def restore(self, rows: Iterable[tuple[str, str, int, float]]) -> None:
        """Buffered readings saved by a clean stop: the next interval keeps its left edge."""
        for q, m, t, v in sorted(rows, key=lambda r: r[2]):
            if m in self.known_meters and q in CARRIER_QUANTITIES:
                self.buffers.setdefault((q, m), ReadingBuffer()).add(t, v)
                if self.watermark_ns is None or t > self.watermark_ns:
                    self.watermark_ns = t

    def due(self) -> list[int]:
        """Boundaries ready to evaluate, oldest first."""
        if self.next_tick_ns is None or self.watermark_ns is None:
            return []
        return ticks_between(self.next_tick_ns - 1, self.watermark_ns - self.settings.lateness_s * 10**9,
                             self.settings.interval_s)

    def tick(self, boundary_ns: int) -> TickResult:
        if self.next_tick_ns is not None and boundary_ns < self.next_tick_ns:
            raise ValueError(f"boundary {boundary_ns} was evaluated already")
        start = boundary_ns - self.step_ns
        intervals: dict[str, IntervalResult] = {}
        for q in COUNTERS:
            parts = [(m, *buf.view()) for (qq, m), buf in self.buffers.items() if qq == q and len(buf)]
            if not parts:
                continue
            meter = np.concatenate([np.full(len(t), m) for m, t, _ in parts])
            ts = np.concatenate([t for _, t, _ in parts])
            val = np.concatenate([v for _, _, v in parts])
            # the buffer keeps max_gap_s of readings: the same fixed limit, not the batch's adaptive one
            res = interval_consumption(meter, ts, val, start, boundary_ns, self.settings.interval_s,
                                       max_gap_s=self.settings.max_gap_s)
            intervals[q] = res
            self.daily.add(q, res.meters, res.consumption[:, 0], res.coverage[:, 0], start)
        day_closed = self._close_day(boundary_ns)
        detections = list(self.quota_result.detections)
        fresh: list[Detection] = []
        if self.detectors is not None:
            self._episodes, fresh = merge_episodes(self._episodes, self.detectors.evaluate(boundary_ns),
                                                   start)
            detections += self._episodes.values()
        changes = self.book.update(boundary_ns, self.settings.interval_s, detections, fresh)
        self.next_tick_ns = boundary_ns + self.step_ns
        keep_from = boundary_ns - int(self.settings.max_gap_s * 10**9)
        for buf in self.buffers.values():
            buf.trim(keep_from)
        return TickResult(boundary_ns, changes, intervals, day_closed)

    def _close_day(self, boundary_ns: int) -> date | None:
        tz = ZoneInfo(self.ctx.timezone)
        local = datetime.fromtimestamp(boundary_ns // 10**9, tz)
        if (local.hour, local.minute, local.second) != (0, 0, 0):
            return None
        day = local.date() - timedelta(days=1)
        self.daily.closed = day
        self.refresh_quotas()
        return day

    def refresh_quotas(self) -> None:
        """Evaluate the quotas on the complete days (at each local midnight, and after a restart)."""
        if not self.settings.quotas_enabled:
            return
        usage = self.daily.usage(self.ctx.buildings, self.ctx.meters)
        if usage is not None:
            self.quota_result = track_quotas(usage, self.ctx.subjects, self.quotas, self.factors,
                                             timezone=self.ctx.timezone, settings=self.settings.quotas)

    @property
    def quota_status(self) -> list[QuotaStatus]:
        return self.quota_result.status


# -- batch --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchResult:
    alerts: list[Alert]  # every alert raised: cleared, or active at the last tick
    changes: list[Change]
    detections: list[Detection]
    quota_status: list[QuotaStatus]
    ticks: list[int]
    notes: list[str]


def run_batch(readings: Mapping[str, ReadingColumns], ctx: SiteContext, quotas: QuotaTable,
              factors: FactorTable, settings: EngineSettings | None = None, *,
              detectors: StreamingDetectorsLike | None = None, tick_by_tick: bool = False,
              progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Every tick of a readings file, as the service sees them.

    Interval consumption and the quotas are computed over the whole file at once (numpy, then
    analytics.quota_tracking over every complete day). The anomaly detectors are fed the readings as the
    service receives them — before boundary `b` is evaluated, every reading up to `b + lateness` —
    and asked at each boundary, so their episodes (backdated starts, hysteresis) reach the lifecycle
    exactly as in the service. Detectors that can `replay_ticks` compute the same evaluations with
    their interval cells in one vectorised call; `tick_by_tick` forces the literal replay.
    `progress(done, total)` is called after each tick."""
    settings = settings or EngineSettings()
    filled = [c for c in readings.values() if len(c.ts_ns)]
    if not filled:
        return BatchResult([], [], [], [], [], ["no readings"])
    first = min(int(c.ts_ns.min()) for c in filled)
    last = max(int(c.ts_ns.max()) for c in filled)
    check_alignment(ctx.timezone, settings.interval_s, first)
    late = settings.lateness_s * 10**9
    ticks = ticks_between(first, last - late, settings.interval_s)
    if not ticks:
        return BatchResult([], [], [], [], [], ["the readings span less than one interval"])
    step = settings.interval_s * 10**9
    daily = DailyTotals(ctx.timezone)
    for q in COUNTERS:
        c = readings.get(q)
        if c is None or not len(c.ts_ns):
            continue
        res = interval_consumption(c.meter, c.ts_ns, c.value, ticks[0] - step, ticks[-1], settings.interval_s)
        for k in range(res.n_intervals):
            daily.add(q, res.meters, res.consumption[:, k], res.coverage[:, k], int(res.edges_ns[k]))
    tz = ZoneInfo(ctx.timezone)
    midnights = [t for t in ticks if datetime.fromtimestamp(t // 10**9, tz).time() == datetime.min.time()]
    quota_found: list[Detection] = []
    status: list[QuotaStatus] = []
    notes: list[str] = []
    if midnights and settings.quotas_enabled:
        daily.closed = datetime.fromtimestamp(midnights[-1] // 10**9, tz).date() - timedelta(days=1)
        usage = daily.usage(ctx.buildings, ctx.meters)
        if usage is not None:
            found = track_quotas(usage, ctx.subjects, quotas, factors, timezone=ctx.timezone,
                                 settings=settings.quotas)
            quota_found, status, notes = found.detections, found.status, found.notes
    per_tick = (None if detectors is None
                else _detector_ticks(detectors, readings, ticks, late, tick_by_tick=tick_by_tick))
    episodes: dict[tuple[object, ...], Detection] = {}
    book = AlertBook(ctx.site, settings.lifecycle)
    changes: list[Change] = []
    latest: dict[str, Alert] = {}
    every: dict[tuple[object, ...], Detection] = {}  # every episode, as last reported
    for done, t in enumerate(ticks, 1):
        found_now = list(quota_found)
        fresh: list[Detection] = []
        if per_tick is not None:
            reported = next(per_tick)
            every.update((episode_key(d), d) for d in reported)
            episodes, fresh = merge_episodes(episodes, reported, t - step)
            found_now += episodes.values()
        for change in book.update(t, settings.interval_s, found_now, fresh):
            changes.append(change)
            latest[change.alert.id] = change.alert
        if progress is not None:
            progress(done, len(ticks))
    for a in book.active:
        latest[a.id] = a
    alerts = sorted(latest.values(), key=lambda a: (a.start_ns, a.id))
    return BatchResult(alerts, changes, quota_found + list(every.values()), status, ticks, notes)


def episode_key(d: Detection) -> tuple[object, ...]:
    return (d.kind, d.subject, d.details.get("scope", ""), d.start_ns)


def merge_episodes(known: dict[tuple[object, ...], Detection], found: Iterable[Detection],
                   interval_start_ns: int) -> tuple[dict[tuple[object, ...], Detection], list[Detection]]:
    """Fold one tick's detector output (episodes that closed since the last tick, and those still
    open) into the episodes known so far. Returns the episodes still worth showing the lifecycle
    (open, or ended inside this tick's interval) and those first reported now (`fresh`, present at
    this tick whenever they ended: see analytics.alerts)."""
    merged = dict(known)
    fresh: list[Detection] = []
    for d in found:
        key = episode_key(d)
        if key not in merged:
            fresh.append(d)
        merged[key] = d
    kept = {k: d for k, d in merged.items() if d.end_ns is None or d.end_ns > interval_start_ns}
    return kept, fresh


def _detector_ticks(detectors: StreamingDetectorsLike, readings: Mapping[str, ReadingColumns],
                    ticks: list[int], late_ns: int, *, tick_by_tick: bool) -> Iterator[list[Detection]]:
    """`detectors.evaluate(t)` for each tick, every reading up to t + late_ns fed before it."""
    if isinstance(detectors, ReplayingDetectorsLike) and not tick_by_tick:
        cols = {q: Columns(np.asarray(c.meter), np.asarray(c.ts_ns, np.int64),
                           np.asarray(c.value, np.float64)) for q, c in readings.items()}
        yield from detectors.replay_ticks(cols, ticks, late_ns)
        return
    feed = _Arrivals(readings)
    for t in ticks:
        feed.until(t + late_ns, detectors)
        yield detectors.evaluate(t)


class _Arrivals:
    """The readings of a file in the order the service would receive them (by time)."""

    def __init__(self, readings: Mapping[str, ReadingColumns]) -> None:
        self.cols: list[tuple[str, NDArray[np.str_], NDArray[np.int64], F64]] = []
        for q, c in readings.items():
            order = np.argsort(c.ts_ns, kind="stable")
            self.cols.append((q, np.asarray(c.meter)[order], np.asarray(c.ts_ns)[order],
                              np.asarray(c.value)[order]))
        self.pos = [0] * len(self.cols)

    def until(self, ts_ns: int, detectors: StreamingDetectorsLike) -> None:
        """Hand every reading with ts <= ts_ns not handed yet to `detectors`."""
        for k, (q, m, t, v) in enumerate(self.cols):
            j = int(np.searchsorted(t, ts_ns, side="right"))
            if j > self.pos[k]:
                detectors.add_many(m[self.pos[k]:j], q, t[self.pos[k]:j], v[self.pos[k]:j])
                self.pos[k] = j


__all__ = ["COUNTERS", "AlertEngine", "BatchResult", "DailyTotals", "EngineSettings", "ReadingBuffer",
           "SiteContext", "TickResult", "check_alignment", "run_batch"]
