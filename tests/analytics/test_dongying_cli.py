"""The Dongying 2023 table (seed 000_363f9143a0d7eaae.txt) reproduced through `metergate analyze` itself,
from the example files in config/examples/dongying-2023/ (a site config, a basis file, a records CSV).

The seed publishes, for the city's 1,555 public institutions in 2023: 8.82 kgce/m², 218.92 kgce/person,
21.17 m³/person and 38.95 kgCO2/m², "同上年相比分别下降2%、1.35%、1.35%、1.37%" (down on 2022). Those are
ratios; the example's totals are DERIVED from them (the split by category and by carrier is ours):

- occupants 240,000 (2023) and 236,000 (2022), our choice; floor area A = P × (kgce/person ÷ kgce/m²),
  so A23 = 240,000 × 218.92 / 8.82 and A22 = 236,000 × (218.92 / 0.9865) / (8.82 / 0.98) — the area per
  person grows 0.66 %, which is why per area falls 2 % while per person falls 1.35 %;
- energy E = 218.92 × P23 (2023), 218.92 / 0.9865 × P22 (2022); water 21.17 × P (÷ 0.9865 for 2022);
  CO2 = 38.95 × A (÷ 0.9863 for 2022);
- fuels (gas, petrol, diesel, LPG) fixed by us; electricity and heat solved from the two equations
  kgce = E and kgCO2 = CO2 with GB/T 2589 当量值 and the grid factor 0.5703 (enterprise-2022), the one
  series in config/factors that reaches 38.95 kgCO2 per 8.82 kgce (see test_indicators.py).

This test checks both halves independently: the files' own totals against the published ratios (with
the factors written out here, not through the analytics code), and the CLI's output against the
published figures to their printed precision.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.commands.analyze import analyze

HERE = Path(__file__).resolve().parents[2] / "config" / "examples" / "dongying-2023"
PUBLISHED_2023 = {"kgce_per_m2": 8.82, "kgce_per_person": 218.92, "water_m3_per_person": 21.17,
                  "kgco2_per_m2": 38.95}
PUBLISHED_CHANGE_PCT = {"kgce_per_m2": (-2, 0), "kgce_per_person": (-1.35, 2),
                        "water_m3_per_person": (-1.35, 2), "kgco2_per_m2": (-1.37, 2)}  # (%, decimals)
# GB/T 2589-2020 (kgce per kWh, per GJ of heat, per m³, per kg) and the carbon factors used
KGCE = {"electricity": 0.1229, "heat_GJ": 34.12, "natural_gas": 1.2143, "petrol": 1.4714,
        "diesel": 1.4571, "lpg": 1.7143}
KGCO2 = {"electricity": 0.5703, "heat_GJ": 110.0, "natural_gas": 2.162, "petrol": 2.925, "diesel": 3.096,
         "lpg": 3.101}
KG_PER_L = {"petrol": 0.74, "diesel": 0.84}

app = typer.Typer()
app.command()(analyze)
app.command("noop")(lambda: None)


def _file_totals() -> dict[int, dict[str, float]]:
    """Per year: occupants, floor area, kgce, kgCO2 and water m³ straight from the example files."""
    basis = tomllib.loads((HERE / "basis.toml").read_text(encoding="utf-8"))
    out: dict[int, dict[str, float]] = {}
    for inst in basis["institutions"]:
        for row in inst["basis"]:
            t = out.setdefault(row["year"], dict.fromkeys(("people", "area", "kgce", "co2", "water"), 0.0))
            t["people"] += row["occupants"]
            t["area"] += row["floor_area_m2"]
    with (HERE / "records.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            t = out[int(r["month"][:4])]
            q, carrier = float(r["quantity"]), r["carrier"]
            if carrier == "water":
                t["water"] += q
                continue
            key = "heat_GJ" if carrier == "heat" else carrier
            assert r["unit"] == {"heat": "GJ", "electricity": "kWh", "natural_gas": "m³", "lpg": "kg"}.get(
                carrier, "L")
            q *= KG_PER_L.get(carrier, 1.0)
            t["kgce"] += q * KGCE[key]
            t["co2"] += q * KGCO2[key]
    return out


def test_example_files_are_consistent_with_the_published_ratios() -> None:
    t = _file_totals()
    now, before = t[2023], t[2022]
    assert now["kgce"] / now["area"] == pytest.approx(8.82, abs=5e-4)
    assert now["kgce"] / now["people"] == pytest.approx(218.92, abs=5e-4)
    assert now["water"] / now["people"] == pytest.approx(21.17, abs=5e-4)
    assert now["co2"] / now["area"] == pytest.approx(38.95, abs=5e-4)
    assert (now["kgce"] / now["area"]) / (before["kgce"] / before["area"]) == pytest.approx(0.98, abs=5e-6)
    assert (now["kgce"] / now["people"]) / (before["kgce"] / before["people"]) == pytest.approx(
        0.9865, abs=5e-6)
    assert (now["co2"] / now["area"]) / (before["co2"] / before["area"]) == pytest.approx(0.9863, abs=5e-6)
    # the basis changes from one year to the next: that is what lets the two changes differ
    assert now["area"] / now["people"] != pytest.approx(before["area"] / before["people"], rel=1e-3)


def _run_example() -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(app, [
        "analyze", "--config", str(HERE / "site.toml"), "--basis", str(HERE / "basis.toml"),
        "--records", str(HERE / "records.csv"), "--period", "year", "--carbon-series", "enterprise-2022",
        "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    return {str(r["period"]): r for r in rows if r["level"] == "fleet"}


def test_published_table_comes_out_of_metergate_analyze() -> None:
    fleet = _run_example()
    assert set(fleet) == {"2022", "2023"}
    now = fleet["2023"]
    for name, published in PUBLISHED_2023.items():
        assert round(float(now[name]), 2) == published, name  # type: ignore[arg-type]
    for name, (pct, decimals) in PUBLISHED_CHANGE_PCT.items():
        got = float(now[f"{name}_yoy"]) * 100  # type: ignore[arg-type]
        assert round(got, decimals) == pct, (name, got)
    # per area and per person move differently, because the area and the occupants changed
    assert abs(float(now["kgce_per_m2_yoy"]) - float(now["kgce_per_person_yoy"])) > 0.005  # type: ignore[arg-type]
    # everything came from the records, and the JSON says so, carrier by carrier
    sources = now["sources"]
    assert isinstance(sources, dict)
    assert sources["metered_kgce"] is None
    assert sources["records_kgce"] == pytest.approx(now["energy_kgce"])
    assert set(sources["records"]) == {"electricity_kWh", "heat_kWh", "natural_gas_m³", "water_m³",
                                       "petrol_kg", "diesel_kg", "lpg_kg"}
