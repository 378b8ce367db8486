"""What every detector sees at one evaluation step: the finalised interval of every meter, its local
time per building schedule, and the interval history (newest column = this interval)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analytics.detectors.cells import Column
from analytics.detectors.episodes import Episodes
from analytics.detectors.history import IntervalRing
from analytics.detectors.settings import DetectorSettings, MeterRole, Schedule

Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Context:
    col: Column
    now_ns: int  # the boundary at which this interval is evaluated (its end + the finalisation lag)
    ring: IntervalRing  # values; lag 0 = this interval
    hour: npt.NDArray[np.float64]  # local hour of the interval's start, per meter
    workday: Bool  # the interval's local date is a workday
    occupied: Bool
    in_night: Bool  # inside the leak night window
    night_end: Bool  # the last interval of the night window
    in_base: Bool  # inside the base-load window
    day_end: Bool  # the last interval of the meter's day (days end with the base window)
    interval_h: float
    clock: Clock


class Detector(Protocol):
    episodes: list[Episodes]

    def step(self, ctx: Context) -> None: ...


class Clock:
    """Local-time facts of each meter for an interval, from its building's schedule."""

    def __init__(self, roles: Sequence[MeterRole], schedules: Mapping[str, Schedule],
                 settings: DetectorSettings) -> None:
        default = Schedule()
        uniq: list[Schedule] = []
        idx = np.zeros(len(roles), np.int64)
        for r, role in enumerate(roles):
            sch = schedules.get(role.building, default)
            if sch not in uniq:
                uniq.append(sch)
            idx[r] = uniq.index(sch)
        self.schedules, self.index, self.settings = uniq, idx, settings
        self._ahead: dict[int, Facts] = {}  # facts worked out in advance by `prefetch`

    def prefetch(self, starts_ns: npt.NDArray[np.int64]) -> None:
        """Work out the facts of many intervals in one vectorised pass (the batch); `facts` hands each
        out once. The same arithmetic as `facts`, element by element, so the same values."""
        starts = np.asarray(starts_ns, np.int64)
        if starts.size == 0:
            return
        per = [self._facts_of(sch, starts) for sch in self.schedules]  # each: name -> (n_starts,)
        cols = {k: np.stack([p[k] for p in per], axis=1)[:, self.index] for k in per[0]}
        for j, start in enumerate(starts.tolist()):
            self._ahead[start] = Facts(**{k: v[j] for k, v in cols.items()})

    def _facts_of(self, sch: Schedule, starts: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.generic]]:
        eps = 1e-9
        _, hour, work = sch.local(starts)
        end = hour + self.settings.interval_s / 3600.0
        return {"hour": hour, "workday": work,
                "occupied": work & (sch.open_h - eps <= hour) & (hour < sch.close_h - eps),
                "in_night": (sch.night_start_h - eps <= hour) & (hour < sch.night_end_h - eps),
                "night_end": np.abs(end - sch.night_end_h) < eps,
                "in_base": (sch.base_start_h - eps <= hour) & (hour < sch.base_end_h - eps),
                "day_end": np.abs(end - sch.base_end_h) < eps}

    def saturday(self, ts_ns: int) -> Bool:
        """(n_meters,): is the local date of the instant a Saturday, per meter."""
        ts = np.array([int(ts_ns)], np.int64)
        per = np.array([(sch.local(ts)[0][0] + 3) % 7 == 5 for sch in self.schedules], bool)
        return per[self.index]

    def workday(self, ts_ns: npt.NDArray[np.int64]) -> Bool:
        """(len(ts_ns), n_meters): is the local date of each instant a workday, per meter."""
        ts = np.asarray(ts_ns, np.int64)
        per = np.stack([sch.local(ts)[2] for sch in self.schedules], axis=1)  # (n_ts, n_schedules)
        return per[:, self.index]

    def day_type(self, ts_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """(len(ts_ns), n_meters): the day type of each instant's local date, per meter: 1.0 a workday
        (adjusted working days included), 2.0 a Saturday off, 0.0 another day off (Sunday, holiday,
        closure). A holiday is not compared with Saturdays, when many buildings open half a day."""
        ts = np.asarray(ts_ns, np.int64)
        cols = []
        for sch in self.schedules:
            day, _, work = sch.local(ts)
            cols.append(np.where(work, 1.0, np.where((day + 3) % 7 == 5, 2.0, 0.0)))
        return np.stack(cols, axis=1)[:, self.index]

    def facts(self, start_ns: int) -> Facts:
        ahead = self._ahead.pop(start_ns, None)
        if ahead is not None:
            return ahead
        step_h = self.settings.interval_s / 3600.0
        per: dict[str, list[float | bool]] = {k: [] for k in (
            "hour", "workday", "occupied", "in_night", "night_end", "in_base", "day_end")}
        eps = 1e-9
        for sch in self.schedules:
            _, hour_a, work_a = sch.local(np.array([start_ns], np.int64))
            hour, work = float(hour_a[0]), bool(work_a[0])
            end = hour + step_h
            per["hour"].append(hour)
            per["workday"].append(work)
            per["occupied"].append(work and sch.open_h - eps <= hour < sch.close_h - eps)
            per["in_night"].append(sch.night_start_h - eps <= hour < sch.night_end_h - eps)
            per["night_end"].append(abs(end - sch.night_end_h) < eps)
            per["in_base"].append(sch.base_start_h - eps <= hour < sch.base_end_h - eps)
            per["day_end"].append(abs(end - sch.base_end_h) < eps)
        out = {k: np.asarray(vals, np.float64 if k == "hour" else bool)[self.index]
               for k, vals in per.items()}
        return Facts(**out)


@dataclass(frozen=True)
class Facts:
    """Local-time facts of one interval, per meter."""

    hour: npt.NDArray[np.float64]
    workday: Bool
    occupied: Bool
    in_night: Bool
    night_end: Bool
    in_base: Bool
    day_end: Bool
