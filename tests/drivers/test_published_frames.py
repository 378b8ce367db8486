"""Golden tests: our DL/T 645 and CJ/T 188 codecs against frames others published (byte for byte,
each cited in tests/drivers/fixtures/published_frames/). Two independent checks:
(a) every published reply decodes, through our frame parser and the bundled profiles' formats, to
    the value the source states (or the fixture's hand-decoded value);
(b) our request encoder produces exactly each published request's bytes (the FE preamble aside:
    senders use 0..4).
The simulator's line behaviour against the published requests is tests/simulators/
test_frame_published.py; there the simulator encodes with these same modules, so only (a) is an
independent check of the codec.
"""

from __future__ import annotations

from typing import Any

import pytest

from drivers.bcd import decode_bcd
from drivers.cjt188 import frame as cjt
from drivers.di_profiles import DiPoint, resolve_di_variant
from drivers.dlt645 import frame as dlt
from tests.drivers.published import body, frames, ids, rejected, wire

GENERIC = resolve_di_variant("dlt645-2007", "dlt645")
ACREL = resolve_di_variant("acrel-apm830", "dlt645")
WATER = resolve_di_variant("cjt188-water", "cjt188")
HEAT_UNIT_FIRST = resolve_di_variant("cjt188-heat:unit_before_value", "cjt188")

# block replies: the fixture's value keys -> (quantity in the Acrel block profile)
BLOCK_KEYS = {"ua_v": "voltage_l1", "ub_v": "voltage_l2", "uc_v": "voltage_l3",
              "ia_a": "current_l1", "ib_a": "current_l2", "ic_a": "current_l3"}


def _points_for(di: int) -> list[DiPoint]:
    found = [p for p in GENERIC.points if p.di == di] or [p for p in ACREL.points if p.di == di]
    return found


def _dlt_replies() -> list[dict[str, Any]]:
    return [f for f in frames("dlt645", "reply") if f["control"] in ("0x91",)]


# -- DL/T 645 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("frame", _dlt_replies(), ids=ids(_dlt_replies()))
def test_dlt645_published_reply_decodes_to_the_stated_value(frame: dict[str, Any]) -> None:
    found, bad = dlt.frames_in(wire(frame))
    assert bad == 0 and len(found) == 1
    reply = found[0]
    assert reply.from_meter and reply.function == dlt.READ and not reply.is_error
    assert reply.address_text == frame["address"]
    di = int(frame["di"], 16)
    assert reply.data[:4] == dlt.di_bytes(di), "the DI echo"
    answer = reply.data[4:]
    if "values" in frame:
        for key, expected in frame["values"].items():
            point = ACREL.point(BLOCK_KEYS[key])
            assert point.di == di
            assert point.decode(answer)[0] == pytest.approx(expected), key
        return
    points = _points_for(di)
    if points:
        value = points[0].decode(answer)[0]
        factor = points[0].factor
        assert value is not None
        value /= factor  # the unit the source states (kW, kvar, kVA): ours is canonical W/var/VA
    else:  # 00000302, an energy item no bundled profile polls: XXXXXX.XX
        value = decode_bcd(answer[:4], 2)
    assert value == pytest.approx(frame["value"])


def test_the_stated_values_are_checked() -> None:
    """At least the frames whose source states the value are among the decoded ones."""
    stated = [f["name"] for f in _dlt_replies() if f.get("value_source") == "stated"]
    assert len(stated) >= 6


@pytest.mark.parametrize("frame", [f for f in frames("dlt645") if f["control"] == "0xD1"],
                         ids=ids([f for f in frames("dlt645") if f["control"] == "0xD1"]))
def test_dlt645_published_error_reply_gives_its_error_byte(frame: dict[str, Any]) -> None:
    found, bad = dlt.frames_in(wire(frame))
    assert bad == 0 and len(found) == 1
    reply = found[0]
    assert reply.is_error and reply.from_meter and reply.function == dlt.READ
    assert reply.data == bytes([int(frame["error_byte"], 16)])  # +0x33 removed


@pytest.mark.parametrize("frame", [f for f in frames("dlt645") if f["control"] == "0x93"],
                         ids=ids([f for f in frames("dlt645") if f["control"] == "0x93"]))
def test_dlt645_published_read_address_reply(frame: dict[str, Any]) -> None:
    (reply,), _ = dlt.frames_in(wire(frame))
    assert reply.address_text == frame["value"]
    assert reply.data == dlt.address_bytes(frame["value"])  # the data repeats the address


def _dlt_requests() -> list[dict[str, Any]]:
    return frames("dlt645", "request")


@pytest.mark.parametrize("frame", _dlt_requests(), ids=ids(_dlt_requests()))
def test_dlt645_our_encoder_writes_each_published_request(frame: dict[str, Any]) -> None:
    address = dlt.address_bytes(frame["address"])
    if frame["control"] == "0x13":
        ours = dlt.read_address_request()
    else:
        ours = dlt.read_request(address, int(frame["di"], 16))
    assert body(ours) == body(wire(frame))
    assert ours.startswith(dlt.PREAMBLE)


@pytest.mark.parametrize("frame", rejected("dlt645"), ids=ids(rejected("dlt645")))
def test_dlt645_published_frames_with_a_wrong_checksum_are_refused(frame: dict[str, Any]) -> None:
    found, bad = dlt.frames_in(wire(frame))
    assert found == [] and bad == 1


def test_dlt645_parser_skips_stray_bytes_and_trailing_garbage() -> None:
    reply = wire(next(f for f in _dlt_replies() if f["name"] == "loveriter_current_a_reply"))
    found, bad = dlt.frames_in(b"\x00\x68\x13" + reply + b"\x16\x68\x99")
    assert bad == 0 and [f.raw for f in found] == [body(reply)]


# -- CJ/T 188 -------------------------------------------------------------------------------------

def _cjt_water_replies() -> list[dict[str, Any]]:
    return [f for f in frames("cjt188", "reply") if f["control"] == "0x81" and f["meter_type"] == "10"]


@pytest.mark.parametrize("frame", _cjt_water_replies(), ids=ids(_cjt_water_replies()))
def test_cjt188_published_water_reply_decodes(frame: dict[str, Any]) -> None:
    found, bad = cjt.frames_in(wire(frame))
    assert bad == 0 and len(found) == 1
    reply = found[0]
    assert reply.meter_type == 0x10 and reply.address_text == frame["address"]
    assert reply.data[:2] in cjt.di_echoes(0x901F)
    assert reply.data[:2].hex(" ").upper() == frame["di_wire"]
    assert reply.data[2] == int(frame["ser"], 16)
    answer = reply.data[3:]
    values = frame["values"]
    assert WATER.point("water_volume").decode(answer)[0] == pytest.approx(values["current_total_m3"])
    st = bytes.fromhex(values["status_hex"])
    assert WATER.point("error_code").decode(answer)[0] == int.from_bytes(st, "little")


def test_cjt188_published_heat_reply_with_unit_codes_before_values() -> None:
    frame = next(f for f in frames("cjt188", "reply") if f["name"].startswith("jy_heat"))
    (reply,), _ = cjt.frames_in(wire(frame))
    assert reply.meter_type == 0x20
    answer = reply.data[3:]
    v = frame["values"]
    heat = HEAT_UNIT_FIRST
    assert heat.point("heat_energy").decode(answer)[0] == pytest.approx(v["current_heat_mwh"] * 1000)
    assert heat.point("heat_volume").decode(answer)[0] == pytest.approx(v["total_flow_m3"])
    assert heat.point("temp_supply").decode(answer)[0] == pytest.approx(v["supply_temp_c"])
    assert heat.point("temp_return").decode(answer)[0] == pytest.approx(v["return_temp_c"])
    assert heat.point("heat_power").decode(answer)[0] == 0.0


@pytest.mark.parametrize("frame", [f for f in frames("cjt188") if f["control"] == "0x83"],
                         ids=ids([f for f in frames("cjt188") if f["control"] == "0x83"]))
def test_cjt188_published_read_address_reply(frame: dict[str, Any]) -> None:
    (reply,), _ = cjt.frames_in(wire(frame))
    assert reply.address_text == frame["value"] and reply.function == cjt.READ_ADDRESS


def _cjt_requests() -> list[dict[str, Any]]:
    return frames("cjt188", "request")


@pytest.mark.parametrize("frame", _cjt_requests(), ids=ids(_cjt_requests()))
def test_cjt188_our_encoder_writes_each_published_request(frame: dict[str, Any]) -> None:
    ser = int(frame["ser"], 16)
    if frame["control"] == "0x03":
        ours = cjt.read_address_request(ser)
    else:
        high_first = frame["di_wire"] == "90 1F"
        ours = cjt.read_request(int(frame["meter_type"], 16), cjt.address_bytes(frame["address"]),
                                int(frame["di"], 16), ser, high_first=high_first)
    assert body(ours) == body(wire(frame))


@pytest.mark.parametrize("frame", rejected("cjt188"), ids=ids(rejected("cjt188")))
def test_cjt188_rejected_frames(frame: dict[str, Any]) -> None:
    found, bad = cjt.frames_in(wire(frame))
    if frame["checksum_ok"]:  # the non-BCD time: the frame is valid, its time field is not BCD
        (reply,) = found
        assert decode_bcd(reply.data[3 + 10 : 3 + 17]) is None
        assert WATER.point("water_volume").decode(reply.data[3:])[0] == pytest.approx(785634.12)
    else:
        assert found == [] and bad == 1
