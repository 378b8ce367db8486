"""Contract of drivers/pymodbus_adapter.py, the only code that touches pymodbus's client API.

Run against the real simulators over every transport, so a pymodbus upgrade that changes behaviour
fails here, in one place: registers, exception codes, timeouts, CRC errors, late answers, connection
errors with the port and the fix in the message.
"""

from __future__ import annotations

import socket
import time

import pytest
import serial

from drivers.errors import ConnectError, ModbusExceptionResponse, ModbusFrameError, ModbusTimeout
from drivers.pymodbus_adapter import ModbusConnection
from drivers.transport import SerialEndpoint, TcpEndpoint

TRANSPORTS = ["tcp", "rtu", "rtu-over-tcp"]


@pytest.fixture
def bus(modbus_simulator):  # type: ignore[no-untyped-def]
    """A DTSU666 (FC3 and FC4 from one table) at unit 1 and an SDM630 at unit 2, on all transports."""
    return modbus_simulator(["1=chint-dtsu666,both_fc=1", "2=eastron-sdm630,writable=1"],
                            tcp=True, rtu=True, rtu_over_tcp=True, wire_timing=False,
                            check_line=False)


def _endpoint(sim, transport: str):  # type: ignore[no-untyped-def]
    return {"tcp": sim.tcp_endpoint, "rtu": sim.rtu_endpoint,
            "rtu-over-tcp": sim.rtu_over_tcp_endpoint}[transport]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reads_holding_and_input_registers(bus, transport: str) -> None:  # type: ignore[no-untyped-def]
    with ModbusConnection(_endpoint(bus, transport), timeout=1.0) as conn:
        holding = conn.read_registers(1, 3, 0x2000, 0x46)
        assert holding == bus.meter(1).read(3, 0x2000, 0x46)
        assert conn.read_registers(1, 4, 0x2000, 2) == holding[:2]
        inputs = conn.read_registers(2, 4, 0, 80)
        assert inputs == bus.meter(2).read(4, 0, 80)
        assert any(inputs)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_exception_codes_are_mapped(bus, transport: str) -> None:  # type: ignore[no-untyped-def]
    with ModbusConnection(_endpoint(bus, transport), timeout=1.0) as conn:
        with pytest.raises(ValueError, match=r"1\.\.125 registers"):
            conn.read_registers(1, 3, 0, 126)  # refused before it reaches the wire
        bus.inject(2, "exception:code=6,count=1")
        with pytest.raises(ModbusExceptionResponse) as info:
            conn.read_registers(2, 4, 0, 2)
        assert info.value.code == 6 and "busy" in str(info.value)
        bus.inject(2, "exception:code=2,count=1")
        with pytest.raises(ModbusExceptionResponse) as info:
            conn.read_registers(2, 4, 0, 2)
        assert info.value.code == 2 and info.value.name == "illegal data address"
        assert conn.read_registers(2, 4, 0, 2) == bus.meter(2).read(4, 0, 2)  # and recovers


@pytest.mark.parametrize("transport", ["rtu", "rtu-over-tcp"])
def test_silence_is_a_timeout_naming_the_unit(bus, transport: str) -> None:  # type: ignore[no-untyped-def]
    with ModbusConnection(_endpoint(bus, transport), timeout=0.2) as conn:
        bus.inject(1, "no_answer")
        start = time.monotonic()
        with pytest.raises(ModbusTimeout, match="no answer from unit 1"):
            conn.read_registers(1, 3, 0x2000, 2)
        assert time.monotonic() - start < 1.0  # one timeout, no hidden retries
        assert conn.read_registers(2, 4, 0, 2)  # the bus still works for the others


@pytest.mark.parametrize("transport", ["rtu", "rtu-over-tcp"])
def test_bad_crc_is_a_frame_error(bus, transport: str) -> None:  # type: ignore[no-untyped-def]
    with ModbusConnection(_endpoint(bus, transport), timeout=0.3) as conn:
        bus.inject(1, "bad_crc:count=1")
        with pytest.raises(ModbusFrameError, match="no valid answer"):
            conn.read_registers(1, 3, 0x2000, 2)
        assert conn.read_registers(1, 3, 0x2000, 2) == bus.meter(1).read(3, 0x2000, 2)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_late_answer_is_never_taken_for_the_next_one(bus, transport: str) -> None:  # type: ignore[no-untyped-def]
    """A reply arriving after the timeout must not be matched to the following request."""
    with ModbusConnection(_endpoint(bus, transport), timeout=0.2) as conn:
        bus.inject(1, "late:delay=0.35,count=1")
        with pytest.raises((ModbusTimeout, ModbusFrameError)):
            conn.read_registers(1, 3, 0x2000, 2)  # voltage Uab
        time.sleep(0.3)  # the late reply lands now, before the next request
        expected = bus.meter(1).read(3, 0x2044, 2)  # frequency: a different value
        assert conn.read_registers(1, 3, 0x2044, 2) == expected


def test_tcp_unit_not_on_the_gateway(bus) -> None:  # type: ignore[no-untyped-def]
    with ModbusConnection(bus.tcp_endpoint, timeout=0.3) as conn, \
            pytest.raises((ModbusExceptionResponse, ModbusTimeout)):
        conn.read_registers(9, 3, 0, 2)


def test_write_register(bus) -> None:  # type: ignore[no-untyped-def]
    with ModbusConnection(bus.tcp_endpoint) as conn:
        with pytest.raises(ModbusExceptionResponse):
            conn.write_register(1, 0x0006, 40)  # the DTSU666 here is read-only
        conn.write_registers(2, 0x9000, [1, 2])
        assert conn.read_registers(2, 3, 0x9000, 2) == [1, 2]


def test_refused_tcp_connection_names_host_and_reason() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        with pytest.raises(ConnectError, match=f"127.0.0.1:{port}.*refused"):
            ModbusConnection(TcpEndpoint("127.0.0.1", port), timeout=0.5).open()


def test_missing_serial_port_names_port_and_fix() -> None:
    with pytest.raises(ConnectError, match=r"/dev/ttyUSB97 does not exist.*ls /dev/ttyUSB\*"):
        ModbusConnection(SerialEndpoint("/dev/ttyUSB97")).open()


def test_busy_serial_port_names_port_and_fix(bus) -> None:  # type: ignore[no-untyped-def]
    path = bus.rtu_endpoint.device
    holder = serial.Serial(path, exclusive=True)
    try:
        with pytest.raises(ConnectError, match=rf"{path} is busy.*fuser {path}"):
            ModbusConnection(SerialEndpoint(path)).open()
    finally:
        holder.close()


def test_refused_line_settings_name_port_and_settings(bus) -> None:  # type: ignore[no-untyped-def]
    path = bus.rtu_endpoint.device  # a pseudo-terminal cannot do parity, like some USB adapters
    with pytest.raises(ConnectError, match=rf"{path} refuses the line settings 9600 8E1"):
        ModbusConnection(SerialEndpoint(path, parity="E")).open()
