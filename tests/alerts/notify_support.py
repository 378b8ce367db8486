"""Alerts, changes and notifier settings for the notification tests."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from analytics.alerts import Alert, Change
from analytics.events import AlertKind, Severity
from core.backoff import RetryPolicy
from core.secrets import Secret
from services.analytics.notify.config import (
    EVENTS,
    Channel,
    EmailChannel,
    NotifySettings,
    Route,
    WebhookChannel,
)
from services.analytics.notify.message import Notification, from_change
from tests.support.receivers import SmtpReceiver

SITE = "alerts-site"
TZ = ZoneInfo("Asia/Shanghai")
H = 3600 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01 08:00 in Shanghai


def alert(severity: Severity = Severity.MAJOR, *, kind: AlertKind = AlertKind.WATER_LEAK,
          subject: str = "gov-water", cleared: bool = False) -> Alert:
    state = "cleared" if cleared else "active"
    return Alert(f"{kind.value}-0123456789abcdef", SITE, kind, subject, "", state, severity, T0, T0 + H,
                 T0 + H, T0 + 5 * H if cleared else None, T0 + H, 0.42, 0.1, "m³/h",
                 "night flow 0.42 m³/h above 0.10 m³/h on 3 nights", {"nights": 3})


def raised(severity: Severity = Severity.MAJOR, **kw: object) -> Notification:
    n = from_change(Change("raised", alert(severity, **kw), T0 + H), None, TZ)  # type: ignore[arg-type]
    assert n is not None
    return n


def email_channel(smtp: SmtpReceiver, ca_file: Path, password_file: Path, *,
                  timeout: float = 5.0, lang: str = "en") -> EmailChannel:
    return EmailChannel("ops-mail", smtp.host, smtp.port, True, ca_file, smtp.user,
                        Secret.from_file(password_file), "metergate@example.cn",
                        ("ops@example.cn", "duty@example.cn"), "[metergate]", timeout, lang)


def webhook_channel(url: str | Secret, *, template: str = "json", markdown: bool = False,
                    token: Secret | None = None, timeout: float = 5.0, cid: str = "hook",
                    lang: str = "en") -> WebhookChannel:
    return WebhookChannel(cid, url, token, template, markdown, timeout, None,  # type: ignore[arg-type]
                          lang)


def route(*channels: str, quiet: str | None = None, min_severity: Severity = Severity.INFO,
          quiet_pass: Severity | None = Severity.CRITICAL) -> Route:
    from services.analytics.notify.config import QuietHours

    return Route(channels, None, frozenset(EVENTS), None, min_severity,
                 QuietHours.parse(quiet) if quiet else None, quiet_pass)


def settings(*channels: Channel, routes: tuple[Route, ...] | None = None, retry: RetryPolicy | None = None,
             queue: int = 100, drain: float = 2.0) -> NotifySettings:
    return NotifySettings({c.id: c for c in channels}, routes or (route(*(c.id for c in channels)),),
                          retry or RetryPolicy(0.2, 2.0, 4), queue, drain)
