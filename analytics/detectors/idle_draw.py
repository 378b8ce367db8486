"""What a meter shows while the machine behind it stands idle: the lowest interval of recent days.

A heat pump at rest still draws power (controls, crankcase heater, circulation pump: often 1-3 % of
its rating), so "the heat pump runs" cannot be "it drew more than a fixed 0.05 kWh": a 50 kW unit
idles above that, its heat meter stands still for days in mild weather and would be called stuck.
Per row, each day's smallest clean interval value is kept; the idle draw is the smallest over the
last `days` days, and a machine runs when its interval is clearly above it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analytics.detectors.history import RowRing

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


class IdleDraw:
    """Per row: the minimum interval value over the last `days` days (NaN until MIN_DAYS are known)."""

    MIN_DAYS = 3

    def __init__(self, n_rows: int, days: int) -> None:
        self.today = np.full(n_rows, np.inf)
        self.daily = RowRing(n_rows, days)
        self.days = days
        self.idle = np.full(n_rows, np.nan)

    def add(self, values: F64, day_end: Bool) -> None:
        """One interval per row (NaN: no clean value); rows whose day ends here close it."""
        with np.errstate(invalid="ignore"):
            self.today = np.where(np.isfinite(values), np.minimum(self.today, values), self.today)
        rows = np.flatnonzero(day_end)
        if not len(rows):
            return
        self.daily.push(rows, np.where(np.isfinite(self.today[rows]), self.today[rows], np.nan))
        self.today[rows] = np.inf
        past = self.daily.last(rows, self.days)
        with np.errstate(all="ignore"):
            low = np.where(np.isfinite(past), past, np.inf).min(axis=1)
        # three days at least: the first day is often partial (a start at 01:00 ends at 05:00 with the
        # machine running throughout), and a minimum of one day says little
        known = np.sum(np.isfinite(past), axis=1) >= self.MIN_DAYS
        self.idle[rows] = np.where(known & np.isfinite(low), low, np.nan)

    def running(self, values: F64, rows: npt.NDArray[np.int64], floor: float) -> Bool:
        """Per value: the interval of row `rows[i]` is above that row's idle draw by more than `floor`
        and by a quarter of the idle draw itself (the standby wanders with the controls' state); above
        `floor` while the idle draw is unknown."""
        idle = self.idle[rows]
        idle = np.where(np.isfinite(idle), np.maximum(idle, 0.0), 0.0)
        with np.errstate(invalid="ignore"):
            return values > idle + np.maximum(floor, 0.25 * idle)
