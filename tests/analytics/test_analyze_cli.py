"""`metergate analyze`: readings (CSV, Parquet, outbox) + the example site config → indicators; every
kind of bad input is a message naming the file, row, column or key, and exit code 2."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from gateway.commands.analyze import analyze

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "campus.toml"
TZ = ZoneInfo("Asia/Shanghai")
HOURLY_KWH = {"admin-main": 40.0, "admin-hvac": 15.0, "admin-lighting": 10.0, "hp-admin": 5.0,
              "teach-main": 60.0, "teach-f1-lighting": 8.0, "gym-main": 20.0, "gym-hvac": 9.0}
HOURLY_HEAT = {"heat-admin": 100.0, "heat-teaching": 200.0}
HOURLY_WATER = {"admin-water": 0.5}

app = typer.Typer()
app.command()(analyze)
app.command("noop")(lambda: None)  # two commands: typer keeps "analyze" as a sub-command name


def write_csv(path: Path, days: int = 2, *, extra: str = "") -> Path:
    lines = ["ts,meter,quantity,value,unit"]
    start = datetime(2024, 3, 1, tzinfo=TZ)
    for h in range(days * 24 + 1):
        ts = datetime.fromtimestamp(start.timestamp() + h * 3600, TZ).isoformat()
        for meters, q, unit in ((HOURLY_KWH, "energy_active_import", "kWh"),
                                (HOURLY_HEAT, "heat_energy", "kWh"), (HOURLY_WATER, "water_volume", "m³")):
            for m, rate in meters.items():
                lines.append(f"{ts},{m},{q},{1000 + rate * h},{unit}")
        lines.append(f"{ts},admin-main,power_active,12.5,kW")
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["analyze", *args])
    return result.exit_code, result.output


def test_csv_to_daily_indicators_json(tmp_path: Path) -> None:
    code, out = run(str(write_csv(tmp_path / "r.csv")), "--config", str(EXAMPLE), "--period", "day",
                    "--json")
    assert code == 0, out
    rows = json.loads(out)["rows"]
    admin = [r for r in rows if r["level"] == "building" and r["id"] == "admin"]
    assert [r["period"] for r in admin] == ["2024-03-01", "2024-03-02"]
    kgce = 24 * (40 * 0.1229 + 100 * 0.03412 * 3.6)  # total meter only; heat meter is purchased heat
    assert admin[0]["energy_kgce"] == pytest.approx(kgce)
    assert admin[0]["kgce_per_m2"] == pytest.approx(kgce / 6200)
    assert admin[0]["water_m3_per_person"] == pytest.approx(24 * 0.5 / 180)
    assert admin[0]["heating_kgce_per_m2"] == pytest.approx(24 * (100 * 0.122832 + 5 * 0.1229) / 5800)
    assert admin[0]["carbon_series"] == "national-2023"  # no 2024 value yet: the latest
    assert admin[0]["coverage"] == pytest.approx(1.0)
    fleet = [r for r in rows if r["level"] == "fleet"]
    assert fleet[0]["energy_kgce"] == pytest.approx(24 * (120 * 0.1229 + 300 * 0.122832))
    assert any("national-2023" in n for n in json.loads(out)["notes"])


def test_table_virtual_meters_and_options(tmp_path: Path) -> None:
    virtual = tmp_path / "virtual.toml"
    virtual.write_text('[[virtual_meters]]\nid = "admin-rest"\nbuilding = "admin"\nsubitem = "other"\n'
                       'expression = "admin-main - admin-hvac - admin-lighting"\n', encoding="utf-8")
    code, out = run(str(write_csv(tmp_path / "r.csv")), "--config", str(EXAMPLE), "--period", "month",
                    "--factor-set", "equivalent", "--carbon-series", "north-china-2023",
                    "--virtual", str(virtual), "--from", "2024-03-01", "--to", "2024-03-01")
    assert code == 0, out
    assert "2024-03" in out and "north-china-2023" in out and "kgce/m²" in out and "admin" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--period", "week"], "--period must be one of"),
    (["--factor-set", "nope"], "no factor set 'nope'"),
    (["--carbon-series", "national-1999"], "no value for 1999"),
    (["--from", "2024-13-01"], "expected a date"),
    (["--interval", "7"], "must divide a day"),
])
def test_bad_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = run(str(write_csv(tmp_path / "r.csv")), "--config", str(EXAMPLE), *args)
    assert code == 2 and message in out, out


def test_bad_inputs_name_file_row_column(tmp_path: Path) -> None:
    no_offset = "2024-03-02T00:00:00,admin-main,energy_active_import,5,kWh\n"
    bad_row = write_csv(tmp_path / "r.csv", extra=no_offset)
    code, out = run(str(bad_row), "--config", str(EXAMPLE))
    assert code == 2 and "r.csv: row" in out and "'ts'" in out and "UTC offset" in out
    missing = tmp_path / "m.csv"
    missing.write_text("ts,meter,value\n", encoding="utf-8")
    code, out = run(str(missing), "--config", str(EXAMPLE))
    assert code == 2 and "missing column(s) quantity" in out
    unknown = write_csv(tmp_path / "u.csv", extra="0,ghost,energy_active_import,1,kWh\n")
    code, out = run(str(unknown), "--config", str(EXAMPLE))
    assert code == 2 and "ghost" in out and "not in" in out
    bad_config = tmp_path / "site.toml"
    bad_config.write_text("[site]\nid = 'x'\nbogus = 1\n", encoding="utf-8")
    code, out = run(str(write_csv(tmp_path / "r2.csv")), "--config", str(bad_config))
    assert code == 2 and "site.toml" in out
    code, out = run(str(tmp_path / "nothere.csv"), "--config", str(EXAMPLE))
    assert code == 2 and "no such file" in out
    bad_virtual = tmp_path / "v.toml"
    bad_virtual.write_text('[[virtual_meters]]\nid = "v"\nbuilding = "admin"\n'
                           'expression = "admin-main - nope"\n', encoding="utf-8")
    code, out = run(str(write_csv(tmp_path / "r3.csv")), "--config", str(EXAMPLE),
                    "--virtual", str(bad_virtual))
    assert code == 2 and "v.toml: virtual_meters[0].expression: unknown meter(s) nope" in out


def test_outbox_readings(tmp_path: Path) -> None:
    from drivers.reader import Quality, Reading
    from gateway.outbox import Outbox

    box = tmp_path / "outbox.sqlite"
    start = datetime(2024, 3, 1, tzinfo=TZ).timestamp()
    with Outbox(box) as ob:
        for h in range(25):
            ts = start + h * 3600
            ob.append("admin-main", ts, [Reading("energy_active_import", 1000.0 + 40 * h, "kWh",
                                                 Quality.OK, ts)])
    code, out = run(str(box), "--config", str(EXAMPLE), "--period", "day", "--json")
    assert code == 0, out
    admin = next(r for r in json.loads(out)["rows"] if r["id"] == "admin")
    assert admin["electricity_kwh"] == pytest.approx(24 * 40)
    # admin's heat meter sent nothing: its comprehensive energy is unknown, not electricity alone
    assert admin["energy_kgce"] is None and "no heat readings" in admin["no_data"]["energy_kgce"]
    assert admin["water_m3"] is None and "no water readings" in admin["no_data"]["water_m3_per_person"]
