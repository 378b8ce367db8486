"""Episodes with hysteresis: per-step verdicts → Detections that do not flap.

One `Episodes` tracks one kind of finding for a fixed list of subjects, vectorised across subjects.
Each step gives, for the subjects evaluated at that step, an *enter* verdict (strict) and a *stay*
verdict (lenient). An episode opens after `min_steps` consecutive enter steps (its start is backdated
to the first of them) and closes after `clear_steps` consecutive steps without stay; its end is the
end of the last step that still held. Severity is the highest seen during the episode; value and
threshold are those of the worst step (highest score).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from analytics.events import AlertKind, Detection, Severity

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
Message = Callable[[str, float, float, str], str]


def _default_message(subject: str, value: float, threshold: float, unit: str) -> str:
    return f"{subject}: {value:.4g} {unit} against {threshold:.4g} {unit}".replace("  ", " ")


class Episodes:
    """State of one finding kind over `subjects`; see the module docstring for the rules."""

    def __init__(self, kind: AlertKind, subjects: Sequence[str], unit: str | Sequence[str], *,
                 min_steps: int = 1,
                 clear_steps: int = 1, message: Message = _default_message) -> None:
        if min_steps < 1 or clear_steps < 1:
            raise ValueError("min_steps and clear_steps must be >= 1")
        n = len(subjects)
        self.kind, self.subjects = kind, list(subjects)
        self.units = [unit] * n if isinstance(unit, str) else list(unit)  # one per subject
        if len(self.units) != n:
            raise ValueError("give one unit, or one per subject")
        self.min_steps, self.clear_steps, self.message = min_steps, clear_steps, message
        self.active = np.zeros(n, bool)
        self.run = np.zeros(n, np.int64)  # consecutive enter steps while not active
        self.cand_start = np.zeros(n, np.int64)
        self.start = np.zeros(n, np.int64)
        self.last_end = np.zeros(n, np.int64)
        self.clear = np.zeros(n, np.int64)
        self.detected = np.zeros(n, np.int64)
        self.severity = np.zeros(n, np.int64)
        self.score = np.full(n, -np.inf)
        self.value = np.full(n, np.nan)
        self.threshold = np.full(n, np.nan)
        self.details: list[dict[str, float | int | str]] = [{} for _ in range(n)]
        self.closed: list[Detection] = []  # episodes closed by the last step

    def idle(self, idx: npt.ArrayLike) -> None:
        """What `step` does when none of `idx` enters and none is active: no episode opens or closes,
        the runs of enter steps restart. For callers that can tell cheaply, before working out values."""
        self.closed = []
        self.run[np.asarray(idx, np.int64)] = 0

    def quiet(self, enter: Bool) -> bool:
        """True when a step with these enter verdicts (for every subject) would be `idle`."""
        return not enter.any() and not self.active.any()

    def step(self, idx: npt.ArrayLike, start_ns: npt.ArrayLike, end_ns: npt.ArrayLike, enter: Bool,
             stay: Bool, value: npt.ArrayLike, threshold: npt.ArrayLike, severity: npt.ArrayLike,
             score: npt.ArrayLike, now_ns: int) -> None:
        """Advance the subjects `idx` (others keep their state) by one step ending at `end_ns`."""
        self.closed = []
        i = np.asarray(idx, np.int64)
        if i.size == 0:
            return
        if not np.any(enter) and not self.active[i].any():  # the usual step: nothing opens or holds
            self.idle(i)
            return
        b = np.broadcast_arrays(np.asarray(start_ns, np.int64), np.asarray(end_ns, np.int64), enter, stay,
                                np.asarray(value, np.float64), np.asarray(threshold, np.float64),
                                np.asarray(severity, np.int64), np.asarray(score, np.float64),
                                np.empty(i.size))
        s0, e0, ent, sty, val, thr, sev, sc = (np.asarray(x) for x in b[:8])
        act = self.active[i]
        # not active: count enter steps, open after min_steps
        idle = ~act
        grow = idle & ent
        first = grow & (self.run[i] == 0)
        self.cand_start[i[first]] = s0[first]
        self.run[i[idle & ~ent]] = 0
        self.run[i[grow]] += 1
        opened = grow & (self.run[i] >= self.min_steps)
        io = i[opened]
        if io.size:
            self.active[io] = True
            self.start[io] = self.cand_start[io]
            self.detected[io] = now_ns
            self.severity[io] = 0
            self.score[io] = -np.inf
            self.clear[io] = 0
            self.run[io] = 0
        holding = (act & sty) | opened
        ih = i[holding]
        self.last_end[ih] = e0[holding]
        self.clear[ih] = 0
        self.severity[ih] = np.maximum(self.severity[ih], sev[holding])
        worse = sc[holding] > self.score[ih]
        iw = ih[worse]
        self.score[iw] = sc[holding][worse]
        self.value[iw] = val[holding][worse]
        self.threshold[iw] = thr[holding][worse]
        # active and not holding: count towards clearing
        lapse = act & ~sty
        il = i[lapse]
        self.clear[il] += 1
        done = il[self.clear[il] >= self.clear_steps]
        for j in done.tolist():
            self.closed.append(self._detection(j, int(self.last_end[j])))
        self.active[done] = False
        self.run[done] = 0

    def set_details(self, j: int, details: Mapping[str, float | int | str]) -> None:
        self.details[j] = dict(details)

    def _detection(self, j: int, end: int | None) -> Detection:
        subject = self.subjects[j]
        value, threshold = float(self.value[j]), float(self.threshold[j])
        details: dict[str, float | int | str] = {"detected_ns": int(self.detected[j]), **self.details[j]}
        return Detection(self.kind, subject, int(self.start[j]), end,
                         Severity(max(1, int(self.severity[j]))), value, threshold, self.units[j],
                         self.message(subject, value, threshold, self.units[j]), details)

    def ongoing(self) -> list[Detection]:
        """The episodes open now (end None)."""
        return [self._detection(j, None) for j in np.flatnonzero(self.active).tolist()]
