"""Per-session features from the canonical price frame (polars).

Every feature of session ``t`` uses prices of sessions ``<= t`` of the same
ticker only, so a window ending at ``t`` never sees the future.
"""

from __future__ import annotations

import polars as pl

from stacklstm_fin.config import DatasetConfig
from stacklstm_fin.exceptions import DatasetError

# Feature 0 is the one-day log return of adj_close: targets and baselines read it.
FEATURE_NAMES: tuple[str, ...] = ("log_return", "log_range", "log_volume_change", "volatility")
FEATURE_INPUTS: tuple[str, ...] = ("ticker", "session_date", "high", "low", "adj_close", "volume")


def check_columns(prices: pl.DataFrame, needed: tuple[str, ...], what: str) -> None:
    """Raise :class:`DatasetError` naming the first missing column."""
    missing = [c for c in needed if c not in prices.columns]
    if missing:
        raise DatasetError(
            f"{what}: missing column(s) {', '.join(missing)}; expected {', '.join(needed)}"
        )


def build_features(prices: pl.DataFrame, cfg: DatasetConfig) -> pl.DataFrame:
    """Features per (ticker, session_date), sorted by that key; warm-up rows dropped.

    - ``log_return`` = ln(adj_close_t / adj_close_{t-1})
    - ``log_range`` = ln(high_t / low_t)
    - ``log_volume_change`` = ln((volume_t + 1) / (volume_{t-1} + 1)) (indices report 0)
    - ``volatility`` = rolling std (ddof 1) of ``log_return`` over
      ``cfg.volatility_window`` sessions, all of them present.

    The first ``volatility_window`` sessions of each ticker have a null feature
    and are dropped. A non-finite feature (a price <= 0) is a :class:`DatasetError`.
    """
    check_columns(prices, FEATURE_INPUTS, "build_features: prices")
    by_ticker = "ticker"
    adj, vol = pl.col("adj_close"), pl.col("volume")
    out = (
        prices.lazy()
        .select(FEATURE_INPUTS)
        .sort("ticker", "session_date")
        .with_columns(
            (adj / adj.shift(1)).log().over(by_ticker).alias("log_return"),
            (pl.col("high") / pl.col("low")).log().alias("log_range"),
            ((vol + 1.0) / (vol.shift(1) + 1.0)).log().over(by_ticker).alias("log_volume_change"),
        )
        .with_columns(
            pl.col("log_return")
            .rolling_std(cfg.volatility_window, min_samples=cfg.volatility_window)
            .over(by_ticker)
            .alias("volatility")
        )
        .select("ticker", "session_date", *FEATURE_NAMES)
        .drop_nulls(FEATURE_NAMES)
        .collect()
    )
    bad = out.filter(~pl.all_horizontal(pl.col(FEATURE_NAMES).is_finite()))
    if bad.height:
        row = bad.row(0, named=True)
        raise DatasetError(
            f"prices: non-finite feature for {row['ticker']} on {row['session_date']}; "
            "expected positive high, low and adj_close and volume >= 0 (validate the prices first)"
        )
    return out
