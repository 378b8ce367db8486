"""Scheduled monthly reports of the analytics service ([report], docs/reports.md "Scheduled reports").

The service runs in process (so its report clock can be moved to the 1st of a month) against a real
mosquitto, fed readings in the gateway's MQTT format; the reports are rendered by `metergate
analytics`'s renderer (`metergate report`'s code). Checked: the files of the month are there, and
the workbook equals the one `metergate report --from` writes from a CSV of the same readings (and
its indicators `metergate analyze --json`'s); the retained announcement validates against its schema
and is there for a newcomer; a restart on the 1st renders nothing again; a month missed while the
service was down is rendered when it starts; readings are evaluated while a report renders; a render
error is logged and counted, the service goes on evaluating, and the next start renders the month;
"report ready" reaches a real webhook receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from analytics.readings_io import Readings
from cli.commands.report_render import render_scheduled
from core.contract.schema import check_service, parse_json
from services.analytics.config import load_analytics_config
from services.analytics.reading_archive import ReadingArchive
from services.analytics.report_runner import RenderJob
from services.analytics.service import AnalyticsService
from services.analytics.store import AlertStore
from tests.alerts.sites import SITE, TZ, UNITS, analytics_toml, readings, site_message, site_toml
from tests.support.ingest import Publisher
from tests.support.mosquitto import Mosquitto
from tests.support.receivers import HttpReceiver

pytestmark = pytest.mark.slow
pytest.importorskip("openpyxl")
REPO = Path(__file__).resolve().parents[2]
ROWS = readings(days=33, start=datetime(2025, 2, 27, tzinfo=TZ), step_s=3600)  # to 1 April 00:00
MARCH_DUE = datetime(2025, 4, 1, 6, 0, tzinfo=TZ).timestamp()


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


def _config(folder: Path, port: int, *, formats: str = '["xlsx", "html"]', extra: str = "") -> Path:
    site_toml(folder)
    return analytics_toml(folder, port=port, client_id="analytics-reports", extra=f"""
[report]
folder = "reports"
formats = {formats}
lang = "en"
{extra}""")


class Running:
    """The service's run() on a thread, as `metergate analytics` runs it (until stop())."""

    def __init__(self, cfg: Path, clock: Clock,
                 renderer: Callable[[RenderJob, Readings], None] = render_scheduled) -> None:
        made = threading.Event()
        box: list[AnalyticsService] = []

        def main() -> None:  # the store's connection belongs to the thread that made it
            box.append(AnalyticsService(load_analytics_config(cfg), report_renderer=renderer, clock=clock))
            made.set()
            box[0].run()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        assert made.wait(30)
        self.svc = box[0]

    def wait(self, what: Callable[[], bool], timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self.svc.stop()
        self.thread.join(60)
        assert not self.thread.is_alive()


@pytest.fixture
def started() -> Iterator[list[Running]]:
    services: list[Running] = []
    yield services
    for s in services:
        if s.thread.is_alive():
            s.stop()


def _feed(broker: Mosquitto, rows: list[tuple[int, str, str, float]]) -> None:
    pub = Publisher(broker.host, broker.port, client_id="gateway")
    for seq, (ts, meter, quantity, value) in enumerate(rows, 1):
        pub.send(*site_message(seq, meter, ts / 1e9, quantity, value))
    assert pub.flush(120)
    pub.close()


def _csv(path: Path, rows: list[tuple[int, str, str, float]]) -> Path:
    lines = ["ts,meter,quantity,value,unit", *(f"{ts},{m},{q},{v!r},{UNITS[q]}" for ts, m, q, v in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _metergate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300, check=False)


def _sheets(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    from openpyxl import load_workbook

    book = load_workbook(path)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


def _retained(broker: Mosquitto, mqtt_recorder: Any, n: int) -> list[Any]:
    late = mqtt_recorder(broker, "metergate/v1/+/reports/+", client_id=f"newcomer-{time.monotonic()}",
                         persistent=False)
    assert late.wait_for(lambda ms: len(ms) >= n, timeout=20)
    return list(late.snapshot())


def test_the_month_is_rendered_on_the_first_announced_and_not_rendered_again(
        tmp_path: Path, mosquitto: Any, mqtt_recorder: Any, webhook: HttpReceiver,
        started: list[Running]) -> None:
    broker: Mosquitto = mosquitto()
    cfg = _config(tmp_path, broker.port, extra=f"""
[[notify.channel]]
id = "hook"
type = "webhook"
url = "{webhook.url}/reports"

[[notify.route]]
channels = ["hook"]
events = ["report"]
""")
    clock = Clock(datetime(2025, 3, 1, 5, 0, tzinfo=TZ))  # January is the latest month due: empty
    run = Running(cfg, clock)
    started.append(run)
    svc = run.svc
    assert run.wait(lambda: svc.counts["reports_empty"] == 1 and svc.consumer.wait_subscribed(0))
    assert not list((tmp_path / "reports").glob("*"))  # a month without readings: no report
    _feed(broker, ROWS)
    assert run.wait(lambda: svc.counts["report_readings_kept"] == len(ROWS)), dict(svc.counts)
    clock.now = MARCH_DUE - 60
    time.sleep(0.5)
    assert svc.counts["reports_written"] == 0  # not before 06:00 local on the 1st
    clock.now = MARCH_DUE
    assert run.wait(lambda: svc.counts["reports_written"] == 2), dict(svc.counts)  # February, March
    folder = tmp_path / "reports"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{SITE}-2025-02.html", f"{SITE}-2025-02.xlsx", f"{SITE}-2025-03.html", f"{SITE}-2025-03.xlsx"]

    # the same numbers as `metergate report` on the same readings, every cell of every sheet ...
    expected = tmp_path / "expected.xlsx"
    readings_csv = _csv(tmp_path / "readings.csv", ROWS)
    done = _metergate("report", "--from", readings_csv, "--config", tmp_path / "site.toml", "--period",
                      "2025-03", "--lang", "en", "-o", expected)
    assert done.returncode == 0, done.stderr
    got, want = _sheets(folder / f"{SITE}-2025-03.xlsx"), _sheets(expected)
    assert got.keys() == want.keys()
    for name in want:
        if name != "Notes":  # it names the readings: the CSV file there, the service's here
            assert got[name] == want[name], name
    assert sorted({r[1] for r in got["Electricity by day"][1:]}) == [f"2025-03-{d:02d}" for d in range(1, 32)]
    # ... and its indicators `metergate analyze --json`'s
    out = _metergate("analyze", readings_csv, "--config", tmp_path / "site.toml", "--from", "2025-03-01",
                     "--to", "2025-03-31", "--period", "month", "--json")
    assert out.returncode == 0, out.stderr
    fleet = next(r for r in json.loads(out.stdout)["rows"] if r["level"] == "fleet")
    cells = {r[1]: r[4] for r in got["Indicators"][1:] if r[0] == "fleet"}
    assert cells["kgce_per_m2"] == float(f"{fleet['kgce_per_m2']:.16g}")
    assert cells["energy_kgce"] == float(f"{fleet['energy_kgce']:.16g}")

    # the retained announcement: schema-valid, for a newcomer, with the files as they are
    msgs = _retained(broker, mqtt_recorder, 2)
    assert sorted(m.topic for m in msgs) == [f"metergate/v1/{SITE}/reports/2025-02",
                                            f"metergate/v1/{SITE}/reports/2025-03"]
    march = next(parse_json(m.payload) for m in msgs if m.topic.endswith("2025-03"))
    check_service(march, "report")
    assert all(m.retain and m.qos == 1 for m in msgs)
    assert march["formats"] == ["xlsx", "html"] and march["created"] == MARCH_DUE
    assert march["created_time"] == "2025-04-01T06:00:00+08:00"
    written = (folder / f"{SITE}-2025-03.xlsx", folder / f"{SITE}-2025-03.html")
    assert [(f["name"], f["bytes"]) for f in march["files"]] == [(p.name, p.stat().st_size) for p in written]
    assert all(Path(f["path"]).is_file() for f in march["files"])
    # "report ready" through [notify], with the first file of `formats`
    posts = sorted((p.body["report"]["period"], p.body["report"]["path"]) for p in webhook.wait(2))
    assert posts == [("2025-02", str(folder / f"{SITE}-2025-02.xlsx")),
                     ("2025-03", str(folder / f"{SITE}-2025-03.xlsx"))]
    health = svc.health_doc()["counts"]
    assert health["reports_written"] == 2 and "reports_failed" not in health
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    run.stop()

    # a restart later that morning renders nothing again, and announces March again on connecting
    live = mqtt_recorder(broker, "metergate/v1/+/reports/+", client_id="live", persistent=False)
    assert live.wait_for(lambda ms: len(ms) == 2, timeout=20)  # the retained copies
    clock.now = MARCH_DUE + 3600
    again = Running(cfg, clock)
    started.append(again)
    assert again.wait(lambda: again.svc.consumer.wait_subscribed(0))
    assert live.wait_for(lambda ms: any(m.topic.endswith("/2025-03") and not m.retain for m in ms),
                         timeout=20)  # published again, live
    time.sleep(1.5)
    assert again.svc.counts["reports_written"] == 0 and again.svc.reports is not None
    assert not again.svc.reports.busy
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    assert not list(folder.glob(".*"))  # no temporary file left


def _seed(cfg: Path, rows: list[tuple[int, str, str, float]]) -> None:
    """Readings into the archive, as a service that ran before would have left them."""
    store = load_analytics_config(cfg).store_path
    store.parent.mkdir(parents=True, exist_ok=True)
    with ReadingArchive(store) as archive:
        for ts, meter, quantity, value in rows:
            archive.add(SITE, meter, [(quantity, ts, value)])


def test_a_month_missed_while_down_is_rendered_at_start(
        tmp_path: Path, mosquitto: Any, started: list[Running]) -> None:
    broker: Mosquitto = mosquitto()
    cfg = _config(tmp_path, broker.port, formats='["xlsx"]')
    _seed(cfg, ROWS)
    with AlertStore(load_analytics_config(cfg).store_path) as store:
        store.set_state(f"report:{SITE}", "2025-02")  # February was done before the service stopped
    run = Running(cfg, Clock(datetime(2025, 4, 3, 9, 0, tzinfo=TZ)))  # down from 31 March to 3 April
    started.append(run)
    assert run.wait(lambda: run.svc.counts["reports_written"] == 1), dict(run.svc.counts)
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [f"{SITE}-2025-03.xlsx"]
    assert run.svc.reports is not None and run.svc.reports.done[SITE] == "2025-03"


def test_a_render_error_is_counted_the_service_goes_on_and_the_next_start_renders(
        tmp_path: Path, mosquitto: Any, started: list[Running], caplog: pytest.LogCaptureFixture) -> None:
    broker: Mosquitto = mosquitto()
    cfg = _config(tmp_path, broker.port, formats='["xlsx"]')
    march = [r for r in ROWS if r[0] >= datetime(2025, 3, 1, tzinfo=TZ).timestamp() * 1e9]
    _seed(cfg, march)

    def broken(job: RenderJob, data: Readings) -> None:
        job.outputs["xlsx"].write_bytes(b"half a workbook")
        raise OSError(28, "No space left on device")

    clock = Clock(datetime(2025, 4, 1, 6, 30, tzinfo=TZ))
    run = Running(cfg, clock, broken)
    started.append(run)
    svc = run.svc
    assert run.wait(lambda: svc.counts["reports_failed"] == 1)
    assert "the report of 2025-03 failed" in caplog.text and "No space left" in caplog.text
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())
    # the service goes on: readings are evaluated, and the month is not tried again in this run
    after = [(ts + 86_400 * 10**9, m, q, v + 5000) for ts, m, q, v in ROWS[-72:]]
    _feed(broker, after)
    assert run.wait(lambda: svc.counts["ticks"] >= 20), dict(svc.counts)
    assert svc.health_doc()["counts"]["reports_failed"] == 1 and svc.failed is None
    run.stop()
    with AlertStore(load_analytics_config(cfg).store_path) as store:
        assert store.get_state(f"report:{SITE}") is None  # not done: the next start tries again
    again = Running(cfg, clock)  # the next start renders it
    started.append(again)
    assert again.wait(lambda: again.svc.counts["reports_written"] == 1), dict(again.svc.counts)
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [f"{SITE}-2025-03.xlsx"]


def test_readings_are_evaluated_while_a_report_renders(
        tmp_path: Path, mosquitto: Any, started: list[Running]) -> None:
    broker: Mosquitto = mosquitto()
    cfg = _config(tmp_path, broker.port, formats='["xlsx"]')
    _seed(cfg, ROWS)
    release = threading.Event()
    rendering = threading.Event()

    def slow(job: RenderJob, data: Readings) -> None:
        rendering.set()
        assert release.wait(60)
        render_scheduled(job, data)

    run = Running(cfg, Clock(datetime(2025, 4, 1, 7, 0, tzinfo=TZ)), slow)
    started.append(run)
    svc = run.svc
    assert rendering.wait(30)
    _feed(broker, [(ts + 86_400 * 10**9, m, q, v + 5000) for ts, m, q, v in ROWS[-72:]])
    assert run.wait(lambda: svc.counts["ticks"] >= 20, timeout=60), dict(svc.counts)
    assert svc.counts["reports_written"] == 0  # still rendering: the loop did not wait for it
    release.set()
    assert run.wait(lambda: svc.counts["reports_written"] == 1), dict(svc.counts)


def test_one_report_per_institution_named_equal_to_metergate_report_for_it(
        tmp_path: Path, mosquitto: Any, mqtt_recorder: Any, started: list[Running]) -> None:
    from analytics.readings_io import read_readings
    from tests.reports.site import INSTITUTION, write_site
    from tests.reports.site import TZ as SCHOOL_TZ

    broker: Mosquitto = mosquitto()
    site, readings_csv = write_site(tmp_path, datetime(2025, 2, 25, tzinfo=SCHOOL_TZ),
                                    datetime(2025, 4, 1, 2, tzinfo=SCHOOL_TZ))
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(f"""sites = ["site.toml"]

[mqtt]
host = "127.0.0.1"
port = {broker.port}

[store]
path = "state/alerts.sqlite"

[report]
folder = "out"
formats = ["xlsx"]
institutions = ["{INSTITUTION}"]
alerts = false
""", encoding="utf-8")
    store = load_analytics_config(cfg).store_path
    store.parent.mkdir(parents=True)
    with ReadingArchive(store) as archive:
        for quantity, cols in read_readings(readings_csv).items():
            for meter, ts, value in zip(cols.meter, cols.ts_ns, cols.value, strict=True):
                archive.add("east-school", str(meter), [(quantity, int(ts), float(value))])
    run = Running(cfg, Clock(datetime(2025, 4, 1, 6, 0, tzinfo=SCHOOL_TZ)))
    started.append(run)
    assert run.wait(lambda: run.svc.counts["reports_written"] == 1), dict(run.svc.counts)
    name = f"east-school-{INSTITUTION}-2025-03.xlsx"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [name]
    expected = tmp_path / "expected.xlsx"
    done = _metergate("report", "--from", readings_csv, "--config", site, "--period", "2025-03",
                      "--institution", INSTITUTION, "--no-alerts", "-o", expected)
    assert done.returncode == 0, done.stderr
    got, want = _sheets(tmp_path / "out" / name), _sheets(expected)
    assert {k: v for k, v in got.items() if k != "注"} == {k: v for k, v in want.items() if k != "注"}
    (msg,) = _retained(broker, mqtt_recorder, 1)
    doc = parse_json(msg.payload)
    check_service(doc, "report")
    assert [(f["institution"], f["name"]) for f in doc["files"]] == [(INSTITUTION, name)]
    assert doc["lang"] == "zh"
