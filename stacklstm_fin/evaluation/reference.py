"""The reference engine published intervals are measured against: GARCH(1,1)-t.

Per ticker and as-of, a GARCH(1,1) with Student-t innovations (Bollerslev
1987) is fitted by the ``arch`` package on the ticker's returns up to the
as-of, and its h-step variance forecasts give the interval
``yhat ± t_nu^-1(1 - alpha/2) sqrt((nu - 2) / nu) sqrt(sum_k var_k)`` around the
same point forecast that was published (the sum of t variables is not t: the
usual approximation). Used by ``stacklstm-fin evaluate`` only, never to publish.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

_FIT_SCALE = 100.0
HISTORY = 2500


def garch_t_halfwidths(returns: np.ndarray, horizons: int, level: float) -> np.ndarray:
    """(horizons,) half-widths on the cumulative log return after the last of ``returns``.

    NaN when the fit fails or has fewer than 250 returns.
    """
    from arch import arch_model
    from scipy import stats

    r = np.asarray(returns, dtype=np.float64)[-HISTORY:]
    if r.shape[0] < 250 or not np.isfinite(r).all():
        return np.full(horizons, np.nan)
    model = arch_model(r * _FIT_SCALE, mean="Zero", vol="GARCH", p=1, q=1, dist="t",
                       rescale=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = model.fit(disp="off", show_warning=False)
        except (ValueError, np.linalg.LinAlgError):
            return np.full(horizons, np.nan)
    nu = float(fit.params["nu"])
    variance = fit.forecast(horizon=horizons, reindex=False).variance.to_numpy()[-1]
    z = float(stats.t.ppf(0.5 + level / 2, nu)) * math.sqrt((nu - 2) / nu)
    return z * np.sqrt(np.cumsum(variance)) / _FIT_SCALE


def interval_score(lower: np.ndarray, upper: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    """Winkler / Gneiting & Raftery (2007) interval score: lower is better."""
    alpha = 1.0 - level
    return (upper - lower) + (2.0 / alpha) * (
        np.maximum(lower - y, 0.0) + np.maximum(y - upper, 0.0)
    )
