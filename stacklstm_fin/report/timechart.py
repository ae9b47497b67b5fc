"""Time charts in SVG: panels of lines and bands over a shared date axis.

Used for the forecast fan (one panel: closes, published intervals, the newest
fan, the realized path) and for accuracy over time (three panels). Shapes and
text come from :mod:`stacklstm_fin.report.svg`; output is deterministic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from html import escape

from stacklstm_fin.report.svg import (
    PALETTE,
    Chart,
    Number,
    _f,
    _finite,
    _floats,
    _header,
    _text,
    empty_chart,
    nice_ticks,
)


@dataclasses.dataclass(frozen=True)
class Series:
    """A line (``y``) and/or a band (``lower``..``upper``) over dates ``x``.

    ``None`` in ``y``, ``lower`` or ``upper`` leaves a gap.
    """

    name: str
    x: Sequence[dt.date]
    y: Sequence[Number] = ()
    lower: Sequence[Number] = ()
    upper: Sequence[Number] = ()
    color: str = PALETTE[0]
    dash: str = ""
    markers: bool = False
    width: float = 1.8
    band_opacity: float = 0.18


@dataclasses.dataclass(frozen=True)
class Panel:
    """One plot area of a time chart; panels of a chart share the date axis."""

    title: str
    series: Sequence[Series]
    y_format: Callable[[float], str] = lambda v: f"{v:.4g}"
    reference: float | None = None
    reference_label: str = ""
    y_limits: tuple[float | None, float | None] = (None, None)
    note: str = ""


def _date_ticks(lo: int, hi: int, count: int = 6) -> list[int]:
    if hi <= lo:
        return [lo]
    n = min(count, hi - lo + 1)
    return sorted({round(lo + (hi - lo) * i / (n - 1)) for i in range(n)})


def time_chart(
    chart_id: str,
    title: str,
    panels: Sequence[Panel],
    *,
    subtitle: str = "",
    markers: Sequence[tuple[dt.date, str]] = (),
    width: int = 900,
    panel_height: int = 210,
) -> Chart:
    """Panels of lines and bands over a shared date axis, with one legend below."""
    left, right, top = 72, 44, 56 if subtitle else 40
    plot_w = width - left - right
    gap = 46  # panel title + x labels
    xs = [d.toordinal() for p in panels for s in p.series for d in s.x]
    xs += [d.toordinal() for d, _ in markers]
    if not xs:
        return empty_chart(chart_id, title, "no data to plot", width=width)
    x_lo, x_hi = min(xs), max(xs)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 1, x_hi + 1

    def sx(o: float) -> float:
        return left + (o - x_lo) / (x_hi - x_lo) * plot_w

    legend = _legend_items(panels)
    legend_rows = _legend_layout(legend, width - left - right)
    height = top + len(panels) * (panel_height + gap) + 18 * len(legend_rows) + 8
    parts = _header(chart_id, title, subtitle, width, height)
    y0 = top
    for index, panel in enumerate(panels):
        clip = f"{chart_id}-clip-{index}"
        parts += _panel(panel, clip, y0 + 18, panel_height, left, plot_w, sx, markers, (x_lo, x_hi))
        y0 += panel_height + gap
    for row_index, row in enumerate(legend_rows):
        y = y0 + 4 + row_index * 18
        for x, (name, color, dash, band) in row:
            parts.append(_legend_swatch(left + x, y, color, dash, band))
            parts.append(_text(left + x + 26, y + 4, name, size=11))
    parts.append("</svg>")
    return Chart(chart_id, title, "\n".join(parts))


def _panel(
    panel: Panel,
    clip: str,
    y_top: float,
    h: float,
    left: float,
    plot_w: float,
    sx: Callable[[float], float],
    markers: Sequence[tuple[dt.date, str]],
    x_domain: tuple[int, int],
) -> list[str]:
    out = [_text(left, y_top - 6, panel.title, size=12, weight="bold", fill="#333")]
    values = [v for s in panel.series for v in _floats([*s.y, *s.lower, *s.upper])]
    if panel.reference is not None:
        values.append(panel.reference)
    lo = panel.y_limits[0] if panel.y_limits[0] is not None else min(values, default=0.0)
    hi = panel.y_limits[1] if panel.y_limits[1] is not None else max(values, default=1.0)
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    else:
        pad = (hi - lo) * 0.06
        lo = lo - pad if panel.y_limits[0] is None else lo
        hi = hi + pad if panel.y_limits[1] is None else hi

    def sy(v: float) -> float:
        return y_top + h - (v - lo) / (hi - lo) * h

    out.append(
        f'<clipPath id="{clip}"><rect x="{_f(left)}" y="{_f(y_top)}" width="{_f(plot_w)}" '
        f'height="{_f(h)}"/></clipPath>'
    )
    out.append(
        f'<rect x="{_f(left)}" y="{_f(y_top)}" width="{_f(plot_w)}" height="{_f(h)}" '
        'fill="#fcfcfc" stroke="#ccc"/>'
    )
    for t in nice_ticks(lo, hi):
        y = sy(t)
        out.append(
            f'<line x1="{_f(left)}" x2="{_f(left + plot_w)}" y1="{_f(y)}" y2="{_f(y)}" '
            'stroke="#e6e6e6"/>'
        )
        out.append(_text(left - 6, y + 4, panel.y_format(t), size=11, anchor="end", fill="#555"))
    for o in _date_ticks(*x_domain):
        x = sx(o)
        out.append(
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(y_top + h)}" y2="{_f(y_top + h + 4)}" '
            'stroke="#999"/>'
        )
        label = dt.date.fromordinal(o).isoformat()
        out.append(_text(x, y_top + h + 17, label, size=11, anchor="middle", fill="#555"))
    for day, label in markers:
        x = sx(day.toordinal())
        out.append(
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(y_top)}" y2="{_f(y_top + h)}" '
            'stroke="#444" stroke-dasharray="3 3"/>'
        )
        out.append(_text(x + 4, y_top + 12, label, size=11, fill="#444"))
    if panel.reference is not None:
        y = sy(panel.reference)
        out.append(
            f'<line class="reference" x1="{_f(left)}" x2="{_f(left + plot_w)}" y1="{_f(y)}" '
            f'y2="{_f(y)}" stroke="#000" stroke-width="1.2" stroke-dasharray="6 4"/>'
        )
        if panel.reference_label:
            out.append(
                _text(
                    left + plot_w - 4,
                    y - 5,
                    panel.reference_label,
                    size=11,
                    anchor="end",
                    fill="#000",
                )
            )
    out.append(f'<g clip-path="url(#{clip})">')
    for s in panel.series:
        out += _series(s, sx, sy)
    out.append("</g>")
    if panel.note:
        out.append(
            _text(
                left + plot_w / 2, y_top + h / 2, panel.note, size=12, anchor="middle", fill="#777"
            )
        )
    return out


def _series(s: Series, sx: Callable[[float], float], sy: Callable[[float], float]) -> list[str]:
    out: list[str] = []
    name = escape(s.name)
    if s.lower and s.upper:
        for seg in _segments(s.x, [(lo, up) for lo, up in zip(s.lower, s.upper, strict=True)]):
            upper = [(sx(o), sy(float(v[1]))) for o, v in seg]  # type: ignore[index]
            lower = [(sx(o), sy(float(v[0]))) for o, v in reversed(seg)]  # type: ignore[index]
            if len(seg) == 1:  # a single point: a short vertical bar
                (x, y1), (_, y2) = upper[0], lower[0]
                out.append(
                    f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(y1)}" y2="{_f(y2)}" '
                    f'stroke="{s.color}" stroke-width="6" stroke-opacity="{s.band_opacity * 2}"/>'
                )
                continue
            points = " ".join(f"{_f(x)},{_f(y)}" for x, y in upper + lower)
            out.append(
                f'<polygon data-series="{name}" points="{points}" fill="{s.color}" '
                f'fill-opacity="{s.band_opacity}" stroke="none"/>'
            )
    if s.y:
        segments = _segments(s.x, list(s.y))
        for seg in segments:
            pts = [(sx(o), sy(float(v))) for o, v in seg]  # type: ignore[arg-type]
            if len(pts) > 1:
                d = "M" + " L".join(f"{_f(x)},{_f(y)}" for x, y in pts)
                dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
                out.append(
                    f'<path data-series="{name}" d="{d}" fill="none" stroke="{s.color}" '
                    f'stroke-width="{s.width}"{dash} stroke-linejoin="round"/>'
                )
            if s.markers or len(pts) == 1:
                out += [
                    f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3" fill="{s.color}"/>' for x, y in pts
                ]
    return out


def _segments(x: Sequence[dt.date], values: Sequence[object]) -> list[list[tuple[int, object]]]:
    """Runs of consecutive points whose values are all present and finite."""
    runs: list[list[tuple[int, object]]] = []
    current: list[tuple[int, object]] = []
    for day, v in sorted(zip(x, values, strict=True), key=lambda p: p[0]):
        parts = v if isinstance(v, tuple) else (v,)
        if all(_finite(p) for p in parts):
            current.append((day.toordinal(), v))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _legend_items(panels: Sequence[Panel]) -> list[tuple[str, str, str, bool]]:
    seen: dict[str, tuple[str, str, str, bool]] = {}
    for p in panels:
        for s in p.series:
            if not s.x:
                continue  # nothing drawn, nothing to explain
            seen.setdefault(s.name, (s.name, s.color, s.dash, bool(s.lower) and not s.y))
    return list(seen.values())


def _legend_layout(
    items: list[tuple[str, str, str, bool]], width: float
) -> list[list[tuple[float, tuple[str, str, str, bool]]]]:
    rows: list[list[tuple[float, tuple[str, str, str, bool]]]] = [[]]
    x = 0.0
    for item in items:
        w = 26 + 6.6 * len(item[0]) + 18
        if x + w > width and rows[-1]:
            rows.append([])
            x = 0.0
        rows[-1].append((x, item))
        x += w
    return rows if rows[0] else []


def _legend_swatch(x: float, y: float, color: str, dash: str, band: bool) -> str:
    if band:
        return (
            f'<rect x="{_f(x)}" y="{_f(y - 5)}" width="20" height="10" fill="{color}" '
            'fill-opacity="0.3"/>'
        )
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="{_f(x)}" x2="{_f(x + 20)}" y1="{_f(y)}" y2="{_f(y)}" stroke="{color}" '
        f'stroke-width="2.2"{extra}/>'
    )
