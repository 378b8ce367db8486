"""A byte line for the frame protocols (DL/T 645, CJ/T 188): a serial port, or a transparent
serial-to-Ethernet converter (raw bytes over TCP), with one request/answer exchange at a time.

An exchange discards whatever is waiting (a late answer to an earlier request), sends the request,
then reads until the protocol's matcher accepts an answer or the deadline passes. The matcher sees
every byte received so far: it skips preambles, noise and frames that are not the answer (another
meter's, our own echo) and decides at the deadline which error the silence or the noise was.

A pseudo-terminal cannot carry parity: some kernels refuse parity E/O on a pty, so a port that
refuses the parity is opened without it (noted in `parity_note`) — a real UART never refuses.
"""

from __future__ import annotations

import contextlib
import socket
import termios
import time
from typing import Protocol, TypeVar

import serial

from drivers.errors import ConnectError, ModbusError
from drivers.serial_port import check_serial_port, os_error_kind
from drivers.transport import RtuOverTcpEndpoint, SerialEndpoint

T_co = TypeVar("T_co", covariant=True)
LineEndpoint = SerialEndpoint | RtuOverTcpEndpoint
CHUNK = 256
POLL_S = 0.02  # a read returns after this long without a byte (the deadline is checked then)


class Matcher(Protocol[T_co]):
    def feed(self, received: bytes) -> T_co | None:
        """The answer if `received` holds it, None to keep listening; may raise a ModbusError
        (an error reply)."""
        ...

    def expired(self, received: bytes) -> ModbusError:
        """The error to raise when the deadline passes with `received` and no answer."""
        ...


class ByteLine:
    """Not thread-safe: one bus, one caller at a time (interrupt() may come from another thread)."""

    def __init__(self, endpoint: LineEndpoint, *, timeout: float = 1.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.parity_note = ""
        self._port: serial.Serial | None = None
        self._sock: socket.socket | None = None
        self.last_rx = b""  # what the last exchange received (for commissioning views)

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> None:
        ep = self.endpoint
        if isinstance(ep, SerialEndpoint):
            check_serial_port(ep.device)
            self._port = self._open_serial(ep)
            return
        try:
            self._sock = socket.create_connection((ep.host, ep.port), timeout=self.timeout)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {ep.host}:{ep.port}: {exc.strerror or exc}; "
                               "check the converter's address and that it passes raw bytes "
                               "(transparent mode)", kind=os_error_kind(exc)) from None

    def _open_serial(self, ep: SerialEndpoint) -> serial.Serial:
        try:
            return serial.Serial(ep.device, baudrate=ep.baud, parity=ep.parity,
                                 stopbits=ep.stopbits, bytesize=ep.bytesize, timeout=POLL_S,
                                 exclusive=True)
        except (serial.SerialException, termios.error, ValueError) as exc:
            if ep.parity == "N":
                raise ConnectError(f"cannot open serial port {ep.device}: {exc}") from None
            first = exc
        try:  # a pseudo-terminal has no parity to set
            port = serial.Serial(ep.device, baudrate=ep.baud, parity="N", stopbits=ep.stopbits,
                                 bytesize=ep.bytesize, timeout=POLL_S, exclusive=True)
        except (serial.SerialException, termios.error, ValueError):
            raise ConnectError(f"serial port {ep.device} refuses {ep}: {first}") from None
        self.parity_note = (f"{ep.device} refused parity {ep.parity} ({first}); opened without "
                            "parity (a pseudo-terminal carries none)")
        return port

    def close(self) -> None:
        port, self._port = self._port, None
        sock, self._sock = self._sock, None
        with contextlib.suppress(Exception):
            if port is not None:
                port.close()
        with contextlib.suppress(Exception):
            if sock is not None:
                sock.close()

    def interrupt(self) -> None:
        """Wake an exchange blocked in another thread (a stop)."""
        with contextlib.suppress(OSError, AttributeError):
            if self._sock is not None:
                self._sock.shutdown(socket.SHUT_RDWR)
            elif self._port is not None:
                self._port.cancel_read()

    def __enter__(self) -> ByteLine:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- exchanges ---------------------------------------------------------------------------------

    def exchange(self, request: bytes, matcher: Matcher[T_co], timeout: float | None = None) -> T_co:
        """Send `request`, return the matcher's answer; raise the matcher's error at the deadline,
        ConnectError if the line breaks."""
        self._discard()
        self._send(request)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        received = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.last_rx = bytes(received)
                raise matcher.expired(bytes(received))
            chunk = self._receive(left)
            if chunk:
                received += chunk
                answer = matcher.feed(bytes(received))
                if answer is not None:
                    self.last_rx = bytes(received)
                    return answer

    def _send(self, data: bytes) -> None:
        try:
            if self._port is not None:
                self._port.write(data)
            elif self._sock is not None:
                self._sock.sendall(data)
            else:
                raise ConnectError(f"{self.endpoint} is not open", kind="closed")
        except (OSError, serial.SerialException) as exc:
            raise ConnectError(f"{self.endpoint}: cannot send: {exc}", kind="closed") from None

    def _receive(self, wait: float) -> bytes:
        try:
            if self._port is not None:
                waiting = self._port.in_waiting
                return bytes(self._port.read(max(1, min(waiting, CHUNK))))
            if self._sock is not None:
                self._sock.settimeout(min(wait, POLL_S))
                try:
                    data = self._sock.recv(CHUNK)
                except TimeoutError:
                    return b""
                if not data:
                    raise ConnectError(f"{self.endpoint} closed the connection", kind="closed")
                return data
        except (OSError, serial.SerialException) as exc:
            raise ConnectError(f"{self.endpoint}: {exc}", kind="closed") from None
        raise ConnectError(f"{self.endpoint} is not open", kind="closed")

    def _discard(self) -> None:
        """Drop bytes that arrived since the last exchange (late answers, noise)."""
        with contextlib.suppress(OSError, serial.SerialException):
            if self._port is not None:
                self._port.reset_input_buffer()
            elif self._sock is not None:
                self._sock.setblocking(False)
                try:
                    while self._sock.recv(CHUNK):
                        pass
                except (BlockingIOError, OSError):
                    pass
                finally:
                    self._sock.setblocking(True)
