"""Meters read hourly judged on hourly intervals: one StreamingDetectors per cadence class.

The detectors' cells interpolate a counter at each 15-minute edge from the readings around it; a step
longer than `max_gap_s` (30 min) is a gap, so a meter read once an hour has no cells and nothing but
its data faults (comm loss, resets, spikes, sentinels, on the raw readings) is judged. Widening the
gap for everyone would delay every verdict by the slowest meter's step (an interval is final only
when the reading after it can have arrived). So meters are grouped by how often they are read:

- up to `max_gap_s` apart (a gateway's polls): the 15-minute detectors, as configured;
- up to 2 h apart (hourly reads, AMR systems, many BMS exports): the same detectors on 1-hour
  intervals, `max_gap_s` two hours, the consumption baseline's minimum episode one interval (1 h)
  and its slow window 2 intervals (2 h); thresholds in hours or nights are unchanged;
- read less often (daily, monthly): the 15-minute detectors, which judge their data faults.

A heat meter and its heat pump's electricity meter go to the slower of their two classes (COP and
"stuck while the pair runs" need both in one engine). Each group evaluates at the same ticks; their
detections are concatenated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from analytics.detectors.settings import DetectorSettings, MeterRole, Schedule
from analytics.detectors.streaming import StreamingDetectors
from analytics.events import Detection
from analytics.intervals import typical_step_ns
from analytics.readings_io import Columns

HOURLY_MAX_S = 7200.0  # meters read at most this far apart (but beyond max_gap_s) are judged hourly


def hourly_settings(base: DetectorSettings) -> DetectorSettings:
    """`base` on 1-hour intervals: what counts in intervals is rescaled to the same duration where
    one interval allows it, what counts in hours, days or nights is kept."""
    return dataclasses.replace(base, interval_s=3600, max_gap_s=max(base.max_gap_s, HOURLY_MAX_S),
                               baseline_kinds=())


def cadence_class(step_s: float | None, settings: DetectorSettings) -> str:
    """"fast" (judged on the configured intervals) or "hourly"."""
    if step_s is None or not np.isfinite(step_s) or step_s <= settings.max_gap_s or step_s > HOURLY_MAX_S:
        return "fast"
    return "hourly"


def group_roles(roles: Sequence[MeterRole], cadence_s: Mapping[str, float],
                settings: DetectorSettings) -> dict[str, list[MeterRole]]:
    """Roles by cadence class; a heat meter and its pair share the slower class."""
    cls = {r.meter: cadence_class(cadence_s.get(r.meter), settings) for r in roles}
    for r in roles:
        if r.pair is not None and r.pair in cls and "hourly" in (cls[r.meter], cls[r.pair]):
            cls[r.meter] = cls[r.pair] = "hourly"
    out: dict[str, list[MeterRole]] = {}
    for r in roles:
        out.setdefault(cls[r.meter], []).append(r)
    return out


class CadenceDetectors:
    """The StreamingDetectors interface over one instance per cadence class."""

    def __init__(self, roles: Sequence[MeterRole], cadence_s: Mapping[str, float], *,
                 settings: DetectorSettings = DetectorSettings(),  # noqa: B008 - frozen, immutable
                 schedules: Mapping[str, Schedule] | None = None) -> None:
        groups = group_roles(roles, cadence_s, settings)
        self.settings = settings
        self.classes = {m.meter: name for name, rs in groups.items() for m in rs}
        self._members = {name: np.array([r.meter for r in rs]) for name, rs in groups.items()}
        self.groups = {name: StreamingDetectors(rs, settings=settings if name == "fast"
                                                else hourly_settings(settings), schedules=schedules)
                       for name, rs in groups.items()}

    @property
    def late_readings(self) -> int:
        return sum(g.late_readings for g in self.groups.values())

    def add(self, meter: str | npt.ArrayLike, quantity: str, ts_ns: npt.ArrayLike | int,
            value: npt.ArrayLike | float) -> None:
        """Each reading to the group that judges its meter (readings of other meters are ignored)."""
        if len(self.groups) == 1:
            next(iter(self.groups.values())).add(meter, quantity, ts_ns, value)
            return
        if isinstance(meter, str):
            group = self.groups.get(self.classes.get(meter, ""))
            if group is not None:
                group.add(meter, quantity, ts_ns, value)
            return
        m = np.atleast_1d(np.asarray(meter)).astype(str)
        t = np.atleast_1d(np.asarray(ts_ns, np.int64))
        v = np.atleast_1d(np.asarray(value, np.float64))
        for name, group in self.groups.items():
            mine = np.isin(m, self._members[name])
            if mine.any():
                group.add(m[mine], quantity, t[mine], v[mine])

    def add_outdoor_temp(self, ts_ns: npt.ArrayLike | int, value: npt.ArrayLike | float) -> None:
        for g in self.groups.values():
            g.add_outdoor_temp(ts_ns, value)

    def evaluate(self, boundary_ns: int) -> list[Detection]:
        return [d for g in self.groups.values() for d in g.evaluate(boundary_ns)]

    def replay_ticks(self, readings: Mapping[str, Columns], ticks: Sequence[int],
                     late_ns: int) -> Iterator[list[Detection]]:
        streams = [g.replay_ticks(readings, ticks, late_ns) for g in self.groups.values()]
        for _ in ticks:
            yield [d for s in streams for d in next(s)]
        for s in streams:  # let each finish: it leaves its buffers as the tick-by-tick path would
            next(s, None)


def measured_cadence(readings: Mapping[str, Columns]) -> dict[str, float]:
    """Each meter's typical step between readings (s; analytics.intervals.typical_step_ns, the
    sampled median `analyze` uses for its gap limit), the shortest over its quantities."""
    out: dict[str, float] = {}
    for c in readings.values():
        if len(c.ts_ns) < 2:
            continue
        meter = np.asarray(c.meter).astype(str)
        ts = np.asarray(c.ts_ns, np.int64)
        order = np.lexsort((ts, meter))
        m, t = meter[order], ts[order]
        starts = np.flatnonzero(np.r_[True, m[1:] != m[:-1]])
        ends = np.r_[starts[1:], len(m)]
        steps = typical_step_ns(t, starts, ends) / 1e9
        for name, step in zip(m[starts].tolist(), steps.tolist(), strict=True):
            if np.isfinite(step):
                out[name] = min(out.get(name, np.inf), step)
    return out


__all__ = ["HOURLY_MAX_S", "CadenceDetectors", "cadence_class", "group_roles", "hourly_settings",
           "measured_cadence"]
