"""--period: a year, a month or a quarter, as local days; anything else is an error naming the forms."""

from __future__ import annotations

from datetime import date

import pytest

from reports.period import PeriodError, parse_period


@pytest.mark.parametrize(("text", "first", "last", "granularity"), [
    ("2025", date(2025, 1, 1), date(2025, 12, 31), "year"),
    ("2025-03", date(2025, 3, 1), date(2025, 3, 31), "month"),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "month"),
    ("2025-Q1", date(2025, 1, 1), date(2025, 3, 31), "year"),
    ("2025-Q4", date(2025, 10, 1), date(2025, 12, 31), "year"),
])
def test_forms(text: str, first: date, last: date, granularity: str) -> None:
    p = parse_period(text)
    assert (p.first, p.last, p.granularity) == (first, last, granularity)


@pytest.mark.parametrize(("text", "before"), [
    ("2024-02", (date(2023, 2, 1), date(2023, 2, 28))),
    ("2025-02", (date(2024, 2, 1), date(2024, 2, 29))),
    ("2025-Q1", (date(2024, 1, 1), date(2024, 3, 31))),
    ("2025", (date(2024, 1, 1), date(2024, 12, 31))),
])
def test_the_same_days_a_year_before(text: str, before: tuple[date, date]) -> None:
    p = parse_period(text).year_before()
    assert (p.first, p.last) == before


@pytest.mark.parametrize("text", ["25", "2025-3", "2025-13", "2025-Q5", "2025-00", "2025/03", ""])
def test_bad_periods(text: str) -> None:
    with pytest.raises(PeriodError, match="--period"):
        parse_period(text)
