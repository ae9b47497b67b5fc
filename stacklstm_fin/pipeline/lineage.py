"""Lineage: code version, package versions, deterministic ids and run folders."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from stacklstm_fin import __version__
from stacklstm_fin.config import CandidateConfig, Config

TRACKED_PACKAGES = (
    "stacklstm-fin", "keras", "tensorflow", "onnx", "onnxruntime", "tf2onnx", "numpy",
    "polars", "duckdb", "great-expectations", "exchange-calendars",
)  # fmt: skip


@functools.cache
def code_version() -> str:
    """``<package version>+g<commit>`` inside a git checkout, else the package version."""
    here = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}" if sha else __version__


@functools.cache
def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def model_id(cfg: Config, candidate: CandidateConfig, as_of: dt.date, data_hash: str) -> str:
    """Deterministic: same data, settings and release give the same id (re-runs are no-ops).

    The package version, not the commit, enters the id: a documentation commit
    must not retrain every model. The commit is recorded as ``code_version``.
    """
    basis = {
        "data_hash": data_hash,
        "candidate": dataclasses.asdict(candidate),
        "training": dataclasses.asdict(cfg.training) if candidate.is_neural else None,
        "dataset": dataclasses.asdict(cfg.dataset),
        "package_version": __version__,
    }
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()
    return f"{candidate.name}-{as_of:%Y%m%d}-{digest[:10]}"


def run_dir(cfg: Config, as_of: dt.date, data_hash: str) -> Path:
    """Where one as-of's dataset and candidate files live."""
    return cfg.data_root / "runs" / f"{as_of.isoformat()}-{data_hash[:12]}"


def hyperparameters(cfg: Config, candidate: CandidateConfig) -> dict[str, Any]:
    params: dict[str, Any] = dataclasses.asdict(candidate)
    params["window"] = cfg.dataset.window
    params["horizons"] = cfg.dataset.horizons
    if candidate.is_neural:
        params["training"] = dataclasses.asdict(cfg.training)
    return params
