from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stacklstm_fin.config import Config, SourceConfig, SyntheticConfig, load_config
from stacklstm_fin.exceptions import ConfigError, PartialDownloadError
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


def test_without_the_per_ticker_keys_the_output_is_bit_identical() -> None:
    """Frozen before phis/sigmas/process existed (commit dea6608): same bytes today."""
    expected = "0716d273f83beb94a47a3f42fa3208012e4763bc18ba34c8c4d585257128d1fa"
    for made in (source(n_tickers=3), source(n_tickers=3, phis=(0.3,) * 3, sigmas=(0.01,) * 3)):
        prices = made.fetch([], None, dt.date(2013, 12, 31)).prices
        values = prices.select("open", "high", "low", "close", "volume").to_numpy().tobytes()
        assert (prices.height, hashlib.sha256(values).hexdigest()) == (1506, expected)


def test_per_ticker_phis_and_sigmas_mix_predictable_and_random_walk_tickers() -> None:
    syn = SyntheticConfig(n_tickers=4, phis=(0.5, 0.5, 0.0, 0.0), sigmas=(0.005, 0.03, 0.005, 0.03))
    cfg = Config(source=SourceConfig(name="synthetic", synthetic=syn))
    prices = get_source(cfg).fetch([], None, dt.date(2024, 12, 31)).prices
    r = log_returns(prices).with_columns(prev=pl.col("r").shift(1).over("ticker")).drop_nulls()
    for i, ticker in enumerate(synthetic_tickers(4)):
        one = r.filter(pl.col("ticker") == ticker)
        x, y = one["prev"].to_numpy(), one["r"].to_numpy()
        phi_hat = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))
        rmse = math.sqrt(float(np.mean((y - (syn.mu + syn.phis[i] * x)) ** 2)))
        assert phi_hat == pytest.approx(syn.phis[i], abs=0.05), ticker
        assert rmse == pytest.approx(best_one_step_rmse(cfg, ticker), rel=0.03), ticker
    assert [best_one_step_rmse(cfg, t) for t in synthetic_tickers(4)] == [0.005, 0.03, 0.005, 0.03]
    assert best_horizon_rmse(cfg, 2, "SYN0002") == pytest.approx(0.03 * math.sqrt(1.25))
    assert best_horizon_rmse(cfg, 2, "SYN0003") == 0.005  # a random walk: sigma at every h


def test_per_ticker_lists_cover_only_the_default_tickers() -> None:
    cfg = Config(source=SourceConfig(name="synthetic", synthetic=SyntheticConfig(
        n_tickers=2, phis=(0.3, 0.0))))  # fmt: skip
    with pytest.raises(PartialDownloadError) as err:
        get_source(cfg).fetch(["SYN0001", "AAPL"], None, END)
    assert err.value.failures == {
        "AAPL": "ticker 'AAPL': source.synthetic.phis/sigmas give values for SYN0001..SYN0002 "
        "only; request those tickers or drop the per-ticker lists"
    }
    with pytest.raises(ConfigError) as no_ticker:
        best_one_step_rmse(cfg)
    assert str(no_ticker.value) == (
        "ticker: source.synthetic.phis/sigmas set per-ticker values; pass the ticker, "
        "one of SYN0001..SYN0002"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("phis = [0.3, 0.0, 0.1]", "source.synthetic.phis: expected 8 values (one per ticker, "
         "n_tickers = 8), got 3"),
        ("n_tickers = 2\nsigmas = [0.01, 2.0]",
         "source.synthetic.sigmas[1]: expected a value in [1e-06, 1.0], got 2.0"),
        ("n_tickers = 2\nphis = [0.3, 'x']",
         "source.synthetic.phis[1]: expected a number, got 'x'"),
        ("process = 'arima'", "source.synthetic.process: expected one of ar, garch; got 'arima'"),
        ("process = 'garch'\nn_tickers = 1\nphis = [0.2]",
         "source.synthetic.phis: applies to process 'ar' only (GARCH has no AR term)"),
        ("process = 'garch'\ngarch_alpha = 0.2\ngarch_beta = 0.85",
         "source.synthetic.garch_beta: expected garch_alpha + garch_beta below 1 (a stationary "
         "GARCH), got 0.2 + 0.85"),
        ("regime_switch_date = 2016-01-04",
         "source.synthetic.regime_switch_date: applies to process 'garch' only"),
        ("process = 'garch'\nregime_scale = 2.0",
         "source.synthetic.regime_scale: set source.synthetic.regime_switch_date too (the "
         "session it applies from)"),
        ("process = 'garch'\nregime_switch_date = 'soon'",
         "source.synthetic.regime_switch_date: expected a date YYYY-MM-DD, got 'soon'"),
    ],
)  # fmt: skip
def test_bad_synthetic_config_is_one_error_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    file = tmp_path / "c.toml"
    file.write_text(f"[source.synthetic]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(file, env={})
    assert str(err.value) == message
