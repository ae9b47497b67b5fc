"""An inline SVG of recent closes and the published forecast fan (no JavaScript, no CDN).

The x axis counts sessions, not calendar days, so weekends leave no gaps: the
history occupies positions ``0 .. n-1`` (the as-of close is the last), the
horizons ``n .. n+H-1``. The fan starts at the as-of close and widens to the
interval of each horizon.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 28, 44
PRICE_COLOR, FORECAST_COLOR, BAND_COLOR = "#1f4e79", "#c0504d", "#f2c4c3"


@dataclasses.dataclass(frozen=True)
class FanPoint:
    target_date: dt.date
    yhat: float
    lower: float
    upper: float


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """At least ``count - 1`` round values in ``[lo, hi]`` (steps of 1, 2, 2.5 or 5 x 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def fan_chart(
    ticker: str,
    history: Sequence[tuple[dt.date, float]],
    fan: Sequence[FanPoint],
    *,
    interval_level: float | None = None,
) -> str:
    """The SVG document (a string) for ``ticker``: closes, then the forecast fan."""
    label = escape(ticker)
    if not history:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="60" role="img">'
            f"<title>{label}: no prices</title>"
            f'<text x="10" y="30">No prices stored for {label}.</text></svg>'
        )
    n = len(history)
    values = [c for _, c in history] + [v for p in fan for v in (p.yhat, p.lower, p.upper)]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.06 or abs(hi) * 0.01 or 1.0
    lo, hi = lo - pad, hi + pad
    span = max(n - 1 + len(fan), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + plot_w * i / span

    def y(v: float) -> float:
        return TOP + plot_h * (hi - v) / (hi - lo)

    def points(pairs: Sequence[tuple[int, float]]) -> str:
        return " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in pairs)

    as_of, base = history[-1]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" font-family="sans-serif" font-size="11">',
        f"<title>{label}: last {n} closes to {as_of.isoformat()} and the forecast "
        f"for {len(fan)} sessions</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#bbb"/>',
    ]
    for tick in nice_ticks(lo, hi):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>'
        )
    if fan:
        upper = [(n + k, p.upper) for k, p in enumerate(fan)]
        lower = [(n + k, p.lower) for k, p in enumerate(fan)][::-1]
        band = [(n - 1, base), *upper, *lower, (n - 1, base)]
        parts.append(
            f'<polygon class="band" points="{points(band)}" fill="{BAND_COLOR}" '
            'fill-opacity="0.8" stroke="none"/>'
        )
    parts.append(
        f'<polyline class="prices" points="{points(list(enumerate(c for _, c in history)))}" '
        f'fill="none" stroke="{PRICE_COLOR}" stroke-width="1.5"/>'
    )
    if fan:
        path = [(n - 1, base)] + [(n + k, p.yhat) for k, p in enumerate(fan)]
        parts.append(
            f'<polyline class="forecast" points="{points(path)}" fill="none" '
            f'stroke="{FORECAST_COLOR}" stroke-width="1.8" stroke-dasharray="5,3"/>'
        )
    parts.append(
        f'<line x1="{x(n - 1):.1f}" x2="{x(n - 1):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
        'stroke="#888" stroke-dasharray="2,3"/>'
    )
    base_y = HEIGHT - BOTTOM + 16
    parts.append(f'<text x="{LEFT}" y="{base_y}">{history[0][0].isoformat()}</text>')
    parts.append(
        f'<text x="{x(n - 1) - 4:.1f}" y="{base_y}" text-anchor="end">'
        f"as of {as_of.isoformat()}</text>"
    )
    until = f" to {fan[-1].target_date.isoformat()}" if fan else ""
    level = f"{interval_level:.0%} " if interval_level is not None else ""
    parts.append(
        f'<text x="{LEFT}" y="{TOP - 10}" font-size="13" font-weight="bold">{label}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{TOP - 10}" text-anchor="end">'
        f'<tspan fill="{PRICE_COLOR}">&#9472; close</tspan>  '
        f'<tspan fill="{FORECAST_COLOR}">- - forecast{until}</tspan>  '
        f'<tspan fill="#c77">&#9632; {level}interval</tspan></text>'
    )
    parts.append("</svg>")
    return "".join(parts)
