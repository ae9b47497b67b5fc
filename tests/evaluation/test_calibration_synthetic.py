"""The published interval method against the synthetic GARCH source's true distribution.

The random walk's point forecast (zero) isolates the interval method; the
source reports the true conditional quantiles (issue 12's acceptance lines).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import load_config
from stacklstm_fin.evaluation.adaptive import AdaptiveSettings, ticker_interval
from stacklstm_fin.sources.synthetic import garch_conditional, generate, synthetic_tickers

pytestmark = pytest.mark.slow
START, END = dt.date(2008, 1, 2), dt.date(2018, 12, 31)
SETTINGS = AdaptiveSettings(level=0.8)


def universe(sigmas: list[float], seed: int = 3) -> tuple[object, pl.DataFrame]:
    cfg = load_config(None, overrides={
        "source.synthetic.process": "garch", "source.synthetic.start": START.isoformat(),
        "source.synthetic.n_tickers": len(sigmas), "source.synthetic.sigmas": sigmas,
        "source.synthetic.seed": seed, "source.synthetic.mu": 0.0,
    })  # fmt: skip
    sessions = TradingCalendar("XNYS", cfg.universe.calendar_start).sessions(START, END)
    tickers = synthetic_tickers(len(sigmas))
    return cfg, generate(cfg.source.synthetic, tickers, sessions)


def replay(frame: pl.DataFrame, anchors: int, h: int) -> tuple[np.ndarray, np.ndarray, list]:
    """(inside, half-width, anchor dates) of the last ``anchors`` h-step intervals."""
    logp = np.log(frame["adj_close"].to_numpy())
    r = np.diff(logp)
    days = frame["session_date"].to_list()
    n = logp.shape[0]
    inside, half, dates = [], [], []
    for i in range(n - h - anchors, n - h):
        hw = ticker_interval(r[:i], np.zeros((i + 1, 5)), SETTINGS).halfwidths[h - 1]
        inside.append(abs(logp[i + h] - logp[i]) <= hw)
        half.append(hw)
        dates.append(days[i])
    return np.array(inside), np.array(half), dates


def test_garch_source_coverage_and_width_against_the_truth() -> None:
    cfg, frame = universe([0.01])
    ticker = frame["ticker"][0]
    inside, half, dates = replay(frame, 1500, h=1)
    truth = garch_conditional(cfg, ticker, dates, 1, level=0.8)  # type: ignore[arg-type]
    true_half = ((truth["upper"] - truth["lower"]) / 2).to_numpy()
    assert abs(inside.mean() - 0.8) <= 0.02, inside.mean()
    assert abs(half.mean() / true_half.mean() - 1) <= 0.10, (half.mean(), true_half.mean())


def test_calm_and_volatile_tickers_each_cover_their_nominal_rate() -> None:
    _, frame = universe([0.004, 0.03], seed=5)
    for ticker, part in frame.group_by("ticker", maintain_order=True):
        for h in (1, 5):
            inside, _, _ = replay(part, 1000, h=h)
            assert abs(inside.mean() - 0.8) <= 0.04, (ticker, h, inside.mean())
