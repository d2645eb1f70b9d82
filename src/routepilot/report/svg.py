"""Plots as inline SVG strings, so the HTML report is one self-contained file."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#393b79",
    "#637939",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
)
_TIME_STEPS = (300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)

Fmt = Callable[[float], str]
Point = tuple[float, float | None]
"""(time, value or None)"""
Series = tuple[str, str, Sequence[Point]]
"""(name, colour, [(time, value or None), ...])"""


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _nice(span: float, count: int = 4) -> float:
    raw = span / max(1, count)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for f in (1, 2, 2.5, 5, 10):
        if raw <= f * mag:
            return f * mag
    return 10 * mag


def _hhmm(t: float, span: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%d %b %H:%M" if span > 86400 else "%H:%M")


def line_chart(
    series: Sequence[Series],
    x0: float,
    x1: float,
    y_fmt: Fmt,
    width: int = 930,
    height: int = 200,
    y_max: float | None = None,
    hlines: Sequence[tuple[float, str, str]] = (),
    title: str = "",
    gap_s: float | None = None,
) -> str:
    """Lines over time with a legend; ``hlines`` are (value, label, colour).

    A line breaks where a value is None or, with ``gap_s``, where points are further apart.
    """
    ml, mr, mt, mb = 58, 12, 10, 36
    w, h = width - ml - mr, height - mt - mb
    top = max(
        [v for _, _, pts in series for _, v in pts if v is not None]
        + [y_max or 0]
        + [v for v, _, _ in hlines]
        + [1e-9]
    )
    step = _nice(top)
    top = math.ceil(top / step) * step

    def X(t: float) -> float:
        return ml + (t - x0) / max(1.0, x1 - x0) * w

    def Y(v: float) -> float:
        return mt + h - min(v, top) / top * h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="plot" role="img">'
        f"<title>{escape(title)}</title>"
    ]
    grid_v = 0.0
    while grid_v <= top + step / 2:
        out.append(
            f'<line x1="{ml}" x2="{ml + w}" y1="{Y(grid_v):.1f}" y2="{Y(grid_v):.1f}" class="g"/>'
            f'<text x="{ml - 4}" y="{Y(grid_v) + 3:.1f}" class="yl">{escape(y_fmt(grid_v))}</text>'
        )
        grid_v += step
    span = x1 - x0
    ts = next((s for s in _TIME_STEPS if span / s <= 8), 604800)
    grid_t = math.ceil(x0 / ts) * ts
    while grid_t <= x1:
        out.append(
            f'<line x1="{X(grid_t):.1f}" x2="{X(grid_t):.1f}" y1="{mt}" y2="{mt + h}" class="g"/>'
            f'<text x="{X(grid_t):.1f}" y="{mt + h + 13}" class="xl">{_hhmm(grid_t, span)}</text>'
        )
        grid_t += ts
    for value, label, col in hlines:
        out.append(
            f'<line x1="{ml}" x2="{ml + w}" y1="{Y(value):.1f}" y2="{Y(value):.1f}" '
            f'stroke="{col}" class="h"/><text x="{ml + w - 2}" y="{Y(value) - 3:.1f}" '
            f'class="hl">{escape(label)}</text>'
        )
    for name, col, pts in series:
        d, pen, last = [], False, None
        for t, v in pts:
            if gap_s is not None and last is not None and t - last > gap_s:
                pen = False
            last = t
            if v is None:
                pen = False
                continue
            d.append(f"{'L' if pen else 'M'}{X(t):.1f},{Y(v):.1f}")
            pen = True
        out.append(
            f'<path d="{"".join(d)}" stroke="{col}" class="s"><title>{escape(name)}</title></path>'
        )
    out.append(_legend([(name, col) for name, col, _ in series], ml, height, 3))
    return "".join(out)


def bar_chart(
    labels: Sequence[str],
    groups: Sequence[tuple[str, str, Sequence[float | None]]],
    x_fmt: Fmt,
    width: int = 930,
    title: str = "",
) -> str:
    """Horizontal bars, one row per label, one bar per group (name, colour, values)."""
    bar, gap, ml, mr = 12, 10, 110, 90
    row = bar * len(groups) + gap
    height = row * len(labels) + 24
    top = max([v or 0 for _, _, vs in groups for v in vs] + [1e-9])
    w = width - ml - mr
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="plot" role="img">'
        f"<title>{escape(title)}</title>"
    ]
    for i, label in enumerate(labels):
        y0 = i * row
        out.append(f'<text x="{ml - 6}" y="{y0 + row / 2}" class="bl">{escape(label)}</text>')
        for j, (_, col, values) in enumerate(groups):
            v = values[i]
            if v is None:
                continue
            y = y0 + j * bar
            bw = max(0.0, v) / top * w
            out.append(
                f'<rect x="{ml}" y="{y}" width="{bw:.1f}" height="{bar - 2}" fill="{col}"/>'
                f'<text x="{ml + bw + 4:.1f}" y="{y + bar - 3}" class="bv">{escape(x_fmt(v))}'
                "</text>"
            )
    out.append(_legend([(name, col) for name, col, _ in groups], ml, height, 8))
    return "".join(out)


def _legend(items: Sequence[tuple[str, str]], x: float, height: int, swatch_h: int) -> str:
    """A row of swatches and names along the bottom edge; closes the SVG."""
    out = []
    for name, col in items:
        out.append(
            f'<rect x="{x}" y="{height - 7 - swatch_h}" width="12" height="{swatch_h}" '
            f'fill="{col}"/><text x="{x + 16}" y="{height - 4}" class="lg">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return "".join(out) + "</svg>"
