"""Naive baselines as Keras models with no trainable weights.

They take the same unscaled input as the neural families, so they are
evaluated, exported to ONNX and published through exactly the same path.
Each forecasts one level for the next daily log return and repeats it over
all horizons (feature 0 of the window is the one-day log return):

- ``random_walk``: 0 (tomorrow's price is today's);
- ``drift``: the mean of feature 0 over the window;
- ``ewma``: the exponentially weighted mean of feature 0 over the window,
  span ``candidate.span`` (alpha = 2 / (span + 1)), weights normalized over
  the window, newest heaviest: pandas' ``ewm(span=s, adjust=True).mean()``
  at the window's last row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stacklstm_fin.config import BASELINE_FAMILIES, CandidateConfig
from stacklstm_fin.exceptions import ModelError

if TYPE_CHECKING:
    import keras

RETURN_FEATURE = 0


def ewma_weights(window: int, span: int) -> np.ndarray:
    """(window,) float32 weights, oldest first, summing to 1."""
    alpha = 2.0 / (span + 1.0)
    ages = np.arange(window - 1, -1, -1, dtype=np.float64)  # oldest row has age window-1
    w = (1.0 - alpha) ** ages
    return (w / w.sum()).astype(np.float32)


def build_baseline(
    candidate: CandidateConfig, *, window: int, n_features: int, horizons: int
) -> keras.Model:
    """The baseline's functional model: (B, window, n_features) -> (B, horizons)."""
    import keras
    from keras import ops

    from stacklstm_fin.models.builders import INPUT_NAME, OUTPUT_NAME

    if candidate.family not in BASELINE_FAMILIES:
        raise ModelError(
            f"candidate {candidate.name!r}: family {candidate.family!r} is not a baseline; "
            f"expected one of {', '.join(BASELINE_FAMILIES)}"
        )
    inputs = keras.Input(shape=(window, n_features), dtype="float32", name=INPUT_NAME)
    r = inputs[:, :, RETURN_FEATURE]  # (B, W) one-day log returns, oldest first
    if candidate.family == "random_walk":
        level = ops.zeros_like(r[:, :1])  # (B, 1)
    elif candidate.family == "drift":
        level = ops.mean(r, axis=1, keepdims=True)  # (B, 1)
    else:  # ewma
        w = ewma_weights(window, candidate.span)[:, None]  # (W, 1)
        level = ops.matmul(r, w)  # (B, 1)
    out = ops.tile(level, (1, horizons))  # (B, H)
    # A named float32 identity so every family's output is called "log_returns".
    out = keras.layers.Identity(dtype="float32", name=OUTPUT_NAME)(out)
    return keras.Model(inputs, out, name=candidate.name)
