"""The anomaly detectors (analytics.detectors) wired to a site config.

    detectors = site_detectors(site, overrides)     # a StreamingDetectorsLike, for batch and service

One `MeterRole` per meter whose profile has the counter its kind is judged by: electricity and heat
pumps `energy_active_import`, water `water_volume`, heat `heat_energy`; `max_rate` comes from that
profile point, `pair` from the meter's `pair` key (heat meter → its heat pump's electricity meter).
A meter named as a `pair`, or with `role = "heat_pump"`, is judged as a heat pump (kind heat_pump:
idle is normal, no office-hours verdicts), whatever its profile. A reading outside its profile
point's plausible `range` reaches the detectors as invalid (NaN: a sentinel), in batch and service
alike. Every building gets its `schedule` (site config) as a `Schedule` in the site's time zone, or
the detectors' default occupancy, with the site's `[calendar]`: statutory holidays and 调休 working
days (unless the building's `public_holidays = false`) and the site's and the building's closures.
`overrides` are
DetectorSettings fields (the service config's [detectors] table); an unknown field or a bad value
raises DetectorConfigError naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.calendar import WorkCalendar
from analytics.detectors import DetectorSettings, MeterRole, Schedule
from analytics.detectors.cadence import CadenceDetectors
from analytics.events import Detection
from analytics.readings_io import Columns
from site_config import SiteConfig
from site_config.model import Building

QUANTITY_OF_KIND = {"electricity": "energy_active_import", "heat_pump": "energy_active_import",
                    "water": "water_volume", "heat": "heat_energy"}


class DetectorConfigError(ValueError):
    """A [detectors] override that DetectorSettings does not accept; the message names the key."""


def meter_roles(site: SiteConfig) -> list[MeterRole]:
    paired = {m.pair for m in site.meters if m.pair}
    roles = []
    for m in site.meters:
        quantity = QUANTITY_OF_KIND.get(m.kind)
        point = next((p for p in m.variant.points if p.quantity == quantity), None)
        if quantity is None or point is None:
            continue
        # judged by role, not by profile: a heat pump's electricity meter idles when it is warm
        heat_pump = m.kind == "electricity" and (m.id in paired or m.role == "heat_pump")
        kind = "heat_pump" if heat_pump else m.kind
        roles.append(MeterRole(m.id, m.building, kind, quantity, max_rate=point.max_rate, pair=m.pair))
    return roles


def plausible_ranges(site: SiteConfig) -> dict[tuple[str, str], tuple[float, float]]:
    """(meter, quantity) -> the profile point's plausible [min, max], for the detectors' counters."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for m in site.meters:
        quantity = QUANTITY_OF_KIND.get(m.kind)
        point = next((p for p in m.variant.points if p.quantity == quantity), None)
        if point is not None and point.range is not None and quantity is not None:
            out[(m.id, quantity)] = (float(point.range[0]), float(point.range[1]))
    return out


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


def configured_cadence(site: SiteConfig) -> dict[str, float]:
    """Each meter's poll interval (s) for the counter it is judged by: its poll group holding that
    quantity, else the site's default poll interval."""
    out: dict[str, float] = {}
    for m in site.meters:
        quantity = QUANTITY_OF_KIND.get(m.kind)
        group = next((g for g in m.poll if quantity in g.quantities), None)
        out[m.id] = group.interval_s if group is not None else site.poll_interval_s
    return out


class SiteDetectors:
    """The detectors for one site (by cadence class: analytics.detectors.cadence), with the scalar
    and array feeding the alert engine uses. `cadence_s` is each meter's step between readings: what
    `metergate alerts --from` measures in the file; by default the site config's poll intervals
    (the service)."""

    def __init__(self, site: SiteConfig, overrides: Mapping[str, Any] | None = None,
                 cadence_s: Mapping[str, float] | None = None) -> None:
        self.roles = meter_roles(site)
        schedules = building_schedules(site)
        self.settings = detector_settings(overrides)
        self.cadence_s = dict(configured_cadence(site) if cadence_s is None else cadence_s)
        self.inner = CadenceDetectors(self.roles, self.cadence_s, settings=self.settings,
                                      schedules=schedules)
        ranges = plausible_ranges(site)
        self._ranges: dict[str, tuple[list[str], NDArray[np.float64], NDArray[np.float64]]] = {}
        for q in {r.quantity for r in self.roles}:
            names = sorted(m for (m, qq) in ranges if qq == q)
            self._ranges[q] = (names, np.array([ranges[(m, q)][0] for m in names]),
                               np.array([ranges[(m, q)][1] for m in names]))

    def plausible(self, meter: NDArray[np.str_], quantity: str, value: NDArray[np.float64]
                  ) -> NDArray[np.float64]:
        """`value` with readings outside their profile point's range made NaN (invalid)."""
        names, lo, hi = self._ranges.get(quantity, ([], np.empty(0), np.empty(0)))
        if not names or not len(value):
            return value
        pos = np.clip(np.searchsorted(names, meter), 0, len(names) - 1)
        known = np.asarray(names)[pos] == meter
        with np.errstate(invalid="ignore"):
            outside = known & ((value < lo[pos]) | (value > hi[pos]))
        return np.where(outside, np.nan, value) if outside.any() else value

    def add(self, meter: str, quantity: str, ts_ns: int, value: float) -> None:
        v = self.plausible(np.array([meter]), quantity, np.array([value], np.float64))
        self.inner.add(meter, quantity, ts_ns, float(v[0]))

    def add_many(self, meter: NDArray[np.str_], quantity: str, ts_ns: NDArray[np.int64],
                 value: NDArray[np.float64]) -> None:
        if len(ts_ns):
            m = np.asarray(meter).astype(str)
            self.inner.add(m, quantity, ts_ns, self.plausible(m, quantity, np.asarray(value, np.float64)))

    def evaluate(self, boundary_ns: int) -> list[Detection]:
        return self.inner.evaluate(boundary_ns)

    def replay_ticks(self, readings: Mapping[str, Columns], ticks: Sequence[int],
                     late_ns: int) -> Iterator[list[Detection]]:
        checked = {q: Columns(np.asarray(c.meter).astype(str), c.ts_ns,
                              self.plausible(np.asarray(c.meter).astype(str), q, np.asarray(c.value)))
                   for q, c in readings.items()}
        return self.inner.replay_ticks(checked, ticks, late_ns)


def building_schedules(site: SiteConfig) -> dict[str, Schedule]:
    return {b.id: _schedule(b, site) for b in site.buildings}


def building_calendar(b: Building, site: SiteConfig) -> WorkCalendar:
    """The site's statutory calendar (unless the building opts out) and every closure that applies."""
    o = b.schedule
    follows = o is None or o.public_holidays
    closed = [*site.calendar.closed, *(o.closed if o is not None else ())]
    return WorkCalendar.build(site.calendar.public_holidays if follows else "none",
                              [(c.first, c.last) for c in closed])


def calendar_notes(site: SiteConfig, years: range) -> list[str]:
    """A note for each year of the data that the statutory calendar has no notice for."""
    cal = WorkCalendar.build(site.calendar.public_holidays)
    missing = [y for y in years if not cal.knows(y)]
    if not missing or cal.covered is None:
        return []
    return [f"calendar: the statutory holidays of {', '.join(map(str, missing))} are not known to the "
            f"installed chinese-calendar (it covers {cal.covered[0]}-{cal.covered[1]}); those days are "
            "judged on weekdays alone: upgrade it once the State Council's notice is out"]


def _schedule(b: Building, site: SiteConfig) -> Schedule:
    o, timezone, cal = b.schedule, site.site.timezone, building_calendar(b, site)
    if o is None:
        return Schedule(tz=timezone, calendar=cal)
    return Schedule(tz=timezone, workdays=o.workdays, open_h=o.open_h, close_h=o.close_h,
                    night_start_h=o.night_start_h, night_end_h=o.night_end_h, base_start_h=o.base_start_h,
                    base_end_h=o.base_end_h, calendar=cal)


def site_detectors(site: SiteConfig, overrides: Mapping[str, Any] | None = None,
                   cadence_s: Mapping[str, float] | None = None) -> SiteDetectors | None:
    """None when the site has no meter the detectors can judge."""
    d = SiteDetectors(site, overrides, cadence_s)
    return d if d.roles else None


__all__ = ["DetectorConfigError", "SiteDetectors", "building_calendar", "building_schedules",
           "calendar_notes", "configured_cadence",
           "detector_settings", "meter_roles", "site_detectors"]
