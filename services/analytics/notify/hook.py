"""The "report ready" notification for the report scheduler, which runs apart from the service:

    records = notify_report_ready(cfg, "campus-a", "2026-11", "/var/lib/metergate/reports/x.pdf")

It goes through the channels and routes of the analytics config's [notify], with the same retries,
for up to `wait_s` seconds; the outcome of each channel is returned and recorded in the alert store.
What is still pending then is sent by the analytics service at its next start. (A running service
offers the same as `AnalyticsService.report_ready`.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from services.analytics.config import AnalyticsConfig
from services.analytics.notify.message import report_ready
from services.analytics.notify.worker import Notifier
from services.analytics.store import AlertStore, NotificationRecord


def notify_report_ready(cfg: AnalyticsConfig, site: str, period: str, path: str | Path, *,
                        wait_s: float = 60.0,
                        clock: Callable[[], float] = time.time) -> list[NotificationRecord]:
    """The rows recorded for this notification ([] when [notify] sends nothing: none configured,
    or no route takes reports of `site`). ValueError for a site the config does not serve."""
    tz = {s.site.id: s.site.timezone for s in cfg.sites}
    if site not in tz:
        raise ValueError(f"site {site!r} is not in {cfg.path}; served: {', '.join(sorted(tz))}")
    if cfg.notify is None:
        return []
    n = report_ready(site, period, str(path), int(clock() * 1e9), tz[site])
    # resume=False: the rows a running service left pending are that service's to send
    notifier = Notifier(cfg.notify, cfg.store_path, clock=clock, resume=False)
    with AlertStore(cfg.store_path) as store:
        before = max((r.id for r in store.notifications(site=site)), default=0)
    notifier.start()
    notifier.submit(n)
    notifier.flush(wait_s)
    notifier.close()
    with AlertStore(cfg.store_path) as store:
        return [r for r in store.notifications(site=site) if r.id > before and r.event == "report"]


__all__ = ["notify_report_ready"]
