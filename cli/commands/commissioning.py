"""Hand tools for commissioning: `metergate read`, `metergate scan`, `metergate probe`.

Thin: parse options, call drivers.scan / drivers.probe / drivers.guess, print tables for people
(rich) or JSON for programs. Expected errors end with a message and an exit code, never a traceback:
2 for a bad option, a bad profile or a serial port that does not exist; 1 for a device that does not
answer or a connection that fails.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cli.commands import frame_tools
from cli.commands.connection import (
    JsonOpt,
    ProtocolOpt,
    RtuTcpOpt,
    SerialOpt,
    TcpOpt,
    TimeoutOpt,
    UnitOpt,
    endpoint_from_options,
)
from core.reading import Quality
from drivers.codec import REGISTER_COUNT, DataType, Order, decode_raw, parse_order, parse_type
from drivers.errors import (
    ConnectError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusTimeout,
    ProfileError,
    ProfileNotFound,
)
from drivers.guess import CandidateScore, GuessResult, guess, profile_layout
from drivers.probe import PointResult, ProbeResult, point_results
from drivers.probe import probe as probe_meter
from drivers.profiles import MeterVariant, find_profile
from drivers.pymodbus_adapter import ModbusConnection, check_serial_port
from drivers.scan import (
    DEFAULT_BAUDS,
    DEFAULT_PARITIES,
    DEFAULT_UNITS,
    SLACK_S,
    TCP_SLACK_S,
    Connector,
    FoundDevice,
    LineSetting,
    ProbeTiming,
    ScanReport,
    line_settings,
    parse_units,
    profile_variants,
)
from drivers.scan import scan as scan_bus
from drivers.transport import Endpoint, RtuOverTcpEndpoint, SerialEndpoint

T = TypeVar("T")

QUALITY_STYLE = {Quality.OK: "green", Quality.OUT_OF_RANGE: "yellow", Quality.INVALID: "magenta",
                 Quality.COMM_ERROR: "red", Quality.STALE: "yellow"}

# options of these commands (the shared connection options live in cli/commands/connection.py)
BaudOpt = Annotated[int | None, typer.Option(
    "--baud", help="Serial baud rate (default: the profile's, else 9600).")]
ParityOpt = Annotated[str | None, typer.Option(
    "--parity", metavar="N|E|O", help="Serial parity (default: the profile's, else N).")]
StopbitsOpt = Annotated[int | None, typer.Option(
    "--stopbits", help="Serial stop bits, 1 or 2 (default: the profile's, else 1).")]


# ---------------------------------------------------------------------------------------------------
# read


def read(
    address: Annotated[str, typer.Option(
        "--address", metavar="ADDR",
        help="Modbus: first register, decimal (8198) or hex (0x2006 or 2006h), wire address unless "
             "--base 1. DL/T 645 / CJ/T 188: the meter address as on its nameplate.")],
    tcp: TcpOpt = None,
    serial: SerialOpt = None,
    rtu_over_tcp: RtuTcpOpt = None,
    baud: Annotated[int | None, typer.Option(
        "--baud", help="Serial baud rate (default 9600; 2400 for DL/T 645 and CJ/T 188).")] = None,
    parity: Annotated[str | None, typer.Option(
        "--parity", metavar="N|E|O",
        help="Serial parity (default N; E for DL/T 645 and CJ/T 188).")] = None,
    stopbits: Annotated[int, typer.Option("--stopbits", help="Serial stop bits (1 or 2).")] = 1,
    unit: UnitOpt = 1,
    protocol: ProtocolOpt = "modbus",
    di: Annotated[str | None, typer.Option(
        "--di", metavar="HEX",
        help="DL/T 645 / CJ/T 188 data identifier as the standard writes it, e.g. 02010100 "
             "(phase A voltage) or 901F (CJ/T 188 current data).")] = None,
    meter_type: Annotated[str | None, typer.Option(
        "--meter-type", metavar="HEX",
        help="CJ/T 188 meter type byte, e.g. 10 (cold water), 20 (heat); default AA (any).")] = None,
    count: Annotated[int | None, typer.Option(
        "--count", min=1, max=125, help="Registers to read (default: what --type needs, else 1).")
    ] = None,
    type_: Annotated[str | None, typer.Option(
        "--type", metavar="TYPE",
        help="Decode as int16, uint16, int32, uint32, int64, uint64, float32 or float64 "
             "(without it: raw registers only).")] = None,
    order: Annotated[str, typer.Option(
        "--order", metavar="ABCD|CDAB|BADC|DCBA",
        help="Byte/word order of multi-register values.")] = "ABCD",
    function: Annotated[int, typer.Option(
        "--function", metavar="3|4", help="3 = holding registers, 4 = input registers.")] = 3,
    base: Annotated[int, typer.Option(
        "--base", metavar="0|1",
        help="0: ADDR is the wire address; 1: ADDR is a 1-based register number from a manual.")
    ] = 0,
    all_orders: Annotated[bool, typer.Option(
        "--all-orders", help="Also decode the value in all four byte/word orders.")] = False,
    timeout: TimeoutOpt = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Read registers once and show them raw (hex) and decoded: one ad-hoc register read.

    Example: metergate read --serial /dev/ttyUSB0 --unit 1 --address 0x2006 --type float32;
    metergate read --serial /dev/ttyUSB0 --protocol dlt645 --address 000012345678 --di 02010100
    """
    protocol = frame_tools.check_protocol(protocol)
    if protocol != "modbus":
        endpoint = endpoint_from_options(tcp, serial, rtu_over_tcp,
                                         *frame_tools.line_defaults(baud, parity, stopbits))
        if di is None:
            raise typer.BadParameter(f"{protocol} reads by data identifier: give --di",
                                     param_hint="--di")
        mtype = None
        if meter_type is not None:
            mtype = _option(lambda t: int(t, 16), meter_type, "--meter-type")
        frame_tools.read_frames(endpoint, protocol, frame_tools.meter_address(address, protocol),
                                frame_tools.parse_di(di, protocol), mtype, timeout, json_out)
        return
    baud, parity = baud or 9600, (parity or "N")
    wire = _wire_address(address, base)
    if function not in (3, 4):
        raise typer.BadParameter(f"{function}: use 3 (holding) or 4 (input registers)",
                                 param_hint="--function")
    dtype = _option(parse_type, type_, "--type") if type_ else None
    order_ = _option(parse_order, order, "--order")
    per_value = REGISTER_COUNT[dtype] if dtype else 1
    n = count or per_value
    if n % per_value:
        raise typer.BadParameter(f"{n} registers do not hold whole {dtype} values "
                                 f"({per_value} registers each)", param_hint="--count")
    if wire + n > 65536:
        raise typer.BadParameter(f"{n} registers from {wire} run past 65535", param_hint="--count")
    _check_parity(parity)
    endpoint = endpoint_from_options(tcp, serial, rtu_over_tcp, baud, parity, stopbits)
    with _connection(endpoint, timeout) as conn:
        try:
            regs = conn.read_registers(unit, function, wire, n)
        except ModbusTimeout:
            _fail_silent(endpoint, unit, timeout)
        except ModbusExceptionResponse as exc:
            if exc.code in (10, 11):
                _fail_silent(endpoint, unit, timeout, f"the gateway answered: {exc}")
            _fail(f"unit {unit} answered with Modbus exception {exc.code} ({exc.name}) for "
                  f"FC{function} registers {wire}..{wire + n - 1}"
                  + ("; the register does not exist at this address: check --base and --function"
                     if exc.code == 2 else ""), 1)
        except ModbusError as exc:
            _fail(str(exc), 1)
    values = _decode_all(regs, dtype, order_) if dtype else None
    orders = {o.value: _decode_all(regs, dtype, o) for o in Order} if dtype and all_orders else None
    if json_out:
        _emit_json({
            "endpoint": str(endpoint), "unit": unit, "function": function, "address": wire,
            "register_1based": wire + 1, "count": n,
            "registers": regs, "hex": [f"0x{r:04X}" for r in regs],
            "type": dtype.value if dtype else None, "order": order_.value,
            "values": values, "all_orders": orders,
        })
        return
    _print_read(endpoint, unit, function, wire, regs, dtype, order_, values, orders)


def _wire_address(text: str, base: int) -> int:
    if base not in (0, 1):
        raise typer.BadParameter(f"{base}: use 0 (wire address) or 1 (1-based register number)",
                                 param_hint="--base")
    t = text.strip().lower().replace("_", "")
    try:
        if t.startswith("0x"):
            value = int(t, 16)
        elif t.endswith("h"):
            value = int(t[:-1], 16)
        else:
            value = int(t, 10)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a register address; write 8198, 0x2006 or 2006h",
                                 param_hint="--address") from None
    wire = value - base
    if not 0 <= wire <= 65535:
        lo = "1..65536 with --base 1" if base else "0..65535"
        raise typer.BadParameter(f"{text}: register addresses run {lo}", param_hint="--address")
    return wire


def _decode_all(regs: list[int], dtype: DataType, order: Order) -> list[float | int | None]:
    """Every whole value in `regs`; NaN and infinities become None (JSON null), never 0."""
    n = REGISTER_COUNT[dtype]
    out: list[float | int | None] = []
    for i in range(0, len(regs) - n + 1, n):
        v = decode_raw(regs[i : i + n], dtype, order)
        out.append(None if isinstance(v, float) and not math.isfinite(v) else v)
    return out


def _print_read(endpoint: Endpoint, unit: int, function: int, wire: int, regs: list[int],
                dtype: DataType | None, order: Order, values: list[float | int | None] | None,
                orders: dict[str, list[float | int | None]] | None) -> None:
    out = _console()
    kind = "holding" if function == 3 else "input"
    out.print(f"{endpoint} unit {unit}, FC{function} ({kind} registers), {len(regs)} register(s) "
              f"from wire address {wire} (0x{wire:04X}) = register {wire + 1} in a 1-based manual")
    table = Table("wire address", "1-based no.", "hex", "uint16", "int16")
    for i, r in enumerate(regs):
        a = wire + i
        table.add_row(f"{a} (0x{a:04X})", str(a + 1), f"0x{r:04X}", str(r),
                      str(r - 0x10000 if r >= 0x8000 else r))
    out.print(table)
    if dtype is None or values is None:
        out.print("no --type given: raw registers only (add --type float32, --all-orders, ...)")
        return
    shown = ", ".join(_fmt(v) for v in values)
    out.print(f"{dtype.value} {order.value}: {shown}")
    if orders:
        out.print("the same registers in every order:")
        t = Table("order", f"{dtype.value} value(s)")
        for name, vals in orders.items():
            t.add_row(name, ", ".join(_fmt(v) for v in vals))
        out.print(t)
        if REGISTER_COUNT[dtype] == 1:
            out.print("16-bit values have no words to swap: ABCD = CDAB and BADC = DCBA")


# ---------------------------------------------------------------------------------------------------
# scan


def scan(
    tcp: TcpOpt = None,
    serial: SerialOpt = None,
    rtu_over_tcp: RtuTcpOpt = None,
    baud: Annotated[list[int] | None, typer.Option(
        "--baud", help="Baud rate to try; repeat for several "
                       f"(default: {', '.join(map(str, DEFAULT_BAUDS))}).")] = None,
    parity: Annotated[list[str] | None, typer.Option(
        "--parity", metavar="N|E|O", help="Parity to try; repeat for several "
                                          f"(default: {', '.join(DEFAULT_PARITIES)}).")] = None,
    stopbits: Annotated[int | None, typer.Option(
        "--stopbits", help="Stop bits (default: 1).")] = None,
    units: Annotated[str, typer.Option(
        "--units", metavar="LIST", help="Unit ids to probe, e.g. 1-10,20.")] = DEFAULT_UNITS,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=0.01,
        help="Seconds to wait per probe (default: long enough for the slowest turnaround any "
             f"profile declares: wire time + turnaround + {SLACK_S * 1000:g} ms on serial, "
             f"turnaround + {TCP_SLACK_S * 1000:g} ms on TCP, plus the 1200-baud wire time over "
             "RTU over TCP; the first line shows it).")] = None,
    stop_at_first: Annotated[bool, typer.Option(
        "--stop-at-first",
        help="Stop after the line setting at which the first device answered "
             "(all units are still probed at that setting).")] = False,
    protocol: ProtocolOpt = "modbus",
    address: Annotated[list[str] | None, typer.Option(
        "--address", metavar="DIGITS",
        help="DL/T 645 / CJ/T 188: a nameplate address to try (repeat for more).")] = None,
    address_file: Annotated[Path | None, typer.Option(
        "--address-file", metavar="PATH",
        help="DL/T 645 / CJ/T 188: a file of nameplate addresses, one per line (# comments).")]
        = None,
    json_out: JsonOpt = False,
) -> None:
    """Find the meters on a bus and identify model and variant from the profiles' fingerprints.

    Serial: every unit id at every baud x parity given (defaults: the common meter settings).
    TCP / RTU over TCP: every unit id. A unit is present if it answers anything, even an exception.

    DL/T 645 / CJ/T 188 (--protocol): without --address, read the address of the one meter on the
    line (wildcard); with --address / --address-file, ask each address and list who answers.

    Example: metergate scan --serial /dev/ttyUSB0 --baud 9600 --parity N --units 1-20
    """
    protocol = frame_tools.check_protocol(protocol)
    if protocol != "modbus":
        if len(baud or []) > 1 or len(parity or []) > 1:
            raise typer.BadParameter(f"{protocol}: give one --baud and --parity (a frame scan "
                                     "asks addresses, not line settings)", param_hint="--baud")
        endpoint = endpoint_from_options(tcp, serial, rtu_over_tcp, *frame_tools.line_defaults(
            baud[0] if baud else None, parity[0] if parity else None, stopbits))
        frame_tools.scan_frames(endpoint, protocol,
                                frame_tools.addresses_from(address, address_file, protocol),
                                timeout or 1.0, json_out)
        return
    if address or address_file:
        raise typer.BadParameter("addresses are for --protocol dlt645 or cjt188; a Modbus scan "
                                 "takes --units", param_hint="--address")
    try:
        unit_ids = parse_units(units, low=1 if serial else 0, high=247 if serial else 255)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--units") from None
    for p in parity or []:
        _check_parity(p)
    if stopbits not in (None, 1, 2):
        raise typer.BadParameter(f"{stopbits}: use 1 or 2", param_hint="--stopbits")
    endpoint = endpoint_from_options(tcp, serial, rtu_over_tcp)
    settings: list[LineSetting | None] = [None]
    if isinstance(endpoint, SerialEndpoint):
        try:
            settings = list(line_settings(baud, parity, stopbits))
            for s in settings:
                assert s is not None
                SerialEndpoint(endpoint.device, s.baud, s.parity, s.stopbits)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--baud") from None
    elif baud or parity:
        raise typer.BadParameter("line settings apply to --serial only; a TCP device or "
                                 "converter has its own", param_hint="--baud/--parity")
    variants, problems = profile_variants()
    err = _console(stderr=True)
    for p in problems:
        err.print(Text(f"warning: profile not used: {p}", style="yellow"))

    def connect(setting: LineSetting | None, timeout: float) -> ModbusConnection:
        """An unopened connection; the scanner enters it (which opens) and exits it."""
        ep = endpoint
        if setting is not None and isinstance(endpoint, SerialEndpoint):
            ep = SerialEndpoint(endpoint.device, setting.baud, setting.parity, setting.stopbits)
        return ModbusConnection(ep, timeout=timeout)

    link = ("serial" if isinstance(endpoint, SerialEndpoint)
            else "rtu-over-tcp" if isinstance(endpoint, RtuOverTcpEndpoint) else "tcp")
    timing = ProbeTiming.for_variants(link, variants, timeout)
    with _expected_errors(endpoint):
        if isinstance(endpoint, SerialEndpoint):
            check_serial_port(endpoint.device)
        report = _run_scan(connect, endpoint, unit_ids, settings, variants, timing,
                           stop_at_first, err, quiet=json_out)
    if json_out:
        where = endpoint.device if isinstance(endpoint, SerialEndpoint) else str(endpoint)
        _emit_json({"endpoint": where, **report.as_dict()})
    else:
        _print_scan(report, endpoint)
    if not report.devices:
        raise typer.Exit(1)


def _run_scan(connect: Connector, endpoint: Endpoint, unit_ids: list[int],
              settings: list[LineSetting | None], variants: list[MeterVariant],
              timing: ProbeTiming, stop_at_first: bool, err: Console,
              *, quiet: bool) -> ScanReport:
    per_probe = [timing.probe_timeout(s) for s in settings]
    worst = sum(per_probe) * len(unit_ids)
    where = endpoint.device if isinstance(endpoint, SerialEndpoint) else str(endpoint)
    if timing.timeout_s is not None:
        wait = f"{timing.timeout_s * 1000:.0f} ms per probe (--timeout)"
    else:
        wait = (f"up to {min(per_probe) * 1000:.0f}"
                + (f"..{max(per_probe) * 1000:.0f}" if max(per_probe) > min(per_probe) else "")
                + f" ms per probe ({timing.slowest or 'the default'} declares the slowest "
                  f"turnaround, {timing.turnaround_s * 1000:g} ms)")
    err.print(f"scanning {where}: {len(unit_ids)} unit id(s)"
              + (f" x {len(settings)} line setting(s)" if settings != [None] else "")
              + f", {wait}: probing takes at most ~{_duration(worst)}, plus about a second to "
              "identify each device found (narrow with --units"
              + (", --baud, --parity)" if settings != [None] else ")"))
    found_out = err if quiet else _console()
    show_bar = err.is_terminal
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                        "{task.total}"), TimeElapsedColumn(), console=err, transient=True,
                        disable=not show_bar)

    def on_progress(done: int, total: int, setting: LineSetting | None, unit: int) -> None:
        where = f"{setting} " if setting else ""
        progress.update(task, completed=done, total=total,
                        description=f"{where}unit {unit}" if unit else "done")

    def on_found(device: FoundDevice) -> None:
        where = f" at {device.setting}" if device.setting else ""
        late = f" (answered late, {device.timing().partition(' ')[0]} ms)" if device.late else ""
        line = f"found unit {device.unit}{where}: {device.describe()}{late}"
        (progress.console if show_bar else found_out).print(
            Text(line, style="yellow" if device.late else "green"))

    with progress:
        task = progress.add_task("starting", total=len(unit_ids) * len(settings))
        return scan_bus(connect, units=unit_ids, settings=settings, variants=variants,
                        timing=timing, stop_at_first=stop_at_first, on_progress=on_progress,
                        on_found=on_found)


def _print_scan(report: ScanReport, endpoint: Endpoint) -> None:
    out = _console()
    if not report.devices:
        if report.resets and report.resets == report.probes:
            out.print(f"no device answered: {endpoint} dropped the connection at every probe "
                      f"({report.probes}); {_RESET_HINT}")
        else:
            out.print(f"no device answered ({report.probes} probe(s) in {report.elapsed:.1f} s); "
                      "check wiring (A/B swapped?), termination, power, and widen --units/--baud/"
                      "--parity")
    else:
        table = Table("unit", "line", "model", "profile", "answer", "reply",
                      title=f"{len(report.devices)} device(s) in {report.elapsed:.1f} s")
        for d in report.devices:
            best = d.identified
            table.add_row(str(d.unit), str(d.setting) if d.setting else "-",
                          Text(d.describe(), style="green" if best else "yellow"),
                          f"--profile {best.key}" if best else "-", d.answer,
                          Text(d.timing().partition(" (")[0] + (" late" if d.late else ""),
                               style="yellow" if d.late else ""))
        out.print(table)
        for d in report.late:
            out.print(Text(f"unit {d.unit}: {d.timing()}. It works, but if its polls "
                           "time out, raise timeout_ms of its bus in the site config (or "
                           "turnaround_ms in a copy of its profile)", style="yellow"))
        for d in report.devices:
            c = d.closest
            command = probe_command(endpoint, d)
            if d.identified is not None:
                out.print(f"unit {d.unit}: read it through its profile: {command}")
                continue
            if c is not None and c.failures:
                out.print(f"unit {d.unit}: nearest profile {c.key} failed: "
                          + "; ".join(c.failures))
            model = ("with the nearest profile, or the profile of the model on its label"
                     if "MODEL" not in command else "replacing MODEL with the profile of the "
                     "model on its label")
            out.print(f"unit {d.unit}: check order and numbering {model}: {command}")
    for setting, why in report.unusable.items():
        out.print(Text(f"skipped {setting}: {why}", style="yellow"))
    for setting, n in report.garbage.items():
        out.print(Text(f"{n} garbled answer(s) at {setting}: a slow device answering late (asked "
                       "again with a longer timeout), or a device at another baud rate or parity",
                       style="yellow"))
    if report.stopped_early:
        out.print("stopped after the first line setting with a device (--stop-at-first)")


def probe_command(endpoint: Endpoint, device: FoundDevice) -> str:
    """A complete `metergate probe` command for a found device, ready to copy: the connection, the
    line setting it answered at, its unit and profile (with --guess when it is not identified)."""
    args = ["metergate", "probe"]
    if isinstance(endpoint, SerialEndpoint):
        s = device.setting
        baud, parity, stop = (s.baud, s.parity, s.stopbits) if s else (
            endpoint.baud, endpoint.parity, endpoint.stopbits)
        args += ["--serial", endpoint.device, "--baud", str(baud), "--parity", parity,
                 "--stopbits", str(stop)]
    elif isinstance(endpoint, RtuOverTcpEndpoint):
        args += ["--rtu-over-tcp", f"{_host(endpoint.host)}:{endpoint.port}"]
    else:
        args += ["--tcp", f"{_host(endpoint.host)}:{endpoint.port}"]
    best, near = device.identified, device.closest
    if best is not None:
        return shlex.join([*args, "--unit", str(device.unit), "--profile", best.key])
    profile = near.key if near is not None and near.passed else "MODEL"
    return shlex.join([*args, "--unit", str(device.unit), "--profile", profile, "--guess"])


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# ---------------------------------------------------------------------------------------------------
# probe


def probe(
    profile: Annotated[str, typer.Option(
        "--profile", metavar="NAME[:VARIANT]",
        help="Profile id (e.g. chint-dtsu666:huawei) or path to a .toml file.")],
    tcp: TcpOpt = None,
    serial: SerialOpt = None,
    rtu_over_tcp: RtuTcpOpt = None,
    baud: BaudOpt = None,
    parity: ParityOpt = None,
    stopbits: StopbitsOpt = None,
    unit: UnitOpt = 1,
    protocol: ProtocolOpt = "modbus",
    address: Annotated[str | None, typer.Option(
        "--address", metavar="DIGITS",
        help="DL/T 645 (12 digits) / CJ/T 188 (14 digits) meter address as on its nameplate.")]
        = None,
    guess_: Annotated[bool, typer.Option(
        "--guess", help="Try the four byte/word orders and both register numberings; rank them "
                        "and name the likely winner.")] = False,
    ct: Annotated[float | None, typer.Option(
        "--ct", min=0.0, help="Current-transformer ratio for points marked ratio = ct.")] = None,
    pt: Annotated[float | None, typer.Option(
        "--pt", min=0.0, help="Voltage-transformer ratio for points marked ratio = pt.")] = None,
    timeout: TimeoutOpt = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Read a meter through a profile and judge every decoded value (ok / out of range / invalid).

    With --guess, rank every byte/word order and register numbering and say what to change in the
    profile. Example: metergate probe --tcp 192.168.1.50 --unit 1 --profile eastron-sdm630 --guess;
    metergate probe --serial /dev/ttyUSB0 --protocol dlt645 --address 000012345678 --profile
    dlt645-2007 --json
    """
    protocol = frame_tools.check_protocol(protocol)
    if protocol != "modbus":
        if guess_:
            raise typer.BadParameter(f"{protocol} values have one standard layout: nothing to "
                                     "guess", param_hint="--guess")
        if parity is not None:
            _check_parity(parity)
        at = frame_tools.meter_address(address, protocol)
        di_variant = frame_tools.variant_for(profile, protocol)
        endpoint = endpoint_from_options(tcp, serial, rtu_over_tcp, *frame_tools.line_defaults(
            baud, parity, stopbits, di_variant))
        frame_tools.probe_frames(endpoint, protocol, di_variant, at, timeout, json_out)
        return
    if parity is not None:
        _check_parity(parity)
    name, _, variant_name = profile.partition(":")
    with _expected_errors(None):
        prof = find_profile(name)
        variant = prof.variant(variant_name or None)
    line = variant.device.serial
    endpoint = endpoint_from_options(
        tcp, serial, rtu_over_tcp,
        baud or (line.baud if line else 9600), (parity or (line.parity if line else "N")).upper(),
        stopbits or (line.stopbits if line else 1),
    )
    ratios = {k: v for k, v in (("ct", ct), ("pt", pt)) if v}
    with _connection(endpoint, timeout) as conn:
        if guess_:
            layout = profile_layout(prof.path, variant.name)
            result = guess(conn, variant, unit, ratios=ratios, layout=layout)
            if result.silent:
                _fail_silent(endpoint, unit, timeout)
            _show_guess(endpoint, variant, unit, result, json_out)
            return
        outcome = probe_meter(conn, variant, unit, ratios=ratios)
    if outcome.silent:
        gateway = [k for k in outcome.failures if k in ("exception_10", "exception_11")]
        _fail_silent(endpoint, unit, timeout,
                     f"the gateway answered Modbus {gateway[0].replace('_', ' ')}" if gateway else "")
    if json_out:
        _emit_json({"endpoint": str(endpoint), **outcome.as_dict()})
        return
    out = _console()
    out.print(f"{variant.manufacturer} {variant.model} ({variant.key}) on {endpoint} unit {unit}: "
              f"{len(outcome.points)} point(s) in {outcome.requests} request(s)")
    out.print(_points_table(outcome.points))
    out.print(_summary_text(outcome))


def _show_guess(endpoint: Endpoint, variant: MeterVariant, unit: int, result: GuessResult,
                json_out: bool) -> None:
    win = result.winner
    points = point_results(win.candidate.variant.points, win.readings)
    if json_out:
        _emit_json({
            "endpoint": str(endpoint), "profile": variant.profile_id, "variant": variant.name,
            "unit": unit, "requests": result.requests,
            "candidates": [_candidate_dict(c, i + 1) for i, c in enumerate(result.ranked)],
            "winner": _candidate_dict(win, 1), "margin": round(result.margin, 4),
            "confidence": result.confidence(), "explanation": result.explain(),
            "profile_fits": result.profile_fits,
            "discriminating": list(result.discriminating), "advice": list(result.advice),
            "points": [p.as_dict() for p in points],
        })
        return
    out = _console()
    out.print(f"{variant.key} on {endpoint} unit {unit}: {len(result.ranked)} candidate readings "
              f"from one snapshot ({result.requests} request(s)); "
              f"{len(result.discriminating)} of {win.total} points tell them apart")
    table = Table("#", "order", "addresses", "plausible", "score", "sample values",
                  title="candidates, most plausible first")
    sample = list(result.discriminating[:3]) or [p.quantity for p in variant.points[:3]]
    for i, c in enumerate(result.ranked, 1):
        style = "green" if i == 1 else ""
        values = "; ".join(f"{q}={_fmt(c.readings[q].value)}" for q in sample if q in c.readings)
        table.add_row(str(i), Text(c.order_label, style=style), Text(c.shift_label, style=style),
                      f"{len(c.plausible)}/{c.total}", f"{c.score:.2f}", values)
    out.print(table)
    sure = result.confidence() in ("clear", "likely", "coverage")
    out.print(Text(f"likely winner: order {win.order_label}, addresses {win.shift_label}",
                   style="bold green" if sure else "bold yellow"))
    out.print(Text(f"  ({result.explain()})"))
    if result.profile_fits:
        out.print("the profile as written fits this meter; nothing to change")
    else:
        out.print("to make the profile read this meter:")
        for a in result.advice:
            out.print(f"  - {a}")
    out.print(Text(f"values read as {win.order_label} / {win.shift_label}:"))
    out.print(_points_table(points))


def _candidate_dict(c: CandidateScore, rank: int) -> dict[str, object]:
    order = c.candidate.order
    return {"rank": rank, "order": order.value if order else None, "order_label": c.order_label,
            "aliases": list(c.candidate.aliases), "shift": c.candidate.shift,
            "address_label": c.shift_label, "score": round(c.score, 4), "unread": c.unread,
            "plausible": len(c.plausible), "total": c.total,
            "values": {q: r.value for q, r in c.readings.items()}}


def _points_table(points: tuple[PointResult, ...]) -> Table:
    table = Table("quantity", "value", "unit", "verdict", "raw", "address")
    for p in points:
        r = p.reading
        style = QUALITY_STYLE.get(r.quality, "")
        table.add_row(r.quantity, _fmt(r.value), r.unit, Text(p.verdict, style=style),
                      p.raw_hex(), f"FC{p.function} {p.address} (0x{p.address:04X})")
    return table


def _summary_text(outcome: ProbeResult) -> Text:
    c = outcome.counts()
    style = "green" if c["ok"] == len(outcome.points) else "yellow"
    return Text(outcome.summary(), style=style)


# ---------------------------------------------------------------------------------------------------
# shared helpers


def _console(*, stderr: bool = False) -> Console:
    """Markup off (profile text holds brackets such as [defaults]); lines of text are not wrapped
    (the terminal does that); tables are laid out 160 wide when not on a terminal."""
    c = Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)
    if not c.is_terminal:
        c = Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True, width=160)
    return c


def _fmt(v: float | int | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.10g}"


def _emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _option(parse: Callable[[str], T], text: str, hint: str) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _check_parity(parity: str) -> None:
    if parity.upper() not in ("N", "E", "O"):
        raise typer.BadParameter(f"{parity!r}: use N (none), E (even) or O (odd)",
                                 param_hint="--parity")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _fail(message: str, code: int) -> NoReturn:
    _console(stderr=True).print(Text(f"error: {message}", style="red"))
    raise typer.Exit(code)


def _fail_silent(endpoint: Endpoint, unit: int, timeout: float, detail: str = "") -> NoReturn:
    if detail:
        detail = f" ({detail})"
    if isinstance(endpoint, SerialEndpoint):
        hint = "check unit id, wiring (A/B swapped?), baud rate and parity"
    else:
        hint = ("check unit id, and that the device (or the gateway behind it) serves that unit"
                "; behind a converter also check wiring (A/B swapped?), baud rate and parity")
    _fail(f"no answer from unit {unit} on {endpoint} within {timeout:g} s{detail}; {hint}", 1)


@contextmanager
def _expected_errors(endpoint: Endpoint | None) -> Iterator[None]:
    """Turn expected failures into a message and an exit code instead of a traceback."""
    try:
        yield
    except (ProfileError, ProfileNotFound) as exc:
        _fail(str(exc), 2)
    except ConnectError as exc:
        missing = isinstance(endpoint, SerialEndpoint) and not os.path.exists(endpoint.device)
        _fail(str(exc), 2 if missing else 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


_RESET_HINT = ("many Modbus TCP devices accept only one or a few masters at a time (is the gateway "
               "service or another tool connected?) or only some client addresses; check the port, "
               "and use --rtu-over-tcp for a serial-to-Ethernet converter that passes RTU frames")


class _ConnectionLost(Exception):
    """A connection that failed under a request: the one-shot tools stop (not a ModbusError, so
    no reader turns it into one error row per point)."""

    def __init__(self, error: ConnectError) -> None:
        super().__init__(str(error))
        self.error = error


class _FailFast:
    """A register source for read, probe and guess that ends the command when the connection
    drops (reset, refused, closed) instead of reporting every point as a comm error."""

    def __init__(self, conn: ModbusConnection) -> None:
        self.conn = conn

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        try:
            return self.conn.read_registers(unit, function, address, count)
        except ConnectError as exc:
            raise _ConnectionLost(exc) from None


@contextmanager
def _connection(endpoint: Endpoint, timeout: float) -> Iterator[_FailFast]:
    with _expected_errors(endpoint):
        conn = ModbusConnection(endpoint, timeout=timeout)
        conn.open()
        try:
            yield _FailFast(conn)
        except _ConnectionLost as exc:
            hint = "" if isinstance(endpoint, SerialEndpoint) else f"; {_RESET_HINT}"
            _fail(f"{exc.error}{hint}", 1)
        finally:
            conn.close()


__all__ = ["probe", "read", "scan"]
