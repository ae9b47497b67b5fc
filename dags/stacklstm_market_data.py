"""stacklstm_market_data: extract -> validate_and_load -> announce, for one session.

Runs weekdays at 22:30 UTC (17:30 / 18:30 in New York, after the US close).
The as-of is the run's logical date as a UTC date; a manual run may pass
``{"as_of": "YYYY-MM-DD"}`` instead. Every task is idempotent per as-of, so
``airflow backfill create --dag-id stacklstm_market_data`` works, and the
warehouse writers run one at a time across all runs of this DAG, backfill runs
included (``max_active_tis_per_dag=1``): no flag to remember.

- ``extract``: on a day that is not a session of the exchange calendar (a
  holiday such as 2018-12-25) it logs so and skips: nothing is loaded, no event
  is emitted, no nightly follows. Otherwise new bars from the source into the
  immutable raw snapshot; vendor failures are retried with exponential backoff,
  and on the last try the tickers that did arrive go on to be loaded.
- ``validate_and_load``: the validation suite and the load in one warehouse
  transaction; a failed validation records its run and quarantined rows, loads
  no price and fails the run with the summary in the log. Tickers the vendor
  never delivered fail the run after the load: never a silent partial success.
- ``announce``: the ``stacklstm.prices_daily`` event, only for a NEW session:
  every ticker has a bar on the as-of now and did not before this run. A re-run
  of a loaded session skips (no event); an as-of without a bar for some ticker
  (the vendor has nothing for that session, or the sample data ends before it)
  fails naming the tickers, and nothing downstream runs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from stacklstm_fin.airflow import notify, runtime
from stacklstm_fin.airflow.assets import PRICES

log = logging.getLogger(__name__)
# Parse time reads only the TOML file: owner and notifications.
_CONFIG = runtime.load()


@task(retry_policy=runtime.VENDOR_RETRY, execution_timeout=runtime.TIMEOUT_WAREHOUSE)
def extract() -> dict[str, Any]:
    """Fetch new bars up to the as-of into the raw snapshot; retry what the vendor failed."""
    from airflow.sdk.exceptions import AirflowSkipException

    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.exceptions import PartialDownloadError
    from stacklstm_fin.pipeline.ingest import extract as extract_prices
    from stacklstm_fin.pipeline.sessions import has_fresh_bars, is_trading_session

    context = get_current_context()
    cfg = runtime.load()
    as_of, origin = runtime.as_of_from_context(context)
    if not is_trading_session(cfg, as_of):
        message = (
            f"as_of {as_of} (from {origin}) is not a {cfg.universe.calendar} session (an "
            "exchange holiday or a weekend): nothing to load, no prices event, no nightly"
        )
        log.info(message)
        raise AirflowSkipException(message)
    log.info("as_of %s (from %s, a %s session)", as_of, origin, cfg.universe.calendar)
    with open_warehouse(cfg) as wh:
        fresh_before = has_fresh_bars(cfg, wh, as_of)
        result = extract_prices(cfg, wh, as_of)
    ti = context["ti"]
    if result.failures and ti.try_number <= ti.max_tries:
        raise PartialDownloadError(
            f"extract as of {as_of}: {len(result.failures)} ticker(s) failed at "
            f"{result.source} ({_detail(result.failures)}); retrying",
            result.failures,
        )
    return {
        "as_of": as_of.isoformat(),
        "as_of_from": origin,
        "source": result.source,
        "snapshot": str(result.snapshot),
        "rows": result.rows,
        "reused": result.reused,
        "up_to_date": result.up_to_date,
        "failures": result.failures,
        "fresh_before": fresh_before,
    }


@task(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_WAREHOUSE)
def validate_and_load(extracted: dict[str, Any]) -> dict[str, Any]:
    """Validate the snapshot and load it in one transaction."""
    from pathlib import Path

    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.exceptions import PartialDownloadError
    from stacklstm_fin.pipeline.ingest import load_batch, validate_snapshot

    runtime.quiet_library_logs()
    cfg = runtime.load()
    as_of = dt.date.fromisoformat(extracted["as_of"])
    if extracted["up_to_date"] and not Path(extracted["snapshot"]).exists():
        # Loaded through a later as-of already (a backfill going backwards): nothing to do.
        summary: dict[str, Any] = {"as_of": as_of.isoformat(), "rows_loaded": 0,
                                   "success": True, "up_to_date": True}  # fmt: skip
    else:
        with open_warehouse(cfg) as wh:
            batch = validate_snapshot(cfg, wh, as_of)
            if batch.success:
                log.info("validation passed: %s", batch.summary())
            else:
                log.error("validation FAILED: %s", batch.summary())
                log.error("validation report: %s", json.dumps(batch.report, default=str))
            summary = load_batch(wh, batch)  # raises ValidationFailedError after recording
    if extracted["failures"]:
        raise PartialDownloadError(
            f"as of {as_of}: loaded {summary['rows_loaded']} rows, but "
            f"{len(extracted['failures'])} ticker(s) failed at {extracted['source']} "
            f"after every retry ({_detail(extracted['failures'])}); clear `extract` to "
            "fetch them again",
            extracted["failures"],
        )
    return summary


@task(retry_policy=runtime.LOCK_RETRY, execution_timeout=runtime.TIMEOUT_QUICK)
def announce(extracted: dict[str, Any], loaded: dict[str, Any]) -> dict[str, Any]:
    """Emit the prices event for a new, complete session; skip a known one; fail a stale one."""
    from airflow.sdk.exceptions import AirflowSkipException

    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.sessions import require_fresh_bars

    cfg = runtime.load()
    as_of = dt.date.fromisoformat(extracted["as_of"])
    with open_warehouse(cfg, read_only=True) as wh:
        require_fresh_bars(cfg, wh, as_of)  # StalePricesError: no event, nothing downstream
    if extracted["fresh_before"]:
        message = (
            f"as_of {as_of}: every ticker had its bar before this run ({loaded['rows_loaded']} "
            "row(s) loaded now): no new session, no prices event"
        )
        log.info(message)
        raise AirflowSkipException(message)
    log.info("as_of %s: a new session with a bar for every ticker; prices event sent", as_of)
    get_current_context()["outlet_events"][PRICES].extra = {runtime.AS_OF_KEY: as_of.isoformat()}
    return {"as_of": as_of.isoformat(), "announced": True}


def _detail(failures: dict[str, str]) -> str:
    return "; ".join(f"{t}: {reason}" for t, reason in sorted(failures.items()))


# `outlets` on `announce` only: the event is emitted only for a new, complete session.
@dag(
    dag_id="stacklstm_market_data",
    schedule=CronTriggerTimetable("30 22 * * 1-5", timezone="UTC"),
    start_date=dt.datetime(1999, 1, 4, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": _CONFIG.airflow.owner,
        "retries": 4,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": runtime.TIMEOUT_WAREHOUSE,
        # One warehouse writer at a time across every run of this DAG (backfills too).
        "max_active_tis_per_dag": 1,
    },
    on_failure_callback=notify.failure_callbacks(_CONFIG.airflow) or None,
    params={
        runtime.AS_OF_KEY: Param(
            None,
            type=["null", "string"],
            format="date",
            description="Session to load (YYYY-MM-DD); empty: the run's logical date. "
            "A day that is not a session loads nothing.",
        ),
    },
    tags=["stacklstm"],
    doc_md=__doc__,
)
def stacklstm_market_data() -> None:
    extracted = extract()
    announce.override(outlets=[PRICES])(extracted, validate_and_load(extracted))


stacklstm_market_data()
