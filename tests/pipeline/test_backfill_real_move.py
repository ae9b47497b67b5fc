"""Issue 13's acceptance: a backfill from an empty warehouse survives a real +40% day.

A files-source universe of two real series (the sample's ^GSPC, and ^IXIC with
every price from one day on multiplied by 1.4, adj_close too: a real move that
persists); init-db, then a point-in-time backfill with retraining. The move is
loaded with a warning, and every ticker gets its forecasts every session.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from stacklstm_fin.config import load_config
from stacklstm_fin.pipeline.run import backfill
from stacklstm_fin.sources.sample import load_sample
from stacklstm_fin.warehouse import connect, migrate

pytestmark = pytest.mark.slow
JUMP = dt.date(2018, 3, 7)
START, END = dt.date(2018, 3, 1), dt.date(2018, 3, 16)
PRICES = ("open", "high", "low", "close", "adj_close")


def test_backfill_loads_a_real_40_percent_day_and_forecasts_every_ticker(tmp_path: Path) -> None:
    gspc = load_sample("^GSPC").filter(pl.col("session_date") >= dt.date(2012, 1, 1))
    ixic = load_sample("^IXIC").filter(pl.col("session_date") >= dt.date(2012, 1, 1))
    moved = ixic.with_columns(
        pl.when(pl.col("session_date") >= JUMP).then(pl.col(c) * 1.4).otherwise(pl.col(c))
        .alias(c) for c in PRICES
    ).with_columns(pl.lit("VOLA").alias("ticker"))  # fmt: skip
    path = tmp_path / "prices.csv"
    pl.concat([gspc, moved]).write_csv(path)
    cfg = load_config(None, env={}, overrides={
        "paths.data_root": str(tmp_path / "data"), "source.name": "files",
        "source.files.path": str(path), "universe.tickers": ["^GSPC", "VOLA"],
        "dataset.test_sessions": 120, "dataset.validation_sessions": 120,
        "forecast.volatility": "ewma",
        "models.candidates": [{"name": "random_walk", "family": "random_walk"},
                              {"name": "ewma", "family": "ewma", "span": 10}],
    })  # fmt: skip
    with connect(cfg.warehouse_url) as wh:
        migrate(wh)
        summary = backfill(cfg, wh, START, END, retrain_every=5)
        loaded = wh.query(
            "SELECT close FROM stacklstm.prices_daily WHERE ticker = 'VOLA' AND session_date = :d",
            {"d": JUMP},
        )
        reports = wh.query("SELECT report FROM stacklstm.validation_runs ORDER BY as_of")
        published = wh.query(
            "SELECT as_of_date, COUNT(DISTINCT ticker) AS tickers FROM stacklstm.forecasts "
            "GROUP BY as_of_date ORDER BY as_of_date"
        )
        quarantined = wh.scalar(
            "SELECT COUNT(*) FROM stacklstm.prices_quarantine q WHERE NOT EXISTS (SELECT 1 "
            "FROM stacklstm.prices_daily p "
            "WHERE p.ticker = q.ticker AND p.session_date = q.session_date)"
        )
    sessions = summary["sessions"]
    assert sessions == 12
    assert loaded.height == 1
    warnings = [w for r in reports["report"] for w in json.loads(r).get("warnings", [])]
    assert any("VOLA" in str(w) and "2018-03-07" in str(w) for w in warnings), warnings
    assert published.height == sessions and published["tickers"].to_list() == [2] * sessions
    assert quarantined == 0  # whatever was held for a night was loaded the next session
