"""Which channels a notification goes to, and when: the routes and their quiet hours. Pure.

    plan(n, routes, now_s) -> {channel id: when to send (epoch seconds)}

Rule of the quiet hours (docs/notifications.md): during a route's quiet hours, in the site's time
zone, a notification below the route's `quiet_pass` severity (default critical) is held and sent when
the quiet hours end; at or above it, it is sent at once. A channel named by several matching routes
gets the notification once, at the earliest time any of them allows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.events import AlertKind
from services.analytics.notify.config import QuietHours, Route
from services.analytics.notify.message import Notification


def matches(r: Route, n: Notification) -> bool:
    if n.event not in r.events or (r.sites is not None and n.site not in r.sites):
        return False
    if n.event == "report":  # a report has no kind and no severity to filter on
        return True
    if r.kinds is not None and (n.kind is None or AlertKind(n.kind) not in r.kinds):
        return False
    return n.severity >= r.min_severity


def quiet_end(q: QuietHours, now_s: float, tz: ZoneInfo) -> float | None:
    """The end of the quiet period `now_s` lies in (epoch seconds), or None outside quiet hours."""
    local = datetime.fromtimestamp(now_s, tz)
    t = local.time().replace(tzinfo=None)
    over_midnight = q.start > q.end
    inside = (t >= q.start or t < q.end) if over_midnight else q.start <= t < q.end
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if over_midnight and t >= q.start else local.date()
    return datetime.combine(day, q.end, tz).timestamp()


def plan(n: Notification, routes: tuple[Route, ...], now_s: float) -> dict[str, float]:
    tz = ZoneInfo(n.tz)
    out: dict[str, float] = {}
    for r in routes:
        if not matches(r, n):
            continue
        due = now_s
        if r.quiet is not None and (r.quiet_pass is None or n.severity < r.quiet_pass):
            due = quiet_end(r.quiet, now_s, tz) or now_s
        for ch in r.channels:
            out[ch] = min(out.get(ch, due), due)
    return out


__all__ = ["matches", "plan", "quiet_end"]
