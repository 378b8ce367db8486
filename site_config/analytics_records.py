"""A loaded site config as the analytics see it: the analytics take plain records (buildings,
meters, quota subjects), never a SiteConfig, so they can be used and scaled without the gateway.

    ctx = site_context(site)                      # analytics.alert_engine.SiteContext
    buildings, meters = rollup_meta(site)         # analytics.rollup BuildingInfo / MeterInfo
    subjects = quota_subjects(site)               # analytics.quotas QuotaSubject
"""

from __future__ import annotations

from analytics.alert_engine import SiteContext
from analytics.quotas import QuotaSubject
from analytics.rollup import BuildingInfo, MeterInfo
from site_config import SiteConfig


def rollup_meta(site: SiteConfig) -> tuple[tuple[BuildingInfo, ...], tuple[MeterInfo, ...]]:
    """The metadata roll-ups need (institution = [site] institution)."""
    buildings = tuple(BuildingInfo(b.id, site.site.institution, b.category, b.floor_area_m2,
                                   b.heated_area_m2, b.occupants) for b in site.buildings)
    meters = tuple(MeterInfo(m.id, m.building, m.kind, m.subitem, m.subitem_code) for m in site.meters)
    return buildings, meters


def quota_subjects(site: SiteConfig) -> tuple[QuotaSubject, ...]:
    """The quota view of the site's buildings."""
    return tuple(QuotaSubject(b.id, b.category, b.floor_area_m2, b.occupants, b.subcategory, b.levels,
                              b.quota_zone, b.climate_zone, b.heating_type, b.heated_area_m2, b.beds)
                 for b in site.buildings)


def site_context(site: SiteConfig) -> SiteContext:
    buildings, meters = rollup_meta(site)
    return SiteContext(site.site.id, site.site.timezone, buildings, meters, quota_subjects(site))


__all__ = ["quota_subjects", "rollup_meta", "site_context"]
