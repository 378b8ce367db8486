"""`metergate analyze --basis FILE --records FILE`: institutions with a floor area, heated area and
occupants per year, and monthly records of what no meter reads, folded into the indicators — on the
campus example with metered readings; every bad input names file, line and key or column (exit 2)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from cli.commands.analyze import analyze

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "campus.toml"
TZ = ZoneInfo("Asia/Shanghai")
KWH_PER_DAY = 100.0  # admin-main, every day of 2023 and 2024
E = 0.1229  # kgce/kWh, GB/T 2589 当量值

app = typer.Typer()
app.command()(analyze)
app.command("noop")(lambda: None)

BASIS = """
[[institutions]]
id = "HILLSIDE"
name = "Hillside Vocational College"
category = "school"
buildings = ["admin", "teaching", "gym"]

[[institutions.basis]]
year = 2023
floor_area_m2 = 25000
heated_area_m2 = 22000
occupants = 900

[[institutions.basis]]
year = 2024
floor_area_m2 = 27500
occupants = 910
"""


# the campus's other building totals read every day too, and stand still: their use is a measured 0
# (without their readings a building's energy is unknown, never 0)
STILL = (("heat-admin", "heat_energy", "kWh"), ("teach-main", "energy_active_import", "kWh"),
         ("heat-teaching", "heat_energy", "kWh"), ("gym-main", "energy_active_import", "kWh"),
         ("admin-water", "water_volume", "m³"))


def readings(path: Path) -> Path:
    """Daily counter readings from 2023-01-01 to 2025-01-01 (local midnight): admin-main uses
    KWH_PER_DAY, the other building totals (STILL) use nothing."""
    lines = ["ts,meter,quantity,value,unit"]
    day, n = date(2023, 1, 1), 0
    while day <= date(2025, 1, 1):
        ts = datetime(day.year, day.month, day.day, tzinfo=TZ).isoformat()
        lines.append(f"{ts},admin-main,energy_active_import,{5000 + KWH_PER_DAY * n},kWh")
        lines.extend(f"{ts},{meter},{quantity},1000,{unit}" for meter, quantity, unit in STILL)
        day, n = day + timedelta(days=1), n + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(tmp_path: Path, *args: str, basis: str | None = BASIS, records: str | None = None,
        with_readings: bool = True) -> tuple[int, str]:
    argv = ["analyze", *([str(readings(tmp_path / "r.csv"))] if with_readings else []),
            "--config", str(EXAMPLE), "--interval", "86400", "--period", "year", "--json", *args]
    if basis is not None:
        (tmp_path / "basis.toml").write_text(basis, encoding="utf-8")
        argv += ["--basis", str(tmp_path / "basis.toml")]
    if records is not None:
        (tmp_path / "records.csv").write_text(records, encoding="utf-8")
        argv += ["--records", str(tmp_path / "records.csv")]
    result = CliRunner().invoke(app, argv)
    return result.exit_code, result.output


def rows(out: str, level: str, entity: str) -> dict[str, dict[str, object]]:
    return {r["period"]: r for r in json.loads(out)["rows"] if r["level"] == level and r["id"] == entity}


def test_each_year_uses_its_own_basis_so_per_area_and_per_person_change_differently(tmp_path: Path) -> None:
    code, out = run(tmp_path)
    assert code == 0, out
    inst = rows(out, "institution", "HILLSIDE")  # case kept
    e23, e24 = 365 * KWH_PER_DAY * E, 366 * KWH_PER_DAY * E
    assert inst["2023"]["kgce_per_m2"] == pytest.approx(e23 / 25000)
    assert inst["2024"]["kgce_per_m2"] == pytest.approx(e24 / 27500)
    assert inst["2024"]["kgce_per_person"] == pytest.approx(e24 / 910)
    assert inst["2024"]["kgce_per_m2_yoy"] == pytest.approx((e24 / 27500) / (e23 / 25000) - 1)
    assert inst["2024"]["kgce_per_person_yoy"] == pytest.approx((e24 / 910) / (e23 / 900) - 1)
    assert inst["2024"]["kgce_per_m2_yoy"] != pytest.approx(inst["2024"]["kgce_per_person_yoy"])
    # the institution's category and the fleet take the same basis; buildings keep their own
    assert rows(out, "category", "school")["2024"]["kgce_per_m2"] == pytest.approx(e24 / 27500)
    assert rows(out, "fleet", "all")["2023"]["kgce_per_person"] == pytest.approx(e23 / 900)
    assert rows(out, "building", "admin")["2023"]["kgce_per_m2"] == pytest.approx(e23 / 6200)


def test_without_a_basis_the_fixed_area_gives_equal_changes(tmp_path: Path) -> None:
    code, out = run(tmp_path, basis=None)
    assert code == 0, out
    inst = rows(out, "institution", "Hillside Vocational College")["2024"]
    assert inst["kgce_per_m2_yoy"] == pytest.approx(inst["kgce_per_person_yoy"])


def test_a_year_without_a_row_uses_the_nearest_earlier_year_and_says_so(tmp_path: Path) -> None:
    code, out = run(tmp_path, basis=BASIS.split("[[institutions.basis]]\nyear = 2024", maxsplit=1)[0])
    assert code == 0, out
    assert rows(out, "institution", "HILLSIDE")["2024"]["kgce_per_m2"] == pytest.approx(
        366 * KWH_PER_DAY * E / 25000)
    notes = json.loads(out)["notes"]
    assert any("HILLSIDE: no basis for 2024; used 2023's" in n for n in notes), notes


def test_a_year_before_the_first_row_is_an_error_naming_the_file_and_line(tmp_path: Path) -> None:
    only_2024 = BASIS.replace("year = 2023", "year = 2024", 1).replace(
        "[[institutions.basis]]\nyear = 2024\nfloor_area_m2 = 27500\noccupants = 910\n", "")
    code, out = run(tmp_path, basis=only_2024)
    assert code == 2
    assert "basis.toml:2: institutions (id 'HILLSIDE'): no basis for 2023 or earlier" in out
    assert "year = 2023" in out


@pytest.mark.parametrize(("edit", "message"), [
    (('"gym"]', '"gym", "pool"]'), "basis.toml:6: institutions[0] (id 'HILLSIDE').buildings: no building "
                                   "'pool' in the site config"),
    (("year = 2024", "year = 2023"), "institutions[0] (id 'HILLSIDE').basis[1].year: 2023 is given twice"),
    (("heated_area_m2 = 22000", "heated_area_m2 = 26000"), "basis.toml:11: institutions[0] (id "
                                                           "'HILLSIDE').basis[0].heated_area_m2: 26000 m² is "
                                                           "more than the floor area 25000 m²"),
    (('category = "school"\n', ""), "category: missing: give the institution's category (its buildings "
                                    "are office, school, venue)"),
    (("occupants = 910", "occupants = -3"), "basis[1].occupants: expected a whole number of people ≥ 0"),
    (("floor_area_m2 = 27500", "floor_area = 27500"), "basis[1].floor_area: unknown key"),
])
def test_bad_basis_files_name_file_line_and_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    code, out = run(tmp_path, basis=BASIS.replace(*edit))
    assert code == 2, out
    assert message in " ".join(out.split()), out


RECORDS = """institution,month,carrier,quantity,unit,note
HILLSIDE,2024-03,diesel,100,L,school bus
HILLSIDE,2024-03,diesel,0.05,t,second fuel card
HILLSIDE,2024-04,汽油,74,kg,
HILLSIDE,2024-04,coal,1.5,t,
"""


def test_records_are_converted_and_folded_into_the_institution_with_their_source(tmp_path: Path) -> None:
    code, out = run(tmp_path, records=RECORDS)
    assert code == 0, out
    y24 = rows(out, "institution", "HILLSIDE")["2024"]
    diesel_kg = 100 * 0.84 + 50  # litres through GB 19147's density, plus 0.05 t
    fuel_kgce = diesel_kg * 1.4571 + 74 * 1.4714 + 1500 * 0.7143
    fuel_co2 = diesel_kg * 3.096 + 74 * 2.925 + 1500 * 1.900
    metered = 366 * KWH_PER_DAY * E
    assert y24["energy_kgce"] == pytest.approx(metered + fuel_kgce)
    assert y24["co2_kg"] == pytest.approx(366 * KWH_PER_DAY * 0.5306 + fuel_co2)  # national-2023 grid
    assert y24["sources"] == {"records": {"diesel_kg": pytest.approx(diesel_kg), "petrol_kg": 74.0,
                                          "coal_kg": 1500.0},
                              "records_kgce": pytest.approx(fuel_kgce),
                              "metered_kgce": pytest.approx(metered)}
    assert rows(out, "fleet", "all")["2024"]["energy_kgce"] == pytest.approx(metered + fuel_kgce)
    assert rows(out, "building", "admin")["2024"]["energy_kgce"] == pytest.approx(metered)  # metered only
    assert rows(out, "institution", "HILLSIDE")["2023"]["sources"]["records"] == {}


def test_records_of_months_the_window_cuts_are_left_out_with_a_note(tmp_path: Path) -> None:
    code, out = run(tmp_path, "--from", "2024-03-15", "--to", "2024-12-31", records=RECORDS)
    assert code == 0, out
    assert rows(out, "institution", "HILLSIDE")["2024"]["sources"]["records"] == {
        "petrol_kg": 74.0, "coal_kg": 1500.0}
    assert "records of 2024-03 left out: --from/--to cut those months" in json.loads(out)["notes"]


@pytest.mark.parametrize(("row", "message"), [
    ("HILLSIDE,2024-13,diesel,5,L", "records.csv:2: column 'month': '2024-13': expected a month YYYY-MM"),
    ("HILLSIDE,2024-03,diesel,5,gallon", "records.csv:2: column 'unit': 'gallon' is not a unit for diesel; "
                                         "use one of kg, t, L"),
    ("HILLSIDE,2024-03,diesel,,L", "records.csv:2: column 'quantity': empty: give the quantity, or leave the "
                                   "row out (nothing is taken as 0)"),
    ("HILLSIDE,2024-03,diesel,-5,L", "records.csv:2: column 'quantity': '-5': must be a finite number ≥ 0"),
    ("NOPE,2024-03,diesel,5,L", "records.csv:2: column 'institution': 'NOPE' is not an institution"),
    ("HILLSIDE,2024-03,kerosene,5,L", "records.csv:2: column 'carrier': 'kerosene': expected one of"),
    ("HILLSIDE,2024-03,electricity,500,kWh", "records.csv:2: institution 'HILLSIDE', 2024-03: electricity is "
                                             "also metered"),
])
def test_bad_record_rows_name_file_line_and_column(tmp_path: Path, row: str, message: str) -> None:
    code, out = run(tmp_path, records=f"institution,month,carrier,quantity,unit\n{row}\n")
    assert code == 2, out
    assert message in " ".join(out.split()), out


def test_records_without_readings_and_bad_combinations(tmp_path: Path) -> None:
    one = "institution,month,carrier,quantity,unit\nHILLSIDE,2024-01,电,2,万kWh\n"
    code, out = run(tmp_path, records=one, with_readings=False)
    assert code == 0, out
    inst = rows(out, "institution", "HILLSIDE")["2024"]
    assert inst["energy_kgce"] == pytest.approx(20000 * E)
    assert inst["sources"]["metered_kgce"] is None
    assert not rows(out, "building", "admin")
    code, out = run(tmp_path, "--period", "day", records=RECORDS)
    assert code == 2 and "--records holds monthly figures" in out
    code, out = run(tmp_path, records="month,carrier,quantity,unit\n2024-01,coal,1,t\n")
    assert code == 2 and "records.csv:1: missing column(s) institution" in out


def test_an_institution_without_meters_and_without_records_in_a_period_has_no_data(tmp_path: Path) -> None:
    basis = BASIS + """
[[institutions]]
id = "annex"
category = "office"
buildings = []
[[institutions.basis]]
year = 2023
floor_area_m2 = 800
occupants = 20
"""
    code, out = run(tmp_path, basis=basis,
                    records="institution,month,carrier,quantity,unit\nannex,2024-05,heat,10,GJ\n")
    assert code == 0, out
    annex = rows(out, "institution", "annex")
    assert annex["2023"]["energy_kgce"] is None and annex["2023"]["kgce_per_m2"] is None  # not 0
    assert annex["2024"]["energy_kgce"] == pytest.approx(10 * 34.12)
    assert rows(out, "category", "office")["2024"]["kgce_per_m2"] == pytest.approx(10 * 34.12 / 800)
    fleet = rows(out, "fleet", "all")["2024"]
    assert fleet["kgce_per_m2"] == pytest.approx((366 * KWH_PER_DAY * E + 10 * 34.12) / (27500 + 800))


GAS_SITE = """
[site]
id = "canteen-site"
name = "Canteen"
institution = "Canteen Co"

[[buildings]]
id = "canteen"
name = "Canteen"
category = "office"
floor_area_m2 = 1000
occupants = 50

[[buses]]
id = "rs485"
type = "serial"
device = "/dev/ttyUSB0"

[[meters]]
id = "canteen-gas"
profile = "tancy-precession-vortex"
unit = 3
bus = "rs485"
building = "canteen"
"""


def test_a_gas_meter_read_through_its_profile_counts_as_natural_gas(tmp_path: Path) -> None:
    """A simulated Tancy gas meter, read every local midnight of January 2024 through its profile's
    registers, and the readings through the CLI: kgce = m³ × 1.2143, kgCO2 = m³ × 2.162."""
    from drivers.profiles import find_profile
    from drivers.reader import MeterReader
    from simulators.local import LocalSource
    from simulators.meter import SimulatedMeter

    now = [datetime(2024, 1, 1, tzinfo=TZ).timestamp()]
    meter = SimulatedMeter(find_profile("tancy-precession-vortex").variant(), 3, seed=5,
                           clock=lambda: now[0])
    reader = MeterReader(LocalSource({3: meter}), meter.variant, 3)
    lines = ["ts,meter,quantity,value,unit"]
    totals = []
    for day in range(32):
        now[0] = datetime(2024, 1, 1, tzinfo=TZ).timestamp() + day * 86_400
        got = {r.quantity: r for r in reader.read()}
        totals.append(got["gas_volume"].value)
        ts = datetime.fromtimestamp(now[0], TZ).isoformat()
        lines.append(f"{ts},canteen-gas,gas_volume,{got['gas_volume'].value!r},m³")
    assert totals[-1] > totals[0]
    (tmp_path / "gas.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "site.toml").write_text(GAS_SITE, encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "gas.csv"), "--config",
                                      str(tmp_path / "site.toml"), "--interval", "86400", "--period",
                                      "month", "--json"])
    assert result.exit_code == 0, result.output
    jan = rows(result.output, "building", "canteen")["2024-01"]
    used = totals[-1] - totals[0]
    assert jan["energy_kgce"] == pytest.approx(used * 1.2143, rel=1e-9)
    assert jan["co2_kg"] == pytest.approx(used * 2.162, rel=1e-9)


def test_records_only_an_institution_without_a_record_in_a_period_has_no_data(tmp_path: Path) -> None:
    one = "institution,month,carrier,quantity,unit\nHILLSIDE,2024-06,heat,5,GJ\n"
    code, out = run(tmp_path, "--from", "2024-05-01", "--period", "month", records=one, with_readings=False)
    assert code == 0, out
    inst = rows(out, "institution", "HILLSIDE")
    assert inst["2024-05"]["energy_kgce"] is None  # its buildings have meters, but no readings were given
    assert inst["2024-06"]["energy_kgce"] == pytest.approx(5 * 34.12)
