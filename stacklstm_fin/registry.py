"""The model registry: candidates, their metrics, and the champion.

The registry is the system of record for models: every candidate of every
as-of gets a row with its lineage; the exported champion carries its ONNX
bytes and their sha256. Status changes (promotion, retirement, rejection)
happen in one transaction.

Point in time: the champion *as of* a date D is the promoted model with the
newest ``as_of <= D``. The ``status`` column says what is live now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import polars as pl

from stacklstm_fin.warehouse import Warehouse, upsert

REGISTRY = "stacklstm.model_registry"
METRICS = "stacklstm.model_metrics"
STATUSES = ("candidate", "champion", "rejected", "retired")


@dataclasses.dataclass(frozen=True)
class RegistryEntry:
    """One candidate's registry row (without the ONNX bytes)."""

    model_id: str
    candidate: str
    family: str
    hyperparameters: dict[str, Any]
    as_of: dt.date
    spans: dict[str, tuple[dt.date, dt.date]]
    data_hash: str
    code_version: str
    seed: int
    package_versions: dict[str, str]
    metrics: dict[str, Any]
    status: str
    status_reason: str | None
    trained_at: dt.datetime

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_id": self.model_id,
            "candidate": self.candidate,
            "family": self.family,
            "hyperparameters": json.dumps(self.hyperparameters, sort_keys=True),
            "as_of": self.as_of,
            "data_hash": self.data_hash,
            "code_version": self.code_version,
            "seed": self.seed,
            "package_versions": json.dumps(self.package_versions, sort_keys=True),
            "metrics": json.dumps(self.metrics, sort_keys=True),
            "status": self.status,
            "status_reason": self.status_reason,
            "trained_at": self.trained_at,
        }
        for split in ("train", "validation", "test"):
            start, end = self.spans.get(split, (None, None))
            out[f"{split}_start"] = start
            out[f"{split}_end"] = end
        return out


_ROW_SCHEMA = {
    "status_reason": pl.String(),
    "train_start": pl.Date(),
    "train_end": pl.Date(),
    "validation_start": pl.Date(),
    "validation_end": pl.Date(),
    "test_start": pl.Date(),
    "test_end": pl.Date(),
    "trained_at": pl.Datetime("us", "UTC"),
}


def record_candidates(
    wh: Warehouse, entries: Sequence[RegistryEntry], metric_rows: pl.DataFrame
) -> None:
    """Insert candidates and their metrics (rows already present are kept as they are)."""
    if not entries:
        return
    frame = pl.DataFrame([e.row() for e in entries], schema_overrides=_ROW_SCHEMA)
    with wh.transaction():
        upsert(wh, REGISTRY, frame, ["model_id"], update=False)
        upsert(
            wh,
            METRICS,
            metric_rows,
            ["model_id", "split", "ticker", "horizon", "metric"],
            update=False,
        )


def attach_onnx(wh: Warehouse, model_id: str, onnx: bytes, sha256: str, parity: float) -> None:
    wh.execute(
        f"UPDATE {REGISTRY} SET onnx = :onnx, onnx_sha256 = :sha, parity_max_abs_diff = :parity "
        "WHERE model_id = :model_id",
        {"onnx": onnx, "sha": sha256, "parity": parity, "model_id": model_id},
    )


def stored_onnx(wh: Warehouse, model_id: str) -> dict[str, Any] | None:
    """The ONNX bytes, sha256 and parity already attached to ``model_id``, if any."""
    frame = wh.query(
        f"SELECT onnx, onnx_sha256, parity_max_abs_diff FROM {REGISTRY} "
        "WHERE model_id = :model_id AND onnx IS NOT NULL",
        {"model_id": model_id},
    )
    return frame.row(0, named=True) if frame.height else None


def set_status(wh: Warehouse, model_id: str, status: str, reason: str | None) -> None:
    assert status in STATUSES, status
    wh.execute(
        f"UPDATE {REGISTRY} SET status = :status, status_reason = :reason "
        "WHERE model_id = :model_id",
        {"status": status, "reason": reason, "model_id": model_id},
    )


def champion_as_of(wh: Warehouse, as_of: dt.date) -> dict[str, Any] | None:
    """The promoted model with the newest as-of on or before ``as_of`` (with its ONNX)."""
    frame = wh.query(
        f"SELECT model_id, candidate, family, as_of, onnx, onnx_sha256, metrics, status "
        f"FROM {REGISTRY} WHERE promoted_at IS NOT NULL AND as_of <= :as_of "
        "ORDER BY as_of DESC, promoted_at DESC LIMIT 1",
        {"as_of": as_of},
    )
    if frame.height == 0:
        return None
    row = frame.row(0, named=True)
    row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else {}
    return row


def newest_trained_as_of(wh: Warehouse, as_of: dt.date) -> tuple[dt.date | None, bool]:
    """(the newest as-of with recorded candidates, whether ``as_of`` itself has some)."""
    newest = wh.scalar(f"SELECT MAX(as_of) FROM {REGISTRY}")
    here = wh.scalar(f"SELECT COUNT(*) FROM {REGISTRY} WHERE as_of = :as_of", {"as_of": as_of})
    return newest, bool(here)


def promote(wh: Warehouse, model_id: str, as_of: dt.date, reason: str) -> None:
    """Make ``model_id`` the champion as of ``as_of`` in one transaction.

    The live champion is retired only if the new one is at least as recent;
    a backfill promoting an older as-of records the promotion (``promoted_at``)
    for its own period and leaves the live champion alone.
    """
    now = dt.datetime.now(dt.UTC)
    with wh.transaction():
        live = wh.query(
            f"SELECT model_id, as_of FROM {REGISTRY} WHERE status = 'champion' "
            "AND model_id <> :model_id",
            {"model_id": model_id},
        )
        newer_live = [r for r in live.iter_rows(named=True) if r["as_of"] > as_of]
        if newer_live:
            status = "retired"
            reason = f"{reason}; champion for its period only (a newer champion is live)"
        else:
            status = "champion"
            for r in live.iter_rows(named=True):
                set_status(wh, r["model_id"], "retired", f"replaced by {model_id}")
        wh.execute(
            f"UPDATE {REGISTRY} SET status = :status, status_reason = :reason, "
            "promoted_at = :now WHERE model_id = :model_id",
            {"status": status, "reason": reason, "now": now, "model_id": model_id},
        )


def registry_rows(wh: Warehouse, as_of: dt.date) -> pl.DataFrame:
    return wh.query(
        f"SELECT model_id, candidate, family, status, status_reason, onnx_sha256, promoted_at "
        f"FROM {REGISTRY} WHERE as_of = :as_of ORDER BY model_id",
        {"as_of": as_of},
    )
