"""DiReader over simulated DL/T 645 / CJ/T 188 lines on a pty, with wire timing: values with their
quality, never an invented 0; each fault kind becomes the quality a technician expects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.cjt188.connection import Cjt188Connection
from drivers.di_profiles import resolve_di_variant
from drivers.di_reader import DiReader
from drivers.dlt645.connection import Dlt645Connection
from drivers.errors import ModbusTimeout
from drivers.reader import Quality
from simulators.di_meter import DiMeter, DiMeterOptions
from simulators.frame_sim import FrameSimulator

METER = resolve_di_variant("chint-dtsu666:single_phase", "dlt645")
A, B = "000012345678", "000012345679"


@pytest.fixture
def line() -> Iterator[tuple[FrameSimulator, Dlt645Connection]]:
    a = DiMeter(METER, A, options=DiMeterOptions(preamble_varies=True))
    b = DiMeter(METER, B, options=DiMeterOptions(preamble=0, stray=b"\x00\x68"))
    sim = FrameSimulator("dlt645", [a, b])
    sim.add_pty()
    with sim, Dlt645Connection(sim.pty_endpoint, timeout=0.8) as conn:
        yield sim, conn


def test_two_meters_on_one_line_each_answer_their_own_address(line) -> None:
    sim, conn = line
    sim.meter(A).set("voltage_l1", 231.4)
    sim.meter(B).set("voltage_l1", 219.9)
    sim.meter(B).set("current_l1", -5.5)
    a = {r.quantity: r for r in DiReader(conn, METER, A).read()}
    b = {r.quantity: r for r in DiReader(conn, METER, B).read()}
    assert a["voltage_l1"].value == pytest.approx(231.4) and a["voltage_l1"].quality is Quality.OK
    assert b["voltage_l1"].value == pytest.approx(219.9)
    assert b["current_l1"].value == pytest.approx(-5.5), "the sign bit"
    assert all(r.quality is Quality.OK for r in a.values())


def test_silent_meter_costs_one_timeout_and_the_rest_is_not_asked(line) -> None:
    sim, conn = line
    sim.inject(B, "no_answer")
    reader = DiReader(conn, METER, B)
    readings = reader.read()
    assert all(r.quality is Quality.COMM_ERROR and r.value is None for r in readings)
    assert "no answer" in readings[0].error and readings[1].error.startswith("not asked")
    assert reader.stats.failures == {"timeout": 1}


def test_bad_checksum_is_a_crc_error_and_the_next_identifier_is_still_read(line) -> None:
    sim, conn = line
    sim.inject(A, "bad_crc:count=1")
    readings = DiReader(conn, METER, A).read()
    assert readings[0].quality is Quality.COMM_ERROR and "checksum" in readings[0].error
    assert all(r.quality is Quality.OK for r in readings[1:])


def test_error_reply_is_invalid_with_its_meaning(line) -> None:
    sim, conn = line
    sim.inject(A, "exception:code=2,count=1")
    first = DiReader(conn, METER, A).read()[0]
    assert first.quality is Quality.INVALID and first.value is None
    assert "no requested data" in first.error


def test_a_value_the_meter_does_not_have_is_invalid_not_zero(line) -> None:
    sim, conn = line
    sim.meter(A).set("frequency", None)  # FF FF on the wire
    r = {x.quantity: x for x in DiReader(conn, METER, A).read()}
    assert r["frequency"].value is None and r["frequency"].quality is Quality.INVALID
    assert "not a BCD number" in r["frequency"].error


def test_a_late_answer_is_not_taken_for_the_next_request(line) -> None:
    sim, conn = line
    sim.meter(A).set("energy_active_total", 111.11)
    sim.meter(A).set("energy_active_import", 222.22)
    sim.inject(A, "late:delay=1.0,count=1")
    with pytest.raises(ModbusTimeout):
        conn.read_di(A, 0x00000000)
    # the late answer to 00000000 arrives while 00010000 is asked: its DI echo does not match
    assert METER.point("energy_active_import").decode(conn.read_di(A, 0x00010000))[0] == 222.22


def test_out_of_range_is_flagged_with_the_value_kept(line) -> None:
    sim, conn = line
    sim.meter(A).set("voltage_l1", 777.7)
    r = {x.quantity: x for x in DiReader(conn, METER, A).read()}
    assert r["voltage_l1"].quality is Quality.OUT_OF_RANGE and r["voltage_l1"].value == 777.7


def test_cjt188_status_points_and_unit_codes() -> None:
    water = resolve_di_variant("cjt188-water", "cjt188")
    heat = resolve_di_variant("cjt188-heat", "cjt188")
    w = DiMeter(water, "11223344556677")
    h = DiMeter(heat, "11223344556678", options=DiMeterOptions(units={"heat_energy": "GJ"}))
    w.set("water_volume", 123.45)
    w.set("valve_state", 1)
    h.set("heat_energy", 3600.0)  # kWh: sent as 12.96 GJ with unit code 11
    sim = FrameSimulator("cjt188", [w, h])
    sim.add_pty()
    with sim, Cjt188Connection(sim.pty_endpoint, timeout=1.0) as conn:
        rw = {r.quantity: r for r in DiReader(conn, water, w.address).read()}
        rh = {r.quantity: r for r in DiReader(conn, heat, h.address).read()}
        assert conn.line.last_rx.lstrip(b"\xfe")[1] == 0x20
    assert rw["water_volume"].value == pytest.approx(123.45)
    assert rw["valve_state"].value == 1 and rw["battery_low"].value == 0
    assert rh["heat_energy"].value == pytest.approx(3600.0)
    assert rh["heat_energy"].raw[-1] == 0x11, "sent in GJ"
