"""Real daily OHLCV shipped inside the ``arch`` package, for an offline demo.

``arch.data.sp500`` and ``arch.data.nasdaq`` hold the S&P 500 and the NASDAQ
Composite, 1999-01-04 .. 2018-12-31 (5,031 sessions each), with columns
``Open, High, Low, Close, Adj Close, Volume`` on a ``Date`` index. They are
exposed as ``^GSPC`` and ``^IXIC``, Yahoo's symbols for the same indices.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import polars as pl

from stacklstm_fin.schema import conform, empty_prices
from stacklstm_fin.sources.base import Source

# ticker -> arch.data module name
SAMPLE_DATASETS = {"^GSPC": "sp500", "^IXIC": "nasdaq"}
_COLUMNS = {
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "adj_close": "Adj Close",
    "volume": "Volume",
}


@functools.lru_cache(maxsize=len(SAMPLE_DATASETS))
def load_sample(ticker: str) -> pl.DataFrame:
    """The whole bundled history of one sample ticker, canonical columns."""
    import importlib

    module = importlib.import_module(f"arch.data.{SAMPLE_DATASETS[ticker]}")
    data = module.load()
    out = pl.DataFrame(
        {
            "ticker": [ticker] * len(data),
            "session_date": data.index.to_numpy().astype("datetime64[D]"),
            **{
                name: data[column].to_numpy(dtype="float64", na_value=np.nan)
                for name, column in _COLUMNS.items()
            },
        }
    ).fill_nan(None)
    return conform(out, f"sample {ticker}")


class SampleSource(Source):
    """The S&P 500 (``^GSPC``) and NASDAQ Composite (``^IXIC``) from ``arch``."""

    name = "sample"

    def default_tickers(self) -> tuple[str, ...]:
        return tuple(SAMPLE_DATASETS)

    def _fetch(
        self, tickers: tuple[str, ...], start: dt.date | None, end: dt.date
    ) -> tuple[pl.DataFrame, dict[str, str]]:
        frames = [load_sample(t) for t in tickers if t in SAMPLE_DATASETS]
        failures = {
            t: f"the sample source has only {', '.join(SAMPLE_DATASETS)} "
            "(S&P 500 and NASDAQ Composite, 1999-2018); use source yfinance or files for others"
            for t in tickers
            if t not in SAMPLE_DATASETS
        }
        return (pl.concat(frames) if frames else empty_prices()), failures
