"""The report model: one plain record per institution (and the fleet), assembled from what the
analytics already computed — `metergate analyze`'s indicator rows, `metergate alerts --from`'s alerts
and quota status — and from analytics.breakdown / analytics.meter_coverage for what analyze does not
report (sub-items, peak power, coverage per meter). Nothing here computes an indicator: a number in a
report is the analytics' number, so it equals `metergate analyze --json` by construction.

    report = build_report(ReportInputs(...), parse_period("2025"), runs, batch, institution=None)

None is "no data" everywhere (rendered "—" or an empty cell), never 0, with its reason beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.alerts import Alert
from analytics.breakdown import SubitemAmount, daily_peak_kw, subitem_split
from analytics.indicators import HEADLINE, IndicatorRow, with_year_on_year
from analytics.local_days import midnight_ns
from analytics.meter_coverage import MeterCoverage, meter_coverage
from analytics.quota_tracking import QuotaStatus
from analytics.rollup import (
    CARRIER_QUANTITIES,
    BuildingInfo,
    MeterInfo,
    ReadingColumns,
    VirtualMeter,
    series_from_readings,
)
from core.subitems import SUBITEMS, UNCLASSIFIED
from reports.period import ReportPeriod

# indicators in report order: (name in IndicatorRow.values, unit); the headline ones have a year-on-year
INDICATORS = (("kgce_per_m2", "kgce/m²"), ("kgce_per_person", "kgce/person"),
              ("water_m3_per_person", "m³/person"), ("kgco2_per_m2", "kgCO2/m²"),
              ("energy_kgce", "kgce"), ("co2_kg", "kgCO2"), ("heating_kgce_per_m2", "kgce/m²"))
# carriers: (IndicatorRow.amounts key, carrier, unit)
CARRIERS = (("electricity_kwh", "electricity", "kWh"), ("heat_kwh", "heat", "kWh"),
            ("natural_gas_m3", "natural_gas", "m³"), ("water_m3", "water", "m³"))


class ReportError(ValueError):
    """An institution the inputs do not have, or a period without readings."""


@dataclass(frozen=True)
class ReportInputs:
    site: str  # the site's institution name or id, for the title
    timezone: str
    buildings: tuple[BuildingInfo, ...]  # as analyze uses them (relabelled by a basis file)
    meters: tuple[MeterInfo, ...]
    virtual: tuple[VirtualMeter, ...]
    readings: Mapping[str, ReadingColumns]
    interval_s: int = 3600


@dataclass(frozen=True)
class Runs:
    """analyze's rows for the report's windows (cli.commands.analyze.run_window)."""

    period: list[IndicatorRow]  # the period, one row per entity
    year_before: list[IndicatorRow] | None  # the same days a year earlier (None: no readings then)
    months: list[IndicatorRow]
    days: list[IndicatorRow]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Batch:
    """`metergate alerts --from`'s result over the readings up to the period's end."""

    alerts: Sequence[Alert]
    quota_status: Sequence[QuotaStatus]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IndicatorLine:
    name: str
    unit: str
    value: float | None
    yoy: float | None  # relative change on the same period a year earlier; None: not available
    reason: str  # why value is None ("" when it is not)


@dataclass(frozen=True, slots=True)
class AmountLine:
    key: str  # a carrier, or a sub-item name / "unclassified"
    code: str | None  # the national item code of a sub-item
    unit: str
    value: float | None
    share: float | None = None  # of the electricity total (sub-items)
    reason: str = ""  # why value is None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    label: str  # month "2025-03" or day "2025-03-01"
    electricity_kwh: float | None
    energy_kgce: float | None
    water_m3: float | None
    peak_kw: float | None = None  # days only: the highest one-interval mean power
    # months only: electricity by sub-item ("unclassified" last), kWh; None = no data
    subitems: tuple[tuple[str, float | None], ...] = ()


@dataclass(frozen=True, slots=True)
class QuotaLine:
    building: str
    scope: str
    indicator: str
    day: str
    ytd: float
    ytd_unit: str
    projected: float
    unit: str
    tiers: tuple[tuple[str, float], ...]
    tier: str | None
    coverage: float | None
    target: float | None  # a reduction target's year value (scope "reduction:…"), else None

    @property
    def of_target(self) -> float | None:
        """A reduction target's progress: the year-end projection as a share of the target's year
        value (at most 1: on track), None without a target."""
        if self.target is None or not self.target > 0:
            return None
        return self.projected / self.target


@dataclass(frozen=True, slots=True)
class AlertLine:
    subject: str
    kind: str
    start: str
    end: str | None
    severity: str
    state: str
    message: str


@dataclass(frozen=True)
class Section:
    level: str  # institution | fleet
    id: str
    label: str  # the row label analyze gives the period ("2025", "2025-03")
    buildings: tuple[str, ...]
    coverage: float | None
    indicators: list[IndicatorLine]
    carriers: list[AmountLine]
    subitems: list[AmountLine]
    months: list[SeriesPoint]
    days: list[SeriesPoint]
    quotas: list[QuotaLine]
    alerts: list[AlertLine]
    meters: list[MeterCoverage]


@dataclass(frozen=True)
class Report:
    site: str
    period: ReportPeriod
    timezone: str
    sections: list[Section]  # the fleet first (without --institution), then each institution
    notes: list[str]


def build_report(inputs: ReportInputs, period: ReportPeriod, runs: Runs, batch: Batch | None,
                 institution: str | None = None) -> Report:
    institutions = list(dict.fromkeys(b.institution for b in inputs.buildings))
    if institution is not None and institution not in institutions:
        raise ReportError(f"--institution {institution!r}: no such institution in the site config (or "
                          f"--basis); known: {', '.join(institutions)}")
    rows = with_year_on_year([*runs.period, *(runs.year_before or [])])
    tz = ZoneInfo(inputs.timezone)
    start_ns = midnight_ns(period.first, tz)
    end_ns = midnight_ns(period.last + timedelta(days=1), tz)
    counters = {q: c for q, c in inputs.readings.items() if q in CARRIER_QUANTITIES and len(c.ts_ns)}
    series, _ = series_from_readings(counters, inputs.buildings, inputs.meters, start_ns, end_ns,
                                     inputs.interval_s, inputs.virtual)
    coverage = meter_coverage(inputs.readings, inputs.meters, inputs.timezone, start_ns, end_ns,
                              inputs.interval_s)
    label = runs.period[0].period if runs.period else period.label
    scopes = [("fleet", "all")] if institution is None else []
    scopes += [("institution", i) for i in institutions if institution in (None, i)]
    sections = []
    for level, key in scopes:
        members = tuple(b.id for b in inputs.buildings if level == "fleet" or b.institution == key)
        groups = {b: key for b in members}
        by_month: dict[str, list[tuple[str, float | None]]] = {}
        for s in subitem_split(series, groups, inputs.timezone, "month")[key]:
            by_month.setdefault(s.period, []).append((s.subitem, s.kwh))
        sections.append(_section(level, key, label, members, rows, runs, batch, tz, start_ns, end_ns,
                                 subitem_split(series, groups, inputs.timezone, period.granularity)[key],
                                 by_month,
                                 daily_peak_kw(series, groups, inputs.timezone)[key],
                                 [c for c in coverage if c.building in members],
                                 {m.kind for m in inputs.meters if m.building in members}))
    notes = [*runs.notes, *(batch.notes if batch else [])]
    return Report(inputs.site, period, inputs.timezone, sections, list(dict.fromkeys(notes)))


def _section(level: str, key: str, label: str, members: tuple[str, ...], rows: list[IndicatorRow],
             runs: Runs, batch: Batch | None, tz: ZoneInfo, start_ns: int, end_ns: int,
             split: list[SubitemAmount], by_month: dict[str, list[tuple[str, float | None]]],
             peaks: tuple[list[str], list[float | None]],
             coverage: list[MeterCoverage], kinds: set[str]) -> Section:
    row = next((r for r in rows if (r.level, r.id, r.period) == (level, key, label)), None)
    values = row.values if row else {}
    indicators = [IndicatorLine(name, unit, values.get(name),
                                values.get(f"{name}_yoy") if name in HEADLINE else None,
                                (row.no_data.get(name, "") if row else "no readings in the period")
                                if values.get(name) is None else "")
                  for name, unit in INDICATORS]
    amounts = row.amounts if row else {}
    # a carrier none of the buildings has a meter for is no data, even where a basis row sums it as 0
    metered = {c: bool(kinds & set(_KINDS[c])) for _, c, _ in CARRIERS}
    carriers = [AmountLine(carrier, None, unit, amounts.get(k) if metered[carrier] else None, None,
                           "" if metered[carrier] and amounts.get(k) is not None else _why(carrier, kinds))
                for k, carrier, unit in CARRIERS]
    total = amounts.get("electricity_kwh")
    subitems = [AmountLine(s.subitem, SUBITEMS[s.subitem].code if s.subitem != UNCLASSIFIED else None,
                           "kWh", s.kwh, s.kwh / total if s.kwh is not None and total else None,
                           "" if s.kwh is not None else "no readings of its meters in the period")
                for s in split]
    peak = dict(zip(*peaks, strict=True))
    months = [replace(_point(r), subitems=tuple(by_month.get(r.period, ())))
              for r in runs.months if (r.level, r.id) == (level, key)]
    days = [_point(r, peak.get(r.period)) for r in runs.days if (r.level, r.id) == (level, key)]
    quotas = [_quota(s) for s in (batch.quota_status if batch else ()) if s.building in members]
    subjects = set(members) | {c.meter for c in coverage}
    alerts = [_alert(a, tz) for a in (batch.alerts if batch else ())
              if a.subject in subjects and a.start_ns < end_ns
              and (a.cleared_ns is None or a.cleared_ns >= start_ns)]
    return Section(level, key, label, members, row.coverage if row else None, indicators, carriers,
                   subitems, months, days, quotas, alerts, coverage)


_KINDS = {"electricity": ("electricity", "heat_pump"), "heat": ("heat",), "natural_gas": ("gas",),
          "water": ("water",)}


def _why(carrier: str, kinds: set[str]) -> str:
    if not kinds & set(_KINDS[carrier]):
        return "no meter of this carrier"
    return "no data: some of its meters have no readings in the period (see the coverage per meter)"


def _point(r: IndicatorRow, peak: float | None = None) -> SeriesPoint:
    return SeriesPoint(r.period, r.amounts.get("electricity_kwh"), r.values.get("energy_kgce"),
                       r.amounts.get("water_m3"), peak)


def _quota(s: QuotaStatus) -> QuotaLine:
    return QuotaLine(s.building, s.scope, s.indicator, s.day.isoformat(), s.ytd, s.ytd_unit, s.projected,
                     s.unit, tuple(s.tiers.items()), s.tier, s.coverage,
                     s.tiers.get("target") if s.scope.startswith("reduction:") else None)


def _alert(a: Alert, tz: ZoneInfo) -> AlertLine:
    def when(ns: int) -> str:  # local time; the report's header names the zone
        return datetime.fromtimestamp(ns / 1e9, tz).strftime("%Y-%m-%d %H:%M")
    return AlertLine(a.subject, a.kind.value, when(a.start_ns),
                     None if a.cleared_ns is None else when(a.cleared_ns), a.severity.label, a.state,
                     a.message)


__all__ = ["CARRIERS", "INDICATORS", "AlertLine", "AmountLine", "Batch", "IndicatorLine", "QuotaLine",
           "Report", "ReportError", "ReportInputs", "Runs", "Section", "SeriesPoint", "build_report"]
