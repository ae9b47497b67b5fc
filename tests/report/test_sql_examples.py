"""Every query in sql/examples runs on DuckDB and PostgreSQL with the documented columns."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stacklstm_fin.report import collect
from stacklstm_fin.warehouse import connect
from tests.report.conftest import FIRST, HORIZONS, LAST, SWITCH, TICKERS
from tests.report.helpers import EXAMPLES, run_sql_file

EXPECTED_COLUMNS = {
    "latest_forecasts_per_ticker.sql": [
        "ticker", "as_of_date", "horizon", "target_date", "base_close", "yhat_close",
        "expected_change", "lower_close", "upper_close", "interval_width", "interval_level",
        "candidate", "family", "model_id", "published_at",
    ],
    "leaderboard_history.sql": [
        "as_of", "rank", "candidate", "family", "promoted", "status", "test_rmse",
        "rmse_vs_random_walk", "test_mase", "test_directional_accuracy",
        "dm_pvalue_vs_random_walk", "model_id",
    ],
    "accuracy_by_horizon.sql": [
        "family", "horizon", "forecasts", "first_target", "last_target", "rmse_pct", "mae_pct",
        "bias_pct", "directional_forecasts", "hit_rate", "coverage", "nominal_level",
        "mean_interval_score",
    ],
    "interval_coverage.sql": [
        "ticker", "horizon", "interval_level", "forecasts", "inside", "below", "above",
        "coverage", "coverage_gap", "coverage_low", "coverage_high", "mean_interval_score",
        "mean_width",
    ],
    "forecast_states.sql": [
        "ticker", "horizon", "state", "forecasts", "first_target", "last_target",
        "example_reason",
    ],
    "champion_changes.sql": [
        "period", "first_published", "last_published", "sessions", "candidate", "family",
        "trained_as_of", "previous_candidate", "current_status", "model_id",
    ],
    "forecasts_vs_realized.sql": [
        "target_date", "ticker", "horizon", "as_of_date", "family", "base_close", "yhat_close",
        "lower_close", "upper_close", "interval_level", "actual_close", "error", "pct_error",
        "direction_hit", "outcome", "model_id",
    ],
}  # fmt: skip


def test_every_example_is_tested_and_starts_with_a_header_comment() -> None:
    files = sorted(p.name for p in EXAMPLES.glob("*.sql"))
    assert files == sorted(EXPECTED_COLUMNS)
    for name in files:
        lines = (EXAMPLES / name).read_text("utf-8").splitlines()
        header = [line for line in lines[:4] if line.startswith("-- ")]
        assert len(header) >= 2, f"{name}: expected a header comment of several lines"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_COLUMNS))
def test_example_runs_with_its_columns(analyst_warehouse: str, name: str) -> None:
    frame = run_sql_file(analyst_warehouse, EXAMPLES / name)
    assert frame.columns == EXPECTED_COLUMNS[name]
    assert frame.height > 0


@pytest.mark.slow
def test_latest_forecasts_are_the_newest_as_of(analyst_warehouse: str) -> None:
    frame = run_sql_file(analyst_warehouse, EXAMPLES / "latest_forecasts_per_ticker.sql")
    assert frame.height == len(TICKERS) * HORIZONS
    assert frame["as_of_date"].unique().to_list() == [LAST]
    assert frame.select("ticker", "horizon").rows() == [
        (t, h) for t in TICKERS for h in range(1, HORIZONS + 1)
    ]
    assert frame["family"].unique().to_list() == ["lstm"]
    expected = frame["yhat_close"] / frame["base_close"] - 1
    assert (frame["expected_change"] - expected).abs().max() < 1e-12


@pytest.mark.slow
def test_leaderboard_history_ranks_each_as_of_against_its_random_walk(
    analyst_warehouse: str,
) -> None:
    frame = run_sql_file(analyst_warehouse, EXAMPLES / "leaderboard_history.sql")
    as_ofs = frame["as_of"].unique(maintain_order=True).to_list()
    assert as_ofs == [dt.date(2016, 12, 29), SWITCH, FIRST]  # newest first
    assert frame.filter(pl.col("as_of") == FIRST)["candidate"].sort().to_list() == [
        "ewma",
        "random_walk",
    ]
    rw = frame.filter(pl.col("family") == "random_walk")
    assert rw["rmse_vs_random_walk"].abs().max() < 1e-12
    for as_of in as_ofs:
        ranks = frame.filter(pl.col("as_of") == as_of)["rank"].to_list()
        assert ranks == sorted(ranks) and ranks[0] == 1
    # The LSTM took over at the switch: it beat the random walk there.
    lstm = frame.filter((pl.col("as_of") == SWITCH) & (pl.col("family") == "lstm")).row(
        0, named=True
    )
    assert (lstm["rank"], lstm["promoted"]) == (1, 1)
    assert lstm["rmse_vs_random_walk"] < 0


@pytest.mark.slow
def test_accuracy_by_horizon_matches_the_report(analyst_warehouse: str) -> None:
    sql = run_sql_file(analyst_warehouse, EXAMPLES / "accuracy_by_horizon.sql")
    with connect(analyst_warehouse, read_only=True) as wh:
        summary = collect(wh).accuracy_summary
    assert sql.select("family", "horizon").rows() == [
        (f, h) for f in ("lstm", "random_walk") for h in range(1, HORIZONS + 1)
    ]
    assert_frame_equal(
        sql.select("family", "horizon", "forecasts", "rmse_pct", "mae_pct",
                   "directional_forecasts", "hit_rate", "coverage", "nominal_level"),
        summary.select("family", "horizon", "forecasts", "rmse_pct", "mae_pct",
                       "directional_forecasts", "hit_rate", "coverage", "nominal_level"),
        check_dtypes=False,
        rel_tol=1e-9,
    )  # fmt: skip
    rw = sql.filter(pl.col("family") == "random_walk")
    assert rw["directional_forecasts"].to_list() == [0] * HORIZONS
    assert rw["hit_rate"].null_count() == HORIZONS
    assert sql["last_target"].max() == LAST


@pytest.mark.slow
def test_interval_coverage_adds_up(analyst_warehouse: str) -> None:
    frame = run_sql_file(analyst_warehouse, EXAMPLES / "interval_coverage.sql")
    assert frame["ticker"].unique().sort().to_list() == ["*", *TICKERS]
    assert (frame["inside"] + frame["below"] + frame["above"] == frame["forecasts"]).all()
    pooled = frame.filter(pl.col("ticker") == "*").sort("horizon")
    per_ticker = (
        frame.filter(pl.col("ticker") != "*").group_by("horizon").agg(pl.col("forecasts").sum())
    )
    assert pooled["forecasts"].to_list() == per_ticker.sort("horizon")["forecasts"].to_list()
    gap = frame["coverage"] - frame["interval_level"] - frame["coverage_gap"]
    assert gap.abs().max() < 1e-12


@pytest.mark.slow
def test_champion_changes_show_the_takeover(analyst_warehouse: str) -> None:
    frame = run_sql_file(analyst_warehouse, EXAMPLES / "champion_changes.sql")
    assert frame["period"].to_list() == list(range(1, frame.height + 1))
    first = frame.row(0, named=True)
    assert (first["candidate"], first["first_published"], first["previous_candidate"]) == (
        "random_walk",
        FIRST,
        None,
    )
    second = frame.row(1, named=True)
    assert (second["candidate"], second["first_published"], second["previous_candidate"]) == (
        "lstm",
        SWITCH,
        "random_walk",
    )
    assert frame["last_published"][-1] == LAST
    assert frame["current_status"][-1] == "champion"
    with connect(analyst_warehouse, read_only=True) as wh:
        sessions = wh.scalar("SELECT COUNT(DISTINCT as_of_date) FROM stacklstm.forecasts")
    assert frame["sessions"].sum() == sessions


@pytest.mark.slow
def test_forecasts_vs_realized_marks_pending_outcomes(analyst_warehouse: str) -> None:
    frame = run_sql_file(analyst_warehouse, EXAMPLES / "forecasts_vs_realized.sql")
    last_target = frame["target_date"].max()
    assert frame["target_date"].min() >= last_target - dt.timedelta(days=30)
    assert set(frame["outcome"].unique().to_list()) <= {"inside", "below", "above", "pending"}
    pending = frame.filter(pl.col("outcome") == "pending")
    assert pending.height > 0
    assert (pending["target_date"] > LAST).all()
    assert pending["actual_close"].null_count() == pending.height
    realized = frame.filter(pl.col("outcome") != "pending")
    assert (realized["target_date"] <= LAST).all()
    inside = realized.filter(pl.col("outcome") == "inside")
    assert (inside["actual_close"] >= inside["lower_close"]).all()
    rw = realized.filter(pl.col("family") == "random_walk")
    assert rw["direction_hit"].null_count() == rw.height


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(EXPECTED_COLUMNS))
def test_example_gives_the_same_rows_on_both_engines(
    analyst_duckdb: str, analyst_postgres: str, name: str
) -> None:
    duck = run_sql_file(analyst_duckdb, EXAMPLES / name)
    pg = run_sql_file(analyst_postgres, EXAMPLES / name)
    wall_clock = [c for c in ("published_at",) if c in duck.columns]
    assert_frame_equal(duck.drop(wall_clock), pg.drop(wall_clock), check_dtypes=False,
                       rel_tol=1e-9)  # fmt: skip
