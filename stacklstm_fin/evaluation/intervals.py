"""Split-conformal prediction intervals for price paths.

A price ``h`` sessions ahead is ``last_close * exp(R_h)`` with ``R_h`` the
cumulative log return over sessions 1..h. So the interval is built on ``R_h``
directly: residuals of the cumulative sums on the validation split (which the
model did not train on) give a symmetric half-width per horizon, and the price
interval is ``last_close * exp(R_hat_h ± q_h)``: asymmetric in price, never
negative. Coverage is marginal, pooled over the tickers and dates of the
validation split, and assumes those residuals are exchangeable with future
ones (approximately true for a stationary series; not under regime change).
"""

from __future__ import annotations

import math

import numpy as np

# (n + 1) * level is compared with this slack so 10 * 0.8 stays 8, not 8.000000000000002.
_EPS = 1e-9


def cumulative(y: np.ndarray) -> np.ndarray:
    """(n, H) per-session log returns -> (n, H) cumulative log returns over 1..h."""
    return np.cumsum(y, axis=1)


def cumulative_residuals(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(n, H): realised minus forecast cumulative log return, per horizon."""
    return cumulative(np.asarray(y_true, np.float64)) - cumulative(np.asarray(y_pred, np.float64))


def conformal_halfwidths(residuals_val: np.ndarray, level: float) -> np.ndarray:
    """(H,) half-widths: the ceil((n + 1) * level)-th smallest |residual| per horizon.

    Pass :func:`cumulative_residuals` of the validation split. With that
    finite-sample rank, a new exchangeable residual is within the half-width
    with probability >= ``level``. When ``ceil((n + 1) * level) > n`` no finite
    half-width guarantees it and the result is ``inf``.
    """
    res = np.abs(np.asarray(residuals_val, dtype=np.float64))
    if res.ndim != 2 or res.shape[0] == 0:
        raise ValueError(f"conformal_halfwidths: expected residuals (n >= 1, H), got {res.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"conformal_halfwidths: expected 0 < level < 1, got {level!r}")
    if not np.isfinite(res).all():
        raise ValueError("conformal_halfwidths: residuals must be finite (a NaN forecast?)")
    n = res.shape[0]
    rank = math.ceil((n + 1) * level - _EPS)  # 1-based
    if rank > n:
        return np.full(res.shape[1], np.inf)
    return np.partition(res, rank - 1, axis=0)[rank - 1]


def price_path(
    last_close: float, log_returns: np.ndarray, halfwidths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(yhat_close, lower_close, upper_close), each (H,), for one ticker.

    ``log_returns`` (H,) per-session forecasts; ``halfwidths`` (H,) from
    :func:`conformal_halfwidths` on cumulative residuals.
    """
    cum = np.cumsum(np.asarray(log_returns, dtype=np.float64))  # (H,)
    hw = np.asarray(halfwidths, dtype=np.float64)
    if cum.shape != hw.shape:
        raise ValueError(
            f"price_path: expected log_returns and halfwidths of one shape, "
            f"got {cum.shape} and {hw.shape}"
        )
    return last_close * np.exp(cum), last_close * np.exp(cum - hw), last_close * np.exp(cum + hw)
