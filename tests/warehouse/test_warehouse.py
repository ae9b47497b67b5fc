from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time

import polars as pl
import pytest

from stacklstm_fin.exceptions import SchemaVersionError, WarehouseError, WarehouseLockedError
from stacklstm_fin.warehouse import check_schema, code_schema_version, connect, migrate, upsert
from stacklstm_fin.warehouse.migrations import load_migrations

UTC = dt.UTC
PRICES = "stacklstm.prices_daily"
VALUES = ["open", "high", "low", "close", "adj_close", "volume", "source"]


def prices(n: int, *, close: float = 100.0, stamp: int = 2020) -> pl.DataFrame:
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(n)]
    return pl.DataFrame(
        {
            "ticker": ["AAPL"] * n,
            "session_date": days,
            "open": [close] * n,
            "high": [close + 1] * n,
            "low": [close - 1] * n,
            "close": [close + i for i in range(n)],
            "adj_close": [close + i for i in range(n)],
            "volume": [1e6] * n,
            "source": ["test"] * n,
            "ingested_at": [dt.datetime(stamp, 1, 1, tzinfo=UTC)] * n,
        }
    )


def checksum(wh) -> tuple[int, str]:
    frame = wh.query(f"SELECT * FROM {PRICES} ORDER BY ticker, session_date")
    return frame.height, str(frame.hash_rows().to_list())


def test_migrate_is_idempotent_and_recorded(warehouse_url: str) -> None:
    with connect(warehouse_url) as wh:
        assert migrate(wh) == list(range(1, code_schema_version() + 1))
        assert migrate(wh) == []
        check_schema(wh)
        versions = wh.query("SELECT version FROM stacklstm.schema_migrations ORDER BY version")
        assert versions["version"].to_list() == [m.version for m in load_migrations()]
        for view in ("latest_forecasts", "model_leaderboard", "forecast_accuracy"):
            assert wh.query(f"SELECT * FROM stacklstm.{view}").height == 0


def test_refuses_schema_of_newer_version(warehouse_url: str) -> None:
    with connect(warehouse_url) as wh:
        migrate(wh)
        newer = code_schema_version() + 1
        wh.execute(
            "INSERT INTO stacklstm.schema_migrations VALUES (:v, 'future', 'x', CURRENT_TIMESTAMP)",
            {"v": newer},
        )
        with pytest.raises(SchemaVersionError) as err:
            check_schema(wh)
    assert str(err.value) == (
        f"warehouse schema is at version {newer}, newer than this code's "
        f"{code_schema_version()}; upgrade stacklstm-fin before writing to it"
    )


def test_refuses_migration_applied_with_other_contents(warehouse_url: str) -> None:
    with connect(warehouse_url) as wh:
        migrate(wh)
        wh.execute("UPDATE stacklstm.schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(SchemaVersionError, match="0001_core_tables was applied with other"):
            migrate(wh)


def test_uninitialised_warehouse_is_refused(warehouse_url: str) -> None:
    with connect(warehouse_url) as wh, pytest.raises(SchemaVersionError) as err:
        check_schema(wh)
    assert "run `stacklstm-fin init-db` first" in str(err.value)


def test_upsert_twice_changes_nothing(warehouse_url: str) -> None:
    with connect(warehouse_url) as wh:
        migrate(wh)
        upsert(wh, PRICES, prices(50), ["ticker", "session_date"], compare=VALUES)
        before = checksum(wh)
        # Same values, a later ingestion stamp: nothing is rewritten.
        upsert(wh, PRICES, prices(50, stamp=2024), ["ticker", "session_date"], compare=VALUES)
        assert checksum(wh) == before
        # A changed value is updated, with its new stamp.
        upsert(
            wh, PRICES, prices(1, close=7.0, stamp=2024), ["ticker", "session_date"], compare=VALUES
        )
        row = wh.query(f"SELECT close, ingested_at FROM {PRICES} ORDER BY session_date LIMIT 1")
        assert row["close"].to_list() == [7.0]
        assert row["ingested_at"].dt.year().to_list() == [2024]
        assert wh.scalar(f"SELECT COUNT(*) FROM {PRICES}") == 50


def test_upsert_refuses_repeated_keys(warehouse_url: str) -> None:
    frame = pl.concat([prices(3), prices(1)])
    with connect(warehouse_url) as wh:
        migrate(wh)
        with pytest.raises(ValueError, match=r"2 rows repeat a key \['ticker', 'session_date'\]"):
            upsert(wh, PRICES, frame, ["ticker", "session_date"])
        assert wh.scalar(f"SELECT COUNT(*) FROM {PRICES}") == 0


def test_failed_statement_rolls_back_the_whole_unit(warehouse_url: str) -> None:
    with connect(warehouse_url) as wh:
        migrate(wh)
        upsert(wh, PRICES, prices(10), ["ticker", "session_date"])
        before = checksum(wh)
        with pytest.raises(Exception), wh.transaction():  # noqa: B017 - engine-specific type
            upsert(wh, PRICES, prices(20, close=5.0), ["ticker", "session_date"])
            wh.execute("INSERT INTO stacklstm.prices_daily (ticker) VALUES ('X')")  # NOT NULL
        assert checksum(wh) == before


def _load_in_subprocess(url: str, fault: str | None) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import datetime as dt, polars as pl
        from stacklstm_fin import faults
        from stacklstm_fin.warehouse import connect, upsert
        from tests.warehouse.test_warehouse import prices
        with connect({url!r}) as wh, wh.transaction():
            upsert(wh, "stacklstm.prices_daily", prices(30, close=5.0), ["ticker", "session_date"])
            faults.point("test.between_tables")
            upsert(wh, "stacklstm.prices_daily", prices(40, close=6.0), ["ticker", "session_date"])
        """
    )
    env = {"STACKLSTM_FAULT_POINT": fault} if fault else {}
    import os

    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=str(__import__("pathlib").Path(__file__).parents[2]),
        timeout=120,
    )


def test_process_killed_mid_load_leaves_old_complete_set(warehouse_url: str) -> None:
    with connect(warehouse_url) as wh:
        migrate(wh)
        upsert(wh, PRICES, prices(10), ["ticker", "session_date"])
        before = checksum(wh)
    killed = _load_in_subprocess(warehouse_url, "test.between_tables")
    assert killed.returncode == -9, killed.stderr
    with connect(warehouse_url) as wh:
        assert checksum(wh) == before
    done = _load_in_subprocess(warehouse_url, None)
    assert done.returncode == 0, done.stderr
    with connect(warehouse_url) as wh:
        assert wh.scalar(f"SELECT COUNT(*) FROM {PRICES}") == 40


def test_duckdb_file_locked_by_another_process_fails_fast(duckdb_url: str) -> None:
    with connect(duckdb_url) as wh:
        migrate(wh)
    path = duckdb_url.removeprefix("duckdb:///")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({path!r}); print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError) as err:
            connect(duckdb_url, lock_timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert str(err.value) == (
        f"warehouse {path} is locked by process {holder.pid} (waited 0.5s); "
        "wait for it to finish, or use PostgreSQL for concurrent writers"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://x@y/z",
            "warehouse.url: expected duckdb:///PATH or postgresql://USER@HOST/DB, "
            "got 'mysql://x@y/z'",
        ),
        (
            "duckdb://file.db",
            "warehouse.url: expected duckdb:///relative.duckdb or "
            "duckdb:////abs.duckdb, got 'duckdb://file.db'",
        ),
    ],
)
def test_bad_url_is_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(WarehouseError) as err:
        connect(url)
    assert str(err.value) == message


def test_unreachable_postgres_names_host_and_hides_password() -> None:
    with pytest.raises(WarehouseError) as err:
        connect("postgresql://bob:secret@127.0.0.1:1/db")
    text = str(err.value)
    assert text.startswith(
        "warehouse postgresql://bob:***@127.0.0.1:1/db: cannot connect to PostgreSQL at 127.0.0.1:1"
    )
    assert "secret" not in text
