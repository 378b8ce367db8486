"""Factor files: the shipped data loads with the values of reference/energy.md; every problem in a file
is reported at once with file and key; factor sets, dated carbon series and targets are chosen by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analytics.factors import FACTORS_DIR, FactorError, load_factors


def test_shipped_factor_sets() -> None:
    t = load_factors()
    cal, eq = t.factor_set("calorific"), t.factor_set("equivalent")
    assert cal.kgce("electricity") == 0.1229 and eq.kgce("electricity") == 0.31
    assert cal.kgce("heat") == pytest.approx(0.03412 * 3.6)  # per kWh of heat
    assert cal.factors["heat"].written == 0.03412 and cal.factors["heat"].unit == "kgce/MJ"
    assert cal.kgce("natural_gas") == 1.2143
    national = t.factor_set("equivalent-national-2022")
    assert national.year == 2022 and national.factors["electricity"].confidence == "R"
    for fs in t.factor_sets.values():
        assert all(f.source and f.confidence in "VSR" for f in fs.factors.values())
    with pytest.raises(KeyError, match="known: calorific"):
        t.factor_set("当量")


def test_carbon_series_by_name_year_and_region() -> None:
    t = load_factors()
    national = [t.carbon_series("national", y).electricity for y in (2021, 2022, 2023)]
    assert national == [0.5568, 0.5366, 0.5306]
    assert t.carbon_series("national-2023").series == "national-2023"
    assert t.carbon_series("national").year == 2023  # latest
    assert t.carbon_series("enterprise-2022").electricity == 0.5703  # its own named series
    assert t.by_region("华东", 2023).electricity == 0.55
    assert t.by_region("河北", 2022).electricity == 0.7252
    g = t.carbon_series("national-2023")
    assert g.heat == pytest.approx(0.11 * 3.6) and g.natural_gas == 2.162
    with pytest.raises(KeyError, match="no value for 2020"):
        t.carbon_series("national-2020")
    with pytest.raises(KeyError, match="no carbon series"):
        t.carbon_series("mars-2023")
    assert "south-china-2023" in t.series_names()


def test_the_grid_factor_of_a_year_falls_back_to_the_latest_earlier_year_else_the_latest() -> None:
    t = load_factors()
    assert sorted(t.series["national"].values) == [2021, 2022, 2023]
    assert t.grid_factor(2022).series == "national-2022" and t.grid_factor(2022).electricity == 0.5366
    assert t.grid_factor(2025).year == 2023  # after the last year: the latest earlier one
    assert t.grid_factor(2019).year == 2023  # before every year: the latest, not the earliest
    assert t.grid_factor(2024, "north-china").series == "north-china-2023"  # any series by name
    with pytest.raises(KeyError):
        t.grid_factor(2022, "mars")


def test_targets() -> None:
    tg = load_factors().target("national-14th-fyp")
    assert tg.change == {"kgce_per_m2": -0.05, "kgce_per_person": -0.06, "water_m3_per_person": -0.06,
                         "kgco2_per_m2": -0.07}
    assert tg.baseline == {"kgce_per_m2": 18.48, "kgce_per_person": 329.56, "water_m3_per_person": 21.53}
    assert (tg.baseline_year, tg.target_year) == (2020, 2025)


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "factors"
    shutil.copytree(FACTORS_DIR, d)
    return d


def test_every_problem_named_by_file_and_key(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    coal = d / "standard_coal.toml"
    text = coal.read_text(encoding="utf-8")
    text = text.replace('value = 0.1229, unit = "kgce/kWh"', 'value = -1, unit = "kgce/kWh"', 1)
    gas = 'unit = "kgce/m³", confidence = "V", source = "GB/T 2589-2020, gas-field natural gas" }'
    text = text.replace(gas, 'unit = "kg/m³", confidence = "X", source = "x" }', 1)
    coal.write_text(text, encoding="utf-8")
    (d / "targets.toml").write_text(
        '[[targets]]\nname = "t"\nlabel = "l"\nsource = "s"\nconfidence = "V"\nbaseline_year = 2020\n'
        'target_year = 2025\nkgce_per_m2 = { change = -5 }\nkgce_per_sqft = { change = -0.1 }\n',
        encoding="utf-8")
    with pytest.raises(FactorError) as info:
        load_factors(d)
    msgs = info.value.problems
    assert f"{coal}: factor_sets[0].electricity.value: must be positive, got -1" in msgs
    assert any(m.startswith(f"{coal}: factor_sets[0].natural_gas.unit: 'kg/m³'") for m in msgs)
    assert any(m.startswith(f"{coal}: factor_sets[0].natural_gas.confidence") for m in msgs)
    assert any("targets.toml: targets[0].kgce_per_m2.change: a fraction" in m for m in msgs)
    assert any("targets.toml: targets[0].kgce_per_sqft: unknown key" in m for m in msgs)


def test_syntax_error_and_empty_folder(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "carbon.toml").write_text("[[series]\n", encoding="utf-8")
    with pytest.raises(FactorError, match=r"carbon\.toml"):
        load_factors(d)
    with pytest.raises(FactorError, match=r"no \*\.toml"):
        load_factors(tmp_path / "empty")


def test_duplicate_series_name(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    carbon = d / "carbon.toml"
    carbon.write_text(carbon.read_text(encoding="utf-8").replace('name = "hebei"', 'name = "yunnan"'),
                      encoding="utf-8")
    with pytest.raises(FactorError, match=r"series\[\d+\]\.name: duplicate name 'yunnan'"):
        load_factors(d)


def test_fuel_factors_and_densities(tmp_path: Path) -> None:
    table = load_factors()
    coal = table.factor_set("calorific")
    assert {f: coal.kgce(f) for f in ("petrol", "diesel", "lpg", "coal")} == {
        "petrol": 1.4714, "diesel": 1.4571, "lpg": 1.7143, "coal": 0.7143}  # GB/T 2589-2020 Appendix A
    assert table.carbon_series("national-2023").fuels["diesel"] == 3.096
    assert table.densities["petrol"].value == 0.74 and table.densities["diesel"].value == 0.84
    d = _copy(tmp_path)
    text = (d / "densities.toml").read_text(encoding="utf-8")
    (d / "densities.toml").write_text(text.replace('unit = "kg/L"', 'unit = "lb/gal"', 1)
                                      .replace("diesel = {", "kerosene = {", 1), encoding="utf-8")
    with pytest.raises(FactorError) as info:
        load_factors(d)
    assert any("densities.toml: densities.petrol.unit: 'lb/gal' is not a unit for petrol" in p
               for p in info.value.problems), info.value.problems
    assert any("densities.kerosene: unknown carrier" in p for p in info.value.problems)
