"""`overrides` of a [[meters]] entry: checked with file:line:key, applied to the meter's points."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.codec import Order
from drivers.profiles import BUNDLED_PROFILES, resolve_variant
from site_config import ConfigError, Problem, SiteConfig, load_site_config

BASE = """[site]
id = "s"
name = "S"

[[buildings]]
id = "b1"
name = "B1"
category = "office"
floor_area_m2 = 1000
occupants = 50

[[buses]]
id = "lan"
type = "tcp"
host = "10.0.0.5"

[[meters]]
id = "m1"
profile = "{profile}"
unit = 1
bus = "lan"
building = "b1"
subitem = "hvac"
"""


def _write(tmp_path: Path, extra: str, profile: str = "eastron-sdm630") -> Path:
    path = tmp_path / "site.toml"
    path.write_text(BASE.format(profile=profile) + extra, encoding="utf-8")
    return path


def _load(tmp_path: Path, extra: str, profile: str = "eastron-sdm630") -> SiteConfig:
    return load_site_config(_write(tmp_path, extra, profile), profile_dirs=[BUNDLED_PROFILES])


def _errors(tmp_path: Path, extra: str) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, extra)
    return info.value.problems


def test_inline_overrides_apply_to_the_named_point_and_to_all(tmp_path: Path) -> None:
    config = _load(tmp_path, 'overrides = { "*" = { order = "CDAB" }, '
                             'power_active = { scale = 10, offset = -5.5 } }\n')
    profile = resolve_variant("eastron-sdm630")
    meter = config.meters[0]
    for p in meter.variant.points:
        base = profile.point(p.quantity)
        assert p.codec.order is Order.CDAB
        assert p.address == base.address and p.codec.dtype == base.codec.dtype
    power = meter.variant.point("power_active")
    assert (power.codec.scale, power.codec.offset) == (10, -5.5)
    assert meter.variant.point("voltage_l1").codec.scale == profile.point("voltage_l1").codec.scale
    # the poll groups read the overridden points
    assert {p.codec.order for g in meter.poll for p in g.points} == {Order.CDAB}
    assert config.warnings == ()


def test_a_table_per_point_in_header_form(tmp_path: Path) -> None:
    config = _load(tmp_path, '\n[meters.overrides.energy_active_import]\norder = "word_swap"\n'
                             'scale = 0.01\n')
    p = config.meters[0].variant.point("energy_active_import")
    assert (p.codec.order, p.codec.scale) == (Order.CDAB, 0.01)  # aliases as in profiles
    assert config.meters[0].variant.point("voltage_l1").codec.order is Order.ABCD


def test_an_integer_plus_fraction_point_keeps_its_fraction_in_step(tmp_path: Path) -> None:
    config = _load(tmp_path, 'overrides = { water_volume = { scale = 10 } }\n',
                   profile="tuf-2000m")
    base = resolve_variant("tuf-2000m").point("water_volume")
    p = config.meters[0].variant.point("water_volume")
    assert base.fraction_codec is not None and p.fraction_codec is not None
    assert p.fraction_codec.scale == pytest.approx(base.fraction_codec.scale * 10)


def test_an_unknown_point_is_named_with_line_and_a_suggestion(tmp_path: Path) -> None:
    (p,) = _errors(tmp_path, 'overrides = { power_activ = { scale = 2 } }\n')
    assert (p.line, p.key) == (24, "meters[0] (id 'm1').overrides.power_activ")
    assert "not a point of eastron-sdm630:default" in p.message
    assert "did you mean power_active" in p.message
    assert str(p).startswith(f"{tmp_path / 'site.toml'}:24: meters[0] (id 'm1').overrides")


def test_a_bad_order_and_an_unknown_key(tmp_path: Path) -> None:
    problems = _errors(tmp_path, '\n[meters.overrides.voltage_l1]\norder = "XYZW"\nofset = 1\n')
    by_key = {p.key: p for p in problems}
    order = by_key["meters[0] (id 'm1').overrides.voltage_l1.order"]
    assert order.line == 26 and "use one of ABCD, CDAB, BADC, DCBA" in order.message
    unknown = by_key["meters[0] (id 'm1').overrides.voltage_l1.ofset"]
    assert unknown.line == 27 and "did you mean 'offset'" in unknown.message


def test_a_zero_scale_is_refused(tmp_path: Path) -> None:
    (p,) = _errors(tmp_path, 'overrides = { "*" = { scale = 0 } }\n')
    assert p.key == "meters[0] (id 'm1').overrides.*.scale" and "offset" in p.message


def test_a_word_swap_on_16_bit_registers_is_warned_about(tmp_path: Path) -> None:
    config = _load(tmp_path, 'overrides = { voltage_l1 = { order = "CDAB" }, '
                             'current_l1 = { order = "BADC" } }\n', profile="acrel-adw300")
    (w,) = [w for w in config.warnings if "overrides" in w.key]  # BADC swaps bytes: no warning
    assert w.key == "meters[0] (id 'm1').overrides.voltage_l1.order" and "no effect" in w.message


def test_validate_shows_what_each_meter_decodes_differently(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cli.main import app

    path = _write(tmp_path, 'overrides = { "*" = { order = "CDAB" }, '
                            'power_active = { scale = 1000 } }\n')
    config = load_site_config(path, profile_dirs=[BUNDLED_PROFILES])
    assert [name for name, _ in config.meters[0].overrides] == ["*", "power_active"]
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert ("meter m1 decodes differently from its profile (overrides): *: order = 'CDAB'; "
            "power_active: scale = 1000") in result.stdout
    data = json.loads(runner.invoke(app, ["validate", str(path), "--json"]).stdout)
    assert data["overrides"] == {"m1": {"*": {"order": "CDAB"}, "power_active": {"scale": 1000}}}
