"""A seeded generator of daily bars with known structure.

``source.synthetic.process = "ar"`` (default): close-to-close log returns
follow an AR(1), ``r_t = mu + phi * r_{t-1} + sigma * eps_t`` with
``eps_t ~ N(0, 1)``, so the best possible forecast error is known
(:func:`best_one_step_rmse`, :func:`best_horizon_rmse`): an accuracy ceiling
for the models. ``phis`` and ``sigmas`` give each default ticker (``SYN0001``
first) its own phi and sigma, so one universe mixes predictable tickers and
pure random walks, calm ones and volatile ones.

``process = "garch"``: a GARCH(1, 1) (:mod:`stacklstm_fin.sources.garch`),
``r_t = mu + sigma_t eps_t``, optionally with a volatility regime from
``regime_switch_date``; :func:`garch_conditional` reports the true
conditional distribution of future returns, a ceiling for interval forecasts.

A ticker's path depends only on ``(seed, ticker)`` and the exchange sessions
from ``source.synthetic.start``: the same ticker gives the same rows whichever
other tickers are requested, and a later ``end`` only appends rows
(point-in-time rule).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import statistics
from collections.abc import Sequence

import numpy as np
import polars as pl

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import Config, SyntheticConfig
from stacklstm_fin.exceptions import ConfigError
from stacklstm_fin.schema import empty_prices
from stacklstm_fin.sources import garch
from stacklstm_fin.sources.base import Source

# Shape of the bars around the AR(1) closes, as multiples of sigma.
_GAP_SCALE = 0.2  # overnight gap: open = previous close * exp(0.2 * sigma * z)
_WICK_SCALE = 0.5  # high/low beyond the open-close body: exp(+-|0.5 * sigma * z|)
_VOLUME_SCALE = 0.25  # log-volume noise


def synthetic_tickers(n: int) -> tuple[str, ...]:
    """``SYN0001 .. SYN<n>`` (at least four digits)."""
    return tuple(f"SYN{i:04d}" for i in range(1, n + 1))


@dataclasses.dataclass(frozen=True)
class TickerParams:
    """One ticker's parameters: AR phi and sigma, GARCH omega (before any regime switch)."""

    phi: float
    sigma: float
    omega: float


def ticker_params(syn: SyntheticConfig, ticker: str) -> TickerParams | None:
    """The ticker's parameters, or None when per-ticker lists do not cover it.

    ``phis[i]``/``sigmas[i]`` belong to ``synthetic_tickers(n)[i]``; without
    the lists every ticker (any name) takes the scalars. With ``sigmas`` a
    GARCH ticker's omega is ``sigmas[i]^2 (1 - alpha - beta)`` (its
    unconditional daily sd is ``sigmas[i]``); else ``garch_omega``.
    """
    if not (syn.phis or syn.sigmas):
        return TickerParams(syn.phi, syn.sigma, syn.garch_omega)
    names = synthetic_tickers(syn.n_tickers)
    if ticker not in names:
        return None
    i = names.index(ticker)
    sigma = syn.ticker_sigma(i)
    persistence = 1.0 - syn.garch_alpha - syn.garch_beta
    omega = sigma**2 * persistence if syn.sigmas else syn.garch_omega
    return TickerParams(syn.ticker_phi(i), sigma, omega)


def _params(cfg: Config, ticker: str | None) -> TickerParams:
    syn = cfg.source.synthetic
    if ticker is None:
        if syn.phis or syn.sigmas:
            names = synthetic_tickers(syn.n_tickers)
            raise ConfigError(
                "ticker: source.synthetic.phis/sigmas set per-ticker values; pass the ticker, "
                f"one of {names[0]}..{names[-1]}"
            )
        return TickerParams(syn.phi, syn.sigma, syn.garch_omega)
    params = ticker_params(syn, ticker)
    if params is None:
        raise ConfigError(_not_covered(syn, ticker))
    return params


def _not_covered(syn: SyntheticConfig, ticker: str) -> str:
    names = synthetic_tickers(syn.n_tickers)
    return (
        f"ticker {ticker!r}: source.synthetic.phis/sigmas give values for {names[0]}..{names[-1]} "
        "only; request those tickers or drop the per-ticker lists"
    )


def _unconditional_sd(cfg: Config, params: TickerParams, what: str) -> float:
    syn = cfg.source.synthetic
    if syn.regime_switch_date is not None:
        raise ConfigError(
            f"{what}: with source.synthetic.regime_switch_date the error changes with time; "
            "use garch_conditional for the true distribution at each session"
        )
    return math.sqrt(params.omega / (1.0 - syn.garch_alpha - syn.garch_beta))


def best_one_step_rmse(cfg: Config, ticker: str | None = None) -> float:
    """RMSE of the best one-step log-return forecast (knowing the parameters).

    AR: the ticker's sigma. GARCH: the best point forecast is mu, so the RMSE is
    the unconditional sd ``sqrt(omega / (1 - alpha - beta))``. ``ticker`` is
    required when ``phis``/``sigmas`` are set.
    """
    params = _params(cfg, ticker)
    if cfg.source.synthetic.process == "garch":
        return _unconditional_sd(cfg, params, "best_one_step_rmse")
    return params.sigma


def best_horizon_rmse(cfg: Config, h: int, ticker: str | None = None) -> float:
    """RMSE of the best direct forecast, made at t, of the one-day return r_{t+h}.

    AR: ``r_{t+h} = E[r_{t+h} | r_t] + sigma * sum_{j<h} phi^j eps_{t+h-j}``, so the
    error is ``sigma * sqrt(sum_{j=0}^{h-1} phi^(2j))`` with the ticker's phi and
    sigma. GARCH: the unconditional sd at every horizon (the mean is mu).
    """
    if not isinstance(h, int) or isinstance(h, bool) or h < 1:
        raise ConfigError(f"h: expected a horizon of at least 1 session, got {h!r}")
    params = _params(cfg, ticker)
    if cfg.source.synthetic.process == "garch":
        return _unconditional_sd(cfg, params, "best_horizon_rmse")
    return params.sigma * math.sqrt(sum(params.phi ** (2 * j) for j in range(h)))


def _rng(seed: int, ticker: str) -> np.random.Generator:
    # A stable hash (Python's hash() is salted per process).
    digest = hashlib.sha256(ticker.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([seed, *words])


_CHUNK = 256  # tickers generated together (bounds memory: CHUNK x sessions x 5 floats)


def _draws(
    syn: SyntheticConfig, ticker: str, params: TickerParams, n: int
) -> tuple[float, float, float, np.ndarray]:
    """One ticker's random inputs: first level, volume scale, r_{-1}, and z (n, 5).

    Level, volume scale and the initial return are drawn first, then five
    normals per session in order, so a longer ``n`` only appends rows to z.
    """
    rng = _rng(syn.seed, ticker)
    level = float(np.exp(rng.uniform(np.log(20.0), np.log(500.0))))
    base_volume = float(np.exp(rng.uniform(np.log(1e5), np.log(5e7))))
    if syn.process == "garch":  # r_{-1} from the first regime's unconditional law
        sd = math.sqrt(params.omega / (1.0 - syn.garch_alpha - syn.garch_beta))
        r_init = syn.mu + sd * float(rng.standard_normal())
    else:
        stationary_sd = params.sigma / math.sqrt(1.0 - params.phi**2)
        r_init = syn.mu / (1.0 - params.phi) + stationary_sd * float(rng.standard_normal())
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


def _omega(syn: SyntheticConfig, omega: np.ndarray, sessions: Sequence[dt.date]) -> np.ndarray:
    """Per ticker and session omega ``(k, n)``: x regime_scale^2 from regime_switch_date."""
    factor = np.ones(len(sessions))
    if syn.regime_switch_date is not None:
        switched = np.array([d >= syn.regime_switch_date for d in sessions], dtype=bool)
        factor[switched] = syn.regime_scale**2
    return omega[:, None] * factor[None, :]


def _paths(
    syn: SyntheticConfig,
    tickers: tuple[str, ...],
    params: Sequence[TickerParams],
    sessions: Sequence[dt.date],
) -> tuple[list[tuple[float, float, float, np.ndarray]], np.ndarray, np.ndarray, np.ndarray]:
    """Draws, log returns ``(k, n)``, the bar-shape scale (``(k, 1)`` or ``(k, n)``) and
    ``Var(r_t | F_{t-1})`` ``(k, n)`` (for GARCH; the AR's is sigma^2, returned empty)."""
    n, k = len(sessions), len(tickers)
    draws = [_draws(syn, t, p, n) for t, p in zip(tickers, params, strict=True)]
    z = np.stack([d[3] for d in draws])  # (k, n, 5)
    r = np.array([d[2] for d in draws])  # (k,)
    if syn.process == "garch":
        omega = _omega(syn, np.array([p.omega for p in params]), sessions)
        h_init = omega[:, 0] / (1.0 - syn.garch_alpha - syn.garch_beta)
        returns, h = garch.simulate(
            syn.mu, omega, syn.garch_alpha, syn.garch_beta, r, h_init, z[:, :, 0]
        )
        return draws, returns, np.sqrt(h), h  # bars scale with the day's conditional sd
    phi = np.array([p.phi for p in params])  # (k,)
    sigma = np.array([p.sigma for p in params])  # (k,)
    returns = np.empty((k, n))
    for t in range(n):  # the AR(1) recursion, vectorised over tickers
        r = syn.mu + phi * r + sigma * z[:, t, 0]
        returns[:, t] = r
    return draws, returns, sigma[:, None], np.empty((0, 0))


def _generate_chunk(
    syn: SyntheticConfig, tickers: tuple[str, ...], sessions: list[dt.date]
) -> pl.DataFrame:
    n, k = len(sessions), len(tickers)
    params = [ticker_params(syn, t) for t in tickers]
    if any(p is None for p in params):  # the source reports these tickers as failures
        raise AssertionError("tickers without parameters reached the generator")
    draws, returns, scale, _ = _paths(syn, tickers, params, sessions)  # type: ignore[arg-type]
    level = np.array([d[0] for d in draws])[:, None]  # (k, 1)
    base_volume = np.array([d[1] for d in draws])[:, None]  # (k, 1)
    z = np.stack([d[3] for d in draws])  # (k, n, 5)
    # ``level`` is the close before the first session; r_0 leads from it to close_0.
    close = level * np.exp(np.cumsum(returns, axis=1))  # (k, n)
    prev_close = np.concatenate([level, close[:, :-1]], axis=1)
    open_ = prev_close * np.exp(_GAP_SCALE * scale * z[:, :, 1])
    high = np.maximum(open_, close) * np.exp(np.abs(_WICK_SCALE * scale * z[:, :, 2]))
    low = np.minimum(open_, close) * np.exp(-np.abs(_WICK_SCALE * scale * z[:, :, 3]))
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


def garch_conditional(
    cfg: Config,
    ticker: str,
    anchors: Sequence[dt.date],
    horizons: int,
    level: float = 0.8,
) -> pl.DataFrame:
    """The true distribution, given F_t, of the cumulative log return over sessions t+1..t+h.

    For a ``process = "garch"`` ticker and each anchor session t in ``anchors``,
    one row per ``horizon`` h = 1..``horizons``: ``anchor``, ``horizon``,
    ``target_date`` (session t+h), ``mean`` (``h * mu``), ``variance``
    (``sum_{k=1..h} E[sigma^2_{t+k} | F_t]``, exact, regime switch included),
    and ``lower``/``upper``, the central ``level`` quantiles
    ``mean -/+ z_{(1+level)/2} * sqrt(variance)``.

    At h = 1 the return is exactly normal given F_t, so the quantiles are
    exact. For h > 1 the sum of GARCH returns is a variance mixture of normals
    (fatter tails), and the normal with the exact variance is an
    approximation.
    """
    syn = cfg.source.synthetic
    if syn.process != "garch":
        raise ConfigError(
            f"source.synthetic.process: garch_conditional needs 'garch', got {syn.process!r}"
        )
    if not isinstance(horizons, int) or isinstance(horizons, bool) or horizons < 1:
        raise ConfigError(f"horizons: expected at least 1 session, got {horizons!r}")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level: expected a value in (0, 1), got {level!r}")
    params = _params(cfg, ticker)
    days_in = sorted(set(anchors))
    schema = {"anchor": pl.Date(), "horizon": pl.Int64(), "target_date": pl.Date(),
              "mean": pl.Float64(), "variance": pl.Float64(), "lower": pl.Float64(),
              "upper": pl.Float64()}  # fmt: skip
    if not days_in:
        return pl.DataFrame(schema=schema)
    if days_in[0] < syn.start:
        raise ConfigError(f"anchors: {days_in[0]} is before source.synthetic.start {syn.start}")
    calendar = TradingCalendar(cfg.universe.calendar, cfg.universe.calendar_start)
    sessions = calendar.sessions(syn.start, days_in[-1])
    position = {d: i for i, d in enumerate(sessions)}
    for day in days_in:
        if day not in position:
            raise ConfigError(f"anchors: {day} is not a {calendar.name} session")
    days = sessions + calendar.next_sessions(days_in[-1], horizons)
    _, returns, _, h = _paths(syn, (ticker,), [params], sessions)
    omega = _omega(syn, np.array([params.omega]), days)[0]  # (n + horizons,)
    idx = np.array([position[d] for d in days_in])  # (m,)
    ahead = idx[:, None] + np.arange(1, horizons + 1)[None, :]  # (m, horizons)
    expected = garch.expected_variances(
        syn.mu, omega[ahead], syn.garch_alpha, syn.garch_beta, returns[0, idx], h[0, idx]
    )
    variance = np.cumsum(expected, axis=1)  # (m, horizons)
    mean = syn.mu * np.arange(1, horizons + 1)[None, :] * np.ones_like(variance)
    half = statistics.NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(variance)
    return pl.DataFrame(
        {
            "anchor": np.repeat(np.array(days_in, dtype="datetime64[D]"), horizons),
            "horizon": np.tile(np.arange(1, horizons + 1), len(days_in)),
            "target_date": np.array(days, dtype="datetime64[D]")[ahead.ravel()],
            "mean": mean.ravel(),
            "variance": variance.ravel(),
            "lower": (mean - half).ravel(),
            "upper": (mean + half).ravel(),
        }
    ).cast(schema)  # type: ignore[arg-type]


class SyntheticSource(Source):
    """AR(1) or GARCH(1, 1) log-return bars on the exchange's sessions, per (seed, ticker)."""

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
        syn = self.config
        failures = {t: _not_covered(syn, t) for t in tickers if ticker_params(syn, t) is None}
        covered = tuple(t for t in tickers if t not in failures)
        if end < syn.start:
            return empty_prices(), failures
        sessions = self.calendar.sessions(syn.start, end)
        return generate(syn, covered, sessions), failures
