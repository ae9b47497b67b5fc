"""The training and publishing tasks the nightly and the backfill share.

Each task reads its arguments, opens the warehouse only for the library call
that needs it (so no task holds a DuckDB file for longer than one session's
step), calls the library and returns a small JSON-able value. Sessions are
worked through in date order where order matters (promotion: each one sees
the champion before it).

- :func:`build_dataset` - the stale check, then the point-in-time dataset of one as-of;
- :func:`train` - one candidate of one as-of (files only, no warehouse);
- :func:`select_export_promote` - selection, ONNX export, promotion, per as-of in order;
- :func:`forecast_sessions` - forecasts of several sessions, one transaction each.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import get_current_context, task

from stacklstm_fin.airflow import runtime
from stacklstm_fin.config import Config

log = logging.getLogger(__name__)


def load(tickers: list[str] | None) -> Config:
    """The deployment's config, for ``tickers`` instead of the universe's when given."""
    from stacklstm_fin.pipeline.run import with_tickers  # polars, numpy: not at parse time

    cfg = runtime.load()
    return with_tickers(cfg, tickers) if tickers else cfg


@task(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_WAREHOUSE)
def build_dataset(as_of: str, tickers: list[str] | None = None) -> dict[str, str]:
    """Refuse a stale as-of, then build its point-in-time dataset (the run folder)."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.modeling import prepare_dataset
    from stacklstm_fin.pipeline.sessions import require_fresh_bars

    cfg = load(tickers)
    day = dt.date.fromisoformat(as_of)
    with open_warehouse(cfg) as wh:
        require_fresh_bars(cfg, wh, day)  # before any training: no champion without prices
        run = prepare_dataset(cfg, wh, day)
    return run.to_dict()


@task(map_index_template="{{ label }}")
def train(run: dict[str, str], candidate: str, tickers: list[str] | None = None) -> dict[str, Any]:
    """Train (or reuse) one candidate of one as-of; files only, no warehouse."""
    from stacklstm_fin.pipeline.modeling import PreparedRun, train_one

    # Names the mapped instance in the UI (map_index_template renders from the context).
    get_current_context()["label"] = f"{run['as_of']} {candidate}"  # type: ignore[typeddict-unknown-key]
    return train_one(load(tickers), PreparedRun.from_dict(run), candidate)


@task(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_PROMOTE)
def select_export_promote(
    runs: list[dict[str, str]], tickers: list[str] | None = None, history: bool = False
) -> list[dict[str, Any]]:
    """Per as-of in date order: record the candidates, export the best, promote honestly.

    ``history``: the backfill's retrains, allowed below an as-of the nightly already trained.
    """
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.modeling import PreparedRun
    from stacklstm_fin.pipeline.promotion import select_and_promote

    cfg = load(tickers)
    ordered = sorted((PreparedRun.from_dict(r) for r in runs), key=lambda r: r.as_of)
    done = []
    for i, run in enumerate(ordered, 1):
        with open_warehouse(cfg) as wh:
            selection = select_and_promote(cfg, wh, run, history=history)
        log.info("promotion %d/%d as of %s: champion %s (%s)", i, len(ordered), run.as_of,
                 selection["champion"], selection["reason"])  # fmt: skip
        done.append(selection)
    return done


def publish_sessions(
    sessions: list[str], *, fail_on_stale: bool, tickers: list[str] | None = None
) -> dict[str, Any]:
    """Forecast and publish each session in date order, one short warehouse connection each."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.publish import forecast_and_publish
    from stacklstm_fin.pipeline.sessions import StalePricesError

    cfg = load(tickers)
    days = sorted(dt.date.fromisoformat(s) for s in sessions)
    published: list[dict[str, Any]] = []
    for i, day in enumerate(days, 1):
        with open_warehouse(cfg) as wh:
            info = forecast_and_publish(cfg, wh, day)
        log.info("forecasts %d/%d as of %s: %d ticker(s), %d row(s) written, model %s", i,
                 len(days), day, info["tickers"], info["rows"], info["model_id"])  # fmt: skip
        if info["stale"]:
            message = (
                f"as of {day}: no price on that session for {', '.join(info['stale'])}, so no "
                f"forecast for them ({info['tickers']} ticker(s) published); run "
                "stacklstm_market_data for that date first"
            )
            if fail_on_stale:
                raise StalePricesError(message)
            log.warning(message)
        published.append(info)
    return {
        "sessions": [d.isoformat() for d in days],
        "as_of": days[-1].isoformat() if days else None,
        "rows": sum(int(p["rows"]) for p in published),
        "model_ids": sorted({str(p["model_id"]) for p in published}),
    }
