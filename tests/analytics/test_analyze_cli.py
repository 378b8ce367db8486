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

from cli.commands.analyze import analyze

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
    from core.reading import Quality
    from drivers.reader import Reading
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


def test_a_period_without_readings_exits_1_with_one_line(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "r.csv")  # 2024-03-01 … 03-03
    code, out = run(str(csv), "--config", str(EXAMPLE), "--from", "2024-05-01", "--to", "2024-05-31")
    assert code == 1
    assert out.strip().splitlines() == [
        f"error: no readings in 2024-05-01 … 2024-05-31: the readings of {csv} cover 2024-03-01 … 2024-03-03"]


def test_daily_readings_give_exact_years_and_year_on_year(tmp_path: Path) -> None:
    """One reading a day at 08:00 ± 40 min (a manual or automatic daily reading), two years, the
    default command: each year is the counter interpolated at the local year boundaries."""
    import numpy as np

    rng = np.random.default_rng(3)
    start = datetime(2022, 1, 1, 8, tzinfo=TZ).timestamp() - 86_400
    ts = (start + np.arange(733) * 86_400 + rng.uniform(-2400, 2400, 733)).round()
    value = 5000 + np.cumsum(rng.uniform(100, 300, 733))
    lines = ["ts,meter,quantity,value"] + [f"{int(t) * 10**9},admin-main,energy_active_import,{v!r}"
                                           for t, v in zip(ts.tolist(), value.tolist(), strict=True)]
    csv = tmp_path / "daily.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out = run(str(csv), "--config", str(EXAMPLE), "--period", "year", "--from", "2022-01-01",
                    "--to", "2023-12-31", "--json")
    assert code == 0, out
    rows = {(r["id"], r["period"]): r for r in json.loads(out)["rows"]}
    for year in (2022, 2023):
        a, b = (datetime(y, 1, 1, tzinfo=TZ).timestamp() for y in (year, year + 1))
        kwh = float(np.interp(b, ts, value) - np.interp(a, ts, value))
        admin = rows[("admin", str(year))]
        assert admin["electricity_kwh"] == pytest.approx(kwh, rel=1e-12)
        # admin also has heat, water and heat-pump meters without readings: no comprehensive energy
        assert admin["energy_kgce"] is None and "no heat readings" in admin["no_data"]["kgce_per_m2"]
        assert admin["water_m3_per_person"] is None
        assert 0 < admin["coverage"] < 1  # one of its meters of totals has data
    assert rows[("admin", "2023")]["kgce_per_m2_yoy"] is None  # no figure, no change
    assert rows[("gym", "2023")]["energy_kgce"] is None
    assert rows[("gym", "2023")]["coverage"] == 0


def test_building_without_water_meter_has_no_water_figure(tmp_path: Path) -> None:
    code, out = run(str(write_csv(tmp_path / "r.csv")), "--config", str(EXAMPLE), "--period", "day",
                    "--json")
    assert code == 0, out
    gym = next(r for r in json.loads(out)["rows"] if r["id"] == "gym")
    assert gym["water_m3_per_person"] is None
    assert gym["no_data"]["water_m3_per_person"] == "no water meter in the site config"
    assert gym["kgce_per_m2"] > 0
    code, table = run(str(write_csv(tmp_path / "r.csv")), "--config", str(EXAMPLE), "--period", "day")
    line = next(x for x in table.splitlines() if " gym " in x and "building" in x)
    assert "—" in line and " 0.00 " not in line
    assert "no data: building gym, m³/person (2 periods, 2024-03-01 … 2024-03-02): no water meter" in table
