"""The detector engine: one step per finalised interval, shared by the batch and the streaming paths.

`Engine.push(column, now_ns)` appends the interval's values to the history ring, works out the local
time of every meter and runs each detector once; detectors keep their own small state. Batch and
streaming both call exactly this, column by column, in time order: that is what makes them agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from analytics.detectors.after_hours import AfterHours
from analytics.detectors.baseline import TimeOfWeekBaseline
from analytics.detectors.cells import Column, compute_cells
from analytics.detectors.context import Clock, Context, Detector
from analytics.detectors.data_faults import DataFaults
from analytics.detectors.heat_pump import HeatPumpCop
from analytics.detectors.history import IntervalRing
from analytics.detectors.leak import NightFlowLeak
from analytics.detectors.settings import DetectorSettings, MeterRole, Schedule
from analytics.events import Detection
from analytics.readings_io import Columns


def check_roles(meters: Sequence[MeterRole]) -> list[MeterRole]:
    roles = list(meters)
    seen: set[str] = set()
    for r in roles:
        if r.meter in seen:
            raise ValueError(f"meter {r.meter!r} is listed twice")
        seen.add(r.meter)
    for r in roles:
        if r.pair is not None and r.pair not in seen:
            raise ValueError(f"meter {r.meter!r}: its pair {r.pair!r} is not among the meters")
    return roles


def unit_of(role: MeterRole) -> str:
    try:
        from core.quantities import QUANTITIES

        q = QUANTITIES.get(role.quantity)
        return q.unit if q is not None else ""
    except ImportError:  # pragma: no cover - analytics used without the drivers package
        return ""


class Engine:
    def __init__(self, meters: Sequence[MeterRole], settings: DetectorSettings,
                 schedules: Mapping[str, Schedule] | None, history_weeks: int) -> None:
        self.roles = check_roles(meters)
        self.settings = settings
        sched = dict(schedules or {})
        self.clock = Clock(self.roles, sched, settings)
        # the ring holds at least what the baseline reads back: baseline_weeks weeks plus its 2-h window
        weeks = max(history_weeks, settings.baseline_weeks)
        self.ring = IntervalRing(len(self.roles), weeks * 7 * settings.per_day + settings.window_intervals)
        units = [unit_of(r) for r in self.roles]
        baseline = TimeOfWeekBaseline(self.roles, settings, units)
        after_hours = AfterHours(self.roles, settings, baseline.predictable_for)
        baseline.explained_by.append(after_hours.open_for)
        self.baseline = baseline
        faults = DataFaults(self.roles, settings, units)
        self.detectors: list[Detector] = [
            faults,
            baseline,
            after_hours,
            NightFlowLeak(self.roles, settings, NightFlowLeak.night_hours(self.roles, sched)),
            HeatPumpCop(self.roles, settings, faults.idle),  # one idle draw per heat pump, shared
        ]
        self.last_end: int | None = None
        # every detection names its meter's building (and a heat meter its heat pump's meter)
        by_name = {r.meter: r for r in self.roles}
        for det in self.detectors:
            for ep in det.episodes:
                for j, name in enumerate(ep.subjects):
                    role = by_name[name]
                    extra: dict[str, float | int | str] = {"building": role.building}
                    if role.pair is not None:
                        extra["pair"] = role.pair
                    ep.set_details(j, extra)

    def prefetch(self, values: npt.NDArray[np.float64], starts_ns: npt.NDArray[np.int64]) -> None:
        """Batch: (meters, intervals) values of every interval about to be pushed, from the first
        push on, and those intervals' starts (so detectors can take history statistics, day types
        included, for many steps at once)."""
        if self.ring.count:
            raise RuntimeError("prefetch needs an engine that has not been pushed yet")
        self.baseline.prefetch(values, self.clock.day_type(np.asarray(starts_ns, np.int64)).T)

    def push(self, col: Column, now_ns: int) -> list[Detection]:
        """Run every detector on one interval; returns the episodes that closed at this step."""
        if self.last_end is not None and col.start_ns != self.last_end:
            raise ValueError(f"intervals must be pushed in order without holes: expected start "
                             f"{self.last_end}, got {col.start_ns}")
        self.last_end = col.end_ns
        self.ring.push(col.value)
        f = self.clock.facts(col.start_ns)
        ctx = Context(col=col, now_ns=now_ns, ring=self.ring, hour=f.hour, workday=f.workday,
                      occupied=f.occupied, in_night=f.in_night, night_end=f.night_end,
                      in_base=f.in_base, day_end=f.day_end,
                      interval_h=self.settings.interval_s / 3600.0, clock=self.clock)
        closed: list[Detection] = []
        for det in self.detectors:
            det.step(ctx)
            for ep in det.episodes:
                closed.extend(ep.closed)
                ep.closed = []
        return closed

    def ongoing(self) -> list[Detection]:
        return [d for det in self.detectors for ep in det.episodes for d in ep.ongoing()]


def replay(engine: Engine, readings: Mapping[str, Columns], edges: npt.NDArray[np.int64],
           temp: tuple[npt.ArrayLike, npt.ArrayLike] | None) -> list[Detection]:
    """Cells of every interval between `edges` in one vectorised call, then one engine step each (each
    evaluated at its end + lag). Returns the episodes that closed."""
    cells = compute_cells(readings, engine.roles, edges, engine.settings.max_gap_s, temp)
    if engine.ring.count == 0:
        engine.prefetch(cells.value, edges[:-1])
    lag = lag_ns(engine.settings)
    closed: list[Detection] = []
    for k in range(cells.n_intervals):
        closed.extend(engine.push(cells.column(k), int(edges[k + 1]) + lag))
    return closed


def sort_key(d: Detection) -> tuple[int, str, str]:
    return d.start_ns, d.kind.value, d.subject


def lag_ns(settings: DetectorSettings) -> int:
    """How long after its end an interval is final: max_gap rounded up to whole intervals."""
    step = settings.step_ns
    gap = round(settings.max_gap_s * 1e9)
    return max(1, -(-gap // step)) * step


def grid_floor(ts: int, step: int) -> int:
    return (ts // step) * step
