"""Streaming detection: raw readings as they arrive, one evaluation per interval boundary.

Readings are buffered raw. At boundary b, every interval whose end is at most b − lag is final (lag =
max_gap rounded up to whole intervals, 15 min by default: the engine interpolates an interval's end
from the first reading after it, which arrives within max_gap or is a gap anyway). Each final interval
is turned into cells from the buffered readings around it, exactly as the batch does, and pushed
through the same `Engine`. Buffered readings older than the next interval's start − max_gap are no
longer needed and are dropped.

Late readings: a reading for an interval that is already final is not folded into it, and verdicts
already issued stand. It still counts for the next interval if it lies within max_gap of its start
(it anchors the interpolation there); otherwise it is dropped and counted in `late_readings`. So
streaming equals batch whenever every reading arrives within one lag of its timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from analytics.detectors.cells import compute_cells
from analytics.detectors.engine import Engine, grid_floor, lag_ns
from analytics.detectors.settings import DetectorSettings, MeterRole, Schedule
from analytics.events import Detection
from analytics.readings_io import Columns

_Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]


class StreamingDetectors:
    """Per-meter ring buffers of interval values (`history_weeks`), fed incrementally."""

    def __init__(self, meters: Sequence[MeterRole], *,
                 settings: DetectorSettings = DetectorSettings(),  # noqa: B008 - frozen, immutable
                 schedules: Mapping[str, Schedule] | None = None, history_weeks: int = 8,
                 start_ns: int | None = None) -> None:
        self.settings = settings
        self.engine = Engine(meters, settings, schedules, history_weeks)
        self._step = settings.step_ns
        self._gap = round(settings.max_gap_s * 1e9)
        self._lag = lag_ns(settings)
        self._quantities = {r.quantity: set() for r in self.engine.roles}  # type: dict[str, set[str]]
        for r in self.engine.roles:
            self._quantities[r.quantity].add(r.meter)
        self._buf: dict[str, list[_Chunk]] = {q: [] for q in self._quantities}
        self._temp: list[tuple[np.ndarray, np.ndarray]] = []
        self.next_start: int | None = None if start_ns is None else grid_floor(int(start_ns), self._step)
        self.late_readings = 0

    # ----------------------------------------------------------------------------------------- input

    def add(self, meter: str | npt.ArrayLike, quantity: str, ts_ns: npt.ArrayLike | int,
            value: npt.ArrayLike | float) -> None:
        """Raw readings of one quantity (any order within the open interval). `meter` is one id or an
        array of ids aligned with `ts_ns`. Quantities or meters the detectors do not use are ignored."""
        names = self._quantities.get(quantity)
        if names is None:
            return
        t = np.atleast_1d(np.asarray(ts_ns, np.int64))
        v = np.atleast_1d(np.asarray(value, np.float64))
        m = np.atleast_1d(np.asarray(meter)).astype(str)
        if m.size == 1 and t.size > 1:
            m = np.repeat(m, t.size)
        if not (m.size == t.size == v.size):
            raise ValueError(f"meter, ts_ns and value must have equal lengths, "
                             f"got {m.size}, {t.size}, {v.size}")
        if self.next_start is not None:
            keep = t >= self.next_start - self._gap
            self.late_readings += int((~keep).sum())
            m, t, v = m[keep], t[keep], v[keep]
        if t.size:
            self._buf[quantity].append((m, t, v))

    def add_outdoor_temp(self, ts_ns: npt.ArrayLike | int, value: npt.ArrayLike | float) -> None:
        """Outdoor temperature samples (°C) for the heat-pump detector."""
        t = np.atleast_1d(np.asarray(ts_ns, np.int64))
        v = np.atleast_1d(np.asarray(value, np.float64))
        self._temp.append((t, v))

    # ------------------------------------------------------------------------------------ evaluation

    def evaluate(self, boundary_ns: int) -> list[Detection]:
        """Finalise every interval ending at or before `boundary_ns` − lag; return the episodes that
        closed in them and every episode still open."""
        b = int(boundary_ns)
        readings = self._consolidate()
        if self.next_start is None:
            first = [int(c.ts_ns.min()) for c in readings.values() if len(c)]
            if not first:
                return []
            self.next_start = grid_floor(min(first), self._step)
        closed: list[Detection] = []
        temp = self._temp_arrays()
        while self.next_start + self._step + self._lag <= b:
            s0 = self.next_start
            edges = np.array([s0, s0 + self._step], np.int64)
            window = {q: _select(c, s0 - self._gap, s0 + self._step + self._gap) for q, c in readings.items()}
            cells = compute_cells(window, self.engine.roles, edges, self.settings.max_gap_s, temp)
            closed.extend(self.engine.push(cells.column(0), s0 + self._step + self._lag))
            self.next_start = s0 + self._step
        # keep what the next interval can still need
        lo = self.next_start - self._gap
        for q, c in readings.items():
            kept = _select(c, lo, None)
            self._buf[q] = [(kept.meter, kept.ts_ns, kept.value)] if len(kept) else []
        if temp is not None:
            keep = temp[0] >= lo
            self._temp = [(temp[0][keep], temp[1][keep])]
        return closed + self.engine.ongoing()

    def _consolidate(self) -> dict[str, Columns]:
        out: dict[str, Columns] = {}
        for q, chunks in self._buf.items():
            if not chunks:
                continue
            m = np.concatenate([c[0] for c in chunks])
            t = np.concatenate([c[1] for c in chunks])
            v = np.concatenate([c[2] for c in chunks])
            keep = np.isin(m, list(self._quantities[q]))
            out[q] = Columns(m[keep], t[keep], v[keep])
            self._buf[q] = [(m[keep], t[keep], v[keep])]
        return out

    def _temp_arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        if not self._temp:
            return None
        return (np.concatenate([t for t, _ in self._temp]), np.concatenate([v for _, v in self._temp]))


def _select(c: Columns, lo: int, hi: int | None) -> Columns:
    sel = c.ts_ns >= lo if hi is None else (c.ts_ns >= lo) & (c.ts_ns <= hi)
    return Columns(c.meter[sel], c.ts_ns[sel], c.value[sel])
