"""Issue 13's acceptance: networks are published only where they beat the random walk.

A synthetic universe of 8 tickers, 4 with AR(1) phi = 0.3 (predictable) and
4 with phi = 0 (pure random walks); real training, selection and publishing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from stacklstm_fin.config import load_config
from stacklstm_fin.pipeline.run import run_all
from stacklstm_fin.warehouse import connect, migrate

pytestmark = pytest.mark.slow
AS_OF = dt.date(2016, 12, 30)
PREDICTABLE = ["SYN0001", "SYN0002", "SYN0003", "SYN0004"]
RANDOM = ["SYN0005", "SYN0006", "SYN0007", "SYN0008"]


def settings(root: Path, seed: int) -> dict[str, object]:
    return {
        "paths.data_root": str(root / "data"),
        "warehouse.url": f"duckdb:///{root / 'data' / 'warehouse.duckdb'}",
        "universe.tickers": PREDICTABLE + RANDOM,
        "source.name": "synthetic",
        "source.synthetic.start": "2005-01-03",
        "source.synthetic.seed": seed,
        "source.synthetic.phis": [0.3] * 4 + [0.0] * 4,
        "dataset.window": 10,
        "dataset.horizons": 1,
        "dataset.test_sessions": 1000,
        "dataset.validation_sessions": 250,
        "dataset.volatility_window": 10,
        "training.epochs": 4,
        "training.batch_size": 256,
        "training.learning_rate": 0.003,
        "selection.horizon": 1,
        "models.candidates": [
            {"name": "lstm", "family": "lstm", "units": [8]},
            {"name": "random_walk", "family": "random_walk"},
        ],
    }


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_network_published_exactly_for_the_predictable_tickers(tmp_path: Path, seed: int) -> None:
    cfg = load_config(None, env={}, overrides=settings(tmp_path, seed))
    with connect(cfg.warehouse_url) as wh:
        migrate(wh)
        result = run_all(cfg, wh, AS_OF)
        decisions = wh.query(
            "SELECT d.ticker, r.family, d.p_value, d.p_adjusted, d.ratio, d.reason "
            "FROM stacklstm.publication_decisions d JOIN stacklstm.model_registry r "
            "ON r.model_id = d.model_id WHERE d.as_of = :d ORDER BY d.ticker",
            {"d": AS_OF},
        )
        published = wh.query(
            "SELECT f.ticker, r.family FROM stacklstm.forecasts f JOIN stacklstm.model_registry r "
            "USING (model_id) WHERE f.as_of_date = :d ORDER BY f.ticker",
            {"d": AS_OF},
        )
    assert result["selection"]["champion"].startswith("lstm"), result["selection"]
    family = dict(zip(decisions["ticker"], decisions["family"], strict=True))
    assert {t: family[t] for t in PREDICTABLE} == dict.fromkeys(PREDICTABLE, "lstm"), decisions
    assert {t: family[t] for t in RANDOM} == dict.fromkeys(RANDOM, "random_walk"), decisions
    assert published.rows() == [(t, family[t]) for t in PREDICTABLE + RANDOM]
    network = decisions.filter(pl.col("family") == "lstm")
    assert (network["p_adjusted"] < 0.05).all() and (network["ratio"] < 1).all()
    assert network["reason"][0].startswith("lstm beats the random walk on SYN0001's 1000 test")
    assert "adjusted for 1 candidates and 8 tickers (holm)" in network["reason"][0]
