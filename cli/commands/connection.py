"""Connection options shared by read, scan and probe, and turning them into an Endpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from drivers.transport import (
    Endpoint,
    RtuOverTcpEndpoint,
    SerialEndpoint,
    TcpEndpoint,
    parse_host_port,
)

TcpOpt = Annotated[str | None, typer.Option("--tcp", metavar="HOST:PORT",
                                            help="Modbus TCP device or gateway (port 502 if omitted).")]
SerialOpt = Annotated[str | None, typer.Option("--serial", metavar="DEVICE",
                                               help="Serial port for Modbus RTU, e.g. /dev/ttyUSB0.")]
RtuTcpOpt = Annotated[str | None, typer.Option("--rtu-over-tcp", metavar="HOST:PORT",
                                               help="Serial-to-Ethernet converter speaking RTU frames.")]
BaudOpt = Annotated[int, typer.Option("--baud", help="Serial baud rate.")]
ParityOpt = Annotated[str, typer.Option("--parity", metavar="N|E|O", help="Serial parity.")]
StopbitsOpt = Annotated[int, typer.Option("--stopbits", help="Serial stop bits (1 or 2).")]
UnitOpt = Annotated[int, typer.Option("--unit", min=0, max=255,
                                      help="Modbus unit id (slave address), 1..247 on a bus.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.01, help="Seconds to wait for an answer.")]
ProtocolOpt = Annotated[str, typer.Option(
    "--protocol", metavar="modbus|dlt645|cjt188",
    help="What the meter speaks: Modbus RTU/TCP, DL/T 645-2007 or CJ/T 188-2004.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs instead of a table.")]


def endpoint_from_options(
    tcp: str | None, serial: str | None, rtu_over_tcp: str | None,
    baud: int = 9600, parity: str = "N", stopbits: int = 1,
) -> Endpoint:
    """Exactly one of --tcp, --serial, --rtu-over-tcp; errors become typer.BadParameter (exit 2)."""
    given = [name for name, v in (("--tcp", tcp), ("--serial", serial),
                                  ("--rtu-over-tcp", rtu_over_tcp)) if v]
    if len(given) != 1:
        raise typer.BadParameter(
            "give exactly one of --tcp HOST:PORT, --serial DEVICE, --rtu-over-tcp HOST:PORT"
            + (f" (got {', '.join(given)})" if given else ""),
            param_hint="connection",
        )
    try:
        if tcp:
            return TcpEndpoint(*parse_host_port(tcp, 502))
        if rtu_over_tcp:
            return RtuOverTcpEndpoint(*parse_host_port(rtu_over_tcp, None))
        assert serial is not None
        return SerialEndpoint(serial, baud=baud, parity=parity.upper(), stopbits=stopbits)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=given[0]) from None
