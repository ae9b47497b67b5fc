"""Train one candidate: seeded, early-stopped, rejected (not raised) on divergence.

Loss scale: the model outputs unscaled log returns (its last layer multiplies
by ``target_std``), but it is *trained* through a view that ends at the head,
on ``y / target_std``. The loss is then an MSE on unit-variance targets, so
``training.divergence_loss`` and the learning rate mean the same for every
asset, and the reported losses are in target_std units (1.0 is "as bad as
predicting 0 for a unit-variance target"). The view shares its layers with the
full model, so training it trains the model that is returned and exported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import logging
import math
import os
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from stacklstm_fin.atomic import os_fault
from stacklstm_fin.config import CandidateConfig, TrainingConfig
from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.models.builders import HEAD_NAME, build_model, global_dtype_policy

if TYPE_CHECKING:
    import keras
    from numpy.typing import ArrayLike

LOGGER = logging.getLogger("stacklstm_fin.training")
WEIGHTS_SUFFIX = ".weights.h5"


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """One candidate's training outcome. Losses are MSE in target_std units."""

    model: keras.Model
    status: Literal["trained", "rejected"]
    reason: str | None
    epochs_run: int
    best_val_loss: float
    history: dict[str, list[float]]
    train_seconds: float
    device: str
    backend: str


def train_candidate(
    candidate: CandidateConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    feature_mean: ArrayLike,
    feature_std: ArrayLike,
    target_std: float,
    cfg: TrainingConfig,
    log: logging.Logger | None = None,
) -> TrainResult:
    """Build and fit ``candidate`` on x (n, window, n_features) -> y (n, horizons).

    Same data, config and seed on the same device give identical weights.
    NaN or a loss above ``cfg.divergence_loss`` stops training and returns
    status "rejected" with the reason; it never raises for that.
    """
    import keras

    log = log or LOGGER
    x_train, y_train = _check_xy("x_train", "y_train", x_train, y_train)
    x_val, y_val = _check_xy("x_val", "y_val", x_val, y_val, like=x_train.shape[1:])
    if y_val.shape[1] != y_train.shape[1]:
        raise ModelError(
            f"y_val: expected {y_train.shape[1]} horizons like y_train, got {y_val.shape[1]}"
        )
    build = functools.partial(
        build_model,
        candidate,
        window=x_train.shape[1],
        n_features=x_train.shape[2],
        horizons=y_train.shape[1],
        feature_mean=feature_mean,
        feature_std=feature_std,
        target_std=target_std,
    )
    device, backend = describe_device(), keras.backend.backend()
    if cfg.mixed_precision and backend == "jax" and device != "CPU" and candidate.is_neural:
        raise ModelError(
            "training.mixed_precision: JAX's cuDNN LSTM/GRU kernels take no float16 "
            "(jaxlib: 'Unknown output type float16'); set it to false, or train with "
            "KERAS_BACKEND=torch or tensorflow"
        )
    seed_everything(cfg.seed)
    started = time.perf_counter()
    if not candidate.is_neural:
        model = build()
        err = (predict(model, x_val) - y_val) / target_std  # (n_val, H) in target_std units
        log.info("candidate %s: baseline, nothing to train", candidate.name)
        return TrainResult(
            model, "trained", None, 0, float(np.mean(err**2)), {}, 0.0, device, backend
        )

    log.info("candidate %s: training on %s (keras backend %s)", candidate.name, device, backend)
    # mixed_float16: the RNNs compute in float16; standardization, head and rescale stay float32.
    scope = (
        global_dtype_policy("mixed_float16") if cfg.mixed_precision else contextlib.nullcontext()
    )
    with scope:
        model = build()
        # (B, W, F) -> (B, H) in target_std units: the view that is fitted.
        view = keras.Model(model.inputs, model.get_layer(HEAD_NAME).output)
        view.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse")
        monitor = _monitor_class()(candidate.name, cfg, log)
        early = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.patience, restore_best_weights=True
        )
        fitted = view.fit(
            x_train,
            y_train / np.float32(target_std),
            validation_data=(x_val, y_val / np.float32(target_std)),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            shuffle=True,
            callbacks=[monitor, early],
            verbose=0,
        )
    seconds = time.perf_counter() - started
    history = {k: [float(v) for v in vs] for k, vs in fitted.history.items()}
    val = [v for v in history.get("val_loss", []) if math.isfinite(v)]
    if monitor.reason:
        log.warning("candidate %s rejected: %s", candidate.name, monitor.reason)
    return TrainResult(
        model,
        "rejected" if monitor.reason else "trained",
        monitor.reason,
        epochs_run=len(history.get("loss", [])),
        best_val_loss=min(val) if val else math.nan,
        history=history,
        train_seconds=seconds,
        device=device,
        backend=backend,
    )


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """(n, window, n_features) -> (n, horizons) float32 log returns.

    ``predict_on_batch`` per chunk: on the 2-core CPU it was 3-4x faster than
    ``model.predict`` (no data-adapter set-up) and ~10x faster than an eager
    ``model(x)`` for RNNs (which runs the time loop in Python) for 1000 windows.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if len(x) == 0:
        return np.zeros((0, model.outputs[0].shape[-1]), dtype=np.float32)
    chunks = [model.predict_on_batch(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate([np.asarray(c, dtype=np.float32) for c in chunks])


# HDF5 structure around the arrays of a .weights.h5 file (measured: 10-20 kB).
H5_OVERHEAD_BYTES = 64 * 1024


def save_weights(model: keras.Model, path: str | Path) -> Path:
    """Write the model's weights (scaling constants included) atomically as `.weights.h5`."""
    path = Path(path)
    if not path.name.endswith(WEIGHTS_SUFFIX):
        raise ModelError(f"weights path: expected a name ending in {WEIGHTS_SUFFIX}, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{uuid.uuid4().hex}.tmp{WEIGHTS_SUFFIX}")
    # HDF5 cannot be trusted to fail cleanly on a full disk (its file object
    # crashes the interpreter at exit), so a write that cannot fit is not begun.
    need = sum(np.asarray(w).nbytes for w in model.get_weights()) + H5_OVERHEAD_BYTES
    free = shutil.disk_usage(path.parent).free
    if free < need:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    fault = None
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    except Exception as exc:
        fault = os_fault(exc, path)
        if fault is None:
            raise
    finally:
        tmp.unlink(missing_ok=True)
    if fault is not None:
        # h5py keeps the failed file open in the traceback's frames; close it now,
        # while HDF5 is alive (at interpreter exit its dealloc crashes the process).
        _collect_quietly()
        raise fault
    return path


def _collect_quietly() -> None:
    import gc
    import sys

    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None  # h5py's "Can't decrement id ref count"
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook


def load_weights(
    candidate: CandidateConfig,
    path: str | Path,
    *,
    window: int,
    n_features: int,
    horizons: int,
    feature_mean: ArrayLike,
    feature_std: ArrayLike,
    target_std: float,
    use_cudnn: bool | str = "auto",
) -> keras.Model:
    """Rebuild ``candidate``'s architecture and load a `.weights.h5` file into it.

    The scaling constants stored in the file win over the ones passed here.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    model = build_model(
        candidate,
        window=window,
        n_features=n_features,
        horizons=horizons,
        feature_mean=feature_mean,
        feature_std=feature_std,
        target_std=target_std,
        use_cudnn=use_cudnn,
    )
    where = f"{path}: does not fit candidate {candidate.name!r} ({candidate.family}, "
    where += f"units {list(candidate.units)})"
    have = _file_weight_shapes(path)
    need = sorted(tuple(w.shape) for w in model.weights)
    if have != need:
        raise ModelError(f"{where}: the file holds weights of shapes {have}, it needs {need}")
    try:
        with warnings.catch_warnings():
            # Keras only warns when a nested group is missing and keeps fresh weights
            # there: a partly loaded model is an error here, never a warning.
            warnings.filterwarnings("error", message="Skipping nested", category=UserWarning)
            model.load_weights(path)
    except (ValueError, UserWarning) as exc:
        raise ModelError(f"{where}: {str(exc).strip().splitlines()[0]}") from None
    return model


def _file_weight_shapes(path: Path) -> list[tuple[int, ...]]:
    """Sorted shapes of every array in a `.weights.h5` file."""
    import h5py

    shapes: list[tuple[int, ...]] = []

    def visit(_name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            shapes.append(tuple(obj.shape))

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(visit)
    except OSError as exc:
        raise ModelError(f"{path}: not a readable Keras .weights.h5 file: {exc}") from None
    return sorted(shapes)


def seed_everything(seed: int) -> None:
    """Python, NumPy and backend seeds; TF op determinism where the backend is TF.

    ``enable_op_determinism`` only sets a process-wide flag, so calling it for
    every candidate is safe.
    """
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@functools.cache
def describe_device() -> str:
    """The active backend's device, "CPU" or "GPU x<n> (<names>)"; logged once per process."""
    import keras

    backend = keras.backend.backend()
    names: list[str] = []
    if backend == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            names.append(str(details.get("device_name", gpu.name)))
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    elif backend == "jax":
        import jax

        names = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    device = f"GPU x{len(names)} ({', '.join(names)})" if names else "CPU"
    LOGGER.info("keras backend %s on %s", backend, device)
    return device


def _check_xy(
    x_name: str, y_name: str, x: Any, y: Any, like: tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if x.ndim != 3 or len(x) == 0:
        raise ModelError(
            f"{x_name}: expected a non-empty array (n, window, n_features), got shape {x.shape}"
        )
    if like is not None and x.shape[1:] != like:
        raise ModelError(
            f"{x_name}: expected (n, {like[0]}, {like[1]}) like x_train, got {x.shape}"
        )
    if y.ndim != 2 or len(y) != len(x):
        raise ModelError(f"{y_name}: expected shape ({len(x)}, horizons), got {y.shape}")
    return x, y


@functools.cache
def _monitor_class() -> type:
    """A callback that logs each epoch and stops on NaN or a diverging loss."""
    import keras

    class DivergenceMonitor(keras.callbacks.Callback):
        def __init__(self, name: str, cfg: TrainingConfig, log: logging.Logger) -> None:
            super().__init__()
            self.name, self.cfg, self.log = name, cfg, log
            self.reason: str | None = None
            self._started = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            loss = float(logs.get("loss", math.nan))
            val_loss = float(logs.get("val_loss", math.nan))
            self.log.info(
                "candidate %s epoch %d/%d: loss %.5g, val_loss %.5g (%.3g s)",
                self.name,
                epoch + 1,
                self.cfg.epochs,
                loss,
                val_loss,
                time.perf_counter() - self._started,
            )
            limit = self.cfg.divergence_loss
            for key, value in (("loss", loss), ("val_loss", val_loss)):
                if not math.isfinite(value) or value > limit:
                    above = f" (above training.divergence_loss={limit:g})" if value > limit else ""
                    self.reason = f"{key} diverged at epoch {epoch + 1}: {value:.6g}{above}"
                    self.model.stop_training = True
                    return

    return DivergenceMonitor
