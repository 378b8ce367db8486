"""Modbus TCP, RTU on a pseudo-terminal and RTU over TCP: round trips, one bus with several meters,
line settings that must match, and wire timing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial

from core.reading import Quality
from drivers.errors import ModbusExceptionResponse, ModbusTimeout
from drivers.profiles import SerialSettings
from drivers.pymodbus_adapter import ModbusConnection
from drivers.reader import MeterReader
from drivers.transport import SerialEndpoint
from drivers.wiretime import bits_per_char, read_airtime
from simulators.bus import Simulator
from simulators.meter import SimulatedMeter
from simulators.pdu import crc_ok, read_request, rtu_frame

MeterFactory = Callable[..., SimulatedMeter]
SimFactory = Callable[..., Simulator]


def _check_all_ok(conn: ModbusConnection, meter: SimulatedMeter) -> None:
    readings = MeterReader(conn, meter.variant, meter.unit).read()
    truth = meter.true_values()
    for r in readings:
        assert r.quality is Quality.OK and r.value == truth[r.quantity], r


def test_tcp_serves_many_units_and_answers_exception_11_for_others(
    simulated_meter: MeterFactory, modbus_simulator: SimFactory
) -> None:
    meters = [simulated_meter("chint-dtsu666", 1), simulated_meter("tuf-2000m", 2),
              simulated_meter("eastron-sdm630", 7)]
    sim = modbus_simulator(meters)
    assert sim.tcp_endpoint.port > 0
    with ModbusConnection(sim.tcp_endpoint, timeout=0.5) as conn:
        for m in meters:
            _check_all_ok(conn, m)
        with pytest.raises(ModbusExceptionResponse) as info:
            conn.read_registers(9, 3, 0, 2)
        assert info.value.code == 11


def test_tcp_can_stay_silent_for_unknown_units(simulated_meter: MeterFactory) -> None:
    sim = Simulator([simulated_meter()])
    sim.add_tcp(unknown_unit="silent")
    with sim, ModbusConnection(sim.tcp_endpoint, timeout=0.2) as conn:
        with pytest.raises(ModbusTimeout):
            conn.read_registers(9, 3, 0, 2)
        assert conn.read_registers(1, 3, 6, 1) == [1]  # ct_ratio


@pytest.mark.rtu
def test_rtu_bus_on_one_pty_only_the_addressed_unit_answers(
    simulated_meter: MeterFactory, modbus_simulator: SimFactory
) -> None:
    line = SerialSettings(9600, "N", 1, 8)
    meters = [simulated_meter("chint-dtsu666:huawei", 1), simulated_meter("tuf-2000m", 2),
              simulated_meter("eastron-sdm630", 3)]
    sim = modbus_simulator(meters, tcp=False, rtu=True, wire_timing=False)
    ep = sim.rtu_endpoint
    assert ep.device.startswith("/dev/pts/") and (ep.baud, ep.parity, ep.stopbits) == (9600, "N", 1)
    with ModbusConnection(ep, timeout=0.3) as conn:
        for m in meters:
            assert m.line == line
            _check_all_ok(conn, m)
        with pytest.raises(ModbusTimeout):
            conn.read_registers(9, 3, 0, 2)  # nobody at 9: silence, as on a real bus
    # raw bytes: one request, exactly one answer frame, from the addressed unit
    with serial.Serial(ep.device, 9600, timeout=0.3) as port:
        port.write(rtu_frame(2, read_request(3, 0, 2)))
        answer = port.read(64)
    assert answer[:3] == bytes([2, 3, 4]) and len(answer) == 9 and crc_ok(answer)


@pytest.mark.rtu
def test_client_reopening_the_pty_keeps_working(
    simulated_meter: MeterFactory, modbus_simulator: SimFactory
) -> None:
    sim = modbus_simulator([simulated_meter()], tcp=False, rtu=True, wire_timing=False)
    for _ in range(3):
        with ModbusConnection(sim.rtu_endpoint, timeout=0.3) as conn:
            assert conn.read_registers(1, 3, 6, 1) == [1]


@pytest.mark.rtu
@pytest.mark.parametrize(
    ("baud", "parity", "stopbits", "strict", "answers"),
    [
        (9600, "N", 2, False, True),  # the DTSU666's own 8N2
        (9600, "N", 1, False, True),  # a UART checks one stop bit: 8N1 and 8N2 talk
        (9600, "N", 1, True, False),  # unless stop bits are compared strictly
        (19200, "N", 2, False, False),  # wrong speed: the meter sees garbage
    ],
)
def test_line_settings_must_match(simulated_meter: MeterFactory, modbus_simulator: SimFactory,
                                  baud: int, parity: str, stopbits: int, strict: bool,
                                  answers: bool) -> None:
    sim = modbus_simulator([simulated_meter()], tcp=False, rtu=True, wire_timing=False,
                           strict_stopbits=strict)
    ep = SerialEndpoint(sim.rtu_endpoint.device, baud=baud, parity=parity, stopbits=stopbits)
    with ModbusConnection(ep, timeout=0.2) as conn:
        if answers:
            assert conn.read_registers(1, 3, 6, 1) == [1]
        else:
            with pytest.raises(ModbusTimeout):
                conn.read_registers(1, 3, 6, 1)


@pytest.mark.rtu
def test_even_parity_meter_on_a_pty_is_opened_with_parity_n(
    simulated_meter: MeterFactory, modbus_simulator: SimFactory
) -> None:
    """A pty carries no parity (the kernel forces 8N): the Kamstrup's 19200 8E1 line is served
    at 19200 and the endpoint says parity N."""
    meter = simulated_meter("kamstrup-multical")
    assert (meter.line.baud, meter.line.parity) == (19200, "E")
    sim = modbus_simulator([meter], tcp=False, rtu=True, wire_timing=False)
    assert (sim.rtu_endpoint.baud, sim.rtu_endpoint.parity) == (19200, "N")
    with ModbusConnection(sim.rtu_endpoint, timeout=0.3) as conn:
        _check_all_ok(conn, meter)


@pytest.mark.rtu
def test_meters_at_different_speeds_share_a_pty_like_a_scan_finds_them(
    simulated_meter: MeterFactory, modbus_simulator: SimFactory
) -> None:
    sdm120, dtsu = simulated_meter("eastron-sdm120", 1), simulated_meter("chint-dtsu666", 2)
    sim = modbus_simulator([sdm120, dtsu], tcp=False, rtu=True, wire_timing=False)
    found = {}
    for baud in (2400, 9600):
        with ModbusConnection(SerialEndpoint(sim.rtu_endpoint.device, baud=baud, stopbits=1),
                              timeout=0.15) as conn:
            for unit in (1, 2):
                try:
                    conn.read_registers(unit, 4 if unit == 1 else 3, 0, 2)
                    found[unit] = baud
                except ModbusTimeout:
                    pass
    assert found == {1: 2400, 2: 9600}


@pytest.mark.rtu
def test_pty_symlink_and_cleanup(simulated_meter: MeterFactory, tmp_path: Path) -> None:
    link = tmp_path / "ttySIM0"
    sim = Simulator([simulated_meter()])
    sim.add_rtu(link=str(link), wire_timing=False)
    with sim:
        assert sim.rtu_endpoint.device == str(link) and os.path.realpath(link).startswith("/dev/pts/")
        with ModbusConnection(sim.rtu_endpoint, timeout=0.3) as conn:
            assert conn.read_registers(1, 3, 6, 1) == [1]
    assert not link.exists()


@pytest.mark.rtu
def test_garbage_then_silence_then_a_request_is_answered(
    simulated_meter: MeterFactory, modbus_simulator: SimFactory
) -> None:
    sim = modbus_simulator([simulated_meter()], tcp=False, rtu=True, wire_timing=False)
    with serial.Serial(sim.rtu_endpoint.device, 9600, stopbits=2, timeout=0.2) as port:
        port.write(b"\x01\x03\x55\xaa\x00")  # noise: no valid frame
        assert port.read(16) == b""
        port.write(rtu_frame(1, read_request(3, 6, 1)))
        assert port.read(16) == rtu_frame(1, bytes([3, 2, 0, 1]))
        port.write(rtu_frame(1, bytes([0x2B, 0x0E, 1, 0])))  # unknown function: exception 1
        assert port.read(16) == rtu_frame(1, bytes([0xAB, 1]))


def test_rtu_over_tcp_round_trip(simulated_meter: MeterFactory,
                                 modbus_simulator: SimFactory) -> None:
    meters = [simulated_meter("chint-dtsu666", 1), simulated_meter("tuf-2000m", 2)]
    sim = modbus_simulator(meters, tcp=False, rtu_over_tcp=True)
    with ModbusConnection(sim.rtu_over_tcp_endpoint, timeout=0.5) as conn:
        for m in meters:
            _check_all_ok(conn, m)


@pytest.mark.rtu
def test_wire_timing_matches_read_airtime(simulated_meter: MeterFactory,
                                          modbus_simulator: SimFactory) -> None:
    """A 60-register read at 9600 baud takes what the real line would take: request, gaps,
    turnaround, answer (drivers.wiretime.read_airtime)."""
    meter = simulated_meter("chint-dtsu666")  # 9600 8N2, turnaround 30 ms
    sim = modbus_simulator([meter], tcp=False, rtu=True)
    bits = bits_per_char(8, "N", 2)
    with ModbusConnection(sim.rtu_endpoint, timeout=1.0) as conn:
        for count in (60, 2):
            expected = read_airtime(count, 9600, bits, meter.turnaround_s)
            runs = []
            for _ in range(4):
                t0 = time.perf_counter()
                conn.read_registers(1, 3, 0x2000, count)
                runs.append(time.perf_counter() - t0)
            print(f"{count} registers at 9600 8N2: airtime {expected * 1000:.1f} ms, measured "
                  f"min {min(runs) * 1000:.1f} ms (runs {', '.join(f'{r * 1000:.1f}' for r in runs)})")
            # pymodbus polls the port every 4 characters and waits for the size to settle: a few
            # ms on top, which matters only for short frames
            assert expected * 0.98 <= min(runs) <= max(expected * 1.15, expected + 0.012)


@pytest.mark.rtu
def test_broadcast_write_reaches_every_meter_and_nobody_answers(
    simulated_meter: MeterFactory, modbus_simulator: SimFactory
) -> None:
    meters = [simulated_meter("chint-dtsu666", u, writable=True) for u in (1, 2)]
    sim = modbus_simulator(meters, tcp=False, rtu=True, wire_timing=False)
    with serial.Serial(sim.rtu_endpoint.device, 9600, stopbits=2, timeout=0.2) as port:
        port.write(rtu_frame(0, bytes.fromhex("0600060032")))  # CT ratio 50 to everyone
        assert port.read(16) == b""
    assert [m.true_values()["ct_ratio"] for m in meters] == [50.0, 50.0]
