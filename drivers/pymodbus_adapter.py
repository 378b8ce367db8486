"""The one place that talks to pymodbus's client API.

Everything else uses ModbusConnection: plain register reads and writes that raise drivers.errors
exceptions. A pymodbus upgrade can break only this file; tests/drivers/test_pymodbus_adapter.py is
its contract.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

import serial
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from drivers.errors import (
    ConnectError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusFrameError,
    ModbusTimeout,
)
from drivers.serial_port import check_serial_port, os_error_kind
from drivers.transport import Endpoint, RtuOverTcpEndpoint, SerialEndpoint, TcpEndpoint

# We report every failure ourselves, with context; pymodbus's own log lines would only repeat them.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class ModbusConnection:
    """A Modbus master on one endpoint. Not thread-safe: one bus, one caller at a time."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 1.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._rx = bytearray()  # bytes seen since the last request, to tell noise from silence
        self.stray_bytes = 0  # late or unsolicited bytes dropped before a request (TCP sockets)
        self._sent_tid: bytes | None = None  # Modbus TCP: the transaction id of the last request
        self._client = self._make_client(endpoint, timeout)

    def _make_client(self, ep: Endpoint, timeout: float) -> Any:
        common: dict[str, Any] = {"timeout": timeout, "retries": 0, "trace_packet": self._trace,
                                  "reconnect_delay": 0}
        if isinstance(ep, SerialEndpoint):
            return ModbusSerialClient(ep.device, framer=FramerType.RTU, baudrate=ep.baud,
                                      parity=ep.parity, stopbits=ep.stopbits,
                                      bytesize=ep.bytesize, **common)
        framer = FramerType.RTU if isinstance(ep, RtuOverTcpEndpoint) else FramerType.SOCKET
        return ModbusTcpClient(ep.host, port=ep.port, framer=framer, **common)

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self._rx.clear()
            self._sent_tid = bytes(data[:2]) if isinstance(self.endpoint, TcpEndpoint) else None
        else:
            self._rx += data
        return data

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the transport; raise ConnectError saying what is wrong and the usual fix."""
        if isinstance(self.endpoint, SerialEndpoint):
            check_serial_port(self.endpoint.device)
        if not self._client.connect():
            raise self._not_connected()

    def close(self) -> None:
        self._client.close()

    def interrupt(self) -> None:
        """Wake a request blocked in another thread, so a stop does not wait out a timeout."""
        sock = getattr(self._client, "socket", None)
        try:
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
            elif sock is not None:
                sock.cancel_read()
        except (OSError, AttributeError):
            pass  # already closed, or a port without cancel support: the timeout ends it

    def __enter__(self) -> ModbusConnection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------------------

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        """Read `count` registers with function 3 (holding) or 4 (input)."""
        if not 1 <= count <= 125:
            raise ValueError(f"count {count}: a read carries 1..125 registers")
        if function == 3:
            call = self._client.read_holding_registers
        elif function == 4:
            call = self._client.read_input_registers
        else:
            raise ValueError(f"function code {function}: registers are read with 3 or 4")
        response = self._execute(call, address, count=count, device_id=unit)
        registers = list(response.registers)
        if len(registers) != count:
            raise ModbusFrameError(f"asked unit {unit} for {count} registers at {address}, "
                                   f"got {len(registers)}")
        return registers

    def write_register(self, unit: int, address: int, value: int) -> None:
        self._execute(self._client.write_register, address, value, device_id=unit)

    def write_registers(self, unit: int, address: int, values: list[int]) -> None:
        self._execute(self._client.write_registers, address, values, device_id=unit)

    def _execute(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        self._rx.clear()
        if isinstance(self.endpoint, RtuOverTcpEndpoint | TcpEndpoint):
            self._drain_socket()
        try:
            response = call(*args, **kwargs)
        except ConnectionException as exc:
            raise self._not_connected(str(exc)) from None
        except ModbusException:
            raise self._no_valid_answer(kwargs.get("device_id")) from None
        except OSError as exc:
            raise ConnectError(_dropped(self.endpoint, exc), kind=os_error_kind(exc)) from None
        if response.isError():
            code = getattr(response, "exception_code", 0)
            raise ModbusExceptionResponse(code)
        return response

    def _drain_socket(self) -> None:
        """Drop bytes already waiting on a TCP socket before a request.

        They are a reply that arrived after the previous request timed out. RTU frames carry no
        transaction id, so it would be taken as the answer to this one (wrong values, not an error);
        on Modbus TCP its old transaction id would fail this request, which the device may well
        answer in time. pymodbus flushes a serial port before sending, but not a TCP socket.
        """
        sock = getattr(self._client, "socket", None)
        if sock is None:
            return
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            while chunk := sock.recv(4096):
                self.stray_bytes += len(chunk)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            pass  # a dead socket shows up as a connection error on the request itself
        finally:
            sock.settimeout(timeout)

    def _no_valid_answer(self, unit: object) -> ModbusError:
        """A request ended without a valid answer: silence, a late answer, or damaged bytes."""
        rx = bytes(self._rx)
        silence = ModbusTimeout(f"no answer from unit {unit} on {self.endpoint} within "
                                f"{self.timeout:g} s")
        if not rx:
            return silence
        shown = rx[:16].hex(" ")
        if isinstance(self.endpoint, TcpEndpoint):
            # Modbus TCP has no CRC; an answer carrying another transaction id is the late answer
            # to an earlier request that timed out: the device is slower than the timeout
            if len(rx) >= 7 and self._sent_tid is not None and rx[:2] != self._sent_tid:
                return ModbusTimeout(f"{silence}; a late answer from unit {rx[6]} to an earlier "
                                     "request came instead (it answers slower than the timeout)")
            return ModbusFrameError(f"unit {unit} sent {len(rx)} byte(s) that are not a valid "
                                    f"Modbus TCP answer (garbled or short): {shown}",
                                    reason="bad_frame")
        return ModbusFrameError(f"{len(rx)} byte(s) arrived from unit {unit} but no valid answer "
                                f"(CRC error, noise or a late reply): {shown}", rx)

    def _not_connected(self, detail: str = "") -> ConnectError:
        ep = self.endpoint
        if isinstance(ep, SerialEndpoint):
            try:
                check_serial_port(ep.device)
                # pymodbus hides why it failed: open with the same settings to find out
                serial.Serial(ep.device, baudrate=ep.baud, parity=ep.parity, stopbits=ep.stopbits,
                              bytesize=ep.bytesize, exclusive=True, timeout=0).close()
            except ConnectError as exc:
                return exc
            except Exception as exc:  # pyserial also raises termios.error, undocumented
                return ConnectError(
                    f"serial port {ep.device} refuses the line settings {ep.baud} "
                    f"{ep.bytesize}{ep.parity}{ep.stopbits}: {exc} (a pseudo-terminal or some "
                    "USB adapters cannot do parity: try --parity N)")
            return ConnectError(f"cannot open serial port {ep.device}: {detail or 'unknown error'}")
        assert isinstance(ep, TcpEndpoint | RtuOverTcpEndpoint)
        try:
            with socket.create_connection((ep.host, ep.port), timeout=self.timeout):
                pass
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            return ConnectError(
                f"cannot connect to {ep.host}:{ep.port}: {reason}; check the address, that the "
                "device is powered and on this network, and that nothing blocks the port",
                kind=os_error_kind(exc))
        # pymodbus's own text only repeats the address; say what happened
        during = " during a request" if detail else ""
        return ConnectError(f"{ep} dropped the connection{during} (closed by the device)",
                            kind="closed")


_DROPPED = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


def _dropped(endpoint: Endpoint, exc: OSError) -> str:
    """A failed request's OSError in words: a reset or a broken pipe is the peer dropping us."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in _DROPPED:
        return f"{endpoint} dropped the connection during a request ({reason})"
    return f"{endpoint}: {reason}"


__all__ = ["ModbusConnection", "ModbusError", "check_serial_port"]
