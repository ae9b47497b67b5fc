"""Daily bars from Yahoo Finance through ``yfinance.download`` (1.7).

What yfinance 1.7 does, read from its source (``yfinance/multi.py``):

- columns are a MultiIndex named ``("Price", "Ticker")`` even for one ticker,
  tickers upper-cased; the daily index is tz-naive and named ``Date``;
- ``end`` is exclusive, so we ask for ``end + 1 day``;
- per-ticker errors (rate limits included) are swallowed: the ticker gets an
  all-NaN column block (``Open .. Volume`` and ``Adj Close`` even when
  ``auto_adjust=True``) and the reason is only *logged* on the ``yfinance``
  logger as ``"['T1', 'T2']: <repr of the exception>"``. The old module-level
  ``yf.shared._ERRORS`` still exists but 1.7 no longer fills it (errors live in
  a per-call context), so we read the reasons from those log records.

Failed tickers are retried alone, with exponential backoff, unless the
failure is bad input (HTTP 4xx other than 429, a vendor error about the
request): see :mod:`stacklstm_fin.sources.vendor_errors`. yfinance's own log
lines and warnings are kept off the console; the failures carry the real
cause (an unreachable host rather than "possibly delisted").
"""

from __future__ import annotations

import ast
import datetime as dt
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from stacklstm_fin.config import YFinanceConfig
from stacklstm_fin.exceptions import SourceError
from stacklstm_fin.schema import PRICE_COLUMNS, empty_prices
from stacklstm_fin.sources.base import Source, one_line
from stacklstm_fin.sources.vendor_errors import (
    TRANSIENT,
    classify_exception,
    classify_reason,
    describe,
    retried,
)

if TYPE_CHECKING:
    import pandas as pd

DownloadFn = Callable[..., Any]
SleepFn = Callable[[float], None]

# canonical column -> yfinance "Price" level
_FIELDS = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}
_LOG_LINE = re.compile(r"^(\[[^\]]*\]): (.*)$", re.DOTALL)
# yfinance.base logs the network error behind a later "possibly delisted" guess.
_CAUSE_LINE = re.compile(r"^Failed to get ticker '([^']+)' reason: (.*)$", re.DOTALL)
log = logging.getLogger(__name__)
NO_ROWS_REASON = "yfinance returned no rows for the requested range"


class _ErrorCapture(logging.Handler):
    """Collects yfinance's per-ticker error lines logged by this thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.thread = threading.get_ident()
        self.reasons: dict[str, str] = {}
        self.causes: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        text = record.getMessage().strip()
        cause = _CAUSE_LINE.match(text)
        if cause:
            self.causes[cause.group(1).upper()] = one_line(cause.group(2))
            return
        match = _LOG_LINE.match(text)
        if not match:
            return
        try:
            symbols = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            return
        for symbol in symbols:
            self.reasons[str(symbol).upper()] = one_line(match.group(2))

    def reason(self, symbol: str) -> str | None:
        """The real cause for ``symbol``: a network error beats the vendor's guess after it."""
        cause, reason = self.causes.get(symbol), self.reasons.get(symbol)
        if cause and (reason is None or classify_reason(cause) == TRANSIENT):
            return describe(cause)
        return describe(reason) if reason else None


class YFinanceSource(Source):
    """Incremental daily bars from Yahoo Finance with per-ticker retries.

    ``download`` and ``sleep`` are injectable so tests can pass a fake vendor
    function (returning frames shaped as yfinance 1.7 returns them) and record
    the backoff without waiting.
    """

    name = "yfinance"

    def __init__(
        self,
        config: YFinanceConfig | None = None,
        *,
        download: DownloadFn | None = None,
        sleep: SleepFn = time.sleep,
    ) -> None:
        self.config = config or YFinanceConfig()
        self._download = download
        self._sleep = sleep

    def _download_fn(self) -> DownloadFn:
        if self._download is None:
            import yfinance

            self._download = yfinance.download
        return self._download

    def _fetch(
        self, tickers: tuple[str, ...], start: dt.date | None, end: dt.date
    ) -> tuple[pl.DataFrame, dict[str, str]]:
        by_symbol: dict[str, str] = {}
        for t in tickers:
            clash = by_symbol.setdefault(t.upper(), t)
            if clash != t:
                raise SourceError(
                    f"tickers: {clash!r} and {t!r} are the same Yahoo symbol "
                    "(yfinance upper-cases tickers); list it once"
                )
        start = start or self.config.start
        frames: list[pl.DataFrame] = []
        failures: dict[str, str] = {}
        final: dict[str, str] = {}  # bad input: not retried
        pending = list(tickers)
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
            try:
                got, failures = self._attempt(pending, start, end)
            except Exception as exc:
                kind = classify_exception(exc)
                if kind is None:
                    raise  # a bug (a wrong argument), not the vendor: never hidden
                reason = describe(f"{type(exc).__name__}: {one_line(str(exc))}")
                failures = dict.fromkeys(pending, reason)
                kinds = dict.fromkeys(pending, kind)
            else:
                frames.extend(got)
                kinds = {t: classify_reason(r) for t, r in failures.items()}
            final.update({t: r for t, r in failures.items() if not retried(kinds[t])})
            pending = [t for t in pending if t in failures and t not in final]
            if pending and attempt + 1 < attempts:
                log.info(
                    "yfinance attempt %d/%d: retrying %s (%s)",
                    attempt + 1,
                    attempts,
                    ", ".join(pending),
                    "; ".join(f"{t}: {failures[t]}" for t in pending),
                )
            if not pending:
                break
        failures = {t: final.get(t) or failures[t] for t in tickers if t in final or t in failures}
        frame = pl.concat(frames) if frames else empty_prices()
        return frame, failures

    def _attempt(
        self, tickers: list[str], start: dt.date, end: dt.date
    ) -> tuple[list[pl.DataFrame], dict[str, str]]:
        """One ``yf.download`` call: per-ticker frames and failures (ticker -> reason)."""
        # Import yfinance first: its import adds a warnings filter ahead of ours.
        download = self._download_fn()
        capture = _ErrorCapture()
        logger = logging.getLogger("yfinance")
        logger.addHandler(capture)
        # Its lines are read by the capture; on the console they buried the cause.
        propagate, logger.propagate = logger.propagate, False
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", module=r"yfinance(\..*)?$")
                data = self._call(download, tickers, start, end)
        finally:
            logger.propagate = propagate
            logger.removeHandler(capture)
        frames: list[pl.DataFrame] = []
        failures: dict[str, str] = {}
        for t in tickers:
            frame = None if data is None else flatten(data, t, auto_adjust=self.config.auto_adjust)
            if frame is None or frame.height == 0:
                failures[t] = capture.reason(t.upper()) or NO_ROWS_REASON
            else:
                frames.append(frame)
        return frames, failures

    def _call(self, download: DownloadFn, tickers: list[str], start: dt.date, end: dt.date) -> Any:
        return download(
            list(tickers),
            start=start.isoformat(),
            end=(end + dt.timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
            auto_adjust=self.config.auto_adjust,
            actions=False,
            progress=False,
            group_by="column",
            threads=False,
            timeout=self.config.timeout_seconds,
        )


def flatten(data: pd.DataFrame, ticker: str, *, auto_adjust: bool) -> pl.DataFrame | None:
    """One ticker's rows from a ``(Price, Ticker)`` column frame, canonical columns.

    Returns None when the ticker is not in the response. Rows whose open, high,
    low and close are all NaN (other tickers' sessions, failed blocks) are dropped.
    With ``auto_adjust`` the close is already adjusted, so ``adj_close = close``.
    """
    import pandas as pd

    columns = data.columns
    if not isinstance(columns, pd.MultiIndex) or list(columns.names) != ["Price", "Ticker"]:
        raise SourceError(
            "source yfinance: expected columns as a MultiIndex named ('Price', 'Ticker'), "
            f"got {list(columns.names) if isinstance(columns, pd.MultiIndex) else 'flat'} "
            "columns; is group_by='column' passed and yfinance 1.7 installed?"
        )
    symbol = ticker.upper()
    if symbol not in set(columns.get_level_values("Ticker")):
        return None
    fields = dict(_FIELDS)
    fields["adj_close"] = "Close" if auto_adjust else "Adj Close"
    values: dict[str, np.ndarray] = {}
    for name, field in fields.items():
        if (field, symbol) not in columns:
            raise SourceError(
                f"source yfinance: column ({field!r}, {symbol!r}) missing from the response; "
                f"got {sorted({p for p, _ in columns})} for auto_adjust={auto_adjust}"
            )
        values[name] = data[(field, symbol)].to_numpy(dtype="float64", na_value=np.nan)
    index = pd.DatetimeIndex(data.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    out = pl.DataFrame(
        {
            "ticker": [ticker] * len(index),
            "session_date": index.to_numpy().astype("datetime64[D]"),
            **values,
        }
    ).fill_nan(None)
    ohlc = ["open", "high", "low", "close"]
    return out.filter(~pl.all_horizontal(pl.col(c).is_null() for c in ohlc)).select(PRICE_COLUMNS)
