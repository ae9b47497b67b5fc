"""A seeded generator of daily bars with known structure.

Close-to-close log returns follow an AR(1):
``r_t = mu + phi * r_{t-1} + sigma * eps_t`` with ``eps_t ~ N(0, 1)``, so the
best possible forecast error is known (:func:`best_one_step_rmse`,
:func:`best_horizon_rmse`): an accuracy ceiling for the models.

A ticker's path depends only on ``(seed, ticker)`` and the exchange sessions
from ``source.synthetic.start``: the same ticker gives the same rows whichever
other tickers are requested, and a later ``end`` only appends rows
(point-in-time rule).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import numpy as np
import polars as pl

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import Config, SyntheticConfig
from stacklstm_fin.exceptions import ConfigError
from stacklstm_fin.schema import empty_prices
from stacklstm_fin.sources.base import Source

# Shape of the bars around the AR(1) closes, as multiples of sigma.
_GAP_SCALE = 0.2  # overnight gap: open = previous close * exp(0.2 * sigma * z)
_WICK_SCALE = 0.5  # high/low beyond the open-close body: exp(+-|0.5 * sigma * z|)
_VOLUME_SCALE = 0.25  # log-volume noise


def synthetic_tickers(n: int) -> tuple[str, ...]:
    """``SYN0001 .. SYN<n>`` (at least four digits)."""
    return tuple(f"SYN{i:04d}" for i in range(1, n + 1))


def best_one_step_rmse(cfg: Config) -> float:
    """RMSE of the best one-step log-return forecast (knowing mu and phi): sigma."""
    return cfg.source.synthetic.sigma


def best_horizon_rmse(cfg: Config, h: int) -> float:
    """RMSE of the best direct forecast, made at t, of the one-day return r_{t+h}.

    ``r_{t+h} = E[r_{t+h} | r_t] + sigma * sum_{j<h} phi^j eps_{t+h-j}``, so the
    error is ``sigma * sqrt(sum_{j=0}^{h-1} phi^(2j))``.
    """
    if not isinstance(h, int) or isinstance(h, bool) or h < 1:
        raise ConfigError(f"h: expected a horizon of at least 1 session, got {h!r}")
    syn = cfg.source.synthetic
    return syn.sigma * math.sqrt(sum(syn.phi ** (2 * j) for j in range(h)))


def _rng(seed: int, ticker: str) -> np.random.Generator:
    # A stable hash (Python's hash() is salted per process).
    digest = hashlib.sha256(ticker.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([seed, *words])


_CHUNK = 256  # tickers generated together (bounds memory: CHUNK x sessions x 5 floats)


def _draws(syn: SyntheticConfig, ticker: str, n: int) -> tuple[float, float, float, np.ndarray]:
    """One ticker's random inputs: first level, volume scale, r_{-1}, and z (n, 5).

    Level, volume scale and the initial return are drawn first, then five
    normals per session in order, so a longer ``n`` only appends rows to z.
    """
    rng = _rng(syn.seed, ticker)
    level = float(np.exp(rng.uniform(np.log(20.0), np.log(500.0))))
    base_volume = float(np.exp(rng.uniform(np.log(1e5), np.log(5e7))))
    stationary_sd = syn.sigma / math.sqrt(1.0 - syn.phi**2)
    r_init = syn.mu / (1.0 - syn.phi) + stationary_sd * float(rng.standard_normal())
    z = rng.standard_normal((n, 5))  # per session: eps, gap, upper wick, lower wick, volume
    return level, base_volume, r_init, z


def generate(
    syn: SyntheticConfig, tickers: tuple[str, ...], sessions: list[dt.date]
) -> pl.DataFrame:
    """Bars for ``tickers`` on ``sessions`` (which start at ``syn.start``), canonical columns."""
    if not tickers or not sessions:
        return empty_prices()
    frames = [
        _generate_chunk(syn, tickers[i : i + _CHUNK], sessions)
        for i in range(0, len(tickers), _CHUNK)
    ]
    return pl.concat(frames)


def _generate_chunk(
    syn: SyntheticConfig, tickers: tuple[str, ...], sessions: list[dt.date]
) -> pl.DataFrame:
    n, k = len(sessions), len(tickers)
    draws = [_draws(syn, t, n) for t in tickers]
    level = np.array([d[0] for d in draws])[:, None]  # (k, 1)
    base_volume = np.array([d[1] for d in draws])[:, None]  # (k, 1)
    z = np.stack([d[3] for d in draws])  # (k, n, 5)
    returns = np.empty((k, n))
    r = np.array([d[2] for d in draws])  # (k,)
    for t in range(n):  # the AR(1) recursion, vectorised over tickers
        r = syn.mu + syn.phi * r + syn.sigma * z[:, t, 0]
        returns[:, t] = r
    # ``level`` is the close before the first session; r_0 leads from it to close_0.
    close = level * np.exp(np.cumsum(returns, axis=1))  # (k, n)
    prev_close = np.concatenate([level, close[:, :-1]], axis=1)
    open_ = prev_close * np.exp(_GAP_SCALE * syn.sigma * z[:, :, 1])
    high = np.maximum(open_, close) * np.exp(np.abs(_WICK_SCALE * syn.sigma * z[:, :, 2]))
    low = np.minimum(open_, close) * np.exp(-np.abs(_WICK_SCALE * syn.sigma * z[:, :, 3]))
    volume = np.round(base_volume * np.exp(_VOLUME_SCALE * z[:, :, 4])) + 1.0
    dates = pl.Series("session_date", sessions, dtype=pl.Date)
    return pl.DataFrame(
        {
            "ticker": pl.Series(tickers, dtype=pl.String).gather(np.repeat(np.arange(k), n)),
            "session_date": pl.concat([dates] * k),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "adj_close": close.ravel(),
            "volume": volume.ravel(),
        }
    )


class SyntheticSource(Source):
    """AR(1) log-return bars on the exchange's sessions, deterministic per (seed, ticker)."""

    name = "synthetic"

    def __init__(self, config: SyntheticConfig, calendar: TradingCalendar) -> None:
        self.config = config
        self.calendar = calendar

    @classmethod
    def from_config(cls, cfg: Config) -> SyntheticSource:
        calendar = TradingCalendar(cfg.universe.calendar, cfg.universe.calendar_start)
        return cls(cfg.source.synthetic, calendar)

    def default_tickers(self) -> tuple[str, ...]:
        return synthetic_tickers(self.config.n_tickers)

    def _fetch(
        self, tickers: tuple[str, ...], start: dt.date | None, end: dt.date
    ) -> tuple[pl.DataFrame, dict[str, str]]:
        if end < self.config.start:
            return empty_prices(), {}
        sessions = self.calendar.sessions(self.config.start, end)
        return generate(self.config, tickers, sessions), {}
