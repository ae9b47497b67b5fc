"""The synthetic GARCH(1, 1) source and its true conditional distribution (issue 12.6)."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stacklstm_fin.config import Config, SourceConfig, SyntheticConfig
from stacklstm_fin.exceptions import ConfigError
from stacklstm_fin.schema import PRICE_SCHEMA
from stacklstm_fin.sources import get_source
from stacklstm_fin.sources.synthetic import best_one_step_rmse, garch_conditional

pytestmark = pytest.mark.filterwarnings(
    "ignore:Series.values returning an ndarray that drops timezone:DeprecationWarning"
)

END = dt.date(2024, 12, 31)
TICKERS = tuple(f"SYN{i:04d}" for i in range(1, 7))


def config(**synthetic: object) -> Config:
    syn = SyntheticConfig(process="garch", **synthetic)  # type: ignore[arg-type]
    return Config(source=SourceConfig(name="synthetic", synthetic=syn))


def prices(cfg: Config, tickers: tuple[str, ...], end: dt.date = END) -> pl.DataFrame:
    return get_source(cfg).fetch(tickers, None, end).prices


def next_returns(frame: pl.DataFrame) -> pl.DataFrame:
    """Per ticker and session t: the realized log return r_{t+1}."""
    log_close = pl.col("close").log()
    return frame.select(
        "ticker", "session_date", r_next=(log_close.shift(-1) - log_close).over("ticker")
    ).drop_nulls()


def test_the_true_80_percent_interval_covers_80_percent_of_next_returns() -> None:
    cfg = config()
    realized = next_returns(prices(cfg, TICKERS))
    inside = n = 0
    for ticker in TICKERS:
        mine = realized.filter(pl.col("ticker") == ticker)
        truth = garch_conditional(cfg, ticker, mine["session_date"].to_list(), 1, 0.8)
        joined = mine.join(truth, left_on="session_date", right_on="anchor", how="inner")
        assert joined.height == mine.height
        inside += joined.filter(pl.col("r_next").is_between("lower", "upper")).height
        n += joined.height
    assert n > 19_000
    assert abs(inside / n - 0.8) < 0.01, inside / n


def test_the_h_step_variance_is_exact_against_a_simulation() -> None:
    """From the anchor's known sigma^2_{t+1}, simulate the GARCH forward independently."""
    cfg = config()
    syn, anchor = cfg.source.synthetic, dt.date(2016, 8, 1)
    truth = garch_conditional(cfg, "SYN0001", [anchor], 5, 0.8)
    v1 = truth["variance"][0]
    rng = np.random.default_rng(1)
    s2 = np.full(400_000, v1)
    total = np.zeros_like(s2)
    variances = []
    for _ in range(5):
        r = syn.mu + np.sqrt(s2) * rng.standard_normal(s2.shape)
        total += r
        variances.append(float(total.var()))
        s2 = syn.garch_omega + syn.garch_alpha * (r - syn.mu) ** 2 + syn.garch_beta * s2
    assert truth["variance"].to_list() == pytest.approx(variances, rel=0.01)
    assert truth["mean"].to_list() == pytest.approx([syn.mu * h for h in range(1, 6)])
    assert truth["horizon"].to_list() == [1, 2, 3, 4, 5]
    assert truth["target_date"].to_list() == [dt.date(2016, 8, d) for d in (2, 3, 4, 5, 8)]
    z = statistics.NormalDist().inv_cdf(0.9)
    assert truth["upper"][4] == pytest.approx(5 * syn.mu + z * math.sqrt(truth["variance"][4]))
    # The normal approximation at h = 5: the simulated sums fall inside about 80% of the time.
    lower, upper = truth["lower"][4], truth["upper"][4]
    assert abs(float(np.mean((total >= lower) & (total <= upper))) - 0.8) < 0.01


def test_garch_bars_are_canonical_on_the_same_sessions_as_the_ar_source() -> None:
    cfg = config()
    garch_prices = prices(cfg, ("SYN0001", "SYN0002"), dt.date(2013, 12, 31))
    ar_prices = prices(Config(source=SourceConfig(name="synthetic")), ("SYN0001", "SYN0002"),
                       dt.date(2013, 12, 31))  # fmt: skip
    assert garch_prices.schema == pl.Schema(PRICE_SCHEMA)
    assert_frame_equal(garch_prices.select("ticker", "session_date"),
                       ar_prices.select("ticker", "session_date"))  # fmt: skip
    assert garch_prices.filter(pl.col("high") < pl.max_horizontal("open", "close")).height == 0
    assert garch_prices.filter(pl.col("low") > pl.min_horizontal("open", "close")).height == 0
    assert (garch_prices["adj_close"] == garch_prices["close"]).all()
    assert not np.allclose(garch_prices["close"].to_numpy(), ar_prices["close"].to_numpy())


def test_garch_paths_are_seeded_and_per_ticker() -> None:
    cfg = config()
    together = prices(cfg, ("SYN0001", "SYN0002", "ZZZ"), dt.date(2014, 6, 30))
    alone = prices(cfg, ("SYN0002",), dt.date(2014, 6, 30))
    again = prices(config(), ("SYN0002",), dt.date(2014, 6, 30))
    other_seed = prices(config(seed=8), ("SYN0002",), dt.date(2014, 6, 30))
    assert_frame_equal(together.filter(pl.col("ticker") == "SYN0002"), alone, check_exact=True)
    assert_frame_equal(alone, again, check_exact=True)
    assert not np.allclose(alone["close"].to_numpy(), other_seed["close"].to_numpy())
    shorter = prices(cfg, ("SYN0002",), dt.date(2013, 6, 28))
    assert_frame_equal(alone.filter(pl.col("session_date") <= dt.date(2013, 6, 28)), shorter,
                       check_exact=True)  # fmt: skip


def test_sigmas_make_calm_and_volatile_garch_tickers() -> None:
    cfg = config(n_tickers=2, sigmas=(0.005, 0.03))
    realized = next_returns(prices(cfg, ("SYN0001", "SYN0002")))
    sd = realized.group_by("ticker").agg(pl.col("r_next").std()).sort("ticker")["r_next"]
    # alpha + beta = 0.98: volatility clusters for months, so one 13-year path's sd is
    # only near its unconditional value (one sample came out 7% low).
    assert sd.to_list() == pytest.approx([0.005, 0.03], rel=0.15)
    assert [best_one_step_rmse(cfg, t) for t in ("SYN0001", "SYN0002")] == pytest.approx(
        [0.005, 0.03]
    )
    assert best_one_step_rmse(config()) == pytest.approx(0.01)  # omega 2e-6 / (1 - 0.98)


def test_the_regime_switch_scales_volatility_from_its_date_only() -> None:
    switch = dt.date(2018, 1, 2)
    calm = prices(config(), ("SYN0001", "SYN0002"))
    stormy_cfg = config(regime_switch_date=switch, regime_scale=2.0)
    stormy = prices(stormy_cfg, ("SYN0001", "SYN0002"))
    before = pl.col("session_date") < switch
    assert_frame_equal(stormy.filter(before), calm.filter(before), check_exact=True)
    r = next_returns(stormy)
    late = r.filter(pl.col("session_date") >= dt.date(2018, 7, 2))["r_next"].std()
    early = r.filter(pl.col("session_date") < dt.date(2017, 12, 28))["r_next"].std()
    assert late / early == pytest.approx(2.0, rel=0.1)  # type: ignore[operator]
    anchors = [dt.date(2017, 12, 28), dt.date(2020, 6, 1)]
    truth = garch_conditional(stormy_cfg, "SYN0001", anchors, 1)
    # Long after the switch the variance level is x4; the day before, the next day is new.
    assert truth["variance"][1] > 2.0 * truth["variance"][0]
    with pytest.raises(ConfigError) as err:
        best_one_step_rmse(stormy_cfg)
    assert str(err.value) == (
        "best_one_step_rmse: with source.synthetic.regime_switch_date the error changes with "
        "time; use garch_conditional for the true distribution at each session"
    )


@pytest.mark.parametrize(
    ("cfg", "anchors", "horizons", "message"),
    [
        (Config(), [dt.date(2016, 8, 1)], 1,
         "source.synthetic.process: garch_conditional needs 'garch', got 'ar'"),
        (config(), [dt.date(2016, 7, 31)], 1, "anchors: 2016-07-31 is not a XNYS session"),
        (config(), [dt.date(2011, 8, 1)], 1,
         "anchors: 2011-08-01 is before source.synthetic.start 2012-01-03"),
        (config(), [dt.date(2016, 8, 1)], 0, "horizons: expected at least 1 session, got 0"),
    ],
)  # fmt: skip
def test_garch_conditional_refuses_bad_requests(
    cfg: Config, anchors: list[dt.date], horizons: int, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        garch_conditional(cfg, "SYN0001", anchors, horizons)
    assert str(err.value) == message
