"""Point-in-time conditional volatility of cumulative log returns, per ticker.

The adaptive intervals (:mod:`stacklstm_fin.evaluation.adaptive`) divide each
forecast error by the ticker's own conditional volatility of the cumulative
return it forecast, so one calibrated quantile serves calm and turbulent
spells alike. Two estimators:

- ``garch``: a GARCH(1,1) with Gaussian quasi-likelihood, fitted by the ``arch``
  package on the ticker's returns up to the as-of (Bollerslev 1986). Its
  variance recursion is then run over the whole history with those
  parameters, and the h-step variance of the cumulative return at anchor t is
  ``sum_{k=1..h} vbar + (a + b)^(k-1) (s2_{t+1} - vbar)`` (mean reversion to
  the long-run variance ``vbar``).
- ``ewma``: RiskMetrics (J.P. Morgan 1996), ``s2_{t+1} = l s2_t + (1 - l) r_t^2``
  with ``l = 0.94``; the h-step variance is ``h s2_{t+1}``. No fit; also the
  fallback when a GARCH fit does not converge, is not stationary, or has too
  little history.

Both only read returns of sessions <= t for anchor t. Arrays are indexed by
session: ``r[k]`` is the log return from session k to k + 1, and anchor ``t``
(the session a forecast is made at) reads ``r[:t]``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from stacklstm_fin.config import VOLATILITY_MODELS

EWMA_LAMBDA = 0.94
MIN_GARCH_RETURNS = 250
# Returns are scaled by 100 before the fit: the optimizer is conditioned for % units.
_FIT_SCALE = 100.0
_VAR_FLOOR = 1e-12


@dataclass(frozen=True)
class VolatilityFit:
    """How the scales were made: the model actually used and its parameters."""

    model: str  # "garch" or "ewma" (also when a GARCH fit fell back)
    params: tuple[float, ...]  # garch: (omega, alpha, beta) in return units; ewma: (lambda,)
    note: str = ""


def one_step_variance(r: np.ndarray, model: str, *, fit_upto: int | None = None) -> tuple[
    np.ndarray, VolatilityFit
]:  # fmt: skip
    """(n + 1,) variance of ``r[t]`` given ``r[:t]``, for t = 0..n; and how it was made.

    ``fit_upto``: GARCH parameters are estimated on ``r[:fit_upto]`` only (the
    point-in-time as-of), default all of ``r``.
    """
    r = np.asarray(r, dtype=np.float64)
    if model not in VOLATILITY_MODELS:
        raise ValueError(f"volatility model: expected one of {VOLATILITY_MODELS}, got {model!r}")
    if r.ndim != 1 or r.shape[0] < 2 or not np.isfinite(r).all():
        raise ValueError(f"one_step_variance: expected >= 2 finite returns, got shape {r.shape}")
    upto = r.shape[0] if fit_upto is None else fit_upto
    if model == "garch":
        params, note = _garch_params(r[:upto])
        if params is not None:
            omega, alpha, beta = params
            return _garch_filter(r, omega, alpha, beta), VolatilityFit("garch", params)
        return _ewma_filter(r), VolatilityFit("ewma", (EWMA_LAMBDA,), note)
    return _ewma_filter(r), VolatilityFit("ewma", (EWMA_LAMBDA,))


def cumulative_scales(
    r: np.ndarray, horizons: int, model: str, *, fit_upto: int | None = None
) -> tuple[np.ndarray, VolatilityFit]:
    """(n + 1, horizons): conditional std of ``r[t] + ... + r[t + h - 1]`` given ``r[:t]``."""
    v1, fit = one_step_variance(r, model, fit_upto=fit_upto)
    steps = np.arange(horizons)  # k - 1 for k = 1..H
    if fit.model == "garch":
        omega, alpha, beta = fit.params
        persistence = alpha + beta
        vbar = omega / (1.0 - persistence)
        # (n + 1, H): E[s2_{t+k} | F_t] = vbar + p^(k-1) (s2_{t+1} - vbar)
        ahead = vbar + np.power(persistence, steps)[None, :] * (v1[:, None] - vbar)
    else:
        ahead = np.repeat(v1[:, None], horizons, axis=1)
    return np.sqrt(np.maximum(np.cumsum(ahead, axis=1), _VAR_FLOOR)), fit


def _ewma_filter(r: np.ndarray) -> np.ndarray:
    n = r.shape[0]
    out = np.empty(n + 1)
    # Seed with the mean square of the first (up to) 20 returns: RiskMetrics' warm-up.
    out[0] = max(float(np.mean(r[: min(20, n)] ** 2)), _VAR_FLOOR)
    lam = EWMA_LAMBDA
    sq = r**2
    for t in range(n):
        out[t + 1] = lam * out[t] + (1.0 - lam) * sq[t]
    return out


def _garch_filter(r: np.ndarray, omega: float, alpha: float, beta: float) -> np.ndarray:
    n = r.shape[0]
    out = np.empty(n + 1)
    out[0] = omega / (1.0 - alpha - beta)  # start at the long-run variance
    sq = r**2
    for t in range(n):
        out[t + 1] = omega + alpha * sq[t] + beta * out[t]
    return np.maximum(out, _VAR_FLOOR)


def _garch_params(r: np.ndarray) -> tuple[tuple[float, float, float] | None, str]:
    """(omega, alpha, beta) in return units, or None and why (then EWMA is used)."""
    if r.shape[0] < MIN_GARCH_RETURNS:
        return None, f"{r.shape[0]} returns < {MIN_GARCH_RETURNS} for a GARCH fit"
    from arch import arch_model

    model = arch_model(
        r * _FIT_SCALE, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning / DataScaleWarning: checked below
        try:
            res = model.fit(disp="off", show_warning=False)
        except (ValueError, np.linalg.LinAlgError) as exc:  # a degenerate series
            return None, f"GARCH fit failed: {exc}"
    if res.convergence_flag != 0:
        return None, f"GARCH fit did not converge (flag {res.convergence_flag})"
    omega = float(res.params["omega"]) / _FIT_SCALE**2
    alpha, beta = float(res.params["alpha[1]"]), float(res.params["beta[1]"])
    if not (omega > 0 and alpha >= 0 and beta >= 0 and alpha + beta < 0.9995):
        return None, f"GARCH fit not stationary (alpha {alpha:.3f}, beta {beta:.3f})"
    if not all(math.isfinite(v) for v in (omega, alpha, beta)):
        return None, "GARCH fit gave non-finite parameters"
    return (omega, alpha, beta), ""
