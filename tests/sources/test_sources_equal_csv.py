"""Every source gives the indicators of the CSV path on the same readings: the readings are written
by ingest's own line protocol and writer into a real VictoriaMetrics and a real influxd 1.6.7, read
back by `metergate analyze --source …` (and `alerts`, `export` + a dataset folder), and compared with
`metergate analyze readings.csv`. The store also holds what the CSV path never has (readings of
quality out_of_range or comm_error, another site, an aggregate measurement): none of it is read."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.shared.lineproto import line, reading_lines
from services.shared.target import InfluxTarget
from services.shared.writer import LineWriter, RetryPolicy

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "config" / "examples" / "campus.toml"
SITE_ID, GATEWAY = "hillside-college", "hillside-gw1"
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 3, 1, tzinfo=TZ)
STEPS = 3 * 96  # three days of 15-minute readings, and the closing one
KWH_PER_STEP = {"admin-main": 10.25, "admin-hvac": 3.75, "teach-main": 15.5, "gym-main": 5.125}
HEAT_PER_STEP = {"heat-admin": 25.5}
WATER_PER_STEP = {"admin-water": 0.125}
WINDOW = ("--from-time", "2024-03-01", "--to-time", "2024-03-03")


def _readings() -> tuple[list[dict[str, Any]], list[str]]:
    """(readings documents as ingest gets them, the CSV rows of their good readings)."""
    docs, rows = [], []
    for step in range(STEPS + 1):
        ts = START.timestamp() + step * 900
        for rates, quantity in ((KWH_PER_STEP, "energy_active_import"), (HEAT_PER_STEP, "heat_energy"),
                                (WATER_PER_STEP, "water_volume")):
            for k, (meter, rate) in enumerate(rates.items()):
                if meter == "gym-main" and 100 <= step < 140:  # an outage: no data, never 0
                    continue
                value = round(1000 + k + rate * step, 3)
                readings = [{"quantity": quantity, "value": value, "unit": "x", "quality": "ok"}]
                if meter == "admin-main" and step % 7 == 3:  # the CSV path never sees these
                    readings = [{"quantity": quantity, "value": 9e9, "unit": "x", "quality": "out_of_range"}]
                elif meter == "admin-hvac" and step % 11 == 5:
                    readings = [{"quantity": quantity, "value": None, "unit": "x", "quality": "comm_error"}]
                else:
                    rows.append(f"{int(ts) * 10**9},{meter},{quantity},{value!r}")
                docs.append({"site": SITE_ID, "gateway": GATEWAY, "meter": meter, "ts": ts,
                             "readings": readings})
        # another site with the same meter ids, and an aggregate the analytics service writes
        docs.append({"site": "elsewhere", "gateway": "gw-x", "meter": "admin-main", "ts": ts,
                     "readings": [{"quantity": "energy_active_import", "value": 5e5 + step, "unit": "x",
                                   "quality": "ok"}]})
    return docs, rows


def _write(target: InfluxTarget, docs: list[dict[str, Any]]) -> int:
    lines = [ln for d in docs for ln in reading_lines(d)]
    lines.append(line("energy_interval", {"site": SITE_ID, "meter": "admin-main", "interval": "15m"},
                      {"kwh": 1.0, "quality": 0}, int(START.timestamp()) * 10**9))
    writer = LineWriter(target, RetryPolicy(initial=0.2, maximum=1, max_attempts=5))
    try:
        for i in range(0, len(lines), 5000):
            writer.write_lines(lines[i:i + 5000])
    finally:
        writer.close()
    return len(lines)


def metergate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300, check=False)


def analyze(*args: str | Path) -> dict[str, Any]:
    out = metergate("analyze", *args, "--config", SITE, "--period", "day", "--json")
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("csv") / "readings.csv"
    path.write_text("ts,meter,quantity,value\n" + "\n".join(_readings()[1]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def from_csv(csv_file: Path) -> dict[str, Any]:
    result = analyze(csv_file)
    assert any(r["energy_kgce"] for r in result["rows"])  # something to compare
    return result


@pytest.fixture
def vm(victoria: Any) -> Any:
    server = victoria()
    _write(InfluxTarget(api="v2", url=server.url, bucket="energy"), _readings()[0])
    server.flush()
    return server


def test_victoria_gives_the_csv_indicators(vm: Any, from_csv: dict[str, Any], csv_file: Path,
                                           tmp_path: Path) -> None:
    assert analyze("--source", f"victoria://127.0.0.1:{vm.port}", *WINDOW) == from_csv
    # without --from-time, analyze --from/--to say what to read
    days = ("--from", "2024-03-02", "--to", "2024-03-02")
    assert analyze("--source", f"victoria://127.0.0.1:{vm.port}", *days) == analyze(csv_file, *days)
    # the ingest config's target, whichever server it turns out to be (asked of /health)
    config = tmp_path / "ingest.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nclient_id = "ingest-t"\n\n[influx]\nurl = "{vm.url}"\n'
                      'bucket = "energy"\n', encoding="utf-8")
    assert analyze("--source", config, *WINDOW) == from_csv


def test_influxdb1_gives_the_csv_indicators(influxdb1: Any, from_csv: dict[str, Any],
                                            tmp_path: Path) -> None:
    db = influxdb1(users={"reader": "s3cret"})
    db.create_database("energy")
    db.grant_write("reader", "energy")
    password = tmp_path / "password"
    password.write_text("s3cret\n", encoding="utf-8")
    _write(InfluxTarget(api="v1", url=db.url, database="energy", username="reader",
                        password_file=str(password)), _readings()[0])
    url = f"influx1://127.0.0.1:{db.port}/energy?username=reader&password_file={password}"
    assert analyze("--source", url, *WINDOW) == from_csv
    config = tmp_path / "ingest.toml"  # the v1 target of an ingest config, its password file relative
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nclient_id = "ingest-t"\n\n[influx]\napi = "v1"\n'
                      f'url = "{db.url}"\ndatabase = "energy"\nusername = "reader"\n'
                      'password_file = "password"\n', encoding="utf-8")
    assert analyze("--source", config, *WINDOW) == from_csv
    # wrong password, wrong database: named, non-zero, no figures
    password.write_text("wrong\n", encoding="utf-8")
    bad = metergate("analyze", "--source", url, *WINDOW, "--config", SITE, "--json")
    assert bad.returncode == 2 and "authentication failed" in bad.stderr and "energy" in bad.stderr
    assert "wrong" not in bad.stderr and not bad.stdout
    password.write_text("s3cret\n", encoding="utf-8")
    bad = metergate("analyze", "--source", url.replace("/energy", "/energi"), *WINDOW, "--config", SITE)
    assert bad.returncode == 2 and "database 'energi': not authorised" in bad.stderr, bad.stderr
    open_db = influxdb1()  # without authentication the server says what is missing
    missing = metergate("analyze", "--source", f"influx1://127.0.0.1:{open_db.port}/energi", *WINDOW,
                        "--config", SITE)
    assert missing.returncode == 2 and "database not found: energi" in missing.stderr, missing.stderr


def test_export_to_a_dataset_and_back(vm: Any, from_csv: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    out = metergate("export", "--source", f"victoria://127.0.0.1:{vm.port}", "--to", folder,
                    "--from-time", "2024-02-29T00:00:00+08:00", "--to-time", "2024-03-05T00:00:00+08:00")
    assert out.returncode == 0, out.stderr
    assert sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/*")) == [
        "site=elsewhere/month=2024-02", "site=elsewhere/month=2024-03",
        "site=hillside-college/month=2024-02", "site=hillside-college/month=2024-03"]
    assert analyze(folder) == from_csv  # the site config's site, from two sites
    assert analyze(folder, "--site", SITE_ID, *WINDOW) == from_csv


def test_alerts_from_a_source_are_those_of_the_csv(vm: Any, csv_file: Path) -> None:
    args = ("--config", SITE, "--json")
    csv = metergate("alerts", "--from", csv_file, *args)
    source = metergate("alerts", "--source", f"victoria://127.0.0.1:{vm.port}", *WINDOW, *args)
    assert csv.returncode == source.returncode == 0, (csv.stderr, source.stderr)
    assert json.loads(source.stdout) == json.loads(csv.stdout)


def test_unreachable_and_empty_window(vm: Any) -> None:
    from tests.support.mosquitto import free_port

    down = metergate("analyze", "--source", f"victoria://127.0.0.1:{free_port()}", *WINDOW, "--config", SITE)
    assert down.returncode == 2 and "cannot reach" in down.stderr and not down.stdout
    empty = metergate("analyze", "--source", f"victoria://127.0.0.1:{vm.port}", "--from-time", "2023-01-01",
                      "--to-time", "2023-01-31", "--config", SITE)
    assert empty.returncode == 1 and "no good reading of site 'hillside-college'" in empty.stderr
    assert not empty.stdout


def test_report_from_a_source_is_that_of_the_csv(vm: Any, csv_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    from openpyxl import load_workbook

    def sheets(*args: str | Path) -> dict[str, list[tuple[Any, ...]]]:
        out = tmp_path / f"r{len(list(tmp_path.iterdir()))}.xlsx"
        run = metergate("report", *args, "--config", SITE, "--period", "2024-03", "--lang", "en", "-o", out)
        assert run.returncode == 0, run.stderr
        return {ws.title: list(ws.iter_rows(values_only=True)) for ws in load_workbook(out).worksheets}

    # the report's default window from a source: 1 January of the year before to the period's end
    url = f"victoria://127.0.0.1:{vm.port}"
    from_source = sheets("--source", url)
    from_csv = sheets("--from", csv_file)
    # the notes name where the readings came from; every other cell is the same
    for book, name in ((from_source, url), (from_csv, str(csv_file))):
        book["Notes"] = [tuple(str(c).replace(name, "READINGS") for c in row) for row in book["Notes"]]
    assert from_source == from_csv


def test_chunk_boundaries_lose_and_repeat_nothing(vm: Any) -> None:
    """Chunks that cut between readings, at readings and at milliseconds give the same columns."""
    import numpy as np

    from cli.sources import parse_source, read_source

    source = parse_source(f"victoria://127.0.0.1:{vm.port}")
    start = int(START.timestamp()) * 10**9
    end = start + 3 * 86_400 * 10**9  # the closing reading is at end: included
    whole = read_source(source, SITE_ID, start, end, chunk_ns=4 * 86_400 * 10**9)
    for chunk_ns in (900 * 10**9, 7 * 60 * 10**9 + 1, 86_400 * 10**9):
        cut = read_source(source, SITE_ID, start, end, chunk_ns=chunk_ns)
        for q, cols in whole.items():
            assert len(cols) == len(cut[q]), (q, chunk_ns)
            a, b = np.lexsort((cols.ts_ns, cols.meter)), np.lexsort((cut[q].ts_ns, cut[q].meter))
            assert (cols.ts_ns[a] == cut[q].ts_ns[b]).all() and (cols.value[a] == cut[q].value[b]).all()
    assert whole["energy_active_import"].ts_ns.max() == end


def test_victoria_with_basic_auth(victoria: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import urllib.request

    from cli.sources import SourceError, parse_source, read_source

    server = victoria(extra=("-httpAuth.username=reader", "-httpAuth.password=s3cret"))
    auth = {"Authorization": "Basic " + base64.b64encode(b"reader:s3cret").decode()}
    lines = "energy_active_import,gateway=g,meter=m1,site=s value=1.5,quality=0i 1710208800125000000"
    for path, data in (("/api/v2/write?bucket=e", lines.encode()), ("/internal/force_flush", None)):
        with urllib.request.urlopen(urllib.request.Request(server.url + path, data, auth), timeout=10):
            pass
    source = parse_source(f"victoria://127.0.0.1:{server.port}?username=reader&password_env=VM_PW")
    monkeypatch.setenv("VM_PW", "s3cret")
    got = read_source(source, "s", 1_710_208_800 * 10**9, 1_710_208_900 * 10**9)["energy_active_import"]
    assert got.ts_ns.tolist() == [1_710_208_800_125_000_000] and got.value.tolist() == [1.5]
    monkeypatch.setenv("VM_PW", "wrong")
    with pytest.raises(SourceError, match="authentication failed") as exc:
        read_source(source, "s", 1_710_208_800 * 10**9, 1_710_208_900 * 10**9)
    assert "wrong" not in str(exc.value)
