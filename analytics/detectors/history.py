"""Ring buffers of the detectors' history: fixed memory, oldest values overwritten.

`IntervalRing` holds one value per meter and interval (8 weeks by default) and answers "the values
`lag` intervals ago" for a few lags at once. `RowRing` holds one value per subject and day (or night),
pushed per subject, because subjects in different time zones close their days at different ticks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class IntervalRing:
    """(n_rows, capacity) float64; `push` appends one column; `at(lags)` reads back (NaN before start)."""

    def __init__(self, n_rows: int, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.data = np.full((n_rows, capacity), np.nan)
        self.capacity = capacity
        self.count = 0  # columns pushed so far

    def push(self, column: F64) -> None:
        self.data[:, self.count % self.capacity] = column
        self.count += 1

    def at(self, lags: I64, rows: I64 | slice = slice(None)) -> F64:
        """Values `lags` columns before the newest one (lag 0 = newest): (rows, len(lags))."""
        lags = np.asarray(lags, np.int64)
        ok = (lags < self.count) & (lags < self.capacity) & (lags >= 0)
        pos = (self.count - 1 - lags) % self.capacity
        out = self.data[rows][:, pos] if not isinstance(rows, slice) else self.data[rows, :][:, pos]
        if not ok.all():
            out[:, ~ok] = np.nan
        return out


class RowRing:
    """(n_rows, capacity) float64 with one write position per row."""

    def __init__(self, n_rows: int, capacity: int) -> None:
        self.data = np.full((n_rows, capacity), np.nan)
        self.capacity = capacity
        self.count = np.zeros(n_rows, np.int64)

    def push(self, rows: I64, values: F64) -> None:
        self.data[rows, self.count[rows] % self.capacity] = values
        self.count[rows] += 1

    def last(self, rows: I64, n: int, skip: int = 0) -> F64:
        """For each row, the `n` values before the newest `skip` ones, oldest first (NaN if absent)."""
        lags = skip + np.arange(n - 1, -1, -1, dtype=np.int64)  # oldest first
        cnt = self.count[rows][:, None]
        pos = (cnt - 1 - lags[None, :]) % self.capacity
        out = self.data[np.asarray(rows)[:, None], pos]
        out[(lags[None, :] >= cnt) | (lags[None, :] >= self.capacity)] = np.nan
        return out

    def set_newest(self, rows: I64, values: F64) -> None:
        """Overwrite each row's newest value."""
        self.data[rows, (self.count[rows] - 1) % self.capacity] = values
