"""Heat pump COP below what is expected for the outdoor temperature.

For each heat meter with a `pair` (the electricity meter of its heat pump), once a day: the day's COP
is heat out ÷ electricity in over the intervals where the heat pump ran (drew more than
`hp_running_kwh`) and both meters have a clean value; its outdoor temperature is the mean over those
intervals weighted by electricity. The expected COP is a straight line COP = a + b·T fitted by least
squares to the previous clean days (at least `min_history_days`); without outdoor temperatures, or
when the days span less than 2 K, the median COP of those days. HEAT_PUMP_COP opens when the day's COP
falls below `cop_ratio_enter` × expected and closes when it is back above `cop_ratio_exit` × expected.
Days with less heat than `cop_min_heat_kwh` (summer, idle) are not judged.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from analytics.detectors.context import Context
from analytics.detectors.episodes import Episodes
from analytics.detectors.history import RowRing
from analytics.detectors.idle_draw import IdleDraw
from analytics.detectors.settings import NS, DetectorSettings, MeterRole
from analytics.detectors.stats import nanmedian
from analytics.events import AlertKind, Severity
from analytics.flags import IntervalFlag

_BAD = np.uint16(IntervalFlag.RESET | IntervalFlag.SPIKE | IntervalFlag.ROLLOVER)
_DAY_NS = 86_400 * NS


def _message(subject: str, value: float, threshold: float, unit: str) -> str:
    return (f"{subject}: heat pump COP {value:.2f} against {threshold:.2f} expected "
            "for the outdoor temperature")


def expected_cop(cop: np.ndarray, temp: np.ndarray, t_now: np.ndarray, min_days: int,
                 min_spread: np.ndarray | float = 2.0) -> np.ndarray:
    """Per row: COP expected at `t_now` from the (cop, temp) history rows (NaN = absent): the
    least-squares line when the regressor spans at least `min_spread`, else the median COP."""
    have = np.isfinite(cop)
    n = have.sum(axis=1)
    both = have & np.isfinite(temp)
    nb = both.sum(axis=1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = nanmedian(cop, axis=1)
        tm = np.where(both, temp, 0.0).sum(axis=1) / nb
        cm = np.where(both, cop, 0.0).sum(axis=1) / nb
        dt = np.where(both, temp - tm[:, None], 0.0)
        dc = np.where(both, cop - cm[:, None], 0.0)
        var = (dt * dt).sum(axis=1)
        slope = (dt * dc).sum(axis=1) / var
        spread = np.where(both, temp, -np.inf).max(axis=1) - np.where(both, temp, np.inf).min(axis=1)
        fit = cm + slope * (t_now - tm)
    use_fit = (nb >= min_days) & (spread >= min_spread) & np.isfinite(t_now) & np.isfinite(fit)
    out = np.where(use_fit, fit, med)
    return np.where(n >= min_days, out, np.nan)


class HeatPumpCop:
    """HEAT_PUMP_COP for heat meters with a paired electricity meter."""

    def __init__(self, roles: Sequence[MeterRole], settings: DetectorSettings,
                 idle: IdleDraw | None = None) -> None:
        self.s = settings
        pos = {r.meter: i for i, r in enumerate(roles)}
        pairs = [(i, pos[r.pair]) for i, r in enumerate(roles)
                 if r.kind == "heat" and r.counter and r.pair is not None and r.pair in pos]
        self.rows = np.array([p[0] for p in pairs], np.int64)
        self.elec = np.array([p[1] for p in pairs], np.int64)
        n = len(self.rows)
        self.ep = Episodes(AlertKind.HEAT_PUMP_COP, [roles[i].meter for i in self.rows], "",
                           message=_message)
        self.episodes = [self.ep]
        self.heat = np.zeros(n)
        self.energy = np.zeros(n)
        self.tw = np.zeros(n)
        self.twn = np.zeros(n)
        self.cop_ring = RowRing(n, settings.history_days)
        self.temp_ring = RowRing(n, settings.history_days)
        self.heat_ring = RowRing(n, settings.history_days)  # each day's heat while running (kWh)
        # every meter's idle draw (DataFaults keeps it, per role row): above it a heat pump "runs"
        self.idle = idle if idle is not None else IdleDraw(len(roles), 7)
        self.own_idle = idle is None  # then this detector feeds it itself

    def step(self, ctx: Context) -> None:
        if not len(self.rows):
            return
        s, c = self.s, ctx.col
        q, e = c.value[self.rows], c.value[self.elec]
        clean = ((c.coverage[self.rows] >= 0.999) & (c.coverage[self.elec] >= 0.999)
                 & ((c.flags[self.rows] & _BAD) == 0) & ((c.flags[self.elec] & _BAD) == 0))
        run = clean & np.isfinite(q) & np.isfinite(e) & self.idle.running(e, self.elec, s.hp_running_kwh)
        if self.own_idle:
            self.idle.add(np.where(c.coverage >= 0.999, c.value, np.nan), ctx.day_end)
        self.heat += np.where(run, q, 0.0)
        self.energy += np.where(run, e, 0.0)
        if np.isfinite(c.temp):
            self.tw += np.where(run, e * c.temp, 0.0)
            self.twn += np.where(run, e, 0.0)
        idx = np.flatnonzero(ctx.day_end[self.rows])
        if not len(idx):
            return
        with np.errstate(all="ignore"):
            cop = np.where(self.heat[idx] >= s.cop_min_heat_kwh, self.heat[idx] / self.energy[idx], np.nan)
            temp = np.where(self.twn[idx] > 0, self.tw[idx] / self.twn[idx], np.nan)
        cops = self.cop_ring.last(idx, s.history_days)
        temps = self.temp_ring.last(idx, s.history_days)
        exp = expected_cop(cops, temps, temp, s.min_history_days)
        no_temp = ~np.isfinite(temp)
        if no_temp.any():
            # without outdoor temperatures, the day's heat stands in for them: the colder the day, the
            # more heat and the lower the COP, so the line is fitted on heat (spanning at least 20 % of
            # its median); a fault lowers the COP at the same heat
            heats = self.heat_ring.last(idx, s.history_days)
            with np.errstate(all="ignore"):
                exp_q = expected_cop(cops, heats, self.heat[idx], s.min_history_days,
                                     0.2 * nanmedian(heats, axis=1))
            exp = np.where(no_temp, exp_q, exp)
        with np.errstate(all="ignore"):
            ratio = cop / exp
        judged = np.isfinite(ratio) & (exp > 0)
        enter = judged & (ratio < s.cop_ratio_enter)
        # without outdoor temperatures (the batch command has none) the expectation comes from days of
        # other weather: a drop counts only beyond the past days' spread too (3 robust sigmas)
        if no_temp.any():
            past = self.cop_ring.last(idx, s.history_days)
            med = nanmedian(past, axis=1)
            mad = nanmedian(np.abs(past - med[:, None]), axis=1)
            with np.errstate(all="ignore"):
                beyond = cop < med - 3.0 * 1.4826 * mad
            enter &= ~no_temp | beyond
        # heat pumps of one site share the weather: when most of those judged today fall below their
        # expectation together (at least 2, at least half), the cause is the day, not each machine
        n_judged = int(judged.sum())
        if int(enter.sum()) >= max(2, 0.5 * n_judged):
            enter[:] = False
        stay = judged & (ratio < s.cop_ratio_exit)
        sev = np.where(ratio < 0.6, int(Severity.MAJOR), int(Severity.WARNING))
        j = idx[judged]
        self.ep.step(j, c.end_ns - _DAY_NS, c.end_ns, enter[judged], stay[judged], cop[judged], exp[judged],
                     sev[judged], -ratio[judged], ctx.now_ns)
        bad = self.ep.active[idx] | (self.ep.run[idx] > 0)
        self.cop_ring.push(idx, np.where(bad, np.nan, cop))
        self.temp_ring.push(idx, np.where(bad, np.nan, temp))
        self.heat_ring.push(idx, np.where(bad | ~np.isfinite(cop), np.nan, self.heat[idx]))
        for arr in (self.heat, self.energy, self.tw, self.twn):
            arr[idx] = 0.0
