"""Build the dataset, train and evaluate each candidate, record them.

Each step reads and writes files under the as-of's run folder
(``<data_root>/runs/<as_of>-<data_hash>``) so it can run in its own process
(one Airflow task per candidate); the warehouse is written only by
:func:`record_run`, once, after every candidate has finished.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stacklstm_fin.atomic import write_bytes_atomic
from stacklstm_fin.config import CandidateConfig, Config
from stacklstm_fin.evaluation import evaluate, score
from stacklstm_fin.evaluation.intervals import conformal_halfwidths, cumulative_residuals
from stacklstm_fin.evaluation.metrics import POOLED, MetricRow, diebold_mariano
from stacklstm_fin.exceptions import ConfigError, DatasetError
from stacklstm_fin.features.dataset import Dataset, build_dataset
from stacklstm_fin.features.storage import load_dataset, save_dataset
from stacklstm_fin.features.windows import WindowSplit
from stacklstm_fin.pipeline import lineage
from stacklstm_fin.registry import RegistryEntry, record_candidates
from stacklstm_fin.warehouse import Warehouse, check_schema

log = logging.getLogger(__name__)
DATASET_FILE = "dataset.npz"
RESULT_FILE = "result.json"
WEIGHTS_FILE = "model.weights.h5"
TEST_PRED_FILE = "test_pred.npy"  # (n_test, H) float32: per-window evidence for selection


def read_prices(wh: Warehouse, tickers: tuple[str, ...], as_of: dt.date) -> pl.DataFrame:
    """Validated prices of ``tickers`` with ``session_date <= as_of`` (point in time)."""
    frame = wh.query(
        "SELECT ticker, session_date, open, high, low, close, adj_close, volume "
        "FROM stacklstm.prices_daily WHERE session_date <= :as_of ORDER BY ticker, session_date",
        {"as_of": as_of},
    )
    frame = frame.filter(pl.col("ticker").is_in(list(tickers)))
    missing = sorted(set(tickers) - set(frame.get_column("ticker").unique().to_list()))
    if missing:
        raise DatasetError(
            f"no prices as of {as_of} for {', '.join(missing)}; run `stacklstm-fin ingest` first"
        )
    return frame


@dataclasses.dataclass(frozen=True)
class PreparedRun:
    as_of: dt.date
    data_hash: str
    folder: Path

    @property
    def dataset_path(self) -> Path:
        return self.folder / DATASET_FILE

    def candidate_dir(self, name: str) -> Path:
        return self.folder / "candidates" / name

    def to_dict(self) -> dict[str, str]:
        return {"as_of": self.as_of.isoformat(), "data_hash": self.data_hash,
                "folder": str(self.folder)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> PreparedRun:
        return cls(dt.date.fromisoformat(data["as_of"]), data["data_hash"], Path(data["folder"]))


def prepare_dataset(cfg: Config, wh: Warehouse, as_of: dt.date) -> PreparedRun:
    """Build the point-in-time dataset of ``as_of`` and store it in the run folder."""
    check_schema(wh)
    prices = read_prices(wh, cfg.universe.tickers, as_of)
    ds = build_dataset(prices, cfg.dataset, as_of)
    run = PreparedRun(as_of, ds.data_hash, lineage.run_dir(cfg, as_of, ds.data_hash))
    if not run.dataset_path.exists():
        save_dataset(ds, run.dataset_path)
    log.info(
        "dataset as of %s: %d train / %d validation / %d test windows, hash %s",
        as_of, ds.train.n, ds.validation.n, ds.test.n, ds.data_hash[:12],
    )  # fmt: skip
    return run


def candidate_by_name(cfg: Config, name: str) -> CandidateConfig:
    for c in cfg.models.candidates:
        if c.name == name:
            return c
    names = ", ".join(c.name for c in cfg.models.candidates)
    raise ConfigError(f"candidate {name!r}: not in models.candidates ({names})")


def train_one(cfg: Config, run: PreparedRun, name: str) -> dict[str, Any]:
    """Train (or reuse) one candidate; writes its weights and ``result.json``.

    A finished result for the same model id is reused, so a re-run or an
    Airflow retry does not train twice.
    """
    from stacklstm_fin.training import predict, save_weights, train_candidate

    candidate = candidate_by_name(cfg, name)
    model_id = lineage.model_id(cfg, candidate, run.as_of, run.data_hash)
    folder = run.candidate_dir(name)
    result_path = folder / RESULT_FILE
    if result_path.exists():
        cached = json.loads(result_path.read_text())
        usable = cached.get("status") != "trained" or (folder / TEST_PRED_FILE).exists()
        if cached.get("model_id") == model_id and usable:
            log.info("candidate %s: reusing %s", name, result_path)
            return _summary(cached)
    ds = load_dataset(run.dataset_path)
    trained = train_candidate(
        candidate, ds.train.x, ds.train.y, ds.validation.x, ds.validation.y,
        feature_mean=ds.feature_mean, feature_std=ds.feature_std,
        target_std=ds.target_std, cfg=cfg.training, log=log,
    )  # fmt: skip
    result: dict[str, Any] = {
        "model_id": model_id,
        "candidate": name,
        "family": candidate.family,
        "status": trained.status,
        "reason": trained.reason,
        "epochs_run": trained.epochs_run,
        "best_val_loss": _finite_or_none(trained.best_val_loss),
        "train_seconds": round(trained.train_seconds, 3),
        "device": trained.device,
        "backend": trained.backend,
        "trained_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    if trained.status == "trained":
        pred_val = predict(trained.model, ds.validation.x)
        pred_test = predict(trained.model, ds.test.x)
        if not (np.isfinite(pred_val).all() and np.isfinite(pred_test).all()):
            result.update(status="rejected", reason="non-finite predictions on validation/test")
        else:
            result.update(_evaluation(cfg, ds, pred_val, pred_test))
            folder.mkdir(parents=True, exist_ok=True)
            save_weights(trained.model, folder / WEIGHTS_FILE)
            save_test_predictions(folder / TEST_PRED_FILE, pred_test)
    _write_json(result_path, result)
    return _summary(result)


def save_test_predictions(path: Path, pred: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(pred, dtype=np.float32), allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def load_test_predictions(run: PreparedRun, candidate: str) -> np.ndarray:
    path = run.candidate_dir(candidate) / TEST_PRED_FILE
    if not path.exists():
        raise DatasetError(f"candidate {candidate}: no test predictions at {path}; train it again")
    return np.load(path, allow_pickle=False)


def _evaluation(
    cfg: Config, ds: Dataset, pred_val: np.ndarray, pred_test: np.ndarray
) -> dict[str, Any]:
    rows = {
        "validation": metric_rows(ds.validation, pred_val),
        "test": metric_rows(ds.test, pred_test),
    }
    level = cfg.forecast.interval_level
    halfwidths = conformal_halfwidths(cumulative_residuals(ds.validation.y, pred_val), level)
    test_score = score(rows["test"], cfg.selection.metric, cfg.selection.horizon)
    return {
        "metrics": {split: [dataclasses.asdict(r) for r in rs] for split, rs in rows.items()},
        "score": test_score,
        "interval_level": level,
        "conformal_halfwidths": [float(h) for h in halfwidths],
    }


def metric_rows(split: WindowSplit, pred: np.ndarray) -> list[MetricRow]:
    """Per ticker and horizon, plus pooled horizon 0 (the mean over horizons)."""
    rows = evaluate(split.y, pred, split.tickers, split.anchor_dates)
    for metric in ("rmse", "mae", "mase", "directional_accuracy"):
        values = [r.value for r in rows if r.ticker == POOLED and r.metric == metric]
        rows.append(MetricRow(POOLED, 0, metric, float(np.mean(values))))
    # DM over all horizons: squared-error loss vs the random walk, mean per date.
    diff = (split.y - pred) ** 2 - split.y**2  # (n, H)
    per_date = pl.DataFrame({"d": split.anchor_dates, "l": diff.mean(axis=1)})
    series = per_date.group_by("d").agg(pl.col("l").mean()).sort("d")["l"].to_numpy()
    stat, pvalue = diebold_mariano(series, split.y.shape[1])
    rows += [MetricRow(POOLED, 0, "dm_stat", stat), MetricRow(POOLED, 0, "dm_pvalue", pvalue)]
    return rows


def load_results(cfg: Config, run: PreparedRun) -> list[dict[str, Any]]:
    """Every configured candidate's result, in config order; a missing one is an error."""
    out = []
    for c in cfg.models.candidates:
        path = run.candidate_dir(c.name) / RESULT_FILE
        if not path.exists():
            raise DatasetError(f"candidate {c.name}: no result at {path}; train it first")
        out.append(json.loads(path.read_text()))
    return out


def record_run(cfg: Config, wh: Warehouse, run: PreparedRun) -> list[dict[str, Any]]:
    """Write every candidate's registry row and metrics (idempotent); return results."""
    ds_meta = load_dataset(run.dataset_path)
    results = load_results(cfg, run)
    entries, metric_frames = [], []
    for res in results:
        candidate = candidate_by_name(cfg, res["candidate"])
        summary = {k: res.get(k) for k in (
            "score", "interval_level", "conformal_halfwidths", "epochs_run", "best_val_loss",
            "train_seconds", "device", "backend",
        )}  # fmt: skip
        summary["selection_metric"] = cfg.selection.metric
        summary["selection_horizon"] = cfg.selection.horizon
        entries.append(
            RegistryEntry(
                model_id=res["model_id"],
                candidate=res["candidate"],
                family=res["family"],
                hyperparameters=lineage.hyperparameters(cfg, candidate),
                as_of=run.as_of,
                spans=ds_meta.spans,
                data_hash=run.data_hash,
                code_version=lineage.code_version(),
                seed=cfg.training.seed,
                package_versions=lineage.package_versions(),
                metrics=summary,
                status="candidate" if res["status"] == "trained" else "rejected",
                status_reason=res.get("reason"),
                trained_at=dt.datetime.fromisoformat(res["trained_at"]),
            )
        )
        for split, rows in (res.get("metrics") or {}).items():
            metric_frames.append(
                pl.DataFrame(rows, schema={"ticker": pl.String(), "horizon": pl.Int32(),
                                           "metric": pl.String(), "value": pl.Float64()})
                .with_columns(pl.lit(res["model_id"]).alias("model_id"),
                              pl.lit(split).alias("split"))
                .with_columns(pl.when(pl.col("value").is_finite()).then(pl.col("value"))
                              .alias("value"))
            )  # fmt: skip
    metrics_frame = (
        pl.concat(metric_frames).select("model_id", "split", "ticker", "horizon", "metric", "value")
        if metric_frames
        else pl.DataFrame()
    )
    record_candidates(wh, entries, metrics_frame)
    return results


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("model_id", "candidate", "family", "status", "reason", "score", "epochs_run",
            "train_seconds", "device", "backend")  # fmt: skip
    return {k: result.get(k) for k in keys}


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_bytes_atomic(path, json.dumps(data, indent=1, sort_keys=True, default=str).encode())
