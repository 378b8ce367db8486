"""Bundled Modbus profiles against register images written from the manufacturers' tables.

Not circular: the images are hand-written words (tests/drivers/fixtures/register_images), checked
here with `struct` against the manufacturer's stated format, served by a plain pymodbus server and
read through ModbusConnection and MeterReader. A mutation test shows that a profile with a swapped
word order or an address off by one fails the check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.profiles import MeterProfile, load_profile
from tests.drivers.register_images import (
    Image,
    golden_mismatches,
    load_images,
    manufacturer_value,
    manufacturer_words,
)

# this checkout's profiles (the installed package data may point at another checkout)
PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"
IMAGES = load_images()


def _bundled_modbus_profiles() -> dict[str, MeterProfile]:
    # the top-level files only: dlt645/ and cjt188/ hold profiles read by data identifier
    return {p.stem: load_profile(p) for p in sorted(PROFILES.glob("*.toml"))}


BUNDLED = _bundled_modbus_profiles()


@pytest.mark.parametrize("key", sorted(IMAGES))
def test_image_words_are_the_manufacturers_format(key: str) -> None:
    """Each entry's words hold its raw value in the format the manufacturer states, at the wire
    address its register number gives by the image's numbering rule."""
    image = IMAGES[key]
    for quantity, e in image.entries.items():
        parts = [e] + ([e["fraction"]] if "fraction" in e else [])
        for part in parts:
            order = part.get("order", "ABCD")
            if "tolerance" in part:
                # a manual's worked example: its bytes, and the value it rounds them to
                held = manufacturer_value(part["type"], order, part["words"])
                assert held == pytest.approx(part["raw"], abs=part["tolerance"]), quantity
            else:
                assert part["words"] == manufacturer_words(part["type"], order, part["raw"]), \
                    quantity
            if "register" in part:
                assert part["wire"] == part["register"] - image.first_register, quantity
            elif image.first_register != 0:
                pytest.fail(f"{key} {quantity}: give `register` as the manufacturer numbers it")
    image.words()  # no two entries write one register


@pytest.mark.parametrize("key", sorted(IMAGES))
def test_profile_reads_the_manufacturers_values(key: str) -> None:
    image = IMAGES[key]
    variant = BUNDLED[image.profile].variant(image.variant)
    assert golden_mismatches(variant, image) == []


def test_every_documented_point_has_an_image_entry() -> None:
    """Every point of every variant of every bundled Modbus profile is in its image, or listed as
    `unverified` with a reason; a new point or variant without one fails here, by name."""
    problems = []
    for pid, profile in BUNDLED.items():
        for vname, variant in profile.variants.items():
            image = IMAGES.get(f"{pid}:{vname}")
            if image is None:
                problems.append(f"{pid}:{vname}: no image in register_images/{pid}.toml")
                continue
            points = {p.quantity for p in variant.points}
            missing = points - set(image.entries) - set(image.unverified)
            stray = (set(image.entries) | set(image.unverified)) - points
            both = set(image.entries) & set(image.unverified)
            problems += [f"{image.key}: point {q} has no image entry" for q in sorted(missing)]
            problems += [f"{image.key}: {q} is not a point of the variant" for q in sorted(stray)]
            problems += [f"{image.key}: {q} has an entry and is unverified" for q in sorted(both)]
            problems += [f"{image.key}: unverified {q} gives no reason"
                         for q, why in image.unverified.items() if not why.strip()]
    for key, image in IMAGES.items():
        if image.profile not in BUNDLED or image.variant not in BUNDLED[image.profile].variants:
            problems.append(f"{key}: image for a profile variant that does not exist")
    assert problems == []


# (profile file, text in it, replacement, image, quantities that must then read wrong)
MUTATIONS = [
    pytest.param("tuf-2000m", 'type = "float32", order = "CDAB", address_base = 1',
                 'type = "float32", order = "ABCD", address_base = 1', "tuf-2000m:default",
                 {"water_flow", "flow_velocity", "temp_supply", "temp_return"},
                 id="tuf-word-order-abcd"),
    pytest.param("acrel-adw300", 'type = "uint16", order = "ABCD", address_base = 0',
                 'type = "uint16", order = "ABCD", address_base = 1', "acrel-adw300:default",
                 {"voltage_l1", "current_l1", "power_active", "energy_active_import"},
                 id="adw300-address-off-by-one"),
    pytest.param("lambda-eu-l", 'type = "int32", order = "CDAB", unit = "Wh"',
                 'type = "int32", order = "ABCD", unit = "Wh"', "lambda-eu-l:fw-1.1.3",
                 {"energy_active_import"}, id="lambda-energy-not-word-swapped"),
    pytest.param("chint-dtsu666", '{ quantity = "voltage_l1", address = 0x2006, scale = 0.1',
                 '{ quantity = "voltage_l1", address = 0x2008, scale = 0.1', "chint-dtsu666:native",
                 {"voltage_l1"}, id="dtsu666-point-at-the-next-register"),
]


@pytest.mark.parametrize(("pid", "old", "new", "key", "wrong"), MUTATIONS)
def test_a_wrong_profile_fails_the_golden_check(tmp_path: Path, pid: str, old: str, new: str,
                                                key: str, wrong: set[str]) -> None:
    """A copy of a bundled profile with one word order or address changed reads the images wrong."""
    text = (PROFILES / f"{pid}.toml").read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the mutation no longer matches {pid}.toml"
    mutated = tmp_path / f"{pid}.toml"
    mutated.write_text(text.replace(old, new), encoding="utf-8")
    image: Image = IMAGES[key]
    if pid == "chint-dtsu666":
        # voltage_l2 owns 0x2008 in the profile: drop it so the mutated file still loads
        mutated.write_text(mutated.read_text(encoding="utf-8").replace(
            '    { quantity = "voltage_l2", address = 0x2008, scale = 0.1, unit = "V", '
            'range = [0, 500] },\n', "", 1), encoding="utf-8")
        image = Image(image.profile, image.variant, image.first_register,
                      {q: e for q, e in image.entries.items() if q != "voltage_l2"},
                      image.unverified)
    variant = load_profile(mutated).variant(image.variant)
    problems = golden_mismatches(variant, image)
    reported = {line.split(":", 1)[0] for line in problems}
    assert wrong <= reported, problems
