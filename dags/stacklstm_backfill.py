"""stacklstm_backfill: point-in-time ingest and forecasts for every session of a range.

Manual only; trigger it with the Params below (UI form, or
``airflow dags trigger stacklstm_backfill --conf '{"start": ..., "end": ...}'``).
Split so that it shares the warehouse with the daily DAGs: every task opens
the warehouse for one session's step at a time (never for the whole range),
and only the training tasks use the training queue and pool.

- ``plan``: checks the Params and the range limit (``airflow.max_backfill_sessions``
  sessions per run), lists the sessions, the retrain dates (every
  ``retrain_every``-th session, from the first) and the forecast chunks.
- ``ingest_sessions`` (default queue): each session in date order, one
  warehouse transaction each, with progress per session in the log.
- ``build_dataset`` (mapped, one per retrain date): the stale check, then the
  point-in-time dataset.
- ``train`` (mapped, retrain dates x candidates): on ``airflow.train_queue`` /
  ``airflow.train_pool``, files only.
- ``select_export_promote``: per retrain date in date order (each promotion sees
  the champion before it).
- ``forecast_chunk`` (mapped, ``airflow.forecast_chunk_sessions`` sessions each,
  one at a time): every session with the champion as of that session.

Every step is idempotent (stored snapshots, finished candidates, unchanged
forecasts are reused), so a retry or a cleared task resumes where it stopped.
Runs of this DAG are serialized (``max_active_runs=1``) and its warehouse
writers run one at a time (``max_active_tis_per_dag=1``). The
``stacklstm.forecasts`` event carries the range; no prices event is emitted,
so a backfill does not start a nightly retrain.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from stacklstm_fin.airflow import notify, runtime, tasks
from stacklstm_fin.airflow.assets import FORECASTS

log = logging.getLogger(__name__)
# Parse time reads only the TOML file: candidates, where training runs, owner, the limit.
_CONFIG = runtime.load()
_CANDIDATES = [c.name for c in _CONFIG.models.candidates]


@task(retries=0, execution_timeout=runtime.TIMEOUT_QUICK, multiple_outputs=True)
def plan() -> dict[str, Any]:
    """Check the Params, list the sessions, the retrain dates and the forecast chunks."""
    from stacklstm_fin.calendar import parse_date
    from stacklstm_fin.pipeline.ingest import calendar_for
    from stacklstm_fin.pipeline.sessions import plan_backfill
    from stacklstm_fin.symbols import validate_tickers

    params = get_current_context()["params"]
    cfg = runtime.load()
    start = parse_date(str(params["start"]), "start")
    end = parse_date(str(params["end"]), "end")
    tickers = list(validate_tickers(params["tickers"] or cfg.universe.tickers))
    every = params["retrain_every"] or cfg.backfill.retrain_every
    planned = plan_backfill(
        calendar_for(cfg).sessions(start, end),
        retrain_every=every,
        chunk=cfg.airflow.forecast_chunk_sessions,
        limit=cfg.airflow.max_backfill_sessions,
        backwards=bool(params["backwards"]),
    )
    log.info("%s; tickers %s", planned.describe(), tickers)
    return {
        "sessions": [d.isoformat() for d in planned.sessions],
        "retrain": [d.isoformat() for d in planned.retrain],
        "chunks": [[d.isoformat() for d in c] for c in planned.chunks],
        "tickers": tickers,
    }


@task(retries=0, execution_timeout=runtime.TIMEOUT_QUICK)
def retrain_dates(retrain: list[str]) -> list[str]:
    """The retrain dates as a task's return value, so that the training can map over them."""
    return list(retrain)


@task(retries=0, execution_timeout=runtime.TIMEOUT_QUICK)
def forecast_chunks(chunks: list[list[str]]) -> list[list[str]]:
    """The forecast chunks as a task's return value, so that the forecasts can map over them."""
    return [list(c) for c in chunks]


@task(retry_policy=runtime.VENDOR_RETRY, execution_timeout=runtime.TIMEOUT_BACKFILL_STEP)
def ingest_sessions(sessions: list[str], tickers: list[str]) -> dict[str, Any]:
    """Ingest each session in date order; one short warehouse transaction per session."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.ingest import ingest

    runtime.quiet_library_logs()
    cfg = runtime.load()
    loaded = 0
    for i, day in enumerate(sessions, 1):
        with open_warehouse(cfg) as wh:
            done = ingest(cfg, wh, dt.date.fromisoformat(day), tickers=tickers)
        loaded += int(done.get("rows_loaded") or 0)
        note = " (up to date)" if done.get("up_to_date") else ""
        log.info("ingest %d/%d %s: %s row(s) loaded%s", i, len(sessions), day,
                 done.get("rows_loaded"), note)  # fmt: skip
    return {"sessions": len(sessions), "rows_loaded": loaded}


@task(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_BACKFILL_STEP)
def forecast_chunk(chunk: list[str], tickers: list[str]) -> dict[str, Any]:
    """Forecasts for one chunk of sessions, each with the champion as of that session."""
    result = tasks.publish_sessions(chunk, fail_on_stale=False, tickers=tickers)
    log.info("chunk %s .. %s: %d row(s) written", chunk[0], chunk[-1], result["rows"])
    return result


@task(execution_timeout=runtime.TIMEOUT_QUICK)
def announce(sessions: list[str], forecasts: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``stacklstm.forecasts`` event with the range."""
    rows = sum(int(f["rows"]) for f in forecasts)
    extra = {"start": sessions[0], "end": sessions[-1], "sessions": len(sessions), "rows": rows}
    get_current_context()["outlet_events"][FORECASTS].extra = extra
    return extra


@dag(
    dag_id="stacklstm_backfill",
    schedule=None,
    start_date=dt.datetime(1999, 1, 4, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": _CONFIG.airflow.owner,
        **runtime.LOCK_RETRY_ARGS,
        "execution_timeout": runtime.TIMEOUT_BACKFILL_STEP,
    },
    on_failure_callback=notify.failure_callbacks(_CONFIG.airflow) or None,
    params={
        "start": Param(type="string", format="date", description="First date (YYYY-MM-DD)."),
        "end": Param(
            type="string",
            format="date",
            description=f"Last date (YYYY-MM-DD); at most {_CONFIG.airflow.max_backfill_sessions} "
            "sessions per run (airflow.max_backfill_sessions).",
        ),
        "tickers": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            description="Symbols; empty: universe.tickers of the config.",
        ),
        "retrain_every": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Sessions between retrains; empty: backfill.retrain_every.",
        ),
        "backwards": Param(
            False, type="boolean", description="Forecast from the end of the range backwards."
        ),
    },
    tags=["stacklstm"],
    doc_md=__doc__,
)
def stacklstm_backfill() -> None:
    planned = plan()
    ingested = ingest_sessions.override(max_active_tis_per_dag=1)(
        planned["sessions"], planned["tickers"]
    )
    tickers = planned["tickers"]
    runs = (
        tasks.build_dataset.override(max_active_tis_per_dag=1)
        .partial(tickers=tickers)
        .expand(as_of=retrain_dates(planned["retrain"]))
    )
    ingested >> runs
    trained = (
        tasks.train.override(
            queue=_CONFIG.airflow.train_queue,
            pool=_CONFIG.airflow.train_pool,
            execution_timeout=runtime.train_timeout(_CONFIG.airflow.train_timeout_minutes),
            retries=1,
        )
        .partial(tickers=tickers)
        .expand(run=runs, candidate=_CANDIDATES)
    )
    promoted = tasks.select_export_promote.override(max_active_tis_per_dag=1)(
        runs, tickers, history=True
    )
    trained >> promoted
    forecasts = (
        forecast_chunk.override(max_active_tis_per_dag=1)
        .partial(tickers=tickers)
        .expand(chunk=forecast_chunks(planned["chunks"]))
    )
    promoted >> forecasts
    announce.override(outlets=[FORECASTS])(planned["sessions"], forecasts)


stacklstm_backfill()
