"""Statistical evidence against the random walk, per ticker and between models.

- Losses per test window at the selection horizon: squared error for
  ``rmse``, absolute error for ``mae``/``mase`` (horizon 0: the mean over
  horizons), on the per-session log returns the models forecast.
- One-sided Diebold-Mariano tests (Diebold & Mariano 1995) with the
  Harvey-Leybourne-Newbold (1997) small-sample correction, from
  :func:`stacklstm_fin.evaluation.metrics.diebold_mariano`.
- Multiple testing over tickers: Holm (1979) step-down adjusted p-values
  (family-wise error), or Benjamini-Hochberg (1995) (false discovery rate).
- A scale-free score: the geometric mean over tickers of each ticker's loss
  ratio to the random walk (RMSE ratio for ``rmse``, MAE ratio otherwise), so no
  ticker decides the ranking by its price scale (docs/adr/0008).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stacklstm_fin.evaluation.metrics import diebold_mariano

CORRECTIONS = ("holm", "bh")


@dataclass(frozen=True)
class Evidence:
    """A model against a reference (the random walk, or the champion) on the same windows."""

    windows: int
    loss: float  # RMSE (or MAE) of the model
    reference_loss: float  # the same of the reference
    ratio: float  # loss / reference_loss
    dm_stat: float
    p_value: float  # one-sided: H1 = the model's loss is lower


def window_losses(y: np.ndarray, pred: np.ndarray, metric: str, horizon: int) -> np.ndarray:
    """(n,) loss of each window: the mean over horizons when ``horizon`` is 0."""
    err = np.asarray(y, dtype=np.float64) - np.asarray(pred, dtype=np.float64)  # (n, H)
    loss = err**2 if metric == "rmse" else np.abs(err)
    return loss.mean(axis=1) if horizon == 0 else loss[:, horizon - 1]


def _summary(loss: np.ndarray, metric: str) -> float:
    mean = float(np.mean(loss)) if loss.size else math.nan
    return math.sqrt(mean) if metric == "rmse" else mean


def compare(
    loss: np.ndarray, reference: np.ndarray, dates: np.ndarray, metric: str, lags: int
) -> Evidence:
    """One-sided DM of ``loss`` < ``reference`` (both (n,), aligned windows).

    Windows are averaged per anchor date first (one series in time order);
    ``lags`` is the forecast horizon the Newey-West variance spans.
    """
    diff = np.asarray(loss, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    days, inverse = np.unique(np.asarray(dates), return_inverse=True)
    per_day = np.bincount(inverse, weights=diff) / np.bincount(inverse)  # (n_days,)
    stat, two_sided = diebold_mariano(per_day, max(lags, 1))
    if math.isnan(stat):
        p = math.nan
    elif stat < 0:
        p = two_sided / 2.0
    else:
        p = 1.0 - two_sided / 2.0
    model, ref = _summary(loss, metric), _summary(reference, metric)
    return Evidence(
        windows=int(days.shape[0]), loss=model, reference_loss=ref,
        ratio=model / ref if ref > 0 else math.nan, dm_stat=stat, p_value=p,
    )  # fmt: skip


def adjust(p_values: list[float], method: str) -> list[float]:
    """Adjusted p-values (NaN stays NaN and counts as no evidence)."""
    if method not in CORRECTIONS:
        raise ValueError(f"multiple testing: expected one of {CORRECTIONS}, got {method!r}")
    p = np.array([1.0 if math.isnan(v) else v for v in p_values], dtype=np.float64)
    m = p.shape[0]
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adj = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return [math.nan if math.isnan(v) else float(a) for v, a in zip(p_values, out, strict=True)]


def scale_free_score(
    y: np.ndarray, pred: np.ndarray, tickers: np.ndarray, metric: str, horizon: int
) -> float:
    """Geometric mean over tickers of the loss ratio to the random walk (1.0 = the random walk)."""
    model = window_losses(y, pred, metric, horizon)
    rw = window_losses(y, np.zeros_like(y), metric, horizon)
    logs = []
    for ticker in np.unique(tickers):
        mine = tickers == ticker
        ref = _summary(rw[mine], metric)
        if ref > 0:
            logs.append(math.log(_summary(model[mine], metric) / ref))
    return math.exp(float(np.mean(logs))) if logs else math.nan


def normalized_losses(
    y: np.ndarray, pred: np.ndarray, tickers: np.ndarray, metric: str, horizon: int
) -> np.ndarray:
    """(n,) window losses divided by the random walk's mean loss on the same ticker.

    Pooling these over tickers weighs each ticker equally, whatever its scale.
    """
    loss = window_losses(y, pred, metric, horizon)
    rw = window_losses(y, np.zeros_like(y), metric, horizon)
    out = np.empty_like(loss)
    for ticker in np.unique(tickers):
        mine = tickers == ticker
        scale = float(np.mean(rw[mine]))
        out[mine] = loss[mine] / scale if scale > 0 else loss[mine]
    return out
