"""Select the challenger, export it to ONNX, promote it only with evidence (docs/adr/0008).

Rules (the selection section of the config):
1. Candidates are ranked by a scale-free score: the geometric mean over
   tickers of their loss ratio to the random walk on each ticker's own test
   windows (RMSE ratio for ``rmse``). A tie goes to the simpler family, so a
   network must *beat* the random walk (score < 1) to rank above it.
2. The best candidate ranked above the random walk that exports to ONNX with
   parity within the limit is the challenger; else the random walk is.
3. The challenger replaces the champion as of this date only when it is better
   on the same test windows by a one-sided Diebold-Mariano test (HLN
   correction) at ``selection.significance``, on losses normalized per ticker
   by the random walk's, and by at least ``selection.min_improvement``. A
   champion that can no longer be scored is replaced.
4. Per ticker, the champion is *published* only where it beats the random walk
   on that ticker's test windows by the same one-sided test, after a
   ``selection.correction`` (Holm by default) adjustment over the tickers;
   elsewhere the random walk of this as-of is published. Each ticker's
   decision, with its evidence, is stored in ``publication_decisions``.
5. Promotion, decisions and rejections are one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

import numpy as np
import polars as pl

from stacklstm_fin import faults
from stacklstm_fin.atomic import write_bytes_atomic
from stacklstm_fin.config import Config
from stacklstm_fin.decisions import TickerDecision, write_decisions
from stacklstm_fin.evaluation.evidence import (
    Evidence,
    adjust,
    compare,
    normalized_losses,
    scale_free_score,
    window_losses,
)
from stacklstm_fin.exceptions import ArtifactIntegrityError, ModelError
from stacklstm_fin.features.dataset import Dataset
from stacklstm_fin.features.storage import load_dataset
from stacklstm_fin.pipeline.modeling import (
    WEIGHTS_FILE,
    PreparedRun,
    candidate_by_name,
    load_test_predictions,
    record_run,
)
from stacklstm_fin.registry import (
    attach_onnx,
    champion_as_of,
    newest_trained_as_of,
    promote,
    set_status,
    stored_onnx,
)
from stacklstm_fin.warehouse import Warehouse, upsert

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-4
# Simpler candidates win ties: baselines before single-layer before stacked.
_SIMPLICITY = {"random_walk": 0, "drift": 1, "ewma": 2, "lstm": 3, "gru": 4, "stacked_lstm": 5,
               "bilstm": 6}  # fmt: skip


def rank(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trained candidates with a finite score, best first."""
    ok = [r for r in results if r["status"] == "trained" and _finite(r.get("score"))]
    return sorted(ok, key=lambda r: (r["score"], _SIMPLICITY[r["family"]], r["candidate"]))


def check_in_order(wh: Warehouse, as_of: Any, *, history: bool = False) -> None:
    """Refuse a new training as-of earlier than one already trained (one line, exit 2).

    Each promotion compares with the champion before it, so a later as-of
    trained before an earlier one was decided without that history: single
    runs out of order are refused. A rerun of a trained as-of is allowed (it
    reuses what is recorded), and so is a ``history`` backfill: an explicit
    request to write the history of a range, point in time, while the live
    nightly goes on (the later as-ofs keep the decisions they were made with).
    """
    if history:
        return
    newest, trained_here = newest_trained_as_of(wh, as_of)
    if newest is not None and newest > as_of and not trained_here:
        raise ModelError(
            f"as-of {as_of}: the later as-of {newest} is already trained; trainings run in "
            f"date order (run {as_of} before {newest}, e.g. in a fresh warehouse), or forecast "
            f"{as_of} with `stacklstm-fin forecast` and the champion of its time"
        )


def select_and_promote(
    cfg: Config, wh: Warehouse, run: PreparedRun, *, history: bool = False
) -> dict[str, Any]:
    """Record the candidates, pick and export the challenger, promote it with evidence.

    ``history``: part of a backfill, allowed below an as-of already trained
    (:func:`check_in_order`).
    """
    check_in_order(wh, run.as_of, history=history)
    results = record_run(cfg, wh, run)
    ds = load_dataset(run.dataset_path)
    sel = cfg.selection
    test = ds.test
    preds: dict[str, np.ndarray] = {
        r["model_id"]: load_test_predictions(run, r["candidate"])
        for r in results
        if r["status"] == "trained"
    }
    for res in results:
        if res["status"] == "trained":
            res["score"] = scale_free_score(
                test.y, preds[res["model_id"]], test.tickers, sel.metric, sel.horizon
            )
    ranked = rank(results)
    rw = next(r for r in ranked if r["family"] == "random_walk")
    _export(cfg, wh, run, ds, rw)  # published for every ticker without evidence
    reasons: dict[str, str] = {}
    challenger = rw
    rw_norm = normalized_losses(test.y, np.zeros_like(test.y), test.tickers, sel.metric,
                                sel.horizon)  # fmt: skip
    for res in ranked:
        if res is rw:
            break
        ev = compare(
            normalized_losses(test.y, preds[res["model_id"]], test.tickers, sel.metric,
                              sel.horizon),
            rw_norm, test.anchor_dates, "mae", sel.horizon or ds.horizons,
        )  # fmt: skip
        if not ev.p_value < sel.significance:
            reasons[res["model_id"]] = (
                f"not significantly better than the random walk on the {ev.windows} test "
                f"sessions (normalized loss ratio {ev.ratio:.4f}, one-sided DM p "
                f"{ev.p_value:.3g} >= {sel.significance:g})"
            )
            continue
        res["evidence"] = (
            f"beats the random walk on the {ev.windows} test sessions (normalized loss ratio "
            f"{ev.ratio:.4f}, one-sided DM p {ev.p_value:.3g})"
        )
        try:
            _export(cfg, wh, run, ds, res)
        except ModelError as exc:
            reasons[res["model_id"]] = str(exc)
            log.warning("candidate %s not exportable: %s", res["candidate"], exc)
            continue
        challenger = res
        break

    champion = champion_as_of(wh, run.as_of)
    decision = _decide(cfg, ds, challenger, champion, preds)
    live = challenger if decision["promote"] else champion
    assert live is not None
    live_pred = preds.get(live["model_id"])
    if live_pred is None:
        live_pred = champion_predictions(ds, live)
    competing = sum(1 for r in ranked if r["family"] != "random_walk")
    decisions = ticker_decisions(cfg, ds, live, live_pred, rw["model_id"], competing)
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
            if mid == live["model_id"]:
                continue
            if mid == rw["model_id"]:
                why = reasons.get(mid, "the reference")
                set_status(wh, mid, "candidate", f"{why}; published for the tickers where "
                           "the champion has no evidence")  # fmt: skip
                continue
            reason = reasons.get(mid) or (
                f"ranked behind {challenger['candidate']} on the test span (score vs random "
                f"walk {res.get('score', math.nan):.4f} vs {challenger['score']:.4f})"
            )
            set_status(wh, mid, "rejected", reason)
        write_decisions(wh, run.as_of, decisions)
        _record_scores(wh, results, sel.horizon)
    networks = sorted(d.ticker for d in decisions if d.model_id != rw["model_id"])
    return {
        "as_of": run.as_of.isoformat(),
        "challenger": challenger["model_id"],
        "champion": live["model_id"],
        "promoted": bool(decision["promote"]),
        "reason": decision["reason"],
        "published_network_for": networks,
        "ranking": [(r["candidate"], round(r["score"], 6)) for r in ranked],
    }


def _record_scores(wh: Warehouse, results: list[dict[str, Any]], horizon: int) -> None:
    """The scale-free score of each trained candidate, for the leaderboard view."""
    rows = [
        {"model_id": r["model_id"], "split": "test", "ticker": "*", "horizon": horizon,
         "metric": "score_vs_random_walk", "value": float(r["score"])}
        for r in results if r["status"] == "trained" and _finite(r.get("score"))
    ]  # fmt: skip
    if rows:
        frame = pl.DataFrame(rows, schema_overrides={"horizon": pl.Int32()})
        upsert(wh, "stacklstm.model_metrics", frame,
               ["model_id", "split", "ticker", "horizon", "metric"], compare=["value"])  # fmt: skip


def ticker_decisions(
    cfg: Config, ds: Dataset, live: dict[str, Any], pred: np.ndarray, rw_id: str,
    competing: int = 1,
) -> list[TickerDecision]:  # fmt: skip
    """Per ticker: publish ``live`` only with evidence that it beats the random walk there.

    The raw one-sided p-values are multiplied by the number of ``competing``
    candidates (Bonferroni: the champion is the best of several on this very
    test span, so its own p-value is optimistic), then adjusted over tickers.
    """
    sel = cfg.selection
    test = ds.test
    lags = sel.horizon or ds.horizons
    model_loss = window_losses(test.y, pred, sel.metric, sel.horizon)
    rw_loss = window_losses(test.y, np.zeros_like(test.y), sel.metric, sel.horizon)
    tickers = sorted(np.unique(test.tickers).tolist())
    by_ticker: dict[str, Evidence] = {}
    for ticker in tickers:
        mine = test.tickers == ticker
        by_ticker[ticker] = compare(
            model_loss[mine], rw_loss[mine], test.anchor_dates[mine], sel.metric, lags
        )
    is_rw = live["family"] == "random_walk"
    k = max(competing, 1)
    p_adj = adjust([min(by_ticker[t].p_value * k, 1.0) for t in tickers], sel.correction)
    out = []
    for ticker, p in zip(tickers, p_adj, strict=True):
        ev = by_ticker[ticker]
        name = live["candidate"]
        evidence = (
            f"{ticker}'s {ev.windows} test sessions ({sel.metric} ratio {ev.ratio:.4f}, "
            f"one-sided DM p {ev.p_value:.3g}, adjusted for {k} candidates and "
            f"{len(tickers)} tickers ({sel.correction}) {p:.3g}"
        )
        if is_rw:
            chosen, why = rw_id, "the champion is the random walk"
        elif p < sel.significance:
            chosen = live["model_id"]
            why = f"{name} beats the random walk on {evidence} < {sel.significance:g})"
        else:
            chosen = rw_id
            why = (
                f"no evidence {name} beats the random walk on {evidence} >= "
                f"{sel.significance:g}): random walk published"
            )
        out.append(TickerDecision(
            ticker=ticker, model_id=chosen, champion_model_id=live["model_id"],
            champion_family=live["family"], horizon=sel.horizon, windows=ev.windows,
            champion_loss=ev.loss, random_walk_loss=ev.reference_loss, ratio=ev.ratio,
            # No test when the champion is the random walk itself: NULL, not p = 0.5.
            dm_stat=math.nan if is_rw else ev.dm_stat,
            p_value=math.nan if is_rw else ev.p_value,
            p_adjusted=math.nan if is_rw else p,
            significance=sel.significance, correction=sel.correction, reason=why,
        ))  # fmt: skip
    return out


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
    champion: dict[str, Any] | None,
    preds: dict[str, np.ndarray],
) -> dict[str, Any]:
    if champion is None:
        evidence = challenger.get("evidence") or "the random walk: no candidate beat it"
        return {"promote": True, "reason": f"first champion: {evidence}"}
    if champion["model_id"] == challenger["model_id"]:
        return {"promote": True, "reason": "already champion"}
    try:
        champ_pred = preds.get(champion["model_id"])
        if champ_pred is None:
            champ_pred = champion_predictions(ds, champion)
    except (ModelError, ArtifactIntegrityError) as exc:
        return {"promote": True, "reason": f"champion {champion['model_id']} unusable: {exc}"}
    sel = cfg.selection
    test = ds.test
    ev = compare(
        normalized_losses(test.y, preds[challenger["model_id"]], test.tickers, sel.metric,
                          sel.horizon),
        normalized_losses(test.y, champ_pred, test.tickers, sel.metric, sel.horizon),
        test.anchor_dates, "mae", sel.horizon or ds.horizons,
    )  # fmt: skip
    evidence = (
        f"on the same {ev.windows} test sessions: normalized loss ratio {ev.ratio:.4f}, "
        f"one-sided DM p {ev.p_value:.3g}"
    )
    if ev.p_value < sel.significance and ev.ratio <= 1 - sel.min_improvement:
        return {"promote": True, "reason": f"beats champion {champion['model_id']} {evidence}"}
    return {"promote": False, "reason": (
        f"not significantly better than champion {champion['model_id']} {evidence} "
        f"(needs p < {sel.significance:g})")}  # fmt: skip


def champion_predictions(ds: Dataset, champion: dict[str, Any]) -> np.ndarray:
    """(n_test, H): the champion's forecasts of this dataset's test windows, through its ONNX."""
    from stacklstm_fin.export import load_onnx_session, read_metadata, run_onnx

    session = load_onnx_session(champion["onnx"], champion["onnx_sha256"])
    meta = read_metadata(session)
    expected = {"window": str(ds.window), "horizons": str(ds.horizons)}
    got = {k: str(meta.get(k)) for k in expected}
    if got != expected:
        raise ModelError(f"its ONNX expects {got}, this dataset has {expected}")
    return run_onnx(session, ds.test.x)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
