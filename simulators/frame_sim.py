"""FrameSimulator: simulated DL/T 645 or CJ/T 188 meters of one protocol, served on pseudo-terminals
(one RS-485 line each) and raw TCP sockets (transparent converters) from one background thread.

    sim = FrameSimulator("dlt645", [DiMeter(resolve_di_variant("dlt645-2007", "dlt645"),
                                            "000012345678")])
    sim.add_pty()                      # a new pseudo-terminal at the meters' baud rate
    with sim:
        Dlt645Connection(sim.pty_endpoint).read_di("000012345678", 0x02010100)
        sim.inject("000012345678", "late:delay=2")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drivers.profiles import SerialSettings
from drivers.transport import RtuOverTcpEndpoint, SerialEndpoint
from simulators.di_meter import DiMeter
from simulators.faults import Fault
from simulators.frame_bus import FrameBus, FramePtyServer, FrameTcpServer
from simulators.serving import ServingThread


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: str  # "pty" | "tcp"
    addresses: tuple[str, ...] | None
    options: dict[str, Any]


class FrameSimulator(ServingThread):
    def __init__(self, protocol: str, meters: Iterable[DiMeter] = ()) -> None:
        super().__init__()
        self.protocol = protocol
        self.meters: dict[str, DiMeter] = {}
        for m in meters:
            self.add_meter(m)
        self._plans: list[_Plan] = []

    def add_meter(self, meter: DiMeter) -> DiMeter:
        if meter.address in self.meters:
            raise ValueError(f"address {meter.address} is taken by {self.meters[meter.address]!r}")
        if meter.variant.protocol != self.protocol:
            raise ValueError(f"{meter!r} speaks {meter.variant.protocol}, not {self.protocol}")
        self.meters[meter.address] = meter
        return meter

    def add_pty(self, *, link: str | None = None, addresses: Iterable[str] | None = None,
                line: SerialSettings | None = None, wire_timing: bool = True,
                check_line: bool = True) -> None:
        self._plan("pty", addresses, link=link, line=line, wire_timing=wire_timing,
                   check_line=check_line)

    def add_tcp(self, host: str = "127.0.0.1", port: int = 0, *,
                addresses: Iterable[str] | None = None, wire_timing: bool = True) -> None:
        self._plan("tcp", addresses, host=host, port=port, wire_timing=wire_timing)

    def _plan(self, kind: str, addresses: Iterable[str] | None, **options: Any) -> None:
        if self._thread is not None:
            raise RuntimeError("add transports before start()")
        self._plans.append(_Plan(kind, None if addresses is None else tuple(addresses), options))

    def _before_start(self) -> None:
        if not self._plans:
            self.add_pty()

    async def _open(self) -> None:
        for plan in self._plans:
            meters = self._subset(plan.addresses)
            o = plan.options
            bus = FrameBus(self.protocol, meters, wire_timing=o["wire_timing"])
            server: Any
            if plan.kind == "pty":
                server = FramePtyServer(bus, link=o["link"], line=o["line"],
                                        check_line=o["check_line"])
            else:
                server = FrameTcpServer(bus, host=o["host"], port=o["port"])
            self._servers.append(server)
            await server.start()

    def _subset(self, addresses: tuple[str, ...] | None) -> list[DiMeter]:
        if addresses is None:
            return list(self.meters.values())
        missing = [a for a in addresses if a not in self.meters]
        if missing:
            raise ValueError(f"no meter with address {', '.join(missing)}")
        return [self.meters[a] for a in addresses]

    # -- what clients open ------------------------------------------------------------------------

    @property
    def endpoints(self) -> list[SerialEndpoint | RtuOverTcpEndpoint]:
        out: list[SerialEndpoint | RtuOverTcpEndpoint] = []
        for server in self._servers:
            if isinstance(server, FrameTcpServer):
                out.append(RtuOverTcpEndpoint(server.host, server.port))
            else:
                line = server.line
                out.append(SerialEndpoint(server.path, baud=line.baud, parity=line.parity,
                                          stopbits=line.stopbits, bytesize=8))
        return out

    @property
    def pty_endpoint(self) -> SerialEndpoint:
        for ep in self.endpoints:
            if isinstance(ep, SerialEndpoint):
                return ep
        raise LookupError("no pty transport: add_pty() before start()")

    @property
    def tcp_endpoint(self) -> RtuOverTcpEndpoint:
        for ep in self.endpoints:
            if isinstance(ep, RtuOverTcpEndpoint):
                return ep
        raise LookupError("no tcp transport: add_tcp() before start()")

    def describe(self) -> dict[str, Any]:
        meters = [{"address": m.address, "profile": m.variant.key, "kind": m.kind,
                   "line": str(m.line), "meter_type": m.meter_type} for m in self.meters.values()]
        transports: list[dict[str, Any]] = []
        for server, ep in zip(self._servers, self.endpoints, strict=True):
            addresses = sorted(server.bus.meters)
            if isinstance(ep, SerialEndpoint):
                transports.append({"transport": "pty", "open": ep.device, "device": ep.device,
                                   "pty": server.port.device,
                                   "line": f"{ep.baud} 8{ep.parity}{ep.stopbits}",
                                   "addresses": addresses})
            else:
                transports.append({"transport": "tcp", "open": f"{ep.host}:{ep.port}",
                                   "host": ep.host, "port": ep.port, "addresses": addresses})
        return {"protocol": self.protocol, "meters": meters, "transports": transports}

    # -- meters and faults ------------------------------------------------------------------------

    def meter(self, address: str) -> DiMeter:
        try:
            return self.meters[address]
        except KeyError:
            raise KeyError(f"no meter with address {address}; addresses: "
                           f"{', '.join(sorted(self.meters))}") from None

    def inject(self, address: str, fault: Fault | str) -> Fault:
        return self.meter(address).inject(fault)

    def clear(self, address: str, kind: str | None = None) -> None:
        self.meter(address).clear(kind)
