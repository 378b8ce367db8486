"""What the dashboard shows of a site, computed by the service and kept in the alert store's `state`
table (in the tick's own transaction), so that the web pages only read:

    summary:{site}   at each closed day: year-to-date amounts and indicators per building and per
                     institution (the site's [site] institution), and the quota status
    meters:{site}    at each tick: per meter, its last good reading (time and value per quantity)

Year to date = 1 January of the last closed day's year up to that day, over the days a building had
counter data (`known_days` of `days` says how many); a carrier a building has no meter for is None,
never 0. The indicators are analytics.indicators' with the calorific factor set and the year's grid
factor (the same as the service's daily `indicators` points).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import date
from typing import Any

import numpy as np

from analytics.alert_engine import AlertEngine, SiteContext
from analytics.factors import FactorTable
from analytics.indicators import Scale, Usage, compute_indicators

SUMMARY_KEY = "summary:{site}"
METERS_KEY = "meters:{site}"
_CARRIERS = (("electricity_kwh", "electricity"), ("heat_kwh", "heat"), ("natural_gas_m3", "natural_gas"),
             ("water_m3", "water"))
_KINDS = {"electricity": {"electricity", "heat_pump"}, "heat": {"heat"}, "natural_gas": {"gas"},
          "water": {"water"}}


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def site_summary(ctx: SiteContext, engine: AlertEngine, factors: FactorTable, day: date) -> dict[str, Any]:
    """The year to date of every building and institution up to `day` (a closed day), and the quotas."""
    doc: dict[str, Any] = {"day": day.isoformat(), "buildings": {}, "institutions": {},
                           "quota": [_quota(s) for s in engine.quota_status]}
    usage = engine.daily.usage(ctx.buildings, ctx.meters)
    if usage is None:
        return doc
    jan1 = date(day.year, 1, 1)
    lo = max(0, (jan1 - usage.first_day).days)
    hi = min(usage.n_days, (day - usage.first_day).days + 1)
    days = (day - jan1).days + 1
    order = {b.id: b for b in ctx.buildings}
    info = [order[b] for b in usage.buildings]
    known = usage.known[:, lo:hi]
    kinds = [{m.kind for m in ctx.meters if m.building == b} for b in usage.buildings]

    def ytd(a: np.ndarray, carrier: str) -> np.ndarray:
        total = np.where(known, a[:, lo:hi], 0.0).sum(axis=1)
        metered = np.array([bool(k & _KINDS[carrier]) for k in kinds])
        return np.where(metered, total, np.nan)

    amounts = {"electricity": ytd(usage.electricity, "electricity"), "heat": ytd(usage.heat, "heat"),
               "natural_gas": ytd(usage.natural_gas, "natural_gas"), "water": ytd(usage.water, "water")}
    heating = np.where(known, usage.heating_electricity[:, lo:hi], 0.0).sum(axis=1)
    scale = Scale(np.array([b.floor_area_m2 for b in info]),
                  np.array([b.heated_area_m2 or 0.0 for b in info]),
                  np.array([float(b.occupants) for b in info]))
    groups = sorted({b.institution or ctx.site for b in info})
    member = np.array([[(b.institution or ctx.site) == g for b in info] for g in groups], float)
    # an institution's amount: the sum over its buildings; unknown if none of them meters the carrier
    inst = {k: np.where((member @ ~np.isnan(v)) > 0, member @ np.nan_to_num(v), np.nan)
            for k, v in amounts.items()}
    inst_scale = Scale(member @ scale.floor_area_m2, member @ scale.heated_area_m2, member @ scale.occupants)
    inst_known = ((member @ known.astype(float)) > 0).sum(axis=1)  # days any of its buildings had data
    for rows, names, amt, sc, kd, heat_el in (
            (doc["buildings"], list(usage.buildings), amounts, scale, known.sum(axis=1), heating),
            (doc["institutions"], groups, inst, inst_scale, inst_known, member @ heating)):
        # a carrier without a meter adds nothing to the energy (NaN would blank every indicator)
        u = Usage(np.nan_to_num(amt["electricity"]), np.nan_to_num(amt["heat"]),
                  np.nan_to_num(amt["natural_gas"]), amt["water"], heat_el)
        ind = compute_indicators(u, sc, factors.factor_set("calorific"), factors.grid_factor(day.year))
        for i, name in enumerate(names):
            row: dict[str, Any] = {"days": days, "known_days": int(kd[i])}
            for key, carrier in _CARRIERS:
                row[key] = _num(float(amt[carrier][i]))
            values = ind.row(i)
            # no data this year: no indicator is 0; an overflowed figure is none either
            row.update({k: None if int(kd[i]) == 0 or v is None else _num(v) for k, v in values.items()})
            if rows is doc["institutions"]:
                row["buildings"] = [b.id for b in info if (b.institution or ctx.site) == name]
            rows[name] = row
    return doc


def _quota(s: Any) -> dict[str, Any]:
    d = asdict(s)
    d["day"] = s.day.isoformat()
    d["tiers"] = dict(s.tiers)
    return {k: (_num(v) if isinstance(v, float) else v) for k, v in d.items()}


def meters_doc(last: dict[str, dict[str, tuple[int, float]]]) -> dict[str, Any]:
    """Per meter: `last_ns` (its latest good reading) and `values` (the latest value per quantity)."""
    return {m: {"last_ns": max(t for t, _ in q.values()),
                "values": {k: _num(v) for k, (_, v) in q.items()}} for m, q in last.items() if q}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, sort_keys=True)


__all__ = ["METERS_KEY", "SUMMARY_KEY", "dumps", "meters_doc", "site_summary"]
