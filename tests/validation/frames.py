"""Frames for the validation tests: canonical dtypes, real XNYS sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.schema import PRICE_COLUMNS, PRICE_SCHEMA

Row = tuple[str, dt.date, float, float, float, float, float, float]


def sessions(calendar: TradingCalendar, start: dt.date, count: int) -> list[dt.date]:
    """The first ``count`` XNYS sessions on or after ``start``."""
    days = calendar.sessions(start, start + dt.timedelta(days=2 * count + 10))
    return days[:count]


def bar(ticker: str, day: dt.date, close: float, volume: float = 1e6) -> Row:
    """A consistent daily bar around ``close``: low <= open, close <= high."""
    return (ticker, day, close * 0.999, close * 1.01, close * 0.99, close, close, volume)


def path(ticker: str, days: Sequence[dt.date], start: float = 100.0) -> list[Row]:
    """Distinct, slowly rising closes: no stale runs, no extreme returns."""
    return [bar(ticker, d, start * (1 + 0.001 * i)) for i, d in enumerate(days)]


def frame(rows: Iterable[Sequence[object]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=PRICE_SCHEMA, orient="row")


def replace(row: Row, **values: object) -> tuple[object, ...]:
    """``row`` with some canonical columns changed by name."""
    out = list(row)
    for name, value in values.items():
        out[PRICE_COLUMNS.index(name)] = value
    return tuple(out)


def reasons_by_key(quarantined: pl.DataFrame) -> dict[tuple[str, dt.date], list[str]]:
    """Quarantine reasons per (ticker, session_date), sorted for duplicates."""
    out: dict[tuple[str, dt.date], list[str]] = {}
    for ticker, day, reason in quarantined.select("ticker", "session_date", "reason").rows():
        out.setdefault((ticker, day), []).append(reason)
    return {k: sorted(v) for k, v in out.items()}
