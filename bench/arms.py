"""The training arms, each one fit call on the same arrays, timed per epoch.

- ``trainer``: the product, :func:`stacklstm_fin.training.train_candidate`
  (standardization inside the graph, early stopping, divergence monitor, seeds,
  TensorFlow op determinism). Its epoch times come from its own per-epoch log
  line (the monitor passes the seconds as the last argument).
- ``keras_fit``: what a user would otherwise write: a ``keras.Sequential`` of the
  same layers and sizes, ``compile(Adam, "mse")``, ``fit`` on standardized
  in-memory arrays, no callbacks but a timer, TensorFlow op determinism off.
- ``torch``: a plain PyTorch ``nn.LSTM``/``nn.GRU`` stack, Adam, MSE, the usual
  shuffled mini-batch loop over tensors already on the device.

Every arm runs the same number of epochs, shuffles, and evaluates the same
validation arrays once per epoch, so an epoch is the same work in each.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from typing import Any

import numpy as np

from stacklstm_fin.config import CandidateConfig, TrainingConfig

ARMS = ("trainer", "keras_fit", "torch")
LEARNING_RATE = 1e-3


@dataclasses.dataclass(frozen=True)
class Data:
    """Arrays shared by every arm: raw for the trainer, standardized for the plain arms."""

    x: np.ndarray  # (n_train, W, F) float32, unscaled
    y: np.ndarray  # (n_train, H) float32
    x_val: np.ndarray
    y_val: np.ndarray
    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)
    target_std: float
    xs: np.ndarray  # (n_train, W, F) standardized
    ys: np.ndarray  # (n_train, H) in target_std units
    xs_val: np.ndarray
    ys_val: np.ndarray


def make_data(
    n_train: int, n_val: int, window: int, n_features: int, horizons: int, seed: int = 0
) -> Data:
    """AR(1) 'returns' with a few derived features, and the next ``horizons`` returns.

    Random data, never zeros: the values do not change the arithmetic of an RNN,
    but they keep the loss finite and the timing honest.
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_val
    r = np.empty(n + window + horizons)
    r[0] = 0.0
    eps = rng.standard_normal(len(r)) * 0.01
    for t in range(1, len(r)):
        r[t] = 0.3 * r[t - 1] + eps[t]
    idx = np.arange(n)[:, None] + np.arange(window)[None, :]  # (n, W)
    base = r[idx]  # (n, W)
    extra = rng.standard_normal((n, window, n_features - 1)) * 0.5 + 1.0
    x = np.concatenate([base[:, :, None], extra], axis=2).astype(np.float32)  # (n, W, F)
    tidx = np.arange(n)[:, None] + window + np.arange(horizons)[None, :]
    y = r[tidx].astype(np.float32)  # (n, H)
    mean = x[:n_train].reshape(-1, n_features).mean(0).astype(np.float32)
    std = x[:n_train].reshape(-1, n_features).std(0).astype(np.float32)
    target_std = float(y[:n_train].std())
    xs = ((x - mean) / std).astype(np.float32)
    ys = (y / np.float32(target_std)).astype(np.float32)
    return Data(
        x[:n_train],
        y[:n_train],
        x[n_train:],
        y[n_train:],
        mean,
        std,
        target_std,
        xs[:n_train],
        ys[:n_train],
        xs[n_train:],
        ys[n_train:],
    )


@dataclasses.dataclass(frozen=True)
class ArmRun:
    """One fit call of one arm: seconds per epoch (the first holds compile/trace time)."""

    epoch_s: list[float]  # wall seconds
    epoch_cpu_s: list[float]  # CPU seconds of this process (all its threads)
    call_s: float  # the whole call, model building included
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def steady_s(self) -> list[float]:
        return self.epoch_s[1:]

    @property
    def steady_cpu_s(self) -> list[float]:
        return self.epoch_cpu_s[1:]

    @property
    def compile_s(self) -> float:
        """First epoch minus a steady epoch: trace/compile and warm-up."""
        steady = sorted(self.steady_s)
        if not steady:
            return math.nan
        return self.epoch_s[0] - steady[len(steady) // 2]


def run_arm(arm: str, candidate: CandidateConfig, data: Data, epochs: int, batch: int) -> ArmRun:
    if arm == "trainer":
        return run_trainer(candidate, data, epochs, batch)
    if arm == "keras_fit":
        return run_keras_fit(candidate, data, epochs, batch)
    if arm == "torch":
        return run_torch(candidate, data, epochs, batch)
    raise ValueError(f"arm: expected one of {', '.join(ARMS)}, got {arm!r}")


# --------------------------------------------------------------------------- trainer


class _EpochLog(logging.Handler):
    """Collects the trainer monitor's per-epoch seconds (its record's last argument).

    CPU seconds per epoch are the process-time differences between consecutive
    epoch-end records (the first from ``cpu_start``).
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: list[float] = []
        self.cpu_marks: list[float] = []
        self.cpu_start = time.process_time()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if "epoch" in str(record.msg) and args and isinstance(args[-1], float):
            self.seconds.append(args[-1])
            self.cpu_marks.append(time.process_time())

    @property
    def cpu_seconds(self) -> list[float]:
        marks = [self.cpu_start, *self.cpu_marks]
        return [b - a for a, b in itertools.pairwise(marks)]


def run_trainer(candidate: CandidateConfig, data: Data, epochs: int, batch: int) -> ArmRun:
    from stacklstm_fin.training import train_candidate

    log = logging.getLogger(f"bench.trainer.{candidate.name}")
    handler = _EpochLog()
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    # patience >= epochs: early stopping never cuts the timed epochs short.
    cfg = TrainingConfig(
        epochs=epochs, batch_size=batch, learning_rate=LEARNING_RATE, patience=epochs, seed=42
    )
    started = time.perf_counter()
    handler.cpu_start = time.process_time()
    result = train_candidate(
        candidate,
        data.x,
        data.y,
        data.x_val,
        data.y_val,
        feature_mean=data.mean,
        feature_std=data.std,
        target_std=data.target_std,
        cfg=cfg,
        log=log,
    )
    call_s = time.perf_counter() - started
    if result.status != "trained":
        raise RuntimeError(f"trainer arm: candidate {candidate.name} {result.reason}")
    if len(handler.seconds) != result.epochs_run:
        raise RuntimeError(
            f"trainer arm: read {len(handler.seconds)} epoch times from the trainer's log for "
            f"{result.epochs_run} epochs; its per-epoch log line changed, update bench/arms.py"
        )
    return ArmRun(
        handler.seconds,
        handler.cpu_seconds,
        call_s,
        {
            "device": result.device,
            "backend": result.backend,
            "final_loss": result.history["loss"][-1],
        },
    )


# --------------------------------------------------------------------------- keras fit


def plain_keras_model(candidate: CandidateConfig, window: int, n_features: int, horizons: int):
    """The same stack a user would write: Sequential([RNN, Dropout] x (L-1), RNN, Dense)."""
    import keras

    cell = {"stacked_lstm": "LSTM", "lstm": "LSTM", "gru": "GRU"}[candidate.family]
    layers: list[Any] = [keras.Input((window, n_features))]
    for i, units in enumerate(candidate.units):
        last = i == len(candidate.units) - 1
        layers.append(getattr(keras.layers, cell)(units, return_sequences=not last))
        if not last and candidate.dropout > 0:
            layers.append(keras.layers.Dropout(candidate.dropout))
    layers.append(keras.layers.Dense(horizons))
    return keras.Sequential(layers)


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.cpu_seconds: list[float] = []
            self._t0 = self._c0 = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._t0, self._c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._t0)
            self.cpu_seconds.append(time.process_time() - self._c0)

    return EpochTimer()


def set_tf_determinism(enabled: bool) -> bool | None:
    """Switch TensorFlow's process-wide op determinism; None where the backend is not TF."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    from tensorflow.python.framework import config as tf_config

    if enabled:
        tf_config.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()
    return bool(tf_config.is_op_determinism_enabled())


def run_keras_fit(candidate: CandidateConfig, data: Data, epochs: int, batch: int) -> ArmRun:
    import keras

    determinism = set_tf_determinism(False)  # the trainer turns it on process-wide
    started = time.perf_counter()
    keras.utils.set_random_seed(42)
    model = plain_keras_model(candidate, data.x.shape[1], data.x.shape[2], data.y.shape[1])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse")
    timer = _epoch_timer()
    hist = model.fit(
        data.xs,
        data.ys,
        validation_data=(data.xs_val, data.ys_val),
        epochs=epochs,
        batch_size=batch,
        shuffle=True,
        verbose=0,
        callbacks=[timer],
    )
    call_s = time.perf_counter() - started
    info = {"tf_op_determinism": determinism, "final_loss": hist.history["loss"][-1]}
    return ArmRun(timer.seconds, timer.cpu_seconds, call_s, info)


def keras_step_seconds(candidate: CandidateConfig, data: Data, batch: int, steps: int) -> float:
    """Seconds per training step of the plain Keras model at a tiny batch.

    The best of epochs 2..4: a bound is what the framework can do, and other
    processes on the machine only ever make a step slower.
    """
    import keras

    set_tf_determinism(False)
    model = plain_keras_model(candidate, data.x.shape[1], data.x.shape[2], data.y.shape[1])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse")
    n = batch * steps
    timer = _epoch_timer()
    model.fit(
        data.xs[:n],
        data.ys[:n],
        epochs=4,
        batch_size=batch,
        shuffle=True,
        verbose=0,
        callbacks=[timer],
    )
    return min(timer.seconds[1:]) / steps


# --------------------------------------------------------------------------- torch


def torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _torch_net(candidate: CandidateConfig, n_features: int, horizons: int):
    import torch
    from torch import nn

    cell = {"stacked_lstm": nn.LSTM, "lstm": nn.LSTM, "gru": nn.GRU}[candidate.family]

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sizes = [n_features, *candidate.units]
            self.rnns = nn.ModuleList(
                cell(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(sizes) - 1)
            )
            self.drop = nn.Dropout(candidate.dropout)
            self.head = nn.Linear(sizes[-1], horizons)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = x  # (B, W, F)
            for i, rnn in enumerate(self.rnns):
                h, _ = rnn(h)  # (B, W, units_i)
                if i < len(self.rnns) - 1:
                    h = self.drop(h)
            return self.head(h[:, -1])  # (B, H)

    return Net()


def _torch_epochs(
    candidate: CandidateConfig,
    xs: np.ndarray,
    ys: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    epochs: int,
    batch: int,
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each epoch."""
    import torch

    device = torch_device()
    torch.manual_seed(42)
    net = _torch_net(candidate, xs.shape[2], ys.shape[1]).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.MSELoss()
    x, y = torch.from_numpy(xs).to(device), torch.from_numpy(ys).to(device)
    xv, yv = (torch.from_numpy(a).to(device) for a in val) if val else (None, None)
    seconds, cpu_seconds = [], []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        net.train()
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        if xv is not None:
            net.eval()
            with torch.no_grad():
                loss_fn(net(xv), yv).item()
        if device == "cuda":
            torch.cuda.synchronize()
        else:
            loss.item()
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(time.process_time() - c0)
    return seconds, cpu_seconds


def run_torch(candidate: CandidateConfig, data: Data, epochs: int, batch: int) -> ArmRun:
    import torch

    started = time.perf_counter()
    val = (data.xs_val, data.ys_val)
    seconds, cpu_seconds = _torch_epochs(candidate, data.xs, data.ys, val, epochs, batch)
    info = {
        "device": torch_device(),
        "threads": torch.get_num_threads(),
        "cudnn": bool(torch.backends.cudnn.enabled),
    }
    return ArmRun(seconds, cpu_seconds, time.perf_counter() - started, info)


def torch_step_seconds(candidate: CandidateConfig, data: Data, batch: int, steps: int) -> float:
    """Seconds per training step of the torch arm at a tiny batch: the best of epochs 2..4."""
    n = batch * steps
    seconds, _cpu = _torch_epochs(candidate, data.xs[:n], data.ys[:n], None, 4, batch)
    return min(seconds[1:]) / steps
