"""The connection class of each bus protocol: what a bus line opens for its meters."""

from __future__ import annotations

from typing import Any

from drivers.cjt188.connection import Cjt188Connection
from drivers.dlt645.connection import Dlt645Connection
from drivers.pymodbus_adapter import ModbusConnection
from drivers.transport import Endpoint, RtuOverTcpEndpoint, SerialEndpoint

PROTOCOLS = ("modbus", "dlt645", "cjt188")


def open_connection(endpoint: Endpoint, *, timeout: float, protocol: str = "modbus") -> Any:
    """An unopened connection for `protocol` on `endpoint` (ValueError for a pairing that cannot be:
    DL/T 645 and CJ/T 188 run on a serial line or a transparent converter, not Modbus TCP)."""
    if protocol == "modbus":
        return ModbusConnection(endpoint, timeout=timeout)
    if not isinstance(endpoint, SerialEndpoint | RtuOverTcpEndpoint):
        raise ValueError(f"{protocol} needs a serial line or a transparent converter, not {endpoint}")
    if protocol == "dlt645":
        return Dlt645Connection(endpoint, timeout=timeout)
    if protocol == "cjt188":
        return Cjt188Connection(endpoint, timeout=timeout)
    raise ValueError(f"protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")


class ProtocolFactory:
    """A ConnectionFactory (gateway.scheduler.line) for one protocol."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    def __call__(self, endpoint: Endpoint, *, timeout: float) -> Any:
        return open_connection(endpoint, timeout=timeout, protocol=self.protocol)
