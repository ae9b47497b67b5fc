"""What every stacklstm task needs: the config, the run's as-of, the retry rules.

Configuration: the TOML file named by the environment variable
``STACKLSTM_CONFIG`` (absolute path), then ``STACKLSTM_<SECTION>__<KEY>``
overrides, as for the CLI; unset means built-in defaults. An environment
variable, not an Airflow Variable, because DAG files read it at parse time
(queue and pool of the training tasks) and a Variable would cost a metadata
database query on every parse; it is also the same in every process of a
deployment (dag processor, workers, API server).

The as-of of a run, first match wins:

1. ``params.as_of`` / ``dag_run.conf["as_of"]`` (``YYYY-MM-DD``), when given;
2. the run's logical date, as a UTC calendar date (scheduled runs, backfills,
   ``airflow dags test DAG DATE``, manual runs with a logical date);
3. the ``as_of`` in the extra of the triggering asset events (the newest one),
   for asset-triggered runs, which have no logical date;
4. otherwise the task fails and says how to pass one: never a silent "today".

The date is then snapped to the exchange session on or before it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from stacklstm_fin.calendar import parse_date
from stacklstm_fin.config import Config, load_config
from stacklstm_fin.exceptions import SourceError, StackLSTMError, WarehouseLockedError

CONFIG_ENV = "STACKLSTM_CONFIG"
AS_OF_KEY = "as_of"
CATCH_UP_KEY = "catch_up"


class AsOfMissingError(StackLSTMError):
    """A run has neither an as-of in its conf, nor a logical date, nor an asset event."""


def config_path() -> str | None:
    """The config file named by ``STACKLSTM_CONFIG`` (None: built-in defaults)."""
    value = os.environ.get(CONFIG_ENV, "").strip()
    return value or None


def load(overrides: Mapping[str, Any] | None = None) -> Config:
    """The deployment's configuration (cheap: one TOML file, no I/O beyond it)."""
    return load_config(config_path(), overrides=overrides)


def quiet_library_logs() -> None:
    """Keep third-party INFO chatter (GX announces closures and temp folders) out of task logs."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def run_as_of(
    requested: object,
    logical_date: dt.datetime | None,
    event_extras: Iterable[Mapping[str, Any]] = (),
) -> tuple[dt.date, str]:
    """The as-of date of a run and where it came from (see the module docstring)."""
    if requested not in (None, ""):
        return parse_date(str(requested), "as_of"), "conf as_of"
    if logical_date is not None:
        return logical_date.astimezone(dt.UTC).date(), "logical date"
    dates = [
        parse_date(str(extra[AS_OF_KEY]), "asset event extra as_of")
        for extra in event_extras
        if extra.get(AS_OF_KEY) not in (None, "")
    ]
    if dates:
        return max(dates), "triggering asset event"
    raise AsOfMissingError(
        "as_of: this run has no logical date and no triggering asset event with an "
        '"as_of"; trigger it with conf {"as_of": "YYYY-MM-DD"} (UI: the as_of field; '
        'CLI: airflow dags trigger DAG_ID --conf \'{"as_of": "2018-12-31"}\')'
    )


def as_of_from_context(context: Mapping[str, Any]) -> tuple[dt.date, str]:
    """:func:`run_as_of` over a task's context (params, dag_run, triggering events)."""
    params = context.get("params") or {}
    dag_run = context.get("dag_run")
    requested = params.get(AS_OF_KEY)
    if requested in (None, "") and dag_run is not None:
        requested = (getattr(dag_run, "conf", None) or {}).get(AS_OF_KEY)
    logical_date = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    events = context.get("triggering_asset_events") or {}
    extras = [event.extra or {} for asset in events for event in events[asset]]
    return run_as_of(requested, logical_date, extras)


def nightly_bounds(
    context: Mapping[str, Any], calendar_snap: Any
) -> tuple[dt.date | None, dt.date | None, str]:
    """``(exact, upto, origin)`` of a nightly run, for :func:`sessions.plan_nightly`.

    - ``{"catch_up": true}`` (the follow-up run): every session up to the newest loaded;
    - ``{"as_of": ...}``: exactly that session (snapped with ``calendar_snap``);
    - triggering prices events: up to the newest loaded session (an event says that
      prices arrived; which sessions are loaded, the warehouse says: the events of a
      burst may be consumed together, or by no run at all);
    - a logical date (the sweep, ``airflow dags test``): up to that date (snapped);
    - none of these: :class:`AsOfMissingError`.
    """
    params = context.get("params") or {}
    if params.get(CATCH_UP_KEY):
        return None, None, "conf catch_up"
    day, origin = as_of_from_context(context)
    if origin == "triggering asset event":
        return None, None, origin
    session = calendar_snap(day)
    if origin == "conf as_of":
        return session, None, origin
    return None, session, origin


def no_retry_on_bad_input(*retryable: type[BaseException]) -> ExceptionRetryPolicy:
    """Retry ``retryable`` (vendor, lock) errors; fail at once on any other input error.

    A failed validation, a bad ticker or a missing as-of gives the same answer
    on every try, so retrying it only delays the alert. Anything else (a bug,
    a network error from a library) keeps the task's normal retries.
    """
    rules = [RetryRule(exception=list(retryable), action=RetryAction.RETRY)] if retryable else []
    rules.append(
        RetryRule(
            exception=StackLSTMError,
            action=RetryAction.FAIL,
            reason="bad input or failed validation: a retry would give the same answer",
        )
    )
    return ExceptionRetryPolicy(rules=rules)


# A DuckDB file is held by one writer at a time. The longest holds a task can meet are one
# session's load or one promotion (ONNX export included) of another run or a backfill chunk:
# seconds to a few minutes. Six retries from 1 min doubling to at most 10 min wait about
# 35 min in all, which outlasts any of them; a lock that persists longer is an incident.
LOCK_RETRIES = 6
LOCK_RETRY_ARGS: dict[str, Any] = {
    "retries": LOCK_RETRIES,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=10),
}
# execution_timeout of each kind of task: generous, but a hung task ends and alerts.
TIMEOUT_QUICK = dt.timedelta(minutes=10)  # a plan, a check, an announcement
TIMEOUT_WAREHOUSE = dt.timedelta(minutes=30)  # one load, one dataset, one publish
TIMEOUT_PROMOTE = dt.timedelta(minutes=60)  # selection with ONNX export and parity
TIMEOUT_BACKFILL_STEP = dt.timedelta(hours=3)  # a range's ingest, a forecast chunk


def train_timeout(minutes: int) -> dt.timedelta:
    """execution_timeout of one training task (``airflow.train_timeout_minutes``)."""
    return dt.timedelta(minutes=minutes)


# The vendor and a busy DuckDB file are worth retrying; the rest of our errors are not.
VENDOR_RETRY = no_retry_on_bad_input(SourceError, WarehouseLockedError)
# Only a DuckDB file held by another writer is worth another try.
LOCK_RETRY = no_retry_on_bad_input(WarehouseLockedError)
