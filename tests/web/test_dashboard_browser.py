"""The dashboard in a real headless browser (Debian's chromium driven by Playwright; nothing is
downloaded): the analytics service's own code fills its store from 20 days of readings, its main loop
runs with the dashboard served by uvicorn on a free loopback port, and the pages are read back.

- every page loads (200) and its numbers are the store's: the year to date and quota status the
  service stored, the daily electricity and sub-items summed from the store's daily rows here, the
  meters' last reading and coverage;
- acknowledging is refused without a login (403), with a wrong password (401), without the CSRF
  token (403), and works after the login: the store shows the alert acknowledged by that user, with
  the history row, and the retained alert document is published as for an MQTT ack.

Screenshots of every page: test-artifacts/dashboard/*.png (git ignores test-artifacts/).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reports import formatting
from services.analytics.config import load_analytics_config
from services.analytics.service import AnalyticsService
from services.analytics.web.auth import add_user
from services.shared.consumer import Delivery
from tests.alerts.sites import TZ, readings, site_message, site_toml
from tests.support.mosquitto import free_port

pytestmark = [pytest.mark.services, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
INSTITUTION = "市机关事务管理局"
USER, PASSWORD = "wang", "correct horse battery"
DAYS = 20


class Consumer:
    """Stands in for the MQTT consumer: records acknowledgements and publications."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, bool]] = []
        self.connected = False

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def ack(self, d: Delivery) -> bool:
        return True

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        self.published.append((topic, payload, retain))
        return len(self.published)

    def wait_subscribed(self, timeout: float) -> bool:
        return False


def _site(folder: Path) -> None:
    """The alert test site with an institution and an HVAC sub-item meter under the office's total."""
    path = site_toml(folder)
    text = path.read_text(encoding="utf-8").replace(
        'timezone = "Asia/Shanghai"', f'timezone = "Asia/Shanghai"\ninstitution = "{INSTITUTION}"')
    text += ('\n[[meters]]\nid = "gov-hvac"\nprofile = "chint-dtsu666"\nunit = 4\nbus = "bus1"\n'
             'building = "gov"\nsubitem = "hvac"\n')
    path.write_text(text, encoding="utf-8")


def _rows() -> list[tuple[int, str, str, float]]:
    """20 days up to now (15-minute readings); the HVAC meter reads 40 % of the office's use; the
    water meter falls silent 2 days before the end (offline, less coverage) after a night leak."""
    end = datetime.now(TZ).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 15)
    start = end - timedelta(days=DAYS)
    out = []
    silent_from = int((end - timedelta(days=2)).timestamp()) * 10**9
    base: float | None = None
    for ts, meter, quantity, value in readings(DAYS, start=start, leak_m3_per_h=0.3, leak_from_day=8):
        if meter == "gov-water" and ts >= silent_from:
            continue
        out.append((ts, meter, quantity, value))
        if meter == "gov-main":
            base = value if base is None else base
            out.append((ts, "gov-hvac", quantity, round(500.0 + 0.4 * (value - base), 4)))
    return out


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("dashboard")
    _site(folder)
    add_user(folder / "users.toml", USER, PASSWORD)
    (folder / "session-secret").write_text("k" * 48, encoding="utf-8")
    (folder / "session-secret").chmod(0o600)
    port = free_port()
    (folder / "analytics.toml").write_text(f"""sites = ["site.toml"]

[mqtt]
host = "127.0.0.1"
client_id = "analytics-web-test"

[store]
path = "alerts.sqlite"

[engine]
interval = "1h"
lateness = "15m"

[web]
listen = "127.0.0.1:{port}"
users_file = "users.toml"
session_secret_file = "session-secret"
lang = "zh"
""", encoding="utf-8")
    consumer = Consumer()
    made: dict[str, AnalyticsService] = {}

    def main() -> None:  # the service's thread, as in `metergate analytics`: its store is this thread's
        svc = AnalyticsService(load_analytics_config(folder / "analytics.toml"))
        svc.consumer = consumer  # type: ignore[assignment]
        for mid, (ts, meter, quantity, value) in enumerate(_rows(), 1):  # the service's own handling
            topic, payload = site_message(mid, meter, ts / 1e9, quantity, value)
            svc._handle(Delivery(topic, payload, mid, 1, 0, time.time()))
        made["svc"] = svc
        svc.run()

    runner = threading.Thread(target=main, name="analytics-main", daemon=True)
    runner.start()
    deadline = time.monotonic() + 60
    while "svc" not in made or made["svc"].web is None or not made["svc"].web.server.started:
        assert runner.is_alive() and time.monotonic() < deadline, made.get("svc") and made["svc"].failed
        time.sleep(0.05)
    svc = made["svc"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield {"url": f"http://127.0.0.1:{port}", "store": folder / "alerts.sqlite", "svc": svc,
           "consumer": consumer}
    svc.stop()
    runner.join(15)
    assert svc.failed is None


@pytest.fixture(scope="module")
def browser(dashboard: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "needs Debian's chromium (apt-get install chromium; scripts/test does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    outside: list[str] = []  # every request must stay on the loopback server

    def watch(request: Any) -> None:
        if not request.url.startswith("http://127.0.0.1:"):
            outside.append(request.url)

    pg.on("request", watch)
    yield pg
    context.close()
    assert not outside, outside


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _state(path: Path, key: str) -> Any:
    with _db(path) as db:
        row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _value(cell: Any) -> float | None:
    raw = cell.get_attribute("data-value")
    return None if raw == "" else float(raw)


def _open(page: Any, url: str, shot: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    assert "default-src 'none'" in response.headers["content-security-policy"]  # no script, no CDN
    assert "built-in method" not in page.content()  # a label taken for a dict method
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)


def test_fleet_page_shows_the_stored_year_to_date(dashboard: dict[str, Any], page: Any) -> None:
    summary = json.loads(_state(dashboard["store"], "summary:alerts-site"))
    _open(page, dashboard["url"] + "/", "fleet")
    row = page.locator(f'tr.institution[data-institution="{INSTITUTION}"]')
    assert row.count() == 1
    stored = summary["institutions"][INSTITUTION]
    assert stored["buildings"] == ["gov", "school"]
    with _db(dashboard["store"]) as db:  # the days with data: any of its meters covered that day
        known = db.execute("SELECT count(DISTINCT day) FROM daily WHERE site = 'alerts-site' AND "
                           "covered = 1 AND day >= ? AND day <= ?",
                           (summary["day"][:4] + "-01-01", summary["day"])).fetchone()[0]
    assert stored["known_days"] == known > 0
    assert row.locator('td[data-key="known_days"]').inner_text() == f"{known} / {stored['days']}"
    for key in ("energy_kgce", "kgce_per_m2", "kgce_per_person", "water_m3_per_person", "kgco2_per_m2"):
        cell = row.locator(f'td[data-key="{key}"]')
        assert _value(cell) == stored[key], key
        assert cell.inner_text().strip() == formatting.indicator(key, stored[key])
    cell = row.locator('td[data-key="electricity_kwh"]')
    assert _value(cell) == stored["electricity_kwh"]
    assert cell.inner_text().strip() == formatting.fmt(stored["electricity_kwh"])
    tiers = [q["tier"] for q in summary["quota"] if q["tier"]]
    assert row.locator('td[data-key="tier"]').get_attribute("data-value") == (max(
        tiers, key=["target", "guide", "baseline", "constraint"].index) if tiers else "")
    with _db(dashboard["store"]) as db:
        active = db.execute("SELECT count(*) FROM alerts WHERE state = 'active'").fetchone()[0]
    assert int(row.locator('td[data-key="alerts"]').inner_text()) == active


def test_institution_page_numbers_are_the_stores(dashboard: dict[str, Any], page: Any) -> None:
    store = dashboard["store"]
    summary = json.loads(_state(store, "summary:alerts-site"))
    closed = date.fromisoformat(_state(store, "closed:alerts-site"))
    _open(page, dashboard["url"] + "/", "fleet-before-click")
    page.click(f"text={INSTITUTION}")
    page.wait_for_selector("#indicators")
    page.screenshot(path=str(SHOTS / "institution.png"), full_page=True)
    for b in ("gov", "school"):
        cell = page.locator(f'tr.building[data-building="{b}"] td[data-key="electricity_kwh"]')
        assert _value(cell) == summary["buildings"][b]["electricity_kwh"]
    assert _value(page.locator('#indicators td[data-key="kgce_per_m2"]')) == \
        summary["institutions"][INSTITUTION]["kgce_per_m2"]
    assert _value(page.locator('#carriers td[data-key="water_m3"]')) == \
        summary["institutions"][INSTITUTION]["water_m3"]
    # the daily chart: the total meters' daily rows of the store, summed here; no bar for no data
    per_day: dict[str, float] = defaultdict(float)
    hvac = 0.0
    with _db(store) as db:
        for meter, day, value in db.execute(
                "SELECT meter, day, value FROM daily WHERE site = 'alerts-site' AND covered = 1 AND "
                "quantity = 'energy_active_import' AND day >= ? AND day <= ?",
                (f"{closed.year}-01-01", closed.isoformat())):
            if meter in ("gov-main", "school-main"):
                per_day[day] += value
            elif meter == "gov-hvac":
                hvac += value
    bars = page.locator("#chart-electricity-daily rect")
    shown = {r.get_attribute("data-label"): _value(r) for r in bars.all()}
    assert len(shown) == (closed - date(closed.year, 1, 1)).days + 1
    for day, value in per_day.items():
        assert shown[day[5:]] == pytest.approx(value, rel=1e-12), day
    assert all(v is None for k, v in shown.items() if f"{closed.year}-{k}" not in per_day)
    # the service's year to date (its own roll-up of the same days) agrees with the daily rows
    assert summary["institutions"][INSTITUTION]["electricity_kwh"] == pytest.approx(sum(per_day.values()))
    months = {r.get_attribute("data-label"): _value(r) for r in
              page.locator("#chart-electricity-monthly rect").all()}
    assert sum(v for v in months.values() if v is not None) == pytest.approx(sum(per_day.values()))
    sub = page.locator('#subitems tr[data-subitem="hvac"] td[data-key="subitem"]')
    assert _value(sub) == pytest.approx(hvac, rel=1e-12) and hvac > 0
    # unclassified: the total less the sub-item meters (the school, with a total meter only, is all
    # unclassified, as in the report)
    unclassified = page.locator('#subitems tr[data-subitem="unclassified"] td[data-key="subitem"]')
    assert _value(unclassified) == pytest.approx(sum(per_day.values()) - hvac, rel=1e-9)
    quota = [q for q in summary["quota"] if q["building"] == "gov"]
    assert quota, "the office has a quota (DB37/T 2672-2019)"
    for q in quota:
        row = page.locator(f'tr.quota[data-building="gov"][data-scope="{q["scope"]}"]')
        assert _value(row.locator('td[data-key="ytd"]')) == q["ytd"]
        assert _value(row.locator('td[data-key="projected"]')) == q["projected"]
        assert row.locator('td[data-key="tier"]').get_attribute("data-value") == (q["tier"] or "")


def test_meter_health_is_the_stores(dashboard: dict[str, Any], page: Any) -> None:
    store = dashboard["store"]
    last = json.loads(_state(store, "meters:alerts-site"))
    closed = date.fromisoformat(_state(store, "closed:alerts-site"))
    first = (closed - timedelta(days=29)).isoformat()
    with _db(store) as db:
        covered = dict(db.execute(
            "SELECT meter, count(DISTINCT day) FROM daily WHERE site = 'alerts-site' AND covered = 1 "
            "AND day >= ? AND day <= ? GROUP BY meter", (first, closed.isoformat())).fetchall())
    _open(page, dashboard["url"] + "/meters", "meters")
    for meter in ("gov-main", "gov-water", "school-main", "gov-hvac"):
        row = page.locator(f'tr.meter[data-meter="{meter}"]')
        assert int(row.locator('td[data-key="last"]').get_attribute("data-value")) == last[meter]["last_ns"]
        assert _value(row.locator('td[data-key="coverage"]')) == covered[meter] / 30
        online = row.locator('td[data-key="online"]').get_attribute("data-value")
        assert online == ("no" if meter == "gov-water" else "yes"), meter
    assert covered["gov-water"] < covered["gov-main"]


def _acked(store: Path, alert_id: str) -> tuple[str | None, int | None]:
    with _db(store) as db:
        by, at = db.execute("SELECT acked_by, acked_ns FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return by, at


def test_acknowledge_needs_a_login_and_the_csrf_token(dashboard: dict[str, Any], page: Any) -> None:
    url, store = dashboard["url"], dashboard["store"]
    _open(page, url + "/alerts", "alerts-anonymous")
    rows = page.locator("tr.alert")
    assert rows.count() >= 1, "the leak and the quota raise alerts"
    assert page.locator("button.ack-button").count() == 0  # no ack form without a login
    alert_id = rows.first.get_attribute("data-alert")
    assert _acked(store, alert_id) == (None, None)
    ack_url = f"{url}/alerts/alerts-site/{alert_id}/ack"
    # without a login: refused, even with the session's CSRF token
    token = page.locator('a#login-link').count() and page.goto(url + "/login") and \
        page.locator('input[name="csrf"]').first.get_attribute("value")
    refused = page.request.post(ack_url, form={"csrf": token or "", "note": "x"})
    assert refused.status == 403 and _acked(store, alert_id) == (None, None)
    # a wrong password: refused, no session
    page.goto(url + "/login?next=/alerts")
    page.fill("#user-field", USER)
    page.fill("#password-field", "not the password")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as bad:
        page.click("#login-button")
    assert bad.value.status == 401 and page.locator("#login-error").is_visible()
    page.screenshot(path=str(SHOTS / "login-refused.png"), full_page=True)
    assert page.locator("#user").count() == 0
    # the right one: back on the alerts page, logged in, with the ack forms
    page.fill("#user-field", USER)
    page.fill("#password-field", PASSWORD)
    page.click("#login-button")
    page.wait_for_url(url + "/alerts")
    assert page.locator("#user").inner_text() == USER
    page.screenshot(path=str(SHOTS / "alerts-logged-in.png"), full_page=True)
    cookie = next(c for c in page.context.cookies() if c["name"] == "metergate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # logged in but without the CSRF token, or a wrong one: refused
    for form in ({"note": "x"}, {"csrf": "forged", "note": "x"}):
        assert page.request.post(ack_url, form=form).status == 403
    assert _acked(store, alert_id) == (None, None)
    # through the page's form: acknowledged by the logged-in user, as an MQTT ack would be
    before = time.time_ns()
    row = page.locator(f'tr.alert[data-alert="{alert_id}"]')
    row.locator('input[name="note"]').fill("checked on site")
    row.locator("button.ack-button").click()
    page.wait_for_selector(f'tr.alert[data-alert="{alert_id}"] td[data-key="acked_by"]:has-text("{USER}")')
    page.screenshot(path=str(SHOTS / "alerts-acknowledged.png"), full_page=True)
    assert row.locator(".ack-note").inner_text() == "checked on site"
    by, at = _acked(store, alert_id)
    assert by == USER and at is not None and before <= at <= time.time_ns()
    with _db(store) as db:
        history = db.execute("SELECT change, by, note FROM events WHERE alert_id = ? ORDER BY seq",
                             (alert_id,)).fetchall()
    assert history[-1] == ("acked", USER, "checked on site")
    topic, payload, retain = dashboard["consumer"].published[-1]
    doc = json.loads(payload)
    assert topic.endswith(f"/alerts/{alert_id}") and retain
    assert (doc["acked_by"], doc["ack_note"], doc["acked"]) == (USER, "checked on site", True)
    assert dashboard["svc"].counts["acks"] >= 1
    # once acknowledged, again is refused (as on the command topic)
    again = page.request.post(ack_url, form={"csrf": page.locator('input[name="csrf"]').first
                                             .get_attribute("value"), "note": "twice"})
    assert again.status == 409


def test_the_login_goes_back_to_local_pages_only(dashboard: dict[str, Any], page: Any) -> None:
    url = dashboard["url"]
    _open(page, url + "/login", "login")
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    answer = page.request.post(url + "/login", max_redirects=0, form={
        "csrf": token, "user": USER, "password": PASSWORD, "next": "//example.org/phish"})
    assert answer.status == 303 and answer.headers["location"] == "/alerts"
    # logged in now; logging out needs the token too, then the ack forms are gone
    page.goto(url + "/alerts")
    assert page.locator("#user").inner_text() == USER
    assert page.request.post(url + "/logout", form={}, max_redirects=0).status == 403
    page.click("#logout")
    page.wait_for_url(url + "/")
    page.goto(url + "/alerts")
    assert page.locator("#user").count() == 0 and page.locator("button.ack-button").count() == 0
