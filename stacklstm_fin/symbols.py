"""Ticker symbols: accept what exchanges and vendors use, refuse what could
become SQL, a shell word or a path.

Accepted: ``AAPL``, ``BRK-B``, ``BRK.B``, ``^GSPC``, ``EURUSD=X``, ``VOD.L``,
``ES=F``, ``BTC-USD``. Refused: quotes, ``;``, ``/``, ``\\``, ``..``, NUL,
whitespace, empty strings and anything longer than 32 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stacklstm_fin.exceptions import InvalidTickerError

MAX_TICKER_LENGTH = 32
# A leading '^' (index), then letters/digits with single '.', '-', '=' separators.
TICKER_PATTERN = re.compile(r"\^?[A-Za-z0-9]+(?:[.\-=][A-Za-z0-9]+)*=?")
# Names of candidates, runs and other identifiers that end up in file names.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def validate_ticker(ticker: object) -> str:
    """Return ``ticker`` unchanged if it is an accepted symbol, else raise."""
    if not isinstance(ticker, str):
        raise InvalidTickerError(f"ticker: expected a string, got {type(ticker).__name__}")
    if len(ticker) > MAX_TICKER_LENGTH:
        raise InvalidTickerError(
            f"ticker {ticker[:40]!r}: longer than {MAX_TICKER_LENGTH} characters"
        )
    if not TICKER_PATTERN.fullmatch(ticker):
        raise InvalidTickerError(
            f"ticker {ticker!r}: not a valid symbol; expected letters and digits with "
            "'.', '-' or '=' between them and an optional leading '^' (e.g. AAPL, BRK-B, "
            "^GSPC, EURUSD=X, VOD.L)"
        )
    return ticker


def validate_tickers(tickers: Iterable[object]) -> tuple[str, ...]:
    """Validate every ticker and refuse duplicates; order is kept."""
    out: list[str] = []
    for t in tickers:
        validate_ticker(t)
        assert isinstance(t, str)
        if t in out:
            raise InvalidTickerError(f"ticker {t!r}: listed twice")
        out.append(t)
    return tuple(out)


def parse_tickers(text: str) -> tuple[str, ...]:
    """Parse a comma-separated ``--tickers`` argument (spaces around commas allowed)."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise InvalidTickerError(f"--tickers: expected comma-separated symbols, got {text!r}")
    return validate_tickers(parts)
