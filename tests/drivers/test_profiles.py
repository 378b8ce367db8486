"""Profile loading: every bundled profile compiles; malformed files give every error, with the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.quantities import QUANTITIES, Kind
from drivers.codec import DataType, Order
from drivers.errors import ProfileError, ProfileNotFound
from drivers.profiles import BUNDLED_PROFILES, find_profile, load_all, load_profile, profile_files

GOOD = """
manufacturer = "Example"
model = "EM1"
kind = "electricity"
default_variant = "v1"
[defaults]
function = 4
type = "float32"
order = "CDAB"
address_base = 1
[device]
max_registers = 60
unreadable = [{ start = 100, end = 199 }]
[[points]]
quantity = "voltage_l1"
address = 1
unit = "V"
range = [0, 500]
[[points]]
quantity = "energy_active_import"
address = 73
unit = "Wh"
type = "uint32"
range = [0, 1e12]
max_rate = 100
[variants.v1]
fingerprint = ["voltage_l1"]
[variants.v2]
points = [{ quantity = "voltage_l1", address = 11, range = [0, 500] }]
remove = ["energy_active_import"]
"""

BUNDLED_IDS = sorted(profile_files([BUNDLED_PROFILES]))


def _write(tmp_path: Path, text: str, name: str = "example-em1.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_profile_compiles_to_wire_addresses_and_canonical_units(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, GOOD))
    assert profile.id == "example-em1"
    v1 = profile.variant()
    assert v1.name == "v1"
    volt = v1.point("voltage_l1")
    assert (volt.function, volt.address, volt.codec.order) == (4, 0, Order.CDAB)
    energy = v1.point("energy_active_import")
    assert energy.codec.dtype is DataType.UINT32
    assert energy.unit == "kWh" and energy.codec.factor == pytest.approx(1e-3)
    assert v1.device.max_registers == 60
    v2 = profile.variant("v2")
    assert v2.point("voltage_l1").address == 10
    assert [p.quantity for p in v2.points] == ["voltage_l1"]
    with pytest.raises(ProfileNotFound, match="variants: v1, v2"):
        profile.variant("v3")


def test_every_error_is_reported_at_once_with_its_key(tmp_path: Path) -> None:
    bad = GOOD.replace('unit = "V"', 'unit = "kWh"').replace(
        'max_rate = 100', 'max_rate = 100\nadress = 5').replace(
        'quantity = "voltage_l1"\naddress = 1', 'quantity = "voltage_l1"\naddress = 1\ntype = "flot"')
    with pytest.raises(ProfileError) as info:
        load_profile(_write(tmp_path, bad))
    text = str(info.value)
    assert "example-em1.toml" in text
    assert "points[1] (quantity 'energy_active_import').adress: unknown key; did you mean 'address'" in text
    assert "points[0] (quantity 'voltage_l1'): type: unknown data type 'flot'" in text
    assert "points[0] (quantity 'voltage_l1'): unit: 'kWh' cannot be converted" in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('quantity = "voltage_l1"', 'quantity = "voltage_a"'), "not in the vocabulary"),
        (("max_rate = 100\n", ""), "max_rate: missing for a counter"),
        (("range = [0, 500]\n", "", 1), "range: missing"),
        (('default_variant = "v1"', 'default_variant = "v9"'), "names no variant"),
        (("address = 73", "address = 150"), "unreadable range 100..199"),
        (("address = 1\n", "address = 0\n", 1), "wire address -1"),
        (('remove = ["energy_active_import"]', 'remove = ["power_active"]'), "not a point"),
        (('fingerprint = ["voltage_l1"]', 'fingerprint = ["frequency"]'), "not a point of this"),
        (("manufacturer", "maker"), "unknown key"),
        (("[variants.v1]", "[variants.v1"), "not valid TOML"),
    ],
)
def test_each_mistake_is_named(tmp_path: Path, change: tuple, expected: str) -> None:
    old, new, *count = change
    text = GOOD.replace(old, new, *count)
    with pytest.raises(ProfileError, match=None) as info:
        load_profile(_write(tmp_path, text))
    assert expected in str(info.value)


def test_unknown_profile_suggests_close_names() -> None:
    with pytest.raises(ProfileNotFound, match="did you mean chint-dtsu666"):
        find_profile("chint-dtsu66")


def test_user_folder_overrides_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, GOOD, "mine.toml")
    monkeypatch.setenv("METERGATE_PROFILE_PATH", str(tmp_path))
    assert find_profile("mine").model == "EM1"


@pytest.mark.parametrize("profile_id", BUNDLED_IDS)
def test_bundled_profile_loads_and_is_complete(profile_id: str) -> None:
    profile = load_profile(BUNDLED_PROFILES / f"{profile_id}.toml")
    assert profile.sources, "every bundled profile cites where its map comes from"
    for variant in profile.variants.values():
        assert variant.points
        assert variant.fingerprint, f"{variant.key} needs a fingerprint for scan"
        for p in variant.points:
            q = QUANTITIES[p.quantity]
            if q.kind is not Kind.STATE:
                assert p.range is not None
            if q.kind is Kind.COUNTER:
                assert p.max_rate is not None


def test_bundled_set_covers_the_required_models() -> None:
    required = {"chint-dtsu666", "eastron-sdm630", "eastron-sdm120", "acrel-adw300", "tuf-2000m",
                "kamstrup-multical", "lambda-eu-l"}
    assert required <= set(BUNDLED_IDS)
    assert set(load_all([BUNDLED_PROFILES])) == set(BUNDLED_IDS)


def test_fingerprint_registers_are_numbered_like_points(tmp_path: Path) -> None:
    text = GOOD.replace('fingerprint = ["voltage_l1"]',
                        'fingerprint = ["voltage_l1", { address = 3, type = "float32", range = [1, 2] }]')
    check = load_profile(_write(tmp_path, text)).variant().fingerprint[1]
    assert not isinstance(check, str)
    assert (check.function, check.address, check.codec.order) == (4, 2, Order.CDAB)


def test_bad_default_type_is_reported_once(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(_write(tmp_path, GOOD.replace('type = "float32"', 'type = "real"', 1)))
    assert str(info.value).count("unknown data type 'real'") == 1
    assert "defaults.type" in str(info.value)
