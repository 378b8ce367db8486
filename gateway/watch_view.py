"""The `metergate watch` table: one row per meter with its latest values, quality, age and errors."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from drivers.reader import Quality, Reading
from gateway.live import MeterView

# what a technician checks first, per kind of meter (others are counted, not shown)
HEADLINE = ("power_active", "energy_active_import", "water_flow", "water_volume", "heat_power",
            "heat_energy", "temp_supply", "voltage_l1", "frequency")
QUALITY_STYLE = {Quality.OK: "green", Quality.OUT_OF_RANGE: "yellow", Quality.INVALID: "red",
                 Quality.COMM_ERROR: "red", Quality.STALE: "yellow"}
STATE_STYLE = {"online": "green", "offline": "red", "backoff": "yellow", "unknown": "dim"}


def format_value(r: Reading) -> str:
    if r.value is None:
        return "—"
    v = r.value
    text = f"{v:,.0f}" if abs(v) >= 10000 else f"{v:.4g}"
    return f"{text} {r.unit}".rstrip()


def values_cell(readings: Mapping[str, Reading], limit: int = 4) -> Text:
    cell = Text()
    shown = [q for q in HEADLINE if q in readings][:limit]
    for i, q in enumerate(shown):
        r = readings[q]
        if i:
            cell.append("  ")
        cell.append(f"{q}=", style="dim")
        cell.append(format_value(r), style=QUALITY_STYLE.get(r.quality, ""))
    return cell


def quality_cell(readings: Mapping[str, Reading]) -> Text:
    if not readings:
        return Text("no data yet", style="dim")
    counts: dict[Quality, int] = {}
    for r in readings.values():
        counts[r.quality] = counts.get(r.quality, 0) + 1
    cell = Text()
    for q in Quality:
        if counts.get(q):
            if cell:
                cell.append(" ")
            cell.append(f"{counts[q]} {q.value}", style=QUALITY_STYLE[q])
    return cell


def age_text(ts: float | None, now: float) -> str:
    if ts is None:
        return "—"
    age = max(0.0, now - ts)
    return f"{age:.0f}s" if age < 120 else f"{age / 60:.0f}m"


def render(meters: Sequence[MeterView], devices: Mapping[str, Mapping[str, Any]],
           *, title: str = "", now: float | None = None) -> Table:
    now = time.time() if now is None else now
    table = Table(title=title, expand=True, padding=(0, 1))
    table.add_column("meter", no_wrap=True, overflow="ellipsis", max_width=22)
    table.add_column("bus/unit", no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column("state", no_wrap=True)
    table.add_column("age", no_wrap=True, justify="right")
    table.add_column("ok/fail", no_wrap=True, justify="right")
    table.add_column("errors", max_width=18)
    table.add_column("quality", max_width=16)
    table.add_column("values", ratio=1, min_width=30)
    for v in meters:
        dev = devices.get(v.meter, {})
        state = str(dev.get("state", v.availability))
        errors = ", ".join(f"{dev[k]} {label}" for k, label in
                           (("timeouts", "timeouts"), ("crc_errors", "CRC"),
                            ("exceptions", "exceptions")) if dev.get(k))
        table.add_row(v.meter, f"{v.bus}/{v.unit}", Text(state, style=STATE_STYLE.get(state, "")),
                      age_text(v.last_ts, now), f"{v.polls - v.failed}/{v.failed}",
                      errors or "—", quality_cell(v.readings), values_cell(v.readings, limit=3))
    return table
