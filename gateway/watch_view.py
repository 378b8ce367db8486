"""The `metergate watch` table: one line per meter with its state, age, errors and latest values,
or, for a meter that does not answer, why (the error's kind and message), since when and when the
next try is.

The table fits the terminal: every cell stays on one line (long text ends in "…"), under
COMPACT_BELOW columns a compact layout drops the bus, poll-count and quality columns and
abbreviates quantities and errors, and when the meters do not all fit the terminal's height the
problem meters are shown first and the rest summarised in one "+N more" line. A frame that fits
the terminal is what lets rich's Live redraw it in place (a taller one scrolls and leaves copies).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.table import Table
from rich.text import Text

from core.reading import Quality
from drivers.reader import Reading
from gateway.live import MeterView

COMPACT_BELOW = 120  # columns
# what a technician checks first, per kind of meter (others are counted, not shown), with the
# symbol the compact layout uses
HEADLINE = {"power_active": "P", "energy_active_import": "E", "water_flow": "Q",
            "water_volume": "V", "heat_power": "Ph", "heat_energy": "Eh", "temp_supply": "Ts",
            "voltage_l1": "U1", "frequency": "f"}
QUALITY_STYLE = {Quality.OK: "green", Quality.OUT_OF_RANGE: "yellow", Quality.INVALID: "red",
                 Quality.COMM_ERROR: "red", Quality.STALE: "yellow"}
STATE_STYLE = {"online": "green", "offline": "red", "backoff": "yellow", "unknown": "dim"}
STATE_SHORT = {"online": "on", "offline": "OFF", "backoff": "wait", "unknown": "?"}
PROBLEM_STATES = ("offline", "backoff")
# the scheduler's per-device counters: (snapshot key, wide label, compact letter)
ERROR_COUNTS = (("timeouts", "timeout", "t"), ("crc_errors", "CRC", "c"),
                ("bad_frames", "bad frame", "f"), ("exceptions", "exception", "x"),
                ("connect_errors", "connection", "n"))
# drivers.errors ModbusError.kind in words
KIND_TEXT = {"timeout": "timeout", "crc_error": "CRC error", "bad_frame": "bad frame",
             "refused": "connection refused", "reset": "connection reset",
             "closed": "connection closed", "unreachable": "host unreachable",
             "connect_timeout": "connect timeout", "port_missing": "port missing",
             "port_busy": "port busy", "permission": "permission denied",
             "connect_error": "connection error"}


@dataclass(frozen=True, slots=True)
class Layout:
    compact: bool
    width: int


def format_value(r: Reading, *, compact: bool = False) -> str:
    if r.value is None:
        return "—"
    v = r.value
    if compact and abs(v) >= 1e6:
        text = f"{v / 1e6:.4g}M"
    else:
        text = f"{v:,.0f}" if abs(v) >= 10000 else f"{v:.4g}"
    return f"{text}{'' if compact else ' '}{r.unit}".rstrip()


def values_cell(readings: Mapping[str, Reading], limit: int = 4, *,
                compact: bool = False) -> Text:
    cell = Text(no_wrap=True, overflow="ellipsis")
    shown = [q for q in HEADLINE if q in readings][:limit]
    for i, q in enumerate(shown):
        r = readings[q]
        if i:
            cell.append(" " if compact else "  ")
        cell.append(f"{HEADLINE[q]}=" if compact else f"{q}=", style="dim")
        cell.append(format_value(r, compact=compact), style=QUALITY_STYLE.get(r.quality, ""))
    if not shown:
        cell.append("no data yet" if not readings else f"{len(readings)} values", style="dim")
    return cell


def quality_cell(readings: Mapping[str, Reading]) -> Text:
    if not readings:
        return Text("no data yet", style="dim")
    counts: dict[Quality, int] = {}
    for r in readings.values():
        counts[r.quality] = counts.get(r.quality, 0) + 1
    cell = Text(no_wrap=True, overflow="ellipsis")
    for q in Quality:
        if counts.get(q):
            if cell:
                cell.append(" ")
            cell.append(f"{counts[q]} {q.value}", style=QUALITY_STYLE[q])
    return cell


def errors_text(dev: Mapping[str, Any], *, compact: bool = False) -> str:
    if compact:
        return " ".join(f"{dev[k]}{letter}" for k, _, letter in ERROR_COUNTS if dev.get(k)) or "—"
    return ", ".join(f"{dev[k]} {label}" for k, label, _ in ERROR_COUNTS if dev.get(k)) or "—"


def kind_text(kind: str | None) -> str:
    if not kind:
        return "no answer"
    if kind.startswith("exception_"):
        return f"Modbus exception {kind.removeprefix('exception_')}"
    return KIND_TEXT.get(kind, kind.replace("_", " "))


def duration_text(seconds: float) -> str:
    s = max(0.0, seconds)
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.0f}h"


def age_text(ts: float | None, now: float) -> str:
    return "—" if ts is None else duration_text(now - ts)


def offline_reason(v: MeterView, dev: Mapping[str, Any], bus: Mapping[str, Any],
                   now: float) -> Text:
    """Why a meter is not read: kind, since when, next try, then the message (the part that is
    cut first when the line is short)."""
    if bus.get("state") == "down":
        kind, message = bus.get("last_error_kind"), bus.get("last_error") or v.reason
        head = f"bus down: {kind_text(kind)}"
    else:
        kind = dev.get("last_error_kind")
        message = dev.get("last_error") or v.reason
        head = kind_text(kind)
    parts = [head]
    if v.since is not None:
        parts.append(f"for {duration_text(now - v.since)}")
    retry = (dev.get("breaker") or {}).get("next_retry_ts")
    if retry is not None and bus.get("state") != "down":
        parts.append("retry now" if retry <= now else f"retry in {duration_text(retry - now)}")
    cell = Text(" ".join(parts), style="red", no_wrap=True, overflow="ellipsis")
    if message:
        cell.append(f": {message}", style="dim")
    return cell


def state_of(v: MeterView, dev: Mapping[str, Any]) -> str:
    return str(dev.get("state", v.availability))


def _table(layout: Layout, title: str, meter_ids: Sequence[str] = ()) -> Table:
    table = Table(title=title or None, box=box.SIMPLE_HEAD if layout.compact else box.ROUNDED,
                  expand=True, padding=(0, 1), show_edge=not layout.compact,
                  title_justify="left")
    # the whole id when it fits in a third of the line (ids are what a technician looks for)
    longest = max((len(m) for m in meter_ids), default=10)
    meter_w = max(8, min(longest, 32, layout.width // 3))
    table.add_column("meter", no_wrap=True, overflow="ellipsis", min_width=meter_w,
                     max_width=meter_w)
    if not layout.compact:
        table.add_column("bus/unit", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("state", no_wrap=True)
    table.add_column("age", no_wrap=True, justify="right")
    if not layout.compact:
        table.add_column("ok/fail", no_wrap=True, justify="right")
    table.add_column("errors" if not layout.compact else "err", no_wrap=True,
                     overflow="ellipsis", max_width=12 if layout.compact else 24)
    if not layout.compact:
        table.add_column("quality", no_wrap=True, overflow="ellipsis", max_width=18)
    table.add_column("values / why not read", no_wrap=True, overflow="ellipsis", ratio=1,
                     min_width=12)
    return table


def _add_row(table: Table, layout: Layout, v: MeterView, dev: Mapping[str, Any],
             bus: Mapping[str, Any], now: float) -> None:
    state = state_of(v, dev)
    label = STATE_SHORT.get(state, state) if layout.compact else state
    detail = (offline_reason(v, dev, bus, now) if state in PROBLEM_STATES
              else values_cell(v.readings, 3, compact=layout.compact))
    cells: list[RenderableType] = [v.meter]
    if not layout.compact:
        cells.append(f"{v.bus}/{v.unit}")
    cells += [Text(label, style=STATE_STYLE.get(state, "")), age_text(v.last_ts, now)]
    if not layout.compact:
        cells.append(f"{v.polls - v.failed}/{v.failed}")
    cells.append(errors_text(dev, compact=layout.compact))
    if not layout.compact:
        cells.append(quality_cell(v.readings))
    cells.append(detail)
    table.add_row(*cells)


def _order(meters: Sequence[MeterView], devices: Mapping[str, Mapping[str, Any]],
           room: int) -> tuple[list[MeterView], list[MeterView]]:
    """(shown, left out): config order when all fit, else the problem meters first."""
    if len(meters) <= room:
        return list(meters), []
    problems = [v for v in meters if state_of(v, devices.get(v.meter, {})) in PROBLEM_STATES]
    rest = [v for v in meters if v not in problems]
    ordered = problems + rest
    keep = set(id(v) for v in ordered[:room])
    return [v for v in meters if id(v) in keep], ordered[room:]


def _more_line(left: Sequence[MeterView], devices: Mapping[str, Mapping[str, Any]]) -> Text:
    counts: dict[str, int] = {}
    for v in left:
        s = state_of(v, devices.get(v.meter, {}))
        counts[s] = counts.get(s, 0) + 1
    states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return Text(f"+{len(left)} more ({states}); a taller terminal shows them",
                style="bold yellow" if any(s in PROBLEM_STATES for s in counts) else "dim",
                no_wrap=True, overflow="ellipsis")


def render(meters: Sequence[MeterView], devices: Mapping[str, Mapping[str, Any]],
           *, title: str = "", now: float | None = None, width: int | None = None,
           height: int | None = None, buses: Mapping[str, Mapping[str, Any]] | None = None,
           console: Console | None = None) -> RenderableType:
    """The table for a terminal `width` columns wide (default: the console's) with at most
    `height` lines (default: unlimited)."""
    now = time.time() if now is None else now
    buses = buses or {}
    console = console or Console(width=width or 160)
    width = width or console.width
    layout = Layout(compact=width < COMPACT_BELOW, width=width)
    options = console.options.update(width=width)
    room = len(meters)
    if height is not None:
        overhead = measure_lines(_table(layout, title), console, options)
        room = max(1, height - overhead)
    shown, left = _order(meters, devices, room)
    if left:
        shown, left = _order(meters, devices, max(0, room - 1))  # one line for "+N more"
    table = _table(layout, title, [v.meter for v in meters])
    for v in shown:
        _add_row(table, layout, v, devices.get(v.meter, {}), buses.get(v.bus, {}), now)
    return Group(table, _more_line(left, devices)) if left else table


def measure_lines(renderable: RenderableType, console: Console,
                  options: ConsoleOptions | None = None) -> int:
    return len(console.render_lines(renderable, options or console.options, pad=False))
