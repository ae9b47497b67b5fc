from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from stacklstm_fin.exceptions import PartialDownloadError
from stacklstm_fin.schema import PRICE_SCHEMA
from stacklstm_fin.sources.sample import SampleSource

END = dt.date(2018, 12, 31)
UNKNOWN_REASON = (
    "the sample source has only ^GSPC, ^IXIC (S&P 500 and NASDAQ Composite, 1999-2018); "
    "use source yfinance or files for others"
)


def test_both_indices_whole_history_canonical() -> None:
    prices = SampleSource().fetch(["^GSPC", "^IXIC"], None, END).prices

    assert prices.schema == pl.Schema(PRICE_SCHEMA)
    assert prices.group_by("ticker").agg(
        pl.len(), pl.col("session_date").min().alias("first"), pl.col("session_date").max()
    ).sort("ticker").rows() == [
        ("^GSPC", 5031, dt.date(1999, 1, 4), END),
        ("^IXIC", 5031, dt.date(1999, 1, 4), END),
    ]
    assert prices.null_count().sum_horizontal().item() == 0
    assert prices.row(0) == pytest.approx(
        ("^GSPC", dt.date(1999, 1, 4), 1229.22998, 1248.810059, 1219.099976, 1228.099976,
         1228.099976, 877000000.0)
    )  # fmt: skip
    assert prices.row(-1) == pytest.approx(
        ("^IXIC", END, 6649.52002, 6659.959961, 6570.060059, 6635.279785, 6635.279785,
         2098560000.0)
    )  # fmt: skip


def test_range_is_inclusive_and_no_tickers_means_both() -> None:
    prices = SampleSource().fetch([], dt.date(2018, 12, 24), dt.date(2018, 12, 27)).prices

    assert prices.select("ticker", "session_date").rows() == [
        ("^GSPC", dt.date(2018, 12, 24)),
        ("^GSPC", dt.date(2018, 12, 26)),
        ("^GSPC", dt.date(2018, 12, 27)),
        ("^IXIC", dt.date(2018, 12, 24)),
        ("^IXIC", dt.date(2018, 12, 26)),
        ("^IXIC", dt.date(2018, 12, 27)),
    ]


def test_other_tickers_are_failures_with_the_reason() -> None:
    with pytest.raises(PartialDownloadError) as err:
        SampleSource().fetch(["^GSPC", "AAPL"], None, END)
    assert err.value.failures == {"AAPL": UNKNOWN_REASON}

    result = SampleSource().fetch(["^GSPC", "AAPL"], None, END, allow_partial=True)
    assert result.failures == {"AAPL": UNKNOWN_REASON}
    assert result.tickers == ("^GSPC",)
