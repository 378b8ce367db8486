"""Opening a serial port and naming why it fails; socket errors as ConnectError kinds. Shared by the
Modbus adapter and the DL/T 645 and CJ/T 188 lines (pyserial only, no pymodbus)."""

from __future__ import annotations

import errno
import os
import socket

import serial

from drivers.errors import ConnectError


def os_error_kind(exc: OSError) -> str:
    """The ConnectError kind of a socket error."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "connect_timeout"
    return {errno.ECONNREFUSED: "refused", errno.ECONNRESET: "reset", errno.EPIPE: "closed",
            errno.ECONNABORTED: "reset", errno.EHOSTUNREACH: "unreachable",
            errno.ENETUNREACH: "unreachable", errno.ETIMEDOUT: "connect_timeout",
            errno.EACCES: "permission"}.get(exc.errno or 0, "connect_error")


def check_serial_port(device: str) -> None:
    """Raise ConnectError naming the port and the usual fix if it cannot be opened exclusively."""
    if not os.path.exists(device):
        raise ConnectError(
            f"serial port {device} does not exist; is the USB-RS485 adapter plugged in? "
            "List ports with: ls /dev/ttyUSB* /dev/ttyACM* /dev/serial/by-id/", kind="port_missing"
        )
    try:
        port = serial.Serial(device, exclusive=True, timeout=0)
    except serial.SerialException as exc:
        code = getattr(exc, "errno", None)
        text = str(exc)
        if code == errno.EACCES or "Permission denied" in text:
            raise ConnectError(
                f"permission denied on serial port {device}; add the user to the dialout group "
                "(sudo usermod -aG dialout $USER, then log in again) or run as that group",
                kind="permission") from None
        if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "lock" in text.lower():
            raise ConnectError(
                f"serial port {device} is busy: another program holds it (find it with "
                f"`fuser {device}`; often another metergate, a getty or ModemManager)",
                kind="port_busy") from None
        raise ConnectError(f"cannot open serial port {device}: {text}") from None
    port.close()
