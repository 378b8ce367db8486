"""The period of a report: a year (2025), a month (2025-03) or a quarter (2025-Q1), as local days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_FORMS = re.compile(r"(?P<y>\d{4})(?:-(?:(?P<m>\d{2})|Q(?P<q>[1-4])))?")


class PeriodError(ValueError):
    """A --period that is not YYYY, YYYY-MM or YYYY-Qn."""


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    label: str  # as given, e.g. "2025-Q1"
    first: date
    last: date  # inclusive
    # how analytics.indicators labels the whole period: a year and a quarter are one "year" row
    # (the window cuts a quarter), a month a "month" row
    granularity: str

    def year_before(self) -> ReportPeriod:
        """The same days a year earlier (29 February becomes the 28th)."""
        def back(d: date) -> date:
            return d.replace(year=d.year - 1, day=min(d.day, 28) if d.month == 2 else d.day)
        last = _month_end(self.last.year - 1, self.last.month) if self.last.day >= 28 else back(self.last)
        return ReportPeriod(f"{self.label} −1y", back(self.first), last, self.granularity)


def parse_period(text: str) -> ReportPeriod:
    m = _FORMS.fullmatch(text.strip())
    if m is None:
        raise PeriodError(f"--period {text!r}: expected a year (2025), a month (2025-03) or a quarter "
                          "(2025-Q1)")
    year = int(m["y"])
    if m["m"]:
        month = int(m["m"])
        if not 1 <= month <= 12:
            raise PeriodError(f"--period {text!r}: month {month} is not 01-12")
        return ReportPeriod(text, date(year, month, 1), _month_end(year, month), "month")
    if m["q"]:
        q = int(m["q"])
        return ReportPeriod(text, date(year, 3 * q - 2, 1), _month_end(year, 3 * q), "year")
    return ReportPeriod(text, date(year, 1, 1), date(year, 12, 31), "year")


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


__all__ = ["PeriodError", "ReportPeriod", "parse_period"]
