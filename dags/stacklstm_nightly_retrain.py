"""stacklstm_nightly_retrain: retrain and forecasts for every validated session lacking them.

Triggered by the ``stacklstm.prices_daily`` asset (the market-data run of a
new session), by a sweep at 02:30 UTC Tuesday to Saturday (the morning after
each weekday, for sessions whose event Airflow never turned into a run), and
by hand. Each run asks the warehouse which **validated sessions** (a bar for
every ticker) up to its as-of still lack forecasts and works through them
oldest first, at most ``airflow.max_sessions_per_run`` per run; a burst of
events consumed by one run therefore leaves no session without forecasts.

- ``plan``: the as-of bound (``{"as_of": "YYYY-MM-DD"}`` in the conf: exactly
  that session, re-run; else the newest ``as_of`` of the triggering events,
  else the logical date) and the sessions to work on; nothing to do: the run
  skips, and says why in the log.
- ``build_dataset`` (one per session): the stale check (every ticker has a bar
  on the session) BEFORE any training, then the point-in-time dataset.
- ``train``: one mapped instance per session and candidate of
  ``models.candidates``, on ``airflow.train_queue`` / ``airflow.train_pool``.
- ``select_export_promote``: per session in date order, selection, ONNX
  export with onnxruntime parity, champion promotion.
- ``forecast_publish``: per session in date order, the champion's forecasts,
  one transaction each; the ``stacklstm.forecasts`` event carries the newest.
- ``write_report``: the static HTML report of the newest session.

Model files live under ``paths.data_root``: every worker must see it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

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


@task(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_QUICK)
def plan() -> list[str]:
    """The sessions this run works on, oldest first (skips when there are none)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.ingest import resolve_as_of
    from stacklstm_fin.pipeline.sessions import require_fresh_bars, sessions_needing_forecasts

    cfg = runtime.load()
    day, origin = runtime.as_of_from_context(get_current_context())
    bound = resolve_as_of(cfg, day)
    with open_warehouse(cfg, read_only=True) as wh:
        if origin == "conf as_of":
            require_fresh_bars(cfg, wh, bound)
            log.info("as_of %s (from %s, session %s): re-running that session", day, origin,
                     bound)  # fmt: skip
            return [bound.isoformat()]
        pending = sessions_needing_forecasts(cfg, wh, bound)
    log.info("up to %s (from %s, session %s): %s", day, origin, bound, pending.describe())
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


@dag(
    dag_id="stacklstm_nightly_retrain",
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
            "without forecasts up to the triggering prices event or the logical date.",
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


stacklstm_nightly_retrain()
