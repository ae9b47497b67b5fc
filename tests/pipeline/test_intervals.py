"""Publishing-side intervals: per-ticker models, stale tickers, per-ticker calendars."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import load_config
from stacklstm_fin.exceptions import CalendarError, ConfigError
from stacklstm_fin.pipeline.intervals import ticker_calendar, ticker_forecasts
from stacklstm_fin.sources.synthetic import generate

AS_OF = dt.date(2016, 12, 30)


def config(**extra: object):  # type: ignore[no-untyped-def]
    return load_config(None, env={}, overrides={
        "universe.tickers": ["SYN0001", "SYN0002"], "source.synthetic.start": "2012-01-03",
        "forecast.volatility": "ewma", "forecast.aci_sessions": 100, **extra,
    })  # fmt: skip


def prices(cfg) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    sessions = TradingCalendar("XNYS").sessions(dt.date(2012, 1, 3), AS_OF)
    return generate(cfg.source.synthetic, cfg.universe.tickers, sessions)


def test_each_ticker_gets_its_own_model_and_interval() -> None:
    cfg = config()
    frame = prices(cfg)
    calls: list[int] = []

    def zeros(x: np.ndarray) -> np.ndarray:
        calls.append(x.shape[0])
        return np.zeros((x.shape[0], 5), dtype=np.float32)

    def up(x: np.ndarray) -> np.ndarray:
        return np.full((x.shape[0], 5), 0.001, dtype=np.float32)

    out, problems = ticker_forecasts(cfg, frame, {"SYN0001": zeros, "SYN0002": up}, AS_OF)
    assert problems == {}
    by = {f.ticker: f for f in out}
    np.testing.assert_array_equal(by["SYN0001"].yhat_cum, np.zeros(5))
    np.testing.assert_allclose(by["SYN0002"].yhat_cum, 0.001 * np.arange(1, 6))
    assert calls == [351]  # one ticker's replay span (100 + 250 + 1), one call per model
    for f in out:
        yhat, lo, hi = f.price_path()
        assert (lo < yhat).all() and (yhat < hi).all()
        assert (np.diff(f.interval.halfwidths) > 0).all()  # wider with the horizon
        assert f.method == "aci-conformal/ewma"


def test_a_ticker_without_a_bar_on_the_as_of_is_reported_not_forecast() -> None:
    cfg = config()
    frame = prices(cfg).filter(
        ~((pl.col("ticker") == "SYN0002") & (pl.col("session_date") == AS_OF))
    )
    out, problems = ticker_forecasts(
        cfg, frame, lambda x: np.zeros((x.shape[0], 5), np.float32), AS_OF
    )
    assert [f.ticker for f in out] == ["SYN0001"]
    assert problems == {"SYN0002": "no bar on 2016-12-30 (last session 2016-12-29)"}


def test_target_dates_follow_the_tickers_own_calendar() -> None:
    cfg = config(**{"universe.ticker_calendars": {"SYN0002": "CMES"}})
    assert cfg.universe.calendar_of("SYN0001") == "XNYS"
    assert cfg.universe.calendar_of("SYN0002") == "CMES"
    # Martin Luther King Day 2018: the NYSE is closed, the CME trades.
    nyse = ticker_calendar(cfg, "SYN0001").next_sessions(dt.date(2018, 1, 12), 2)
    cme = ticker_calendar(cfg, "SYN0002").next_sessions(dt.date(2018, 1, 12), 2)
    assert nyse == [dt.date(2018, 1, 16), dt.date(2018, 1, 17)]
    assert cme == [dt.date(2018, 1, 15), dt.date(2018, 1, 16)]


def test_unknown_or_stray_ticker_calendars_are_one_line_errors() -> None:
    cfg = config(**{"universe.ticker_calendars": {"SYN0002": "NOPE"}})
    with pytest.raises(CalendarError) as err:
        ticker_calendar(cfg, "SYN0002")
    assert str(err.value).startswith(
        "universe.ticker_calendars.SYN0002: unknown exchange calendar 'NOPE'"
    )
    with pytest.raises(ConfigError, match=r"universe.ticker_calendars: 'ZZZ' is not in universe"):
        config(**{"universe.ticker_calendars": {"ZZZ": "CMES"}})
