"""Guess a meter's byte/word order and register numbering from what it answers.

The two questions technicians struggle with most: which of the four orders (ABCD, CDAB, BADC, DCBA)
the meter uses, and whether the manual numbers registers from 0 or 1. A guess builds candidate
variants of a profile (each order applied to every point, each address as given and shifted by one
register either way), reads the union of the registers they need ONCE, decodes every candidate from
that one snapshot, and ranks the candidates by how plausible their values are.

Scoring: a point counts for a candidate when its value is plausible (in the profile's range, finite,
no absurd float exponent, counters not negative). A point that is plausible in every candidate, or in
none (a register holding 0 reads 0 whatever the order), says nothing about the order, so only the
points whose verdict differs between candidates are scored.

Ties are common and have a cause: read one register early and word-swapped, a float's high word is
still right and only its low word comes from the neighbouring register, so the values agree to
within 1 %. What separates the two is coverage: the true layout reads every register that holds
data, its twin leaves the last data register of each block unread and reads an empty one instead.
So ties go to the candidate that leaves fewer non-zero registers unread, then to the candidate
closest to the profile as written.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.quantities import Kind
from core.reading import Quality
from drivers.codec import FLOAT_TYPES, FieldCodec, Order, decode_raw
from drivers.errors import ModbusError, ModbusExceptionResponse, ModbusTimeout
from drivers.planner import plan_blocks
from drivers.profiles import FingerprintRegister, MeterVariant, Point
from drivers.reader import MeterReader, Reading, RegisterSource

ORDERS: tuple[Order, ...] = (Order.ABCD, Order.CDAB, Order.BADC, Order.DCBA)
SHIFTS: tuple[int, ...] = (0, -1, 1)
SHIFT_LABELS = {0: "as profile", -1: "register − 1", 1: "register + 1"}
FLOAT_EXPONENT_LIMIT = 1e20  # |raw float| outside 1e-20..1e20 is a byte-order artefact, not a reading
NO_DEVICE = frozenset({10, 11})  # a gateway's "path unavailable" / "target failed to respond"


# ---------------------------------------------------------------------------------------------------
# one snapshot of the registers every candidate needs


class RegisterSnapshot:
    """Registers read once from one unit, served to any number of in-process readers.

    A read is answered from the snapshot when every register in it was read; otherwise it raises
    the error the device gave for the missing registers (exception 2 when it refused them).
    `timeouts` counts non-answers: silence, and a gateway's exception 10/11.
    """

    def __init__(self) -> None:
        self.values: dict[tuple[int, int], int] = {}
        self.errors: dict[tuple[int, int], ModbusError] = {}
        self.requests = 0
        self.answered = 0  # requests that got any valid answer (registers or an exception)
        self.timeouts = 0

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        keys = [(function, a) for a in range(address, address + count)]
        if all(k in self.values for k in keys):
            return [self.values[k] for k in keys]
        for k in keys:
            err = self.errors.get(k)
            if err is not None and not _is_refusal(err):
                raise err
        raise ModbusExceptionResponse(2)

    def fetch(self, source: RegisterSource, unit: int, registers: Mapping[int, Iterable[int]],
              *, max_registers: int = 125, max_gap: int = 0) -> None:
        """Read `registers` (function -> wire addresses) in as few requests as the device accepts.

        A refused block is first retried without its two end registers (the ones a one-register
        shift adds), then bisected, so one unmapped neighbour costs a few requests, not the block.
        After two timeouts with no answer at all the device is taken as silent.
        """
        spans = [(fc, a, 1) for fc, addrs in registers.items() for a in addrs]
        for block in plan_blocks(spans, max_registers=max_registers, max_gap=max_gap):
            self._fetch(source, unit, block.function, block.address, block.count)

    def _fetch(self, source: RegisterSource, unit: int, fc: int, start: int, count: int) -> None:
        if self.silent_so_far:
            self._mark(fc, start, count, ModbusTimeout(f"no answer from unit {unit}"))
            return
        try:
            self.requests += 1
            values = source.read_registers(unit, fc, start, count)
        except ModbusExceptionResponse as exc:
            if exc.code in NO_DEVICE:
                self.timeouts += 1
                self._mark(fc, start, count, exc)
                return
            self.answered += 1
            if exc.code != 2 or count == 1:
                self._mark(fc, start, count, exc)
            elif count >= 3 and self._try(source, unit, fc, start + 1, count - 2):
                self._fetch(source, unit, fc, start, 1)
                self._fetch(source, unit, fc, start + count - 1, 1)
            else:
                half = count // 2
                self._fetch(source, unit, fc, start, half)
                self._fetch(source, unit, fc, start + half, count - half)
            return
        except ModbusError as exc:
            self.timeouts += isinstance(exc, ModbusTimeout)
            self._mark(fc, start, count, exc)
            return
        self.answered += 1
        for i, v in enumerate(values):
            self.values[(fc, start + i)] = v

    def _try(self, source: RegisterSource, unit: int, fc: int, start: int, count: int) -> bool:
        """One read without fallback; True (and the values kept) if the device answered it."""
        try:
            self.requests += 1
            values = source.read_registers(unit, fc, start, count)
        except ModbusExceptionResponse as exc:
            self.answered += exc.code not in NO_DEVICE
            return False
        except ModbusError:
            return False
        self.answered += 1
        for i, v in enumerate(values):
            self.values[(fc, start + i)] = v
        return True

    def _mark(self, fc: int, start: int, count: int, exc: ModbusError) -> None:
        for a in range(start, start + count):
            self.errors[(fc, a)] = exc

    @property
    def silent_so_far(self) -> bool:
        return self.answered == 0 and self.timeouts >= 2

    @property
    def silent(self) -> bool:
        return self.requests > 0 and self.answered == 0


def _is_refusal(err: ModbusError) -> bool:
    return isinstance(err, ModbusExceptionResponse) and err.code == 2


# ---------------------------------------------------------------------------------------------------
# candidates


@dataclass(frozen=True)
class Candidate:
    order: Order | None  # None: each point keeps the profile's own order (profiles that mix orders)
    shift: int  # wire address = profile's wire address + shift
    variant: MeterVariant
    aliases: tuple[str, ...] = ()  # other orders that decode these points identically

    @property
    def order_label(self) -> str:
        name = "as profile" if self.order is None else self.order.value
        return name + "".join(f" = {a}" for a in self.aliases)

    @property
    def shift_label(self) -> str:
        return SHIFT_LABELS[self.shift]


def profile_order(variant: MeterVariant) -> Order | None:
    """The one order the profile uses for multi-register values; None if it mixes orders."""
    orders = {c.order for c in _codecs(variant) if c.count > 1}
    if not orders:
        orders = {c.order for c in _codecs(variant)}
    return orders.pop() if len(orders) == 1 else None


def candidates(variant: MeterVariant) -> list[Candidate]:
    """Every distinct (order, shift) reading of the profile, closest to the profile first."""
    own = profile_order(variant)
    orders: list[Order | None] = [own] if own is not None else [None]
    orders += [o for o in ORDERS if o is not own]
    out: list[Candidate] = []
    seen: dict[tuple[Any, ...], int] = {}
    for shift in SHIFTS:
        for order in orders:
            derived = derive_variant(variant, order, shift)
            key = _decode_key(derived)
            if key in seen:
                first = out[seen[key]]
                if order is not None:
                    out[seen[key]] = replace(first, aliases=(*first.aliases, order.value))
                continue
            seen[key] = len(out)
            out.append(Candidate(order, shift, derived))
    return out


def derive_variant(variant: MeterVariant, order: Order | None, shift: int) -> MeterVariant:
    """`variant` with every point in `order` (None: unchanged) and moved by `shift` registers.

    A point that would move below register 0 or past 65535 is left out of the candidate.
    """
    points: list[Point] = []
    for p in variant.points:
        if any(a + shift < 0 or a + shift + n > 65536 for _, a, n in p.spans()):
            continue
        points.append(replace(
            p,
            address=p.address + shift,
            codec=_reorder(p.codec, order),
            fraction_address=None if p.fraction_address is None else p.fraction_address + shift,
            fraction_codec=None if p.fraction_codec is None else _reorder(p.fraction_codec, order),
        ))
    device = replace(variant.device, unreadable=())
    name = f"{variant.name}[{order.value if order else 'own'}{shift:+d}]"
    return replace(variant, name=name, points=tuple(points), device=device)


def _reorder(codec: FieldCodec, order: Order | None) -> FieldCodec:
    return codec if order is None else replace(codec, order=order)


def _codecs(variant: MeterVariant) -> list[FieldCodec]:
    out = [p.codec for p in variant.points]
    out += [p.fraction_codec for p in variant.points if p.fraction_codec is not None]
    return out


def _effective(codec: FieldCodec) -> tuple[bool, bool]:
    """(swap words, swap bytes) as they act on this codec: a 16-bit value has no words to swap."""
    return (codec.count > 1 and codec.order.swap_words, codec.order.swap_bytes)


def _decode_key(variant: MeterVariant) -> tuple[Any, ...]:
    return tuple(
        (p.quantity, p.address, _effective(p.codec), p.fraction_address,
         None if p.fraction_codec is None else _effective(p.fraction_codec))
        for p in variant.points
    )


# ---------------------------------------------------------------------------------------------------
# scoring


def plausible(point: Point, reading: Reading) -> bool:
    """A value a working meter could show: judged ok by the reader, no float-exponent artefact,
    and a counter not below zero."""
    if reading.quality is not Quality.OK or reading.value is None:
        return False
    if point.kind is Kind.COUNTER and reading.value < 0:
        return False
    if point.codec.dtype in FLOAT_TYPES and len(reading.raw) >= point.codec.count:
        raw = float(decode_raw(reading.raw[: point.codec.count], point.codec.dtype,
                               point.codec.order))
        if raw != 0 and not 1 / FLOAT_EXPONENT_LIMIT <= abs(raw) <= FLOAT_EXPONENT_LIMIT:
            return False
    return True


@dataclass(frozen=True)
class CandidateScore:
    candidate: Candidate
    readings: dict[str, Reading]  # quantity -> reading (a point moved below 0 has none)
    plausible: frozenset[str]  # quantities with a plausible value
    score: float  # share of the discriminating points that are plausible, 0..1
    total: int  # points of the profile
    unread: int = 0  # registers of the snapshot holding data (non-zero) that this reading skips

    @property
    def order_label(self) -> str:
        return self.candidate.order_label

    @property
    def shift_label(self) -> str:
        return self.candidate.shift_label


@dataclass(frozen=True)
class GuessResult:
    ranked: tuple[CandidateScore, ...]
    discriminating: tuple[str, ...]  # quantities whose verdict differs between candidates
    requests: int
    silent: bool
    as_written: Candidate | None = None  # the profile's own order at its own addresses
    advice: tuple[str, ...] = field(default=())

    @property
    def winner(self) -> CandidateScore:
        return self.ranked[0]

    @property
    def margin(self) -> float:
        return self.ranked[0].score - self.ranked[1].score if len(self.ranked) > 1 else 1.0

    @property
    def profile_fits(self) -> bool:
        """True when the profile as written is the likely winner."""
        return self.winner.candidate is self.as_written

    @property
    def runner_up(self) -> CandidateScore | None:
        return self.ranked[1] if len(self.ranked) > 1 else None

    def confidence(self) -> str:
        """clear / likely / coverage / tie / none, from the score margin and the coverage."""
        runner = self.runner_up
        if self.winner.score == 0 or not self.winner.plausible:
            return "none"
        if runner is None or self.margin >= 0.3:
            return "clear"
        if self.margin > 0:
            return "likely"
        if self.winner.unread < runner.unread:
            return "coverage"
        return "tie"

    def explain(self) -> str:
        """One sentence on how sure the winner is, for people."""
        runner = self.runner_up
        kind = self.confidence()
        if kind == "none":
            return ("no candidate reads plausible values: check the profile, the unit id and the "
                    "function code")
        if runner is None:
            return "only one way to read this profile"
        rival = f"{runner.order_label} / {runner.shift_label}"
        if kind in ("clear", "likely"):
            return (f"{kind}: {self.winner.score:.0%} of the telling points plausible, "
                    f"next best {rival} {runner.score:.0%}")
        if kind == "coverage":
            return (f"likely: {rival} also reads plausible values but leaves "
                    f"{runner.unread - self.winner.unread} more register(s) holding data unread "
                    "(read one register off and word-swapped, a float keeps its high word)")
        diffs = ", ".join(f"{q} {_g(a)} or {_g(b)}" for q, a, b in self.differences()[:4])
        return (f"tie with {rival}: both read plausible values"
                + (f"; they differ in {diffs}: compare with the meter's display" if diffs else ""))

    def differences(self) -> list[tuple[str, float | None, float | None]]:
        """(quantity, winner's value, runner-up's value) where the two read differently."""
        runner = self.runner_up
        if runner is None:
            return []
        out = []
        for q, r in self.winner.readings.items():
            other = runner.readings.get(q)
            b = None if other is None else other.value
            if r.value != b:
                out.append((q, r.value, b))
        return out


def _g(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def score(cands: Sequence[Candidate], readings: Sequence[Sequence[Reading]],
          base: MeterVariant, nonzero: Set[tuple[int, int]] = frozenset(),
          ) -> tuple[list[CandidateScore], list[str]]:
    """Score candidates on the points whose plausibility differs between them; rank best first.

    `nonzero` holds the (function, address) of every snapshot register with data, for the
    coverage tie-break.
    """
    quantities = [p.quantity for p in base.points]
    by_cand: list[dict[str, Reading]] = []
    ok: list[frozenset[str]] = []
    for cand, rs in zip(cands, readings, strict=True):
        got = {r.quantity: r for r in rs}
        by_cand.append(got)
        points = {p.quantity: p for p in cand.variant.points}
        ok.append(frozenset(q for q, r in got.items() if plausible(points[q], r)))
    counts = Counter(q for s in ok for q in s)
    disc = [q for q in quantities if 0 < counts[q] < len(cands)]
    scores: list[CandidateScore] = []
    for cand, got, good in zip(cands, by_cand, ok, strict=True):
        if disc:
            s = sum(q in good for q in disc) / len(disc)
        else:
            s = len(good) / len(quantities) if quantities else 0.0
        scores.append(CandidateScore(cand, got, good, s, len(quantities),
                                     len(nonzero - _registers(cand.variant))))
    prior = {id(c): i for i, c in enumerate(cands)}
    scores.sort(key=lambda s: (-s.score, -len(s.plausible), s.unread, prior[id(s.candidate)]))
    return scores, disc


def _registers(variant: MeterVariant) -> set[tuple[int, int]]:
    return {(fc, a + i) for p in variant.points for fc, a, n in p.spans() for i in range(n)}


# ---------------------------------------------------------------------------------------------------
# what to change in the profile


@dataclass(frozen=True)
class ProfileLayout:
    """How the profile file sets order and numbering for one variant (read from the TOML)."""

    order: str
    address_base: int
    section: str  # the table to edit, e.g. "[defaults]" or "[variants.huawei.defaults]"
    shared_by: int  # variants that the section applies to
    own_order: tuple[str, ...] = ()  # quantities that set their own order (or fraction order)
    own_base: tuple[str, ...] = ()  # quantities that set their own address_base


def profile_layout(path: Path, variant_name: str) -> ProfileLayout | None:
    """Read the defaults a variant gets from its profile file; None if the file cannot be read."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    base_defaults = raw.get("defaults", {}) if isinstance(raw.get("defaults"), dict) else {}
    variants = raw.get("variants", {}) if isinstance(raw.get("variants"), dict) else {}
    vraw = variants.get(variant_name, {}) if isinstance(variants.get(variant_name), dict) else {}
    vdefaults = vraw.get("defaults", {}) if isinstance(vraw.get("defaults"), dict) else {}
    order = str(vdefaults.get("order", base_defaults.get("order", "ABCD"))).upper()
    address_base = int(vdefaults.get("address_base", base_defaults.get("address_base", 0)))
    if vdefaults or len(variants) > 1:
        section, shared = f"[variants.{variant_name}.defaults]", 1
    else:
        section, shared = "[defaults]", max(len(variants), 1)
    points = [p for p in list(raw.get("points", [])) + list(vraw.get("points", []))
              if isinstance(p, dict)]
    return ProfileLayout(
        order=order, address_base=address_base, section=section, shared_by=shared,
        own_order=tuple(str(p.get("quantity")) for p in points if "order" in p
                        or (isinstance(p.get("fraction"), dict) and "order" in p["fraction"])),
        own_base=tuple(str(p.get("quantity")) for p in points if "address_base" in p),
    )


def advise(winner: Candidate, variant: MeterVariant, layout: ProfileLayout | None) -> list[str]:
    """What to change in the profile so it reads like the winning candidate, in the file's words."""
    section = layout.section if layout else "[defaults]"
    changes: list[str] = []
    if winner.order is not None:
        changes += _order_advice(winner.order, variant, layout, section)
    if winner.shift:
        changes += _shift_advice(winner.shift, layout, section)
        if any(isinstance(item, FingerprintRegister) for item in variant.fingerprint):
            changes.append("fingerprint register checks give wire addresses: move them by "
                           f"{winner.shift:+d} as well")
    if not changes:
        return ["the profile's order and addresses fit this meter; nothing to change"]
    return changes


def _order_advice(order: Order, variant: MeterVariant, layout: ProfileLayout | None,
                  section: str) -> list[str]:
    """Change the default order if points that use it read wrongly; name the points that set
    their own order (or their fraction's) and read wrongly."""
    wrong = [p.quantity for p in variant.points
             if any(_effective(c) != _effective(replace(c, order=order))
                    for c in (p.codec, p.fraction_codec) if c is not None)]
    if not wrong:
        return []
    own = set(layout.own_order) if layout else set()
    out = []
    if any(q not in own for q in wrong):
        out.append(f'set order = "{order.value}" in {section}')
    own_wrong = [q for q in wrong if q in own]
    if own_wrong:
        which = "which sets its" if len(own_wrong) == 1 else "which set their"
        out.append(f'set order = "{order.value}" on {", ".join(own_wrong)}, {which} own order '
                   "(or fraction order)")
    return out


def _shift_advice(shift: int, layout: ProfileLayout | None, section: str) -> list[str]:
    direction = "one lower" if shift < 0 else "one higher"
    if layout is None:
        return [f"the meter's registers are {direction} than the profile's addresses: "
                f"{'subtract' if shift < 0 else 'add'} 1 to every address (or change address_base)"]
    new_base = layout.address_base - shift
    if new_base in (0, 1):
        why = ("the manual numbers registers from 1" if new_base == 1
               else "the addresses are already wire (0-based) addresses")
        out = [f"set address_base = {new_base} in {section} ({why})"]
    else:
        out = [f"the meter's registers are {direction} than the profile's addresses: "
               f"{'subtract' if shift < 0 else 'add'} 1 to every address"]
    if layout.own_base:
        out.append("points that set their own address_base keep it; change those too: "
                   + ", ".join(layout.own_base))
    return out


# ---------------------------------------------------------------------------------------------------
# the guess


def guess(
    source: RegisterSource, variant: MeterVariant, unit: int,
    *, ratios: Mapping[str, float] | None = None, layout: ProfileLayout | None = None,
) -> GuessResult:
    """Try every order and both numberings on one snapshot of the meter; rank them."""
    cands = candidates(variant)
    needed: dict[int, set[int]] = {}
    for cand in cands:
        for p in cand.variant.points:
            for fc, a, n in p.spans():
                needed.setdefault(fc, set()).update(range(a, a + n))
    snap = RegisterSnapshot()
    snap.fetch(source, unit, {fc: sorted(a) for fc, a in needed.items()},
               max_registers=variant.device.max_registers)
    readings = [MeterReader(snap, c.variant, unit, ratios=ratios).read() for c in cands]
    nonzero = {k for k, v in snap.values.items() if v}
    ranked, disc = score(cands, readings, variant, nonzero)
    advice = advise(ranked[0].candidate, variant, layout) if ranked else []
    return GuessResult(tuple(ranked), tuple(disc), snap.requests, snap.silent, cands[0],
                       tuple(advice))


__all__ = [
    "Candidate", "CandidateScore", "GuessResult", "ProfileLayout", "RegisterSnapshot", "advise",
    "candidates", "derive_variant", "guess", "plausible", "profile_layout", "profile_order",
    "score",
]
