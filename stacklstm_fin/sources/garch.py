"""GARCH(1, 1) arithmetic for the synthetic source, in plain numpy.

``r_t = mu + sigma_t e_t`` with ``e_t ~ N(0, 1)`` and
``sigma_t^2 = omega_t + alpha (r_{t-1} - mu)^2 + beta sigma_{t-1}^2``, where
``omega_t`` may change on a date (a volatility regime). Both functions work
on many tickers at once (leading axis) and are exact, not estimated.
"""

from __future__ import annotations

import numpy as np


def simulate(
    mu: float,
    omega: np.ndarray,
    alpha: float,
    beta: float,
    r_init: np.ndarray,
    h_init: np.ndarray,
    eps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and conditional variances, both ``(k, n)``.

    ``omega`` is ``(k, n)`` (per ticker and session), ``r_init``/``h_init`` are
    ``(k,)``: the return and variance of the session before the first, and
    ``eps`` is ``(k, n)`` standard normal. ``h[:, t]`` is ``Var(r_t | F_{t-1})``.
    """
    k, n = eps.shape
    r = np.empty((k, n))
    h = np.empty((k, n))
    r_prev, h_prev = r_init, h_init
    for t in range(n):  # the recursion, vectorised over tickers
        h_prev = omega[:, t] + alpha * (r_prev - mu) ** 2 + beta * h_prev
        r_prev = mu + np.sqrt(h_prev) * eps[:, t]
        h[:, t] = h_prev
        r[:, t] = r_prev
    return r, h


def expected_variances(
    mu: float,
    omega_ahead: np.ndarray,
    alpha: float,
    beta: float,
    r_t: np.ndarray,
    h_t: np.ndarray,
) -> np.ndarray:
    """``E[sigma^2_{t+k} | F_t]`` for ``k = 1..H``, shape ``(m, H)``, for ``m`` anchors t.

    ``omega_ahead`` is ``(m, H)``: omega of sessions ``t+1..t+H``; ``r_t``,
    ``h_t`` are ``(m,)``. ``sigma^2_{t+1}`` is known at t; after that
    ``E[sigma^2_{t+k}] = omega_{t+k} + (alpha + beta) E[sigma^2_{t+k-1}]``
    because ``E[(r_{t+k-1} - mu)^2 | F_t] = E[sigma^2_{t+k-1} | F_t]``.
    """
    m, horizons = omega_ahead.shape
    out = np.empty((m, horizons))
    out[:, 0] = omega_ahead[:, 0] + alpha * (r_t - mu) ** 2 + beta * h_t
    for j in range(1, horizons):
        out[:, j] = omega_ahead[:, j] + (alpha + beta) * out[:, j - 1]
    return out
