"""Keras vs onnxruntime: the largest absolute difference on the same windows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.export.artifacts import read_onnx_bytes, run_onnx, session_from_bytes

if TYPE_CHECKING:
    import keras

# The bar every export must pass (Keras' own onnx_test.py uses the same atol).
PARITY_ATOL = 1e-5


def check_parity(model: keras.Model, onnx_model: bytes | str | Path, x: np.ndarray) -> float:
    """max |keras(x) - onnxruntime(x)| over all windows and horizons.

    A position that is NaN on one side only counts as inf (so ``diff <= atol``
    fails); NaN on both sides counts as equal. x is (n, window, n_features), n >= 1.
    """
    from stacklstm_fin.training.trainer import predict

    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 3 or len(x) == 0:
        raise ModelError(f"x: expected a non-empty (n, window, n_features) array, got {x.shape}")
    data, _label = read_onnx_bytes(onnx_model)
    expected = predict(model, x)  # (n, H)
    got = run_onnx(session_from_bytes(data), x)  # (n, H)
    if got.shape != expected.shape:
        raise ModelError(
            f"ONNX output shape {got.shape} differs from the Keras model's {expected.shape}"
        )
    nan_a, nan_b = np.isnan(expected), np.isnan(got)
    if np.any(nan_a != nan_b):
        return math.inf
    diff = np.abs(np.where(nan_a, 0.0, expected - got))
    return float(diff.max())
