"""Water leak: the minimum night flow stays above k × its 28-night median and above an absolute floor.

Each night the minimum of the interval flows (m³/h) inside the schedule's night window (02:00–04:00 by
default) is that night's minimum night flow (MNF). The reference is the median MNF of the previous
`history_days` nights that were not themselves leaking, so a long leak does not become the new normal.
A leak opens after `leak_nights` nights in a row above max(k · reference, floor) and closes on the
first night below max(k/2 · reference, exit floor). Cold start: with fewer than `leak_min_nights`
clean nights the reference is unknown and nothing is said (a meter's normal night flow, e.g. a
cooling-tower make-up, is learnt before it is judged).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from analytics.detectors.context import Context
from analytics.detectors.episodes import Episodes
from analytics.detectors.history import RowRing
from analytics.detectors.settings import NS, DetectorSettings, MeterRole, Schedule
from analytics.events import AlertKind, Severity
from analytics.flags import IntervalFlag

_BAD = np.uint16(IntervalFlag.RESET | IntervalFlag.SPIKE | IntervalFlag.ROLLOVER)


def _message(subject: str, value: float, threshold: float, unit: str) -> str:
    return f"{subject}: minimum night flow {value:.3g} {unit} against {threshold:.3g} {unit} (leak?)"


class NightFlowLeak:
    """WATER_LEAK for water counters."""

    def __init__(self, roles: Sequence[MeterRole], settings: DetectorSettings,
                 night_h: Sequence[float]) -> None:
        self.s = settings
        self.rows = np.array([i for i, r in enumerate(roles) if r.kind == "water" and r.counter], np.int64)
        n = len(self.rows)
        self.ep = Episodes(AlertKind.WATER_LEAK, [roles[i].meter for i in self.rows], "m³/h",
                           min_steps=settings.leak_nights, message=_message)
        self.episodes = [self.ep]
        self.night_min = np.full(n, np.inf)
        self.night_n = np.zeros(n, np.int64)
        self.clean = RowRing(n, settings.history_days)
        self.night_ns = (np.asarray(night_h, np.float64)[self.rows] * 3600 * NS).astype(np.int64)
        self.window_n = np.maximum(1, np.round(np.asarray(night_h)[self.rows] * 3600 / settings.interval_s))

    @staticmethod
    def night_hours(roles: Sequence[MeterRole], schedules: dict[str, Schedule]) -> list[float]:
        d = Schedule()
        return [schedules.get(r.building, d).night_end_h - schedules.get(r.building, d).night_start_h
                for r in roles]

    def step(self, ctx: Context) -> None:
        if not len(self.rows):
            return
        s, c, rows = self.s, ctx.col, self.rows
        inside = ctx.in_night[rows]
        flow = c.value[rows] / ctx.interval_h
        ok = inside & np.isfinite(flow) & (c.coverage[rows] >= 0.999) & ((c.flags[rows] & _BAD) == 0)
        self.night_min = np.where(ok, np.minimum(self.night_min, flow), self.night_min)
        self.night_n += ok
        done = ctx.night_end[rows]
        if not done.any():
            return
        idx = np.flatnonzero(done)
        enough = self.night_n[idx] * 2 >= self.window_n[idx]
        mnf = np.where(enough, self.night_min[idx], np.nan)
        past = self.clean.last(idx, s.history_days)
        n_ref = np.sum(np.isfinite(past), axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(past, axis=1)
        enter_thr = np.maximum(s.leak_k * ref, s.leak_floor)
        exit_thr = np.maximum(0.5 * s.leak_k * ref, s.leak_exit_floor)
        valid = np.isfinite(mnf) & (n_ref >= s.leak_min_nights)
        enter = valid & (mnf > enter_thr)
        stay = valid & (mnf > exit_thr)
        sev = np.where(mnf > 10 * enter_thr, int(Severity.CRITICAL), int(Severity.MAJOR))
        j = idx[valid]
        start = c.end_ns - self.night_ns[j]
        self.ep.step(j, start, c.end_ns, enter[valid], stay[valid], mnf[valid], enter_thr[valid], sev[valid],
                     mnf[valid], ctx.now_ns)
        # this night joins the reference unless it is (or may be starting) a leak
        leaking = self.ep.active[idx] | (self.ep.run[idx] > 0)
        self.clean.push(idx, np.where(leaking, np.nan, mnf))
        self.night_min[idx] = np.inf
        self.night_n[idx] = 0
