"""One nightly's work per session, and no work without fresh prices, through ``dag.test()``.

- A burst of five sessions loaded by five market-data runs, then ONE nightly
  run (as when one asset-triggered run consumes all five events, or when
  Airflow created no run for some of them): forecasts for all five sessions,
  a champion decision for each, in date order.
- Prices that end before the as-of (the sample data ends 2018-12-31; a run on
  a later session): no prices event, and a nightly for that as-of fails in
  ``plan``, before any training: no champion, no forecast.
- A backfill range over the limit fails in ``plan``, naming the split.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.airflow.conftest import init_warehouse, run_dag, write_config
from tests.airflow.test_dags import files_config, run_events, states, table, write_prices

pytestmark = pytest.mark.slow
BURST = ["2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28", "2018-12-31"]


def test_a_burst_of_five_sessions_gets_forecasts_for_every_one(
    airflow_db: Path, tmp_path: Path, warehouse_of: Any
) -> None:
    config = write_config(tmp_path, "\n[airflow]\nmax_sessions_per_run = 5\n")
    init_warehouse(config)
    for day in BURST:
        market = run_dag(config, "stacklstm_market_data", logical_date=f"{day}T22:30:00+00:00")
        assert market["state"] == "success", market["output"][-4000:]
        assert run_events(airflow_db, "stacklstm.prices_daily", market) == [{"as_of": day}]
    # One nightly for the whole burst; its bound is the newest session (as the newest
    # event of a batch, or the morning sweep's logical date, would give it).
    started = time.monotonic()
    nightly = run_dag(config, "stacklstm_nightly_retrain", logical_date="2018-12-31T23:00:00Z")
    seconds = time.monotonic() - started
    assert nightly["state"] == "success", nightly["output"][-4000:]
    assert (
        "5 session(s) need forecasts: 2018-12-24, 2018-12-26, 2018-12-27, 2018-12-28, 2018-12-31"
        in nightly["output"]
    )
    assert sum(1 for t in nightly["tasks"] if t.startswith("build_dataset[")) == 5
    assert sum(1 for t in nightly["tasks"] if t.startswith("train[")) == 5 * 3
    done = states(nightly)
    assert done.pop("follow_up") == "skipped"  # nothing left for a follow-up run
    assert set(done.values()) == {"success"}
    with warehouse_of(config) as wh:
        forecasts = table(wh, "forecasts")
        registry = table(wh, "model_registry")
    per_session = forecasts.group_by("as_of_date").agg(pl.len().alias("rows")).sort("as_of_date")
    assert [d.isoformat() for d in per_session["as_of_date"]] == BURST
    assert per_session["rows"].to_list() == [2 * 2] * 5  # 2 tickers x 2 horizons
    assert sorted(d.isoformat() for d in registry["as_of"].unique()) == BURST
    assert run_events(airflow_db, "stacklstm.forecasts", nightly) == [
        {"as_of": "2018-12-31", "sessions": BURST, "model_id": champion_of(registry)}
    ]
    print(f"burst nightly: 5 sessions in {seconds:.0f} s")

    # Nothing left: the next run (another event, or the sweep) skips and says why.
    again = run_dag(config, "stacklstm_nightly_retrain", logical_date="2019-01-01T02:30:00Z")
    assert again["state"] == "success", again["output"][-4000:]
    assert again["tasks"]["plan"]["state"] == "skipped"
    assert (
        "every validated session has forecasts (newest validated session 2018-12-31)"
        in (again["output"])
    )
    with warehouse_of(config) as wh:
        assert table(wh, "forecasts").equals(forecasts)


def champion_of(registry: pl.DataFrame) -> str:
    """The event names the champion of the run's sessions (one here: the random walk kept its
    place, each session's forecasts come from the model its publication decision names)."""
    (champion,) = registry.filter(pl.col("status") == "champion")["model_id"].to_list()
    return str(champion)


def test_no_prices_on_the_as_of_means_no_event_and_no_champion(
    airflow_db: Path, tmp_path: Path, warehouse_of: Any
) -> None:
    prices = tmp_path / "prices.csv"
    # The data end on 2018-12-28, like the sample data ending before the run's session.
    write_prices(prices, write_config(tmp_path), dt.date(2018, 12, 28), ("SYN0001", "SYN0002"))
    config = files_config(tmp_path, prices)
    market = run_dag(config, "stacklstm_market_data", logical_date="2018-12-31T22:30:00Z")
    assert market["state"] == "failed"
    assert states(market) == {"extract": "success", "validate_and_load": "success",
                              "announce": "failed"}  # fmt: skip
    assert market["tasks"]["announce"]["try_number"] == 1  # a retry would not bring the bars
    assert (
        "as of 2018-12-31: no price on that session for SYN0001, SYN0002 (newest session with "
        "every ticker: 2018-12-28)" in market["output"]
    )
    assert run_events(airflow_db, "stacklstm.prices_daily", market) == []

    # Even asked by hand for that as-of, the nightly stops before training.
    nightly = run_dag(config, "stacklstm_nightly_retrain", conf={"as_of": "2018-12-31"})
    assert nightly["state"] == "failed"
    assert (nightly["tasks"]["plan"]["state"], nightly["tasks"]["plan"]["try_number"]) == (
        "failed", 1,
    )  # fmt: skip
    assert not any(t.startswith("train[") for t in nightly["tasks"])
    with warehouse_of(config) as wh:
        assert table(wh, "model_registry").height == 0
        assert table(wh, "forecasts").height == 0
        loaded = wh.scalar("SELECT MAX(session_date) FROM stacklstm.prices_daily")
    assert loaded == dt.date(2018, 12, 28)


def test_a_backfill_range_over_the_limit_fails_in_plan(airflow_db: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, "\n[airflow]\nmax_backfill_sessions = 3\n")
    init_warehouse(config)
    result = run_dag(config, "stacklstm_backfill",
                     conf={"start": "2018-12-24", "end": "2018-12-31"})  # fmt: skip
    assert result["state"] == "failed"
    assert (result["tasks"]["plan"]["state"], result["tasks"]["plan"]["try_number"]) == (
        "failed", 1,
    )  # fmt: skip
    assert result["tasks"]["ingest_sessions"]["state"] == "upstream_failed"
    assert (
        "start/end: 5 sessions (2018-12-24 .. 2018-12-31), more than "
        "airflow.max_backfill_sessions = 3 per run; run 2018-12-24 .. 2018-12-27 first"
        in result["output"]
    )
