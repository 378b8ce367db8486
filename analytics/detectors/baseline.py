"""Consumption against a robust time-of-week baseline.

For each interval, the same time-of-week slot over the trailing `baseline_weeks` weeks gives a median
and a MAD; the robust z is |x − median| / (1.4826 · MAD). With fewer than `baseline_min_weeks` weeks
of that slot (cold start), the same hour of the previous days of the same day type stands in, with
thresholds `cold_z_factor` wider; with fewer than `cold_start_days` such days, no verdict.
Past weeks count only where their day type (workday, Saturday off, other day off: see
`Clock.day_type`) is today's, so a holiday is judged against days off. A deviation must also exceed
`min_rel_dev` of the meter's typical level, so a flat slot with a tiny MAD cannot alarm on noise.
A deviation that many meters of the site share at the same time, the same way (at least
`common_share` of the judged meters, and 3), is not opened as a meter's anomaly: its cause is
common (weather, an event, a day off the calendar does not know).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from analytics.detectors.context import Context
from analytics.detectors.episodes import Episodes
from analytics.detectors.history import IntervalRing
from analytics.detectors.predictability import Predictability
from analytics.detectors.settings import NS, DetectorSettings, MeterRole
from analytics.detectors.stats import nanmedian
from analytics.events import AlertKind, Severity
from analytics.flags import IntervalFlag

_BAD = np.uint16(IntervalFlag.RESET | IntervalFlag.SPIKE | IntervalFlag.ROLLOVER | IntervalFlag.INVALID)
MAD_TO_SIGMA = 1.4826


def _message(subject: str, value: float, threshold: float, unit: str) -> str:
    word = "above" if value > threshold else "below"
    return f"{subject}: {value:.3g} {unit} {word} its time-of-week baseline {threshold:.3g} {unit}"


def _nan_to_num(x: np.ndarray) -> np.ndarray:
    """np.nan_to_num, at a fraction of its cost for the usual case of no infinity."""
    out = np.where(np.isnan(x), 0.0, x)
    return np.nan_to_num(x) if np.isinf(out).any() else out


def robust_z(x: np.ndarray, hist: np.ndarray, floor: np.ndarray, rel_floor: float = 0.0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, median, n) of x against the rows of hist (NaN = absent); sigma = 1.4826 MAD, at least
    `floor` and `rel_floor` × |median|."""
    med = nanmedian(hist, axis=1)
    mad = nanmedian(np.abs(hist - med[:, None]), axis=1)
    return _z(x, hist, med, mad, floor, rel_floor)


def _z(x: np.ndarray, hist: np.ndarray, med: np.ndarray, mad: np.ndarray, floor: np.ndarray,
       rel_floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """robust_z from the rows' median and MAD."""
    n = np.sum(np.isfinite(hist), axis=1)
    with np.errstate(all="ignore"):
        sigma = np.maximum(np.maximum(MAD_TO_SIGMA * mad, floor), rel_floor * np.abs(med))
        z = (x - med) / sigma
    return z, med, n


class TimeOfWeekBaseline:
    """CONSUMPTION_ANOMALY for meters of `settings.baseline_kinds`."""

    def __init__(self, roles: Sequence[MeterRole], settings: DetectorSettings, units: Sequence[str]) -> None:
        self.s = settings
        self.rows = np.array([i for i, r in enumerate(roles)
                              if r.kind in settings.baseline_kinds and r.counter], np.int64)
        self.ep = Episodes(AlertKind.CONSUMPTION_ANOMALY, [roles[i].meter for i in self.rows],
                           [units[int(i)] for i in self.rows],
                           min_steps=settings.baseline_min_intervals, message=_message)
        self.episodes = [self.ep]
        per_week = 7 * settings.per_day
        self.week_lags = per_week * np.arange(1, settings.baseline_weeks + 1, dtype=np.int64)
        self.cold_days = np.arange(1, 8, dtype=np.int64)  # cold start looks back one week of days
        self.day_lags = settings.per_day * self.cold_days
        w = settings.window_intervals
        self.win_lags = (self.week_lags[:, None] + np.arange(w, dtype=np.int64)[None, :]).ravel()
        self.win_now = np.arange(w, dtype=np.int64)
        # each history value is compared with the day type of the value "now" at the same window spot
        self.week_now = self.week_lags % per_week
        self.win_lags_now = self.win_lags % per_week
        n = len(self.rows)
        self.day_type = IntervalRing(n, int(self.win_lags.max()) + 1)  # Clock.day_type of each interval
        self.n_meters = len(roles)
        self.explained_by: list[Callable[[int], np.ndarray]] = []  # open episodes that already say it
        self.level_sum = np.zeros(n)
        self.level_n = np.zeros(n)
        self.noise = Predictability(n, settings.history_days, settings.min_history_days)
        self._ahead: _Ahead | None = None

    def step(self, ctx: Context) -> None:
        if not len(self.rows):
            return
        s, c, rows = self.s, ctx.col, self.rows
        today = ctx.clock.day_type(np.array([c.start_ns], np.int64))[0, rows]
        self.day_type.push(today)
        x = c.value[rows]
        ok = np.isfinite(x) & (c.coverage[rows] >= 0.999) & ((c.flags[rows] & _BAD) == 0)
        level = np.where(self.level_n > 0, self.level_sum / np.maximum(self.level_n, 1), np.nan)
        level0 = _nan_to_num(level)
        floor = np.maximum(0.02 * level0, 1e-12)
        win = self._history(ctx)
        hist = win.hist
        z, med, n = _z(x, hist, win.med, win.mad, floor, 0.0)
        cold = n < s.baseline_min_weeks
        if cold.any():
            day_hist = ctx.ring.at(self.day_lags, rows)
            same = today[:, None] == self._day_type_back(ctx, rows)
            day_hist = np.where(same, day_hist, np.nan)
            zc, medc, nc = robust_z(x, day_hist, floor)
            z = np.where(cold, zc, z)
            med = np.where(cold, medc, med)
            n = np.where(cold, nc, n)
            judged = ok & ((~cold) | (nc >= s.cold_start_days))
        else:
            judged = ok
        f = np.where(cold, s.cold_z_factor, 1.0)
        scale = np.maximum(np.abs(med), level0)
        dev = np.abs(x - med)
        # the meter's own noise, from every judged interval (cold start included): thresholds at least
        # noise_k times its typical relative deviation; no verdict before it is known (min_history_days
        # days), nor on a meter its time-of-week baseline cannot predict (beyond max_noise)
        self.noise.add(judged & np.isfinite(dev), dev, scale)
        self.noise.close(ctx.day_end[rows])
        noise = self.noise.noise()
        predictable = np.isfinite(noise) & (noise <= s.baseline_max_noise)
        judged &= predictable
        rel_floor = np.where(predictable, s.baseline_noise_k * noise, 0.0)
        # only consumption above the baseline is an anomaly: a drop is no waste, and a meter that stops
        # counting is a stuck meter or a communication loss, raised by their own rules
        up = x - med
        enter = (judged & (z > s.z_enter * f) & (up > s.min_rel_dev * f * scale) & (up > rel_floor * scale))
        stay = judged & (z > s.z_exit * f) & (up > 0.5 * np.maximum(s.min_rel_dev * f, rel_floor) * scale)
        start = np.full(len(rows), c.start_ns, np.int64)
        w_enter, w_stay, w_start = self._window(ctx, win, ok, level0, predictable, rel_floor)
        start = np.where(enter, start, np.where(w_enter, w_start, start))
        enter |= w_enter
        stay |= w_stay
        for said in self.explained_by:  # a base-load step or after-hours waste already open: no new episode
            enter &= ~said(self.n_meters)[rows]
        enter &= ~self._common(judged, z, x - med, f)
        sev = np.where(dev > 2.0 * scale, int(Severity.MAJOR), int(Severity.WARNING))
        idx = np.flatnonzero(ok)  # intervals without a clean value keep the episode as it is
        self.ep.step(idx, start[idx], c.end_ns, enter[idx], stay[idx], x[idx], med[idx], sev[idx],
                     np.abs(z[idx]), ctx.now_ns)
        # the typical level: a running mean of clean intervals outside any anomaly
        clean = ok & ~self.ep.active
        self.level_sum += np.where(clean, x, 0.0)
        self.level_n += clean

    def predictable_for(self, n_meters: int) -> np.ndarray:
        """Per meter (all roles): its time-of-week pattern is known and predicts it (noise known and at
        most `baseline_max_noise`); False for meters the baseline does not judge."""
        out = np.zeros(n_meters, bool)
        noise = self.noise.noise()
        out[self.rows] = np.isfinite(noise) & (noise <= self.s.baseline_max_noise)
        return out

    def _common(self, judged: np.ndarray, z: np.ndarray, dev: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Per row: its deviation's direction is shared, now, by at least `common_share` of the judged
        meters (and by 3): a site-wide cause, not this meter's fault."""
        n = int(judged.sum())
        wide = judged & (np.abs(z) > self.s.z_exit * f)
        out = np.zeros(len(judged), bool)
        for sign in (1.0, -1.0):
            same = wide & (np.sign(dev) == sign)
            k = int(same.sum())
            if k >= 3 and k >= self.s.common_share * n:
                out |= np.sign(dev) == sign
        return out

    def prefetch(self, values: np.ndarray, day_type: np.ndarray) -> None:
        """Batch: the values and day types (meters, intervals) of every interval the engine will step
        through, from its first (the ring must be empty); the history statistics are then taken from
        them block by block."""
        self._ahead = _Ahead(values[self.rows], day_type[self.rows].astype(np.float64),
                             (self.week_lags, self.win_now, self.win_lags),
                             (self.week_now, self.win_lags_now), self.s.window_intervals)

    def _history(self, ctx: Context) -> _Windows:
        k = ctx.ring.count - 1
        if self._ahead is not None and k < self._ahead.n:
            return self._ahead.at(k)
        self._ahead = None  # past the prefetched values: from the ring, as streaming
        rows, dt = self.rows, self.day_type
        hist = _same_type(ctx.ring.at(self.week_lags, rows), dt.at(self.week_lags), dt.at(self.week_now))
        past = _same_type(ctx.ring.at(self.win_lags, rows), dt.at(self.win_lags), dt.at(self.win_lags_now))
        return _windows(hist, ctx.ring.at(self.win_now, rows), past, self.s.window_intervals)

    def _window(self, ctx: Context, win: _Windows, ok: np.ndarray, level0: np.ndarray,
                allowed: np.ndarray, rel_floor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The slow scale: the sum of the last `window_intervals` intervals against the same window in
        the trailing weeks. Returns (enter, stay, start): start is where the deviation began inside
        the window (the oldest interval from which every interval deviates the same way). `allowed` rows
        may be judged, above `rel_floor` × their level."""
        s = self.s
        w = s.window_intervals
        now, xw = win.now, win.xw
        floor = np.maximum(s.window_rel_floor * w * level0, 1e-12)
        z, med, n = _z(xw, win.hw, win.med_w, win.mad_w, floor, s.window_rel_floor)
        judged = ok & (n >= s.baseline_min_weeks) & np.isfinite(xw)
        scale = np.maximum(np.abs(med), w * level0)
        dev = np.abs(xw - med)
        up = xw - med
        judged &= allowed
        enter = (judged & (z > s.z_window_enter) & (up > s.window_min_rel_dev * scale)
                 & (up > rel_floor * scale))
        stay = (judged & (z > s.z_window_exit)
                & (up > 0.5 * np.maximum(s.window_min_rel_dev, rel_floor) * scale))
        # where it began: per-interval deviations against each slot's own median
        med_j = win.slot_median  # (rows, w)
        sign = np.sign(xw - med)[:, None]
        same = (now - med_j) * sign > 0.5 * dev[:, None] / w
        suffix = np.cumprod(same[:, ::-1], axis=1)[:, ::-1].astype(bool)  # same from here to the newest
        first = np.where(suffix.any(axis=1), np.argmax(suffix, axis=1), w - 1)
        start = ctx.col.end_ns - (w - first) * s.step_ns
        newest = same[:, -1]  # the window only speaks while its newest interval still deviates
        return enter & newest, stay & newest, start.astype(np.int64)

    def _day_type_back(self, ctx: Context, rows: np.ndarray) -> np.ndarray:
        """(len(rows), days): the day type of the same interval `d` days back, per meter."""
        back = ctx.col.start_ns - self.cold_days * (86_400 * NS)
        return ctx.clock.day_type(back)[:, rows].T


def _same_type(values: np.ndarray, then: np.ndarray, now: np.ndarray) -> np.ndarray:
    """`values` where the day type `then` equals `now` (NaN elsewhere); unchanged when all agree."""
    same = then == now
    return values if same.all() else np.where(same, values, np.nan)


@dataclass(frozen=True)
class _Windows:
    """The baseline's history at one step (or, with leading axes, at many): the slot's history, the
    window now (oldest first) and its sum, the window sums' history, and their medians and MADs."""

    hist: np.ndarray  # (..., weeks)
    now: np.ndarray  # (..., w)
    xw: np.ndarray  # NaN if any interval of the window is missing
    hw: np.ndarray  # (..., weeks)
    med: np.ndarray
    mad: np.ndarray
    med_w: np.ndarray
    mad_w: np.ndarray
    slot_median: np.ndarray  # (..., w): each window slot's median over the weeks

    def __getitem__(self, k: int) -> _Windows:
        return _Windows(*(getattr(self, f.name)[k] for f in fields(self)))


def _windows(hist: np.ndarray, now_raw: np.ndarray, past_raw: np.ndarray, w: int) -> _Windows:
    """From ring reads (lag order, newest first) with any leading axes: the medians of the slot
    history, of the window sums' history and of each window slot's history in one nanmedian call (all
    over the same number of weeks), both MADs in a second; per row the same arithmetic as separate
    calls, so one step alone or many at once give the same bits."""
    lead, weeks = hist.shape[:-1], hist.shape[-1]
    m = int(np.prod(lead))
    now = now_raw[..., ::-1]
    past = past_raw.reshape(*lead, weeks, w)[..., ::-1]
    xw = now.sum(axis=-1)
    hw = past.sum(axis=-1)
    slots = np.swapaxes(past, -1, -2).reshape(m * w, weeks)
    both = np.concatenate([hist.reshape(m, weeks), hw.reshape(m, weeks)])
    med = nanmedian(np.concatenate([both, slots]), axis=1)
    mad = nanmedian(np.abs(both - med[:2 * m, None]), axis=1)
    return _Windows(hist, now, xw, hw, med[:m].reshape(lead), mad[:m].reshape(lead),
                    med[m:2 * m].reshape(lead), mad[m:].reshape(lead), med[2 * m:].reshape(*lead, w))


class _Ahead:
    """The batch knows every interval's values before it steps: the baseline's history statistics of
    a block of steps in one go. Step k reads the values of intervals k − lag (NaN before the first),
    exactly what the ring holds when the engine started empty."""

    BLOCK = 256

    def __init__(self, values: np.ndarray, workday: np.ndarray,
                 lags: tuple[np.ndarray, np.ndarray, np.ndarray],
                 lags_now: tuple[np.ndarray, np.ndarray], w: int) -> None:
        week_lags, win_now, win_lags = lags
        self.pad = int(max(week_lags.max(), win_lags.max(), win_now.max())) + 1
        self.v = np.concatenate([np.full((len(values), self.pad), np.nan), values], axis=1)
        # day types before the first interval are unknown (NaN: never "the same"; the values are NaN)
        self.wd = np.concatenate([np.full((len(values), self.pad), np.nan), workday], axis=1)
        self.lags = lags
        self.lags_now = lags_now
        self.n = values.shape[1]  # steps known ahead
        self.w = w
        self.k0, self.block = -1, None  # type: int, _Windows | None

    def at(self, k: int) -> _Windows:
        if self.block is None or not self.k0 <= k < self.k0 + self.BLOCK:
            self.k0 = k
            ks = np.arange(k, min(k + self.BLOCK, self.n), dtype=np.int64)
            # (steps, rows, lags), C-contiguous like one step's ring read, so the sums run alike
            cols = self.pad + ks[:, None]
            hist, now, past = (np.ascontiguousarray(np.moveaxis(self.v[:, cols - lags], 0, 1))
                               for lags in self.lags)
            (week, _, win), (week_now, win_now) = self.lags, self.lags_now
            hist = _same_type(hist, *(np.moveaxis(self.wd[:, cols - g], 0, 1) for g in (week, week_now)))
            past = _same_type(past, *(np.moveaxis(self.wd[:, cols - g], 0, 1) for g in (win, win_now)))
            self.block = _windows(np.ascontiguousarray(hist), now, np.ascontiguousarray(past), self.w)
        return self.block[k - self.k0]
