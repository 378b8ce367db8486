"""Faults a simulated meter can show, their spec syntax, and the per-meter set of active faults.

Spec syntax (CLI `--fault`, Simulator.inject): ``UNIT:KIND[:KEY=VALUE,KEY=VALUE...]``, e.g.
``3:no_answer``, ``2:exception:code=6,probability=0.5``, ``1:offline:after=10,duration=30``,
``4:nan:quantity=power_active``. Without the unit (``Fault.parse``) the same text minus ``UNIT:``.

Two families:
- request faults decide how a request is answered: no_answer, offline, late, exception, bad_crc;
- value faults change what the registers hold: stuck, counter_reset, nan, spike, leak.
Every fault accepts `after` (seconds from injection until it starts) and `duration` (seconds it
lasts; default: until cleared); request faults also `count` (only the next N requests it matches)
and `probability` (each matching request with this chance, from a seeded generator).
Times are real (monotonic) seconds, whatever the simulation speed.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message names the allowed kinds and keys."""


_COMMON = ("after", "duration")
_REQUEST = (*_COMMON, "count", "probability")

# kind -> (keys it accepts, one-line effect): the effect text is shown in errors and docs.
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "no_answer": (_REQUEST, "the meter stays silent (the master times out)"),
    "offline": (_REQUEST, "silent for `duration` s starting `after` s from now, then back"),
    "late": ((*_REQUEST, "delay"), "answers `delay` s late (default 1.5, after a usual timeout)"),
    "exception": ((*_REQUEST, "code", "start", "end"),
                  "answers Modbus exception `code` (2 or 6; 2 may be limited to start..end)"),
    "bad_crc": (_REQUEST, "RTU: the answer's CRC is wrong; TCP: a garbled, short answer"),
    "stuck": ((*_COMMON, "quantity"), "the quantity (default: every value) stops changing"),
    "counter_reset": ((*_COMMON, "quantity"),
                      "the counter (default: every counter) drops to 0 and counts on from there"),
    "nan": ((*_COMMON, "quantity"),
            "the quantity (default: every value) reads NaN, its sentinel or 0xFFFF"),
    "spike": ((*_COMMON, "quantity", "factor", "reads"),
              "the quantity reads `factor` (default 10) times its value for `reads` reads (1)"),
    "leak": (("after", "flow"),
             "water meters: a continuous extra flow of `flow` m³/h (default 0.05), for good"),
}
REQUEST_KINDS = frozenset({"no_answer", "offline", "late", "exception", "bad_crc"})
VALUE_KINDS = frozenset(KINDS) - REQUEST_KINDS


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault, as parsed. Only the keys its kind accepts are meaningful."""

    kind: str
    after: float = 0.0
    duration: float | None = None
    count: int | None = None
    probability: float = 1.0
    delay: float = 1.5
    code: int = 2
    start: int | None = None
    end: int | None = None
    quantity: str | None = None
    factor: float = 10.0
    reads: int = 1
    flow: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        problems = []
        if self.after < 0 or (self.duration is not None and self.duration <= 0):
            problems.append("after must be >= 0 and duration > 0 (seconds)")
        if self.count is not None and self.count < 1:
            problems.append("count must be >= 1")
        if not 0.0 <= self.probability <= 1.0:
            problems.append("probability must be within 0..1")
        if self.kind == "exception" and self.code not in (2, 6):
            problems.append(f"code {self.code}: use 2 (illegal data address) or 6 (device busy)")
        if (self.start is not None or self.end is not None) and self.code != 2:
            problems.append("start/end limit code 2 (a missing register) only")
        if self.kind == "spike" and (self.quantity is None or self.reads < 1):
            problems.append("spike needs quantity=NAME (and reads >= 1)")
        if self.delay < 0 or self.flow < 0:
            problems.append("delay and flow must be >= 0")
        if problems:
            raise FaultSpecError(f"fault {self.kind}: " + "; ".join(problems))

    @classmethod
    def parse(cls, text: str) -> Fault:
        """'KIND[:KEY=VALUE,...]' -> Fault; FaultSpecError naming kinds and keys when wrong."""
        kind, _, params = text.strip().partition(":")
        kind = kind.strip().lower().replace("-", "_")
        if kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r}; kinds: {', '.join(KINDS)}")
        allowed = KINDS[kind][0]
        values: dict[str, object] = {}
        for item in filter(None, (p.strip() for p in params.split(","))):
            key, eq, raw = item.partition("=")
            key = key.strip()
            if key not in allowed or not eq:
                raise FaultSpecError(f"fault {kind}: {item!r} is not KEY=VALUE with a key of "
                                     f"{', '.join(allowed)}")
            values[key] = _convert(kind, key, raw.strip())
        return cls(kind, **values)  # type: ignore[arg-type]

    def __str__(self) -> str:
        keys = [k for k in KINDS[self.kind][0] if getattr(self, k) != _DEFAULTS[k]]
        text = ",".join(f"{k}={_show(getattr(self, k))}" for k in keys)
        return f"{self.kind}:{text}" if text else self.kind


def _show(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _convert(kind: str, key: str, raw: str) -> object:
    try:
        if key in ("count", "code", "start", "end", "reads"):
            return int(raw, 0)
        if key == "quantity":
            return raw
        return float(raw)
    except ValueError:
        raise FaultSpecError(f"fault {kind}: {key}={raw!r} is not a number") from None


_DEFAULTS = {f.name: f.default for f in fields(Fault)}


def parse_fault_spec(text: str) -> tuple[int, Fault]:
    """'UNIT:KIND[:KEY=VALUE,...]' -> (unit, Fault)."""
    unit_text, sep, rest = text.strip().partition(":")
    if not sep or not unit_text.strip().isdigit() or not 0 <= int(unit_text) <= 247:
        raise FaultSpecError(f"{text!r}: give UNIT:KIND[:KEY=VALUE,...] with UNIT 0..247, e.g. "
                             f"3:no_answer; kinds: {', '.join(KINDS)}")
    return int(unit_text), Fault.parse(rest)


class Action(StrEnum):
    ANSWER = "answer"
    SILENT = "silent"
    LATE = "late"
    EXCEPTION = "exception"
    CORRUPT = "corrupt"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action = Action.ANSWER
    delay: float = 0.0
    code: int = 0


@dataclass
class _Active:
    fault: Fault
    injected_at: float
    remaining: int | None  # requests (request faults) or reads (spike) still to affect
    state: dict[str, float] = field(default_factory=dict)  # captured at activation
    started: bool = False

    def window(self, now: float) -> bool:
        t0 = self.injected_at + self.fault.after
        end = math.inf if self.fault.duration is None else t0 + self.fault.duration
        return t0 <= now < end and self.remaining != 0


class FaultSet:
    """The faults of one meter. Thread-safe: the server thread asks, a test thread injects."""

    def __init__(self, *, seed: int = 0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._faults: list[_Active] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._monotonic = monotonic

    def add(self, fault: Fault) -> None:
        remaining = fault.reads if fault.kind == "spike" else fault.count
        with self._lock:
            self._faults.append(_Active(fault, self._monotonic(), remaining))

    def clear(self, kind: str | None = None) -> list[Fault]:
        """Remove the faults of `kind` (all if None) and return them."""
        with self._lock:
            gone = [a for a in self._faults if kind is None or a.fault.kind == kind]
            self._faults = [a for a in self._faults if not any(a is g for g in gone)]
        return [a.fault for a in gone]

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return [a.fault for a in self._faults]

    def decide(self, function: int, address: int, count: int) -> Decision:
        """How to answer one request, from the request faults active now (first match wins)."""
        now = self._monotonic()
        with self._lock:
            for a in self._faults:
                f = a.fault
                if f.kind not in REQUEST_KINDS or not a.window(now):
                    continue
                if f.kind == "exception" and not _in_range(f, address, count):
                    continue
                if f.probability < 1.0 and self._rng.random() >= f.probability:
                    continue
                if a.remaining is not None:
                    a.remaining -= 1
                if f.kind in ("no_answer", "offline"):
                    return Decision(Action.SILENT)
                if f.kind == "late":
                    return Decision(Action.LATE, delay=f.delay)
                if f.kind == "exception":
                    return Decision(Action.EXCEPTION, code=f.code)
                return Decision(Action.CORRUPT)
        return Decision()

    def apply(self, values: dict[str, float | None], counters: frozenset[str],
              touched: frozenset[str] | None = None) -> dict[str, float | None]:
        """`values` with the active value faults applied. `touched`: quantities the current request
        reads (spikes count down only on those; None = not a request, e.g. true_values())."""
        now = self._monotonic()
        out = dict(values)
        with self._lock:
            for a in self._faults:
                if a.fault.kind in VALUE_KINDS and a.fault.kind != "leak" and a.window(now):
                    if not a.started:
                        a.started = True
                        a.state = _capture(a.fault, out, counters)
                    _apply_one(a, out, counters, touched)
        return out

    def start_leaks(self) -> list[Fault]:
        """Leaks whose time has come and that have not started yet (the meter adds them to its
        physics, which has no way to take a leak back: a leak lasts until the simulator stops)."""
        now = self._monotonic()
        with self._lock:
            due = [a for a in self._faults
                   if a.fault.kind == "leak" and not a.started and a.window(now)]
            for a in due:
                a.started = True
        return [a.fault for a in due]


def _in_range(f: Fault, address: int, count: int) -> bool:
    lo = f.start if f.start is not None else 0
    hi = f.end if f.end is not None else 65535
    return address <= hi and address + count - 1 >= lo


def _targets(f: Fault, values: Mapping[str, float | None], counters: frozenset[str]) -> list[str]:
    if f.quantity is not None:
        return [f.quantity] if f.quantity in values else []
    if f.kind == "counter_reset":
        return [q for q in values if q in counters]
    return list(values)


def _capture(f: Fault, values: Mapping[str, float | None], counters: frozenset[str]) -> dict:
    if f.kind in ("stuck", "counter_reset"):
        return {q: v for q in _targets(f, values, counters) if (v := values[q]) is not None}
    return {}


def _apply_one(a: _Active, out: dict[str, float | None], counters: frozenset[str],
               touched: frozenset[str] | None) -> None:
    f = a.fault
    if f.kind == "stuck":
        out.update(a.state)
    elif f.kind == "counter_reset":
        for q, base in a.state.items():
            v = out.get(q)
            if v is not None:
                out[q] = max(v - base, 0.0)
    elif f.kind == "nan":
        for q in _targets(f, out, counters):
            out[q] = None
    elif f.kind == "spike" and f.quantity in out:
        v = out[f.quantity]
        if v is not None:
            out[f.quantity] = v * f.factor
        if touched is not None and f.quantity in touched and a.remaining is not None:
            a.remaining -= 1
