"""Charts drawn on the server as inline SVG: nothing to load, nothing from another host, readable on
a 375 px phone (the SVG scales to the width; its viewBox keeps the proportions).

Every drawn mark (a bar, a column, a segment) has the class ``mark`` and a ``<title>`` with its
figure, so a reader who taps it (and a test) finds the number; colours are presentation attributes
(the console's CSP allows no inline style).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 340
PALETTE = ("#1f5fa8", "#6fa8dc", "#e69138", "#6aa84f", "#a64d79", "#999999")


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def _svg(height: int, title: str, body: list[str]) -> Markup:
    label = escape(title)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{label}</title>{"".join(body)}</svg>'
    )


def columns(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    unit: str = "",
    digits: int = 1,
) -> Markup:
    """Grouped columns, one group per label (a month), one column per series, with a legend."""
    height, top, bottom, left = 200, 26, 22, 4
    plot = height - top - bottom
    peak = max([v for _, values in series for v in values] + [0.0]) or 1.0
    group = (WIDTH - left) / max(len(labels), 1)
    width = group * 0.8 / max(len(series), 1)
    body = []
    for s, (name, _) in enumerate(series):
        x = left + s * 110
        body.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{PALETTE[s]}"/>')
        body.append(f'<text x="{x + 14}" y="13" font-size="11">{escape(name)}</text>')
    body.append(
        f'<text x="{WIDTH - 2}" y="13" font-size="10" text-anchor="end">'
        f"最高 {_number(peak, digits)}{escape(unit)}</text>"
    )
    body.append(f'<line x1="{left}" y1="{top + plot}" x2="{WIDTH}" y2="{top + plot}" stroke="#999"/>')
    for i, label in enumerate(labels):
        gx = left + i * group + group * 0.1
        for s, (name, values) in enumerate(series):
            value = float(values[i])
            h = plot * value / peak
            body.append(
                f'<rect class="mark" x="{gx + s * width:.1f}" y="{top + plot - h:.1f}" width="{width:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s]}"><title>{escape(label)} {escape(name)} '
                f"{_number(value, digits)}{escape(unit)}</title></rect>"
            )
        body.append(
            f'<text x="{left + i * group + group / 2:.1f}" y="{height - 6}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return _svg(height, title, body)


def bars(
    title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = "", digits: int = 1
) -> Markup:
    """Horizontal bars, one per label, longest first as given, the figure at each bar's end."""
    row, label_width = 26, 118
    height = row * max(len(labels), 1) + 8
    peak = max([float(v) for v in values] + [0.0]) or 1.0
    room = WIDTH - label_width - 64
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * row
        w = room * float(value) / peak
        short = label if len(label) <= 9 else label[:8] + "…"
        body.append(
            f'<text x="{label_width - 6}" y="{y + 16}" font-size="11" text-anchor="end">'
            f"{escape(short)}</text>"
        )
        body.append(
            f'<rect class="mark" x="{label_width}" y="{y + 4}" width="{w:.1f}" height="{row - 10}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)} '
            f"{_number(float(value), digits)}{escape(unit)}</title></rect>"
        )
        body.append(
            f'<text x="{label_width + w + 4:.1f}" y="{y + 16}" font-size="11">'
            f"{_number(float(value), digits)}{escape(unit)}</text>"
        )
    return _svg(height, title, body)


def shares(title: str, parts: Sequence[tuple[str, float]], *, unit: str = "") -> Markup:
    """One bar split into the parts' shares of the whole, with a legend of each part's figure."""
    whole = sum(float(v) for _, v in parts) or 1.0
    legend_rows = (len(parts) + 1) // 2
    height = 34 + 18 * legend_rows
    body, x = [], 0.0
    for i, (label, value) in enumerate(parts):
        w = WIDTH * float(value) / whole
        colour = PALETTE[i % len(PALETTE)]
        body.append(
            f'<rect class="mark" x="{x:.1f}" y="4" width="{w:.1f}" height="22" fill="{colour}">'
            f"<title>{escape(label)} {_number(float(value), 0)}{escape(unit)}</title></rect>"
        )
        x += w
        lx, ly = (i % 2) * (WIDTH / 2), 34 + (i // 2) * 18
        share = float(value) / whole * 100
        body.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{colour}"/>')
        body.append(
            f'<text x="{lx + 14}" y="{ly + 9}" font-size="11">{escape(label)} '
            f"{_number(float(value), 0)}{escape(unit)}（{share:.0f}%）</text>"
        )
    return _svg(height, title, body)
