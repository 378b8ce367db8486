"""Find the meters on a bus and tell which model and variant each one is.

A unit is present when it answers anything valid to a one-register read (holding register 0): the
registers, or a Modbus exception (exception 2 "illegal data address" still proves a device is there).
Silence and garbage mean absent, and so do exceptions 10/11, which a TCP gateway sends for a unit
that does not answer behind it.

Each present unit is identified by evaluating every profile variant's fingerprint: a quantity item
must read and lie in its plausible range; a register item must equal its value or lie in its range.
A variant matches when every check passes; among matches, the one with more checks wins. A unit that
matches nothing is reported "unknown", with the closest variant and what failed.

On a serial port the scan repeats over line settings (baud x parity); each setting has its own short
timeout: the wire time of the probe plus ~80 ms. A device slower than that answers late, into the
next probe, which then sees garbage: the scan asks the unit before and the unit itself again with
the long identification timeout, so slow devices are found without slowing every probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from drivers.errors import (
    ConnectError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusFrameError,
    ProfileError,
)
from drivers.guess import RegisterSnapshot
from drivers.profiles import FingerprintRegister, MeterVariant, load_profile, profile_files
from drivers.reader import MeterReader, Quality, RegisterSource
from drivers.transport import default_stopbits
from drivers.wiretime import bits_per_char, read_airtime

DEFAULT_BAUDS: tuple[int, ...] = (9600, 19200, 4800, 2400, 1200, 38400, 115200)
DEFAULT_PARITIES: tuple[str, ...] = ("N", "E")
DEFAULT_UNITS = "1-247"
PROBE_MARGIN_S = 0.08  # device turnaround and OS latency on top of the wire time
TCP_PROBE_TIMEOUT_S = 0.2
# behind a serial-to-Ethernet converter the bus may run as slow as 1200 baud (~0.26 s per probe)
RTU_OVER_TCP_PROBE_TIMEOUT_S = 0.35
IDENT_MARGIN_S = 0.25
IDENT_MAX_GAP = 10  # registers read across to put two fingerprint checks in one request
GATEWAY_ABSENT = frozenset({10, 11})  # gateway path unavailable / target failed to respond


# ---------------------------------------------------------------------------------------------------
# what to scan


@dataclass(frozen=True, slots=True)
class LineSetting:
    baud: int
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    def __str__(self) -> str:
        return f"{self.baud} {self.bytesize}{self.parity}{self.stopbits}"

    @property
    def bits(self) -> int:
        return bits_per_char(self.bytesize, self.parity, self.stopbits)

    def probe_timeout(self) -> float:
        """Wire time of a one-register read at this setting plus a margin for the device."""
        return read_airtime(1, self.baud, self.bits) + PROBE_MARGIN_S

    def ident_timeout(self) -> float:
        """Long enough for the largest read a profile plans (125 registers)."""
        return read_airtime(125, self.baud, self.bits) + IDENT_MARGIN_S

    def as_dict(self) -> dict[str, object]:
        return {"baud": self.baud, "parity": self.parity, "stopbits": self.stopbits,
                "bytesize": self.bytesize}


def line_settings(bauds: Sequence[int] | None = None, parities: Sequence[str] | None = None,
                  stopbits: int | None = None) -> list[LineSetting]:
    """Every baud x parity, in the given order (defaults: the common meter settings)."""
    out: list[LineSetting] = []
    for baud in bauds or DEFAULT_BAUDS:
        for parity in parities or DEFAULT_PARITIES:
            p = parity.upper()
            out.append(LineSetting(baud, p, stopbits or default_stopbits(p)))
    return out


def parse_units(text: str, *, low: int = 1, high: int = 247) -> list[int]:
    """'1-10,20' -> [1, ..., 10, 20]; raise ValueError naming the bad part."""
    units: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            a = int(first)
            b = int(last) if sep else a
        except ValueError:
            raise ValueError(f"{part!r} is not a unit id or range; write e.g. 1-10,20") from None
        if a > b:
            raise ValueError(f"{part!r}: the range runs backwards; write {b}-{a}")
        if a < low or b > high:
            raise ValueError(f"{part!r}: unit ids run from {low} to {high}")
        units += [u for u in range(a, b + 1) if u not in units]
    if not units:
        raise ValueError("no unit ids given; write e.g. 1-247 or 1-10,20")
    return units


def profile_variants(dirs: Iterable[Path] | None = None) -> tuple[list[MeterVariant], list[str]]:
    """Every variant of every profile found, and the problems of profiles that failed to load
    (a broken user profile should not stop a scan; it is reported instead)."""
    variants: list[MeterVariant] = []
    problems: list[str] = []
    for path in profile_files(dirs).values():
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            problems += [f"{exc.path}: {p}" for p in exc.problems]
            continue
        variants += list(profile.variants.values())
    return variants, problems


# ---------------------------------------------------------------------------------------------------
# presence


class Presence(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    GARBAGE = "garbage"  # bytes arrived but no valid frame: often a device at another setting


PRESENCE_FUNCTION, PRESENCE_ADDRESS = 3, 0


def presence(source: RegisterSource, unit: int) -> tuple[Presence, str]:
    """Is `unit` there? One read of holding register 0; returns the state and what answered."""
    try:
        regs = source.read_registers(unit, PRESENCE_FUNCTION, PRESENCE_ADDRESS, 1)
    except ModbusExceptionResponse as exc:
        if exc.code in GATEWAY_ABSENT:
            return Presence.ABSENT, str(exc)
        return Presence.PRESENT, f"exception {exc.code} ({exc.name})"
    except ModbusFrameError as exc:
        return Presence.GARBAGE, str(exc)
    except ModbusError as exc:
        if isinstance(exc, ConnectError):
            raise
        return Presence.ABSENT, str(exc)
    return Presence.PRESENT, f"register 0 = 0x{regs[0]:04X}"


# ---------------------------------------------------------------------------------------------------
# identification


@dataclass(frozen=True)
class Identification:
    profile_id: str
    variant: str
    manufacturer: str
    model: str
    passed: int
    checks: int
    failures: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.profile_id}:{self.variant}"

    @property
    def matched(self) -> bool:
        return self.checks > 0 and self.passed == self.checks

    def as_dict(self) -> dict[str, object]:
        return {"profile": self.profile_id, "variant": self.variant,
                "manufacturer": self.manufacturer, "model": self.model,
                "passed": self.passed, "checks": self.checks, "failures": list(self.failures)}


def check_fingerprint(source: RegisterSource, unit: int, variant: MeterVariant) -> Identification:
    """Evaluate every fingerprint check of `variant` against `unit`."""
    names = [item for item in variant.fingerprint if isinstance(item, str)]
    failures: list[str] = []
    passed = 0
    if names:
        reader = MeterReader(source, variant, unit, quantities=names)
        for r in reader.read():
            if r.quality is Quality.OK:
                passed += 1
            else:
                shown = "no value" if r.value is None else f"{r.value:g} {r.unit}".strip()
                failures.append(f"{r.quantity}: {shown} ({r.error or r.quality.value})")
    for item in variant.fingerprint:
        if isinstance(item, FingerprintRegister):
            problem = _check_register(source, unit, item)
            if problem is None:
                passed += 1
            else:
                failures.append(problem)
    return Identification(variant.profile_id, variant.name, variant.manufacturer, variant.model,
                          passed, len(variant.fingerprint), tuple(failures))


def _check_register(source: RegisterSource, unit: int, item: FingerprintRegister) -> str | None:
    where = f"register {item.address} (FC{item.function})"
    try:
        value = item.codec.decode(source.read_registers(unit, item.function, item.address,
                                                        item.codec.count))
    except ModbusError as exc:
        return f"{where}: {exc}"
    if value is None:
        return f"{where}: NaN or sentinel"
    if item.equals is not None and abs(value - item.equals) > 1e-9 * max(1.0, abs(item.equals)):
        return f"{where} = {value:g}, expected {item.equals:g}"
    if item.range is not None and not item.range[0] <= value <= item.range[1]:
        return f"{where} = {value:g}, expected {item.range[0]:g}..{item.range[1]:g}"
    return None


def fingerprint_registers(variants: Iterable[MeterVariant]) -> dict[int, set[int]]:
    """function -> wire addresses every fingerprint check of `variants` reads."""
    needed: dict[int, set[int]] = {}
    for v in variants:
        names = {item for item in v.fingerprint if isinstance(item, str)}
        spans = [s for p in v.points if p.quantity in names for s in p.spans()]
        spans += [(item.function, item.address, item.codec.count) for item in v.fingerprint
                  if isinstance(item, FingerprintRegister)]
        for fc, a, n in spans:
            needed.setdefault(fc, set()).update(range(a, a + n))
    return needed


def identify(source: RegisterSource, unit: int,
             variants: Sequence[MeterVariant]) -> list[Identification]:
    """Every fingerprinted variant's verdict, best first: full matches (more checks first), then
    partial ones by share of checks passed.

    The registers of all checks are read once, in as few requests as the device accepts
    (neighbouring registers share a request), and every variant is checked against that snapshot.
    """
    variants = [v for v in variants if v.fingerprint]
    snap = RegisterSnapshot()
    snap.fetch(source, unit, fingerprint_registers(variants), max_gap=IDENT_MAX_GAP)
    results = [check_fingerprint(snap, unit, v) for v in variants]
    results.sort(key=lambda i: (not i.matched, -i.checks if i.matched else 0,
                                -(i.passed / i.checks), i.key))
    return results


# ---------------------------------------------------------------------------------------------------
# the scan


@dataclass(frozen=True)
class FoundDevice:
    unit: int
    setting: LineSetting | None  # None on TCP / RTU over TCP
    answer: str  # what proved it present
    results: tuple[Identification, ...]  # best first

    @property
    def matches(self) -> list[Identification]:
        """The best full matches: several only when they cannot be told apart."""
        full = [r for r in self.results if r.matched]
        return [r for r in full if r.checks == full[0].checks] if full else []

    @property
    def identified(self) -> Identification | None:
        m = self.matches
        return m[0] if len(m) == 1 else None

    @property
    def closest(self) -> Identification | None:
        return None if self.matches or not self.results else self.results[0]

    def describe(self) -> str:
        m = self.matches
        if len(m) == 1:
            return f"{m[0].manufacturer} {m[0].model} ({m[0].key})"
        if m:
            return "ambiguous: " + " or ".join(r.key for r in m)
        c = self.closest
        if c is not None and c.passed:
            return f"unknown (nearest: {c.key} passes {c.passed} of {c.checks} checks)"
        return "unknown"

    def as_dict(self) -> dict[str, object]:
        best = self.identified
        return {
            "unit": self.unit,
            "line": None if self.setting is None else self.setting.as_dict(),
            "answer": self.answer,
            "identified": best is not None,
            "profile": best.profile_id if best else None,
            "variant": best.variant if best else None,
            "manufacturer": best.manufacturer if best else None,
            "model": best.model if best else None,
            "description": self.describe(),
            "matches": [r.key for r in self.matches],
            "closest": None if self.closest is None else self.closest.as_dict(),
        }


@dataclass
class ScanReport:
    devices: list[FoundDevice] = field(default_factory=list)
    settings_scanned: list[LineSetting | None] = field(default_factory=list)
    probes: int = 0
    garbage: dict[str, int] = field(default_factory=dict)  # setting -> probes answered with noise
    unusable: dict[str, str] = field(default_factory=dict)  # setting -> why the port would not open
    elapsed: float = 0.0
    stopped_early: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "devices": [d.as_dict() for d in self.devices],
            "settings_scanned": [None if s is None else str(s) for s in self.settings_scanned],
            "probes": self.probes, "garbage": self.garbage, "unusable": self.unusable,
            "elapsed_s": round(self.elapsed, 3), "stopped_early": self.stopped_early,
        }


class Connector(Protocol):
    """Opens the bus at a line setting (None: TCP) with a response timeout; closes on exit."""

    def __call__(self, setting: LineSetting | None,
                 timeout: float) -> AbstractContextManager[RegisterSource]: ...


ProgressFn = Callable[[int, int, LineSetting | None, int], None]  # done, total, setting, unit
FoundFn = Callable[[FoundDevice], None]


def scan(
    connect: Connector,
    *,
    units: Sequence[int],
    settings: Sequence[LineSetting | None] = (None,),
    variants: Sequence[MeterVariant] = (),
    timeout: float | None = None,
    stop_at_first: bool = False,
    on_progress: ProgressFn | None = None,
    on_found: FoundFn | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ScanReport:
    """Probe every unit at every line setting; identify and report each device as it is found.

    With `stop_at_first`, the scan ends after the line setting at which the first device answered
    (all its units are still probed): buses run at one setting, so this saves the other settings.
    A line setting the port cannot be opened at (ConnectError) is skipped and reported in
    `unusable`; if no setting can be opened the first error is raised.
    """
    report = ScanReport()
    started = clock()
    progress = _Progress(len(units) * len(settings), on_progress)
    for setting in settings:
        report.settings_scanned.append(setting)
        t_probe = timeout or (setting.probe_timeout() if setting else TCP_PROBE_TIMEOUT_S)
        bus = _Bus(connect, setting, t_probe)
        try:
            bus.open()
        except ConnectError as exc:
            if setting is None:
                raise
            report.unusable[str(setting)] = str(exc)
            progress.skip(len(units))
            continue
        try:
            _sweep(bus, units, variants, report, progress, on_found)
        finally:
            bus.close()
        if stop_at_first and report.devices and setting is not settings[-1]:
            report.stopped_early = True
            break
    if report.unusable and len(report.unusable) == len(report.settings_scanned):
        raise ConnectError(next(iter(report.unusable.values())))
    progress.finish(report.stopped_early)
    report.elapsed = clock() - started
    return report


def _sweep(bus: _Bus, units: Sequence[int], variants: Sequence[MeterVariant], report: ScanReport,
           progress: _Progress, on_found: FoundFn | None) -> None:
    """Every unit at the bus's line setting. A garbled answer is often the late answer of a slow
    device asked just before: that unit and this one are asked again with the long timeout."""
    setting = bus.setting
    t_ident = max(bus.timeout, setting.ident_timeout() if setting else 1.0)

    def found(unit: int, answer: str) -> None:
        device = FoundDevice(unit, setting, answer, tuple(bus.identify(unit, variants, t_ident)))
        report.devices.append(device)
        if on_found:
            on_found(device)

    previous: tuple[int, Presence] | None = None
    for unit in units:
        progress.step(setting, unit)
        state, answer = bus.presence(unit)
        report.probes += 1
        if state is Presence.GARBAGE:
            key = "tcp" if setting is None else str(setting)
            report.garbage[key] = report.garbage.get(key, 0) + 1
            again = [previous[0]] if previous and previous[1] is Presence.ABSENT else []
            for u in [*again, unit]:
                state_again, answer_again = bus.presence(u, timeout=t_ident)
                report.probes += 1
                if state_again is Presence.PRESENT:
                    found(u, f"{answer_again} (slow to answer)")
        elif state is Presence.PRESENT:
            found(unit, answer)
        previous = (unit, state)


class _Progress:
    def __init__(self, total: int, callback: ProgressFn | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback

    def step(self, setting: LineSetting | None, unit: int) -> None:
        if self.callback:
            self.callback(self.done, self.total, setting, unit)
        self.done += 1

    def skip(self, n: int) -> None:
        self.done += n

    def finish(self, stopped_early: bool) -> None:
        if self.callback:
            self.callback(self.done if stopped_early else self.total, self.total, None, 0)


class _Bus:
    """One open connection at one line setting, reopened with a longer timeout to identify."""

    def __init__(self, connect: Connector, setting: LineSetting | None, timeout: float) -> None:
        self.connect = connect
        self.setting = setting
        self.timeout = timeout
        self.stack: ExitStack | None = None
        self.source: RegisterSource | None = None

    def open(self) -> RegisterSource:
        return self._open(self.timeout)

    def _open(self, timeout: float) -> RegisterSource:
        self.close()
        self.stack = ExitStack()
        self.source = self.stack.enter_context(self.connect(self.setting, timeout))
        return self.source

    def close(self) -> None:
        if self.stack is not None:
            self.stack.close()
        self.stack = self.source = None

    def presence(self, unit: int, timeout: float | None = None) -> tuple[Presence, str]:
        """Probe `unit`; with a `timeout` longer than the scan's, on a connection reopened for it."""
        slow = timeout is not None and timeout > self.timeout
        if timeout is not None and slow:
            source = self._open(timeout)
        else:
            source = self.source or self._open(self.timeout)
        try:
            return presence(source, unit)
        except ConnectError as exc:
            # some TCP devices drop the connection for a unit id they do not serve: reconnect once
            self._open(self.timeout)
            return Presence.ABSENT, str(exc)
        finally:
            if slow:
                self._open(self.timeout)

    def identify(self, unit: int, variants: Sequence[MeterVariant],
                 timeout: float) -> list[Identification]:
        if timeout <= self.timeout or not variants:
            return identify(self.source or self._open(self.timeout), unit, variants)
        try:
            return identify(self._open(timeout), unit, variants)
        finally:
            self._open(self.timeout)


__all__ = [
    "DEFAULT_BAUDS", "DEFAULT_PARITIES", "RTU_OVER_TCP_PROBE_TIMEOUT_S", "TCP_PROBE_TIMEOUT_S",
    "Connector", "FoundDevice", "Identification",
    "LineSetting", "Presence", "ScanReport", "check_fingerprint", "identify", "line_settings",
    "parse_units", "presence", "profile_variants", "scan",
]
