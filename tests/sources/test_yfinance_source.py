from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError

from stacklstm_fin.config import YFinanceConfig
from stacklstm_fin.exceptions import PartialDownloadError, SourceError
from stacklstm_fin.sources.yfinance_source import YFinanceSource
from tests.sources.yf_fakes import FakeDownload, download_frame, history_frame

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04"]
END = dt.date(2024, 1, 4)
MISSING = YFPricesMissingError("ZZZZ", " (1d 2024-01-02 -> 2024-01-05)")
MISSING_REASON = (
    "YFPricesMissingError('possibly delisted; no price data found (1d 2024-01-02 -> 2024-01-05)')"
)


def make(fake: FakeDownload, **cfg: object) -> tuple[YFinanceSource, list[float]]:
    sleeps: list[float] = []
    config = YFinanceConfig(**cfg)  # type: ignore[arg-type]
    return YFinanceSource(config, download=fake, sleep=sleeps.append), sleeps


def expected(ticker: str, days: list[str], closes: list[float], adj: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticker": [ticker] * len(days),
            "session_date": [dt.date.fromisoformat(d) for d in days],
            "open": [c - 0.5 for c in closes],
            "high": [c + 1.0 for c in closes],
            "low": [c - 1.0 for c in closes],
            "close": closes,
            "adj_close": adj,
            "volume": [1000.0 * (i + 1) for i in range(len(days))],
        }
    )


def test_one_ticker_without_auto_adjust_keeps_adj_close_and_passes_the_vendor_arguments() -> None:
    fake = FakeDownload({"AAA": [history_frame(DAYS, [10, 11, 12], auto_adjust=False)]})
    source, sleeps = make(fake, auto_adjust=False)

    result = source.fetch(["AAA"], dt.date(2024, 1, 2), END)

    assert_frame_equal(
        result.prices, expected("AAA", DAYS, [10.0, 11.0, 12.0], [9.8, 10.78, 11.76])
    )
    assert result.failures == {}
    assert fake.calls == [
        {
            "tickers": ["AAA"],
            "start": "2024-01-02",
            "end": "2024-01-05",  # yfinance's end is exclusive: as-of + 1 day
            "auto_adjust": False,
            "actions": False,
            "progress": False,
            "group_by": "column",
            "threads": False,
            "timeout": 30.0,
        }
    ]
    assert sleeps == []


def test_two_tickers_with_auto_adjust_use_close_as_adj_close_and_drop_foreign_sessions() -> None:
    fake = FakeDownload(
        {
            "AAA": [history_frame(DAYS, [10, 11, 12], auto_adjust=True, adj_ratio=0.5)],
            "BBB": [history_frame(DAYS[1:], [20, 21], auto_adjust=True, adj_ratio=0.5)],
        }
    )
    source, _ = make(fake, auto_adjust=True)

    result = source.fetch(["BBB", "AAA"], dt.date(2024, 1, 2), END)

    aaa = pl.DataFrame(
        {
            "ticker": ["AAA"] * 3,
            "session_date": [dt.date(2024, 1, d) for d in (2, 3, 4)],
            "open": [4.75, 5.25, 5.75],
            "high": [5.5, 6.0, 6.5],
            "low": [4.5, 5.0, 5.5],
            "close": [5.0, 5.5, 6.0],
            "adj_close": [5.0, 5.5, 6.0],
            "volume": [1000.0, 2000.0, 3000.0],
        }
    )
    bbb = pl.DataFrame(
        {
            "ticker": ["BBB"] * 2,
            "session_date": [dt.date(2024, 1, 3), dt.date(2024, 1, 4)],
            "open": [9.75, 10.25],
            "high": [10.5, 11.0],
            "low": [9.5, 10.0],
            "close": [10.0, 10.5],
            "adj_close": [10.0, 10.5],
            "volume": [1000.0, 2000.0],
        }
    )
    assert_frame_equal(result.prices, pl.concat([aaa, bbb]))
    assert fake.calls[0]["tickers"] == ["BBB", "AAA"]
    assert fake.calls[0]["auto_adjust"] is True


def test_empty_response_is_a_failure_reported_with_yfinance_reason_after_retries() -> None:
    fake = FakeDownload({"ZZZZ": [MISSING]})
    assert download_frame({"ZZZZ": MISSING}).shape == (0, 6)  # what yfinance returns
    source, sleeps = make(fake, retries=2, backoff_seconds=1.5)

    with pytest.raises(PartialDownloadError) as err:
        source.fetch(["ZZZZ"], dt.date(2024, 1, 2), END)

    assert str(err.value) == (
        "source yfinance: 1 of 1 ticker(s) failed, nothing was returned "
        f"(ZZZZ: {MISSING_REASON}); retry later, drop the ticker(s), or allow a partial download"
    )
    assert err.value.failures == {"ZZZZ": MISSING_REASON}
    assert [c["tickers"] for c in fake.calls] == [["ZZZZ"]] * 3
    assert sleeps == [1.5, 3.0]


def test_only_the_failed_ticker_is_retried_and_a_partial_result_needs_allow_partial() -> None:
    script = {"AAA": [history_frame(DAYS, [10, 11, 12], auto_adjust=False)], "ZZZZ": [MISSING]}
    source, sleeps = make(FakeDownload(script), retries=3, backoff_seconds=2.0)

    with pytest.raises(PartialDownloadError) as err:
        source.fetch(["AAA", "ZZZZ"], dt.date(2024, 1, 2), END)
    assert str(err.value).startswith("source yfinance: 1 of 2 ticker(s) failed")

    fake = FakeDownload(script)
    source, sleeps = make(fake, retries=3, backoff_seconds=2.0)
    result = source.fetch(["AAA", "ZZZZ"], dt.date(2024, 1, 2), END, allow_partial=True)

    assert [c["tickers"] for c in fake.calls] == [["AAA", "ZZZZ"], ["ZZZZ"], ["ZZZZ"], ["ZZZZ"]]
    assert sleeps == [2.0, 4.0, 8.0]
    assert result.failures == {"ZZZZ": MISSING_REASON}
    assert_frame_equal(
        result.prices, expected("AAA", DAYS, [10.0, 11.0, 12.0], [9.8, 10.78, 11.76])
    )


def test_a_ticker_that_fails_twice_then_succeeds_is_returned_with_growing_backoff() -> None:
    good = history_frame(DAYS, [10, 11, 12], auto_adjust=False)
    fake = FakeDownload(
        {
            "AAA": [history_frame(DAYS, [1, 2, 3], auto_adjust=False)],
            "BBB": [MISSING, MISSING, good],
        }
    )
    source, sleeps = make(fake, retries=3, backoff_seconds=1.5)

    result = source.fetch(["AAA", "BBB"], dt.date(2024, 1, 2), END)

    assert result.failures == {}
    assert result.prices.get_column("ticker").to_list() == ["AAA"] * 3 + ["BBB"] * 3
    assert result.prices.filter(pl.col("ticker") == "BBB")["close"].to_list() == [10, 11, 12]
    assert [c["tickers"] for c in fake.calls] == [["AAA", "BBB"], ["BBB"], ["BBB"]]
    assert sleeps == [1.5, 3.0]


def test_exceptions_raised_by_the_call_are_retried() -> None:
    good = history_frame(DAYS, [10, 11, 12], auto_adjust=False)
    fake = FakeDownload({"*": [YFRateLimitError(), TimeoutError("read timed out")], "AAA": [good]})
    source, sleeps = make(fake, retries=2, backoff_seconds=1.0)

    result = source.fetch(["AAA"], dt.date(2024, 1, 2), END)

    assert result.prices.height == 3
    assert len(fake.calls) == 3
    assert sleeps == [1.0, 2.0]


def test_a_call_that_keeps_timing_out_reports_the_exception_as_the_reason() -> None:
    fake = FakeDownload({"*": [TimeoutError("read timed out")] * 2, "AAA": [MISSING]})
    source, _ = make(fake, retries=1, backoff_seconds=0.0)

    with pytest.raises(PartialDownloadError) as err:
        source.fetch(["AAA"], dt.date(2024, 1, 2), END)

    assert err.value.failures == {"AAA": "TimeoutError: read timed out"}


def test_a_bug_in_the_call_is_not_retried_or_hidden() -> None:
    fake = FakeDownload({"*": [TypeError("download() got an unexpected keyword argument 'x'")]})
    source, sleeps = make(fake, retries=3)

    with pytest.raises(TypeError, match="unexpected keyword"):
        source.fetch(["AAA"], dt.date(2024, 1, 2), END)
    assert sleeps == []


def test_a_ticker_with_no_rows_and_no_logged_error_is_a_failure() -> None:
    fake = FakeDownload({"AAA": [history_frame([], [], auto_adjust=False)]})
    source, _ = make(fake, retries=0)

    result = source.fetch(["AAA"], dt.date(2024, 1, 2), END, allow_partial=True)

    assert result.prices.height == 0
    assert result.failures == {"AAA": "yfinance returned no rows for the requested range"}


def test_incremental_start_is_passed_through_and_none_means_the_configured_start() -> None:
    fake = FakeDownload({"AAA": [history_frame(DAYS[2:], [12], auto_adjust=False)]})
    source, _ = make(fake, start=dt.date(2010, 6, 1))

    source.fetch(["AAA"], dt.date(2024, 1, 4), END)
    source.fetch(["AAA"], None, END)

    assert [(c["start"], c["end"]) for c in fake.calls] == [
        ("2024-01-04", "2024-01-05"),
        ("2010-06-01", "2024-01-05"),
    ]


def test_start_after_end_fetches_nothing() -> None:
    fake = FakeDownload({})
    source, _ = make(fake)

    result = source.fetch(["AAA"], dt.date(2024, 1, 5), END)

    assert result.prices.height == 0
    assert fake.calls == []


def test_lower_case_tickers_map_back_from_yahoo_upper_case_columns() -> None:
    fake = FakeDownload({"BRK-B": [history_frame(DAYS, [10, 11, 12], auto_adjust=False)]})
    source, _ = make(fake)

    result = source.fetch(["brk-b"], dt.date(2024, 1, 2), END)

    assert result.prices.get_column("ticker").to_list() == ["brk-b"] * 3


def test_two_spellings_of_one_yahoo_symbol_are_refused() -> None:
    source, _ = make(FakeDownload({}))

    with pytest.raises(SourceError) as err:
        source.fetch(["aaa", "AAA"], None, END)

    assert str(err.value) == (
        "tickers: 'aaa' and 'AAA' are the same Yahoo symbol (yfinance upper-cases tickers); "
        "list it once"
    )


def test_the_arguments_we_pass_fit_the_installed_yfinance_download() -> None:
    import inspect

    import yfinance

    fake = FakeDownload({"AAA": [history_frame(DAYS, [10, 11, 12], auto_adjust=False)]})
    make(fake)[0].fetch(["AAA"], None, END)
    call = dict(fake.calls[0])

    inspect.signature(yfinance.download).bind(call.pop("tickers"), **call)  # raises on drift
