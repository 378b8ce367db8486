"""Notifications from the analytics service itself: an alert it raises reaches a real SMTP server
(STARTTLS, login from the environment) and a real webhook receiver; a hung receiver does not slow
the evaluation; "report ready" goes through the same channels, in the service and from another
process (the scheduler's hook). In process (messages straight to the handler, as
test_service_inproc.py) and as `metergate analytics` under a real mosquitto."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.reading import Quality
from services.analytics.config import load_analytics_config
from services.analytics.notify.hook import notify_report_ready
from services.analytics.service import AnalyticsService
from services.analytics.store import AlertStore
from services.shared.consumer import Delivery
from tests.alerts.sites import SITE, analytics_toml, readings, site_message, site_toml
from tests.support.ingest import Publisher
from tests.support.mosquitto import Mosquitto, Pki
from tests.support.receivers import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.slow


def _notify_toml(smtp: SmtpReceiver, pki: Pki, hook_url: str, *, timeout: str = "5s") -> str:
    return f"""
[notify]
drain = "2s"

[notify.retry]
initial = "1s"
maximum = "2s"
attempts = 3

[[notify.channel]]
id = "ops-mail"
type = "email"
host = "127.0.0.1"
port = {smtp.port}
ca_file = "{pki.ca_file}"
username = "{smtp.user}"
password_env = "TEST_NOTIFY_SMTP_PASSWORD"
from = "metergate@example.cn"
to = ["ops@example.cn"]
timeout = "{timeout}"

[[notify.channel]]
id = "robot"
type = "webhook"
template = "wecom"
url_env = "TEST_NOTIFY_ROBOT_URL"
timeout = "{timeout}"

[[notify.route]]
channels = ["ops-mail", "robot"]
"""


def _config(tmp_path: Path, smtp: SmtpReceiver, pki: Pki, hook: HttpReceiver, *, port: int = 1883,
            timeout: str = "5s") -> Path:
    site_toml(tmp_path)
    return analytics_toml(tmp_path, port=port, client_id="analytics-notify-test",
                          extra=_notify_toml(smtp, pki, hook.url, timeout=timeout))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, smtp: SmtpReceiver, webhook: HttpReceiver) -> None:
    monkeypatch.setenv("TEST_NOTIFY_SMTP_PASSWORD", smtp.password)
    monkeypatch.setenv("TEST_NOTIFY_ROBOT_URL", f"{webhook.url}/cgi-bin/webhook/send?key=k1")
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)


class _Consumer:
    connected = False

    def ack(self, d: Delivery) -> bool:
        return True

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        return 1

    def wait_subscribed(self, timeout: float) -> bool:
        return False


def _sentinel_rows() -> list[tuple[int, str, str, float | None]]:
    """Two days of readings; the school's meter reports invalid values from the second day on."""
    rows = readings(days=2)
    bad_from = rows[0][0] + 86_400 * 10**9
    return [(ts, m, q, None if m == "school-main" and ts >= bad_from else v) for ts, m, q, v in rows]


def _feed(svc: AnalyticsService, rows: list[tuple[int, str, str, float | None]]) -> float:
    """Every row through the handler; the longest single call (seconds)."""
    longest = 0.0
    for mid, (ts, meter, quantity, value) in enumerate(rows, 1):
        quality = Quality.OK if value is not None else Quality.INVALID
        topic, payload = site_message(mid, meter, ts / 1e9, quantity, value, quality)
        t0 = time.perf_counter()
        svc._handle(Delivery(topic, payload, mid, 1, 0, time.time()))
        longest = max(longest, time.perf_counter() - t0)
    return longest


@pytest.fixture
def in_process(tmp_path: Path, smtp: SmtpReceiver, test_pki: Pki, webhook: HttpReceiver,
               env: None) -> Iterator[AnalyticsService]:
    svc = AnalyticsService(load_analytics_config(_config(tmp_path, smtp, test_pki, webhook)))
    svc.consumer = _Consumer()  # type: ignore[assignment]
    assert svc.notifier is not None
    svc.notifier.start()
    yield svc
    svc.notifier.close()
    svc.store.close()


def test_a_raised_alert_is_mailed_and_posted_and_recorded(in_process: AnalyticsService, smtp: SmtpReceiver,
                                                          webhook: HttpReceiver) -> None:
    svc = in_process
    _feed(svc, _sentinel_rows())
    sentinel = [a for a in svc.sites[SITE].engine.book.active if a.kind.value == "sentinel"]
    assert sentinel, "the invalid readings raised no sentinel alert"
    mails = smtp.wait(1)
    posts = webhook.wait(1)
    subjects = [m.message["Subject"] for m in mails]
    # in Chinese, the channels' default language
    assert any(s.startswith("[metergate] 告警【") and "无效读数 — school-main（alerts-site）" in s
               for s in subjects), subjects
    assert all(m.tls and m.login == smtp.user for m in mails)
    assert any(p.body["msgtype"] == "text" and "无效读数 — school-main" in p.body["text"]["content"]
               for p in posts)
    assert all(p.path == "/cgi-bin/webhook/send?key=k1" for p in posts)
    assert svc.notifier is not None and svc.notifier.flush(20)
    records = svc.store.notifications(alert_id=sentinel[0].id)
    got = {(r.channel, r.event, r.status) for r in records}
    assert {("ops-mail", "raised", "delivered"), ("robot", "raised", "delivered")} <= got
    assert {r.status for r in records} == {"delivered"}
    assert svc.health_doc()["counts"]["notify_delivered"] >= 2
    # and `metergate alerts --notifications` lists them
    import json

    from typer.testing import CliRunner

    from cli.main import app

    out = CliRunner().invoke(app, ["alerts", "--config", str(svc.cfg.path), "--notifications", "--all",
                                   "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)["notifications"]
    assert {(d["channel"], d["event"], d["status"]) for d in listed} >= {("ops-mail", "raised", "delivered"),
                                                                         ("robot", "raised", "delivered")}
    table = CliRunner().invoke(app, ["alerts", "--config", str(svc.cfg.path), "--notifications"])
    assert table.exit_code == 0 and "ops-mail" in table.output and "delivered" in table.output


def test_a_hung_receiver_does_not_slow_the_evaluation(tmp_path: Path, smtp: SmtpReceiver, test_pki: Pki,
                                                      webhook: HttpReceiver, env: None) -> None:
    webhook.hang.set()
    svc = AnalyticsService(load_analytics_config(_config(tmp_path, smtp, test_pki, webhook, timeout="30s")))
    svc.consumer = _Consumer()  # type: ignore[assignment]
    assert svc.notifier is not None
    svc.notifier.start()
    rows = _sentinel_rows()
    try:
        _feed(svc, rows[: len(rows) // 2])  # warm: the detectors' first ticks
        longest = _feed(svc, rows[len(rows) // 2:])  # the alert is raised here, the robot hangs for 30 s
        assert any(a.kind.value == "sentinel" for a in svc.sites[SITE].engine.book.active)
        assert webhook.attempts, "no attempt reached the hung receiver"
        assert longest < 2.0  # a tick (detectors, store) takes far less than the 30 s the robot hangs
        t0 = time.monotonic()
    finally:
        svc.notifier.close()
        svc.store.close()
    assert time.monotonic() - t0 < 5.0  # the stop waits `drain` (2 s), not the hung attempt
    # the robot's notifications are left pending for the next start; the mail went out
    with AlertStore(svc.cfg.store_path) as store:
        rows = store.notifications()
    assert {r.status for r in rows if r.channel == "robot"} == {"pending"}
    assert {r.status for r in rows if r.channel == "ops-mail"} == {"delivered"}


def test_report_ready_in_the_service_and_from_the_scheduler(
        in_process: AnalyticsService, webhook: HttpReceiver, smtp: SmtpReceiver) -> None:
    svc = in_process
    assert svc.report_ready(SITE, "2026-11", "/srv/reports/alerts-site-2026-11.pdf")
    posts = webhook.wait(1)
    assert "报告已生成：alerts-site 2026-11" in posts[0].body["text"]["content"]
    (mail,) = smtp.wait(1)
    assert mail.message["Subject"] == "[metergate] 报告已生成：alerts-site 2026-11"
    assert "/srv/reports/alerts-site-2026-11.pdf" in mail.message.get_content()
    # the scheduler runs in another process: the hook sends through the same config and store
    records = notify_report_ready(svc.cfg, SITE, "2026-12", "/srv/reports/alerts-site-2026-12.pdf",
                                  wait_s=20)
    assert {(r.channel, r.status) for r in records} == {("ops-mail", "delivered"), ("robot", "delivered")}
    assert len(webhook.wait(2)) == 2
    with pytest.raises(ValueError, match="not in"):
        notify_report_ready(svc.cfg, "elsewhere", "2026-12", "/x")


def test_the_service_under_a_real_broker_mails_and_posts_its_alert(
        tmp_path: Path, mosquitto: Any, mqtt_recorder: Any, smtp: SmtpReceiver, test_pki: Pki,
        webhook: HttpReceiver, env: None) -> None:
    from tests.alerts.test_service_e2e import Service

    broker: Mosquitto = mosquitto()
    cfg = _config(tmp_path, smtp, test_pki, webhook, port=broker.port)
    svc = Service(cfg, tmp_path / "service.log").start()
    try:
        health = mqtt_recorder(broker, "metergate/analytics/+/health", client_id="health")
        assert health.wait_for(bool, timeout=60), (tmp_path / "service.log").read_text()  # subscribed
        pub = Publisher(broker.host, broker.port)
        for seq, (ts, meter, quantity, value) in enumerate(_sentinel_rows(), 1):
            quality = Quality.OK if value is not None else Quality.INVALID
            pub.send(*site_message(seq, meter, ts / 1e9, quantity, value, quality))
        assert pub.flush(120)
        pub.close()
        mails = smtp.wait(1, timeout=180)
        posts = webhook.wait(1, timeout=60)
    finally:
        code = svc.stop()
    log = (tmp_path / "service.log").read_text()
    assert code == 0, log
    assert any("无效读数 — school-main" in m.message["Subject"] for m in mails), log
    assert any("无效读数 — school-main" in p.body["text"]["content"] for p in posts)
    with AlertStore(tmp_path / "state" / "alerts.sqlite") as store:
        delivered = {(r.channel, r.event) for r in store.notifications() if r.status == "delivered"}
    assert {("ops-mail", "raised"), ("robot", "raised")} <= delivered
