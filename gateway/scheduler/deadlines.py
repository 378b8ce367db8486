"""Wall-clock aligned deadlines: a 60 s group is due at :00 of every minute, a 15 min group at :00,
:15, :30 and :45, a 1 d group at the site's local midnight.

Deadlines are the instants t with (t + utc_offset) a whole multiple of the interval, where
utc_offset is the site's offset from UTC at that time (zoneinfo). Every real time zone is a whole
number of quarter hours from UTC, so for intervals that divide 15 minutes (1 s ... 15 min) this is the
same as multiples of the interval since the Unix epoch; for longer intervals (1 h in a +5:30 zone,
2 h, 1 d ...) the boundaries are the site's local ones. Pure functions: no clock is read here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Deadlines are rounded to the microsecond so groups of different intervals due at the same instant
# compare equal (round robin among equal deadlines depends on it).
_DIGITS = 6
_EPS = 1e-7

Aligner = Callable[[float, float], float]  # (interval_s, around t) -> offset_s of the boundaries


def next_deadline(interval_s: float, after: float, offset_s: float = 0.0) -> float:
    """The first boundary offset_s + n × interval_s strictly after `after`."""
    n = math.floor((after - offset_s) / interval_s + _EPS) + 1
    return round(offset_s + n * interval_s, _DIGITS)


def latest_deadline(interval_s: float, now: float, offset_s: float = 0.0) -> float:
    """The last boundary offset_s + n × interval_s at or before `now`."""
    n = math.floor((now - offset_s) / interval_s + _EPS)
    return round(offset_s + n * interval_s, _DIGITS)


def alignment_offset(interval_s: float, utc_offset_s: float) -> float:
    """Offset of the UTC instants that are local boundaries: t + utc_offset ≡ 0 (mod interval)."""
    return round((-utc_offset_s) % interval_s, _DIGITS)


def utc_aligner(interval_s: float, t: float) -> float:
    """Boundaries at whole multiples of the interval since the epoch (UTC)."""
    return 0.0


def site_aligner(timezone: str) -> Aligner:
    """Boundaries on the site's local clock (its UTC offset at each time, so DST is followed); an
    unknown zone falls back to UTC alignment (the config loader has already checked the name)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return utc_aligner

    def align(interval_s: float, t: float) -> float:
        if 900.0 % interval_s < _EPS:  # divides a quarter hour: local = UTC boundaries
            return 0.0
        offset = datetime.fromtimestamp(t, zone).utcoffset()
        return alignment_offset(interval_s, offset.total_seconds() if offset else 0.0)

    return align
