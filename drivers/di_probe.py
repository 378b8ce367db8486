"""Probe a DL/T 645 or CJ/T 188 meter through its profile: every data identifier asked once, each
value judged in words, as drivers.probe does for Modbus — the view `metergate probe --protocol`
prints, and the JSON a commissioning script reads (values as numbers, with quantity and unit)."""

from __future__ import annotations

from dataclasses import dataclass

from core.reading import Quality
from drivers.di_profiles import DiPoint, DiVariant
from drivers.di_reader import DiReader, DiSource
from drivers.probe import quality_counts, summary_text
from drivers.reader import Reading

# failure kinds that mean nobody answered (a silent meter, a wrong address or line setting)
NO_ANSWER_KINDS = frozenset({"timeout"})


@dataclass(frozen=True, slots=True)
class DiPointResult:
    reading: Reading
    di: str  # as the standard writes it: 02010100 (DL/T 645), 901F (CJ/T 188)
    verdict: str

    def as_dict(self) -> dict[str, object]:
        r = self.reading
        return {"quantity": r.quantity, "value": r.value, "unit": r.unit, "quality": r.quality.value,
                "verdict": self.verdict, "di": self.di, "raw": bytes(r.raw).hex(" ").upper()}


@dataclass(frozen=True, slots=True)
class DiProbeResult:
    protocol: str
    variant_key: str
    address: str
    points: tuple[DiPointResult, ...]
    requests: int
    failures: dict[str, int]

    def counts(self) -> dict[str, int]:
        return quality_counts(p.reading.quality for p in self.points)

    @property
    def silent(self) -> bool:
        """No answer to any request: wrong address, line settings or wiring, or no meter."""
        return bool(self.points) and all(p.reading.quality is Quality.COMM_ERROR
                                         for p in self.points) \
            and set(self.failures) <= NO_ANSWER_KINDS

    def summary(self) -> str:
        return summary_text(self.counts())

    def as_dict(self) -> dict[str, object]:
        profile, _, variant = self.variant_key.partition(":")
        return {"protocol": self.protocol, "profile": profile, "variant": variant,
                "address": self.address, "points": [p.as_dict() for p in self.points],
                "summary": self.counts(), "requests": self.requests}


def di_text(protocol: str, di: int) -> str:
    return f"{di:08X}" if protocol == "dlt645" else f"{di:04X}"


def verdict(point: DiPoint, reading: Reading) -> str:
    q = reading.quality
    if q is Quality.OK:
        return "ok"
    if q is Quality.OUT_OF_RANGE and point.range is not None and reading.value is not None:
        unit = f" {point.unit}" if point.unit else ""
        return f"outside plausible range {point.range[0]:g}..{point.range[1]:g}{unit}"
    return reading.error or q.value


def probe_di(source: DiSource, variant: DiVariant, address: str) -> DiProbeResult:
    """Read every point of `variant` from the meter at `address` once and judge each value."""
    reader = DiReader(source, variant, address)
    readings = {r.quantity: r for r in reader.read()}
    points = tuple(DiPointResult(readings[p.quantity], di_text(variant.protocol, p.di),
                                 verdict(p, readings[p.quantity]))
                   for p in reader.points)
    return DiProbeResult(variant.protocol, variant.key, address, points, reader.stats.requests,
                         dict(reader.stats.failures))


__all__ = ["DiPointResult", "DiProbeResult", "di_text", "probe_di", "verdict"]
