"""Accuracy against the random walk, and conformal price intervals."""

from stacklstm_fin.evaluation.intervals import (
    conformal_halfwidths,
    cumulative,
    cumulative_residuals,
    price_path,
)
from stacklstm_fin.evaluation.metrics import (
    METRICS,
    POOLED,
    MetricRow,
    diebold_mariano,
    evaluate,
    evaluate_split,
    score,
)

__all__ = [
    "METRICS",
    "POOLED",
    "MetricRow",
    "conformal_halfwidths",
    "cumulative",
    "cumulative_residuals",
    "diebold_mariano",
    "evaluate",
    "evaluate_split",
    "price_path",
    "score",
]
