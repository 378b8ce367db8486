"""Data faults on the raw-reading facts of each interval: communication loss, stuck meter, counter
reset or meter swap, spikes beyond the physical maximum rate, sentinel (invalid) values.

All five are per meter and causal: each step looks at the newly finalised interval and a little state
(last reading time, last value, how long the value has been flat).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.detectors.cells import NO_TS
from analytics.detectors.context import Context
from analytics.detectors.episodes import Episodes
from analytics.detectors.history import RowRing
from analytics.detectors.idle_draw import IdleDraw
from analytics.detectors.settings import NS, DetectorSettings, MeterRole
from analytics.detectors.stats import nanmedian
from analytics.events import AlertKind, Severity
from analytics.flags import IntervalFlag

_ROLLOVER = np.uint16(IntervalFlag.ROLLOVER)
_SPIKE = np.uint16(IntervalFlag.SPIKE)


def _hours(subject: str, value: float, threshold: float, unit: str) -> str:
    return f"{subject}: no reading for {value:.1f} h (allowed {threshold:.1f} h)"


def _stuck(subject: str, value: float, threshold: float, unit: str) -> str:
    return f"{subject}: value unchanged for {value:.1f} h while it should move (limit {threshold:.1f} h)"


def _reset(subject: str, value: float, threshold: float, unit: str) -> str:
    return f"{subject}: counter went back by {value:.6g} {unit} (reset or meter swap)"


def _spike(subject: str, value: float, threshold: float, unit: str) -> str:
    if threshold > 0:
        return f"{subject}: rise of {value:.6g} {unit} in one interval, physical limit {threshold:.6g} {unit}"
    side = "above" if value >= 0 else "below"
    return (f"{subject}: one reading {abs(value):.6g} {unit} {side} the count, which then came back "
            "(false reading)")


def _sentinel(subject: str, value: float, threshold: float, unit: str) -> str:
    return f"{subject}: {value:.0f} invalid reading(s) (sentinel / not a number)"


def _median_or_zero(rows: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        med = nanmedian(rows, axis=1)
    return np.where(np.isfinite(med), med, 0.0)


class DataFaults:
    """COMM_LOSS, STUCK_METER, COUNTER_RESET, SPIKE and SENTINEL for every meter."""

    def __init__(self, roles: Sequence[MeterRole], settings: DetectorSettings,
                 unit_of: Sequence[str]) -> None:
        names = [r.meter for r in roles]
        n = len(roles)
        self.s = settings
        self.roles = list(roles)
        self.comm = Episodes(AlertKind.COMM_LOSS, names, "h", message=_hours)
        self.stuck = Episodes(AlertKind.STUCK_METER, names, "h", message=_stuck)
        self.reset = Episodes(AlertKind.COUNTER_RESET, names, unit_of, message=_reset)
        self.spike = Episodes(AlertKind.SPIKE, names, unit_of, message=_spike)
        self.sentinel = Episodes(AlertKind.SENTINEL, names, "readings", message=_sentinel)
        self.episodes = [self.comm, self.stuck, self.reset, self.spike, self.sentinel]
        self.last_seen = np.full(n, NO_TS, np.int64)
        self.steps = RowRing(n, 16)  # a meter's recent mean step between readings (s), per interval read
        self.last_value = np.full(n, np.nan)  # last valid reading
        self.level = np.full(n, np.nan)  # last valid reading of an interval without a spike
        self.before = np.full(n, np.nan)  # the level before the interval that set it
        self.level_start = np.zeros(n, np.int64)  # start of the interval that set the level
        # a counter that fell at the end of an interval: a reset, or a false low reading it comes back
        # from? Decided at the next interval with a reading
        self.fall = np.zeros(n, bool)
        self.fall_start = np.zeros(n, np.int64)
        self.fall_level = np.full(n, np.nan)  # the count before the fall
        self.fall_low = np.full(n, np.nan)  # the lowest reading
        self.fall_last = np.full(n, np.nan)  # the interval's last reading
        self.flat_h = np.zeros(n)
        # hours it should have moved since its last valid reading (this interval's included): a flat
        # reading counts all of them, so a meter read once a day that repeats its value has stood still
        # for the day's occupied hours, not for the one interval that holds the reading
        self.should_h = np.zeros(n)
        self.flat_since = np.zeros(n, np.int64)
        self.bad_run = np.zeros(n, np.int64)
        self.in_flat = np.zeros(n, bool)
        self.longest = np.zeros(n)
        # what a working counter moves by: its smallest rise between readings (about the register's
        # resolution) and its rise per hour while it should move
        self.step_min = np.full(n, np.inf)
        self.rise_sum = np.zeros(n)
        self.rise_h = np.zeros(n)
        self.prev_valid_ts = np.full(n, NO_TS, np.int64)
        self.prev_flags = np.zeros(n, np.uint16)
        self.prev_const = np.zeros(n, bool)  # the last interval with readings had one value throughout
        self.prev_start = np.zeros(n, np.int64)
        kind = np.array([r.kind for r in roles])
        gauge = np.array([not r.counter for r in roles], bool)
        limit = np.where(kind == "water", settings.stuck_water_h,
                         np.where(kind == "heat", settings.stuck_heat_h, settings.stuck_occupied_h))
        self.flat_limit = np.where(gauge, settings.stuck_gauge_h, limit)
        self.gauge = gauge
        self.may_rest = np.isin(kind, ("heat", "heat_pump")) & ~gauge  # idle for months in summer
        pos = {r.meter: i for i, r in enumerate(roles)}
        self.pair = np.array([pos.get(r.pair, -1) if r.pair else -1 for r in roles], np.int64)
        heat_of = {r.pair: i for i, r in enumerate(roles) if r.pair}  # heat pump meter -> its heat meter
        self.heat_of = np.array([heat_of.get(r.meter, -1) if r.kind == "heat_pump" else -1 for r in roles],
                                np.int64)
        self.max_rate = np.array([r.max_rate or np.nan for r in roles])
        self.idle = IdleDraw(n, 7)  # each meter's standby draw: what "its heat pump runs" is measured from
        self.all = np.arange(n, dtype=np.int64)

    def step(self, ctx: Context) -> None:
        c, s, now = ctx.col, self.s, ctx.now_ns
        n = len(self.roles)
        # communication loss: no reading (valid or not) for longer than comm_loss_s, or than 1.5 × the
        # meter's own cadence (the median of its recent steps) when that is longer: a meter read hourly
        # or once a day is not lost between two readings. Judged once two steps are known.
        read = (c.last_ts != NO_TS) & (self.last_seen != NO_TS)
        if read.any():
            r = np.flatnonzero(read)
            count = np.maximum(c.n_valid[r] + c.n_bad[r], 1)
            self.steps.push(r, (c.last_ts[r] - self.last_seen[r]) / NS / count)
        self.last_seen = np.maximum(self.last_seen, c.last_ts)
        seen = self.last_seen != NO_TS
        silence = np.where(seen, (c.end_ns - self.last_seen) / NS, 0.0)
        recent = self.steps.last(self.all, 16)
        known = np.sum(np.isfinite(recent), axis=1) >= 2
        allowed = np.where(known, np.maximum(s.comm_loss_s, 1.5 * _median_or_zero(recent)), np.inf)
        lost = seen & (silence > allowed)
        if self.comm.quiet(lost):  # the usual step of every fault below: nothing to work out
            self.comm.idle(self.all)
        else:
            step = s.step_ns
            since = np.where(seen, -((-self.last_seen) // step) * step, c.start_ns)  # next boundary
            sev = np.where(silence > s.comm_major_s, int(Severity.MAJOR), int(Severity.WARNING))
            self.comm.step(self.all, since, c.end_ns, lost, lost, silence / 3600,
                           np.where(known, allowed, s.comm_loss_s) / 3600, sev, silence, now)

        valid = c.n_valid > 0
        prev = self.last_value
        counter = valid & ~self.gauge
        tol = 1e-9 * np.abs(self.level)  # a counter never goes back; this only absorbs float noise
        rolled = ((c.flags | self.prev_flags) & _ROLLOVER) != 0  # a declared register wrap, counted on
        # A counter that falls below its last level either came back from a high reading (a spike: it
        # ends at or above where it stood before its last rise) or restarted (a reset or meter swap:
        # it goes on from near 0 or another meter's count). Judged on the readings themselves, so a
        # meter read hourly or once a day (whose steps the engine may call gaps) is judged alike.
        # A fall from the interval before is decided by this interval's readings: back at the old
        # count (a false low reading: a spike on that interval) or not (a reset there).
        decide = self.fall & counter
        ftol = 1e-9 * np.abs(self.fall_level)
        low_back = decide & (c.vlast >= self.fall_level - ftol)
        was_reset = decide & ~low_back
        self.fall &= ~decide
        fell = counter & ~rolled & (c.vmin < self.level - tol)
        came_back = fell & (self.level > self.before) & (c.vlast >= self.before - tol)
        dipped = fell & ~came_back & (c.vlast >= self.level - tol)  # low inside, back by its end
        new_fall = fell & ~came_back & ~dipped
        self.fall_start = np.where(new_fall, c.start_ns, self.fall_start)
        self.fall_level = np.where(new_fall, self.level, self.fall_level)
        self.fall_low = np.where(new_fall, c.vmin, self.fall_low)
        self.fall_last = np.where(new_fall, c.vlast, self.fall_last)
        if self.reset.quiet(was_reset):
            self.reset.idle(self.all)
        else:
            with np.errstate(invalid="ignore"):
                drop = np.where(was_reset, self.fall_level - self.fall_low, 0.0)
                swap = was_reset & (self.fall_last < 0.1 * self.fall_level)
            self.reset.step(self.all, np.where(was_reset, self.fall_start, c.start_ns), c.end_ns,
                            was_reset, was_reset, drop, 0.0,
                            np.where(swap, int(Severity.MAJOR), int(Severity.WARNING)), drop, now)
        self.fall |= new_fall
        # spike: (a) the engine flags the step that rose faster than max_rate (in this interval or,
        # when the high reading opens this interval, in the one before); reported on the interval
        # holding the high reading, whose peak stands more than one interval's maximum rise above the
        # level; (b) a high reading the counter came back from, below max_rate too: in the interval
        # before (it set the level) or within this one (several readings per interval)
        limit = self.max_rate * ctx.interval_h
        spike_flag = (c.flags & _SPIKE) != 0
        rise = c.vmax - self.level
        fast = (((c.flags | self.prev_flags) & _SPIKE) != 0) & valid & (rise > limit)
        within = counter & ~fell & ~rolled & (c.vmax > c.vlast + 1e-9 * np.abs(c.vmax))
        spike = fast | came_back | within | dipped | low_back
        if self.spike.quiet(spike):
            self.spike.idle(self.all)
        else:
            with np.errstate(invalid="ignore"):
                size = np.where(fast, rise, np.where(
                    came_back, self.level - self.before, np.where(
                        within, c.vmax - c.vlast, np.where(
                            dipped, c.vmin - self.level, np.where(  # below the count: negative
                                low_back, self.fall_low - self.fall_level, 0.0)))))
            since = np.where(came_back & ~fast, self.level_start,
                             np.where(low_back & ~fast, self.fall_start, c.start_ns))
            self.spike.step(self.all, since, c.end_ns, spike, spike, size,
                            np.where(fast, limit, 0.0), int(Severity.WARNING), np.abs(size), now)
        # sentinel: invalid readings (NaN, ±inf); MAJOR when a whole hour has nothing but
        bad = c.n_bad > 0
        only_bad = bad & ~valid
        self.bad_run = np.where(only_bad, self.bad_run + 1, 0)
        if self.sentinel.quiet(bad):
            self.sentinel.idle(self.all)
        else:
            sev_bad = np.where(self.bad_run * ctx.interval_h >= 1.0, int(Severity.MAJOR),
                               int(Severity.WARNING))
            self.sentinel.step(self.all, c.start_ns, c.end_ns, bad, bad, c.n_bad, 0.0, sev_bad, c.n_bad,
                               now)

        # stuck: the value does not move (bit-identical) while it should
        flat = valid & (c.vmin == c.vmax) & (c.vmin == prev)
        moved = valid & ~flat
        # when a counter should move: a heat meter while its heat pump draws power, a heat pump's meter
        # while its heat meter counts heat (it may stand still when idle), other counters when occupied;
        # unpaired heat and heat-pump counters are never called stuck (nothing says they should move)
        running = np.zeros(n, bool)
        paired = (self.pair >= 0) | (self.heat_of >= 0)
        if paired.any():
            other = np.maximum(np.where(self.pair >= 0, self.pair, self.heat_of), 0)
            other_val = np.where(paired, c.value[other], np.nan)
            running = self.idle.running(other_val, other, s.hp_running_kwh)
            self.idle.add(np.where(c.coverage >= 0.999, c.value, np.nan), ctx.day_end)
        should = np.where(self.gauge, True, np.where(paired, running, ctx.occupied & ~self.may_rest))
        # a spell starts where the value last changed: in the interval before, if that one ended constant
        start_flat = flat & ~self.in_flat
        self.flat_since = np.where(start_flat, np.where(self.prev_const, self.prev_start, c.start_ns),
                                   self.flat_since)
        self.in_flat = np.where(moved, False, self.in_flat | flat)
        # a meter that is normally flat for long spells (a small water meter) earns a longer limit:
        # the longest spell that ended without becoming an episode, times stuck_learn
        ended = moved & ~self.stuck.active
        self.longest = np.where(ended, np.maximum(self.longest, self.flat_h), self.longest)
        # a coarse register on a small load stands still for hours: flat counts as stuck only beyond
        # stuck_counts of its smallest rise at its usual rate (a 1 kWh register on a 0.3 kW circuit
        # moves every 3 h and a half)
        known = valid & ~self.gauge & np.isfinite(prev) & (self.prev_valid_ts != NO_TS)
        self.should_h += np.where(should, ctx.interval_h, 0.0)
        with np.errstate(all="ignore"):
            rise = np.where(known, c.vlast - prev, np.nan)
            self.step_min = np.where(known & (rise > 0), np.minimum(self.step_min, rise), self.step_min)
            # its rate: the rise since the last reading over the hours it should have moved meanwhile
            learn = known & (self.should_h > 0) & (rise >= 0) & ~self.stuck.active
            self.rise_sum += np.where(learn, rise, 0.0)
            self.rise_h += np.where(learn, self.should_h, 0.0)
            rate = self.rise_sum / np.where(self.rise_h > 0, self.rise_h, np.nan)
            coarse_h = np.where((rate > 0) & np.isfinite(self.step_min),
                                s.stuck_counts * self.step_min / rate, 0.0)
        limit = np.maximum(np.maximum(self.flat_limit, s.stuck_learn * self.longest),
                           np.nan_to_num(coarse_h))
        self.flat_h = np.where(moved, 0.0, self.flat_h + np.where(flat, self.should_h, 0.0))
        self.should_h = np.where(valid, 0.0, self.should_h)
        # no verdict on a counter before stuck_learn_h hours of it while it should move: until then
        # neither its resolution nor its rate is known (a counter that never rose is judged then)
        ready = self.gauge | (self.rise_h >= s.stuck_learn_h)
        stuck = ready & (self.flat_h >= limit)
        if self.stuck.quiet(stuck):
            self.stuck.idle(self.all)
        else:
            sev_stuck = np.where(self.flat_h >= 24.0, int(Severity.MAJOR), int(Severity.WARNING))
            self.stuck.step(self.all, self.flat_since, c.end_ns, stuck, stuck, self.flat_h, limit,
                            sev_stuck, self.flat_h, now)

        self.last_value = np.where(valid, c.vlast, self.last_value)
        self.prev_valid_ts = np.where(valid, c.last_ts, self.prev_valid_ts)
        # the level: the last reading of an interval without a spike; a counter that came back from a
        # spike keeps the level from before it
        moved_on = valid & ~spike_flag & ~fast
        self.before = np.where(moved_on & ~came_back, self.level, self.before)
        self.level_start = np.where(moved_on, c.start_ns, self.level_start)
        self.level = np.where(moved_on, c.vlast, self.level)
        self.prev_flags = c.flags.copy()
        self.prev_const = np.where(valid, c.vmin == c.vmax, self.prev_const & ~(c.n_bad > 0))
        self.prev_start = np.where(valid, c.start_ns, self.prev_start)
