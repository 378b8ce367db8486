"""`metergate validate` refuses a profile whose points overlap (file:line:key) and warns about a
serial port that does not exist; every bundled profile passes the overlap check."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from drivers.errors import ProfileError
from drivers.profiles import BUNDLED_PROFILES, load_all, load_profile

runner = CliRunner()

SITE = """[site]
id = "s"
name = "S"

[[buildings]]
id = "b1"
name = "B1"
category = "office"
floor_area_m2 = 1000
occupants = 50

[[buses]]
id = "rs1"
type = "serial"
device = "{device}"

[[meters]]
id = "m1"
profile = "{profile}"
unit = 1
bus = "rs1"
building = "b1"
subitem = "hvac"
"""

HEAD = """manufacturer = "Acme"
model = "M1"
kind = "electricity"
defaults = {{ function = 3, type = "uint16" }}
{device}
points = [
  {{ quantity = "voltage_l1", address = 0x0000, type = "float32", range = [80, 300] }},
  {{ quantity = "frequency", address = {freq}, function = {fc}, scale = 0.01, range = [45, 65] }},
]
"""


def _profile(tmp_path: Path, *, freq: str = "0x0001", fc: int = 3, device: str = "",
             tail: str = "[variants.default]\n") -> Path:
    path = tmp_path / "acme-m1.toml"
    path.write_text(HEAD.format(freq=freq, fc=fc, device=device) + tail, encoding="utf-8")
    return path


def _site(tmp_path: Path, profile: Path | str, device: str = "/dev/null") -> Path:
    path = tmp_path / "site.toml"
    path.write_text(SITE.format(device=device, profile=profile), encoding="utf-8")
    return path


def test_validate_refuses_overlapping_points_naming_file_line_and_key(tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    result = runner.invoke(app, ["validate", str(_site(tmp_path, profile))])
    assert result.exit_code == 2, result.output
    # line 8 of the profile holds the frequency point, which overlaps the float32 at 0x0000
    assert (f"{profile}:8: points[1] (quantity 'frequency').address: FC3 wire 1 overlaps "
            "points[0] (quantity 'voltage_l1', float32 at wire 0..1)") in result.stderr
    assert f"{tmp_path / 'site.toml'}:" in result.stderr  # and where the site config uses it


def test_probe_refuses_the_same_profile(tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    result = runner.invoke(app, ["probe", "--tcp", "127.0.0.1:1", "--profile", str(profile)])
    assert result.exit_code == 2
    assert f"{profile}:8: points[1] (quantity 'frequency').address" in result.stderr


@pytest.mark.parametrize(("freq", "fc"), [("0x0002", 3), ("0x0001", 4)])
def test_neighbours_and_other_function_codes_do_not_overlap(tmp_path: Path, freq: str,
                                                              fc: int) -> None:
    load_profile(_profile(tmp_path, freq=freq, fc=fc))  # no ProfileError


def test_a_variant_point_overlapping_a_base_point(tmp_path: Path) -> None:
    tail = ('[variants.default]\npoints = [{ quantity = "current_l1", address = 0x0002, '
            'type = "int32", range = [0, 100] }]\n'
            '[variants.other]\npoints = [{ quantity = "current_l1", address = 0x0001, '
            'range = [0, 100] }]\n')
    with pytest.raises(ProfileError) as info:
        load_profile(_profile(tmp_path, freq="0x0003", tail=tail))
    problems = info.value.problems
    # default: current_l1 (2..3) overlaps frequency (3); other: current_l1 (1) the float at 0..1
    assert any(":11: variants.default.points[0] (quantity 'current_l1').address: FC3 wire 2..3 "
               "overlaps points[1] (quantity 'frequency'" in p for p in problems), problems
    assert any(":13: variants.other.points[0] (quantity 'current_l1').address: FC3 wire 1 "
               "overlaps points[0] (quantity 'voltage_l1'" in p for p in problems), problems
    assert len(problems) == 2


def test_bit_fields_of_one_register_may_share_it_unless_their_bits_overlap(tmp_path: Path) -> None:
    def with_bits(second: str) -> Path:
        path = tmp_path / "bits.toml"
        path.write_text(
            'manufacturer = "A"\nmodel = "B"\nkind = "water"\n'
            'points = [\n'
            '  { quantity = "signal_quality", address = 91, bits = [0, 8], range = [0, 99] },\n'
            f'  {{ quantity = "operating_state", address = 91, bits = {second} }},\n'
            ']\n[variants.default]\n', encoding="utf-8")
        return path

    load_profile(with_bits("[8, 8]"))  # high byte and low byte: fine
    with pytest.raises(ProfileError, match=r"bits\.toml:6: points\[1\] \(quantity 'operating_state'"):
        load_profile(with_bits("[4, 8]"))


def test_every_bundled_profile_passes() -> None:
    profiles = load_all([BUNDLED_PROFILES])
    assert len(profiles) >= 7


def test_a_serial_port_that_does_not_exist_is_a_warning(tmp_path: Path) -> None:
    missing = tmp_path / "ttyUSB9"
    site = _site(tmp_path, "eastron-sdm630", device=str(missing))
    result = runner.invoke(app, ["validate", str(site)])
    assert result.exit_code == 0, result.output  # a warning: the config may be checked elsewhere
    assert (f"warning: {site}:15: buses[0] (id 'rs1').device: serial port {missing} does not "
            "exist on this machine") in result.stdout
    present = runner.invoke(app, ["validate", str(_site(tmp_path, "eastron-sdm630"))])
    assert "does not exist" not in present.stdout
