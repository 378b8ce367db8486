"""The report as one HTML file (jinja2; charts as inline SVG), and the same HTML for the PDF with the
charts as PNG (reports.pdf)."""

from __future__ import annotations

import base64
from typing import Any

from reports import formatting
from reports.charts import chart, cjk_families
from reports.labels import labels
from reports.model import Report


def _env() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                              autoescape=jinja2.select_autoescape(("html", "j2")),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(report: Report, lang: str = "zh", *, for_pdf: bool = False) -> str:
    """The whole report; `for_pdf`: charts as PNG images (WeasyPrint prints those most faithfully)."""
    words = labels(lang)
    charts = []
    for s in report.sections:
        pair = []
        for points, daily in ((s.months, False), (s.days, True)):
            if not points:
                pair.append("")
            elif for_pdf:
                png = base64.b64encode(chart(points, words, daily=daily, fmt="png")).decode()
                pair.append(f'<img class="chart" alt="chart" src="data:image/png;base64,{png}">')
            else:
                svg = chart(points, words, daily=daily, fmt="svg").decode()
                pair.append(svg[svg.index("<svg"):])  # inline, without the XML prolog
        charts.append(pair)
    template = _env().get_template("report.html.j2")
    return str(template.render(report=report, w=words, f=formatting, charts=charts, lang=lang,
                               css=_css()))


def _css() -> str:
    from importlib.resources import files

    css = (files("reports") / "templates" / "report.css").read_text(encoding="utf-8")
    # the installed CJK family first: a family that is not installed may be replaced by fontconfig's
    # default (a serif) for the Latin text around the Chinese
    found = ", ".join(f'"{f}"' for f in cjk_families())
    return css.replace("font-family: ", f"font-family: {found}, " if found else "font-family: ", 1)


__all__ = ["render_html"]
