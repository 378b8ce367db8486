"""`metergate scan / probe / read --protocol dlt645|cjt188`: the commissioning tools for meters read
by data identifier. Thin, like cli/commands/commissioning.py (which hands over here when --protocol
is not modbus): parse the address and DI, call drivers (di_probe, the protocol's connection), print a
table for people or JSON for programs. Exit codes as there: 2 for a bad option, profile or missing
port; 1 for a meter that does not answer or a line that fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from drivers.bcd import parse_address
from drivers.connections import open_connection
from drivers.di_probe import DiProbeResult, di_text, probe_di
from drivers.di_profiles import DiVariant, load_all_di, resolve_di_variant
from drivers.errors import ConnectError, ErrorReply, ModbusError, ProfileError, ProfileNotFound
from drivers.transport import Endpoint, SerialEndpoint

NAMES = {"dlt645": "DL/T 645-2007", "cjt188": "CJ/T 188-2004"}
DIGITS = {"dlt645": 12, "cjt188": 14}
GENERIC_PROFILE = {"dlt645": "dlt645-2007", "cjt188": "cjt188-water"}
# the DI a scan asks each address: combined active energy (DL/T 645), current data (CJ/T 188)
SCAN_DI = {"dlt645": 0x00000000, "cjt188": 0x901F}
# the line most of these meters leave the factory with
DEFAULT_LINE = (2400, "E", 1)


def check_protocol(protocol: str) -> str:
    protocol = protocol.lower()
    if protocol not in ("modbus", *NAMES):
        raise typer.BadParameter(f"{protocol!r}: use modbus, dlt645 or cjt188", param_hint="--protocol")
    return protocol


def meter_address(text: str | None, protocol: str, *, option: str = "--address") -> str:
    """Nameplate digits (spaces and dashes allowed, leading zeros may be left out) -> the 12 / 14
    digits; BadParameter naming the option otherwise."""
    if text is None:
        raise typer.BadParameter(f"give the meter's {DIGITS[protocol]}-digit address as printed on "
                                 f"its nameplate ({NAMES[protocol]})", param_hint=option)
    try:
        wire = parse_address(text, DIGITS[protocol], what=f"{NAMES[protocol]} address")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
    return bytes(reversed(wire)).hex()


def parse_di(text: str, protocol: str) -> int:
    digits = 8 if protocol == "dlt645" else 4
    cleaned = text.replace(" ", "").replace("-", "")
    try:
        if len(cleaned) != digits:
            raise ValueError
        return int(cleaned, 16)
    except ValueError:
        example = "02010100 (phase A voltage)" if protocol == "dlt645" else "901F (current data)"
        raise typer.BadParameter(f"{text!r}: a {NAMES[protocol]} data identifier is {digits} hex "
                                 f"digits as the standard writes it, e.g. {example}",
                                 param_hint="--di") from None


def variant_for(profile: str, protocol: str) -> DiVariant:
    try:
        return resolve_di_variant(profile, protocol)
    except (ProfileNotFound, ProfileError) as exc:
        _fail(f"{exc}", 2)


def line_defaults(baud: int | None, parity: str | None, stopbits: int | None,
                  variant: DiVariant | None = None) -> tuple[int, str, int]:
    serial = variant.device.serial if variant is not None else None
    base = (serial.baud, serial.parity, serial.stopbits) if serial is not None else DEFAULT_LINE
    return baud or base[0], (parity or base[1]).upper(), stopbits or base[2]


@contextmanager
def frame_connection(endpoint: Endpoint, protocol: str, timeout: float) -> Iterator[Any]:
    try:
        conn = open_connection(endpoint, timeout=timeout, protocol=protocol)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; use --serial or --rtu-over-tcp",
                                 param_hint="--tcp") from None
    try:
        conn.open()
    except ConnectError as exc:
        missing = isinstance(endpoint, SerialEndpoint) and not os.path.exists(endpoint.device)
        _fail(str(exc), 2 if missing else 1)
    try:
        yield conn
    except ConnectError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    finally:
        conn.close()


# -- probe -------------------------------------------------------------------------------------------

def probe_frames(endpoint: Endpoint, protocol: str, variant: DiVariant, address: str,
                 timeout: float, json_out: bool) -> None:
    with frame_connection(endpoint, protocol, timeout) as conn:
        outcome = probe_di(conn, variant, address)
    if outcome.silent:
        _fail(_silent(endpoint, protocol, address, timeout), 1)
    if json_out:
        _emit({"endpoint": str(endpoint), **outcome.as_dict()})
        return
    out = Console(highlight=False)
    out.print(f"{variant.manufacturer} {variant.model} ({variant.key}) on {endpoint}, "
              f"{NAMES[protocol]} address {address}: {len(outcome.points)} point(s) in "
              f"{outcome.requests} request(s)")
    out.print(_points_table(outcome))
    out.print(outcome.summary())


def _points_table(outcome: DiProbeResult) -> Table:
    table = Table("quantity", "value", "unit", "quality", "DI", "raw", "verdict")
    for p in outcome.points:
        r = p.reading
        table.add_row(r.quantity, "—" if r.value is None else f"{r.value:g}", r.unit,
                      r.quality.value, p.di, bytes(r.raw).hex(" ").upper(), p.verdict)
    return table


def _silent(endpoint: Endpoint, protocol: str, address: str, timeout: float) -> str:
    return (f"no answer from {NAMES[protocol]} address {address} on {endpoint} within {timeout:g} s: "
            "check the address on the nameplate, the line settings (many leave the factory at "
            "2400 8E1), A/B wiring; `metergate scan --protocol "
            f"{protocol}` reads the address of a meter alone on the line")


# -- read --------------------------------------------------------------------------------------------

def read_frames(endpoint: Endpoint, protocol: str, address: str, di: int, meter_type: int | None,
                timeout: float, json_out: bool) -> None:
    """One data identifier: the value bytes as answered, and decoded when a bundled profile knows
    the identifier."""
    with frame_connection(endpoint, protocol, timeout) as conn:
        try:
            data: bytes = conn.read_di(address, di, meter_type)
        except ErrorReply as exc:
            _fail(f"{NAMES[protocol]} address {address} refuses DI {di_text(protocol, di)}: {exc}", 1)
        except ModbusError as exc:
            if exc.kind == "timeout":
                _fail(_silent(endpoint, protocol, address, timeout), 1)
            _fail(f"DI {di_text(protocol, di)} from {address}: {exc}", 1)
    decoded = _decode_known(protocol, di, data)
    if json_out:
        _emit({"endpoint": str(endpoint), "protocol": protocol, "address": address,
               "di": di_text(protocol, di), "data": data.hex(" ").upper(), "decoded": decoded})
        return
    out = Console(highlight=False)
    out.print(f"{NAMES[protocol]} address {address}, DI {di_text(protocol, di)}: "
              f"{len(data)} byte(s) {data.hex(' ').upper() or '(none)'}")
    for d in decoded:
        value = "—" if d["value"] is None else f"{d['value']:g} {d['unit']}"
        out.print(f"  {d['quantity']}: {value}  ({d['profile']}{'; ' + d['why'] if d['why'] else ''})")
    if not decoded:
        out.print("  (no bundled profile names this identifier: the bytes are as the meter sent "
                  "them, 0x33 removed)")


def _decode_known(protocol: str, di: int, data: bytes) -> list[dict[str, Any]]:
    """Each bundled profile point on `di`, decoded (one entry per distinct reading)."""
    seen: set[tuple[str, float | None]] = set()
    out: list[dict[str, Any]] = []
    for pid, prof in sorted(load_all_di(protocol).items()):
        for variant in prof.variants.values():
            for p in variant.points:
                if p.di != di:
                    continue
                value, why = p.decode(data)
                if (p.quantity, value) in seen:
                    continue
                seen.add((p.quantity, value))
                out.append({"quantity": p.quantity, "value": value, "unit": p.unit,
                            "profile": f"{pid}:{variant.name}", "why": why})
    return out


# -- scan --------------------------------------------------------------------------------------------

def scan_frames(endpoint: Endpoint, protocol: str, addresses: list[str], timeout: float,
                json_out: bool) -> None:
    """With no address given: read-address (the wildcard address; one meter on the line only).
    With addresses: ask each one the basic DI and list who answers."""
    found: list[dict[str, Any]] = []
    with frame_connection(endpoint, protocol, timeout) as conn:
        if not addresses:
            try:
                address = conn.read_address()
            except ModbusError as exc:
                why = ("no meter answered the wildcard address" if exc.kind == "timeout" else
                       f"the answer is broken ({exc}): likely more than one meter on the line")
                _fail(f"read address on {endpoint}: {why}. {NAMES[protocol]} has no bus-wide "
                      "search: the wildcard read works with one meter on the line only, and 10^"
                      f"{DIGITS[protocol]} addresses cannot be tried; give the nameplate addresses "
                      "with --address (or --address-file)", 1)
            found.append({"address": address, "how": "read address (wildcard)"})
        else:
            for address in addresses:
                entry: dict[str, Any] = {"address": address}
                try:
                    conn.read_di(address, SCAN_DI[protocol])
                    entry["answers"] = True
                except ErrorReply as exc:
                    entry["answers"] = True
                    entry["note"] = f"answers, refuses DI {di_text(protocol, SCAN_DI[protocol])}: {exc}"
                except ModbusError as exc:
                    entry["answers"] = False
                    entry["note"] = "no answer" if exc.kind == "timeout" else str(exc)
                found.append(entry)
    if json_out:
        _emit({"endpoint": str(endpoint), "protocol": protocol, "meters": found})
    else:
        out = Console(highlight=False)
        for entry in found:
            state = "answers" if entry.get("answers", True) else "silent"
            out.print(f"{entry['address']}: {state}  {entry.get('note') or entry.get('how', '')}")
            if entry.get("answers", True):
                out.print(f"  metergate probe --protocol {protocol} {_line_options(endpoint)} "
                          f"--address {entry['address']} --profile {GENERIC_PROFILE[protocol]}")
    if not any(e.get("answers", True) for e in found):
        raise typer.Exit(1)


def addresses_from(values: list[str] | None, file: Path | None, protocol: str) -> list[str]:
    texts = list(values or [])
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise typer.BadParameter(f"{file}: {exc.strerror}", param_hint="--address-file") from None
        for n, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if text:
                texts.append(meter_address(text, protocol, option=f"--address-file {file}:{n}"))
    return [meter_address(t, protocol) for t in texts]


def _line_options(endpoint: Endpoint) -> str:
    if isinstance(endpoint, SerialEndpoint):
        return (f"--serial {endpoint.device} --baud {endpoint.baud} --parity {endpoint.parity}")
    return f"--rtu-over-tcp {getattr(endpoint, 'host', '')}:{getattr(endpoint, 'port', '')}"


def _emit(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False))


def _fail(message: str, code: int) -> NoReturn:
    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


__all__ = ["addresses_from", "check_protocol", "line_defaults", "meter_address", "parse_di",
           "probe_frames", "read_frames", "scan_frames", "variant_for"]
