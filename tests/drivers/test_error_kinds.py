"""Each failure is named for what it is on its transport (what `watch` and the health document
show): Modbus TCP has no CRC, so a late answer there is a timeout and a garbled one a bad frame;
connection failures say refused, reset or port missing."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from drivers.errors import ConnectError, ModbusError, ModbusFrameError, ModbusTimeout
from drivers.pymodbus_adapter import ModbusConnection
from drivers.transport import SerialEndpoint, TcpEndpoint


@pytest.fixture
def sim(modbus_simulator):  # type: ignore[no-untyped-def]
    return modbus_simulator(["1=eastron-sdm120"], tcp=True, rtu=True, wire_timing=False,
                            check_line=False)


def _read(conn: ModbusConnection) -> ModbusError | None:
    try:
        conn.read_registers(1, 4, 0, 2)
    except ModbusError as exc:
        return exc
    return None


def test_late_tcp_answers_are_timeouts_not_crc_errors(sim) -> None:  # type: ignore[no-untyped-def]
    """Answers 0.3 s late on a 0.2 s timeout: each request meets the previous one's answer."""
    with ModbusConnection(sim.tcp_endpoint, timeout=0.2) as conn:
        sim.inject(1, "late:delay=0.3,count=4")
        errors = [_read(conn) for _ in range(4)]
    failed = [e for e in errors if e is not None]
    assert failed, errors
    assert not any(isinstance(e, ModbusFrameError) for e in failed), failed
    assert all(isinstance(e, ModbusTimeout) and e.kind == "timeout" for e in failed), failed
    # when the stale answer lands inside a request's wait it is named (timing decides which do)
    assert all(str(e).endswith("within 0.2 s") or "a late answer from unit 1" in str(e)
               for e in failed), failed


def test_a_garbled_answer_is_a_bad_frame_on_tcp_and_a_crc_error_on_rtu(sim) -> None:  # type: ignore[no-untyped-def]
    kinds = {}
    for name, endpoint in (("tcp", sim.tcp_endpoint), ("rtu", sim.rtu_endpoint)):
        with ModbusConnection(endpoint, timeout=0.3) as conn:
            sim.inject(1, "bad_crc:count=1")
            error = _read(conn)
            assert isinstance(error, ModbusFrameError), (name, error)
            kinds[name] = (error.kind, error.reason)
            assert _read(conn) is None  # and it recovers
    assert kinds == {"tcp": ("bad_frame", "bad_frame"), "rtu": ("crc_error", "crc_error")}


def test_refused_and_reset_connections_say_so() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: refused
        with pytest.raises(ConnectError) as refused:
            ModbusConnection(TcpEndpoint("127.0.0.1", s.getsockname()[1]), timeout=0.5).open()
    assert refused.value.kind == "refused" and refused.value.reason == "connect_error"

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def reset_each() -> None:  # accept, read the request, answer with a TCP RST
        while True:
            try:
                peer, _ = server.accept()
            except OSError:
                return
            peer.recv(256)
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.close()

    threading.Thread(target=reset_each, daemon=True).start()
    try:
        conn = ModbusConnection(TcpEndpoint("127.0.0.1", server.getsockname()[1]), timeout=0.5)
        conn.open()
        error = _read(conn)
        conn.close()
    finally:
        server.close()
    assert isinstance(error, ConnectError), error
    assert error.kind in ("reset", "closed"), (error.kind, error)


def test_a_missing_serial_port_is_port_missing() -> None:
    with pytest.raises(ConnectError) as info:
        ModbusConnection(SerialEndpoint("/dev/ttyUSB97")).open()
    assert info.value.kind == "port_missing"
