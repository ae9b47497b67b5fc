"""Training: fit one candidate, predict, and keep its weights as `.weights.h5`."""

from stacklstm_fin.training.trainer import (
    TrainResult,
    describe_device,
    load_weights,
    predict,
    save_weights,
    seed_everything,
    train_candidate,
)

__all__ = [
    "TrainResult",
    "describe_device",
    "load_weights",
    "predict",
    "save_weights",
    "seed_everything",
    "train_candidate",
]
