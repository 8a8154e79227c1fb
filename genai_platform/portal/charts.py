"""Small bar charts drawn on the server as inline SVG: no JavaScript library, nothing fetched from
outside the machine. Each bar carries a <title> so hovering shows the day and its value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, AXIS = 300, 60, 12
BAR = '<rect x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
SVG = (
    '<svg class="chart {}" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}" '
    'xmlns="http://www.w3.org/2000/svg"><title>{}</title>'
    '<line x1="0" y1="{}" x2="{}" y2="{}" class="axis"/>{}'
    '<text x="0" y="{}" class="tick">{}</text><text x="{}" y="{}" text-anchor="end" class="tick">{}</text></svg>'
)


def bar_chart(
    values: Sequence[Any], days: Sequence[dt.date], *, label: str, shown: Callable[[Any], str] = str, css: str = ""
) -> SafeString:
    """One bar per day, scaled to the largest value; an all-zero series draws a flat baseline."""
    top = max((float(v) for v in values), default=0.0)
    step = WIDTH / max(len(values), 1)

    def height_of(value: Any) -> float:
        if top <= 0 or float(value) <= 0:
            return 0.0
        return max(float(value) / top * (HEIGHT - AXIS), 1.0)

    bars = format_html_join(
        "",
        BAR,
        (
            (
                _n(i * step + 1),
                _n(HEIGHT - AXIS - height_of(v)),
                _n(max(step - 2, 1)),
                _n(height_of(v)),
                f"{d:%Y-%m-%d}",
                shown(v),
            )
            for i, (v, d) in enumerate(zip(values, days, strict=True))
        ),
    )
    first, last = (f"{days[0]:%b %d}", f"{days[-1]:%b %d}") if days else ("", "")
    baseline = HEIGHT - AXIS
    return format_html(
        SVG,
        css,
        label,
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        label,
        baseline,
        WIDTH,
        baseline,
        bars,
        HEIGHT - 1,
        first,
        WIDTH,
        HEIGHT - 1,
        last,
    )


def _n(number: float) -> str:
    """A coordinate with one decimal (format_html escapes its arguments, so numbers go in as text)."""
    return f"{number:.1f}"
