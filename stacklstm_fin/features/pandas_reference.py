"""A pandas re-implementation of :func:`build_features`, for cross-checks only.

Benchmarks and tests compare it with the polars code; the pipeline never uses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stacklstm_fin.config import DatasetConfig
from stacklstm_fin.features.returns import FEATURE_INPUTS, FEATURE_NAMES


def build_features_pandas(prices: pd.DataFrame, cfg: DatasetConfig) -> pd.DataFrame:
    """Same rows and values as :func:`build_features`, as a pandas frame."""
    df = prices.loc[:, list(FEATURE_INPUTS)].sort_values(["ticker", "session_date"])
    df = df.reset_index(drop=True)
    grouped = df.groupby("ticker", sort=False)
    prev_adj = grouped["adj_close"].shift(1)
    prev_vol = grouped["volume"].shift(1)
    df["log_return"] = np.log(df["adj_close"] / prev_adj)
    df["log_range"] = np.log(df["high"] / df["low"])
    df["log_volume_change"] = np.log((df["volume"] + 1.0) / (prev_vol + 1.0))
    w = cfg.volatility_window
    df["volatility"] = (
        df.groupby("ticker", sort=False)["log_return"]
        .rolling(w, min_periods=w)
        .std()
        .reset_index(level=0, drop=True)
    )
    out = df.loc[:, ["ticker", "session_date", *FEATURE_NAMES]].dropna(subset=list(FEATURE_NAMES))
    return out.reset_index(drop=True)
