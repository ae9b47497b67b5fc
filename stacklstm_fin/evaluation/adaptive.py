"""Per-ticker, volatility-adaptive conformal intervals with adaptive conformal inference.

For one ticker and horizon h, at the as-of session n (docs/adr/0007):

1. ``s_j = |R_j - Rhat_j| / sigma_j``: the error of the cumulative log return
   over sessions j+1..j+h, divided by the ticker's point-in-time conditional
   volatility of that cumulative return (:mod:`.volatility`). Scaled scores of
   a calm and a volatile spell are comparable, so one quantile serves both.
2. Split conformal on a rolling window: the calibration set at anchor t is the
   scores of the last ``calibration_sessions`` anchors whose targets are
   realized at t (j + h <= t). The half-width is that set's
   ``ceil((m + 1)(1 - alpha_t))``-th smallest score times ``sigma_t``.
3. Adaptive conformal inference (Gibbs & Candes 2021): ``alpha_t`` starts at
   the nominal miss rate and moves by ``gamma (alpha - err)`` each time an
   interval of the replay is realized, so a run of misses widens the next
   intervals and a run of hits narrows them.

Everything is recomputed from the ticker's returns and point forecasts up to
the as-of: the replay covers the last ``aci_sessions`` anchors with the
current model's point forecasts, so a rerun, a backfill forwards and one
backwards all give the same interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from stacklstm_fin.evaluation.volatility import VolatilityFit, cumulative_scales

# Fewer realized scores than this and no interval is published for the ticker.
MIN_CALIBRATION = 50
_EPS = 1e-9


@dataclass(frozen=True)
class AdaptiveSettings:
    level: float = 0.8
    volatility: str = "garch"
    calibration_sessions: int = 250
    aci_gamma: float = 0.005
    aci_sessions: int = 500
    history_sessions: int = 2500  # returns the volatility model is fitted and run on

    @property
    def span(self) -> int:
        """Anchors (ending at the as-of) whose point forecasts the replay needs."""
        return self.aci_sessions + self.calibration_sessions + 1


@dataclass(frozen=True)
class TickerInterval:
    halfwidths: np.ndarray  # (H,) on the cumulative log return, at the as-of
    miss_levels: np.ndarray  # (H,) alpha_t the half-width was read at
    replay_coverage: np.ndarray  # (H,) share of realized replay intervals that held
    scales: np.ndarray  # (H,) sigma at the as-of
    volatility: VolatilityFit


def ticker_interval(
    returns: np.ndarray, pred_cum: np.ndarray, settings: AdaptiveSettings
) -> TickerInterval:
    """The interval half-widths of one ticker at the as-of.

    ``returns`` (n,): one-day log returns, ``returns[k]`` from session k to
    k + 1; the as-of is session n. ``pred_cum`` (n + 1, H): the model's
    cumulative point forecasts at anchors 0..n (NaN where not computed; the
    last ``settings.span`` rows are used).
    """
    r = np.asarray(returns, dtype=np.float64)
    pred = np.asarray(pred_cum, dtype=np.float64)
    n = r.shape[0]
    if pred.ndim != 2 or pred.shape[0] != n + 1:
        raise ValueError(
            f"ticker_interval: expected pred_cum of shape ({n + 1}, H), got {pred.shape}"
        )
    keep = min(n, settings.history_sessions)
    r, pred = r[n - keep :], pred[n - keep :]
    n, horizons = keep, pred.shape[1]
    scales, fit = cumulative_scales(r, horizons, settings.volatility)  # (n + 1, H)
    cs = np.concatenate([[0.0], np.cumsum(r)])  # (n + 1,) log price relative to session 0
    hws, alphas, covs = np.empty(horizons), np.empty(horizons), np.empty(horizons)
    for h in range(1, horizons + 1):
        hws[h - 1], alphas[h - 1], covs[h - 1] = _replay(
            cs, pred[:, h - 1], scales[:, h - 1], h, settings
        )
    return TickerInterval(hws, alphas, covs, scales[n].copy(), fit)


def _replay(
    cs: np.ndarray, pred: np.ndarray, sigma: np.ndarray, h: int, s: AdaptiveSettings
) -> tuple[float, float, float]:
    """(half-width at the as-of, alpha_t used, replay coverage) for horizon h."""
    n = cs.shape[0] - 1
    alpha_nominal = 1.0 - s.level
    # Anchors with a forecast: the trailing run of finite predictions ending at n.
    finite = np.isfinite(pred)
    if not finite[n]:
        raise ValueError("ticker_interval: no point forecast at the as-of")
    first = n - int(np.argmin(finite[::-1])) + 1 if not finite.all() else 0
    realized = np.arange(first, n - h + 1)  # anchors j with j + h <= n
    if realized.shape[0] < MIN_CALIBRATION:
        raise ValueError(
            f"{realized.shape[0]} realized forecasts at horizon {h}, "
            f"need {MIN_CALIBRATION} to calibrate an interval"
        )
    anchors = np.arange(first, n + 1)
    errors = np.abs(cs[np.minimum(anchors + h, n)] - cs[anchors] - pred[anchors])  # (A,)
    scores = errors / sigma[anchors]  # valid where anchor + h <= n
    m = min(s.calibration_sessions, realized.shape[0] - 1)
    # windows[i] = sorted scores of anchors first+i .. first+i+m-1: the calibration
    # set of the anchor t = first + i + m - 1 + h.
    windows = np.sort(sliding_window_view(scores[: realized.shape[0]], m), axis=1)  # (W, m)
    t_first = max(first + m - 1 + h, n - s.aci_sessions)
    alpha = alpha_nominal
    missed: dict[int, bool] = {}
    hits = total = 0
    half = math.nan
    for t in range(t_first, n + 1):
        j = t - h  # realized exactly at t: feed its error back
        if j in missed:
            err = missed.pop(j)
            alpha += s.aci_gamma * (alpha_nominal - float(err))
            hits, total = hits + (not err), total + 1
        window = windows[t - h - (m - 1) - first]
        rank = math.ceil((m + 1) * (1.0 - alpha) - _EPS)
        q = window[min(max(rank, 1), m) - 1]  # alpha <= 0 -> the largest score, not inf
        half = float(q * sigma[t])
        if t + h <= n:
            missed[t] = bool(errors[t - first] > half)
    coverage = hits / total if total else math.nan
    return half, alpha, coverage
