"""Vendor errors: transient retried, bad input not, the real cause named, nothing written."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

import pytest
from curl_cffi.requests import Response
from curl_cffi.requests.exceptions import DNSError, HTTPError
from yfinance.exceptions import YFException, YFRateLimitError, YFTzMissingError

from stacklstm_fin.config import YFinanceConfig
from stacklstm_fin.exceptions import PartialDownloadError, SourceError
from stacklstm_fin.snapshots import load_or_fetch, read_snapshot_info
from stacklstm_fin.sources.yfinance_source import YFinanceSource
from tests.cli_run import run_cli
from tests.sources.yf_fakes import FakeDownload, LoggedCause, SoftError, history_frame

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04"]
END = dt.date(2024, 1, 4)
HOST = "query2.finance.yahoo.com"
DNS = DNSError(
    f"Failed to perform, curl: (6) Could not resolve host: {HOST}. "
    "See https://curl.se/libcurl/c/libcurl-errors.html first for more details."
)
UNREACHABLE = f"host unreachable: cannot resolve {HOST} (no network or DNS)"
# The first attempt with no network, then the later ones (read off a real run).
NO_NETWORK = [
    LoggedCause(DNS, DNS),
    LoggedCause(DNS, SoftError("possibly delisted; no timezone found")),
]


def http_error(status: int, reason: str) -> HTTPError:
    response = Response()
    response.status_code = status
    return HTTPError(f"HTTP Error {status}: {reason}", 0, response)


def make(fake: FakeDownload, retries: int = 3) -> tuple[YFinanceSource, list[float]]:
    sleeps: list[float] = []
    config = YFinanceConfig(retries=retries, backoff_seconds=1.0)
    return YFinanceSource(config, download=fake, sleep=sleeps.append), sleeps


def good() -> object:
    return history_frame(DAYS, [10, 11, 12], auto_adjust=False)


def test_no_network_is_retried_and_named_instead_of_possibly_delisted() -> None:
    fake = FakeDownload({"AAPL": NO_NETWORK})
    source, sleeps = make(fake, retries=2)
    with pytest.raises(PartialDownloadError) as err:
        source.fetch(["AAPL"], dt.date(2024, 1, 2), END)
    assert err.value.failures == {"AAPL": UNREACHABLE}
    assert len(fake.calls) == 3 and sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    ("error", "calls", "reason"),
    [
        (
            http_error(404, "Not Found"),
            1,
            "HTTP 404 (bad input): HTTPError: HTTP Error 404: Not Found",
        ),
        (
            http_error(401, "Unauthorized"),
            1,
            "HTTP 401 (bad input): HTTPError: HTTP Error 401: Unauthorized",
        ),
        (
            YFException("New index contains duplicates but unsure how to aggregate for 'Close'"),
            1,
            "YFException: New index contains duplicates but unsure how to aggregate for 'Close'",
        ),
        (
            http_error(503, "Service Unavailable"),
            4,
            "HTTP 503 (transient): HTTPError: HTTP Error 503: Service Unavailable",
        ),
        (
            http_error(429, "Too Many Requests"),
            4,
            "HTTP 429 (rate limited): HTTPError: HTTP Error 429: Too Many Requests",
        ),
        (DNS, 4, f"{UNREACHABLE}"),
    ],
)
def test_a_call_failing_is_retried_only_when_transient(
    error: BaseException, calls: int, reason: str
) -> None:
    fake = FakeDownload({"*": [error] * 4, "AAPL": [good()]})
    source, sleeps = make(fake, retries=3)
    with pytest.raises(PartialDownloadError) as err:
        source.fetch(["AAPL"], dt.date(2024, 1, 2), END)
    assert err.value.failures == {"AAPL": reason}
    assert len(fake.calls) == calls
    assert sleeps == [1.0, 2.0, 4.0][: calls - 1]


def test_per_ticker_bad_input_stops_while_a_transient_ticker_is_retried() -> None:
    script = {
        "BAD": [http_error(404, "Not Found")],
        "SLOW": [YFRateLimitError(), good()],
        "OK": [good()],
    }
    fake = FakeDownload(script)  # type: ignore[arg-type]
    source, sleeps = make(fake)
    result = source.fetch(["BAD", "SLOW", "OK"], dt.date(2024, 1, 2), END, allow_partial=True)
    assert [c["tickers"] for c in fake.calls] == [["BAD", "SLOW", "OK"], ["SLOW"]]
    assert sleeps == [1.0]
    assert result.failures == {
        "BAD": "HTTP 404 (bad input): HTTPError('HTTP Error 404: Not Found')"
    }
    assert sorted(set(result.prices["ticker"].to_list())) == ["OK", "SLOW"]


def test_a_tz_error_without_a_network_cause_keeps_the_vendor_text() -> None:
    fake = FakeDownload({"ZZZZ": [YFTzMissingError("ZZZZ")]})
    source, _ = make(fake, retries=0)
    with pytest.raises(PartialDownloadError) as err:
        source.fetch(["ZZZZ"], dt.date(2024, 1, 2), END)
    assert err.value.failures == {
        "ZZZZ": "YFTzMissingError('possibly delisted; no timezone found')"
    }


def test_every_ticker_failing_writes_no_snapshot(tmp_path: Path) -> None:
    fake = FakeDownload({"AAPL": NO_NETWORK, "MSFT": NO_NETWORK})
    source, _ = make(fake, retries=1)
    with pytest.raises(SourceError) as err:
        load_or_fetch(source, tmp_path, END, ["AAPL", "MSFT"], None, allow_partial=True)
    assert str(err.value) == (
        f"source yfinance: every ticker failed (AAPL: {UNREACHABLE}; MSFT: {UNREACHABLE}); "
        "nothing was written (no snapshot, no validation run); retry when the cause is fixed"
    )
    assert read_snapshot_info(tmp_path, "yfinance", END) is None
    assert list(tmp_path.iterdir()) == []


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def test_ingest_with_no_network_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    env = {
        "STACKLSTM_PATHS__DATA_ROOT": str(root),
        "STACKLSTM_SOURCE__YFINANCE__RETRIES": "1",
        "STACKLSTM_SOURCE__YFINANCE__BACKOFF_SECONDS": "0",
    }
    cause = f"AAPL: {UNREACHABLE}"
    if _resolves(HOST):  # a machine with a network: take it away with a dead proxy
        env |= {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
        cause = f"AAPL: host unreachable: cannot connect to {HOST} ("
    assert run_cli(["init-db"], tmp_path, env).returncode == 0
    args = ["ingest", "--source", "yfinance", "--tickers", "AAPL", "--as-of", "2024-01-05"]
    done = run_cli(args, tmp_path, {**os.environ, **env})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(
        f"stacklstm-fin: error: source yfinance: every ticker failed ({cause}"
    )
    assert done.stderr.endswith(
        "); nothing was written (no snapshot, no validation run); retry when the cause is fixed\n"
    )
    assert sorted(p.name for p in root.iterdir()) == ["warehouse.duckdb"]
    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM stacklstm.validation_runs").fetchone() == (0,)
