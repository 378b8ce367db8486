"""The report's charts with matplotlib (imported here only, when a report is rendered): by month,
energy in kWh as bars and comprehensive energy in kgce as a line; by day, energy in kWh as bars and
the day's peak power in kW as a line. Each axis says whether it is energy or power.

SVG for HTML (text drawn as paths: no font needed where it is viewed), PNG for the PDF.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from reports.model import SeriesPoint

# CJK families looked for, in order (Debian: fonts-noto-cjk, fonts-wqy-microhei)
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                "WenQuanYi Zen Hei")


_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#bab0ac", "#79706e")


def cjk_families() -> list[str]:
    """The CJK families of CJK_FAMILIES installed here (matplotlib's scan of the system fonts)."""
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in CJK_FAMILIES if f in have]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot as plt

    plt.rcParams["font.sans-serif"] = [*cjk_families(), "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
    plt.rcParams["svg.hashsalt"] = "metergate"  # stable ids: the same report gives the same file
    return plt


def _nums(xs: Sequence[float | None]) -> list[float]:
    return [float("nan") if x is None else x for x in xs]  # NaN: a gap in the chart, not a 0 bar


def _save(fig: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight", metadata={"Date": None} if fmt == "svg"
                else None)
    return buf.getvalue()


def chart(points: Sequence[SeriesPoint], words: dict[str, str], *, daily: bool, fmt: str) -> bytes:
    """One chart (`fmt`: svg | png) of the months or the days of a section."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    try:
        x = list(range(len(points)))
        names = [n for n, _ in points[0].subitems] if not daily and points[0].subitems else []
        if names:  # stacked by sub-item, the unclassified rest on top
            base = [0.0] * len(points)
            for n, colour in zip(names, _COLOURS, strict=False):
                kwh = [dict(p.subitems).get(n) for p in points]
                ax.bar(x, _nums(kwh), bottom=base, color=colour, label=words[f"subitem:{n}"])
                base = [b + (k or 0.0) for b, k in zip(base, kwh, strict=True)]
        else:
            ax.bar(x, _nums([p.electricity_kwh for p in points]), color="#4c78a8",
                   label=words["energy_axis"])
        ax.set_ylabel(words["energy_axis"])
        right = ax.twinx()
        if daily:
            right.plot(x, _nums([p.peak_kw for p in points]), color="#e45756", linewidth=1,
                       label=words["peak_kw"])
            right.set_ylabel(words["power_axis"])
        else:
            right.plot(x, _nums([p.energy_kgce for p in points]), color="#e45756", marker="o",
                       label=words["kgce_axis"])
            right.set_ylabel(words["kgce_axis"])
        step = max(1, len(points) // 12)
        ax.set_xticks(x[::step], [p.label[5:] if daily else p.label for p in points][::step],
                      fontsize=8)
        ax.set_title(words["daily"] if daily else words["monthly"])
        lines = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
        return _save(fig, fmt)
    finally:
        plt.close(fig)


__all__ = ["CJK_FAMILIES", "chart", "cjk_families"]
