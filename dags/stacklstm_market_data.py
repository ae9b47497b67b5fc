"""stacklstm_market_data: extract -> validate_and_load for one session.

Runs weekdays at 22:30 UTC (17:30 / 18:30 in New York, after the US close).
The as-of is the run's logical date as a UTC date, snapped to the exchange
session on or before it (a holiday re-loads the session before); a manual run
may pass ``{"as_of": "YYYY-MM-DD"}`` instead. Every task is idempotent per
as-of, so ``airflow backfill create --dag-id stacklstm_market_data`` works.

- ``extract``: new bars from the source into the immutable raw snapshot;
  vendor failures are retried with exponential backoff, and on the last try
  the tickers that did arrive go on to be loaded.
- ``validate_and_load``: the validation suite and the load in one warehouse
  transaction; a failed validation records its run and quarantined rows, loads
  no price and fails the run with the summary in the log. Tickers the vendor
  never delivered fail the run after the load: never a silent partial success.
  On success the ``stacklstm.prices_daily`` asset event carries the as-of.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from stacklstm_fin.airflow import runtime
from stacklstm_fin.airflow.assets import PRICES

log = logging.getLogger(__name__)


@task(retry_policy=runtime.VENDOR_RETRY)
def extract() -> dict[str, Any]:
    """Fetch new bars up to the as-of into the raw snapshot; retry what the vendor failed."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.exceptions import PartialDownloadError
    from stacklstm_fin.pipeline.ingest import extract as extract_prices
    from stacklstm_fin.pipeline.ingest import resolve_as_of

    context = get_current_context()
    cfg = runtime.load()
    day, origin = runtime.as_of_from_context(context)
    as_of = resolve_as_of(cfg, day)
    log.info("as_of %s (from %s, session %s)", day, origin, as_of)
    with open_warehouse(cfg) as wh:
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
    }


@task(retry_policy=runtime.LOCK_RETRY)
def validate_and_load(extracted: dict[str, Any]) -> dict[str, Any]:
    """Validate the snapshot and load it in one transaction; announce the as-of on success."""
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
    get_current_context()["outlet_events"][PRICES].extra = {runtime.AS_OF_KEY: as_of.isoformat()}
    return summary


def _detail(failures: dict[str, str]) -> str:
    return "; ".join(f"{t}: {reason}" for t, reason in sorted(failures.items()))


# `outlets` on the decorated call: the asset event is emitted only when the load succeeded.
@dag(
    dag_id="stacklstm_market_data",
    schedule=CronTriggerTimetable("30 22 * * 1-5", timezone="UTC"),
    start_date=dt.datetime(1999, 1, 4, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 4,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=30),
    },
    params={
        runtime.AS_OF_KEY: Param(
            None,
            type=["null", "string"],
            format="date",
            description="Session to load (YYYY-MM-DD); empty: the run's logical date.",
        ),
    },
    tags=["stacklstm"],
    doc_md=__doc__,
)
def stacklstm_market_data() -> None:
    validate_and_load.override(outlets=[PRICES])(extract())


stacklstm_market_data()
