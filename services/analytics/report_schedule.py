"""When a monthly report is due: pure functions of the clock, the site's time zone and what was done.

A month's report is due at `day` of the next month, `at` local time. Which months are rendered:

    due_months(now, tz, day=1, at=time(6), done="2025-02")   # -> ["2025-03"] on 2025-04-01 06:00

- every month after the last one done, up to the latest one due (a service down on the 1st renders
  the month it missed when it starts; down for a quarter, the three months, oldest first);
- with nothing done yet (a first start, or [report] just enabled): only the latest month due, not
  every month back to the first reading.
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo


def month_label(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def due_at(month: str, tz: tzinfo, day: int, at: time) -> datetime:
    """The local moment the report of `month` ("YYYY-MM") is due."""
    nxt = _add_months(date(int(month[:4]), int(month[5:7]), 1), 1)
    return datetime.combine(nxt.replace(day=day), at, tzinfo=tz)


def latest_due(now: datetime, tz: tzinfo, day: int, at: time) -> str:
    """The latest month whose report is due at `now` (aware)."""
    local = now.astimezone(tz)
    this = local.date().replace(day=1)
    previous = month_label(_add_months(this, -1))
    return previous if local >= due_at(previous, tz, day, at) else month_label(_add_months(this, -2))


def due_months(now: datetime, tz: tzinfo, *, day: int, at: time, done: str | None) -> list[str]:
    """The months to render now, oldest first ([] when the last one done is the latest due)."""
    last = latest_due(now, tz, day, at)
    if done is None:
        return [last]
    out: list[str] = []
    m = _add_months(date(int(done[:4]), int(done[5:7]), 1), 1)
    while month_label(m) <= last:
        out.append(month_label(m))
        m = _add_months(m, 1)
    return out


def next_due(now: datetime, tz: tzinfo, *, day: int, at: time) -> datetime:
    """When the next report falls due after `now` (for the log)."""
    this = now.astimezone(tz).date().replace(day=1)
    previous = due_at(month_label(_add_months(this, -1)), tz, day, at)  # this month's own moment
    return previous if now < previous else due_at(month_label(this), tz, day, at)


__all__ = ["due_at", "due_months", "latest_due", "month_label", "next_due"]
