"""The alert lifecycle: detections in, alerts raised, updated, acknowledged and cleared out.

    book = AlertBook("campus-a", LifecycleSettings(raise_after=2, clear_after=3))
    changes = book.update(tick_ns, interval_s, detections)   # at every evaluation boundary
    book.ack(alert_id, by="ops-1", note="plumber called", ts_ns=...)
    changes = replay("campus-a", detections, ticks, interval_s)   # batch: the same, tick by tick

Pure: no I/O, no clock. The service feeds it at each interval boundary, the batch command replays
every boundary of a readings file; with the same detections both give the same alerts.

- **Key.** An alert follows one condition: (kind, subject, scope), where `scope` is
  `detection.details["scope"]` when a detector sets it (quotas: "STANDARD:INDICATOR"), else "".
- **Present at a tick.** The tick at boundary `t` evaluates the interval [t − interval, t). A detection
  is present at that tick when it overlaps that interval: `start_ns < t` and (`end_ns` is None or
  `end_ns > t − interval`). Detections are episodes; this rule makes a finished episode and one still
  reported as ongoing count alike, so a batch run (episodes with their ends) and the service (episodes
  reported as they go) see the same thing at every tick. A detection first reported at this tick
  (`fresh`) is present even if it ended before the interval: a detector's verdict lags its evidence
  (it waits for the reading after an interval), so a one-interval episode near the end of an interval
  is known only at the next tick, and would otherwise never be present at all.
- **Hysteresis in time.** An alert is raised once its condition has been present at `raise_after`
  consecutive ticks, and cleared once it has been absent at `clear_after` consecutive ticks. A
  condition that comes and goes faster than that neither raises nor clears: no flapping.
- **Instant faults** (`INSTANT_KINDS`: counter reset or swap, spike, sentinel) are raised at the first
  tick they are present: their evidence is one reading, complete at once, and a one-interval episode
  is present at one tick only, so `raise_after` would never let it through. They clear like the others.
- **Severity** is the highest severity present at the latest tick where the condition was present;
  a change (escalation or de-escalation) updates the alert. Value, threshold and message follow the
  latest detection (kept, not announced as an update).
- **Stable id.** `alert_id(site, kind, subject, scope, start_ns)`: a hash of those, prefixed by the
  kind, where `start_ns` is the start of the episode that raised the alert (the earliest start among
  the detections present while the condition built up). The same episode gives the same id in batch,
  in the service and after a restart; a new episode after a clear gets a new id.
- **Acknowledgement** marks an active alert (who, when, a note); it survives updates and ends with the
  alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from analytics.events import AlertKind, Detection, Severity

# Faults whose evidence is complete in one reading: raised at their first detection (docs/alerts.md)
INSTANT_KINDS: frozenset[AlertKind] = frozenset({AlertKind.COUNTER_RESET, AlertKind.SPIKE,
                                                  AlertKind.SENTINEL})

State = Literal["active", "cleared"]
ChangeKind = Literal["raised", "updated", "acked", "cleared"]
Key = tuple[AlertKind, str, str]


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    raise_after: int = 2  # consecutive ticks present before an alert is raised
    clear_after: int = 3  # consecutive ticks absent before it is cleared
    instant: frozenset[AlertKind] = INSTANT_KINDS  # raised at the first tick present

    def __post_init__(self) -> None:
        if self.raise_after < 1 or self.clear_after < 1:
            raise ValueError("raise_after and clear_after must be at least 1")

    def raise_after_for(self, kind: AlertKind) -> int:
        return 1 if kind in self.instant else self.raise_after


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    site: str
    kind: AlertKind
    subject: str
    scope: str
    state: State
    severity: Severity
    start_ns: int  # the episode's start
    raised_ns: int  # the tick that raised it
    updated_ns: int  # the last tick that changed its severity (or raised it)
    cleared_ns: int | None
    last_seen_ns: int  # the last tick where its condition was present
    value: float
    threshold: float
    unit: str
    message: str
    details: Mapping[str, float | int | str] = field(default_factory=dict)
    acked_ns: int | None = None
    acked_by: str | None = None
    ack_note: str | None = None

    @property
    def key(self) -> Key:
        return (self.kind, self.subject, self.scope)

    @property
    def acked(self) -> bool:
        return self.acked_ns is not None


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    alert: Alert
    at_ns: int


def scope_of(d: Detection) -> str:
    return str(d.details.get("scope", ""))


def alert_id(site: str, kind: AlertKind, subject: str, scope: str, start_ns: int) -> str:
    """`<kind>-<16 hex>`: a single MQTT topic level, the same wherever it is computed."""
    digest = hashlib.sha256(f"{site}\x1f{kind.value}\x1f{subject}\x1f{scope}\x1f{start_ns}".encode())
    return f"{kind.value}-{digest.hexdigest()[:16]}"


def present(d: Detection, tick_ns: int, interval_ns: int) -> bool:
    """Whether `d` overlaps the interval [tick − interval, tick) that the tick evaluates."""
    return d.start_ns < tick_ns and (d.end_ns is None or d.end_ns > tick_ns - interval_ns)


@dataclass
class _Pending:
    """A condition on its way up (present, not yet raised) or down (raised, now absent)."""

    present_run: int = 0
    absent_run: int = 0
    start_ns: int | None = None  # earliest start seen in the current present run


class AlertBook:
    """The active alerts of one site and the counters of the conditions behind them."""

    def __init__(self, site: str, settings: LifecycleSettings = LifecycleSettings(),
                 active: Iterable[Alert] = ()) -> None:
        self.site = site
        self.settings = settings
        self._active: dict[Key, Alert] = {a.key: a for a in active if a.state == "active"}
        self._pending: dict[Key, _Pending] = {}
        self.last_tick_ns: int | None = None

    @property
    def active(self) -> list[Alert]:
        return sorted(self._active.values(), key=lambda a: (a.start_ns, a.id))

    def get(self, alert_id: str) -> Alert | None:
        return next((a for a in self._active.values() if a.id == alert_id), None)

    def update(self, tick_ns: int, interval_s: int, detections: Iterable[Detection],
               fresh: Iterable[Detection] = ()) -> list[Change]:
        """One evaluation boundary: the detections known now (any may have ended already), and
        those first reported at this tick, present whenever they ended."""
        if self.last_tick_ns is not None and tick_ns <= self.last_tick_ns:
            raise ValueError(f"tick {tick_ns} is not after the last one ({self.last_tick_ns})")
        self.last_tick_ns = tick_ns
        interval_ns = interval_s * 10**9
        now: dict[Key, list[Detection]] = {}
        for d in detections:
            if present(d, tick_ns, interval_ns):
                now.setdefault((d.kind, d.subject, scope_of(d)), []).append(d)
        for d in fresh:
            if d.start_ns < tick_ns:
                same = now.setdefault((d.kind, d.subject, scope_of(d)), [])
                if all(d is not other for other in same):
                    same.append(d)
        changes: list[Change] = []
        for key in sorted(set(now) | set(self._active) | set(self._pending), key=_order):
            p = self._pending.setdefault(key, _Pending())
            alert = self._active.get(key)
            found = now.get(key)
            if found:
                p.absent_run = 0
                p.present_run += 1
                first = min(d.start_ns for d in found)
                p.start_ns = first if p.start_ns is None else min(p.start_ns, first)
                top = max(found, key=lambda d: (d.severity, d.start_ns))
                if alert is None:
                    if p.present_run >= self.settings.raise_after_for(key[0]):
                        alert = self._raise(key, p.start_ns, tick_ns, top)
                        changes.append(Change("raised", alert, tick_ns))
                else:
                    updated = replace(alert, value=top.value, threshold=top.threshold, unit=top.unit,
                                      message=top.message, details=dict(top.details),
                                      last_seen_ns=tick_ns)
                    if top.severity != alert.severity:
                        updated = replace(updated, severity=top.severity, updated_ns=tick_ns)
                        changes.append(Change("updated", updated, tick_ns))
                    self._active[key] = updated
            else:
                p.present_run = 0
                p.start_ns = None
                p.absent_run += 1
                if alert is not None and p.absent_run >= self.settings.clear_after:
                    cleared = replace(alert, state="cleared", cleared_ns=tick_ns)
                    del self._active[key]
                    changes.append(Change("cleared", cleared, tick_ns))
            if key not in self._active and p.present_run == 0:
                del self._pending[key]  # nothing to remember
        return changes

    def _raise(self, key: Key, start_ns: int, tick_ns: int, top: Detection) -> Alert:
        kind, subject, scope = key
        alert = Alert(alert_id(self.site, kind, subject, scope, start_ns), self.site, kind, subject, scope,
                      "active", top.severity, start_ns, tick_ns, tick_ns, None, tick_ns, top.value,
                      top.threshold, top.unit, top.message, dict(top.details))
        self._active[key] = alert
        return alert

    def ack(self, alert_id: str, by: str, ts_ns: int, note: str | None = None) -> Change | None:
        """Acknowledge an active alert; None if no active alert has that id (or it is acked already)."""
        for key, a in self._active.items():
            if a.id == alert_id:
                if a.acked:
                    return None
                acked = replace(a, acked_ns=ts_ns, acked_by=by, ack_note=note)
                self._active[key] = acked
                return Change("acked", acked, ts_ns)
        return None


def _order(key: Key) -> tuple[str, str, str]:
    return (key[0].value, key[1], key[2])


def ticks_between(first_ns: int, last_ns: int, interval_s: int) -> list[int]:
    """Every boundary b (a multiple of the interval since the epoch) with first_ns < b <= last_ns."""
    step = interval_s * 10**9
    b = (first_ns // step + 1) * step
    out = []
    while b <= last_ns:
        out.append(b)
        b += step
    return out


def replay(site: str, detections: Sequence[Detection], ticks: Sequence[int], interval_s: int,
           settings: LifecycleSettings = LifecycleSettings()) -> tuple[list[Alert], list[Change]]:
    """Batch: every tick in order through a fresh AlertBook. Returns every alert raised (its final
    state: cleared, or active at the last tick) and every change."""
    book = AlertBook(site, settings)
    by_start = sorted(detections, key=lambda d: d.start_ns)
    changes: list[Change] = []
    latest: dict[str, Alert] = {}
    step = interval_s * 10**9
    live: list[Detection] = []
    nxt = 0
    for tick in ticks:
        while nxt < len(by_start) and by_start[nxt].start_ns < tick:
            live.append(by_start[nxt])
            nxt += 1
        # ticks only grow: an episode that ended before this interval never counts again
        live = [d for d in live if d.end_ns is None or d.end_ns > tick - step]
        for c in book.update(tick, interval_s, live):
            changes.append(c)
            latest[c.alert.id] = c.alert
    for a in book.active:
        latest[a.id] = a
    return sorted(latest.values(), key=lambda a: (a.start_ns, a.id)), changes


__all__ = ["INSTANT_KINDS", "Alert", "AlertBook", "Change", "LifecycleSettings", "alert_id", "present",
           "replay", "scope_of", "ticks_between"]
