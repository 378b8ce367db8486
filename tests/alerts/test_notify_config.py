"""[notify] of the analytics config: a full section loads into channels, routes and retry; every
mistake is reported with file, line and key (inline secrets above all); the commented example in
config/examples/analytics.toml is valid once uncommented; routing and quiet hours as a table."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from analytics.events import AlertKind, Severity
from core.secrets import Secret
from services.analytics.config import AnalyticsConfigError, load_analytics_config
from services.analytics.notify.config import EmailChannel, QuietHours, WebhookChannel
from services.analytics.notify.message import report_ready
from services.analytics.notify.routing import matches, plan, quiet_end
from tests.alerts.notify_support import TZ, raised, route
from tests.alerts.sites import site_toml

ROOT = Path(__file__).resolve().parents[2]
HEAD = """sites = ["site.toml"]

[mqtt]
host = "127.0.0.1"
"""
GOOD = HEAD + """
[notify]
queue = 500

[notify.retry]
initial = "5s"
maximum = "10m"
attempts = 6

[[notify.channel]]
id = "ops-mail"
type = "email"
host = "smtp.example.cn"
username = "metergate@example.cn"
password_env = "TEST_SMTP_PASSWORD"
from = "metergate@example.cn"
to = ["ops@example.cn"]

[[notify.channel]]
id = "wecom"
type = "webhook"
template = "wecom"
markdown = true
url_file = "wecom-url"

[[notify.route]]
channels = ["ops-mail", "wecom"]
sites = ["alerts-site"]
min_severity = "major"
quiet_hours = "22:00-07:00"

[[notify.route]]
channels = ["ops-mail"]
events = ["report"]
quiet_hours = "12:00-13:30"
quiet_pass = "none"
"""


def _write(tmp_path: Path, text: str) -> Path:
    site_toml(tmp_path)
    (tmp_path / "wecom-url").write_text("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k\n")
    (tmp_path / "wecom-url").chmod(0o600)
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def test_a_full_section_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "pw")
    cfg = load_analytics_config(_write(tmp_path, GOOD))
    n = cfg.notify
    assert n is not None and n.queue == 500
    assert (n.retry.initial, n.retry.maximum, n.retry.max_attempts) == (5.0, 600.0, 6)
    mail, robot = n.channels["ops-mail"], n.channels["wecom"]
    assert isinstance(mail, EmailChannel) and mail.port == 587 and mail.starttls
    assert mail.password == Secret.from_env("TEST_SMTP_PASSWORD") and mail.sender == "metergate@example.cn"
    assert isinstance(robot, WebhookChannel) and robot.template == "wecom" and robot.markdown
    assert robot.url == Secret.from_file(tmp_path / "wecom-url")
    first, second = n.routes
    assert first.min_severity == Severity.MAJOR and first.quiet == QuietHours.parse("22:00-07:00")
    assert first.sites == frozenset({"alerts-site"}) and second.events == frozenset({"report"})
    assert first.quiet_pass == Severity.CRITICAL and second.quiet_pass is None  # "none": hold all


def test_no_section_no_notifications(tmp_path: Path) -> None:
    assert load_analytics_config(_write(tmp_path, HEAD)).notify is None


def test_every_mistake_names_file_line_and_key(tmp_path: Path) -> None:
    text = HEAD + """
[[notify.channel]]
id = "ops-mail"
type = "email"
host = "smtp.example.cn"
starttls = false
username = "metergate"
password = "hunter2"
from = "metergate@example.cn"
to = []

[[notify.channel]]
id = "robot"
type = "webhook"
template = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=abc"

[[notify.channel]]
id = "pager"
type = "sms"

[[notify.route]]
channels = ["ops-mail", "nowhere"]
sites = ["other-site"]
quiet_hours = "22-7"
min_severity = "urgent"
"""
    cfg = _write(tmp_path, text)
    with pytest.raises(AnalyticsConfigError) as e:
        load_analytics_config(cfg)
    found = {p.key: (p.line, p.message) for p in e.value.problems}
    lines = text.splitlines()

    def line(s: str) -> int:
        return lines.index(s) + 1

    assert found["notify.channel[0] (id 'ops-mail').password"][0] == line('password = "hunter2"')
    assert "password_file" in found["notify.channel[0] (id 'ops-mail').password"][1]
    assert found["notify.channel[0] (id 'ops-mail').to"][0] == line("to = []")
    assert found["notify.channel[1] (id 'robot').url"][0] == line(
        'url = "https://oapi.dingtalk.com/robot/send?access_token=abc"')
    assert "url_file or url_env" in found["notify.channel[1] (id 'robot').url"][1]
    assert "\"email\" or \"webhook\"" in found["notify.channel[2] (id 'pager').type"][1]
    assert found["notify.route[0].min_severity"][0] == line('min_severity = "urgent"')
    assert not any("hunter2" in str(p) or "abc" in p.message for p in e.value.problems)
    # once the shapes are right: the meaning (clear credentials, unknown channel and site, quiet hours)
    text = (text.replace('password = "hunter2"\n', 'password_env = "X_UNSET_PW"\n')
            .replace("to = []", 'to = ["ops@example.cn"]').replace('min_severity = "urgent"\n', "")
            .replace("access_token=abc", "x=1"))
    cfg.write_text(text.replace('[[notify.channel]]\nid = "pager"\ntype = "sms"\n', ""))
    with pytest.raises(AnalyticsConfigError) as e:
        load_analytics_config(cfg)
    found = {p.key: (p.line, p.message) for p in e.value.problems}
    assert "in clear" in found["notify.channel[0] (id 'ops-mail').starttls"][1]
    assert "X_UNSET_PW" in found["notify.channel[0] (id 'ops-mail').password_env"][1]
    assert "'nowhere'" in found["notify.route[0].channels[1]"][1]
    assert "'other-site'" in found["notify.route[0].sites[0]"][1]
    assert "HH:MM-HH:MM" in found["notify.route[0].quiet_hours"][1]
    assert all(p.file == str(cfg) for p in e.value.problems)


def test_the_commented_example_is_valid_once_uncommented(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "config/examples/analytics.toml").read_text(encoding="utf-8")
    block = re.search(r"^# --- notifications ---\n(.*?)^# --- end of notifications ---$", text,
                      re.MULTILINE | re.DOTALL)
    assert block, "the example has no notifications block"
    active = "\n".join(re.sub(r"^# ?", "", ln) for ln in block.group(1).splitlines()
                       if not ln.startswith("##"))
    example = text.replace(block.group(0), active)
    monkeypatch.setenv("METERGATE_SMTP_PASSWORD", "pw")
    monkeypatch.setenv("METERGATE_WECOM_URL", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")
    folder = ROOT / "config/examples"
    cfg = folder / f".uncommented-{tmp_path.name}.toml"  # beside the example: its sites resolve
    cfg.write_text(example, encoding="utf-8")
    try:
        loaded = load_analytics_config(cfg)
    finally:
        cfg.unlink()
    assert loaded.notify is not None and len(loaded.notify.channels) >= 2 and loaded.notify.routes


@pytest.mark.parametrize(("local", "window", "end"), [
    ("2024-01-02 23:00", "22:00-07:00", "2024-01-03 07:00"),
    ("2024-01-03 06:59", "22:00-07:00", "2024-01-03 07:00"),
    ("2024-01-03 07:00", "22:00-07:00", None),  # the end is outside
    ("2024-01-02 21:59", "22:00-07:00", None),
    ("2024-01-02 22:00", "22:00-07:00", "2024-01-03 07:00"),
    ("2024-01-02 12:30", "12:00-13:30", "2024-01-02 13:30"),
    ("2024-01-02 14:00", "12:00-13:30", None),
])
def test_quiet_hours_end(local: str, window: str, end: str | None) -> None:
    now = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=TZ).timestamp()
    got = quiet_end(QuietHours.parse(window), now, TZ)
    want = None if end is None else datetime.strptime(end, "%Y-%m-%d %H:%M").replace(tzinfo=TZ).timestamp()
    assert got == want


def test_routes_filter_and_the_earliest_route_wins_for_a_shared_channel() -> None:
    night = datetime(2024, 1, 2, 23, 0, tzinfo=TZ).timestamp()
    r_major = route("mail", min_severity=Severity.MAJOR)
    r_quiet = route("mail", "robot", quiet="22:00-07:00", quiet_pass=None)
    assert not matches(r_major, raised(Severity.WARNING)) and matches(r_major, raised(Severity.MAJOR))
    got = plan(raised(Severity.MAJOR), (r_major, r_quiet), night)
    assert got["mail"] == night  # the route without quiet hours sends at once
    assert got["robot"] == datetime(2024, 1, 3, 7, 0, tzinfo=TZ).timestamp()  # held: quiet_pass none
    # a report ignores kinds and severity; its events decide
    from dataclasses import replace

    only_leaks = replace(route("mail"), kinds=frozenset({AlertKind.WATER_LEAK}))
    rep = report_ready("alerts-site", "2026-11", "/r.pdf", 0, "Asia/Shanghai")
    assert matches(only_leaks, rep) and matches(only_leaks, raised(kind=AlertKind.WATER_LEAK))
    assert not matches(only_leaks, raised(kind=AlertKind.SPIKE))
    assert not matches(replace(only_leaks, events=frozenset({"raised"})), rep)


def test_a_signing_secret_is_for_dingtalk_only(tmp_path: Path) -> None:
    text = HEAD + """
[[notify.channel]]
id = "robot"
type = "webhook"
template = "wecom"
url_file = "wecom-url"
secret_file = "wecom-url"

[[notify.route]]
channels = ["robot"]
"""
    cfg = _write(tmp_path, text)
    with pytest.raises(AnalyticsConfigError) as e:
        load_analytics_config(cfg)
    (p,) = e.value.problems
    assert p.key == "notify.channel[0] (id 'robot').secret_file" and "DingTalk" in p.message
    cfg.write_text(text.replace('template = "wecom"', 'template = "dingtalk"'))
    robot = load_analytics_config(cfg).notify.channels["robot"]  # type: ignore[union-attr]
    assert isinstance(robot, WebhookChannel) and robot.sign_secret == Secret.from_file(tmp_path / "wecom-url")
