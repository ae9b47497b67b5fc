"""stacklstm_backfill: point-in-time ingest and forecasts for every session of a range.

Manual only; trigger it with the Params below (UI form, or
``airflow dags trigger stacklstm_backfill --conf '{"start": ..., "end": ...}'``).

- ``plan``: checks the Params (dates, tickers, cadence) and lists the sessions.
- ``backfill_range``: the library's backfill, in order: ingest each session,
  retrain every ``retrain_every`` sessions, forecast each session with the
  champion as of that session: what the system would have published then.
  Every step is idempotent, so a retry resumes where the last try stopped
  (stored snapshots, finished candidates and unchanged forecasts are reused).

The ``stacklstm.forecasts`` asset event carries the range. No prices event is
emitted, so a backfill does not start a nightly retrain.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from stacklstm_fin.airflow import runtime
from stacklstm_fin.airflow.assets import FORECASTS

log = logging.getLogger(__name__)
# Parse time reads only the TOML file: the backfill trains, so it runs where training runs.
_TRAINING = runtime.load().airflow


@task(retries=0)
def plan() -> dict[str, Any]:
    """Check the Params and list the sessions of the range."""
    from stacklstm_fin.calendar import parse_date
    from stacklstm_fin.pipeline.ingest import calendar_for
    from stacklstm_fin.symbols import validate_tickers

    params = get_current_context()["params"]
    cfg = runtime.load()
    start = parse_date(str(params["start"]), "start")
    end = parse_date(str(params["end"]), "end")
    tickers = list(validate_tickers(params["tickers"] or cfg.universe.tickers))
    sessions = calendar_for(cfg).sessions(start, end)
    every = params["retrain_every"] or cfg.backfill.retrain_every
    log.info("%d sessions %s .. %s, tickers %s, retrain every %d", len(sessions),
             start, end, tickers, every)  # fmt: skip
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "sessions": len(sessions),
        "tickers": tickers,
        "retrain_every": every,
        "backwards": bool(params["backwards"]),
    }


@task(retry_policy=runtime.VENDOR_RETRY)
def backfill_range(planned: dict[str, Any]) -> dict[str, Any]:
    """Run the library backfill over the planned range."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.run import backfill

    cfg = runtime.load()
    start = dt.date.fromisoformat(planned["start"])
    end = dt.date.fromisoformat(planned["end"])
    with open_warehouse(cfg) as wh:
        result = backfill(
            cfg, wh, start, end, tickers=planned["tickers"],
            retrain_every=planned["retrain_every"], backwards=planned["backwards"],
        )  # fmt: skip
    get_current_context()["outlet_events"][FORECASTS].extra = {
        "start": result["start"],
        "end": result["end"],
    }
    return result


@dag(
    dag_id="stacklstm_backfill",
    schedule=None,
    start_date=dt.datetime(1999, 1, 4, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=5)},
    params={
        "start": Param(type="string", format="date", description="First date (YYYY-MM-DD)."),
        "end": Param(type="string", format="date", description="Last date (YYYY-MM-DD)."),
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
    (
        backfill_range.override(
            queue=_TRAINING.train_queue, pool=_TRAINING.train_pool, outlets=[FORECASTS]
        )(planned)
    )


stacklstm_backfill()
