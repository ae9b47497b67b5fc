"""Ingest end to end on real parts: sources, GX, both warehouse engines."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from stacklstm_fin.config import load_config
from stacklstm_fin.exceptions import PartialDownloadError, ValidationFailedError
from stacklstm_fin.pipeline.ingest import ingest
from stacklstm_fin.sources.synthetic import SyntheticSource
from stacklstm_fin.warehouse import connect, migrate

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2018, 12, 31)


def table_state(wh, table: str, order: str) -> tuple[int, list[int]]:
    frame = wh.query(f"SELECT * FROM stacklstm.{table} ORDER BY {order}")
    return frame.height, frame.hash_rows().to_list()


def make_config(tmp_path: Path, url: str, **sections: dict) -> object:
    overrides = {"paths.data_root": str(tmp_path / "data"), "warehouse.url": url}
    for key, value in sections.items():
        overrides[key.replace("__", ".")] = value
    return load_config(None, env={}, overrides=overrides)


def synthetic_frame(cfg, tickers: tuple[str, ...], end: dt.date) -> pl.DataFrame:
    return SyntheticSource.from_config(cfg).fetch(tickers, None, end).prices


def test_sample_ingest_twice_is_identical(tmp_path: Path, warehouse_url: str) -> None:
    cfg = make_config(tmp_path, warehouse_url)
    with connect(warehouse_url) as wh:
        migrate(wh)
        first = ingest(cfg, wh, AS_OF)
        counts = wh.query(
            "SELECT ticker, COUNT(*) AS n, MIN(session_date) AS first, MAX(session_date) AS last "
            "FROM stacklstm.prices_daily GROUP BY ticker ORDER BY ticker"
        )
        state = [table_state(wh, t, o) for t, o in (
            ("prices_daily", "ticker, session_date"), ("validation_runs", "run_id"),
            ("prices_quarantine", "run_id, row_index"))]  # fmt: skip
        second = ingest(cfg, wh, AS_OF)
        assert [table_state(wh, t, o) for t, o in (
            ("prices_daily", "ticker, session_date"), ("validation_runs", "run_id"),
            ("prices_quarantine", "run_id, row_index"))] == state  # fmt: skip
    assert counts.rows() == [
        ("^GSPC", 5031, dt.date(1999, 1, 4), AS_OF),
        ("^IXIC", 5031, dt.date(1999, 1, 4), AS_OF),
    ]
    assert (first["rows_loaded"], first["rows_quarantined"], first["success"]) == (10062, 0, True)
    # No 1999-2018 session of either index is a 10-robust-sigma move (ADR 0009).
    assert (first["warnings"], first["ticker_failures"]) == ([], {})
    assert second["up_to_date"] is True and second["run_id"] == first["run_id"]


def test_bad_rows_are_quarantined_with_reasons_and_the_rest_loads(
    tmp_path: Path, warehouse_url: str
) -> None:
    cfg = make_config(
        tmp_path,
        warehouse_url,
        source__name="files",
        universe__tickers=["AAA", "BBB"],
        validation__max_quarantine_share=0.05,
    )
    good = synthetic_frame(cfg, ("AAA", "BBB"), dt.date(2012, 6, 29))
    day = good["session_date"][10]
    bad = good.with_columns(
        pl.when((pl.col("ticker") == "AAA") & (pl.col("session_date") == day))
        .then(-1.0).otherwise(pl.col("open")).alias("open"),
        pl.when((pl.col("ticker") == "BBB") & (pl.col("session_date") == day))
        .then(pl.col("low") * 0.5).otherwise(pl.col("high")).alias("high"),
    )  # fmt: skip
    path = tmp_path / "prices.csv"
    bad.write_csv(path)
    cfg = make_config(
        tmp_path,
        warehouse_url,
        source__name="files",
        source__files__path=str(path),
        universe__tickers=["AAA", "BBB"],
    )
    with connect(warehouse_url) as wh:
        migrate(wh)
        summary = ingest(cfg, wh, dt.date(2012, 6, 29))
        quarantined = wh.query(
            "SELECT ticker, session_date, reason, run_id FROM stacklstm.prices_quarantine "
            "ORDER BY ticker"
        )
        run = wh.query("SELECT * FROM stacklstm.validation_runs").row(0, named=True)
        loaded = wh.scalar("SELECT COUNT(*) FROM stacklstm.prices_daily")
    assert quarantined.select("ticker", "session_date", "reason").rows() == [
        ("AAA", day, "non_positive_price;low_above_open_close"),
        ("BBB", day, "high_below_open_close"),
    ]
    assert set(quarantined["run_id"]) == {summary["run_id"]}
    assert loaded == good.height - 2 == summary["rows_loaded"]
    assert (run["rows_in"], run["rows_loaded"], run["rows_quarantined"], run["success"]) == (
        good.height, good.height - 2, 2, True)  # fmt: skip
    report = json.loads(run["report"])
    assert report["reason_counts"]["non_positive_price"] == 1


def test_over_threshold_fails_and_loads_nothing(tmp_path: Path, warehouse_url: str) -> None:
    cfg = make_config(tmp_path, warehouse_url, universe__tickers=["AAA"])
    good = synthetic_frame(cfg, ("AAA",), dt.date(2012, 3, 30))
    bad = good.with_columns(pl.when(pl.int_range(pl.len()) % 5 == 0).then(-1.0)
                            .otherwise(pl.col("close")).alias("close"))  # fmt: skip
    path = tmp_path / "prices.parquet"
    bad.write_parquet(path)
    cfg = make_config(
        tmp_path,
        warehouse_url,
        source__name="files",
        source__files__path=str(path),
        universe__tickers=["AAA"],
    )
    with connect(warehouse_url) as wh:
        migrate(wh)
        with pytest.raises(ValidationFailedError) as err:
            ingest(cfg, wh, dt.date(2012, 3, 30))
        assert wh.scalar("SELECT COUNT(*) FROM stacklstm.prices_daily") == 0
        run = wh.query("SELECT success, rows_loaded, failure FROM stacklstm.validation_runs")
    n_bad = (bad["close"] < 0).sum()
    share = n_bad / bad.height
    assert run.rows() == [(False, 0, run["failure"][0])]
    assert run["failure"][0] == (
        f"AAA: {n_bad} of {bad.height} rows quarantined ({share:.1%}), above "
        "validation.max_quarantine_share = 5.0%"
    )
    assert str(err.value).startswith(
        f"validation of files as of 2012-03-30 failed: {run['failure'][0]} (run files-2012-03-30-"
    )


def test_vendor_failure_loads_the_rest_and_is_reported(tmp_path: Path, duckdb_url: str) -> None:
    cfg = make_config(tmp_path, duckdb_url, universe__tickers=["^GSPC", "AAPL"])
    with connect(duckdb_url) as wh:
        migrate(wh)
        with pytest.raises(PartialDownloadError) as err:
            ingest(cfg, wh, AS_OF)
        assert wh.query("SELECT DISTINCT ticker FROM stacklstm.prices_daily").rows() == [("^GSPC",)]
        report = json.loads(wh.scalar("SELECT report FROM stacklstm.validation_runs"))
    assert list(report["source_failures"]) == ["AAPL"]
    assert str(err.value).startswith(
        "ingest as of 2018-12-31: loaded 5031 rows, but 1 ticker(s) failed (AAPL: "
    )
    assert err.value.failures.keys() == {"AAPL"}


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "stacklstm_fin.cli", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_killed_load_leaves_old_set_and_rerun_completes(tmp_path: Path, warehouse_url: str) -> None:
    cfg = make_config(tmp_path, warehouse_url, source__name="synthetic",
                      universe__tickers=["SYN0001", "SYN0002"])  # fmt: skip
    env = {"STACKLSTM_PATHS__DATA_ROOT": str(tmp_path / "data"),
           "STACKLSTM_WAREHOUSE__URL": warehouse_url}  # fmt: skip
    args = ["--source", "synthetic", "--tickers", "SYN0001,SYN0002"]
    with connect(warehouse_url) as wh:
        migrate(wh)
        ingest(cfg, wh, dt.date(2012, 6, 29))
        before = table_state(wh, "prices_daily", "ticker, session_date")
    killed = cli("ingest", *args, "--as-of", "2012-09-28",
                 env={**env, "STACKLSTM_FAULT_POINT": "load.after_prices"})  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    with connect(warehouse_url) as wh:
        assert table_state(wh, "prices_daily", "ticker, session_date") == before
        assert wh.scalar("SELECT COUNT(*) FROM stacklstm.validation_runs") == 1
    done = cli("ingest", *args, "--as-of", "2012-09-28", env=env)
    assert done.returncode == 0, done.stderr
    with connect(warehouse_url) as wh:
        assert wh.scalar("SELECT MAX(session_date) FROM stacklstm.prices_daily") == dt.date(
            2012, 9, 28)  # fmt: skip
        assert wh.scalar("SELECT COUNT(*) FROM stacklstm.validation_runs") == 2


@pytest.mark.parametrize(
    ("args", "files", "line"),
    [
        (
            ["ingest", "--tickers", "../etc"],
            {},
            "stacklstm-fin: error: ticker '../etc': not a valid symbol; expected letters and "
            "digits with '.', '-' or '=' between them and an optional leading '^' (e.g. AAPL, "
            "BRK-B, ^GSPC, EURUSD=X, VOD.L)",
        ),
        (
            ["ingest", "--source", "bloomberg"],
            {},
            "stacklstm-fin: error: argument --source: invalid choice: 'bloomberg' (choose from "
            "'yfinance', 'files', 'sample', 'synthetic')",
        ),
        (
            ["ingest", "--config", "c.toml"],
            {"c.toml": "[source]\nname = 'bloomberg'\n"},
            "stacklstm-fin: error: source.name: expected one of yfinance, files, sample, "
            "synthetic; got 'bloomberg'",
        ),
        (
            ["ingest", "--config", "c.toml"],
            {"c.toml": "[[models.candidates]]\nfamily = 'gru'\n"},
            "stacklstm-fin: error: models.candidates[0].name: required key is missing",
        ),
        (
            ["ingest", "--config", "c.toml", "--as-of", "2018-12-31"],
            {"c.toml": "[source]\nname = 'files'\n[source.files]\npath = 'nope.csv'\n"},
            "stacklstm-fin: error: source.files.path: file not found: {tmp}/nope.csv",
        ),
        (
            ["ingest", "--as-of", "31/12/2018"],
            {},
            "stacklstm-fin: error: --as-of: expected a date YYYY-MM-DD, got '31/12/2018'",
        ),
        (
            ["validate", "--as-of", "2018-12-31"],
            {},
            "stacklstm-fin: error: --as-of 2018-12-31: no raw snapshot at "
            "{tmp}/data/raw/sample/2018-12-31.parquet; run `stacklstm-fin ingest` first",
        ),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    tmp_path: Path, args: list[str], files: dict[str, str], line: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {"STACKLSTM_PATHS__DATA_ROOT": str(tmp_path / "data")}
    subprocess.run([sys.executable, "-m", "stacklstm_fin.cli", "init-db"], cwd=tmp_path,
                   env={**os.environ, **env}, check=True, capture_output=True)  # fmt: skip
    result = cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line.format(tmp=tmp_path)]
    assert "Traceback" not in result.stderr
