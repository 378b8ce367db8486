"""Local days and instants: the local calendar day of an instant, and the instant a local day begins.

Instants are nanoseconds since the epoch (the readings' `ts_ns`); days are those of the site's time
zone, as indicators, quotas and records count them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def local_day(ns: int, tz: ZoneInfo) -> date:
    """The local day of the instant `ns`."""
    return datetime.fromtimestamp(ns // 10**9, UTC).astimezone(tz).date()


def midnight_ns(day: date, tz: ZoneInfo) -> int:
    """The instant (ns) at which local `day` begins."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()) * 10**9


__all__ = ["local_day", "midnight_ns"]
