"""The analytics service in process, without a broker: messages go straight to its handler and a fake
consumer records acknowledgements and publications. Time limits on readings, invalid readings reach
the detectors, the store is written in one transaction per tick, and a store error is not acked."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import date
from pathlib import Path
from unittest.mock import MagicMock

import pytest

from core.reading import Quality
from services.analytics.config import load_analytics_config
from services.analytics.service import AnalyticsService
from services.shared.consumer import Delivery
from tests.alerts.sites import SITE, readings, site_message, site_toml


class FakeConsumer:
    def __init__(self) -> None:
        self.acked: list[int] = []
        self.published: list[tuple[str, bytes, bool]] = []
        self.connected = False

    def ack(self, d: Delivery) -> bool:
        self.acked.append(d.mid)
        return True

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        self.published.append((topic, payload, retain))
        return len(self.published)

    def wait_subscribed(self, timeout: float) -> bool:
        return False


def service(tmp_path: Path, extra: str = "") -> tuple[AnalyticsService, FakeConsumer]:
    site_toml(tmp_path)
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(f"""sites = ["site.toml"]

[mqtt]
host = "127.0.0.1"
client_id = "analytics-test"

[store]
path = "state/alerts.sqlite"

[engine]
interval = "1h"
lateness = "15m"
{extra}""", encoding="utf-8")
    svc = AnalyticsService(load_analytics_config(cfg))
    fake = FakeConsumer()
    svc.consumer = fake  # type: ignore[assignment]
    return svc, fake


class Feeder:
    def __init__(self, svc: AnalyticsService) -> None:
        self.svc, self.mid = svc, 0

    def send(self, meter: str, ts: float, quantity: str, value: float | None,
             quality: Quality = Quality.OK) -> int:
        self.mid += 1
        topic, payload = site_message(self.mid, meter, ts, quantity, value, quality)
        self.svc._handle(Delivery(topic, payload, self.mid, 1, 0, time.time()))
        return self.mid

    def rows(self, rows: list[tuple[int, str, str, float]]) -> None:
        for ts, meter, quantity, value in rows:
            self.send(meter, ts / 1e9, quantity, value)


def test_a_reading_from_the_future_is_refused_and_moves_nothing(tmp_path: Path) -> None:
    svc, fake = service(tmp_path)
    feed = Feeder(svc)
    rows = readings(days=2)
    feed.rows(rows)
    engine = svc.sites[SITE].engine
    watermark, next_tick, ticks = engine.watermark_ns, engine.next_tick_ns, svc.counts["ticks"]
    active = {a.id for a in engine.book.active}
    mid = feed.send("gov-main", time.time() + 365 * 86_400, "energy_active_import", 1e6)
    old = feed.send("gov-main", 946_000_000.0, "energy_active_import", 1.0)  # an unset clock: 1999
    assert svc.counts["refused_timestamp"] == 2
    assert mid in fake.acked and old in fake.acked  # input errors: counted, acked, never applied
    assert (engine.watermark_ns, engine.next_tick_ns, svc.counts["ticks"]) == (watermark, next_tick, ticks)
    assert {a.id for a in engine.book.active} == active
    assert svc.store.get_state(f"next_tick:{SITE}") == str(next_tick)
    # the next real reading is not late
    ts, meter, quantity, value = rows[-1]
    feed.send(meter, ts / 1e9 + 3600, quantity, value + 1)
    assert svc.counts["ticks"] == ticks + 1


def test_a_next_tick_saved_in_the_future_is_not_kept_across_a_restart(tmp_path: Path) -> None:
    svc, _ = service(tmp_path)
    svc.store.set_state(f"next_tick:{SITE}", str(int((time.time() + 10 * 365 * 86_400) * 1e9)))
    svc.store.close()
    svc2, _ = service(tmp_path)
    assert svc2.sites[SITE].engine.next_tick_ns is None


def test_time_limits_come_from_the_limits_section(tmp_path: Path) -> None:
    svc, _ = service(tmp_path, '\n[limits]\nmin_timestamp = "2023-06-01T00:00:00Z"\nmax_future = "1h"\n')
    feed = Feeder(svc)
    feed.send("gov-main", 1_672_531_200.0, "energy_active_import", 1.0)  # 2023-01-01
    feed.send("gov-main", time.time() + 1800, "energy_active_import", 1.0)  # within the hour: accepted
    assert svc.counts["refused_timestamp"] == 1 and svc.counts["readings"] == 1


def test_invalid_readings_reach_the_detectors_as_a_sentinel_alert(tmp_path: Path) -> None:
    svc, fake = service(tmp_path)
    feed = Feeder(svc)
    rows = readings(days=3)
    bad_from = rows[0][0] + 2 * 86_400 * 10**9
    for ts, meter, quantity, value in rows:
        if meter == "school-main" and ts >= bad_from:
            feed.send(meter, ts / 1e9, quantity, None, Quality.INVALID)
        else:
            feed.send(meter, ts / 1e9, quantity, value)
    assert svc.counts["readings_not_ok"] > 0
    kinds = {(a.kind.value, a.subject) for a in svc.sites[SITE].engine.book.active}
    assert ("sentinel", "school-main") in kinds
    published = [json.loads(p) for t, p, _ in fake.published if p]
    assert any(d["kind"] == "sentinel" and d["subject"] == "school-main" for d in published)
    # the invalid readings never count as 0: the school's last day has no electricity total
    cells = svc.sites[SITE].engine.daily.cells
    last_day = max(d for q, m, d in cells if m == "school-main")
    assert cells[("energy_active_import", "school-main", last_day)][1] == 0.0


def test_timestamps_are_converted_as_ingest_does(tmp_path: Path) -> None:
    svc, _ = service(tmp_path)
    feed = Feeder(svc)
    feed.send("gov-main", 1710208800.001, "energy_active_import", 1.0)
    ts, _ = svc.sites[SITE].engine.buffers[("energy_active_import", "gov-main")].view()
    assert int(ts[0]) == 1710208800001000000  # round(ts * 1e9) gives ...000999936


@pytest.fixture(autouse=True)
def _no_sdnotify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)


def _delivery(svc: AnalyticsService, row: tuple[int, str, str, float], mid: int) -> Delivery:
    ts, meter, quantity, value = row
    topic, payload = site_message(mid, meter, ts / 1e9, quantity, value)
    return Delivery(topic, payload, mid, 1, 0, time.time())


def test_a_store_error_is_not_acknowledged_and_stops_the_service(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    svc, fake = service(tmp_path)
    rows = readings(days=1)
    Feeder(svc).rows(rows)
    daily_before = sorted(svc.store.load_daily(SITE))
    svc.store.db.execute("DROP TABLE state")  # the tick's last write fails
    ts, meter, quantity, value = rows[-1]
    bad = _delivery(svc, (ts + 3600 * 10**9, meter, quantity, value + 1), 10**6)
    with pytest.raises(sqlite3.OperationalError):
        svc._handle(bad)
    assert bad.mid not in fake.acked
    # one transaction: the day's totals of that tick were not stored either (no double count on
    # re-delivery)
    assert sorted(svc.store.load_daily(SITE)) == daily_before


def test_run_stops_without_ack_on_a_store_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc, fake = service(tmp_path)
    rows = readings(days=1)
    Feeder(svc).rows(rows[:-1])

    def broken(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(svc.store, "commit_tick", broken)
    monkeypatch.setattr(fake, "start", lambda: None, raising=False)
    monkeypatch.setattr(fake, "stop", lambda: None, raising=False)
    ts, meter, quantity, value = rows[-1]
    svc.inbox.put(_delivery(svc, (ts + 3600 * 10**9, meter, quantity, value), 10**6))
    svc.run()  # returns by itself
    assert svc.failed is not None and "disk I/O error" in svc.failed and 10**6 not in fake.acked


def test_a_day_without_data_is_not_written_as_zero(tmp_path: Path) -> None:
    svc, _ = service(tmp_path)
    feed = Feeder(svc)
    rows = readings(days=4)
    t0 = rows[0][0]
    day2 = (t0 + 86_400 * 10**9, t0 + 2 * 86_400 * 10**9)
    # the school's meter is offline the whole second day
    feed.rows([r for r in rows if not (r[1] == "school-main" and day2[0] - 10**9 * 1800 < r[0]
                                       < day2[1] + 10**9 * 1800)])
    site = svc.sites[SITE]
    offline = date(2024, 1, 2)
    assert site.engine.daily.closed is not None and site.engine.daily.closed > offline
    lines = svc._indicator_lines(site, offline)
    school = [ln for ln in lines if ln.startswith("indicators,") and "building=school" in ln]
    gov = [ln for ln in lines if ln.startswith("indicators,") and "building=gov" in ln]
    assert len(school) == 1 and " coverage=0" in school[0] and "electricity_kwh" not in school[0]
    assert "kgce" not in school[0]
    assert len(gov) == 1 and "electricity_kwh=" in gov[0] and "coverage=1" in gov[0]


def test_the_service_subscribes_to_its_own_sites_readings_only(tmp_path: Path) -> None:
    site_toml(tmp_path)
    site_toml(tmp_path, name="b.toml")
    text = (tmp_path / "b.toml").read_text().replace('id = "alerts-site"', 'id = "other-site"')
    (tmp_path / "b.toml").write_text(text)
    (tmp_path / "analytics.toml").write_text('sites = ["site.toml", "b.toml"]\n\n[mqtt]\nhost = "127.0.0.1"\n'
                                             'share_group = "ana"\n\n[store]\npath = "s.sqlite"\n')
    svc = AnalyticsService(load_analytics_config(tmp_path / "analytics.toml"))
    want = ["$share/ana/metergate/v1/alerts-site/+/meters/+/readings",
            "$share/ana/metergate/v1/other-site/+/meters/+/readings"]
    assert svc.consumer.subscriptions == want
    client = MagicMock()
    svc.consumer._on_connect(client, None, MagicMock(session_present=False), MagicMock(is_failure=False),
                             None)
    subscribed = [t for call in client.subscribe.call_args_list for t, _ in call.args[0]]
    assert subscribed == [*want, "metergate/v1/alerts-site/alerts/ack", "metergate/v1/other-site/alerts/ack"]
    assert not any("/v1/+/" in t for t in subscribed)  # never every site's readings
    svc.store.close()


def _broken(payload: bytes, change: str) -> bytes:
    doc = json.loads(payload)
    item = doc["readings"][0]
    if change == "time ends in a newline":
        doc["time"] = doc["time"] + "\n"
    elif change == "quantity ends in a newline":
        item["quantity"] += "\n"
    elif change == "time beyond the calendar":
        doc["time"] = "2026-13-45T25:61:61.000+08:00"
    elif change == "lone surrogate, future reading":
        item.update(unit="\ud800", ts=time.time() + 10 * 365 * 86_400)
    elif change == "value beyond a float":
        return json.dumps(doc).replace(f'"value": {item["value"]}', '"value": ' + "9" * 400).encode()
    elif change == "integer beyond the digit limit":
        return json.dumps(doc).replace(f'"value": {item["value"]}', '"value": ' + "9" * 5000).encode()
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("change", "counted"), [
    ("time ends in a newline", "refused_broken"), ("quantity ends in a newline", "refused_broken"),
    ("time beyond the calendar", "refused_broken"), ("lone surrogate, future reading", "refused_timestamp"),
    ("value beyond a float", "refused_value"), ("integer beyond the digit limit", "refused_broken"),
])
def test_garbage_is_counted_and_acknowledged_and_the_next_reading_is_taken(
        tmp_path: Path, change: str, counted: str) -> None:
    """Each of these raised inside the handler before (or slipped through): the service stopped
    without acknowledging, systemd restarted it, the broker re-sent the same message, for ever."""
    svc, fake = service(tmp_path)
    rows = readings(days=1)
    Feeder(svc).rows(rows[:10])
    bad = _delivery(svc, rows[10], 10**6)
    bad.payload = _broken(bad.payload, change)
    svc._handle(bad)
    assert bad.mid in fake.acked and svc.counts[counted] == 1, dict(svc.counts)
    taken = svc.counts["readings"]
    svc._handle(_delivery(svc, rows[11], 10**6 + 1))
    assert svc.counts["readings"] == taken + 1 and 10**6 + 1 in fake.acked
