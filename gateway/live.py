"""What `metergate watch` shows: the latest poll of every meter, kept in memory by the runtime.

`update` runs on a bus thread for every poll, so it only keeps a reference to the poll's readings
(per poll group); `snapshot`, called a few times a second at most, merges them by quantity. The
readings are kept only once someone has looked (the first `snapshot`, which `watch` takes as it
starts): `metergate run` never does, and a thousand meters' latest readings are megabytes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from drivers.reader import Reading
from gateway.scheduler import PollResult
from site_config import SiteConfig


@dataclass(slots=True)
class MeterView:
    meter: str
    profile: str
    bus: str
    unit: int | str  # Modbus unit id, or a DL/T 645 / CJ/T 188 address
    building: str
    readings: dict[str, Reading] = field(default_factory=dict)
    last_ts: float | None = None
    last_ok_ts: float | None = None
    polls: int = 0
    failed: int = 0
    availability: str = "unknown"
    reason: str | None = None
    since: float | None = None  # when `availability` last changed
    groups: dict[float, list[Reading]] = field(default_factory=dict, repr=False)  # latest per group


class LiveView:
    def __init__(self, config: SiteConfig) -> None:
        self._lock = threading.Lock()
        self.meters: dict[str, MeterView] = {
            m.id: MeterView(m.id, m.variant.key, m.bus, m.address or m.unit, m.building)
            for m in config.meters
        }
        self.errors: list[tuple[float, str]] = []
        self._watched = False

    def update(self, result: PollResult) -> None:
        with self._lock:
            view = self.meters.get(result.meter_id)
            if view is None:
                return
            view.polls += 1
            view.last_ts = result.ts
            if result.result == "failed":
                view.failed += 1
            else:
                view.last_ok_ts = result.ts
            if self._watched:
                view.groups[result.group_interval_s] = result.readings

    def availability(self, meter_id: str, state: str, reason: str | None) -> None:
        with self._lock:
            view = self.meters.get(meter_id)
            if view is not None:
                if view.availability != state:
                    view.since = time.time()
                view.availability = state
                view.reason = reason

    def note_error(self, text: str) -> None:
        with self._lock:
            self.errors = [*self.errors[-9:], (time.time(), text)]

    def snapshot(self) -> list[MeterView]:
        with self._lock:
            self._watched = True
            views = [(v, list(v.groups.values())) for v in self.meters.values()]
        return [MeterView(v.meter, v.profile, v.bus, v.unit, v.building,
                          {r.quantity: r for readings in groups for r in readings},
                          v.last_ts, v.last_ok_ts, v.polls, v.failed, v.availability, v.reason,
                          v.since)
                for v, groups in views]
