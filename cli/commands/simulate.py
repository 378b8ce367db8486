"""`metergate simulate`: serve simulated meters over Modbus TCP, RTU on a pty and RTU over TCP.

Thin: parse options, build the meters and the Simulator (simulators/), print what a client opens,
wait for Ctrl-C, SIGTERM or --duration. Bad options end with exit code 2 and a message naming them.
"""

from __future__ import annotations

import errno
import json
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.commands import simulate_frames
from cli.commands.connection import ProtocolOpt
from cli.commands.frame_tools import check_protocol
from drivers.errors import ProfileError, ProfileNotFound
from drivers.profiles import SerialSettings
from drivers.transport import SerialEndpoint, parse_host_port
from simulators.bus import Simulator
from simulators.clock import SimClock
from simulators.faults import KINDS, FaultSpecError, parse_fault_spec
from simulators.meter_spec import MeterSpec, MeterSpecError, build_meters
from simulators.serving import ServingThread

DEFAULT_METER = "1=chint-dtsu666"
DEFAULT_TCP = "127.0.0.1:5020"
SITE_TZ_H = 8.0  # the simulated building's local time (the physics' default)


def simulate(
    meter: Annotated[list[str] | None, typer.Option(
        "--meter", metavar="UNIT=PROFILE[:VARIANT][,KEY=VALUE...]",
        help="A meter to simulate (repeat for more). Keys: order, shift, baud, parity, stopbits, "
             "ct, pt, turnaround, scale, both_fc, writable. (default: 1=chint-dtsu666)")] = None,
    tcp: Annotated[list[str] | None, typer.Option(
        "--tcp", metavar="HOST:PORT",
        help="Serve Modbus TCP here (port 0: a free port; default 127.0.0.1:5020 when no "
             "transport is given).")] = None,
    rtu: Annotated[bool, typer.Option(
        "--rtu", help="Serve RTU on a new pseudo-terminal (one RS-485 bus); prints its path.")] = False,
    rtu_link: Annotated[str | None, typer.Option(
        "--rtu-link", metavar="PATH", help="Also make PATH a symlink to the pty (implies --rtu).")]
        = None,
    rtu_over_tcp: Annotated[list[str] | None, typer.Option(
        "--rtu-over-tcp", metavar="HOST:PORT", help="Serve RTU frames over TCP here.")] = None,
    baud: Annotated[int | None, typer.Option(
        "--baud", help="Line speed of every meter (default: each profile's).")] = None,
    parity: Annotated[str | None, typer.Option(
        "--parity", metavar="N|E|O", help="Parity of every meter (default: each profile's).")] = None,
    stopbits: Annotated[int | None, typer.Option(
        "--stopbits", help="Stop bits of every meter (default: each profile's).")] = None,
    seed: Annotated[int, typer.Option(
        "--seed", help="Same seed, same values at the same times.")] = 0,
    fault: Annotated[list[str] | None, typer.Option(
        "--fault", metavar="UNIT:KIND[:KEY=VALUE,...]",
        help=f"Inject a fault (repeat for more). Kinds: {', '.join(KINDS)}.")] = None,
    start: Annotated[str | None, typer.Option(
        "--start", metavar="ISO-DATE", help="Simulated time to start from (naive = site time, "
        "UTC+8; default now).")] = None,
    speed: Annotated[float, typer.Option(
        "--speed", min=0.001, help="Time acceleration: 60 = one simulated minute per second.")] = 1.0,
    wire_timing: Annotated[bool, typer.Option(
        "--wire-timing/--no-wire-timing",
        help="RTU answers take the time the real line would.")] = True,
    duration: Annotated[float | None, typer.Option(
        "--duration", metavar="SECONDS", min=0, help="Stop after this many seconds.")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print one JSON line with the meters and transports instead of tables.")]
        = False,
    protocol: ProtocolOpt = "modbus",
    preamble_varies: Annotated[bool, typer.Option(
        "--preamble-varies", help="DL/T 645 / CJ/T 188: 0-4 FE bytes before each answer, varying.")]
        = False,
) -> None:
    """Simulate meters on Modbus TCP, RTU (pseudo-terminal) and RTU over TCP, with faults.

    Example: metergate simulate --meter 1=chint-dtsu666 --meter 2=tuf-2000m --tcp 127.0.0.1:0 --rtu
    --fault 2:offline:after=5,duration=20. Runs until Ctrl-C, SIGTERM or --duration.
    """
    clock = SimClock(_parse_start(start), speed)
    line = _line(baud, parity, stopbits)
    protocol = check_protocol(protocol)
    if protocol != "modbus":
        _simulate_frames(protocol, meter, rtu, rtu_link, rtu_over_tcp, tcp, seed, fault, clock, line,
                         wire_timing, preamble_varies, duration, json_out)
        return
    try:
        specs = [MeterSpec.parse(m) for m in (meter or [DEFAULT_METER])]
        meters = build_meters(specs, seed=seed, clock=clock, line=line)
    except (MeterSpecError, ProfileNotFound, ProfileError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--meter") from None
    sim = Simulator(meters)
    faults = []
    for text in fault or []:
        try:
            unit, f = parse_fault_spec(text)
            sim.inject(unit, f)
        except (FaultSpecError, KeyError, ValueError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
            raise typer.BadParameter(f"{text!r}: {msg}", param_hint="--fault") from None
        faults.append({"unit": unit, "fault": str(f)})
    tcp_addrs = _addresses(tcp or ([] if rtu or rtu_link or rtu_over_tcp else [DEFAULT_TCP]),
                           "--tcp")
    for host, port in tcp_addrs:
        sim.add_tcp(host, port)
    if rtu or rtu_link:
        sim.add_rtu(link=rtu_link, wire_timing=wire_timing)
    for host, port in _addresses(rtu_over_tcp or [], "--rtu-over-tcp"):
        sim.add_rtu_over_tcp(host, port, wire_timing=wire_timing)
    _start(sim, "--tcp/--rtu-over-tcp")
    facts = sim.describe()
    site_tz = timezone(timedelta(hours=SITE_TZ_H))
    facts.update(seed=seed, speed=speed, faults=faults,
                 start=datetime.fromtimestamp(clock.start, site_tz).isoformat(timespec="seconds"))
    if json_out:
        print(json.dumps(facts), flush=True)
    else:
        _print_tables(facts)
    _serve(sim, duration)


def _simulate_frames(protocol: str, meter: list[str] | None, rtu: bool, rtu_link: str | None,
                     rtu_over_tcp: list[str] | None, tcp: list[str] | None, seed: int,
                     fault: list[str] | None, clock: SimClock, line: SerialSettings | None,
                     wire_timing: bool, preamble_varies: bool, duration: float | None,
                     json_out: bool) -> None:
    if tcp:
        raise typer.BadParameter(f"{protocol} is not carried by Modbus TCP: use --rtu (a pty) or "
                                 "--rtu-over-tcp (raw frames over TCP)", param_hint="--tcp")
    sim = simulate_frames.build(protocol, meter, seed=seed, clock=clock, line=line,
                                varying_preamble=preamble_varies)
    faults = simulate_frames.inject(sim, fault)
    if rtu or rtu_link or not rtu_over_tcp:
        sim.add_pty(link=rtu_link, wire_timing=wire_timing)
    for host, port in _addresses(rtu_over_tcp or [], "--rtu-over-tcp"):
        sim.add_tcp(host, port, wire_timing=wire_timing)
    _start(sim, "--rtu-over-tcp")
    facts = sim.describe()
    facts.update(seed=seed, faults=faults)
    simulate_frames.print_facts(facts, json_out)
    _serve(sim, duration)


def _start(sim: ServingThread, tcp_hint: str) -> None:
    """Start the servers; a port in use names the TCP options, anything else the pty link."""
    try:
        sim.start()
    except OSError as exc:
        hint = tcp_hint if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL) else "--rtu-link"
        raise typer.BadParameter(f"{exc.strerror or exc}: {exc}", param_hint=hint) from None


def _serve(sim: ServingThread, duration: float | None) -> None:
    try:
        _wait(duration)
    finally:
        sim.stop()


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give an ISO date or time, e.g. 2024-01-15 or "
                                 "2024-01-15T08:00", param_hint="--start") from None


def _line(baud: int | None, parity: str | None, stopbits: int | None) -> SerialSettings | None:
    if baud is None and parity is None and stopbits is None:
        return None
    try:
        ep = SerialEndpoint("-", baud=baud or 9600, parity=(parity or "N").upper(),
                            stopbits=stopbits or 1)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--baud/--parity/--stopbits") from None
    return SerialSettings(ep.baud, ep.parity, ep.stopbits, ep.bytesize)


def _addresses(texts: list[str], option: str) -> list[tuple[str, int]]:
    out = []
    for text in texts:
        if text.rpartition(":")[2] == "0":  # port 0: any free port (parse_host_port wants 1..)
            out.append((text.rpartition(":")[0] or "127.0.0.1", 0))
            continue
        try:
            out.append(parse_host_port(text, None))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from None
    return out


def _wait(duration: float | None) -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_tables(facts: dict[str, Any]) -> None:
    out = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
    meters = Table(title="simulated meters")
    for col in ("unit", "profile", "kind", "serial line", "options"):
        meters.add_column(col)
    for m in facts["meters"]:
        meters.add_row(str(m["unit"]), m["profile"], m["kind"], m["line"],
                       ", ".join(f"{k}={v}" for k, v in m["options"].items()))
    out.print(meters)
    transports = Table(title="transports (what a client opens)")
    for col in ("transport", "open", "units"):
        transports.add_column(col)
    for t in facts["transports"]:
        transports.add_row(t["transport"], t["open"], ", ".join(map(str, t["units"])))
    out.print(transports)
    for f in facts["faults"]:
        out.print(f"fault on unit {f['unit']}: {f['fault']}")
    out.print(f"seed {facts['seed']}, simulated time from {facts['start']} at speed "
              f"{facts['speed']:g}; Ctrl-C to stop")
    sys.stdout.flush()
