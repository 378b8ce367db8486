"""analytics.indicator_run without the CLI: the window from the readings and the options, the grid
factor by year with its note, records only, and the typed errors (a window without readings apart)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from analytics.factors import load_factors
from analytics.indicator_run import (
    IndicatorRun,
    IndicatorRunError,
    NoReadingsInWindow,
    Window,
    run_indicators,
)
from analytics.indicators import IndicatorRow
from analytics.readings_io import Columns
from analytics.records import Records
from analytics.rollup import BuildingInfo, MeterInfo
from core.errors import MetergateError

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
TABLE = load_factors()
COAL = TABLE.factor_set("calorific")
BUILDINGS = (BuildingInfo("admin", "city-hall", "office", 1000.0, None, 50),)
METERS = (MeterInfo("admin-main", "admin", "electricity", "total"),)
KWH_PER_HOUR = 10.0


def hourly(first: datetime, hours: int, meter: str = "admin-main") -> dict[str, Columns]:
    """Electricity counter readings every hour from `first` (local), `hours` steps of 10 kWh."""
    ts = [int((first + timedelta(hours=h)).timestamp()) * 10**9 for h in range(hours + 1)]
    return {"energy_active_import": Columns(np.array([meter] * len(ts)), np.array(ts, np.int64),
                                            1000.0 + KWH_PER_HOUR * np.arange(len(ts), dtype=np.float64))}


def run(readings: dict[str, Columns] | None, window: Window, **kw: Any) -> IndicatorRun:
    return run_indicators(BUILDINGS, METERS, TZ_NAME, readings, window, TABLE, COAL,
                          readings_name="r.csv", site_name="site.toml", **kw)


def building_rows(rows: list[IndicatorRow]) -> list[IndicatorRow]:
    return [r for r in rows if r.level == "building"]


def test_a_reading_at_local_midnight_closes_the_day_before() -> None:
    out = run(hourly(datetime(2022, 3, 1, tzinfo=TZ), 48), Window("day"))  # 1 March 00:00 … 3 March 00:00
    rows = building_rows(out.rows)
    assert [r.period for r in rows] == ["2022-03-01", "2022-03-02"]  # no 3 March row
    assert rows[0].amounts["electricity_kwh"] == pytest.approx(24 * KWH_PER_HOUR)
    assert rows[0].values["energy_kgce"] == pytest.approx(24 * KWH_PER_HOUR * COAL.kgce("electricity"))
    assert out.notes == [f"factor set {COAL.name}: {COAL.label}"]  # 2022 has a national factor: no note


def test_ytd_starts_on_1_january_of_the_last_day_and_the_options_bound_the_window() -> None:
    readings = hourly(datetime(2022, 3, 1, tzinfo=TZ), 48)
    ytd = building_rows(run(readings, Window("ytd")).rows)
    assert [r.period for r in ytd] == ["2022 YTD"]
    assert ytd[0].coverage == pytest.approx(2 / 61)  # 1 January … 2 March, two days read
    one_day = building_rows(run(readings, Window("day", date(2022, 3, 2), date(2022, 3, 2))).rows)
    assert [r.period for r in one_day] == ["2022-03-02"]


def test_the_grid_factor_of_a_year_without_one_is_the_latest_earlier_with_one_note() -> None:
    # 2024 (no national value; the series ends in 2023), two months: the fallback noted once
    out = run(hourly(datetime(2024, 3, 31, tzinfo=TZ), 48), Window("month"))
    rows = building_rows(out.rows)
    assert [r.period for r in rows] == ["2024-03", "2024-04"]
    assert {r.carbon_series for r in out.rows} == {"national-2023"}
    assert out.notes.count("no national grid factor for 2024: used national-2023") == 1
    kwh = rows[1].amounts["electricity_kwh"]
    assert rows[1].values["co2_kg"] == pytest.approx(kwh * TABLE.carbon_series("national-2023").electricity)


def test_a_fixed_carbon_series_is_used_for_every_year_without_a_note() -> None:
    fixed = TABLE.carbon_series("north-china-2023")
    out = run(hourly(datetime(2024, 3, 1, tzinfo=TZ), 24), Window("day"), carbon=fixed)
    assert {r.carbon_series for r in out.rows} == {"north-china-2023"}
    assert not any("grid factor" in n for n in out.notes)


def test_a_window_without_readings_raises_no_readings_in_window() -> None:
    readings = hourly(datetime(2022, 3, 1, tzinfo=TZ), 48)
    with pytest.raises(NoReadingsInWindow) as info:
        run(readings, Window("day", date(2022, 5, 1), date(2022, 5, 3)))
    assert str(info.value) == ("no readings in 2022-05-01 … 2022-05-03: the readings of r.csv cover "
                               "2022-03-01 … 2022-03-03")
    assert isinstance(info.value, IndicatorRunError) and isinstance(info.value, MetergateError)


@pytest.mark.parametrize(("readings", "window", "message"), [
    (hourly(datetime(2022, 3, 1, tzinfo=TZ), 4, meter="ghost"), Window("day"),
     "r.csv: energy_active_import readings of meter(s) not in site.toml: ghost"),
    ({"power_active": Columns(np.array(["admin-main"]), np.array([0], np.int64), np.array([1.0]))},
     Window("day"), "r.csv: no counter readings (energy_active_import, heat_energy"),
    (hourly(datetime(2022, 3, 1, tzinfo=TZ), 48), Window("day", date(2022, 3, 3), date(2022, 3, 2)),
     "--from 2022-03-03 is after --to 2022-03-02"),
])
def test_unusable_inputs_raise_an_indicator_run_error(readings: dict[str, Columns], window: Window,
                                                      message: str) -> None:
    with pytest.raises(IndicatorRunError) as info:
        run(readings, window)
    assert str(info.value).startswith(message)
    assert not isinstance(info.value, NoReadingsInWindow)  # exit 2 in the CLI, not 1


def records(*rows: tuple[str, str, float]) -> Records:
    """Records of city-hall: (month, carrier, quantity) each, from lines 2, 3, …"""
    keys = [("city-hall", month, carrier) for month, carrier, _ in rows]
    return Records("rec.csv", {k: q for k, (_, _, q) in zip(keys, rows, strict=True)},
                   {k: [i + 2] for i, k in enumerate(keys)})


def test_records_only_give_institution_rows_from_the_records() -> None:
    out = run(None, Window("month"), records=records(("2022-01", "electricity", 5000.0),
                                                      ("2022-02", "diesel", 100.0)))
    assert not building_rows(out.rows)
    inst = {r.period: r for r in out.rows if r.level == "institution"}
    assert sorted(inst) == ["2022-01", "2022-02"]  # the window: the records' months
    jan = inst["2022-01"]
    assert jan.values["energy_kgce"] == pytest.approx(5000 * COAL.kgce("electricity"))
    assert jan.sources == {"records": {"electricity_kWh": 5000.0}, "records_kgce": pytest.approx(
        5000 * COAL.kgce("electricity")), "metered_kgce": None}
    assert inst["2022-02"].values["energy_kgce"] == pytest.approx(100 * COAL.kgce("diesel"))
    assert out.notes[-1] == "no readings: only the records, per institution (no building rows)"


def test_records_of_what_the_meters_also_measured_are_refused() -> None:
    with pytest.raises(IndicatorRunError) as info:
        run(hourly(datetime(2022, 3, 1, tzinfo=TZ), 48), Window("month"),
            records=records(("2022-03", "electricity", 1.0)))
    assert str(info.value).startswith("rec.csv:2: institution 'city-hall', 2022-03: electricity is also "
                                      "metered")


def test_nothing_to_compute_from() -> None:
    with pytest.raises(IndicatorRunError, match="no readings and no records"):
        run(None, Window("month"))
