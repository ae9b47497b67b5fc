"""One stacked-RNN builder for every neural family, the cell type a parameter.

The model takes *unscaled* windows and returns *unscaled* log returns: the
train split's feature standardization and the target scale live inside the
graph as non-trainable weights, so a `.weights.h5` file or an ONNX export is
the whole model and serving needs no side constants.

    features (B, W, F) -> Standardize -> [RNN -> Dropout] x (L-1) -> RNN
      -> Dense(H) "head" (B, H, in target_std units) -> Rescale "log_returns" (B, H)

Everything is backend-agnostic Keras 3 (``keras.ops`` only), so the same code
runs on the TensorFlow, torch and JAX backends. Keras is imported inside
functions only (parse-time speed, see pyproject's TID253 rule).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from stacklstm_fin.config import NEURAL_FAMILIES, CandidateConfig
from stacklstm_fin.exceptions import ModelError

if TYPE_CHECKING:
    import keras
    from numpy.typing import ArrayLike

INPUT_NAME = "features"
OUTPUT_NAME = "log_returns"
HEAD_NAME = "head"

# family -> (Keras layer class name, bidirectional)
_CELLS: dict[str, tuple[str, bool]] = {
    "stacked_lstm": ("LSTM", False),
    "lstm": ("LSTM", False),
    "gru": ("GRU", False),
    "bilstm": ("LSTM", True),
}
assert set(_CELLS) == set(NEURAL_FAMILIES)


def build_model(
    candidate: CandidateConfig,
    *,
    window: int,
    n_features: int,
    horizons: int,
    feature_mean: ArrayLike,
    feature_std: ArrayLike,
    target_std: float,
    use_cudnn: bool | str = "auto",
) -> keras.Model:
    """The candidate's functional model: (B, window, n_features) -> (B, horizons).

    ``use_cudnn`` goes to every LSTM/GRU layer ("auto", True or False). The
    cuDNN fast-path conditions (tanh, sigmoid, no recurrent dropout, no
    unroll) always hold, so "auto" takes cuDNN wherever the backend has it.
    Baseline families dispatch to :mod:`stacklstm_fin.models.baselines`.
    """
    import keras

    _check_shape("window", window)
    _check_shape("n_features", n_features)
    _check_shape("horizons", horizons)
    if not candidate.is_neural:
        from stacklstm_fin.models.baselines import build_baseline

        return build_baseline(candidate, window=window, n_features=n_features, horizons=horizons)
    if use_cudnn not in ("auto", True, False):
        raise ModelError(f"use_cudnn: expected 'auto', True or False, got {use_cudnn!r}")
    mean, std, scale = check_constants(n_features, feature_mean, feature_std, target_std)
    layers = custom_layers()

    inputs = keras.Input(shape=(window, n_features), dtype="float32", name=INPUT_NAME)
    h = layers.Standardize(mean, std, name="standardize")(inputs)  # (B, W, F)
    n_layers = len(candidate.units)
    for i, units in enumerate(candidate.units):
        last = i == n_layers - 1
        rnn = _recurrent_layer(candidate.family, units, not last, use_cudnn, name=f"rnn_{i}")
        h = rnn(h)  # (B, W, u_i) between layers; (B, u_last) after the last (x2 if bilstm)
        if not last and candidate.dropout > 0:
            h = keras.layers.Dropout(candidate.dropout, name=f"dropout_{i}")(h)
    # The head and everything after it stay float32 under a mixed_float16 policy.
    z = keras.layers.Dense(horizons, dtype="float32", name=HEAD_NAME)(h)  # (B, H) scaled
    out = layers.Rescale(scale, name=OUTPUT_NAME)(z)  # (B, H) log returns
    return keras.Model(inputs, out, name=candidate.name)


def check_constants(
    n_features: int, feature_mean: ArrayLike, feature_std: ArrayLike, target_std: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Validate the train split's scaling constants; float32 arrays and a float."""
    mean = np.asarray(feature_mean, dtype=np.float32)
    std = np.asarray(feature_std, dtype=np.float32)
    for name, arr in (("feature_mean", mean), ("feature_std", std)):
        if arr.shape != (n_features,):
            raise ModelError(
                f"{name}: expected shape ({n_features},) to match n_features, got {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ModelError(f"{name}: expected finite values, got {arr.tolist()}")
    if np.any(std <= 0):
        raise ModelError(
            f"feature_std: expected every value > 0, got {std.tolist()}; "
            "a constant feature cannot be standardized, drop it from the dataset"
        )
    scale = float(target_std)
    if not (math.isfinite(scale) and scale > 0):
        raise ModelError(f"target_std: expected a finite value > 0, got {target_std!r}")
    return mean, std, scale


def _check_shape(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ModelError(f"{name}: expected a positive integer, got {value!r}")


def _recurrent_layer(
    family: str, units: int, return_sequences: bool, use_cudnn: bool | str, *, name: str
) -> keras.layers.Layer:
    """The family's recurrent layer (``getattr(keras.layers, cell)``, as darts does)."""
    import keras

    cell, bidirectional = _CELLS[family]
    kwargs: dict[str, Any] = {
        # The cuDNN fast-path conditions: keep them all.
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "recurrent_dropout": 0.0,
        "unroll": False,
        "use_cudnn": use_cudnn,
        "return_sequences": return_sequences,
    }
    if cell == "GRU":
        kwargs["reset_after"] = True
    if bidirectional:
        return keras.layers.Bidirectional(getattr(keras.layers, cell)(units, **kwargs), name=name)
    return getattr(keras.layers, cell)(units, name=name, **kwargs)


@functools.cache
def custom_layers() -> SimpleNamespace:
    """The package's two constant layers, defined on first use (lazy keras import)."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="stacklstm_fin")
    class Standardize(keras.layers.Layer):
        """``(x - mean) / std`` per feature; the constants are non-trainable weights."""

        def __init__(self, mean: ArrayLike, std: ArrayLike, **kwargs: Any) -> None:
            kwargs["dtype"] = "float32"  # never float16, whatever the global policy
            super().__init__(**kwargs)
            self._mean = np.asarray(mean, dtype=np.float32)
            self._std = np.asarray(std, dtype=np.float32)

        def build(self, input_shape: tuple[int | None, ...]) -> None:
            shape = self._mean.shape
            self.mean = self.add_weight(shape=shape, name="mean", trainable=False)
            self.std = self.add_weight(shape=shape, name="std", trainable=False)
            self.mean.assign(self._mean)
            self.std.assign(self._std)

        def call(self, x: Any) -> Any:
            return ops.divide(ops.subtract(x, self.mean), self.std)  # (B, W, F)

        def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
            return input_shape

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "mean": self._mean.tolist(), "std": self._std.tolist()}

    @keras.saving.register_keras_serializable(package="stacklstm_fin")
    class Rescale(keras.layers.Layer):
        """``z * scale``: the head's target_std units back to log returns."""

        def __init__(self, scale: float, **kwargs: Any) -> None:
            kwargs["dtype"] = "float32"
            super().__init__(**kwargs)
            self._scale = float(scale)

        def build(self, input_shape: tuple[int | None, ...]) -> None:
            self.scale = self.add_weight(shape=(), name="scale", trainable=False)
            self.scale.assign(self._scale)

        def call(self, z: Any) -> Any:
            return ops.multiply(z, self.scale)  # (B, H)

        def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
            return input_shape

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "scale": self._scale}

    return SimpleNamespace(Standardize=Standardize, Rescale=Rescale)


@contextlib.contextmanager
def global_dtype_policy(name: str) -> Iterator[None]:
    """Set Keras' global dtype policy for the block, then restore the previous one."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
