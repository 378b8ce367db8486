"""Sub-items (分项) by name or by national item code (core.subitems): both load to the same name, the
code is kept, a code for another kind of meter or an unknown one is an error naming the meter."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.rollup import SUBITEMS as ROLLUP_SUBITEMS
from analytics.rollup import MeterInfo, load_virtual_meters
from core.subitems import CODES, SUBITEMS, code_for, resolve
from site_config.schema import SUBITEMS as SCHEMA_SUBITEMS
from tests.gateway.test_config import BASE, load, only, problems


def test_one_list_of_names_everywhere() -> None:
    assert tuple(SUBITEMS) == ROLLUP_SUBITEMS == tuple(SCHEMA_SUBITEMS)


@pytest.mark.parametrize(("given", "name", "code"), [
    ("hvac", "hvac", "01B00"), ("01B00", "hvac", "01B00"), ("01a10", "lighting_sockets", "01A10"),
    ("01A20", "lighting_sockets", "01A20"), ("01000", "total", "01000"), ("other", "other", None),
    ("01D00", "special", "01D00"), ("01C00", "power", "01C00")])
def test_names_and_codes_resolve(given: str, name: str, code: str | None) -> None:
    assert resolve(given) == (name, code)


def test_every_code_rolls_up_to_a_name() -> None:
    assert {name for name, _ in CODES.values()} <= set(SUBITEMS)


def test_a_meter_with_a_code_loads_with_its_name_and_code(tmp_path: Path) -> None:
    site = load(tmp_path, BASE.replace('subitem = "hvac"', 'subitem = "01A10"'))
    m = site.meters[0]
    assert (m.subitem, m.subitem_code) == ("lighting_sockets", "01A10")
    named = load(tmp_path, BASE).meters[0]
    assert (named.subitem, named.subitem_code) == ("hvac", "01B00")


def test_unknown_code_and_wrong_kind_name_the_meter(tmp_path: Path) -> None:
    found = [p.message for p in problems(tmp_path, BASE.replace('subitem = "hvac"', 'subitem = "01Z00"'))
             if p.key == "meters[0] (id 'm1').subitem"]
    assert any("'01Z00' is not a sub-item" in m and "01A10" in m and "lighting_sockets" in m for m in found)
    p = only(problems(tmp_path, BASE.replace('subitem = "hvac"', 'subitem = "02000"')),
             "meters[0] (id 'm1').subitem")
    assert "02000" in p.message and "water" in p.message


@pytest.mark.parametrize(("given", "kind", "code"), [
    ("total", "electricity", "01000"), ("total", "water", "02000"), ("total", "gas", "03A00"),
    ("hvac", "heat_pump", "01B00"), ("hvac", "water", None), ("other", "electricity", None),
    ("01A20", "electricity", "01A20")])
def test_the_code_a_meter_keeps(given: str, kind: str, code: str | None) -> None:
    assert code_for(given, kind) == code


def test_virtual_meter_accepts_a_code(tmp_path: Path) -> None:
    f = tmp_path / "v.toml"
    f.write_text('[[virtual_meters]]\nid = "rest"\nbuilding = "b1"\nsubitem = "01C00"\n'
                 'expression = "m1 - m2"\n', encoding="utf-8")
    from analytics.rollup import BuildingInfo

    meters = [MeterInfo("m1", "b1", "electricity", "total"), MeterInfo("m2", "b1", "electricity", "hvac")]
    (v,) = load_virtual_meters(f, meters, [BuildingInfo("b1", "i", "office", 1.0, None, 1)])
    assert v.subitem == "power"


def test_the_documented_table_is_the_code_table() -> None:
    """docs/configuration.md's sub-item table names every name and exactly the codes that roll up to it."""
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = text.split("| Value | National code | Meaning |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", table, re.MULTILINE)
    documented = {name: set(re.findall(r"`(\w{5})`", codes)) for name, codes in rows}
    assert set(documented) == set(SUBITEMS)
    for name, codes in documented.items():
        assert codes == {c for c, (n, _) in CODES.items() if n == name}, name
