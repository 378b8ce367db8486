"""Find the meters on a bus and tell which model and variant each one is.

A unit is present when it answers anything valid to a one-register read (holding register 0): the
registers, or a Modbus exception (exception 2 "illegal data address" still proves a device is there).
Silence and garbage mean absent, and so do exceptions 10/11, which a TCP gateway sends for a unit
that does not answer behind it.

Each present unit is identified by evaluating every profile variant's fingerprint: a quantity item
must read and lie in its plausible range; a register item must equal its value or lie in its range.
A variant matches when every check passes; among matches, the one with more checks wins. A unit that
matches nothing is reported "unknown", with the closest variant and what failed.

On a serial port the scan repeats over line settings (baud x parity). Each probe waits the wire time
of a one-register read plus the slowest turnaround any profile declares (`device.turnaround_ms`) plus
a slack for the OS and the adapter, so every modelled device answers inside the probe. The reply time
is measured: a device that answers after the window its own profile declares (or, unidentified, the
default 20 ms turnaround) but within the timeout is reported "answered late". A device slower than the
timeout answers into the next probe, which then sees garbage: the scan asks the unit before and the
unit itself again with the long identification timeout, so even those are found (and reported late).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from core.reading import Quality
from drivers.errors import (
    ConnectError,
    ModbusError,
    ModbusExceptionResponse,
    ModbusFrameError,
    ProfileError,
)
from drivers.guess import RegisterSnapshot
from drivers.profiles import (
    DeviceLimits,
    FingerprintRegister,
    MeterVariant,
    load_profile,
    profile_files,
)
from drivers.reader import MeterReader, RegisterSource
from drivers.transport import default_stopbits
from drivers.wiretime import bits_per_char, read_airtime

DEFAULT_BAUDS: tuple[int, ...] = (9600, 19200, 4800, 2400, 1200, 38400, 115200)
DEFAULT_PARITIES: tuple[str, ...] = ("N", "E")
DEFAULT_UNITS = "1-247"
# on top of wire time and turnaround: OS scheduling, a USB adapter's latency timer (16 ms on FTDI
# chips) and the master's own overhead (about 10 ms measured on a pty at 9600 baud, several times
# that on a loaded machine): a device a little slower than its profile says is still caught
SLACK_S = 0.08
# over TCP: the network and, for a TCP gateway in front of a bus, that bus's wire time
TCP_SLACK_S = 0.1
# behind a serial-to-Ethernet converter the bus may run as slow as 1200 baud (~0.18 s per probe)
SLOWEST_CONVERTER_BAUD = 1200
DEFAULT_TURNAROUND_S = DeviceLimits().turnaround_ms / 1000  # what a profile without one gets
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

    def probe_timeout(self, turnaround_s: float = DEFAULT_TURNAROUND_S) -> float:
        """Wire time of a one-register read at this setting, the device's turnaround and a slack."""
        return read_airtime(1, self.baud, self.bits, turnaround_s) + SLACK_S

    def ident_timeout(self, turnaround_s: float = DEFAULT_TURNAROUND_S) -> float:
        """Long enough for the largest read a profile plans (125 registers)."""
        return read_airtime(125, self.baud, self.bits, turnaround_s) + IDENT_MARGIN_S

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


@dataclass(frozen=True, slots=True)
class ProbeTiming:
    """How long a probe waits, and when an answer counts as late, on one kind of link.

    The window for a device with turnaround T: serial, the wire time of a one-register read at the
    line setting + T + SLACK_S; Modbus TCP, T + TCP_SLACK_S; RTU over TCP, the wire time at 1200
    baud (the converter's bus speed is unknown) + T + TCP_SLACK_S. A probe waits the window of the
    slowest turnaround the profiles declare, unless a timeout is given.
    """

    link: str  # "serial" | "tcp" | "rtu-over-tcp"
    turnaround_s: float = DEFAULT_TURNAROUND_S  # the slowest declared
    slowest: str = ""  # the profile variant that declares it
    timeout_s: float | None = None  # given by the user: replaces the computed probe timeout

    @classmethod
    def for_variants(cls, link: str, variants: Iterable[MeterVariant],
                     timeout_s: float | None = None) -> ProbeTiming:
        slowest = max(variants, key=lambda v: v.device.turnaround_ms, default=None)
        if slowest is None:
            return cls(link, timeout_s=timeout_s)
        return cls(link, max(DEFAULT_TURNAROUND_S, slowest.device.turnaround_ms / 1000),
                   slowest.key, timeout_s)

    def window(self, setting: LineSetting | None, turnaround_s: float) -> float:
        """Seconds within which a device with this turnaround answers a presence probe."""
        if self.link == "serial" and setting is not None:
            return setting.probe_timeout(turnaround_s)
        if self.link == "rtu-over-tcp":
            return read_airtime(1, SLOWEST_CONVERTER_BAUD, 10, turnaround_s) + TCP_SLACK_S
        return turnaround_s + TCP_SLACK_S

    def probe_timeout(self, setting: LineSetting | None) -> float:
        return self.timeout_s or self.window(setting, self.turnaround_s)

    def ident_timeout(self, setting: LineSetting | None) -> float:
        """For identification reads, which may carry up to 125 registers."""
        own = setting.ident_timeout(self.turnaround_s) if self.link == "serial" and setting \
            else 1.0 + self.turnaround_s
        return max(own, self.probe_timeout(setting))


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


def presence(source: RegisterSource, unit: int) -> tuple[Presence, str, int | None]:
    """Is `unit` there? One read of holding register 0; returns the state, what answered and, for
    garbage that looks like another unit's late answer (unit id, FC3), that unit."""
    try:
        regs = source.read_registers(unit, PRESENCE_FUNCTION, PRESENCE_ADDRESS, 1)
    except ModbusExceptionResponse as exc:
        if exc.code in GATEWAY_ABSENT:
            return Presence.ABSENT, str(exc), None
        return Presence.PRESENT, f"exception {exc.code} ({exc.name})", None
    except ModbusFrameError as exc:
        data = exc.data
        late = data[0] if len(data) >= 2 and data[1] & 0x7F == PRESENCE_FUNCTION else None
        return Presence.GARBAGE, str(exc), late if late != unit else None
    except ModbusError as exc:
        if isinstance(exc, ConnectError):
            raise
        return Presence.ABSENT, str(exc), None
    return Presence.PRESENT, f"register 0 = 0x{regs[0]:04X}", None


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
    turnaround_ms: float = DEFAULT_TURNAROUND_S * 1000  # what the variant declares

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
                          passed, len(variant.fingerprint), tuple(failures),
                          variant.device.turnaround_ms)


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
    response_s: float | None = None  # measured: request out to answer in
    expected_s: float | None = None  # the window its profile's turnaround gives (default if unknown)
    recovered: bool = False  # answered only after the probe's timeout (found when asked again)

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

    @property
    def late(self) -> bool:
        """Answered after the window its own profile declares (or after the probe's timeout)."""
        if self.recovered:
            return True
        return (self.response_s is not None and self.expected_s is not None
                and self.response_s > self.expected_s)

    def timing(self) -> str:
        """The reply time in words, e.g. '184 ms (answered late: ... )'."""
        if self.response_s is None:
            return "-"
        shown = f"{self.response_s * 1000:.0f} ms"
        if not self.late:
            return shown
        best = self.identified
        declared = (f"{best.key} declares a {best.turnaround_ms:g} ms turnaround" if best
                    else f"an unknown device, taken at the default {DEFAULT_TURNAROUND_S * 1000:g} "
                         "ms turnaround")
        expected = f"within {self.expected_s * 1000:.0f} ms" if self.expected_s else ""
        if self.recovered:
            return (f"{shown} (answered late: after the probe's timeout, found when asked again; "
                    f"{declared}, {expected})")
        return f"{shown} (answered late: {declared}, so {expected} was expected)"

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
            "response_ms": None if self.response_s is None else round(self.response_s * 1000, 1),
            "expected_ms": None if self.expected_s is None else round(self.expected_s * 1000, 1),
            "late": self.late,
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
    timeouts: dict[str, float] = field(default_factory=dict)  # setting -> probe timeout (s)
    timing: ProbeTiming | None = None
    resets: int = 0  # probes the peer answered by dropping the connection

    @property
    def late(self) -> list[FoundDevice]:
        return [d for d in self.devices if d.late]

    def as_dict(self) -> dict[str, object]:
        return {
            "devices": [d.as_dict() for d in self.devices],
            "late": [d.unit for d in self.late],
            "probe_timeout_ms": {k: round(v * 1000, 1) for k, v in self.timeouts.items()},
            "slowest_turnaround_ms": None if self.timing is None
            else round(self.timing.turnaround_s * 1000, 1),
            "slowest_profile": None if self.timing is None else self.timing.slowest or None,
            "connection_resets": self.resets,
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
    timing: ProbeTiming | None = None,
    stop_at_first: bool = False,
    on_progress: ProgressFn | None = None,
    on_found: FoundFn | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ScanReport:
    """Probe every unit at every line setting; identify and report each device as it is found.

    Each probe waits `timing`'s probe timeout (default: the slowest turnaround among `variants`, on
    a serial link when `settings` are line settings, else TCP); `timeout` replaces it.
    With `stop_at_first`, the scan ends after the line setting at which the first device answered
    (all its units are still probed): buses run at one setting, so this saves the other settings.
    A line setting the port cannot be opened at (ConnectError) is skipped and reported in
    `unusable`; if no setting can be opened the first error is raised.
    """
    if timing is None:
        link = "tcp" if all(s is None for s in settings) else "serial"
        timing = ProbeTiming.for_variants(link, variants)
    if timeout is not None:
        timing = replace(timing, timeout_s=timeout)
    report = ScanReport(timing=timing)
    started = clock()
    progress = _Progress(len(units) * len(settings), on_progress)
    for setting in settings:
        report.settings_scanned.append(setting)
        t_probe = timing.probe_timeout(setting)
        report.timeouts["tcp" if setting is None else str(setting)] = t_probe
        bus = _Bus(connect, setting, t_probe, clock)
        try:
            bus.open()
        except ConnectError as exc:
            if setting is None:
                raise
            report.unusable[str(setting)] = str(exc)
            progress.skip(len(units))
            continue
        try:
            _sweep(bus, units, variants, timing, report, progress, on_found)
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


def _sweep(bus: _Bus, units: Sequence[int], variants: Sequence[MeterVariant], timing: ProbeTiming,
           report: ScanReport, progress: _Progress, on_found: FoundFn | None) -> None:
    """Every unit at the bus's line setting. A garbled answer is often the late answer of a slow
    device asked just before: that unit and this one are asked again with the long timeout."""
    setting = bus.setting
    t_ident = timing.ident_timeout(setting)

    def found(unit: int, answer: str, response_s: float, recovered: bool = False) -> None:
        results = tuple(bus.identify(unit, variants, t_ident))
        device = FoundDevice(unit, setting, answer, results, response_s, recovered=recovered)
        best = device.identified
        turnaround = best.turnaround_ms / 1000 if best else DEFAULT_TURNAROUND_S
        device = replace(device, expected_s=timing.window(setting, turnaround))
        report.devices.append(device)
        if on_found:
            on_found(device)

    history: list[tuple[int, Presence]] = []  # this setting's probes, latest last
    for unit in units:
        progress.step(setting, unit)
        state, answer, took, stray = bus.presence(unit)
        report.probes += 1
        report.resets += bus.resets
        bus.resets = 0
        if state is Presence.GARBAGE:
            key = "tcp" if setting is None else str(setting)
            report.garbage[key] = report.garbage.get(key, 0) + 1
            for u in [*_late_suspects(history, stray), unit]:
                state_again, answer_again, took_again, _ = bus.presence(u, timeout=t_ident)
                report.probes += 1
                if state_again is Presence.PRESENT:
                    found(u, answer_again, took_again, recovered=True)
        elif state is Presence.PRESENT:
            found(unit, answer, took)
        history.append((unit, state))


def _late_suspects(history: Sequence[tuple[int, Presence]], stray: int | None) -> list[int]:
    """Units whose late answer may have garbled this probe: the unit the stray frame names, if it
    was taken as absent, and the last absent unit of the two probes before (a late answer can
    land after the next unit's own answer, one probe later)."""
    absent = {u for u, s in history if s is Presence.ABSENT}
    out = [stray] if stray is not None and stray in absent else []
    for u, s in reversed(history[-2:]):
        if s is Presence.ABSENT and u not in out:
            out.append(u)
            break
    return out


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

    def __init__(self, connect: Connector, setting: LineSetting | None, timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.connect = connect
        self.setting = setting
        self.timeout = timeout
        self.clock = clock
        self.stack: ExitStack | None = None
        self.source: RegisterSource | None = None
        self.resets = 0  # connections the peer dropped since last counted

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

    def presence(self, unit: int,
                 timeout: float | None = None) -> tuple[Presence, str, float, int | None]:
        """Probe `unit` (with a `timeout` longer than the scan's, on a connection reopened for
        it); the state, what answered, the seconds the answer took, and the unit a late frame in
        garbage names."""
        slow = timeout is not None and timeout > self.timeout
        if timeout is not None and slow:
            source = self._open(timeout)
        else:
            source = self.source or self._open(self.timeout)
        started = self.clock()
        try:
            state, answer, stray = presence(source, unit)
            return state, answer, self.clock() - started, stray
        except ConnectError as exc:
            # some TCP devices drop the connection for a unit id they do not serve: reconnect once
            self.resets += 1
            self._open(self.timeout)
            return Presence.ABSENT, str(exc), self.clock() - started, None
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
    "DEFAULT_BAUDS", "DEFAULT_PARITIES", "DEFAULT_TURNAROUND_S",
    "Connector", "FoundDevice", "Identification",
    "LineSetting", "Presence", "ProbeTiming", "ScanReport", "check_fingerprint", "identify", "line_settings",
    "parse_units", "presence", "profile_variants", "scan",
]
