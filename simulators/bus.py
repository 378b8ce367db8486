"""Simulator: a set of simulated meters served on any mix of transports from one background thread.

    sim = Simulator([SimulatedMeter(resolve_variant("chint-dtsu666"), 1)])
    sim.add_tcp()                      # Modbus TCP on 127.0.0.1, a free port
    sim.add_rtu()                      # RTU on a new pseudo-terminal
    sim.add_rtu_over_tcp()             # RTU frames over TCP
    with sim:
        ModbusConnection(sim.tcp_endpoint) ...
        sim.inject(1, "late:delay=2")

Every transport serves every meter unless given `units`. Meters, faults and the in-process source
(`sim.source()`) work without start(); transports need it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from drivers.profiles import SerialSettings
from drivers.transport import Endpoint, RtuOverTcpEndpoint, SerialEndpoint, TcpEndpoint
from simulators.faults import Fault
from simulators.local import LocalSource
from simulators.meter import MeterOptions, SimulatedMeter
from simulators.rtu_server import PtyServer, RtuBus, RtuOverTcpServer
from simulators.serving import ServingThread
from simulators.tcp_server import TcpServer, UnknownUnit


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: str  # "tcp" | "rtu" | "rtu-over-tcp"
    units: tuple[int, ...] | None
    options: dict[str, Any]


class Simulator(ServingThread):
    def __init__(self, meters: Iterable[SimulatedMeter] = ()) -> None:
        self.meters: dict[int, SimulatedMeter] = {}
        for m in meters:
            self.add_meter(m)
        self._plans: list[_Plan] = []
        ServingThread.__init__(self)

    # -- configuration ----------------------------------------------------------------------------

    def add_meter(self, meter: SimulatedMeter) -> SimulatedMeter:
        if meter.unit in self.meters:
            raise ValueError(f"unit id {meter.unit} is taken by {self.meters[meter.unit]!r}")
        self.meters[meter.unit] = meter
        return meter

    def add_tcp(self, host: str = "127.0.0.1", port: int = 0, *,
                units: Iterable[int] | None = None,
                unknown_unit: UnknownUnit = "exception") -> None:
        """Modbus TCP; unknown unit ids answer exception 11 (or stay silent)."""
        self._plan("tcp", units, host=host, port=port, unknown_unit=unknown_unit)

    def add_rtu(self, *, link: str | None = None, units: Iterable[int] | None = None,
                line: SerialSettings | None = None, wire_timing: bool = True,
                check_line: bool = True, strict_stopbits: bool = False) -> None:
        """RTU on a new pseudo-terminal (one RS-485 bus). `link`: a stable symlink to the pty;
        `line`: the pty's initial settings (default: what most meters use)."""
        self._plan("rtu", units, link=link, line=line, wire_timing=wire_timing,
                   check_line=check_line, strict_stopbits=strict_stopbits)

    def add_rtu_over_tcp(self, host: str = "127.0.0.1", port: int = 0, *,
                         units: Iterable[int] | None = None, wire_timing: bool = True) -> None:
        """RTU frames over TCP (a serial-to-Ethernet converter in front of one bus)."""
        self._plan("rtu-over-tcp", units, host=host, port=port, wire_timing=wire_timing)

    def _plan(self, kind: str, units: Iterable[int] | None, **options: Any) -> None:
        if self._thread is not None:
            raise RuntimeError("add transports before start()")
        self._plans.append(_Plan(kind, None if units is None else tuple(units), options))

    # -- lifecycle --------------------------------------------------------------------------------

    def _before_start(self) -> None:
        if not self._plans:
            self.add_tcp()

    async def _open(self) -> None:
        for plan in self._plans:
            meters = self._subset(plan.units)
            o = plan.options
            server: Any
            if plan.kind == "tcp":
                server = TcpServer(meters, host=o["host"], port=o["port"],
                                   unknown_unit=o["unknown_unit"])
            elif plan.kind == "rtu":
                bus = RtuBus(meters, wire_timing=o["wire_timing"],
                             strict_stopbits=o["strict_stopbits"])
                server = PtyServer(bus, link=o["link"], line=o["line"],
                                   check_line=o["check_line"])
            else:
                server = RtuOverTcpServer(RtuBus(meters, wire_timing=o["wire_timing"]),
                                          host=o["host"], port=o["port"])
            self._servers.append(server)
            await server.start()

    def _subset(self, units: tuple[int, ...] | None) -> dict[int, SimulatedMeter]:
        if units is None:
            return self.meters  # shared: meters added later are served too
        missing = [u for u in units if u not in self.meters]
        if missing:
            raise ValueError(f"no meter with unit id {', '.join(map(str, missing))}")
        return {u: self.meters[u] for u in units}

    # -- what clients open ------------------------------------------------------------------------

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every transport as a drivers.transport endpoint, in the order they were added."""
        out: list[Endpoint] = []
        for server in self._servers:
            if isinstance(server, TcpServer):
                out.append(TcpEndpoint(server.host, server.port))
            elif isinstance(server, RtuOverTcpServer):
                out.append(RtuOverTcpEndpoint(server.host, server.port))
            else:  # parity N: a pty cannot carry parity (simulators.line)
                line = server.line
                out.append(SerialEndpoint(server.path, baud=line.baud, parity="N",
                                          stopbits=line.stopbits, bytesize=8))
        return out

    def _first(self, kind: type) -> Any:
        for ep in self.endpoints:
            if isinstance(ep, kind):
                return ep
        raise LookupError(f"no {kind.__name__} transport: add it before start()")

    @property
    def tcp_endpoint(self) -> TcpEndpoint:
        return self._first(TcpEndpoint)  # type: ignore[no-any-return]

    @property
    def rtu_endpoint(self) -> SerialEndpoint:
        """The first pty, with the speed and stop bits most of its meters use (parity N: a pty
        cannot carry parity)."""
        return self._first(SerialEndpoint)  # type: ignore[no-any-return]

    @property
    def rtu_over_tcp_endpoint(self) -> RtuOverTcpEndpoint:
        return self._first(RtuOverTcpEndpoint)  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        """The facts a client needs, as plain data (what `metergate simulate --json` prints)."""
        meters = [{"unit": m.unit, "profile": m.variant.key, "kind": m.kind, "line": str(m.line),
                   "options": _changed(m.options)} for m in self.meters.values()]
        transports: list[dict[str, Any]] = []
        for server, ep in zip(self._servers, self.endpoints, strict=True):
            units = sorted(server.bus.meters if hasattr(server, "bus") else server.meters)
            if isinstance(ep, SerialEndpoint):
                line = f"{ep.baud} {ep.bytesize}{ep.parity}{ep.stopbits}"
                transports.append({"transport": "rtu", "open": ep.device, "device": ep.device,
                                   "pty": server.port.device, "line": line, "units": units})
            else:
                name = "tcp" if isinstance(ep, TcpEndpoint) else "rtu-over-tcp"
                transports.append({"transport": name, "open": f"{ep.host}:{ep.port}",
                                   "host": ep.host, "port": ep.port, "units": units})
        return {"meters": meters, "transports": transports}

    # -- meters and faults ------------------------------------------------------------------------

    def meter(self, unit: int) -> SimulatedMeter:
        try:
            return self.meters[unit]
        except KeyError:
            raise KeyError(f"no meter with unit id {unit}; units: "
                           f"{', '.join(map(str, sorted(self.meters)))}") from None

    def inject(self, unit: int, fault: Fault | str) -> Fault:
        """Add a fault to a meter now: a Fault or 'KIND[:KEY=VALUE,...]'."""
        return self.meter(unit).inject(fault)

    def clear(self, unit: int, kind: str | None = None) -> None:
        self.meter(unit).clear(kind)

    def source(self, timeout: float = 1.0) -> LocalSource:
        """An in-process RegisterSource over these meters (no I/O)."""
        return LocalSource(self.meters, timeout=timeout)


def _changed(options: MeterOptions) -> dict[str, Any]:
    """The meter options that differ from the defaults, printable."""
    out: dict[str, Any] = {}
    for f in fields(options):
        value = getattr(options, f.name)
        if value != f.default:
            out[f.name] = str(value) if not isinstance(value, bool | int | float) else value
    return out
