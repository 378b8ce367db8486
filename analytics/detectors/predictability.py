"""How well a meter's own time-of-week baseline predicts it: its typical relative deviation.

Per meter and day, the judged intervals' deviations from their baseline median, summed, over their
levels, summed (so the hours that carry the energy weigh most, not the many quiet night intervals);
the meter's noise is the median of the last `days` such daily figures. An office circuit that
follows its schedule deviates by a few per cent; a dormitory or a household-like load whose evenings
come and go deviates by half its level, and +50 % for a few hours is no anomaly there. The baseline
scales its thresholds by this noise and does not judge a meter at all beyond `max_noise` (its
time-of-week pattern does not exist). A median over days: a fault lasting hours moves one day's
figure, not the noise; one lasting weeks would, and by then it has long been raised.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analytics.detectors.history import RowRing
from analytics.detectors.stats import nanmedian

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


class Predictability:
    """Per row: the median over recent days of each day's relative deviation, Σ|dev| ÷ Σ level."""

    def __init__(self, n_rows: int, days: int, min_days: int) -> None:
        self.dev = np.zeros(n_rows)
        self.level = np.zeros(n_rows)
        self.daily = RowRing(n_rows, days)
        self.days, self.min_days = days, min_days
        self._noise = np.full(n_rows, np.nan)

    def add(self, judged: Bool, dev: F64, level: F64) -> None:
        """One interval per row: its absolute deviation from the baseline and its level (the larger of
        the baseline median and the meter's mean), counted where `judged`."""
        self.dev += np.where(judged, dev, 0.0)
        self.level += np.where(judged, level, 0.0)

    def close(self, day_end: Bool) -> None:
        """Rows whose day ends at this interval push their day's deviation and start a new day."""
        rows = np.flatnonzero(day_end)
        if not len(rows):
            return
        lv = self.level[rows]
        with np.errstate(all="ignore"):
            self.daily.push(rows, np.where(lv > 0, self.dev[rows] / lv, np.nan))
        self.dev[rows] = 0.0
        self.level[rows] = 0.0
        past = self.daily.last(rows, self.days)
        enough = np.sum(np.isfinite(past), axis=1) >= self.min_days
        with np.errstate(all="ignore"):
            self._noise[rows] = np.where(enough, nanmedian(past, axis=1), np.nan)

    def noise(self) -> F64:
        """Per row: the typical relative deviation, NaN until `min_days` days are known."""
        return self._noise
