"""Electricity of a group of buildings (an institution, the fleet) by sub-item (分项) and its peak power,
per period, from the building series analytics.indicator_run computes with.

    split = subitem_split(series, groups, "Asia/Shanghai", "month")   # {group: [SubitemAmount, ...]}
    peaks = daily_peak_kw(series, groups, "Asia/Shanghai")             # {group: (days, kW)}

What the group's electricity total holds beyond its sub-item meters is `unclassified` (core.subitems),
shown, never dropped; it is 0 where the total is the sum of the sub-item meters (a building without
a total meter). NaN (no data) is never 0: a period without any reading of a total is None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analytics.indicators import period_index, sum_periods
from analytics.rollup import BuildingSeries, group_sum
from core.subitems import SUBITEMS, UNCLASSIFIED

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SubitemAmount:
    period: str
    subitem: str  # a name of core.subitems.SUBITEMS (not `total`), or "unclassified"
    kwh: float | None  # None: no data


def _group_rows(values: F64, buildings: Sequence[str], groups: Mapping[str, str],
                keys: Sequence[str]) -> F64:
    """buildings × intervals → groups × intervals (NaN skipped; NaN where a group knows nothing)."""
    pick = [i for i, b in enumerate(buildings) if b in groups]
    return group_sum(values[pick], [groups[buildings[i]] for i in pick], keys).values


def subitem_split(series: BuildingSeries, groups: Mapping[str, str], timezone: str,
                  period: str) -> dict[str, list[SubitemAmount]]:
    """Per group (`groups`: building → group), per period: kWh of each sub-item that has a meter there,
    then `unclassified` = the electricity total less the sub-items."""
    keys = list(dict.fromkeys(groups.values()))
    labels, idx = period_index(series.edges_ns, timezone, period)
    total = sum_periods(_group_rows(series.carriers["electricity"], series.buildings, groups, keys),
                        idx, len(labels))
    rows: dict[str, list[SubitemAmount]] = {k: [] for k in keys}
    known = np.zeros_like(total)
    for name in SUBITEMS:
        if name == "total":
            continue
        members = [i for i, k in enumerate(series.subitems.keys) if k.rsplit("/", 1)[1] == name]
        per_b = {series.subitems.keys[i].rsplit("/", 1)[0]: series.subitems.values[i] for i in members}
        if not per_b:
            continue
        b_ids = [b for b in per_b if b in groups]
        if not b_ids:
            continue
        grouped = group_sum(np.array([per_b[b] for b in b_ids]), [groups[b] for b in b_ids], keys).values
        amounts = sum_periods(grouped, idx, len(labels))
        has = np.array([any(groups[b] == k for b in b_ids) for k in keys])
        known += np.nan_to_num(amounts)
        for g, key in enumerate(keys):
            if has[g]:
                rows[key] += [SubitemAmount(p, name, _value(amounts[g, j])) for j, p in enumerate(labels)]
    rest = total - known
    # a total that is the sum of its sub-items leaves rounding noise, not energy
    rest[np.abs(rest) <= 1e-9 * np.maximum(1.0, np.abs(np.nan_to_num(total)))] = 0.0
    for g, key in enumerate(keys):
        rows[key] += [SubitemAmount(p, UNCLASSIFIED, _value(rest[g, j])) for j, p in enumerate(labels)]
    return rows


def daily_peak_kw(series: BuildingSeries, groups: Mapping[str, str],
                  timezone: str) -> dict[str, tuple[list[str], list[float | None]]]:
    """Per group: each local day's highest mean electric power over one interval, kW (energy per
    interval ÷ its hours); None for a day without data."""
    keys = list(dict.fromkeys(groups.values()))
    kwh = _group_rows(series.carriers["electricity"], series.buildings, groups, keys)
    hours = np.diff(series.edges_ns).astype(np.float64) / 3.6e12
    kw = kwh / hours
    labels, idx = period_index(series.edges_ns, timezone, "day")
    peak = np.full((len(keys), len(labels)), -np.inf)
    np.fmax.at(peak.T, idx, kw.T)  # fmax: NaN (no data) loses to any number
    peak[~np.isfinite(peak)] = np.nan
    return {k: (labels, [_value(v) for v in peak[g]]) for g, k in enumerate(keys)}


def _value(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


__all__ = ["SubitemAmount", "daily_peak_kw", "subitem_split"]
