"""Where a meter is reached: Modbus TCP, RTU on a serial port, or RTU through a serial-to-Ethernet
converter (RTU over TCP). Plain frozen values that check themselves; no I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from drivers.wiretime import bits_per_char

PARITIES = ("N", "E", "O")


class _HostPort:
    """A TCP endpoint's port check and its URL-like text."""

    __slots__ = ()
    scheme: ClassVar[str]
    host: str
    port: int

    def __post_init__(self) -> None:
        _check_port(self.port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TcpEndpoint(_HostPort):
    scheme: ClassVar[str] = "tcp"
    host: str
    port: int = 502


@dataclass(frozen=True, slots=True)
class RtuOverTcpEndpoint(_HostPort):
    scheme: ClassVar[str] = "rtu-over-tcp"
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class SerialEndpoint:
    device: str
    baud: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    def __post_init__(self) -> None:
        if self.parity not in PARITIES:
            raise ValueError(f"parity {self.parity!r}: use N, E or O")
        if self.stopbits not in (1, 2):
            raise ValueError(f"stop bits {self.stopbits}: use 1 or 2")
        if self.bytesize not in (7, 8):
            raise ValueError(f"data bits {self.bytesize}: use 7 or 8")
        if not 300 <= self.baud <= 921600:
            raise ValueError(f"baud rate {self.baud}: use 300..921600 (commonly 9600)")

    @property
    def bits_per_char(self) -> int:
        return bits_per_char(self.bytesize, self.parity, self.stopbits)

    def __str__(self) -> str:
        return f"{self.device} ({self.baud} {self.bytesize}{self.parity}{self.stopbits})"


Endpoint = TcpEndpoint | RtuOverTcpEndpoint | SerialEndpoint


def parse_host_port(text: str, default_port: int | None = 502) -> tuple[str, int]:
    """'host:port', '[v6]:port' or 'host' (with a default port) -> (host, port)."""
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{text!r}: give HOST:PORT")
        return host or "127.0.0.1", default_port
    if not port_text.isdigit():
        raise ValueError(f"{text!r}: port {port_text!r} is not a number; give HOST:PORT")
    port = int(port_text)
    _check_port(port)
    return host or "127.0.0.1", port


def default_stopbits(parity: str) -> int:
    """Modbus keeps 11 bits per character: no parity means two stop bits by the spec, but most
    meters ship 8N1, so 1 is the practical default."""
    return 1


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise ValueError(f"TCP port {port}: use 1..65535")
