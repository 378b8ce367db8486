"""(c) The simulated DL/T 645 and CJ/T 188 lines answer the published request frames (sent byte for
byte on a pseudo-terminal) with replies that decode to the meter state the test set.

The simulator encodes with the same drivers modules the reader decodes with, so this checks the
line behaviour (addressing, preambles, timing, DI order, error replies), not the codec: the codec's
independent check is tests/drivers/test_published_frames.py (a).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from drivers.byte_line import ByteLine
from drivers.cjt188 import frame as cjt
from drivers.cjt188.connection import Cjt188Connection
from drivers.di_profiles import DiVariant, resolve_di_variant
from drivers.dlt645 import frame as dlt
from drivers.dlt645.connection import Dlt645Connection
from drivers.errors import ErrorReply
from drivers.profiles import SerialSettings
from drivers.reply_match import Expect
from simulators.di_meter import DiMeter, DiMeterOptions
from simulators.frame_sim import FrameSimulator
from tests.drivers.published import frames, ids, wire

GENERIC = resolve_di_variant("dlt645-2007", "dlt645")
LINE = SerialSettings(2400, "E", 1, 8)  # one line: the Acrel ships at 9600, set to the line's 2400
ACREL = resolve_di_variant("acrel-apm830", "dlt645")
STATE = {"voltage_l1": 229.7, "voltage_l2": 231.2, "voltage_l3": 0.0, "current_l1": -4.321,
         "current_l2": 0.188, "current_l3": 12.5, "energy_active_import": 1206.42,
         "energy_active_total": -75.02, "power_active": -251.2, "power_reactive": 433.1,
         "power_apparent": 500.6, "power_factor": 0.501, "frequency": 50.03}


def _pinned(variant: DiVariant, address: str, **options: Any) -> DiMeter:
    meter = DiMeter(variant, address, options=DiMeterOptions(**options))
    for p in variant.points:
        if p.quantity in STATE:
            meter.set(p.quantity, STATE[p.quantity])
    return meter


def _reads(protocol: str) -> list[dict[str, Any]]:
    return [f for f in frames(protocol, "request") if f["control"] in ("0x11", "0x01")]


@pytest.fixture(scope="module")
def dlt_line() -> Iterator[tuple[FrameSimulator, Dlt645Connection]]:
    """Every published addressed request's meter on one line (each answers its own address only);
    varying preambles, stray bytes and trailing garbage around the answers."""
    addresses = sorted({f["address"] for f in _reads("dlt645") if "AA" not in f["address"]})
    meters = []
    for i, a in enumerate(addresses):
        variant = ACREL if i % 2 else GENERIC
        meters.append(_pinned(variant, a, preamble_varies=True, stray=b"\x00" * (i % 3),
                              trailing=b"\x55" * (i % 2), line=LINE))
    sim = FrameSimulator("dlt645", meters)
    sim.add_pty()
    with sim, Dlt645Connection(sim.pty_endpoint, timeout=1.5) as conn:
        yield sim, conn


@pytest.mark.parametrize("frame", [f for f in _reads("dlt645") if "AA" not in f["address"]],
                         ids=ids([f for f in _reads("dlt645") if "AA" not in f["address"]]))
def test_simulator_answers_each_published_dlt645_request(
        dlt_line: tuple[FrameSimulator, Dlt645Connection], frame: dict[str, Any]) -> None:
    sim, conn = dlt_line
    meter = sim.meter(frame["address"])
    di = int(frame["di"], 16)
    address = dlt.address_bytes(frame["address"])
    expect = Expect("DL/T 645", address, dlt.READ, (dlt.di_bytes(di),))
    points = [p for p in meter.variant.points if p.di == di]
    if not points:  # an identifier this meter does not have: the error reply "no requested data"
        with pytest.raises(ErrorReply) as err:
            conn.ask(wire(frame), expect)
        assert err.value.no_data and err.value.error_byte == 0x02
        return
    reply = conn.ask(wire(frame), expect)
    assert reply.address_text == frame["address"]
    for p in points:
        assert p.decode(reply.data[4:])[0] == pytest.approx(STATE.get(p.quantity, 0.0), abs=1e-6)


def test_simulator_answers_the_published_wildcard_data_request_with_one_meter_on_the_line() -> None:
    frame = next(f for f in _reads("dlt645") if f["address"] == "AAAAAAAAAAAA")
    sim = FrameSimulator("dlt645", [_pinned(GENERIC, "000012345678")])
    sim.add_pty()
    with sim, ByteLine(sim.pty_endpoint, timeout=1.5) as line:
        conn = Dlt645Connection(sim.pty_endpoint)
        conn.line = line
        reply = conn.ask(wire(frame), Expect("DL/T 645", None, dlt.READ, (dlt.di_bytes(0x02010100),)))
        assert reply.address_text == "000012345678"
        assert GENERIC.point("voltage_l1").decode(reply.data[4:])[0] == pytest.approx(229.7)
        assert conn.read_address() == "000012345678"


def test_read_address_with_two_meters_collides() -> None:
    """Why `scan` cannot search a bus by wildcard: two meters answer at once and garble the line."""
    sim = FrameSimulator("dlt645", [_pinned(GENERIC, "000000000001"), _pinned(GENERIC, "000000000002")])
    sim.add_pty()
    with sim, Dlt645Connection(sim.pty_endpoint, timeout=1.0) as conn:
        with pytest.raises(Exception) as err:
            conn.read_address()
        assert getattr(err.value, "reason", "") == "crc_error"


# -- CJ/T 188 -------------------------------------------------------------------------------------

def test_simulator_answers_each_published_cjt188_read_request() -> None:
    water = resolve_di_variant("cjt188-water", "cjt188")
    heat = resolve_di_variant("cjt188-heat:unit_before_value", "cjt188")
    reads = _reads("cjt188")
    meters = {}
    for f in reads:
        variant = heat if f["meter_type"] == "20" else water
        m = DiMeter(variant, f["address"], options=DiMeterOptions(preamble_varies=True))
        m.set("valve_state", 1)
        m.set("battery_low", 1)
        if variant is water:
            m.set("water_volume", 556677.0)
        else:
            m.set("heat_energy", 20.0)  # kWh
            m.set("temp_supply", 25.35)
        meters[f["address"]] = m
    sim = FrameSimulator("cjt188", meters.values())
    sim.add_pty()
    with sim, Cjt188Connection(sim.pty_endpoint, timeout=1.5) as conn:
        for f in reads:
            m = meters[f["address"]]
            t = int(f["meter_type"], 16)
            expect = Expect("CJ/T 188", cjt.address_bytes(f["address"]), cjt.READ,
                            cjt.di_echoes(0x901F), t)
            reply = conn.ask(wire(f), expect)
            assert reply.meter_type == t
            asked = wire(f).lstrip(b"\xfe")[11:14]
            assert reply.data[:3] == asked, "DI in the order asked, and SER echoed"
            answer = reply.data[3:]
            v = m.variant
            assert v.point("valve_state").decode(answer)[0] == 1
            assert v.point("battery_low").decode(answer)[0] == 1
            if v is water:
                assert v.point("water_volume").decode(answer)[0] == pytest.approx(556677.0)
            else:
                assert v.point("heat_energy").decode(answer)[0] == pytest.approx(20.0)
                assert v.point("temp_supply").decode(answer)[0] == pytest.approx(25.35)
        # a meter of another type at the same address stays silent
        f = next(x for x in reads if x["meter_type"] == "10")
        with pytest.raises(Exception) as err:
            conn.read_di(f["address"], 0x901F, meter_type=0x20)
        assert getattr(err.value, "reason", "") == "timeout"


def test_simulator_answers_the_published_cjt188_read_address_request() -> None:
    frame = next(f for f in frames("cjt188", "request") if f["control"] == "0x03")
    water = resolve_di_variant("cjt188-water", "cjt188")
    sim = FrameSimulator("cjt188", [DiMeter(water, "00000805000001")])
    sim.add_pty()
    with sim, Cjt188Connection(sim.pty_endpoint, timeout=1.5) as conn:
        reply = conn.ask(wire(frame), Expect("CJ/T 188", None, cjt.READ_ADDRESS,
                                             cjt.di_echoes(cjt.DI_ADDRESS)))
        assert reply.address_text == "00000805000001" and reply.meter_type == 0x10
