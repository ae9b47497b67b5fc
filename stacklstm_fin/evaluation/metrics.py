"""Forecast accuracy per ticker and horizon, always against the random walk.

The random walk forecasts a log return of 0 at every horizon (tomorrow's
price is today's), so its errors are the realised returns themselves.

- ``rmse``, ``mae``: of the log-return errors.
- ``mase``: MAE divided by the random walk's MAE on the same rows
  (``mean |y_true|``); the random walk scores exactly 1.0, below 1 is better.
- ``directional_accuracy``: share of rows with ``sign(pred) == sign(true)``.
  A zero forecast is a miss unless the realised return is zero too, so the
  random walk scores (almost) 0: it never calls a direction.
- ``dm_stat``, ``dm_pvalue``: Diebold-Mariano test of equal squared-error loss
  against the random walk, ``d_t = e_model^2 - e_rw^2``. Negative means the
  model is better. The long-run variance is Newey-West (Bartlett weights,
  ``h - 1`` lags for horizon ``h``, whose targets overlap), the statistic gets
  the Harvey-Leybourne-Newbold (1997) small-sample factor and a two-sided
  p-value from Student's t with ``T - 1`` degrees of freedom. Identical losses
  give 0 and 1.

``d_t`` is first averaged over the tickers of each anchor date, so the pooled
(``"*"``) test runs on one time series of dates and the cross-sectional
correlation of same-day errors cannot inflate it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stacklstm_fin.exceptions import ConfigError
from stacklstm_fin.features.windows import WindowSplit

POOLED = "*"
METRICS = ("rmse", "mae", "mase", "directional_accuracy", "dm_stat", "dm_pvalue")


@dataclass(frozen=True)
class MetricRow:
    ticker: str  # POOLED ("*") for all tickers together
    horizon: int  # 1..H
    metric: str
    value: float


def evaluate(
    y_true: np.ndarray, y_pred: np.ndarray, tickers: np.ndarray, anchor_dates: np.ndarray
) -> list[MetricRow]:
    """All :data:`METRICS` for every ticker and pooled, per horizon 1..H.

    ``y_true``, ``y_pred`` (n, H) log returns; ``tickers``, ``anchor_dates``
    (n,). Rows are ordered by (ticker, horizon, metric), pooled first.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    tickers = np.asarray(tickers).astype(str)
    anchor_dates = np.asarray(anchor_dates)
    if y_true.ndim != 2 or y_pred.shape != y_true.shape:
        raise ValueError(
            f"evaluate: expected y_true and y_pred of one shape (n, H), "
            f"got {y_true.shape} and {y_pred.shape}"
        )
    if tickers.shape != (y_true.shape[0],) or anchor_dates.shape != tickers.shape:
        raise ValueError(
            f"evaluate: expected tickers and anchor_dates of shape ({y_true.shape[0]},), "
            f"got {tickers.shape} and {anchor_dates.shape}"
        )
    if y_true.shape[0] == 0:
        raise ValueError("evaluate: expected at least one row, got none")
    order = np.lexsort((anchor_dates, tickers))  # contiguous tickers, time-ordered
    names, starts = np.unique(tickers[order], return_index=True)
    groups = [(POOLED, order)]
    groups += [(str(t), r) for t, r in zip(names, np.split(order, starts[1:]), strict=True)]
    rows: list[MetricRow] = []
    for name, idx in groups:
        values = _metrics(y_true[idx], y_pred[idx], anchor_dates[idx])
        for h in range(y_true.shape[1]):
            rows.extend(MetricRow(name, h + 1, m, float(values[m][h])) for m in METRICS)
    return rows


def evaluate_split(split: WindowSplit, y_pred: np.ndarray) -> list[MetricRow]:
    """:func:`evaluate` on a dataset split's targets."""
    return evaluate(split.y, y_pred, split.tickers, split.anchor_dates)


def score(rows: list[MetricRow], metric: str, horizon: int) -> float:
    """The pooled value of ``metric`` at ``horizon``; horizon 0 = mean over horizons."""
    pooled = {r.horizon: r.value for r in rows if r.ticker == POOLED and r.metric == metric}
    if not pooled:
        raise ConfigError(f"selection.metric: expected one of {', '.join(METRICS)}; got {metric!r}")
    if horizon == 0:
        return float(np.mean([pooled[h] for h in sorted(pooled)]))
    if horizon not in pooled:
        raise ConfigError(
            f"selection.horizon: expected 0 (mean) or 1..{max(pooled)}, got {horizon}; "
            "the dataset's horizons bound it"
        )
    return pooled[horizon]


def _metrics(
    y_true: np.ndarray, y_pred: np.ndarray, anchor_dates: np.ndarray
) -> dict[str, np.ndarray]:
    """Each metric as an (H,) array for one group of rows."""
    err = y_true - y_pred  # (n, H)
    mae = np.mean(np.abs(err), axis=0)
    rw_mae = np.mean(np.abs(y_true), axis=0)  # the random walk's errors are y_true
    with np.errstate(divide="ignore", invalid="ignore"):
        mase = np.where(rw_mae > 0, mae / rw_mae, np.nan)
    # Loss differential vs the random walk, averaged per anchor date: (n_dates, H).
    dates, inverse = np.unique(anchor_dates, return_inverse=True)
    diff = err**2 - y_true**2
    counts = np.bincount(inverse, minlength=dates.shape[0])
    dm = [
        diebold_mariano(np.bincount(inverse, diff[:, h], dates.shape[0]) / counts, h + 1)
        for h in range(err.shape[1])
    ]
    return {
        "rmse": np.sqrt(np.mean(err**2, axis=0)),
        "mae": mae,
        "mase": mase,
        "directional_accuracy": np.mean(np.sign(y_pred) == np.sign(y_true), axis=0),
        "dm_stat": np.array([s for s, _ in dm]),
        "dm_pvalue": np.array([p for _, p in dm]),
    }


def diebold_mariano(loss_diff: np.ndarray, horizon: int) -> tuple[float, float]:
    """(statistic, two-sided p-value) for mean ``loss_diff`` (T,) = 0, time-ordered.

    Newey-West variance with ``horizon - 1`` Bartlett-weighted lags, HLN
    correction, t(T - 1) reference. Degenerate cases: all-zero differences give
    (0, 1); a constant non-zero difference (±inf, 0); T < 2 or T too short for
    the HLN factor gives NaN.
    """
    from scipy import stats

    d = np.asarray(loss_diff, dtype=np.float64)
    n = d.shape[0]
    if n < 2:
        return math.nan, math.nan
    mean = float(d.mean())
    u = d - mean
    lrv = float(u @ u) / n
    for k in range(1, min(horizon, n)):
        lrv += 2.0 * (1.0 - k / horizon) * float(u[k:] @ u[:-k]) / n
    if not np.any(d):
        return 0.0, 1.0
    if lrv <= 0.0:
        return math.copysign(math.inf, mean), 0.0
    hln = (n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n
    if hln <= 0.0:
        return math.nan, math.nan
    stat = math.sqrt(hln) * mean / math.sqrt(lrv / n)
    return stat, float(2.0 * stats.t.sf(abs(stat), df=n - 1))
