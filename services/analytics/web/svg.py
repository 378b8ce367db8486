"""Bar charts as inline SVG, built here (no chart library, no script): a day or month without data
has no bar and a grey tick under the axis, never a bar of 0."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 240, 64, 12, 24, 40


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= v)


def _tick(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 or v == int(v) else f"{v:,.4g}"


def bar_chart(labels: Sequence[str], values: Sequence[float | None], *, axis: str, title: str,
              css_id: str, every: int = 1) -> str:
    """`labels[i]` under every `every`-th bar; `axis` names the quantity and unit (e.g. "电能 energy
    (kWh)"). Each bar carries its value as a `data-value` attribute (what the tests read back)."""
    n = max(len(values), 1)
    top = _nice_max(max((v for v in values if v is not None), default=0.0))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    step = pw / n
    bw = max(step * 0.8, 1.0)
    out = [f'<svg id="{escape(css_id)}" class="chart" viewBox="0 0 {W} {H}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f'<text x="{LEFT}" y="14" class="chart-title">{escape(title)}</text>']
    for k in range(5):
        y = TOP + ph - ph * k / 4
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                   f'{_tick(top * k / 4)}</text>')
    out.append(f'<text x="12" y="{TOP + ph / 2:.0f}" class="axis" text-anchor="middle" '
               f'transform="rotate(-90 12 {TOP + ph / 2:.0f})">{escape(axis)}</text>')
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + i * step + (step - bw) / 2
        if v is None:
            out.append(f'<rect x="{x:.1f}" y="{TOP + ph + 2}" width="{bw:.1f}" height="3" class="nodata" '
                       f'data-label="{escape(label)}" data-value=""><title>{escape(label)}: —</title></rect>')
        else:
            h = ph * max(v, 0.0) / top
            out.append(f'<rect x="{x:.1f}" y="{TOP + ph - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                       f'class="bar" data-label="{escape(label)}" data-value="{v!r}">'
                       f'<title>{escape(label)}: {v:,.1f}</title></rect>')
        if i % every == 0:
            out.append(f'<text x="{x + bw / 2:.1f}" y="{H - BOTTOM + 16}" class="tick" '
                       f'text-anchor="middle">{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)


__all__ = ["bar_chart"]
