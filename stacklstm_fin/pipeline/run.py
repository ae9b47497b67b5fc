"""Every step for one as-of, and point-in-time backfills over a range.

``run_all`` is what the nightly DAG does, in one process: ingest -> dataset
-> train each candidate -> select/export/promote -> forecast -> publish.
``backfill`` walks the sessions of a range in order; it retrains every
``backfill.retrain_every`` sessions (and whenever no champion exists as of the
session) and otherwise forecasts with the champion as of that session, so each
day gets what the system would have published then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from stacklstm_fin.config import Config
from stacklstm_fin.pipeline.ingest import calendar_for, ingest, resolve_as_of
from stacklstm_fin.pipeline.modeling import prepare_dataset, train_one
from stacklstm_fin.pipeline.promotion import check_in_order, select_and_promote
from stacklstm_fin.pipeline.publish import forecast_and_publish
from stacklstm_fin.registry import champion_as_of
from stacklstm_fin.warehouse import Warehouse

log = logging.getLogger(__name__)


def with_tickers(cfg: Config, tickers: Sequence[str] | None) -> Config:
    if not tickers:
        return cfg
    # dataclasses.replace re-runs UniverseConfig's validation of the tickers.
    return cfg.replace(universe=dataclasses.replace(cfg.universe, tickers=tuple(tickers)))


def train(cfg: Config, wh: Warehouse, as_of: dt.date, *, history: bool = False) -> dict[str, Any]:
    """Dataset -> every candidate -> selection, export and promotion.

    ``history``: a backfill's retrain, allowed below an as-of already trained.
    """
    check_in_order(wh, as_of, history=history)  # before hours of training it would refuse
    run = prepare_dataset(cfg, wh, as_of)
    trained = [train_one(cfg, run, c.name) for c in cfg.models.candidates]
    for t in trained:
        log.info("candidate %s: %s score=%s", t["candidate"], t["status"], t.get("score"))
    return select_and_promote(cfg, wh, run, history=history)


def run_all(
    cfg: Config, wh: Warehouse, as_of: dt.date, *, tickers: Sequence[str] | None = None,
    retrain: bool = True,
) -> dict[str, Any]:  # fmt: skip
    cfg = with_tickers(cfg, tickers)
    as_of = resolve_as_of(cfg, as_of)
    out: dict[str, Any] = {"as_of": as_of.isoformat()}
    if retrain:
        check_in_order(wh, as_of)  # refuse before anything is written
    out["ingest"] = ingest(cfg, wh, as_of)
    if retrain or champion_as_of(wh, as_of) is None:
        out["selection"] = train(cfg, wh, as_of)
    out["forecast"] = forecast_and_publish(cfg, wh, as_of)
    return out


def backfill(
    cfg: Config,
    wh: Warehouse,
    start: dt.date,
    end: dt.date,
    *,
    tickers: Sequence[str] | None = None,
    retrain_every: int | None = None,
    backwards: bool = False,
) -> dict[str, Any]:
    """Point-in-time ingest and forecasts for every session in ``[start, end]``.

    Three passes, so the result does not depend on the direction: ingest each
    session in date order (each snapshot holds what was new that day), retrain
    on the grid ``sessions[::retrain_every]`` in date order (each promotion sees
    the champion before it), then forecast each session (``backwards`` walks
    this pass from ``end`` to ``start``) with the champion as of that session.
    """
    cfg = with_tickers(cfg, tickers)
    every = retrain_every or cfg.backfill.retrain_every
    sessions = calendar_for(cfg).sessions(start, end)
    for day in sessions:
        ingest(cfg, wh, day)
    grid = sessions[::every]
    for day in grid:
        train(cfg, wh, day, history=True)
    published = 0
    for day in reversed(sessions) if backwards else sessions:
        published += forecast_and_publish(cfg, wh, day)["rows"]
    return {
        "start": sessions[0].isoformat() if sessions else None,
        "end": sessions[-1].isoformat() if sessions else None,
        "sessions": len(sessions),
        "retrained": [d.isoformat() for d in grid],
        "forecast_rows": published,
    }
