from __future__ import annotations

import pytest

from stacklstm_fin.exceptions import InvalidTickerError
from stacklstm_fin.symbols import parse_tickers, validate_ticker


@pytest.mark.parametrize(
    "ticker", ["AAPL", "BRK-B", "BRK.B", "^GSPC", "EURUSD=X", "VOD.L", "ES=F", "BTC-USD", "7203.T"]
)
def test_accepts_real_symbols(ticker: str) -> None:
    assert validate_ticker(ticker) == ticker


@pytest.mark.parametrize(
    "ticker",
    [
        "A'B",
        'A"B',
        "A;DROP",
        "A/B",
        "A\\B",
        "..",
        "../etc",
        "A..B",
        "A\x00B",
        "A B",
        " AAPL",
        "AAPL\n",
        "",
        "^",
        "A--B",
        "-A",
        "DROP TABLE",
        "a`b",
    ],
)
def test_rejects_what_could_become_sql_or_a_path(ticker: str) -> None:
    with pytest.raises(InvalidTickerError) as err:
        validate_ticker(ticker)
    assert str(err.value).startswith(f"ticker {ticker!r}: not a valid symbol; expected letters")


def test_rejects_long_symbols() -> None:
    with pytest.raises(InvalidTickerError) as err:
        validate_ticker("A" * 33)
    assert str(err.value) == f"ticker {'A' * 33!r}: longer than 32 characters"


def test_parse_tickers() -> None:
    assert parse_tickers("AAPL, ^GSPC") == ("AAPL", "^GSPC")
    with pytest.raises(InvalidTickerError, match="listed twice"):
        parse_tickers("AAPL,AAPL")
    with pytest.raises(InvalidTickerError, match="expected comma-separated symbols"):
        parse_tickers("AAPL,,MSFT")
