"""Model builders: the stacked-RNN families and the naive baselines."""

from stacklstm_fin.models.baselines import build_baseline, ewma_weights
from stacklstm_fin.models.builders import HEAD_NAME, INPUT_NAME, OUTPUT_NAME, build_model

__all__ = [
    "HEAD_NAME",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "build_baseline",
    "build_model",
    "ewma_weights",
]
