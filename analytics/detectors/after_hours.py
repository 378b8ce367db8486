"""After-hours waste and base-load creep, per electricity meter, judged once a day.

A meter's day runs from the end of one base-load window to the end of the next (05:00 to 05:00 local
by default), so the evening and night belong to the working day before them. Per day:
- occupied load: mean of the occupied intervals (workdays only);
- after-hours load: mean of the intervals neither occupied nor in the base window (evenings, weekends);
- base load: median of the intervals in the base window (01:00–05:00).
AFTER_HOURS_WASTE: the day's after-hours load exceeds its reference (median of clean days of the same
day type) by more than `waste_enter` of the span between occupied load and base load.
BASE_LOAD_CREEP: the median base load of the last `creep_nights` nights exceeds the median of the
previous clean nights by `creep_enter` (and by `creep_min_share` of the occupied load).
References skip days that were part of an episode, so a lasting fault does not become the new normal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from analytics.detectors.context import Context
from analytics.detectors.episodes import Episodes
from analytics.detectors.history import RowRing
from analytics.detectors.settings import NS, DetectorSettings, MeterRole
from analytics.detectors.stats import nanmedian
from analytics.events import AlertKind, Severity
from analytics.flags import IntervalFlag

_BAD = np.uint16(IntervalFlag.RESET | IntervalFlag.SPIKE | IntervalFlag.ROLLOVER)
_DAY_NS = 86_400 * NS


def _waste(subject: str, value: float, threshold: float, unit: str) -> str:
    return f"{subject}: after-hours load {value:.3g} {unit}, expected at most {threshold:.3g} {unit}"


def _creep(subject: str, value: float, threshold: float, unit: str) -> str:
    return f"{subject}: night base load {value:.3g} {unit} against {threshold:.3g} {unit} before"


def _median(a: np.ndarray) -> np.ndarray:
    return nanmedian(a, axis=1)


class AfterHours:
    """AFTER_HOURS_WASTE and BASE_LOAD_CREEP for electricity counters."""

    def __init__(self, roles: Sequence[MeterRole], settings: DetectorSettings,
                 predictable: Callable[[int], np.ndarray] | None = None) -> None:
        s = self.s = settings
        # per meter: its time-of-week baseline predicts it (TimeOfWeekBaseline.predictable_for); a
        # household-like load whose evenings and nights come and go with the occupants and the weather
        # has no "after hours" to waste in and no steady base to creep from
        self.predictable = predictable
        self.n_meters = len(roles)
        self.rows = np.array([i for i, r in enumerate(roles) if r.kind == "electricity" and r.counter],
                             np.int64)
        names = [roles[i].meter for i in self.rows]
        n = len(self.rows)
        self.waste = Episodes(AlertKind.AFTER_HOURS_WASTE, names, "kW", min_steps=s.waste_days,
                              message=_waste)
        self.creep = Episodes(AlertKind.BASE_LOAD_CREEP, names, "kW", message=_creep)
        self.episodes = [self.waste, self.creep]
        self.occ_sum, self.occ_n = np.zeros(n), np.zeros(n, np.int64)
        self.aft_sum, self.aft_n = np.zeros(n), np.zeros(n, np.int64)
        self.base = np.full((n, s.per_day), np.nan)
        self.base_n = np.zeros(n, np.int64)
        self.day_work = np.zeros(n, bool)
        self.occ_ring = RowRing(n, s.history_days)
        self.base_raw = RowRing(n, s.creep_nights)  # each night's base load ÷ its day type's reference
        self.base_clean = RowRing(n, s.history_days)
        # clean nights by the day type of the night's own date: workday, Saturday off, other day off
        # (a shop's Friday-to-Saturday night is not its Sunday night)
        self.night_clean = [RowRing(n, 20), RowRing(n, 8), RowRing(n, 8)]
        self.night_rel = RowRing(n, s.history_days)  # clean nights ÷ their type's reference: the noise
        self.aft_work = RowRing(n, 20)
        self.aft_off = RowRing(n, 8)  # Sundays, holidays, closures
        self.aft_sat = RowRing(n, 8)  # Saturdays off: shops, venues and libraries open then

    def open_for(self, n_meters: int) -> np.ndarray:
        """Per meter (all roles): an after-hours or base-load episode is open."""
        out = np.zeros(n_meters, bool)
        out[self.rows] = self.waste.active | self.creep.active
        return out

    def step(self, ctx: Context) -> None:
        if not len(self.rows):
            return
        c, rows = ctx.col, self.rows
        x = c.value[rows]
        ok = np.isfinite(x) & (c.coverage[rows] >= 0.999) & ((c.flags[rows] & _BAD) == 0)
        occ, base = ctx.occupied[rows], ctx.in_base[rows]
        o = ok & occ
        self.occ_sum += np.where(o, x, 0.0)
        self.occ_n += o
        a = ok & ~occ & ~base
        self.aft_sum += np.where(a, x, 0.0)
        self.aft_n += a
        b = np.flatnonzero(ok & base)
        self.base[b, self.base_n[b] % self.s.per_day] = x[b]
        self.base_n[b] += 1
        self.day_work |= occ
        done = np.flatnonzero(ctx.day_end[rows])
        if len(done):
            self._close_day(ctx, done)

    def _close_day(self, ctx: Context, idx: np.ndarray) -> None:
        s, c, h = self.s, ctx.col, ctx.interval_h
        occ_mean = np.where(self.occ_n[idx] >= 8, self.occ_sum[idx] / np.maximum(self.occ_n[idx], 1), np.nan)
        aft_mean = np.where(self.aft_n[idx] >= 8, self.aft_sum[idx] / np.maximum(self.aft_n[idx], 1), np.nan)
        base_today = np.where(self.base_n[idx] >= 4, _median(self.base[idx]), np.nan)
        work = self.day_work[idx]
        self.occ_ring.push(idx, occ_mean)
        occ_ref = _median(self.occ_ring.last(idx, s.history_days))
        past = self.base_clean.last(idx, s.history_days)
        enough = np.sum(np.isfinite(past), axis=1) >= s.min_history_days
        day_start = c.end_ns - _DAY_NS

        # base-load creep: each night against the clean nights of its day type, the median of the
        # last creep_nights of those ratios
        night = c.end_ns - 2 * 3600 * NS  # inside the base window, on the night's own date
        rows = self.rows[idx]
        kind = np.where(ctx.clock.workday(np.array([night], np.int64))[0, rows], 0,
                        np.where(ctx.clock.saturday(night)[rows], 1, 2))
        typed = np.full((len(idx), 20), np.nan)
        for k, ring in enumerate(self.night_clean):
            sel = kind == k
            if sel.any():
                typed[sel, :ring.capacity] = ring.last(idx[sel], ring.capacity)
        base_ref = _median(typed)
        with np.errstate(all="ignore"):
            rel = base_today / base_ref
            rel = np.where(np.sum(np.isfinite(typed), axis=1) >= 5, rel, np.nan)
            self.base_raw.push(idx, rel)
            ratio = _median(self.base_raw.last(idx, s.creep_nights)) - 1.0
            cur = (1.0 + ratio) * base_ref
            # ... and beyond the meter's own night-to-night noise: creep_z robust sigmas (of the last
            # history_days clean nights' ratios) of a median of creep_nights nights (a household-like
            # load whose nights wander ±10 % is not creeping at +13 %)
            noise = self.night_rel.last(idx, s.history_days)
            sigma = 1.4826 * _median(np.abs(noise - 1.0))
        steady = (self.predictable(self.n_meters)[rows] if self.predictable is not None
                  else np.ones(len(idx), bool))
        judged = (enough & np.isfinite(ratio) & (base_ref > 0) & np.isfinite(occ_ref)
                  & (np.sum(np.isfinite(noise), axis=1) >= s.min_history_days))
        big = (cur - base_ref) > s.creep_min_share * occ_ref
        # nights are not independent draws (a warm week warms all its nights): the median of
        # creep_nights nights is as noisy as one night, no sqrt(creep_nights) narrower
        noisy = ratio <= s.creep_z * sigma
        enter = judged & steady & (ratio > s.creep_enter) & big & ~noisy
        stay = judged & (ratio > s.creep_exit)
        sev = np.where(ratio > 0.5, int(Severity.MAJOR), int(Severity.WARNING))
        j = idx[judged]
        self.creep.step(j, day_start, c.end_ns, enter[judged], stay[judged], cur[judged] / h,
                        base_ref[judged] / h, sev[judged], ratio[judged], ctx.now_ns)
        creeping = self.creep.active[idx] | (self.creep.run[idx] > 0)
        clean_base = np.where(creeping, np.nan, base_today)
        self.base_clean.push(idx, clean_base)
        self.night_rel.push(idx, np.where(creeping, np.nan, rel))
        for k, ring in enumerate(self.night_clean):
            sel = kind == k
            if sel.any():
                ring.push(idx[sel], clean_base[sel])

        # after-hours waste, against clean days of the same type: workdays, Saturdays off, other days off
        sat = ~work & ctx.clock.saturday(day_start + _DAY_NS // 2)[self.rows[idx]]
        off = np.full((len(idx), 20), np.nan)
        off[:, :8] = np.where(sat[:, None], self.aft_sat.last(idx, 8), self.aft_off.last(idx, 8))
        aft_past = np.where(work[:, None], self.aft_work.last(idx, 20), off)
        aft_ref = _median(aft_past)
        span = occ_ref - base_ref
        with np.errstate(all="ignore"):
            excess = (aft_mean - aft_ref) / span
        judged = (enough & (np.sum(np.isfinite(aft_past), axis=1) >= 3) & np.isfinite(excess)
                  & (span > 0))
        # ... and beyond the day-to-day noise of those days' after-hours load (waste_z robust sigmas)
        aft_sigma = 1.4826 * _median(np.abs(aft_past - aft_ref[:, None]))
        work_ref = _median(self.aft_work.last(idx, 20))
        follows = occ_ref >= s.waste_contrast * work_ref
        enter = (judged & steady & follows & (excess > s.waste_enter)
                 & (aft_mean - aft_ref > s.waste_z * aft_sigma))
        stay = judged & (excess > s.waste_exit)
        sev = np.where(excess > 1.0, int(Severity.MAJOR), int(Severity.WARNING))
        j = idx[judged]
        thr = (aft_ref + s.waste_enter * span) / h
        self.waste.step(j, day_start, c.end_ns, enter[judged], stay[judged], aft_mean[judged] / h,
                        thr[judged], sev[judged], excess[judged], ctx.now_ns)
        wasting = self.waste.active[idx] | (self.waste.run[idx] > 0)
        clean_aft = np.where(wasting, np.nan, aft_mean)
        w, f, st = idx[work], idx[~work & ~sat], idx[sat]
        self.aft_work.push(w, clean_aft[work])
        self.aft_off.push(f, clean_aft[~work & ~sat])
        self.aft_sat.push(st, clean_aft[sat])

        self.occ_sum[idx] = 0.0
        self.occ_n[idx] = 0
        self.aft_sum[idx] = 0.0
        self.aft_n[idx] = 0
        self.base[idx] = np.nan
        self.base_n[idx] = 0
        self.day_work[idx] = False
