"""The three DAGs run through ``dag.test()`` on tiny synthetic data; the warehouse is checked.

Each run is a subprocess (see ``conftest.run_dag``) against a DuckDB warehouse
in ``tmp_path`` and the session's Airflow metadata database.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from stacklstm_fin.config import load_config
from stacklstm_fin.sources import get_source
from tests.airflow.conftest import (
    asset_events,
    init_warehouse,
    run_dag,
    subprocess_env,
    write_config,
)

pytestmark = pytest.mark.slow
AS_OF = "2018-12-31"
SCHEDULED = "2018-12-31T22:30:00+00:00"


def table(wh: Any, name: str, *, drop: tuple[str, ...] = ()) -> pl.DataFrame:
    frame = wh.query(f"SELECT * FROM stacklstm.{name}")
    frame = frame.drop([c for c in drop if c in frame.columns])
    return frame.sort(frame.columns)


def states(result: dict[str, Any]) -> dict[str, str]:
    return {task: info["state"] for task, info in result["tasks"].items()}


def run_events(airflow_db: Path, asset: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The extras of the events ``asset`` got from one DAG run."""
    return [e["extra"] for e in asset_events(airflow_db, asset) if e["run_id"] == result["run_id"]]


def files_config(folder: Path, prices: Path) -> Path:
    """The tiny config, reading prices from the ``files`` source at ``prices``."""
    config = write_config(folder)
    config.write_text(
        config.read_text().replace('name = "synthetic"', 'name = "files"')
        + f'\n[source.files]\npath = "{prices}"\n'
    )
    init_warehouse(config)
    return config


def write_prices(path: Path, config: Path, end: dt.date, tickers: tuple[str, ...]) -> pl.DataFrame:
    """Synthetic bars through ``end`` as a CSV for the ``files`` source."""
    cfg = load_config(config, env={})
    frame = get_source(cfg).fetch(tickers, None, end).prices
    frame.write_csv(path)
    return frame


def test_market_data_is_idempotent_per_logical_date(
    airflow_db: Path, tiny_config: Path, warehouse_of: Any
) -> None:
    first = run_dag(tiny_config, "stacklstm_market_data", logical_date=SCHEDULED)
    assert first["state"] == "success", first["output"][-4000:]
    assert "as_of 2018-12-31 (from logical date, a XNYS session)" in first["output"]
    with warehouse_of(tiny_config) as wh:
        runs = table(wh, "validation_runs")
        before = {name: table(wh, name) for name in ("prices_daily", "validation_runs",
                                                     "prices_quarantine")}  # fmt: skip
        last = wh.query(
            "SELECT ticker, MAX(session_date) AS last FROM stacklstm.prices_daily GROUP BY ticker"
        ).sort("ticker")
    assert runs.select("as_of", "source", "success", "rows_quarantined").rows() == [
        (dt.date(2018, 12, 31), "synthetic", True, 0)
    ]
    assert runs["rows_loaded"][0] == before["prices_daily"].height > 0
    assert last.rows() == [("SYN0001", dt.date(2018, 12, 31)), ("SYN0002", dt.date(2018, 12, 31))]
    assert run_events(airflow_db, "stacklstm.prices_daily", first) == [{"as_of": AS_OF}]

    again = run_dag(tiny_config, "stacklstm_market_data", logical_date=SCHEDULED)
    assert again["state"] == "success", again["output"][-4000:]
    # A session loaded before is no new session: no prices event, so no second nightly.
    assert states(again) == {"extract": "success", "validate_and_load": "success",
                             "announce": "skipped"}  # fmt: skip
    assert "every ticker had its bar before this run" in again["output"]
    assert run_events(airflow_db, "stacklstm.prices_daily", again) == []
    # Christmas 2018: an exchange holiday loads nothing, announces nothing, and says so.
    holiday = run_dag(tiny_config, "stacklstm_market_data", logical_date="2018-12-25T22:30:00Z")
    assert holiday["state"] == "success", holiday["output"][-4000:]
    assert states(holiday) == {"extract": "skipped", "validate_and_load": "skipped",
                               "announce": "skipped"}  # fmt: skip
    assert (
        "as_of 2018-12-25 (from logical date) is not a XNYS session (an exchange holiday or a "
        "weekend): nothing to load, no prices event, no nightly" in holiday["output"]
    )
    assert run_events(airflow_db, "stacklstm.prices_daily", holiday) == []
    with warehouse_of(tiny_config) as wh:
        for name, frame in before.items():
            assert table(wh, name).equals(frame), name


def test_nightly_retrain_publishes_forecasts_for_the_as_of(
    airflow_db: Path, tiny_config: Path, warehouse_of: Any
) -> None:
    market = run_dag(tiny_config, "stacklstm_market_data", logical_date=SCHEDULED)
    assert market["state"] == "success", market["output"][-4000:]
    # No logical date, as an asset-triggered or manual run: the as-of comes from the conf.
    nightly = run_dag(tiny_config, "stacklstm_nightly_retrain", conf={"as_of": AS_OF})
    assert nightly["state"] == "success", nightly["output"][-4000:]
    assert states(nightly) == {
        "plan": "success",
        "build_dataset[0]": "success",
        "train[0]": "success",
        "train[1]": "success",
        "train[2]": "success",
        "select_export_promote": "success",
        "forecast_publish": "success",
        "write_report": "success",
        "more_sessions_pending": "success",
        "follow_up": "skipped",  # no session left without forecasts
    }
    assert "as_of 2018-12-31 (from conf as_of): re-running that session" in nightly["output"]
    reports = sorted(p.name for p in (tiny_config.parent / "data" / "reports").glob("*.html"))
    assert reports == ["stacklstm-report-2018-12-31.html"]
    labels = sorted(i["rendered_map_index"] for k, i in nightly["tasks"].items() if "train[" in k)
    assert labels == ["2018-12-31 ewma", "2018-12-31 lstm", "2018-12-31 random_walk"]
    with warehouse_of(tiny_config) as wh:
        registry = table(wh, "model_registry")
        forecasts = table(wh, "forecasts")
    assert sorted(registry["candidate"].to_list()) == ["ewma", "lstm", "random_walk"]
    champions = registry.filter(pl.col("status") == "champion")
    assert champions.height == 1
    champion = champions.row(0, named=True)
    assert champion["as_of"] == dt.date(2018, 12, 31)
    assert champion["onnx_sha256"] and champion["parity_max_abs_diff"] <= 1e-4
    assert forecasts.select("ticker", "as_of_date", "horizon", "target_date").rows() == [
        ("SYN0001", dt.date(2018, 12, 31), 1, dt.date(2019, 1, 2)),
        ("SYN0001", dt.date(2018, 12, 31), 2, dt.date(2019, 1, 3)),
        ("SYN0002", dt.date(2018, 12, 31), 1, dt.date(2019, 1, 2)),
        ("SYN0002", dt.date(2018, 12, 31), 2, dt.date(2019, 1, 3)),
    ]
    assert set(forecasts["model_id"]) == {champion["model_id"]}
    assert (forecasts["lower_close"] <= forecasts["yhat_close"]).all()
    assert (forecasts["yhat_close"] <= forecasts["upper_close"]).all()
    assert run_events(airflow_db, "stacklstm.forecasts", nightly) == [
        {"as_of": AS_OF, "sessions": [AS_OF], "model_id": champion["model_id"]}
    ]

    # A second run changes no published row (published_at included).
    again = run_dag(tiny_config, "stacklstm_nightly_retrain", conf={"as_of": AS_OF})
    assert again["state"] == "success", again["output"][-4000:]
    with warehouse_of(tiny_config) as wh:
        assert table(wh, "forecasts").equals(forecasts)
        assert table(wh, "model_registry").drop("promoted_at").equals(registry.drop("promoted_at"))


def test_nightly_without_an_as_of_fails_at_once(airflow_db: Path, tiny_config: Path) -> None:
    result = run_dag(tiny_config, "stacklstm_nightly_retrain", logical_date=None)
    assert result["state"] == "failed"
    build = result["tasks"]["plan"]
    assert (build["state"], build["try_number"]) == ("failed", 1)  # not retried
    assert result["tasks"]["forecast_publish"]["state"] == "upstream_failed"
    assert "as_of: this run has no logical date and no triggering asset event" in result["output"]


def test_bad_data_day_fails_validation_and_publishes_nothing(
    airflow_db: Path, tmp_path: Path, warehouse_of: Any
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    frame = write_prices(
        good, write_config(tmp_path), dt.date(2018, 12, 28), ("SYN0001", "SYN0002")
    )
    config = files_config(tmp_path, good)
    market = run_dag(config, "stacklstm_market_data", logical_date="2018-12-28T22:30:00Z")
    assert market["state"] == "success", market["output"][-4000:]
    nightly = run_dag(config, "stacklstm_nightly_retrain", conf={"as_of": "2018-12-28"})
    assert nightly["state"] == "success", nightly["output"][-4000:]
    with warehouse_of(config) as wh:
        forecasts_before = table(wh, "forecasts")
        prices_before = table(wh, "prices_daily")
    assert forecasts_before.height == 4

    # The next day's file has negative closes for every ticker.
    day = frame.filter(pl.col("session_date") == dt.date(2018, 12, 28)).with_columns(
        pl.lit(dt.date(2018, 12, 31)).alias("session_date"), (-pl.col("close")).alias("close")
    )
    pl.concat([frame, day]).write_csv(bad)
    config.write_text(config.read_text().replace(str(good), str(bad)))
    failed = run_dag(config, "stacklstm_market_data", logical_date=SCHEDULED)
    assert failed["state"] == "failed"
    load = failed["tasks"]["validate_and_load"]
    assert (load["state"], load["try_number"]) == ("failed", 1)  # a retry would not help
    assert "validation FAILED" in failed["output"]
    assert "nothing loaded" in failed["output"]
    with warehouse_of(config) as wh:
        runs = table(wh, "validation_runs").sort("as_of")
        assert table(wh, "prices_daily").equals(prices_before)
        assert table(wh, "forecasts").equals(forecasts_before)
        quarantined = table(wh, "prices_quarantine")
    assert runs.select("as_of", "success", "rows_loaded").rows() == [
        (dt.date(2018, 12, 28), True, prices_before.height),
        (dt.date(2018, 12, 31), False, 0),
    ]
    assert sorted(quarantined["ticker"].to_list()) == ["SYN0001", "SYN0002"]
    assert run_events(airflow_db, "stacklstm.prices_daily", failed) == []


def test_vendor_failure_is_retried_then_reported(
    airflow_db: Path, tmp_path: Path, warehouse_of: Any
) -> None:
    prices = tmp_path / "one_ticker.csv"
    write_prices(prices, write_config(tmp_path), dt.date(2018, 12, 31), ("SYN0001",))
    config = files_config(tmp_path, prices)
    result = run_dag(config, "stacklstm_market_data", logical_date=SCHEDULED, retries=1)
    assert result["state"] == "failed"
    assert result["tasks"]["extract"] == {"state": "success", "try_number": 2,
                                          "rendered_map_index": None}  # fmt: skip
    assert result["tasks"]["validate_and_load"]["state"] == "failed"
    retried = "extract as of 2018-12-31: 1 ticker(s) failed at files (SYN0002: no rows in"
    assert retried in result["output"]
    assert (
        "1 ticker(s) failed at files after every retry (SYN0002: no rows in "
        f"{prices}); clear `extract` to fetch them again" in result["output"]
    )
    with warehouse_of(config) as wh:
        loaded = wh.query("SELECT DISTINCT ticker FROM stacklstm.prices_daily")
        runs = table(wh, "validation_runs")
    assert loaded["ticker"].to_list() == ["SYN0001"]
    assert runs["success"].to_list() == [True]
    assert run_events(airflow_db, "stacklstm.prices_daily", result) == []


def test_backfill_forwards_and_backwards_give_identical_tables(
    airflow_db: Path, tmp_path: Path, warehouse_of: Any
) -> None:
    params = {"start": "2018-12-17", "end": AS_OF, "tickers": None, "retrain_every": 5}
    tables = {}
    for direction in ("forwards", "backwards"):
        folder = tmp_path / direction
        folder.mkdir()
        config = write_config(folder)
        init_warehouse(config)
        result = run_dag(config, "stacklstm_backfill",
                         conf={**params, "backwards": direction == "backwards"})  # fmt: skip
        assert result["state"] == "success", result["output"][-4000:]
        with warehouse_of(config) as wh:
            tables[direction] = {
                "forecasts": table(wh, "forecasts", drop=("published_at",)),
                "prices_daily": table(wh, "prices_daily", drop=("ingested_at",)),
                "model_registry": table(wh, "model_registry").select(
                    "model_id", "as_of", "status", "onnx_sha256"
                ),
            }
    forwards = tables["forwards"]
    sessions = forwards["forecasts"]["as_of_date"].unique().sort().to_list()
    assert len(sessions) == 10 and sessions[0] == dt.date(2018, 12, 17)  # no 12-25
    assert forwards["forecasts"].height == 10 * 2 * 2
    assert sorted(forwards["model_registry"]["as_of"].unique().to_list()) == [
        dt.date(2018, 12, 17), dt.date(2018, 12, 24),
    ]  # fmt: skip
    for name, frame in forwards.items():
        other = tables["backwards"][name]
        only_forwards = frame.join(other, how="anti", on=frame.columns, nulls_equal=True)
        assert other.equals(frame), f"{name}: rows only in the forwards run:\n{only_forwards}"


@pytest.mark.integration
def test_airflow_native_backfill_accepts_the_market_data_dag(airflow_db: Path) -> None:
    airflow = str(Path(sys.executable).parent / "airflow")
    env = subprocess_env()
    done = subprocess.run([airflow, "dags", "reserialize"], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run(
        [airflow, "backfill", "create", "--dag-id", "stacklstm_market_data", "--from-date",
         "2018-12-24", "--to-date", "2019-01-01", "--reprocess-behavior", "completed",
         "--dry-run"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # Every weekday at 22:30 UTC; the holiday's run (12-25) skips: no load, no event.
    runs = [line.split("|")[1].strip() for line in done.stdout.splitlines()
            if line.startswith("| 2018")]  # fmt: skip
    assert runs == [
        "2018-12-24 22:30:00+00:00",
        "2018-12-25 22:30:00+00:00",
        "2018-12-26 22:30:00+00:00",
        "2018-12-27 22:30:00+00:00",
        "2018-12-28 22:30:00+00:00",
        "2018-12-31 22:30:00+00:00",
    ]
