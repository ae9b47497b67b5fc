"""stacklstm_nightly_retrain: retrain and forecasts for every validated session lacking them.

Triggered by the ``stacklstm.prices_daily`` asset (the market-data run of a
new session), by a sweep at 02:30 UTC Tuesday to Saturday, by its own
follow-up run, and by hand. Each run asks the warehouse which **validated
sessions** (a bar for every ticker) still lack forecasts and works through
them oldest first, at most ``airflow.max_sessions_per_run`` per run; a burst
of events consumed by one run, or by no run (Airflow issue 56050 with
``max_active_runs=1``), therefore leaves no session without forecasts.

- ``plan``: which sessions. ``{"as_of": "YYYY-MM-DD"}`` in the conf: exactly
  that session, re-run. A logical date (the sweep, ``airflow dags test``):
  sessions without forecasts up to that date. An asset-triggered run, or
  ``{"catch_up": true}``: up to the newest loaded session. Nothing to do: the
  run skips, and the log says why.
- ``build_dataset`` (one per session): the stale check (every ticker has a bar
  on the session) BEFORE any training, then the point-in-time dataset.
- ``train``: one mapped instance per session and candidate of
  ``models.candidates``, on ``airflow.train_queue`` / ``airflow.train_pool``.
- ``select_export_promote``: per session in date order, selection, ONNX
  export with onnxruntime parity, champion promotion.
- ``forecast_publish``: per session in date order, the champion's forecasts,
  one transaction each; the ``stacklstm.forecasts`` event carries the newest.
- ``write_report``: the static HTML report of the newest session.
- ``more_sessions_pending`` -> ``follow_up``: if sessions still lack forecasts
  (loaded while this run worked, or over the per-run limit), one follow-up run
  with ``{"catch_up": true}`` is queued.

Model files live under ``paths.data_root``: every worker must see it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import (
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

from stacklstm_fin.airflow import notify, runtime, tasks
from stacklstm_fin.airflow.assets import FORECASTS, PRICES

log = logging.getLogger(__name__)
# Parse time reads only the TOML file: which candidates, where training runs, the guardrails.
_CONFIG = runtime.load()
_CANDIDATES = [c.name for c in _CONFIG.models.candidates]
_DEADLINE = notify.publish_deadline(_CONFIG.airflow)
DAG_ID = "stacklstm_nightly_retrain"


@task(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_QUICK)
def plan() -> list[str]:
    """The sessions this run works on, oldest first (skips when there are none)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.ingest import resolve_as_of
    from stacklstm_fin.pipeline.sessions import plan_nightly

    cfg = runtime.load()
    exact, upto, origin = runtime.nightly_bounds(
        get_current_context(), lambda day: resolve_as_of(cfg, day)
    )
    with open_warehouse(cfg, read_only=True) as wh:
        pending = plan_nightly(cfg, wh, exact=exact, upto=upto)
    if exact is not None:
        log.info("as_of %s (from %s): re-running that session", exact, origin)
    else:
        log.info("up to %s (from %s): %s", upto or "the newest loaded session", origin,
                 pending.describe())  # fmt: skip
    if not pending.todo:
        raise AirflowSkipException(pending.describe())
    return [d.isoformat() for d in pending.todo]


@task(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_WAREHOUSE)
def forecast_publish(selections: list[dict[str, Any]]) -> dict[str, Any]:
    """Forecast every session of the run in date order; announce the newest."""
    result = tasks.publish_sessions([s["as_of"] for s in selections], fail_on_stale=True)
    get_current_context()["outlet_events"][FORECASTS].extra = {
        runtime.AS_OF_KEY: result["as_of"],
        "sessions": result["sessions"],
        "model_id": result["model_ids"][-1] if len(result["model_ids"]) == 1 else None,
    }
    return result


@task(execution_timeout=runtime.TIMEOUT_WAREHOUSE)
def write_report(published: dict[str, Any]) -> dict[str, Any]:
    """The static HTML report of the newest session, next to the model files."""
    from stacklstm_fin.airflow.hooks import warehouse_url
    from stacklstm_fin.report import report_command

    cfg = runtime.load()
    url, _origin = warehouse_url(cfg)  # the stacklstm_warehouse connection, like the others
    as_of = dt.date.fromisoformat(published["as_of"])
    return report_command(cfg, as_of, cfg.data_root / "reports", warehouse_url=url)


@task.short_circuit(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_QUICK)
def more_sessions_pending(published: dict[str, Any]) -> bool:
    """Whether validated sessions still lack forecasts (loaded meanwhile, or over the limit)."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.sessions import plan_nightly

    cfg = runtime.load()
    with open_warehouse(cfg, read_only=True) as wh:
        pending = plan_nightly(cfg, wh)  # what a follow-up run would do
    log.info("after %s: %s", published["sessions"], pending.describe())
    return bool(pending.todo)


@dag(
    dag_id=DAG_ID,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 2 * * 2-6", timezone="UTC"), assets=PRICES
    ),
    start_date=dt.datetime(1999, 1, 4, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": _CONFIG.airflow.owner,
        **runtime.LOCK_RETRY_ARGS,
        "execution_timeout": runtime.TIMEOUT_WAREHOUSE,
    },
    on_failure_callback=notify.failure_callbacks(_CONFIG.airflow) or None,
    deadline=_DEADLINE,
    params={
        runtime.AS_OF_KEY: Param(
            None,
            type=["null", "string"],
            format="date",
            description="Re-run exactly this session (YYYY-MM-DD); empty: every session "
            "without forecasts up to the logical date, or up to the newest loaded session.",
        ),
        runtime.CATCH_UP_KEY: Param(
            False,
            type="boolean",
            description="Work through every session without forecasts up to the newest "
            "loaded session (what the follow-up run does).",
        ),
    },
    tags=["stacklstm"],
    doc_md=__doc__,
)
def stacklstm_nightly_retrain() -> None:
    sessions = plan()
    runs = tasks.build_dataset.expand(as_of=sessions)
    trained = tasks.train.override(
        queue=_CONFIG.airflow.train_queue,
        pool=_CONFIG.airflow.train_pool,
        execution_timeout=runtime.train_timeout(_CONFIG.airflow.train_timeout_minutes),
        retries=1,  # a finished candidate is reused; a failing one rarely heals
    ).expand(run=runs, candidate=_CANDIDATES)
    selection = tasks.select_export_promote(runs)
    trained >> selection
    published = forecast_publish.override(outlets=[FORECASTS])(selection)
    write_report(published)
    # Sessions announced while this run worked (their events may start no run: Airflow issue
    # 56050 with max_active_runs=1), or over max_sessions_per_run: one queued follow-up run.
    more_sessions_pending(published) >> TriggerDagRunOperator(
        task_id="follow_up",
        trigger_dag_id=DAG_ID,
        conf={runtime.CATCH_UP_KEY: True},
        logical_date=None,
        execution_timeout=runtime.TIMEOUT_QUICK,
    )


stacklstm_nightly_retrain()
