"""The anomaly detectors (analytics.detectors) wired to a site config.

    detectors = site_detectors(site, overrides)     # a StreamingDetectorsLike, for batch and service

One `MeterRole` per meter whose profile has the counter its kind is judged by: electricity and heat
pumps `energy_active_import`, water `water_volume`, heat `heat_energy`; `max_rate` comes from that
profile point, `pair` from the meter's `pair` key (heat meter → its heat pump's electricity meter).
Every building gets its `schedule` (site config) as a `Schedule` in the site's time zone, or the
detectors' default occupancy. `overrides` are
DetectorSettings fields (the service config's [detectors] table); an unknown field or a bad value
raises DetectorConfigError naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.detectors import DetectorSettings, MeterRole, Schedule, StreamingDetectors
from analytics.events import Detection
from analytics.readings_io import Columns
from gateway.config import SiteConfig
from gateway.config.model import Occupancy

QUANTITY_OF_KIND = {"electricity": "energy_active_import", "heat_pump": "energy_active_import",
                    "water": "water_volume", "heat": "heat_energy"}


class DetectorConfigError(ValueError):
    """A [detectors] override that DetectorSettings does not accept; the message names the key."""


def meter_roles(site: SiteConfig) -> list[MeterRole]:
    roles = []
    for m in site.meters:
        quantity = QUANTITY_OF_KIND.get(m.kind)
        point = next((p for p in m.variant.points if p.quantity == quantity), None)
        if quantity is None or point is None:
            continue
        roles.append(MeterRole(m.id, m.building, m.kind, quantity, max_rate=point.max_rate, pair=m.pair))
    return roles


def detector_settings(overrides: Mapping[str, Any] | None) -> DetectorSettings:
    defaults = DetectorSettings()
    known = {f.name for f in dataclasses.fields(DetectorSettings)}
    values: dict[str, Any] = {}
    for key, given in (overrides or {}).items():
        value = given
        if key not in known:
            raise DetectorConfigError(f"detectors.{key}: unknown setting; known: {', '.join(sorted(known))}")
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            ok = isinstance(value, list | tuple)
            value = tuple(value) if ok else value
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = type(value) is type(default)
        if not ok:
            raise DetectorConfigError(f"detectors.{key}: expected {type(default).__name__} like the default "
                                      f"{default!r}, got {value!r}")
        values[key] = value
    try:
        return DetectorSettings(**values)
    except (TypeError, ValueError) as exc:
        raise DetectorConfigError(f"detectors: {exc}") from None


class SiteDetectors:
    """StreamingDetectors for one site, with the scalar and array feeding the alert engine uses."""

    def __init__(self, site: SiteConfig, overrides: Mapping[str, Any] | None = None) -> None:
        self.roles = meter_roles(site)
        schedules = building_schedules(site)
        self.settings = detector_settings(overrides)
        self.inner = StreamingDetectors(self.roles, settings=self.settings, schedules=schedules)

    def add(self, meter: str, quantity: str, ts_ns: int, value: float) -> None:
        self.inner.add(meter, quantity, ts_ns, value)

    def add_many(self, meter: NDArray[np.str_], quantity: str, ts_ns: NDArray[np.int64],
                 value: NDArray[np.float64]) -> None:
        if len(ts_ns):
            self.inner.add(meter, quantity, ts_ns, value)

    def evaluate(self, boundary_ns: int) -> list[Detection]:
        return self.inner.evaluate(boundary_ns)

    def replay_ticks(self, readings: Mapping[str, Columns], ticks: Sequence[int],
                     late_ns: int) -> Iterator[list[Detection]]:
        return self.inner.replay_ticks(readings, ticks, late_ns)


def building_schedules(site: SiteConfig) -> dict[str, Schedule]:
    return {b.id: _schedule(b.schedule, site.site.timezone) for b in site.buildings}


def _schedule(o: Occupancy | None, timezone: str) -> Schedule:
    if o is None:
        return Schedule(tz=timezone)
    return Schedule(tz=timezone, workdays=o.workdays, open_h=o.open_h, close_h=o.close_h,
                    night_start_h=o.night_start_h, night_end_h=o.night_end_h, base_start_h=o.base_start_h,
                    base_end_h=o.base_end_h)


def site_detectors(site: SiteConfig, overrides: Mapping[str, Any] | None = None) -> SiteDetectors | None:
    """None when the site has no meter the detectors can judge."""
    d = SiteDetectors(site, overrides)
    return d if d.roles else None


__all__ = ["DetectorConfigError", "SiteDetectors", "building_schedules", "detector_settings", "meter_roles",
           "site_detectors"]
