"""Warehouses with real content for the analyst tests, made once per package.

The pipeline backfills a small synthetic universe (AR(1) with phi = 0.6, so a
network can beat the random walk) in two steps: November 2016 with the
baselines only (the random walk is champion), then December with an LSTM as
well (it takes over, and is published for every ticker on the evidence of
its 250 test sessions). That gives the views realized outcomes of two model
families, a champion change and forecasts still pending at the end.
The DuckDB warehouse is built first; the PostgreSQL one runs the same
backfill on the same data root, so it reuses the trained candidates and costs
little more than ingest and publish.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_ADMIN_URL, _pg_available

TICKERS = ["SYN0001", "SYN0002", "SYN0003"]
FIRST, SWITCH, LAST = dt.date(2016, 11, 1), dt.date(2016, 11, 30), dt.date(2016, 12, 30)
HORIZONS = 3
BASELINES = [
    {"name": "random_walk", "family": "random_walk"},
    {"name": "ewma", "family": "ewma", "span": 10},
]
CANDIDATES = [{"name": "lstm", "family": "lstm", "units": [8]}, *BASELINES]
SETTINGS: dict[str, Any] = {
    "source.name": "synthetic",
    "universe.tickers": TICKERS,
    "source.synthetic.start": "2014-01-02",
    "source.synthetic.phi": 0.6,
    "dataset.window": 8,
    "dataset.horizons": HORIZONS,
    # 250 test sessions: enough evidence for the per-ticker Diebold-Mariano test
    # (ADR 0008) to publish the LSTM (p 0.001-0.03); with 60 (p 0.03-0.06, Holm
    # 0.08-0.11) the random walk stayed published everywhere.
    "dataset.test_sessions": 250,
    "dataset.validation_sessions": 60,
    "dataset.volatility_window": 10,
    "training.epochs": 6,
    "training.batch_size": 128,
    "training.learning_rate": 0.003,
}


def analyst_config(url: str, data_root: Path, candidates: list[dict[str, Any]]) -> Any:
    from stacklstm_fin.config import load_config

    overrides = {
        **SETTINGS,
        "paths.data_root": str(data_root),
        "warehouse.url": url,
        "models.candidates": candidates,
    }
    return load_config(None, env={}, overrides=overrides)


def build_warehouse(url: str, data_root: Path) -> None:
    from stacklstm_fin.pipeline.run import backfill
    from stacklstm_fin.warehouse import connect, migrate

    before = analyst_config(url, data_root, BASELINES)
    after = analyst_config(url, data_root, CANDIDATES)
    with connect(url) as wh:
        migrate(wh)
        backfill(before, wh, FIRST, SWITCH - dt.timedelta(days=1), retrain_every=20)
        backfill(after, wh, SWITCH, LAST, retrain_every=20)
        families = wh.query(
            "SELECT DISTINCT family FROM stacklstm.forecast_accuracy ORDER BY family"
        )["family"].to_list()
    # The tests below read two families; say so plainly if training changed that.
    assert families == ["lstm", "random_walk"], f"backfill published families {families}"


@pytest.fixture(scope="package")
def analyst_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("analyst") / "data"


@pytest.fixture(scope="package")
def analyst_duckdb(analyst_data_root: Path) -> str:
    url = f"duckdb:///{analyst_data_root.parent / 'warehouse.duckdb'}"
    build_warehouse(url, analyst_data_root)
    return url


@pytest.fixture(scope="package")
def analyst_postgres(analyst_duckdb: str, analyst_data_root: Path) -> Iterator[str]:
    reason = _pg_available()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    import psycopg

    name = f"stacklstm_analyst_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        build_warehouse(url, analyst_data_root)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def analyst_warehouse(request: pytest.FixtureRequest) -> str:
    """The URL of a backfilled warehouse, once per engine (read it, do not change it)."""
    if request.param == "duckdb":
        return request.getfixturevalue("analyst_duckdb")
    return request.getfixturevalue("analyst_postgres")
