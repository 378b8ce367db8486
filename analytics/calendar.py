"""Working days: the Chinese statutory holidays and adjusted working days (调休), plus closures.

    cal = WorkCalendar.build(public_holidays="cn", closed=[(date(2025, 1, 18), date(2025, 2, 16))])
    cal.off_days, cal.on_days        # sorted local day numbers (days since 1970-01-01)
    cal.covered                      # (first year, last year) of the statutory table, or None

A day is a working day of a building when it is not off (a statutory holiday, a closure) and either
its weekday is one of the building's workdays or it is an adjusted working day (a 调休 Saturday or
Sunday). A closure wins over an adjusted working day (a school in its winter vacation stays closed
on the 调休 Saturday). The statutory table is `chinese-calendar`'s, transcribed from the State
Council's yearly notices (国务院办公厅关于…部分节假日安排的通知); a year it has no notice for is
left to the weekdays (see `covered`), never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import numpy as np
from numpy.typing import NDArray

PUBLIC_HOLIDAYS = ("cn", "none")  # the statutory calendars known
_EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    return (d - _EPOCH).days


@cache
def statutory(name: str) -> tuple[frozenset[date], frozenset[date], tuple[int, int] | None]:
    """(days off, adjusted working days, years covered) of a statutory calendar."""
    if name == "none":
        return frozenset(), frozenset(), None
    if name != "cn":
        raise ValueError(f"unknown public-holiday calendar {name!r}; use one of {', '.join(PUBLIC_HOLIDAYS)}")
    import chinese_calendar

    off = frozenset(chinese_calendar.holidays)  # every day of each break, weekends inside it included
    on = frozenset(chinese_calendar.workdays)  # the weekend days worked instead (调休)
    years = sorted({d.year for d in off | on})
    return off, on, (years[0], years[-1])


@cache
def _sorted(days: tuple[int, ...]) -> NDArray[np.int64]:
    return np.asarray(days, np.int64)


def _member(day: NDArray[np.int64], days: tuple[int, ...]) -> NDArray[np.bool_]:
    """np.isin(day, days) for a sorted tuple, by binary search (every tick asks)."""
    if not days:
        return np.zeros(np.shape(day), bool)
    arr = _sorted(days)
    pos = np.minimum(np.searchsorted(arr, day), len(arr) - 1)
    return np.asarray(arr[pos] == day)


@dataclass(frozen=True)
class WorkCalendar:
    """Days off and extra working days of one building, as sorted local day numbers."""

    off_days: tuple[int, ...] = ()
    on_days: tuple[int, ...] = ()
    covered: tuple[int, int] | None = None  # years of the statutory table

    @classmethod
    def build(cls, public_holidays: str = "none",
              closed: Iterable[tuple[date, date]] = ()) -> WorkCalendar:
        off, on, covered = statutory(public_holidays)
        shut: set[date] = set()
        for first, last in closed:
            if last < first:
                raise ValueError(f"closure {first}..{last}: the last day is before the first")
            shut.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        return cls(tuple(sorted(day_number(d) for d in off | shut)),
                   tuple(sorted(day_number(d) for d in on - shut)), covered)

    def working(self, day: NDArray[np.int64], by_weekday: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Per local day number: is it a working day, given whether its weekday is one."""
        if not self.off_days and not self.on_days:
            return by_weekday
        day = np.asarray(day, np.int64)
        return (by_weekday | _member(day, self.on_days)) & ~_member(day, self.off_days)

    def knows(self, year: int) -> bool:
        """Whether the statutory table covers `year` (always True without one)."""
        return self.covered is None or self.covered[0] <= year <= self.covered[1]


__all__ = ["PUBLIC_HOLIDAYS", "WorkCalendar", "day_number", "statutory"]
