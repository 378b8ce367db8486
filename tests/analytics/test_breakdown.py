"""analytics.breakdown (sub-items with `unclassified`, daily peak power) and analytics.meter_coverage,
against sums written out by hand."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from analytics.breakdown import daily_peak_kw, subitem_split
from analytics.meter_coverage import meter_coverage
from analytics.readings_io import Columns
from analytics.rollup import BuildingSeries, MeterInfo, RollUp

TZ = "Asia/Shanghai"
START = int(datetime(2024, 3, 1, tzinfo=ZoneInfo(TZ)).timestamp()) * 10**9
HOUR = 3600 * 10**9


def _series() -> BuildingSeries:
    """Two buildings, 48 hourly intervals (2 days): b1 has a total meter and an hvac sub-meter, b2 only
    lighting sub-meters (its total is theirs); b2 has no data on the second day's first 6 hours."""
    edges = START + np.arange(49, dtype=np.int64) * HOUR
    b1 = np.full(48, 10.0)
    b1[28] = 25.0  # a peak on day 2, while b2 has no data
    b2 = np.full(48, 4.0)
    b2[24:30] = np.nan
    elec = np.vstack([b1, b2])
    nan = np.full((2, 48), np.nan)
    subitems = RollUp(("b1/hvac", "b2/lighting_sockets"), np.vstack([np.full(48, 3.0), b2]))
    return BuildingSeries(("b1", "b2"), edges, {"electricity": elec, "heat": nan, "natural_gas": nan,
                                                 "water": nan}, nan, subitems)


def test_subitems_and_unclassified_per_group_and_day() -> None:
    split = subitem_split(_series(), {"b1": "inst", "b2": "inst"}, TZ, "day")
    got = {(s.period, s.subitem): s.kwh for s in split["inst"]}
    assert got[("2024-03-01", "hvac")] == 24 * 3.0
    assert got[("2024-03-01", "lighting_sockets")] == 24 * 4.0
    # the total (b1's meter + b2's sub-items) less the sub-items: b1's part no sub-meter measures
    assert got[("2024-03-01", "unclassified")] == pytest.approx(24 * 10.0 - 24 * 3.0)
    assert got[("2024-03-02", "unclassified")] == pytest.approx(23 * 10.0 + 25.0 - 24 * 3.0)
    assert ("2024-03-01", "power") not in got  # no power meter: not listed


def test_a_building_of_only_sub_items_is_wholly_classified() -> None:
    split = subitem_split(_series(), {"b2": "b2"}, TZ, "month")
    got = {s.subitem: s.kwh for s in split["b2"]}
    assert got == {"lighting_sockets": 42 * 4.0, "unclassified": 0.0}


def test_no_data_is_none_never_zero() -> None:
    s = _series()
    s.carriers["electricity"][:, 24:] = np.nan
    s.subitems.values[:, 24:] = np.nan
    split = subitem_split(s, {"b1": "g", "b2": "g"}, TZ, "day")
    assert {(x.period, x.subitem): x.kwh for x in split["g"]}[("2024-03-02", "unclassified")] is None
    days, peaks = daily_peak_kw(s, {"b1": "g", "b2": "g"}, TZ)["g"]
    assert days == ["2024-03-01", "2024-03-02"] and peaks == [14.0, None]


def test_daily_peak_is_the_highest_hourly_mean_power() -> None:
    _, peaks = daily_peak_kw(_series(), {"b1": "g", "b2": "g"}, TZ)["g"]
    assert peaks == [14.0, 25.0]  # day 2: 25 kWh of b1 in an hour b2 has no data for = 25 kW


def test_meter_coverage_names_the_days_missing() -> None:
    ts = START + np.arange(49, dtype=np.int64) * HOUR
    keep = (ts < START + 30 * HOUR) | (ts > START + 40 * HOUR)  # no reading from 30 h to 40 h
    cols = Columns(np.array(["m1"] * int(keep.sum())), ts[keep], np.arange(49, dtype=float)[keep])
    meters = [MeterInfo("m1", "b1", "electricity", "total"), MeterInfo("m2", "b1", "electricity", "hvac")]
    cov = meter_coverage({"energy_active_import": cols}, meters, TZ, START, START + 48 * HOUR, 3600)
    m1, m2 = cov
    assert m1.coverage == pytest.approx(1 - 12 / 48) and m1.missing == (("2024-03-02", "2024-03-02"),)
    assert "12 interval(s)" in m1.reason
    assert (m2.coverage, m2.missing) == (0.0, (("2024-03-01", "2024-03-02"),))
    assert m2.reason == "no energy_active_import readings in the period"
