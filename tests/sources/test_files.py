from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stacklstm_fin.exceptions import PartialDownloadError, SourceError
from stacklstm_fin.sources.files import FilesSource

CSV = """ticker,session_date,open,high,low,close,adj_close,volume,note
0700.HK,2024-01-02,10,11,9,10.5,10.4,100,x
0700.HK,2024-01-03,10.5,12,10,11.5,11.4,200,x
0700.HK,2024-01-04,11.5,12,11,11.75,11.7,300,x
AAPL,2024-01-03,180,182,179,181,181,5000000,y
"""


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_csv_is_filtered_to_tickers_and_the_inclusive_date_range(csv_file: Path) -> None:
    result = FilesSource(csv_file).fetch(["0700.HK"], dt.date(2024, 1, 3), dt.date(2024, 1, 4))

    assert_frame_equal(
        result.prices,
        pl.DataFrame(
            {
                "ticker": ["0700.HK", "0700.HK"],
                "session_date": [dt.date(2024, 1, 3), dt.date(2024, 1, 4)],
                "open": [10.5, 11.5],
                "high": [12.0, 12.0],
                "low": [10.0, 11.0],
                "close": [11.5, 11.75],
                "adj_close": [11.4, 11.7],
                "volume": [200.0, 300.0],
            }
        ),
    )
    assert result.failures == {}


def test_parquet_gives_the_same_rows_as_csv(csv_file: Path, tmp_path: Path) -> None:
    parquet = tmp_path / "prices.parquet"
    pl.read_csv(csv_file, schema_overrides={"ticker": pl.String}).write_parquet(parquet)

    from_csv = FilesSource(csv_file).fetch(["AAPL", "0700.HK"], None, dt.date(2024, 1, 31))
    from_parquet = FilesSource(parquet).fetch(["AAPL", "0700.HK"], None, dt.date(2024, 1, 31))

    assert from_csv.prices.height == 4
    assert_frame_equal(from_parquet.prices, from_csv.prices)


def test_a_requested_ticker_absent_from_the_file_is_a_failure(csv_file: Path) -> None:
    source = FilesSource(csv_file)

    with pytest.raises(PartialDownloadError) as err:
        source.fetch(["AAPL", "MSFT"], None, dt.date(2024, 1, 31))

    assert err.value.failures == {"MSFT": f"no rows in {csv_file}"}
    partial = source.fetch(["AAPL", "MSFT"], None, dt.date(2024, 1, 31), allow_partial=True)
    assert partial.prices.get_column("ticker").to_list() == ["AAPL"]
    assert partial.failures == {"MSFT": f"no rows in {csv_file}"}


def test_missing_column_names_it(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("ticker,session_date,open,high,low,close,volume\nA,2024-01-02,1,1,1,1,1\n")

    with pytest.raises(SourceError) as err:
        FilesSource(path).fetch(["A"], None, dt.date(2024, 1, 31))

    assert str(err.value) == (
        f"source.files.path {path}: missing column(s) adj_close; expected ticker, "
        "session_date, open, high, low, close, adj_close, volume"
    )


def test_a_bad_value_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(CSV.replace("10.5,10.4", "ten,10.4"), encoding="utf-8")

    with pytest.raises(SourceError) as err:
        FilesSource(path).fetch(["A"], None, dt.date(2024, 1, 31))

    assert str(err.value) == (
        f"source.files.path {path}: a column has values of the wrong type: conversion from "
        "`str` to `f64` failed in column 'close' for 1 out of 4 values: [\"ten\"]"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"

    with pytest.raises(SourceError) as err:
        FilesSource(path).fetch(["A"], None, dt.date(2024, 1, 31))

    assert str(err.value) == f"source.files.path: file not found: {path}"


def test_other_suffix_and_empty_path_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        FilesSource(tmp_path / "prices.xlsx").fetch(["A"], None, dt.date(2024, 1, 31))
    assert str(err.value) == (
        "source.files.path: expected a file ending in .csv, .parquet, .pq, got 'prices.xlsx'"
    )

    with pytest.raises(SourceError) as err:
        FilesSource("").fetch(["A"], None, dt.date(2024, 1, 31))
    assert str(err.value).startswith("source.files.path: expected the path of a .csv or .parquet")


def test_rows_after_the_end_are_counted_not_silently_dropped(csv_file: Path) -> None:
    result = FilesSource(csv_file).fetch(["0700.HK", "AAPL"], None, dt.date(2024, 1, 2))

    assert result.prices.height == 1
    assert result.rows_after_end == {
        "0700.HK": {"rows": 2, "first": "2024-01-03", "last": "2024-01-04"},
        "AAPL": {"rows": 1, "first": "2024-01-03", "last": "2024-01-03"},
    }
