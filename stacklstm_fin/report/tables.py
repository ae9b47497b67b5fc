"""HTML tables and the number formats of the report (one place for both)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

import polars as pl

Formatter = Callable[[Any], str]


def num(digits: int) -> Formatter:
    return lambda v: f"{v:,.{digits}f}"


def sig(v: Any) -> str:
    return f"{v:.4g}"


def pct(digits: int = 1, sign: bool = False) -> Formatter:
    return lambda v: f"{v:+.{digits}%}" if sign else f"{v:.{digits}%}"


def pct_points(v: Any) -> str:
    return f"{v:.2f}%"


def table_html(
    frame: pl.DataFrame,
    columns: Mapping[str, str],
    formats: Mapping[str, Formatter] | None = None,
    *,
    table_id: str = "",
    row_class: Callable[[dict[str, Any]], str] | None = None,
    empty: str = "no rows",
) -> str:
    """An HTML table of ``frame``'s ``columns`` (name -> header), values formatted."""
    formats = formats or {}
    if frame.height == 0:
        return f'<p class="note">{escape(empty)}</p>'
    text_cols = {c for c in columns if frame.schema[c] in (pl.String, pl.Utf8, pl.Boolean)}
    ident = f' id="{escape(table_id)}"' if table_id else ""
    head = "".join(
        f'<th class="{"text" if c in text_cols else "num"}">{escape(h)}</th>'
        for c, h in columns.items()
    )
    rows = []
    for row in frame.iter_rows(named=True):
        cells = []
        for c in columns:
            v = row[c]
            shown = "" if v is None else formats[c](v) if c in formats else str(v)
            css = "text" if c in text_cols else "num"
            cells.append(f'<td class="{css}">{escape(shown)}</td>')
        cls = row_class(row) if row_class else ""
        attr = f' class="{cls}"' if cls else ""
        rows.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
