"""Notifications delivered to real receivers on loopback: an SMTP server that requires STARTTLS and
a login (aiosmtpd, throwaway certificate) and an HTTP receiver. What they receive (subject, body,
JSON shape of each template, the credentials used), retries with backoff after SMTP 451 and HTTP
500, permanent refusals not retried, a hung receiver never holding up `submit`, a full queue, a stop
that leaves the rest pending for the next start, and every attempt recorded in the alert store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from analytics.alerts import Change
from analytics.events import Severity
from core.backoff import RetryPolicy
from core.secrets import Secret
from services.analytics.notify.message import Notification, from_change, report_ready
from services.analytics.notify.worker import Notifier
from services.analytics.store import AlertStore
from tests.alerts.notify_support import (
    SITE,
    T0,
    TZ,
    H,
    alert,
    email_channel,
    raised,
    route,
    settings,
    webhook_channel,
)
from tests.support.mosquitto import Pki
from tests.support.receivers import HttpReceiver, SmtpReceiver


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "alerts.sqlite"


@pytest.fixture
def notifiers() -> Iterator[Callable[..., Notifier]]:
    made: list[Notifier] = []

    def make(*args: object, **kw: object) -> Notifier:
        n = Notifier(*args, **kw)  # type: ignore[arg-type]
        made.append(n)
        n.start()
        return n

    yield make
    for n in made:
        n.close()


def _password(tmp_path: Path, value: str = "s3cret-pw") -> Path:
    p = tmp_path / "smtp-password"
    p.write_text(value + "\n")
    p.chmod(0o600)
    return p


def _records(store_path: Path) -> list:  # type: ignore[type-arg]
    with AlertStore(store_path) as s:
        return s.notifications()


def _attempts(store_path: Path, row: int) -> list[tuple[int, int, int, bool, str | None]]:
    with AlertStore(store_path) as s:
        return s.notification_attempts(row)


def test_an_email_goes_over_starttls_with_the_login_from_a_file(
        tmp_path: Path, smtp: SmtpReceiver, test_pki: Pki, store_path: Path,
        notifiers: Callable[..., Notifier]) -> None:
    ch = email_channel(smtp, test_pki.ca_file, _password(tmp_path))
    notifier = notifiers(settings(ch), store_path)
    assert notifier.submit(raised(Severity.MAJOR))
    assert notifier.flush(20)
    (mail,) = smtp.wait(1)
    assert mail.tls and mail.login == "metergate"
    assert mail.sender == "metergate@example.cn"
    assert mail.recipients == ["ops@example.cn", "duty@example.cn"]
    m = mail.message
    assert m["Subject"] == "[metergate] RAISED major: water_leak on gov-water (alerts-site)"
    assert m["X-Metergate-Alert"] == "water_leak-0123456789abcdef" and m["X-Metergate-Event"] == "raised"
    body = m.get_content()
    assert "night flow 0.42 m³/h above 0.10 m³/h on 3 nights" in body
    assert "Value: 0.42 m³/h (threshold 0.1)" in body
    assert "Since: 2024-01-01 08:00 (Asia/Shanghai)" in body
    (rec,) = _records(store_path)
    assert (rec.channel, rec.alert_id, rec.event, rec.status, rec.attempts, rec.error) == (
        "ops-mail", "water_leak-0123456789abcdef", "raised", "delivered", 1, None)
    assert rec.delivered_ns is not None


def test_a_refused_login_is_failed_at_once_and_names_no_secret(
        tmp_path: Path, smtp: SmtpReceiver, test_pki: Pki, store_path: Path,
        notifiers: Callable[..., Notifier]) -> None:
    ch = email_channel(smtp, test_pki.ca_file, _password(tmp_path, "wrong-pw"))
    notifier = notifiers(settings(ch), store_path)
    notifier.submit(raised())
    assert notifier.flush(20)
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN): each refused, nothing sent
    assert smtp.logins and set(smtp.logins) == {("metergate", False)} and not smtp.mails
    (rec,) = _records(store_path)
    assert rec.status == "failed" and rec.attempts == 1 and "535" in (rec.error or "")
    assert "wrong-pw" not in (rec.error or "")


def test_smtp_451_is_retried_with_exponential_backoff(
        tmp_path: Path, smtp: SmtpReceiver, test_pki: Pki, store_path: Path,
        notifiers: Callable[..., Notifier]) -> None:
    smtp.refuse = 2
    ch = email_channel(smtp, test_pki.ca_file, _password(tmp_path))
    # rng 1.0: no jitter, so the waits are exactly 0.4 s then 0.8 s
    notifier = notifiers(settings(ch, retry=RetryPolicy(0.4, 5.0, 5)), store_path, rng=lambda: 1.0)
    notifier.submit(raised())
    assert notifier.flush(20)
    smtp.wait(1)
    a = smtp.attempts
    assert len(a) == 3
    # each gap is the wait plus one connection (TLS, login): the second twice the first
    assert 0.35 <= a[1] - a[0] < 1.0 and 0.75 <= a[2] - a[1] < 1.6
    (rec,) = _records(store_path)
    assert (rec.status, rec.attempts) == ("delivered", 3)
    tries = _attempts(store_path, rec.id)
    assert [t[3] for t in tries] == [False, False, True]
    assert all("451" in (t[4] or "") for t in tries[:2])


@pytest.mark.parametrize(("template", "markdown"), [("json", False), ("wecom", False), ("wecom", True),
                                                    ("dingtalk", False), ("dingtalk", True)])
def test_each_webhook_template_posts_its_shape(template: str, markdown: bool, webhook: HttpReceiver,
                                               store_path: Path, notifiers: Callable[..., Notifier],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # the robot URL with its key comes from the environment, as url_env gives it
    monkeypatch.setenv("TEST_ROBOT_URL", f"{webhook.url}/cgi-bin/webhook/send?key=robot-key-1")
    ch = webhook_channel(Secret.from_env("TEST_ROBOT_URL"), template=template, markdown=markdown)
    notifier = notifiers(settings(ch), store_path)
    notifier.submit(raised(Severity.CRITICAL))
    assert notifier.flush(20)
    (post,) = webhook.wait(1)
    assert post.path == "/cgi-bin/webhook/send?key=robot-key-1"
    assert post.headers["Content-Type"].startswith("application/json")
    doc = post.body
    if template == "json":
        assert doc["schema"] == "metergate.notification/1" and doc["event"] == "raised"
        assert doc["severity"] == "critical" and doc["site"] == SITE and doc["report"] is None
        assert doc["alert"]["id"] == "water_leak-0123456789abcdef" and doc["alert"]["value"] == 0.42
        assert doc["title"] == "RAISED critical: water_leak on gov-water (alerts-site)"
    elif not markdown:
        assert set(doc) == {"msgtype", "text"} and doc["msgtype"] == "text"
        assert set(doc["text"]) == {"content"}
        assert doc["text"]["content"].startswith("metergate: RAISED critical: water_leak on gov-water")
        assert "night flow 0.42 m³/h" in doc["text"]["content"]
    elif template == "wecom":
        assert doc["msgtype"] == "markdown" and set(doc["markdown"]) == {"content"}
        assert doc["markdown"]["content"].startswith("**metergate: RAISED critical")
    else:
        assert doc["msgtype"] == "markdown" and set(doc["markdown"]) == {"title", "text"}
        assert doc["markdown"]["title"].startswith("metergate: RAISED critical")
        assert "#### metergate: RAISED" in doc["markdown"]["text"]
    (rec,) = _records(store_path)
    assert rec.status == "delivered"


def test_a_bearer_token_from_a_file_is_sent(tmp_path: Path, webhook: HttpReceiver, store_path: Path,
                                            notifiers: Callable[..., Notifier]) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    notifier = notifiers(settings(webhook_channel(webhook.url + "/hook", token=Secret.from_file(token))),
                         store_path)
    notifier.submit(raised())
    assert notifier.flush(20)
    (post,) = webhook.wait(1)
    assert post.headers["Authorization"] == "Bearer tok-123"


def test_http_500_is_retried_then_delivered(webhook: HttpReceiver, store_path: Path,
                                            notifiers: Callable[..., Notifier]) -> None:
    webhook.fail = 2
    notifier = notifiers(settings(webhook_channel(webhook.url), retry=RetryPolicy(0.3, 5.0, 5)), store_path,
                         rng=lambda: 1.0)
    notifier.submit(raised())
    assert notifier.flush(20)
    webhook.wait(1)
    a = webhook.attempts
    assert len(a) == 3 and a[1] - a[0] >= 0.25 and a[2] - a[1] >= 0.55
    (rec,) = _records(store_path)
    assert (rec.status, rec.attempts) == ("delivered", 3)
    port = webhook.server.server_address[1]
    errors = [t[4] for t in _attempts(store_path, rec.id)]
    assert errors == [f"127.0.0.1:{port} answered HTTP 500 Internal Server Error"] * 2 + [None]
    assert notifier.counts["retried"] == 2 and notifier.counts["delivered"] == 1


def test_retries_stop_after_the_attempts_and_4xx_is_not_retried(webhook: HttpReceiver, store_path: Path,
                                                                notifiers: Callable[..., Notifier]) -> None:
    webhook.fail = 100
    notifier = notifiers(settings(webhook_channel(webhook.url), retry=RetryPolicy(0.1, 0.2, 3)), store_path)
    notifier.submit(raised())
    assert notifier.flush(20)
    (rec,) = _records(store_path)
    assert (rec.status, rec.attempts) == ("failed", 3) and "HTTP 500" in (rec.error or "")
    webhook.status = 404
    notifier.submit(raised())
    assert notifier.flush(20)
    rec = _records(store_path)[1]
    assert (rec.status, rec.attempts) == ("failed", 1) and "HTTP 404" in (rec.error or "")


def test_a_robot_that_answers_an_errcode_is_retried(webhook: HttpReceiver, store_path: Path,
                                                    notifiers: Callable[..., Notifier]) -> None:
    webhook.answer = b'{"errcode": 310000, "errmsg": "keywords not in content"}'
    notifier = notifiers(settings(webhook_channel(webhook.url, template="dingtalk"),
                                  retry=RetryPolicy(0.1, 0.2, 2)), store_path)
    notifier.submit(raised())
    assert notifier.flush(20)
    (rec,) = _records(store_path)
    assert rec.status == "failed" and rec.attempts == 2 and "errcode 310000" in (rec.error or "")


def test_a_hung_receiver_never_holds_up_submit(webhook: HttpReceiver, store_path: Path,
                                               notifiers: Callable[..., Notifier]) -> None:
    webhook.hang.set()
    notifier = notifiers(settings(webhook_channel(webhook.url, timeout=1.0), retry=RetryPolicy(0.1, 0.2, 2),
                                  queue=1000), store_path)
    t0 = time.perf_counter()
    for _ in range(200):
        assert notifier.submit(raised())
    assert time.perf_counter() - t0 < 0.2
    deadline = time.monotonic() + 15  # the first attempt times out after 1 s: a failed attempt, retried
    while time.monotonic() < deadline and not (_records(store_path) and _records(store_path)[0].error):
        time.sleep(0.1)
    rec = _records(store_path)[0]
    assert rec.status in ("pending", "failed") and "timed out" in (rec.error or "")


def test_a_full_queue_drops_and_counts(store_path: Path) -> None:
    notifier = Notifier(settings(webhook_channel("http://127.0.0.1:9/"), queue=2), store_path)  # not started
    assert notifier.submit(raised()) and notifier.submit(raised())
    assert not notifier.submit(raised())
    assert notifier.counts["dropped"] == 1 and notifier.counts["submitted"] == 2


def test_a_stop_leaves_retries_pending_and_the_next_start_sends_them(
        webhook: HttpReceiver, store_path: Path, notifiers: Callable[..., Notifier]) -> None:
    webhook.fail = 1
    s = settings(webhook_channel(webhook.url), retry=RetryPolicy(60.0, 600.0, 5), drain=0.5)
    first = notifiers(s, store_path)
    first.submit(raised())
    deadline = time.monotonic() + 10
    while not webhook.attempts and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    first.close()
    assert time.monotonic() - t0 < 2.0  # the retry a minute away is not waited for
    (rec,) = _records(store_path)
    assert (rec.status, rec.attempts) == ("pending", 1)
    # the next start, once the retry is due (a clock two minutes on), sends it: the same row
    second = notifiers(s, store_path, clock=lambda: time.time() + 120)
    assert second.flush(20)
    webhook.wait(1)
    (rec,) = _records(store_path)
    assert (rec.status, rec.attempts) == ("delivered", 2)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_quiet_hours_hold_below_critical_until_they_end(webhook: HttpReceiver, store_path: Path,
                                                        notifiers: Callable[..., Notifier]) -> None:
    from datetime import datetime

    night = datetime(2024, 1, 2, 23, 0, tzinfo=TZ).timestamp()
    morning = datetime(2024, 1, 3, 7, 0, tzinfo=TZ).timestamp()
    clock = Clock(night)
    s = settings(webhook_channel(webhook.url), routes=(route("hook", quiet="22:00-07:00"),))
    notifier = notifiers(s, store_path, clock=clock)
    notifier.submit(raised(Severity.MAJOR))
    notifier.submit(raised(Severity.CRITICAL))
    (post,) = webhook.wait(1)
    assert post.body["severity"] == "critical"
    time.sleep(0.6)
    assert len(webhook.posts) == 1  # the major one is held
    held = [r for r in _records(store_path) if r.status == "pending"]
    assert len(held) == 1 and held[0].due_ns == int(morning * 1e9)
    clock.t = morning + 1
    posts = webhook.wait(2)
    assert posts[1].body["severity"] == "major"
    assert notifier.counts["held"] == 1


def test_escalation_and_clear_are_notified_not_de_escalation_or_ack() -> None:
    up = alert(Severity.CRITICAL)
    n = from_change(Change("updated", up, T0 + 2 * H), Severity.MAJOR, TZ)
    assert n is not None and n.event == "escalated" and n.extra == {"previous_severity": "major"}
    assert from_change(Change("updated", alert(Severity.WARNING), T0 + 2 * H), Severity.MAJOR, TZ) is None
    assert from_change(Change("acked", up, T0 + 2 * H), None, TZ) is None
    c = from_change(Change("cleared", alert(cleared=True), T0 + 5 * H), None, TZ)
    assert c is not None and c.event == "cleared"
    assert Notification.from_dict(c.as_dict()) == c  # what a pending row keeps across a restart


def test_report_ready_goes_through_the_same_channels(webhook: HttpReceiver, store_path: Path,
                                                     notifiers: Callable[..., Notifier]) -> None:
    notifier = notifiers(settings(webhook_channel(webhook.url)), store_path)
    notifier.submit(report_ready(SITE, "2026-11", "/var/lib/metergate/reports/alerts-site-2026-11.pdf",
                                 T0, "Asia/Shanghai"))
    (post,) = webhook.wait(1)
    assert post.body["event"] == "report" and post.body["alert"] is None
    assert post.body["report"] == {"period": "2026-11",
                                   "path": "/var/lib/metergate/reports/alerts-site-2026-11.pdf"}
    assert post.body["title"] == "report ready: alerts-site 2026-11"
    (rec,) = _records(store_path)
    assert (rec.event, rec.alert_id, rec.status) == ("report", None, "delivered")


def test_a_dingtalk_robot_with_signing_gets_timestamp_and_sign(
        tmp_path: Path, webhook: HttpReceiver, store_path: Path, notifiers: Callable[..., Notifier]) -> None:
    import base64
    import hashlib
    import hmac
    import urllib.parse
    from dataclasses import replace

    secret = "SEC0123456789abcdef"
    (tmp_path / "ding-secret").write_text(secret + "\n")
    ch = replace(webhook_channel(f"{webhook.url}/robot/send?access_token=t0", template="dingtalk"),
                 sign_secret=Secret.from_file(tmp_path / "ding-secret"))
    notifier = notifiers(settings(ch), store_path)
    before_ms = int(time.time() * 1000)
    notifier.submit(raised())
    (post,) = webhook.wait(1)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(post.path).query)
    assert query["access_token"] == ["t0"]
    ts = query["timestamp"][0]
    assert before_ms <= int(ts) <= int(time.time() * 1000)
    # DingTalk's rule, computed here independently: base64(HMAC-SHA256(secret, "timestamp\nsecret"))
    want = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest())
    assert query["sign"] == [want.decode()]
    assert post.body["msgtype"] == "text"


def test_a_chinese_channel_says_it_in_chinese(webhook: HttpReceiver, store_path: Path,
                                              notifiers: Callable[..., Notifier]) -> None:
    """`lang = "zh"` (the default): the title, the field names, the event, severity and kind in
    Chinese; the detector's own sentence and its figures as the analytics wrote them."""
    ch = webhook_channel(f"{webhook.url}/zh", template="wecom", lang="zh")
    notifier = notifiers(settings(ch), store_path)
    notifier.submit(raised(Severity.CRITICAL))
    assert notifier.flush(20)
    (post,) = webhook.wait(1)
    text = post.body["text"]["content"]
    assert text.startswith("metergate: 告警【紧急】疑似漏水 — gov-water（alerts-site）"), text
    assert "级别：紧急" in text and "站点：alerts-site" in text
    assert "告警编号：water_leak-0123456789abcdef" in text
    assert "night flow 0.42 m³/h" in text  # the alert's message, unchanged
