"""A pseudo-terminal that stands in for a serial port, and the base of the simulators that serve a
line of meters on one.

The simulator opens both ends and keeps the client end (the "slave") open too, so a client closing
the port never makes the simulator's end fail with EIO; it is put in raw mode at the meters' line
settings, and an optional stable symlink points at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from typing import Protocol

from drivers.profiles import SerialSettings
from simulators.line import read_termios


class PtyPort:
    """A pseudo-terminal pair; `path` is what a client opens."""

    def __init__(self, line: SerialSettings, link: str | None = None) -> None:
        self.master, self.slave = os.openpty()
        self.device = os.ttyname(self.slave)
        tty.setraw(self.slave)
        _set_line(self.slave, line)
        os.set_blocking(self.master, False)
        self.link = link
        if link:
            tmp = f"{link}.tmp{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.device, tmp)
            os.replace(tmp, link)  # atomic: a client never sees the link missing

    @property
    def path(self) -> str:
        return self.link or self.device

    def client_line(self) -> SerialSettings | None:
        return read_termios(self.slave)

    def write(self, data: bytes) -> None:
        # A full buffer means nobody reads the port: the answer is lost, as on a real line.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.master, data)

    def close(self) -> None:
        if self.link:
            with contextlib.suppress(OSError):
                if os.path.islink(self.link) and os.readlink(self.link) == self.device:
                    os.unlink(self.link)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)



class _Line(Protocol):
    def default_line(self) -> SerialSettings: ...


class PtyLineServer:
    """Serves a line of simulated meters on a new PtyPort from the asyncio loop; subclasses take
    what the client sent in `_received` (b"" when the port reports an error)."""

    def __init__(self, bus: _Line, *, link: str | None = None, line: SerialSettings | None = None,
                 check_line: bool = True) -> None:
        self.line = line or bus.default_line()
        self.port = PtyPort(self.line, link)
        self.check_line = check_line

    @property
    def path(self) -> str:
        return self.port.path

    async def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.port.master, self._readable)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.port.master)
        self.port.close()

    def _readable(self) -> None:
        try:
            data = os.read(self.port.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self._received(data)

    def _received(self, data: bytes) -> None:
        raise NotImplementedError


def _set_line(fd: int, line: SerialSettings) -> None:
    """Give the pty the meters' speed and stop bits, so a client that sets none still matches."""
    attrs = termios.tcgetattr(fd)
    speed = getattr(termios, f"B{line.baud}", None)
    cflag = attrs[2] & ~(termios.PARENB | termios.PARODD | termios.CSTOPB | termios.CSIZE)
    cflag |= termios.CS8  # a pty carries neither parity nor other data sizes (simulators.line)
    if line.stopbits == 2:
        cflag |= termios.CSTOPB
    attrs[2] = cflag
    if speed is not None:
        attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


__all__ = ["PtyLineServer", "PtyPort"]
