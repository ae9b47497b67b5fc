"""Select the challenger, export it to ONNX, check parity, promote honestly.

Rules (the selection section of the config):
1. Candidates are ranked by their test score (``selection.metric`` at
   ``selection.horizon``, lower is better); a tie goes to the simpler one, so a
   neural model must *beat* the random walk to rank above it.
2. The best candidate that exports to ONNX with parity <= ``PARITY_TOLERANCE``
   is the challenger (baselines always export, so there always is one).
3. The champion as of this date is re-scored on the *same* test windows
   through its stored ONNX; the challenger replaces it only if it is better by
   ``selection.min_improvement`` - or if the champion no longer beats the
   random walk.
4. Promotion is one transaction; the other candidates of the as-of are
   ``rejected`` with their reason.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

from stacklstm_fin import faults
from stacklstm_fin.atomic import write_bytes_atomic
from stacklstm_fin.config import Config
from stacklstm_fin.evaluation import score
from stacklstm_fin.exceptions import ArtifactIntegrityError, ModelError
from stacklstm_fin.features.dataset import Dataset
from stacklstm_fin.features.storage import load_dataset
from stacklstm_fin.pipeline.modeling import (
    WEIGHTS_FILE,
    PreparedRun,
    candidate_by_name,
    metric_rows,
    record_run,
)
from stacklstm_fin.registry import (
    attach_onnx,
    champion_as_of,
    promote,
    set_status,
    stored_onnx,
)
from stacklstm_fin.warehouse import Warehouse

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-4
# Simpler candidates win ties: baselines before single-layer before stacked.
_SIMPLICITY = {"random_walk": 0, "drift": 1, "ewma": 2, "lstm": 3, "gru": 4, "stacked_lstm": 5,
               "bilstm": 6}  # fmt: skip


def rank(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trained candidates with a finite score, best first."""
    ok = [r for r in results if r["status"] == "trained" and _finite(r.get("score"))]
    return sorted(ok, key=lambda r: (r["score"], _SIMPLICITY[r["family"]], r["candidate"]))


def select_and_promote(cfg: Config, wh: Warehouse, run: PreparedRun) -> dict[str, Any]:
    """Record the candidates, pick and export the challenger, promote it if it wins."""
    results = record_run(cfg, wh, run)
    ranked = rank(results)
    rw = next(r for r in ranked if r["family"] == "random_walk")
    ds = load_dataset(run.dataset_path)
    metric = cfg.selection.metric
    reasons: dict[str, str] = {}
    challenger = None
    for res in ranked:
        if res["family"] != "random_walk" and not res["score"] < rw["score"]:
            reasons[res["model_id"]] = (
                f"does not beat the random walk on the test span ({metric} "
                f"{res['score']:.6g} vs {rw['score']:.6g})"
            )
            continue
        try:
            _export(cfg, wh, run, ds, res)
        except ModelError as exc:
            reasons[res["model_id"]] = str(exc)
            log.warning("candidate %s not exportable: %s", res["candidate"], exc)
            continue
        challenger = res
        break
    assert challenger is not None, "the random walk always exports"

    champion = champion_as_of(wh, run.as_of)
    decision = _decide(cfg, ds, challenger, rw, champion)
    faults.point("select.before_promotion")
    with wh.transaction():
        if decision["promote"] and (
            champion is None or champion["model_id"] != challenger["model_id"]
        ):
            promote(wh, challenger["model_id"], run.as_of, decision["reason"])
        elif not decision["promote"]:
            reasons[challenger["model_id"]] = decision["reason"]
        for res in results:
            mid = res["model_id"]
            if res["status"] != "trained":
                continue  # recorded as rejected with its training reason
            if mid == challenger["model_id"] and decision["promote"]:
                continue
            reason = reasons.get(mid) or (
                f"ranked behind {challenger['candidate']} on the test span "
                f"({metric} {res.get('score', math.nan):.6g} vs {challenger['score']:.6g})"
            )
            set_status(wh, mid, "rejected", reason)
    live = champion_as_of(wh, run.as_of)
    return {
        "as_of": run.as_of.isoformat(),
        "challenger": challenger["model_id"],
        "champion": live["model_id"] if live else None,
        "promoted": bool(decision["promote"]),
        "reason": decision["reason"],
        "ranking": [(r["candidate"], r["score"]) for r in ranked],
    }


def _export(cfg: Config, wh: Warehouse, run: PreparedRun, ds: Dataset, res: dict[str, Any]) -> None:
    """Export ``res`` to ONNX under the data root, check parity, attach to the registry.

    An export already attached (a re-run, or a run killed before promotion) is
    reused as it is: the stored bytes are what was checked and what publishes.
    """
    from stacklstm_fin.export import check_parity, export_onnx
    from stacklstm_fin.training import load_weights

    path = cfg.data_root / "models" / f"{res['model_id']}.onnx"
    stored = stored_onnx(wh, res["model_id"])
    if stored is not None:
        if (
            not path.exists()
            or hashlib.sha256(path.read_bytes()).hexdigest() != stored["onnx_sha256"]
        ):
            write_bytes_atomic(path, stored["onnx"])
        _check_parity_value(stored["parity_max_abs_diff"])
        return
    candidate = candidate_by_name(cfg, res["candidate"])
    shape: dict[str, Any] = dict(
        window=ds.window, n_features=len(ds.feature_names), horizons=ds.horizons,
        feature_mean=ds.feature_mean, feature_std=ds.feature_std, target_std=ds.target_std,
    )  # fmt: skip
    if candidate.is_neural:
        model = load_weights(candidate, run.candidate_dir(candidate.name) / WEIGHTS_FILE, **shape)
    else:
        from stacklstm_fin.models import build_model

        model = build_model(candidate, **shape)
    exported = export_onnx(
        model, candidate, **shape, feature_names=ds.feature_names, path=path,
        metadata={"model_id": res["model_id"], "as_of": run.as_of.isoformat(),
                  "data_hash": run.data_hash},
    )  # fmt: skip
    onnx_bytes = path.read_bytes()
    parity = check_parity(model, onnx_bytes, ds.test.x[:2048])
    attach_onnx(wh, res["model_id"], onnx_bytes, exported.sha256, parity)
    _check_parity_value(parity)


def _check_parity_value(parity: float) -> None:
    if not parity <= PARITY_TOLERANCE:
        raise ModelError(
            f"ONNX parity {parity:.3g} exceeds {PARITY_TOLERANCE:g} on the test windows; "
            "not promoted"
        )


def _decide(
    cfg: Config,
    ds: Dataset,
    challenger: dict[str, Any],
    rw: dict[str, Any],
    champion: dict[str, Any] | None,
) -> dict[str, Any]:
    if champion is None:
        return {"promote": True, "reason": "first champion"}
    if champion["model_id"] == challenger["model_id"]:
        return {"promote": True, "reason": "already champion"}
    try:
        champ_score = champion_score(cfg, ds, champion)
    except (ModelError, ArtifactIntegrityError) as exc:
        return {"promote": True, "reason": f"champion {champion['model_id']} unusable: {exc}"}
    metric = cfg.selection.metric
    needed = champ_score * (1 - cfg.selection.min_improvement)
    if challenger["score"] < needed:
        return {"promote": True, "reason": (
            f"beats champion {champion['model_id']} on the same test span "
            f"({metric} {challenger['score']:.6g} vs {champ_score:.6g})")}  # fmt: skip
    if champion["family"] != "random_walk" and not champ_score < rw["score"]:
        return {"promote": True, "reason": (
            f"champion {champion['model_id']} no longer beats the random walk "
            f"({metric} {champ_score:.6g} vs {rw['score']:.6g})")}  # fmt: skip
    return {"promote": False, "reason": (
        f"does not beat champion {champion['model_id']} on the same test span by "
        f"{cfg.selection.min_improvement:.1%} ({metric} {challenger['score']:.6g} vs "
        f"{champ_score:.6g})")}  # fmt: skip


def champion_score(cfg: Config, ds: Dataset, champion: dict[str, Any]) -> float:
    """The champion's score on this dataset's test windows, through its stored ONNX."""
    from stacklstm_fin.export import load_onnx_session, read_metadata, run_onnx

    session = load_onnx_session(champion["onnx"], champion["onnx_sha256"])
    meta = read_metadata(session)
    expected = {"window": str(ds.window), "horizons": str(ds.horizons)}
    got = {k: str(meta.get(k)) for k in expected}
    if got != expected:
        raise ModelError(f"its ONNX expects {got}, this dataset has {expected}")
    pred = run_onnx(session, ds.test.x)
    return score(metric_rows(ds.test, pred), cfg.selection.metric, cfg.selection.horizon)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
