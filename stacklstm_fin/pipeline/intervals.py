"""Point forecasts and calibrated intervals for every ticker of a universe at one as-of.

The model is a ``predict`` callable (windows -> per-session log returns), so
the same code serves publishing (the champion's ONNX through onnxruntime),
the long replay benchmark (the random walk) and tests. For each ticker the
model forecasts its last ``AdaptiveSettings.span`` windows; those point
forecasts and the ticker's own returns set its interval
(:mod:`stacklstm_fin.evaluation.adaptive`, docs/adr/0007).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import Config
from stacklstm_fin.evaluation.adaptive import AdaptiveSettings, TickerInterval, ticker_interval
from stacklstm_fin.exceptions import CalendarError
from stacklstm_fin.features.dataset import prices_used, recent_windows

Predict = Callable[[np.ndarray], np.ndarray]  # (n, window, features) -> (n, H) log returns
METHOD = "aci-conformal"


@dataclass(frozen=True)
class TickerForecast:
    ticker: str
    base_close: float  # close of the as-of session
    yhat_cum: np.ndarray  # (H,) cumulative log return forecast from the as-of close
    interval: TickerInterval

    @property
    def method(self) -> str:
        return f"{METHOD}/{self.interval.volatility.model}"

    def price_path(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(yhat_close, lower_close, upper_close), each (H,)."""
        hw = self.interval.halfwidths
        base = self.base_close
        return (
            base * np.exp(self.yhat_cum),
            base * np.exp(self.yhat_cum - hw),
            base * np.exp(self.yhat_cum + hw),
        )


def ticker_calendar(cfg: Config, ticker: str) -> TradingCalendar:
    """The exchange calendar of ``ticker``; an unknown name is a one-line CalendarError."""
    name = cfg.universe.calendar_of(ticker)
    try:
        return TradingCalendar(name, cfg.universe.calendar_start)
    except CalendarError:
        if name == cfg.universe.calendar:
            raise
        raise CalendarError(
            f"universe.ticker_calendars.{ticker}: unknown exchange calendar {name!r}; expected "
            "a name from exchange_calendars.get_calendar_names(), e.g. 'CMES'"
        ) from None


def adaptive_settings(cfg: Config) -> AdaptiveSettings:
    f = cfg.forecast
    return AdaptiveSettings(
        level=f.interval_level,
        volatility=f.volatility,
        calibration_sessions=f.calibration_sessions,
        aci_gamma=f.aci_gamma,
        aci_sessions=f.aci_sessions,
    )


def ticker_forecasts(
    cfg: Config, prices: pl.DataFrame, predict: Predict | Mapping[str, Predict], as_of: dt.date
) -> tuple[list[TickerForecast], dict[str, str]]:
    """Forecasts of every ticker with a bar on ``as_of``; and why the others have none.

    ``predict``: one model for every ticker, or the model of each ticker (a
    ticker without one is not forecast). ``prices`` holds validated canonical
    prices (anything after ``as_of`` is ignored).
    """
    settings = adaptive_settings(cfg)
    tickers = cfg.universe.tickers
    by_model = predict if isinstance(predict, Mapping) else dict.fromkeys(tickers, predict)
    used = prices_used(prices, cfg.dataset, as_of)
    recent = recent_windows(used, cfg.dataset, settings.span)
    horizons = cfg.dataset.horizons
    cum = np.full((recent.n, horizons), np.nan)
    for model in {id(m): m for m in by_model.values()}.values():
        mask = np.isin(recent.tickers, [t for t, m in by_model.items() if m is model])
        if not mask.any():
            continue
        pred = np.asarray(model(recent.x[mask]), dtype=np.float64)  # (n, H) per-session returns
        if pred.shape != (int(mask.sum()), horizons) or not np.isfinite(pred).all():
            raise ValueError(
                f"model output: expected {int(mask.sum())} finite forecasts of {horizons} "
                f"horizons, got shape {pred.shape}"
            )
        cum[mask] = np.cumsum(pred, axis=1)
    out: list[TickerForecast] = []
    problems: dict[str, str] = {}
    by_ticker = used.partition_by("ticker", as_dict=True, maintain_order=True)
    for ticker in tickers:
        if ticker not in by_model:
            problems[ticker] = "no model decided for it; retrain"
            continue
        frame = by_ticker.get((ticker,))
        if frame is None or frame.height == 0:
            problems[ticker] = f"no prices on or before {as_of}"
            continue
        days = frame.get_column("session_date").to_numpy().astype("datetime64[D]")
        if days[-1] != np.datetime64(as_of, "D"):
            problems[ticker] = f"no bar on {as_of} (last session {days[-1]})"
            continue
        returns = np.diff(np.log(frame.get_column("adj_close").to_numpy().astype(np.float64)))
        pred_cum = np.full((days.shape[0], horizons), np.nan)
        mine = recent.tickers == ticker
        pred_cum[np.searchsorted(days, recent.anchor_dates[mine])] = cum[mine]
        if not np.isfinite(pred_cum[-1]).all():
            problems[ticker] = f"fewer sessions than one input window as of {as_of}"
            continue
        try:
            interval = ticker_interval(returns, pred_cum, settings)
        except ValueError as exc:
            problems[ticker] = f"no calibrated interval: {exc}"
            continue
        base = float(frame.get_column("close")[-1])
        out.append(TickerForecast(ticker, base, pred_cum[-1].copy(), interval))
    return out, problems
