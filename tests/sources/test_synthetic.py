from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stacklstm_fin.config import Config, SourceConfig, SyntheticConfig
from stacklstm_fin.exceptions import ConfigError
from stacklstm_fin.schema import PRICE_SCHEMA
from stacklstm_fin.sources import get_source
from stacklstm_fin.sources.synthetic import (
    SyntheticSource,
    best_horizon_rmse,
    best_one_step_rmse,
    synthetic_tickers,
)

# exchange_calendars 4.13 calls Series.values on tz-aware data, which pandas 3.1
# deprecates (Pandas4Warning, from pandas' own frame) when a calendar is built.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:DeprecationWarning"
)

END = dt.date(2014, 12, 31)


def source(**synthetic: object) -> SyntheticSource:
    cfg = Config(source=SourceConfig(name="synthetic", synthetic=SyntheticConfig(**synthetic)))  # type: ignore[arg-type]
    made = get_source(cfg)
    assert isinstance(made, SyntheticSource)
    return made


def log_returns(prices: pl.DataFrame) -> pl.DataFrame:
    return prices.select(
        "ticker",
        "session_date",
        r=(pl.col("close").log() - pl.col("close").log().shift(1)).over("ticker"),
    ).drop_nulls()


def test_default_tickers_sessions_and_schema() -> None:
    prices = source(n_tickers=3).fetch([], None, dt.date(2012, 12, 31)).prices

    assert prices.schema == pl.Schema(PRICE_SCHEMA)
    assert synthetic_tickers(3) == ("SYN0001", "SYN0002", "SYN0003")
    per = prices.group_by("ticker", maintain_order=True).agg(
        pl.len(), pl.col("session_date").min().alias("first")
    )
    # XNYS 2012: 250 sessions (closed 29-30 October for Hurricane Sandy).
    assert per.rows() == [(t, 250, dt.date(2012, 1, 3)) for t in synthetic_tickers(3)]
    assert prices.filter(pl.col("session_date") == dt.date(2012, 10, 29)).height == 0


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = source(seed=7).fetch(["SYN0001"], None, END).prices
    b = source(seed=7).fetch(["SYN0001"], None, END).prices
    c = source(seed=8).fetch(["SYN0001"], None, END).prices

    assert_frame_equal(a, b, check_exact=True)
    assert not np.allclose(a["close"].to_numpy(), c["close"].to_numpy())


def test_a_ticker_path_does_not_depend_on_the_other_tickers_requested() -> None:
    many = [f"T{i:03d}" for i in range(300)] + ["AAPL"]  # spans two generation chunks
    together = source().fetch(many, None, dt.date(2012, 3, 30)).prices

    for ticker in ("T000", "T299", "AAPL"):
        alone = source().fetch([ticker], None, dt.date(2012, 3, 30)).prices
        assert_frame_equal(together.filter(pl.col("ticker") == ticker), alone, check_exact=True)


def test_a_later_end_only_appends_rows_and_start_only_filters() -> None:
    early = source().fetch(["SYN0001", "X"], None, dt.date(2013, 6, 28)).prices
    late = source().fetch(["SYN0001", "X"], None, END).prices
    window = source().fetch(["SYN0001", "X"], dt.date(2013, 1, 2), dt.date(2013, 6, 28)).prices

    assert late.height > early.height
    assert_frame_equal(
        late.filter(pl.col("session_date") <= dt.date(2013, 6, 28)), early, check_exact=True
    )
    assert_frame_equal(
        early.filter(pl.col("session_date") >= dt.date(2013, 1, 2)), window, check_exact=True
    )


def test_end_before_the_synthetic_start_gives_no_rows() -> None:
    result = source().fetch(["SYN0001"], None, dt.date(2011, 12, 30))

    assert result.prices.height == 0
    assert result.failures == {}


def test_bars_are_consistent() -> None:
    sigma = 0.01
    prices = source(n_tickers=5, sigma=sigma).fetch([], None, END).prices

    assert prices.select(pl.exclude("ticker", "session_date").is_finite().all()).row(0) == (
        (True,) * 6
    )
    assert prices.filter(pl.col("high") < pl.max_horizontal("open", "close")).height == 0
    assert prices.filter(pl.col("low") > pl.min_horizontal("open", "close")).height == 0
    assert prices["low"].min() > 0  # type: ignore[operator]
    assert prices["volume"].min() >= 1  # type: ignore[operator]
    assert (prices["adj_close"] == prices["close"]).all()
    gap = prices.select(
        (pl.col("open").log() - pl.col("close").log().shift(1)).over("ticker").abs()
    ).drop_nulls()
    assert gap.max().item() < 8 * 0.2 * sigma  # open near the previous close


def test_the_true_ar_predictor_reaches_the_best_one_step_rmse() -> None:
    cfg = Config(
        source=SourceConfig(name="synthetic", synthetic=SyntheticConfig(n_tickers=20, phi=0.3))
    )
    syn = cfg.source.synthetic
    prices = get_source(cfg).fetch([], None, dt.date(2024, 12, 31)).prices
    r = log_returns(prices).with_columns(prev=pl.col("r").shift(1).over("ticker")).drop_nulls()

    rmse = math.sqrt(((r["r"] - (syn.mu + syn.phi * r["prev"])) ** 2).mean())  # type: ignore[operator]
    naive = math.sqrt((r["r"] ** 2).mean())  # type: ignore[operator]

    assert best_one_step_rmse(cfg) == 0.01
    assert r.height > 60_000
    assert rmse == pytest.approx(best_one_step_rmse(cfg), rel=0.01)
    assert naive == pytest.approx(0.01 / math.sqrt(1 - 0.09), rel=0.01)  # the AR is learnable


def test_the_true_direct_predictor_reaches_the_best_horizon_rmse() -> None:
    cfg = Config(
        source=SourceConfig(name="synthetic", synthetic=SyntheticConfig(n_tickers=20, phi=0.5))
    )
    syn, h = cfg.source.synthetic, 3
    prices = get_source(cfg).fetch([], None, dt.date(2024, 12, 31)).prices
    r = log_returns(prices).with_columns(future=pl.col("r").shift(-h).over("ticker")).drop_nulls()
    intercept = syn.mu * sum(syn.phi**j for j in range(h))

    rmse = math.sqrt(((r["future"] - (intercept + syn.phi**h * r["r"])) ** 2).mean())  # type: ignore[operator]

    assert best_horizon_rmse(cfg, h) == pytest.approx(0.01 * math.sqrt(1 + 0.25 + 0.0625))
    assert rmse == pytest.approx(best_horizon_rmse(cfg, h), rel=0.01)


def test_best_horizon_rmse_of_one_is_sigma_and_a_bad_horizon_is_refused() -> None:
    cfg = Config()

    assert best_horizon_rmse(cfg, 1) == cfg.source.synthetic.sigma
    with pytest.raises(ConfigError) as err:
        best_horizon_rmse(cfg, 0)
    assert str(err.value) == "h: expected a horizon of at least 1 session, got 0"
