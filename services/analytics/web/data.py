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
                         "alerts": sum(1 for a in active if _alert_building(a, s) in members)})
    return rows


TIER_ORDER = ("target", "guide", "baseline", "constraint")  # low to high (analytics.quotas)


def worst_tier(quota: list[dict[str, Any]]) -> str | None:
    """The highest tier any quota of the group is above (the quota status' `tier`), None if none."""
    tiers = [q["tier"] for q in quota if q.get("tier")]
    if not tiers:
        return None
    rank = {t: i for i, t in enumerate(TIER_ORDER)}
    return max(tiers, key=lambda t: rank.get(t, len(rank)))


def _alert_building(a: Alert, s: SiteView) -> str:
    where = {m.id: m.building for m in s.meters}
    return where.get(a.subject, a.subject)


def carrier_of(m: MeterView) -> str | None:
    return CARRIER_QUANTITIES.get(m.quantity) if m.quantity else None


def series(s: SiteView, r: Reader, buildings: set[str], year: int, closed: date | None) -> dict[str, Any]:
    """Daily and monthly electricity (the buildings' total meters: no sub-item) and water of the
    year, and electricity by sub-item, from the store's daily rows. A day no total meter covered is
    None; a month is the sum of its days with data (None if none)."""
    if closed is None:
        return {"days": [], "electricity": [], "water": [], "months": [], "subitems": []}
    first = date(year, 1, 1)
    days = [first + timedelta(days=i) for i in range((closed - first).days + 1)]
    rows = r.daily(s.id, first)
    meters = {m.id: m for m in s.meters if m.building in buildings}
    totals: dict[str, dict[str, float]] = {"electricity": defaultdict(float), "water": defaultdict(float)}
    sub: dict[str, float] = defaultdict(float)
    for _, meter, day, value, covered in rows:
        m = meters.get(meter)
        if m is None or not covered or day > closed.isoformat():
            continue
        carrier = carrier_of(m)
        if carrier in totals and m.subitem is None:
            totals[carrier][day] += value
        if carrier == "electricity" and m.subitem is not None:
            sub[m.subitem] += value
    out: dict[str, Any] = {"days": [d.isoformat() for d in days]}
    for carrier, per_day in totals.items():
        out[carrier] = [per_day.get(d.isoformat()) for d in days]
    months: dict[str, list[float]] = {}
    for d, v in zip(out["days"], out["electricity"], strict=True):
        months.setdefault(d[:7], [])
        if v is not None:
            months[d[:7]].append(v)
    out["months"] = [(k, sum(v) if v else None) for k, v in months.items()]
    total = sum(v for v in out["electricity"] if v is not None) if any(
        v is not None for v in out["electricity"]) else None
    items = sorted(sub.items())
    out["subitems"] = items
    out["unclassified"] = None if total is None or not items else total - sum(v for _, v in items)
    out["electricity_total"] = total
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


__all__ = ["COVERAGE_DAYS", "Reader", "SiteView", "institution_rows", "meter_rows", "series", "worst_tier"]
