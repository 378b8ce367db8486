"""Consumption against a robust time-of-week baseline.

For each interval, the same time-of-week slot over the trailing `baseline_weeks` weeks gives a median
and a MAD; the robust z is |x − median| / (1.4826 · MAD). With fewer than `baseline_min_weeks` weeks
of that slot (cold start), the same hour of the previous days of the same day type (workday or not)
stands in, with thresholds `cold_z_factor` wider; with fewer than `cold_start_days` such days, no
verdict. A deviation must also exceed `min_rel_dev` of the meter's typical level, so a flat slot with
a tiny MAD cannot alarm on noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from analytics.detectors.context import Context
from analytics.detectors.episodes import Episodes
from analytics.detectors.settings import NS, DetectorSettings, MeterRole
from analytics.events import AlertKind, Severity
from analytics.flags import IntervalFlag

_BAD = np.uint16(IntervalFlag.RESET | IntervalFlag.SPIKE | IntervalFlag.ROLLOVER | IntervalFlag.INVALID)
MAD_TO_SIGMA = 1.4826


def _message(subject: str, value: float, threshold: float, unit: str) -> str:
    word = "above" if value > threshold else "below"
    return f"{subject}: {value:.3g} {unit} {word} its time-of-week baseline {threshold:.3g} {unit}"


def robust_z(x: np.ndarray, hist: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, median, n) of x against the rows of hist (NaN = absent); sigma floored at `floor`."""
    n = np.sum(np.isfinite(hist), axis=1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, which is what we want
        med = np.nanmedian(hist, axis=1)
        mad = np.nanmedian(np.abs(hist - med[:, None]), axis=1)
        sigma = np.maximum(MAD_TO_SIGMA * mad, floor)
        z = (x - med) / sigma
    return z, med, n


class TimeOfWeekBaseline:
    """CONSUMPTION_ANOMALY for meters of `settings.baseline_kinds`."""

    def __init__(self, roles: Sequence[MeterRole], settings: DetectorSettings, units: Sequence[str]) -> None:
        self.s = settings
        self.rows = np.array([i for i, r in enumerate(roles)
                              if r.kind in settings.baseline_kinds and r.counter], np.int64)
        self.ep = Episodes(AlertKind.CONSUMPTION_ANOMALY, [roles[i].meter for i in self.rows],
                           "kWh" if not len(self.rows) else units[int(self.rows[0])],
                           min_steps=settings.baseline_min_intervals, message=_message)
        self.episodes = [self.ep]
        per_week = 7 * settings.per_day
        self.week_lags = per_week * np.arange(1, settings.baseline_weeks + 1, dtype=np.int64)
        self.cold_days = np.arange(1, 8, dtype=np.int64)  # cold start looks back one week of days
        self.day_lags = settings.per_day * self.cold_days
        n = len(self.rows)
        self.level_sum = np.zeros(n)
        self.level_n = np.zeros(n)

    def step(self, ctx: Context) -> None:
        if not len(self.rows):
            return
        s, c, rows = self.s, ctx.col, self.rows
        x = c.value[rows]
        ok = np.isfinite(x) & (c.coverage[rows] >= 0.999) & ((c.flags[rows] & _BAD) == 0)
        level = np.where(self.level_n > 0, self.level_sum / np.maximum(self.level_n, 1), np.nan)
        floor = np.maximum(0.02 * np.nan_to_num(level), 1e-12)
        hist = ctx.ring.at(self.week_lags, rows)
        z, med, n = robust_z(x, hist, floor)
        cold = n < s.baseline_min_weeks
        if cold.any():
            day_hist = ctx.ring.at(self.day_lags, rows)
            same = ctx.workday[rows][:, None] == self._workday_back(ctx, rows)
            day_hist = np.where(same, day_hist, np.nan)
            zc, medc, nc = robust_z(x, day_hist, floor)
            z = np.where(cold, zc, z)
            med = np.where(cold, medc, med)
            n = np.where(cold, nc, n)
            judged = ok & ((~cold) | (nc >= s.cold_start_days))
        else:
            judged = ok
        f = np.where(cold, s.cold_z_factor, 1.0)
        scale = np.maximum(np.abs(med), np.nan_to_num(level))
        dev = np.abs(x - med)
        enter = judged & (np.abs(z) > s.z_enter * f) & (dev > s.min_rel_dev * f * scale)
        stay = judged & (np.abs(z) > s.z_exit * f) & (dev > 0.5 * s.min_rel_dev * f * scale)
        sev = np.where(dev > 2.0 * scale, int(Severity.MAJOR), int(Severity.WARNING))
        idx = np.flatnonzero(ok)  # intervals without a clean value keep the episode as it is
        self.ep.step(idx, c.start_ns, c.end_ns, enter[idx], stay[idx], x[idx], med[idx], sev[idx],
                     np.abs(z[idx]), ctx.now_ns)
        # the typical level: a running mean of clean intervals outside any anomaly
        clean = ok & ~self.ep.active
        self.level_sum += np.where(clean, x, 0.0)
        self.level_n += clean

    def _workday_back(self, ctx: Context, rows: np.ndarray) -> np.ndarray:
        """(len(rows), days): is the same interval `d` days back a workday, per meter."""
        back = ctx.col.start_ns - self.cold_days * (86_400 * NS)
        return ctx.clock.workday(back)[:, rows].T
