"""Roll-ups: sub-items never add to totals; a building without a total meter sums its sub-items; virtual
meters (sums and differences) from a TOML file; heat-pump heat is not purchased energy; the example
site config maps to roll-up metadata."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from analytics.rollup import (
    BuildingInfo,
    MeterInfo,
    RollupError,
    VirtualMeter,
    add_virtual,
    building_series,
    building_totals,
    carrier_of,
    group_sum,
    load_virtual_meters,
    parse_expression,
    subitem_rollup,
)
from site_config import load_site_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "campus.toml"
B = [BuildingInfo("b1", "inst", "office", 1000.0, 900.0, 50),
     BuildingInfo("b2", "inst", "school", 500.0, None, 20)]
M = [MeterInfo("b1-main", "b1", "electricity", "total"), MeterInfo("b1-hvac", "b1", "electricity", "hvac"),
     MeterInfo("b1-light", "b1", "electricity", "lighting_sockets"),
     MeterInfo("b1-hp", "b1", "heat_pump", "hvac"), MeterInfo("b1-heat", "b1", "heat", None),
     MeterInfo("b2-light", "b2", "electricity", "lighting_sockets"),
     MeterInfo("b2-power", "b2", "electricity", "power"), MeterInfo("b2-water", "b2", "water", None)]
INFO = {m.id: m for m in M}


@dataclass
class R:
    meters: tuple[str, ...]
    consumption: np.ndarray
    edges_ns: np.ndarray
    coverage: np.ndarray


def elec() -> tuple[tuple[str, ...], np.ndarray]:
    ids = ("b1-main", "b1-hvac", "b1-light", "b1-hp", "b2-light", "b2-power")
    return ids, np.array([[100.0, 80.0], [30.0, 20.0], [25.0, 25.0], [10.0, 5.0], [7.0, 8.0], [3.0, 2.0]])


def test_parse_expression() -> None:
    assert parse_expression("b1-main - b1-hvac + x_2") == (("b1-main", 1.0), ("b1-hvac", -1.0), ("x_2", 1.0))
    assert parse_expression("E01 - B-3_hvac") == (("E01", 1.0), ("B-3_hvac", -1.0))  # case kept
    for bad in ("", "a -", "a-b -c", "a * b", "A. - b"):
        with pytest.raises(ValueError):
            parse_expression(bad)


def test_totals_never_double_count_and_fall_back_to_subitems() -> None:
    ids, v = elec()
    tot = building_totals(ids, v, INFO, ["b1", "b2"], "energy_active_import")
    np.testing.assert_array_equal(tot.values, [[100.0, 80.0], [10.0, 10.0]])
    sub = subitem_rollup(ids, v, INFO)
    assert sub.keys == ("b1/hvac", "b1/lighting_sockets", "b2/lighting_sockets", "b2/power")
    np.testing.assert_array_equal(sub.row("b1/hvac"), [40.0, 25.0])  # heat pump's input is hvac


def test_virtual_remainder_joins_subitems_not_totals() -> None:
    ids, v = elec()
    rest = VirtualMeter("b1-rest", "b1", "other", "energy_active_import",
                        parse_expression("b1-main - b1-hvac - b1-light - b1-hp"))
    ids2, v2 = add_virtual(ids, v, [rest], "energy_active_import")
    info: dict[str, MeterInfo | VirtualMeter] = {**INFO, "b1-rest": rest}
    np.testing.assert_array_equal(v2[-1], [35.0, 30.0])
    totals = building_totals(ids2, v2, info, ["b1", "b2"], "energy_active_import")
    np.testing.assert_array_equal(totals.values, [[100.0, 80.0], [10.0, 10.0]])
    sub = subitem_rollup(ids2, v2, info)
    np.testing.assert_allclose(sub.values[[i for i, k in enumerate(sub.keys) if k.startswith("b1/")]].sum(0),
                               [100.0, 80.0])  # sub-items + remainder = main meter
    assert add_virtual(ids, v, [rest], "water_volume")[0] == ids


def test_heat_pump_heat_is_not_purchased_heat() -> None:
    assert carrier_of(INFO["b1-heat"], "heat_energy") == "heat"
    assert carrier_of(INFO["b1-hp"], "heat_energy") is None
    assert carrier_of(INFO["b1-hp"], "energy_active_import") == "electricity"
    assert carrier_of(INFO["b1-main"], "power_active") is None


def test_building_series() -> None:
    ids, v = elec()
    edges = np.array([0, 10, 20], np.int64)
    cov = np.ones((6, 2))
    results = {"energy_active_import": R(ids, v, edges, cov),
               "heat_energy": R(("b1-heat", "b1-hp"), np.array([[50.0, np.nan], [30.0, 30.0]]), edges,
                                np.ones((2, 2))),
               "water_volume": R(("b2-water",), np.array([[1.0, 2.0]]), edges, np.ones((1, 2)))}
    s = building_series(results, B, M)
    np.testing.assert_array_equal(s.carriers["electricity"], [[100.0, 80.0], [10.0, 10.0]])
    # no data stays NaN: b1's heat meter in interval 2, b2 has no heat meter, b1 no water meter
    np.testing.assert_array_equal(s.carriers["heat"], [[50.0, np.nan], [np.nan, np.nan]])
    np.testing.assert_array_equal(s.carriers["water"], [[np.nan, np.nan], [1.0, 2.0]])
    np.testing.assert_array_equal(s.heating_electricity, [[10.0, 5.0], [np.nan, np.nan]])
    assert s.total_meters["water"] == ((), ("b2-water",)) and s.total_meters["heat"] == (("b1-heat",), ())
    np.testing.assert_array_equal(s.coverage["water"], [[np.nan, np.nan], [1.0, 1.0]])
    # a configured meter that sent nothing counts with coverage 0, its building's carrier is NaN
    s2 = building_series({"energy_active_import": R(ids, v, edges, cov)}, B, M)
    np.testing.assert_array_equal(s2.carriers["water"], [[np.nan, np.nan], [np.nan, np.nan]])
    np.testing.assert_array_equal(s2.coverage["water"], [[np.nan, np.nan], [0.0, 0.0]])
    with pytest.raises(RollupError, match="ghost"):
        building_series({"water_volume": R(("ghost",), np.ones((1, 2)), edges, cov[:1])}, B, M)


def test_group_sum_keeps_given_order_and_empty_groups() -> None:
    g = group_sum(np.array([[1.0], [2.0], [3.0]]), ["a", "b", "a"], ["b", "a", "c"])
    assert g.keys == ("b", "a", "c")
    np.testing.assert_array_equal(g.values, [[2.0], [4.0], [np.nan]])  # an empty group has no data
    h = group_sum(np.array([[1.0, np.nan], [np.nan, np.nan]]), ["a", "a"])
    np.testing.assert_array_equal(h.values, [[1.0, np.nan]])  # NaN skipped, all-NaN stays NaN


def test_load_virtual_meters(tmp_path: Path) -> None:
    f = tmp_path / "v.toml"
    f.write_text('[[virtual_meters]]\nid = "b1-rest"\nbuilding = "b1"\nexpression = "b1-main - b1-hvac"\n'
                 '[[virtual_meters]]\nid = "b1-both"\nbuilding = "b1"\nsubitem = "other"\n'
                 'expression = "b1-rest + b1-hvac"\n', encoding="utf-8")
    v = load_virtual_meters(f, M, B)
    assert [x.id for x in v] == ["b1-rest", "b1-both"] and v[0].subitem == "other"
    f.write_text('[[virtual_meters]]\nid = "b1-main"\nbuilding = "b9"\nsubitem = "misc"\nquantity = "x"\n'
                 'expression = "b1-main - nope"\ncolour = 1\n'
                 '[[virtual_meters]]\nid = "t"\nbuilding = "b1"\nsubitem = "total"\nexpression = "b1-hvac"\n',
                 encoding="utf-8")
    with pytest.raises(RollupError) as info:
        load_virtual_meters(f, M, B)
    text = str(info.value)
    for key in ("virtual_meters[0].id", "virtual_meters[0].building", "virtual_meters[0].subitem",
                "virtual_meters[0].quantity", "virtual_meters[0].colour", "unknown meter(s) nope",
                "virtual_meters[1].subitem: building 'b1' already has a total meter"):
        assert key in text, key
    assert str(f) in text


def test_from_site_config() -> None:
    from site_config.analytics_records import rollup_meta

    buildings, meters = rollup_meta(load_site_config(EXAMPLE, require_env_secrets=False))
    assert [b.id for b in buildings] == ["admin", "teaching", "gym"]
    assert {b.institution for b in buildings} == {"Hillside Vocational College"}
    hp = next(m for m in meters if m.id == "hp-admin")
    assert (hp.kind, hp.subitem, hp.building) == ("heat_pump", "hvac", "admin")
