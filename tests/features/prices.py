"""Small canonical price frames for the feature and dataset tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from stacklstm_fin.schema import PRICE_SCHEMA


def weekdays(start: dt.date, n: int) -> list[dt.date]:
    """``n`` Monday-to-Friday dates from ``start`` (a stand-in session calendar)."""
    out: list[dt.date] = []
    day = start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def make_prices(
    tickers: tuple[str, ...] = ("AAA", "BBB"),
    n_sessions: int = 120,
    *,
    start: dt.date = dt.date(2020, 1, 1),
    seed: int = 0,
    zero_volume: tuple[str, ...] = (),
) -> pl.DataFrame:
    """A seeded random-walk OHLCV frame in the canonical schema, sorted by key."""
    rng = np.random.default_rng(seed)
    dates = weekdays(start, n_sessions)
    frames = []
    for ticker in tickers:
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n_sessions)))
        spread = np.exp(rng.uniform(0.001, 0.02, n_sessions))
        volume = (
            np.zeros(n_sessions)
            if ticker in zero_volume
            else rng.integers(1_000, 1_000_000, n_sessions).astype(float)
        )
        frames.append(
            pl.DataFrame(
                {
                    "ticker": [ticker] * n_sessions,
                    "session_date": dates,
                    "open": close,
                    "high": close * spread,
                    "low": close / spread,
                    "close": close,
                    "adj_close": close * 0.98,
                    "volume": volume,
                },
                schema=PRICE_SCHEMA,
            )
        )
    return pl.concat(frames).sort("ticker", "session_date")
