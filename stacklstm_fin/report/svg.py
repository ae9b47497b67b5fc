"""Small, dependency-free SVG charts: the shared pieces, placeholders and bars.

The report and the notebook need three kinds of picture (a ranked bar chart,
a forecast fan, metrics over time). Drawing them here keeps the package free
of a plotting dependency, makes the output deterministic (the same data gives
the same bytes) and lets an HTML file embed them inline. Every chart is one
``<svg>`` element with an ``id`` and a ``<title>``, so a test, a browser and a
screen reader can all find it. Time charts (lines and bands over dates) are
in :mod:`stacklstm_fin.report.timechart`; the helpers with a leading
underscore are shared with it and private to this package.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
DASHES = ("", "6 3", "2 3", "8 3 2 3")
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"
Number = float | int | None


@dataclasses.dataclass(frozen=True)
class Chart:
    """One finished picture; a notebook shows it as SVG."""

    id: str
    title: str
    svg: str = dataclasses.field(repr=False)

    def _repr_svg_(self) -> str:
        return self.svg


# ------------------------------------------------------------------ helpers
def _f(v: float) -> str:
    """A coordinate with two decimals (stable output, small files)."""
    return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def _finite(v: Number) -> bool:
    return v is not None and math.isfinite(float(v))


def _floats(values: Sequence[Number]) -> list[float]:
    """The present, finite values as floats."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "start",
          weight: str = "normal", fill: str = "#222", extra: str = "") -> str:  # fmt: skip
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}" fill="{fill}"{extra}>{escape(text)}</text>'
    )


def _header(chart_id: str, title: str, subtitle: str, width: int, height: int) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="{FONT}">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        _text(12, 22, title, size=15, weight="bold"),
    ]
    if subtitle:
        parts.append(_text(12, 40, subtitle, size=12, fill="#555"))
    return parts


def empty_chart(chart_id: str, title: str, message: str, *, width: int = 900) -> Chart:
    """A placeholder with the chart's id and title that says why there is nothing to show."""
    height = 110
    parts = _header(chart_id, title, "", width, height)
    parts.append(
        f'<rect x="12" y="40" width="{width - 24}" height="56" fill="#f6f6f6" stroke="#ddd"/>'
    )
    parts.append(_text(width / 2, 73, message, size=13, anchor="middle", fill="#666"))
    parts.append("</svg>")
    return Chart(chart_id, title, "\n".join(parts))


# ---------------------------------------------------------------- bar chart
def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[Number],
    *,
    subtitle: str = "",
    annotations: Sequence[str] = (),
    highlight: Sequence[bool] = (),
    reference: float | None = None,
    reference_label: str = "",
    value_format: Callable[[float], str] = lambda v: f"{v:.4g}",
    axis_label: str = "",
    width: int = 900,
) -> Chart:
    """Horizontal bars from zero, one per label, with an optional reference line."""
    if not labels:
        return empty_chart(chart_id, title, "no candidates to rank", width=width)
    label_w, right = 170, 290
    top = 62 if subtitle else 46
    bar_h, step = 22, 32
    plot_w = width - label_w - right
    plot_h = step * len(labels)
    height = top + plot_h + 52
    finite = _floats(values)
    hi = max([*finite, reference or 0.0, 0.0]) * 1.08 or 1.0

    def sx(v: float) -> float:
        return label_w + v / hi * plot_w

    parts = _header(chart_id, title, subtitle, width, height)
    axis_y = top + plot_h + 4
    for t in nice_ticks(0.0, hi):
        x = sx(t)
        parts.append(
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{top - 6}" y2="{_f(axis_y)}" stroke="#eee"/>'
        )
        parts.append(_text(x, axis_y + 16, value_format(t), size=11, anchor="middle", fill="#555"))
    if axis_label:
        parts.append(
            _text(
                label_w + plot_w / 2, axis_y + 36, axis_label, size=11, anchor="middle", fill="#555"
            )
        )
    for i, label in enumerate(labels):
        y = top + i * step
        v = values[i]
        strong = bool(highlight[i]) if i < len(highlight) else False
        parts.append(
            _text(
                label_w - 8,
                y + bar_h * 0.7,
                label,
                size=12,
                anchor="end",
                weight="bold" if strong else "normal",
            )
        )
        if _finite(v):
            color = PALETTE[0] if strong else "#9bbbd9"
            w = max(sx(float(v)) - label_w, 0.5)  # type: ignore[arg-type]
            parts.append(
                f'<rect class="bar" data-label="{escape(label)}" x="{label_w}" y="{_f(y)}" '
                f'width="{_f(w)}" height="{bar_h}" fill="{color}"/>'
            )
            text = value_format(float(v))  # type: ignore[arg-type]
        else:
            text = "n/a"
        note = annotations[i] if i < len(annotations) else ""
        parts.append(
            _text(
                label_w + plot_w + 8,
                y + bar_h * 0.7,
                f"{text}  {note}".strip(),
                size=11,
                fill="#333",
            )
        )
    if reference is not None and math.isfinite(reference):
        x = sx(reference)
        parts.append(
            f'<line class="reference" x1="{_f(x)}" x2="{_f(x)}" y1="{top - 8}" '
            f'y2="{_f(axis_y)}" stroke="#d62728" stroke-width="1.6" stroke-dasharray="6 4"/>'
        )
        if reference_label:
            parts.append(
                _text(x, top - 11, reference_label, size=11, anchor="middle", fill="#d62728")
            )
    parts.append("</svg>")
    return Chart(chart_id, title, "\n".join(parts))
