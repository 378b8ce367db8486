"""Small hand-made meter data for the detector tests: a few meters, known truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analytics.detectors import DetectorSettings, MeterRole, detect_batch
from analytics.events import AlertKind, Detection
from analytics.readings_io import Columns, Readings

S = 1_000_000_000
H = 3600 * S
DAY = 24 * H
T0 = 1_736_092_800 * S  # Monday 2025-01-06 00:00 at UTC+8 (the default schedule's time zone)
STEP = 300 * S
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def grid(days: float, step: int = STEP) -> I64:
    return T0 + np.arange(round(days * DAY / step) + 1, dtype=np.int64) * step


def local(ts: I64) -> tuple[F64, npt.NDArray[np.bool_]]:
    """(local hour, workday) at UTC+8."""
    rel = ts - T0
    hour = (rel % DAY) / H
    return hour, (rel // DAY) % 7 < 5


def office_kw(ts: I64, base: float = 2.0, peak: float = 10.0, noise: float = 0.02, seed: int = 0) -> F64:
    """Electric load: `peak` in occupied hours (workdays 08-18), `base` otherwise, a little noise."""
    hour, work = local(ts)
    kw = np.where(work & (hour >= 8) & (hour < 18), peak, base)
    return kw * (1 + noise * np.random.default_rng(seed).standard_normal(len(ts)))


def water_m3h(ts: I64, use: float = 1.0, seed: int = 0) -> F64:
    """Water: use in occupied hours with random bursts, nothing at night."""
    hour, work = local(ts)
    rng = np.random.default_rng(seed)
    occ = np.where(work & (hour >= 8) & (hour < 18), 1.0, np.where((hour >= 7) & (hour < 21), 0.1, 0.0))
    return use * occ * rng.uniform(0.2, 1.8, len(ts))


def counter(ts: I64, rate_per_h: F64, start: float = 1000.0) -> F64:
    """Counter readings integrating a per-step rate (the rate of step i applies from ts[i] to ts[i+1])."""
    dt_h = np.diff(ts) / H
    return start + np.concatenate([[0.0], np.cumsum(rate_per_h[:-1] * dt_h)])


def readings(*series: tuple[str, str, I64, F64]) -> Readings:
    """(meter, quantity, ts, value) series → Readings."""
    by_q: dict[str, list[tuple[str, I64, F64]]] = {}
    for meter, q, ts, v in series:
        by_q.setdefault(q, []).append((meter, ts, v))
    return {q: Columns(np.concatenate([np.full(len(t), m) for m, t, _ in parts]),
                       np.concatenate([t for _, t, _ in parts]), np.concatenate([v for _, _, v in parts]))
            for q, parts in by_q.items()}


def elec(meter: str = "E1", building: str = "B1", **kw: float | None) -> MeterRole:
    return MeterRole(meter, building, "electricity", "energy_active_import", **kw)  # type: ignore[arg-type]


def water(meter: str = "W1", building: str = "B1") -> MeterRole:
    return MeterRole(meter, building, "water", "water_volume", max_rate=50.0)


def run(rd: Readings, roles: Sequence[MeterRole], settings: DetectorSettings | None = None,
        **kw: object) -> list[Detection]:
    return detect_batch(rd, roles, settings=settings or DetectorSettings(), **kw)  # type: ignore[arg-type]


def of_kind(found: Sequence[Detection], kind: AlertKind) -> list[Detection]:
    return [d for d in found if d.kind == kind]
