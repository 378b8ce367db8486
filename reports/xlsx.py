"""The report as a workbook (openpyxl): one sheet per table, every section's rows under a `section`
column. Cells hold the analytics' full values (display formats only round them); no data is an empty
cell, never 0, with the reason in the next column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.subitems import SUBITEMS
from reports import formatting
from reports.labels import labels
from reports.model import Report, Section

_FMT = {".2f": "0.00", ",.0f": "#,##0", ",.1f": "#,##0.0"}


def write_xlsx(report: Report, path: Path, lang: str = "zh") -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    w = labels(lang)
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    sheets: list[tuple[str, list[str], Any]] = [
        ("indicators", ["section", "indicator", "name", "unit", "value", "yoy", "reason"], _indicators),
        ("carriers", ["section", "carrier", "name", "unit", "value", "reason"], _carriers),
        ("subitems", ["section", "subitem", "code", "name", "unit", "value", "share", "reason"], _subitems),
        ("monthly", ["section", "month", "electricity_kwh", "energy_kgce", "water_m3"], _months),
        ("subitems_monthly", ["section", "month", "subitem", "code", "name", "kwh"], _subitem_months),
        ("daily", ["section", "day", "electricity_kwh", "energy_kgce", "water_m3", "peak_kw"], _days),
        ("quotas", ["section", "building", "scope", "day", "ytd", "ytd_unit", "projected", "unit", "tier",
                    "target", "projected_of_target", "coverage"], _quotas),
        ("alerts", ["section", "subject", "kind", "start", "end", "severity", "state", "message"], _alerts),
        ("meters", ["section", "meter", "building", "quantity", "coverage", "missing", "reason"], _meters),
    ]
    for name, header, rows in sheets:
        ws = book.create_sheet(f"{w[name]}" if name in w else name)
        ws.append(header)  # machine names: a reader (or a test) finds columns by them
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for s in report.sections:
            for row, formats in rows(s, w):
                ws.append([_section_name(s), *row])
                for col, spec in formats.items():
                    ws.cell(ws.max_row, col + 2).number_format = spec
    info = book.create_sheet(w["notes"])
    for line in (f"{w['title']} {report.site}", f"{w['period']} {report.period.label}", w["sources"],
                 *report.notes):
        info.append([line])
    book.save(path)


def _section_name(s: Section) -> str:
    return "fleet" if s.level == "fleet" else s.id


Rows = Iterable[tuple[Sequence[object], dict[int, str]]]


def _indicators(s: Section, w: dict[str, str]) -> Rows:
    for i in s.indicators:
        spec = _FMT[formatting.FORMATS.get(i.name, ".2f")]
        yield [i.name, w[i.name], i.unit, i.value, i.yoy, i.reason or None], {3: spec, 4: "+0.00%"}


def _carriers(s: Section, w: dict[str, str]) -> Rows:
    for c in s.carriers:
        yield [c.key, w[c.key], c.unit, c.value, c.reason or None], {3: "#,##0.0"}


def _subitems(s: Section, w: dict[str, str]) -> Rows:
    for c in s.subitems:
        yield ([c.key, c.code, w[f"subitem:{c.key}"], c.unit, c.value, c.share, c.reason or None],
               {4: "#,##0.0", 5: "0.0%"})


def _months(s: Section, w: dict[str, str]) -> Rows:
    for p in s.months:
        yield [p.label, p.electricity_kwh, p.energy_kgce, p.water_m3], {1: "#,##0.0", 2: "#,##0"}


def _subitem_months(s: Section, w: dict[str, str]) -> Rows:
    for p in s.months:
        for name, kwh in p.subitems:
            yield [p.label, name, SUBITEMS[name].code if name in SUBITEMS else None, w[f"subitem:{name}"],
                   kwh], {4: "#,##0.0"}


def _days(s: Section, w: dict[str, str]) -> Rows:
    for p in s.days:
        yield [p.label, p.electricity_kwh, p.energy_kgce, p.water_m3, p.peak_kw], {1: "#,##0.0"}


def _quotas(s: Section, w: dict[str, str]) -> Rows:
    for q in s.quotas:
        yield [q.building, q.scope, q.day, q.ytd, q.ytd_unit, q.projected, q.unit, q.tier, q.target,
               q.of_target, q.coverage], {9: "0.0%"}


def _alerts(s: Section, w: dict[str, str]) -> Rows:
    for a in s.alerts:
        yield [a.subject, a.kind, a.start, a.end, a.severity, a.state, a.message], {}


def _meters(s: Section, w: dict[str, str]) -> Rows:
    for m in s.meters:
        missing = ", ".join(a if a == b else f"{a} … {b}" for a, b in m.missing)
        yield [m.meter, m.building, m.quantity, m.coverage, missing or None, m.reason or None], {3: "0.0%"}


__all__ = ["write_xlsx"]
