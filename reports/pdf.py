"""The report as PDF: the HTML of reports.html printed by WeasyPrint, with a CJK font (report.css asks
for Noto Sans CJK or WenQuanYi; fontconfig finds the installed one and WeasyPrint embeds it)."""

from __future__ import annotations

from pathlib import Path

from reports.html import render_html
from reports.model import Report


def write_pdf(report: Report, path: Path, lang: str = "zh") -> None:
    import logging

    from weasyprint import HTML

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting chatter
    HTML(string=render_html(report, lang, for_pdf=True)).write_pdf(path)


__all__ = ["write_pdf"]
