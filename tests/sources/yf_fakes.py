"""Fake ``yf.download`` responses shaped exactly as yfinance 1.7 returns them.

Only the network is faked. Each ticker's frame is what ``Ticker.history``
returns for daily bars (tz-aware exchange-midnight index named ``Date``,
float prices, int64 ``Volume``, no ``Adj Close`` when ``auto_adjust``); a
failing ticker is an exception. Combining them replays the tail of
``yfinance.multi._download_impl`` with yfinance's own ``utils.empty_df`` and
``multi.reindex_dfs``: failed tickers become all-NaN blocks, the columns a
``(Price, Ticker)`` MultiIndex, the index tz-naive, and the errors are logged
on the ``yfinance`` logger as yfinance logs them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

EXCHANGE_TZ = "America/New_York"


@dataclass(frozen=True)
class SoftError:
    """A ticker with no rows and the text ``PriceHistory._last_error`` holds (not a repr)."""

    text: str


@dataclass(frozen=True)
class LoggedCause:
    """What yfinance 1.7 does with no network: ``base._get_ticker_tz`` logs
    ``Failed to get ticker 'T' reason: <cause>`` and the ticker then fails as ``then``.
    """

    cause: BaseException
    then: pd.DataFrame | BaseException | SoftError


Response = pd.DataFrame | BaseException | SoftError | LoggedCause


def history_frame(
    dates: Sequence[str],
    closes: Sequence[float],
    *,
    auto_adjust: bool,
    adj_ratio: float = 0.98,
) -> pd.DataFrame:
    """A frame as ``Ticker.history(interval='1d', actions=False)`` returns it."""
    index = pd.DatetimeIndex(pd.to_datetime(list(dates))).tz_localize(EXCHANGE_TZ)
    close = np.asarray(closes, dtype="float64")
    data: dict[str, Any] = {
        "Open": close - 0.5,
        "High": close + 1.0,
        "Low": close - 1.0,
        "Close": close,
        "Adj Close": close * adj_ratio,
        "Volume": np.arange(1, len(close) + 1, dtype="int64") * 1000,
    }
    frame = pd.DataFrame(data, index=index)
    if auto_adjust:  # yfinance.utils.auto_adjust: OHLC scaled by Adj Close / Close
        ratio = frame["Adj Close"] / frame["Close"]
        for col in ("Open", "High", "Low"):
            frame[col] = frame[col] * ratio
        frame["Close"] = frame["Adj Close"]
        frame = frame.drop(columns="Adj Close")
    frame.index.name = "Date"
    return frame


def download_frame(responses: dict[str, Response]) -> pd.DataFrame:
    """Combine per-ticker responses the way ``yf.download(group_by='column')`` does."""
    from yfinance import multi, utils

    logger = logging.getLogger("yfinance")
    dfs: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    for ticker, response in responses.items():
        sym = ticker.upper()
        if isinstance(response, LoggedCause):
            logger.error(f"Failed to get ticker '{sym}' reason: {response.cause}")
            response = response.then
        if isinstance(response, SoftError):
            dfs[sym] = utils.empty_df()
            errors[sym] = response.text
        elif isinstance(response, BaseException):
            dfs[sym] = utils.empty_df()
            errors[sym] = repr(response)
        else:
            dfs[sym] = response.copy()
    if errors:
        plural = "s" if len(errors) > 1 else ""
        logger.error(f"\n{len(errors)} Failed download{plural}:")
        grouped: dict[str, list[str]] = {}
        for sym, err in errors.items():
            grouped.setdefault(err.replace(f"${sym}: ", ""), []).append(sym)
        for err, syms in grouped.items():
            logger.error(f"{syms}: " + err)
    for df in dfs.values():  # ignore_tz is the daily default
        if df.shape[0] > 0:
            df.index = df.index.tz_localize(None)
    dfs = multi.reindex_dfs(dfs, True)
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    data.columns = data.columns.swaplevel(0, 1)
    # yfinance sorts in place, which pandas 3.1 deprecates (Pandas4Warning); same result.
    return data.sort_index(level=0, axis=1)


class FakeDownload:
    """Stands in for ``yfinance.download``: replays scripted responses, records calls.

    ``script`` maps a ticker to its responses per call (the last one repeats);
    an entry ``"*"`` is an exception raised by the whole call (e.g. a timeout),
    consumed once per call while present.
    """

    def __init__(self, script: dict[str, list[Response]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[dict[str, Any]] = []

    def __call__(self, tickers: list[str], **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"tickers": list(tickers), **kwargs})
        whole = self.script.get("*")
        if whole:
            raise whole.pop(0)
        responses: dict[str, Response] = {}
        for ticker in tickers:
            queue = self.script[ticker.upper()]
            responses[ticker] = queue.pop(0) if len(queue) > 1 else queue[0]
        return download_frame(responses)
