"""Probe a meter through a profile: read every point once and say, in words, what each value means.

A commissioning view of MeterReader: each point comes back with its quantity, value, unit and quality
plus a verdict a technician can act on ("ok", "outside plausible range 0..480 V", "invalid: NaN or
sentinel", "no answer ...") and the raw registers in hex.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.reading import Quality
from drivers.profiles import MeterVariant, Point
from drivers.reader import MeterReader, Reading, RegisterSource

REFUSED_MARKERS = ("exception 2", "illegal data address")
# reader failure reasons that mean nobody answered: silence, or a gateway saying its target is absent
NO_DEVICE_REASONS = frozenset({"timeout", "exception_10", "exception_11"})


@dataclass(frozen=True, slots=True)
class PointResult:
    """One probed point: the reading plus where it lives and a verdict in words."""

    reading: Reading
    function: int
    address: int  # wire address
    verdict: str

    @property
    def quantity(self) -> str:
        return self.reading.quantity

    @property
    def quality(self) -> Quality:
        return self.reading.quality

    def raw_hex(self) -> str:
        return " ".join(f"{r:04X}" for r in self.reading.raw)

    def as_dict(self) -> dict[str, object]:
        r = self.reading
        return {"quantity": r.quantity, "value": r.value, "unit": r.unit, "quality": r.quality.value,
                "verdict": self.verdict, "function": self.function, "address": self.address,
                "raw": [f"0x{x:04X}" for x in r.raw]}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    variant_key: str
    unit: int
    points: tuple[PointResult, ...]
    requests: int
    failures: Mapping[str, int]  # failure reason -> count, from the reader's statistics

    def counts(self) -> dict[str, int]:
        return quality_counts(p.quality for p in self.points)

    @property
    def silent(self) -> bool:
        """True when no device answered any request (silence, or a gateway's exception 10/11)."""
        return bool(self.points) and all(p.quality is Quality.COMM_ERROR for p in self.points) \
            and set(self.failures) <= NO_DEVICE_REASONS

    def summary(self) -> str:
        return summary_text(self.counts())

    def as_dict(self) -> dict[str, object]:
        profile, _, variant = self.variant_key.partition(":")
        return {"profile": profile, "variant": variant, "unit": self.unit,
                "points": [p.as_dict() for p in self.points], "summary": self.counts(),
                "requests": self.requests}


def quality_counts(qualities: Iterable[Quality]) -> dict[str, int]:
    """Points per quality, every quality present (zeros included) in a fixed order."""
    out = {q.value: 0 for q in (Quality.OK, Quality.OUT_OF_RANGE, Quality.INVALID,
                                Quality.COMM_ERROR)}
    for q in qualities:
        out[q.value] = out.get(q.value, 0) + 1
    return out


def summary_text(c: Mapping[str, int]) -> str:
    return (f"{c['ok']} ok / {c['out_of_range']} out of range / {c['invalid']} invalid / "
            f"{c['comm_error']} comm errors")


def verdict(point: Point, reading: Reading) -> str:
    """What a reading's quality means for this point, in words a technician can act on."""
    q = reading.quality
    if q is Quality.OK:
        return "ok"
    if q is Quality.OUT_OF_RANGE:
        if point.range is not None and reading.value is not None and \
                not point.range[0] <= reading.value <= point.range[1]:
            unit = f" {point.unit}" if point.unit else ""
            return f"outside plausible range {point.range[0]:g}..{point.range[1]:g}{unit}"
        return reading.error or "out of range"
    if q is Quality.INVALID:
        if is_refused(reading):
            return "invalid: the meter refuses this register (exception 2)"
        return "invalid: NaN or sentinel"
    if q is Quality.COMM_ERROR:
        return reading.error or "no answer"
    return reading.error or q.value


def is_refused(reading: Reading) -> bool:
    return any(m in reading.error for m in REFUSED_MARKERS)


def point_results(points: Iterable[Point], readings: Mapping[str, Reading]) -> tuple[PointResult, ...]:
    """Each point with its reading (by quantity) and verdict, in the order of `points`."""
    return tuple(PointResult(readings[p.quantity], p.function, p.address,
                             verdict(p, readings[p.quantity]))
                 for p in points if p.quantity in readings)


def probe(
    source: RegisterSource, variant: MeterVariant, unit: int,
    *, ratios: Mapping[str, float] | None = None,
) -> ProbeResult:
    """Read every point of `variant` from `unit` once and judge each value."""
    reader = MeterReader(source, variant, unit, ratios=ratios)  # stops at the first timeout
    readings = {r.quantity: r for r in reader.read()}
    return ProbeResult(variant.key, unit, point_results(reader.points, readings),
                       reader.stats.requests, dict(reader.stats.failures))


__all__ = [
    "NO_DEVICE_REASONS", "PointResult", "ProbeResult", "is_refused",
    "point_results", "probe", "quality_counts", "summary_text", "verdict",
]
