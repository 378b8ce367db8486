"""Site config with DL/T 645 and CJ/T 188 buses: `protocol` on the bus, `address` (nameplate digits)
on the meter; each mistake reported at its key with a message that says what to write instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.di_profiles import DiVariant
from site_config import ConfigError, Problem, SiteConfig, bus_utilisation, load_site_config

HEAD = """
[site]
id = "p"
name = "Protocols"

[[buildings]]
id = "b1"
name = "B1"
category = "office"
floor_area_m2 = 1000
occupants = 50

[[buses]]
id = "dlt"
type = "serial"
protocol = "dlt645"
device = "/dev/ttyUSB0"
baud = 2400
parity = "E"

[[buses]]
id = "water"
type = "serial"
protocol = "cjt188"
device = "/dev/ttyUSB1"
baud = 2400
parity = "E"
"""

DLT_METER = """
[[meters]]
id = "e1"
profile = "dlt645-2007"
address = "{address}"
bus = "dlt"
building = "b1"
subitem = "lighting_sockets"
"""

WATER_METER = """
[[meters]]
id = "w1"
profile = "cjt188-water"
address = "{address}"
bus = "water"
building = "b1"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> SiteConfig:
    return load_site_config(_write(tmp_path, text))


def problems(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_site_config(_write(tmp_path, text))
    return info.value.problems


def messages(found: list[Problem]) -> str:
    return "\n".join(str(p) for p in found)


def test_dlt645_and_cjt188_meters_load_with_their_addresses(tmp_path: Path) -> None:
    text = (HEAD + DLT_METER.format(address="0000 1234 5678")
            + WATER_METER.format(address="12345678901234"))
    config = load(tmp_path, text)
    assert [config.protocol_of(b.id) for b in config.buses] == ["dlt645", "cjt188"]
    e1, w1 = config.meters
    assert (e1.address, e1.protocol, e1.station) == ("000012345678", "dlt645", "address 000012345678")
    assert (w1.address, w1.protocol) == ("12345678901234", "cjt188")
    assert isinstance(e1.variant, DiVariant) and isinstance(w1.variant, DiVariant)
    # the default poll reads every DI of the profile; each is one request on the wire
    assert set(e1.poll[0].quantities) >= {"energy_active_import", "voltage_l1", "frequency"}


def test_airtime_counts_one_request_per_data_identifier(tmp_path: Path) -> None:
    config = load(tmp_path, HEAD + DLT_METER.format(address="000012345678"))
    bus = config.bus("dlt")
    share, loads = bus_utilisation(bus, config.meters)
    (load_,) = loads
    assert load_.requests == len(config.meters[0].poll[0].points)  # a DI per request
    assert share is not None and share > 0
    # 2400 baud 8E1 is 11 bits a character: a DL/T 645 request is ≥ 16 bytes, so ≥ 73 ms each way
    assert load_.busy_s is not None and load_.busy_s > load_.requests * 2 * 16 * 11 / 2400


def test_a_modbus_unit_on_a_dlt645_bus_says_address(tmp_path: Path) -> None:
    text = HEAD + DLT_METER.format(address="000012345678").replace('address = "000012345678"',
                                                                   "unit = 3")
    found = messages(problems(tmp_path, text))
    assert "meters[0] (id 'e1').unit" in found
    assert "speaks DL/T 645-2007" in found and "12 digits from its nameplate" in found


def test_a_short_address_is_padded_as_meters_print_it(tmp_path: Path) -> None:
    """Nameplates often drop the leading zeros (e.g. '12345'); the address on the wire has them."""
    assert load(tmp_path, HEAD + DLT_METER.format(address="12345")).meters[0].address == "000000012345"


def test_a_missing_address_is_asked_for(tmp_path: Path) -> None:
    text = HEAD + WATER_METER.format(address="x").replace('address = "x"\n', "")
    found = messages(problems(tmp_path, text))
    assert "14-digit address printed on the meter's nameplate" in found


@pytest.mark.parametrize("address, expect", [
    ("0000123456789", "12"),        # too long
    ("00001234567A", "digit"),      # not BCD
])
def test_a_bad_dlt645_address_names_the_key(tmp_path: Path, address: str, expect: str) -> None:
    found = problems(tmp_path, HEAD + DLT_METER.format(address=address))
    assert [p.key for p in found] == ["meters[0] (id 'e1').address"]
    assert expect in found[0].message


def test_the_same_address_twice_on_a_line(tmp_path: Path) -> None:
    text = (HEAD + WATER_METER.format(address="12345678901234")
            + WATER_METER.format(address="12345678901234").replace('"w1"', '"w2"'))
    found = messages(problems(tmp_path, text))
    assert "address 12345678901234 on bus 'water' is already used by meters[0] (id 'w1')" in found


def test_a_modbus_profile_on_a_dlt645_bus_and_the_other_way(tmp_path: Path) -> None:
    text = HEAD + DLT_METER.format(address="000012345678").replace("dlt645-2007", "eastron-sdm630")
    found = messages(problems(tmp_path, text))
    assert "eastron-sdm630" in found and 'set protocol = "modbus" on the bus' in found
    modbus_bus = HEAD + '\n[[buses]]\nid = "mb"\ntype = "serial"\ndevice = "/dev/null"\n'
    text = modbus_bus + DLT_METER.format(address="000012345678").replace('bus = "dlt"', 'bus = "mb"')
    found = messages(problems(tmp_path, text))
    assert "bus 'mb' speaks Modbus" in found  # an address where a unit id belongs


def test_an_unknown_protocol_lists_the_known_ones(tmp_path: Path) -> None:
    found = messages(problems(tmp_path, HEAD.replace('protocol = "cjt188"', 'protocol = "mbus"')))
    assert "buses[1]" in found and "dlt645" in found and "cjt188" in found


def test_dlt645_on_a_modbus_tcp_bus_is_refused_with_the_way_out(tmp_path: Path) -> None:
    text = HEAD + ('\n[[buses]]\nid = "tcp"\ntype = "tcp"\nprotocol = "dlt645"\nhost = "10.0.0.5"\n'
                   'port = 502\n')
    found = messages(problems(tmp_path, text))
    assert "rtu-over-tcp" in found
