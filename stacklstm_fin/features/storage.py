"""Persist a :class:`Dataset` between processes (Airflow tasks) without pickle.

One ``.npz`` of plain arrays (``allow_pickle=False`` on read) plus the scalar
fields as JSON inside it; written through a temp file and an atomic rename.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from stacklstm_fin.atomic import atomic_writer
from stacklstm_fin.exceptions import DatasetError
from stacklstm_fin.features.dataset import Dataset
from stacklstm_fin.features.windows import WindowSplit

_SPLITS = ("train", "validation", "test", "latest")
_FIELDS = ("x", "y", "tickers", "anchor_dates")


def save_dataset(ds: Dataset, path: Path) -> Path:
    arrays: dict[str, np.ndarray] = {
        "feature_mean": ds.feature_mean,
        "feature_std": ds.feature_std,
    }
    for name in _SPLITS:
        split: WindowSplit = getattr(ds, name)
        for field in _FIELDS:
            arrays[f"{name}.{field}"] = np.asarray(getattr(split, field))
    meta = {
        "as_of": ds.as_of.isoformat(),
        "window": ds.window,
        "horizons": ds.horizons,
        "feature_names": list(ds.feature_names),
        "tickers": list(ds.tickers),
        "target_std": ds.target_std,
        "spans": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in ds.spans.items()},
        "data_hash": ds.data_hash,
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_writer(path) as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    return path


def load_dataset(path: Path) -> Dataset:
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}; run the build-dataset step first")
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        splits = {
            name: WindowSplit(*(data[f"{name}.{field}"] for field in _FIELDS)) for name in _SPLITS
        }
        return Dataset(
            as_of=dt.date.fromisoformat(meta["as_of"]),
            window=meta["window"],
            horizons=meta["horizons"],
            feature_names=tuple(meta["feature_names"]),
            tickers=tuple(meta["tickers"]),
            feature_mean=data["feature_mean"],
            feature_std=data["feature_std"],
            target_std=meta["target_std"],
            spans={
                k: (dt.date.fromisoformat(a), dt.date.fromisoformat(b))
                for k, (a, b) in meta["spans"].items()
            },
            data_hash=meta["data_hash"],
            **splits,
        )
