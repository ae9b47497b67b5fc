"""Sliding windows over the per-session feature matrix, all tickers at once.

The feature matrix holds every ticker's rows, sorted by (ticker, session_date),
so a ticker is one contiguous run of rows. A window or a target stretch is
valid when its first and last rows belong to the same ticker; no Python loop
runs per ticker or per window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_NO_DATE = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class WindowSplit:
    """Windows of one split, ordered by (anchor_date, ticker)."""

    x: np.ndarray  # (n, window, n_features) float32, unscaled features
    y: np.ndarray  # (n, horizons) float32: log returns of sessions t+1..t+H
    tickers: np.ndarray  # (n,) str: the ticker of each window
    anchor_dates: np.ndarray  # (n,) datetime64[D]: session t, the window's last session

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class RowIndex:
    """Which rows of the feature matrix can anchor a window, and their targets."""

    codes: np.ndarray  # (N,) int: ticker run id (0, 1, ... in sorted ticker order)
    days: np.ndarray  # (N,) int64: session_date as days since 1970-01-01
    has_window: np.ndarray  # (N,) bool: rows t-window+1..t are the same ticker
    has_target: np.ndarray  # (N,) bool: rows t+1..t+horizons exist for the same ticker
    last_target_day: np.ndarray  # (N,) int64: day of row t+horizons (max int64 if none)

    @property
    def complete(self) -> np.ndarray:  # (N,) bool
        return self.has_window & self.has_target


def row_index(codes: np.ndarray, days: np.ndarray, window: int, horizons: int) -> RowIndex:
    """Flag anchor rows with a full window behind them and full targets ahead."""
    n = codes.shape[0]
    days = days.astype(np.int64)
    has_window = np.zeros(n, dtype=bool)
    if n >= window:
        has_window[window - 1 :] = codes[window - 1 :] == codes[: n - window + 1]
    has_target = np.zeros(n, dtype=bool)
    last_target_day = np.full(n, _NO_DATE, dtype=np.int64)
    if n > horizons:
        has_target[: n - horizons] = codes[horizons:] == codes[: n - horizons]
        last_target_day[: n - horizons] = np.where(
            has_target[: n - horizons], days[horizons:], _NO_DATE
        )
    return RowIndex(codes, days, has_window, has_target, last_target_day)


def ordered(rows: np.ndarray, index: RowIndex) -> np.ndarray:
    """``rows`` sorted by (anchor day, ticker)."""
    order = np.lexsort((index.codes[rows], index.days[rows]))
    return rows[order]


def last_rows(index: RowIndex) -> np.ndarray:
    """The last row of each ticker that has a full window, by (day, ticker)."""
    codes = index.codes
    if codes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    is_last = np.append(codes[1:] != codes[:-1], True)
    rows = np.flatnonzero(is_last & index.has_window)
    return ordered(rows, index)


def make_split(
    features: np.ndarray,
    log_return: np.ndarray,
    names: np.ndarray,
    index: RowIndex,
    rows: np.ndarray,
    window: int,
    horizons: int,
    *,
    with_targets: bool = True,
) -> WindowSplit:
    """Gather the windows anchored at ``rows`` (already ordered).

    ``features`` (N, n_features) float32; ``log_return`` (N,) float64; ``names``
    (n_tickers,) str indexed by ``index.codes``. Without targets ``y`` is NaN.
    """
    n_features = features.shape[1]
    if rows.shape[0]:
        # (N - window + 1, window, n_features) view: row s is the window starting at s.
        windows = sliding_window_view(features, (window, n_features))[:, 0]
        x = windows[rows - (window - 1)]  # (n, window, n_features), one copy
    else:
        x = np.zeros((0, window, n_features), dtype=np.float32)
    if with_targets and rows.shape[0]:
        ahead = sliding_window_view(log_return, horizons)  # (N - H + 1, H)
        y = ahead[rows + 1].astype(np.float32)  # (n, H)
    else:
        y = np.full((rows.shape[0], horizons), np.nan, dtype=np.float32)
    return WindowSplit(
        x=np.ascontiguousarray(x, dtype=np.float32),
        y=y,
        tickers=names[index.codes[rows]],
        anchor_dates=index.days[rows].astype("datetime64[D]"),
    )


def covered_rows(rows: np.ndarray, n_rows: int, window: int) -> np.ndarray:
    """(N,) bool: rows that fall inside at least one window anchored at ``rows``."""
    starts = np.bincount(rows - (window - 1), minlength=n_rows + 1)
    ends = np.bincount(rows + 1, minlength=n_rows + 1)
    return np.cumsum(starts - ends)[:n_rows] > 0
