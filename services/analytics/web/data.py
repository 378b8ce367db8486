"""What each page shows, read from the alert store (a read-only connection per request) and the site
configs; no figure is computed here that the service keeps (indicators, quotas: services/analytics/
summary.py), only sums of the store's daily rows (charts, sub-items) and counts of its days (coverage).
Missing data stays None (shown "—"), never 0."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analytics.alerts import Alert
from analytics.rollup import CARRIER_QUANTITIES, KIND_QUANTITY
from services.analytics.store import AlertStore
from services.analytics.summary import METERS_KEY, SUMMARY_KEY
from site_config import SiteConfig

COVERAGE_DAYS = 30  # meter health: the share of the last 30 closed days with data


@dataclass(frozen=True)
class BuildingView:
    id: str
    name: str
    category: str
    floor_area_m2: float
    occupants: int


@dataclass(frozen=True)
class MeterView:
    id: str
    building: str
    kind: str
    quantity: str | None  # its counter quantity, None for a meter without one
    subitem: str | None
    code: str | None
    poll_s: float  # its shortest poll interval


@dataclass(frozen=True)
class SiteView:
    """The static part of a site: from its config, once."""

    id: str
    name: str
    institution: str
    timezone: str
    buildings: tuple[BuildingView, ...]
    meters: tuple[MeterView, ...]

    @classmethod
    def of(cls, cfg: SiteConfig) -> SiteView:
        s = cfg.site
        return cls(s.id, s.name, s.institution or s.id, s.timezone,
                   tuple(BuildingView(b.id, b.name, b.category, b.floor_area_m2, b.occupants)
                         for b in cfg.buildings),
                   tuple(MeterView(m.id, m.building, m.kind, KIND_QUANTITY.get(m.kind), m.subitem,
                                   m.subitem_code, min((g.interval_s for g in m.poll), default=0.0))
                         for m in cfg.meters))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Reader:
    """One request's view of the store."""

    def __init__(self, store_path: Path) -> None:
        self.store = AlertStore(store_path, read_only=True)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def summary(self, site: str) -> dict[str, Any]:
        raw = self.store.get_state(SUMMARY_KEY.format(site=site))
        return json.loads(raw) if raw else {}

    def meters(self, site: str) -> dict[str, Any]:
        raw = self.store.get_state(METERS_KEY.format(site=site))
        return json.loads(raw) if raw else {}

    def closed_day(self, site: str) -> date | None:
        raw = self.store.get_state(f"closed:{site}")
        return date.fromisoformat(raw) if raw else None

    def active(self, site: str | None = None) -> list[Alert]:
        return self.store.active(site)

    def daily(self, site: str, first: date) -> list[tuple[str, str, str, float, bool]]:
        return self.store.daily_since(site, first.isoformat())


# -- the pages' figures --------------------------------------------------------------------------------

def institution_rows(sites: list[SiteView], r: Reader) -> list[dict[str, Any]]:
    """The fleet page: one row per (site, institution), with the year to date the service stored."""
    rows = []
    for s in sites:
        summary = r.summary(s.id)
        active = r.active(s.id)
        for name, ytd in sorted(summary.get("institutions", {}).items()) or [(s.institution, {})]:
            members = set(ytd.get("buildings", [b.id for b in s.buildings]))
            quota = [q for q in summary.get("quota", []) if q["building"] in members]
            rows.append({"site": s.id, "site_name": s.name, "institution": name, "ytd": ytd,
                         "day": summary.get("day"), "tier": worst_tier(quota), "quota": quota,
                         "buildings": len(members),
                         "alerts": sum(1 for a in active if alert_building(a, s) in members)})
    return rows


TIER_ORDER = ("target", "guide", "baseline", "constraint")  # low to high (analytics.quotas)


def worst_tier(quota: list[dict[str, Any]]) -> str | None:
    """The highest tier any quota of the group is above (the quota status' `tier`), None if none."""
    tiers = [q["tier"] for q in quota if q.get("tier")]
    if not tiers:
        return None
    rank = {t: i for i, t in enumerate(TIER_ORDER)}
    return max(tiers, key=lambda t: rank.get(t, len(rank)))


def alert_building(a: Alert, s: SiteView) -> str:
    where = {m.id: m.building for m in s.meters}
    return where.get(a.subject, a.subject)


def carrier_of(m: MeterView) -> str | None:
    return CARRIER_QUANTITIES.get(m.quantity) if m.quantity else None


def is_total(m: MeterView) -> bool:
    return m.subitem in (None, "total")


def total_meters(s: SiteView, buildings: set[str], carrier: str) -> set[str]:
    """The meters a building's total of `carrier` is made of, as analytics.rollup.total_rows has it:
    its total meters (no sub-item, or `total`) if it has any, else its sub-item meters."""
    out: set[str] = set()
    for b in buildings:
        own = [m for m in s.meters if m.building == b and carrier_of(m) == carrier]
        totals = [m for m in own if is_total(m)]
        out |= {m.id for m in (totals or own)}
    return out


def series(s: SiteView, r: Reader, buildings: set[str], year: int, closed: date | None) -> dict[str, Any]:
    """Daily and monthly electricity and daily water of the year (the buildings' total meters), and
    electricity by sub-item, from the store's daily rows. A day no total meter covered is None; a
    month is the sum of its days with data (None if none); `unclassified` is the total less the
    sub-item meters, of the buildings that have a total meter."""
    empty: dict[str, Any] = {"days": [], "electricity": [], "water": [], "months": [], "subitems": [],
                             "unclassified": None, "electricity_total": None}
    if closed is None:
        return empty
    first = date(year, 1, 1)
    days = [first + timedelta(days=i) for i in range((closed - first).days + 1)]
    last = closed.isoformat()
    meters = {m.id: m for m in s.meters if m.building in buildings}
    totals = {c: total_meters(s, buildings, c) for c in ("electricity", "water")}
    with_total = {m.building for m in meters.values() if carrier_of(m) == "electricity" and is_total(m)}
    per_day: dict[str, dict[str, float]] = {c: defaultdict(float) for c in totals}
    sub: dict[str, float] = defaultdict(float)
    unclassified = 0.0  # buildings with a total meter: the total less their sub-item meters
    for _, meter, day, value, covered in r.daily(s.id, first):
        m = meters.get(meter)
        if m is None or not covered or day > last:
            continue
        for carrier, ids in totals.items():
            if meter in ids:
                per_day[carrier][day] += value
        if carrier_of(m) != "electricity" or m.building not in with_total:
            if carrier_of(m) == "electricity" and m.subitem is not None and not is_total(m):
                sub[m.subitem] += value
            continue
        if is_total(m):
            unclassified += value
        elif m.subitem is not None:
            sub[m.subitem] += value
            unclassified -= value
    out: dict[str, Any] = {"days": [d.isoformat() for d in days]}
    for carrier, values in per_day.items():
        out[carrier] = [values.get(d.isoformat()) for d in days]
    months: dict[str, list[float]] = {}
    for d, v in zip(out["days"], out["electricity"], strict=True):
        months.setdefault(d[:7], [])
        if v is not None:
            months[d[:7]].append(v)
    out["months"] = [(k, sum(v) if v else None) for k, v in months.items()]
    known = [v for v in out["electricity"] if v is not None]
    total = sum(known) if known else None
    out["electricity_total"] = total
    out["subitems"] = sorted(sub.items())
    out["unclassified"] = unclassified if sub and with_total and total is not None else None
    return out


def meter_rows(s: SiteView, r: Reader, now_ns: int, offline_after_s: int) -> list[dict[str, Any]]:
    """Meter health: last good reading (time, values), online (a reading within offline_after of
    now), and coverage: the share of the last COVERAGE_DAYS closed days with data."""
    last = r.meters(s.id)
    closed = r.closed_day(s.id)
    covered: dict[str, set[str]] = defaultdict(set)
    window: list[str] = []
    if closed is not None:
        first = closed - timedelta(days=COVERAGE_DAYS - 1)
        window = [(first + timedelta(days=i)).isoformat() for i in range(COVERAGE_DAYS)]
        for _, meter, day, _, c in r.daily(s.id, first):
            if c and day <= closed.isoformat():
                covered[meter].add(day)
    out = []
    for m in s.meters:
        seen = last.get(m.id)
        last_ns = seen["last_ns"] if seen else None
        out.append({"site": s.id, "meter": m, "last_ns": last_ns,
                    "values": seen["values"] if seen else {},
                    "online": last_ns is not None and now_ns - last_ns <= offline_after_s * 10**9,
                    "coverage": len(covered[m.id]) / len(window) if window and m.quantity else None,
                    "covered_days": len(covered[m.id]), "window_days": len(window)})
    return out


__all__ = ["COVERAGE_DAYS", "Reader", "SiteView", "alert_building", "carrier_of", "institution_rows",
           "is_total", "meter_rows", "series", "total_meters", "worst_tier"]
