"""stacklstm_nightly_retrain: dataset -> candidates -> selection -> forecasts, for one as-of.

Triggered by the ``stacklstm.prices_daily`` asset (and by hand). The as-of is
taken explicitly: ``{"as_of": "YYYY-MM-DD"}`` in the conf, else the run's
logical date, else the ``as_of`` the market-data run attached to the asset
event (the newest, if several arrived); with none of them the run fails.

- ``build_dataset``: the point-in-time dataset (prices with session <= as-of).
- ``train``: one mapped task instance per candidate of ``models.candidates``,
  on the queue and pool named by ``airflow.train_queue`` / ``airflow.train_pool``
  (e.g. a ``gpu`` queue); a retry reuses a finished result. The list, queue
  and pool are read from the config file when the DAG file is parsed.
- ``select_export_promote``: registry rows and metrics of every candidate,
  then selection, ONNX export with onnxruntime parity, champion promotion.
- ``forecast_publish``: the champion's forecasts for the as-of, published in
  one transaction; the ``stacklstm.forecasts`` asset event carries the as-of.
- ``write_report``: the static HTML report under ``<data_root>/reports``.

Model files live under ``paths.data_root``: every worker must see it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from stacklstm_fin.airflow import runtime
from stacklstm_fin.airflow.assets import FORECASTS, PRICES

log = logging.getLogger(__name__)
# Parse time reads only the TOML file: which candidates, and where training runs.
_CONFIG = runtime.load()
_CANDIDATES = [c.name for c in _CONFIG.models.candidates]


@task(retry_policy=runtime.LOCK_RETRY)
def build_dataset() -> dict[str, str]:
    """The point-in-time dataset of the run's as-of (the run folder, for the next tasks)."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.ingest import resolve_as_of
    from stacklstm_fin.pipeline.modeling import prepare_dataset

    cfg = runtime.load()
    day, origin = runtime.as_of_from_context(get_current_context())
    as_of = resolve_as_of(cfg, day)
    log.info("as_of %s (from %s, session %s)", day, origin, as_of)
    with open_warehouse(cfg) as wh:
        run = prepare_dataset(cfg, wh, as_of)
    return run.to_dict()


@task(map_index_template="{{ candidate }}")
def train(run: dict[str, str], candidate: str) -> dict[str, Any]:
    """Train (or reuse) one candidate; files only, no warehouse."""
    from stacklstm_fin.pipeline.modeling import PreparedRun, train_one

    get_current_context()["candidate"] = candidate  # names the mapped instance in the UI
    return train_one(runtime.load(), PreparedRun.from_dict(run), candidate)


@task(retry_policy=runtime.LOCK_RETRY)
def select_export_promote(run: dict[str, str]) -> dict[str, Any]:
    """Record every candidate, export the best to ONNX (parity-checked), promote honestly."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.pipeline.modeling import PreparedRun
    from stacklstm_fin.pipeline.promotion import select_and_promote

    cfg = runtime.load()
    with open_warehouse(cfg) as wh:
        return select_and_promote(cfg, wh, PreparedRun.from_dict(run))


@task(retry_policy=runtime.LOCK_RETRY)
def forecast_publish(selection: dict[str, Any]) -> dict[str, Any]:
    """Forecast with the champion's ONNX and publish the as-of's rows in one transaction."""
    from stacklstm_fin.airflow.hooks import open_warehouse
    from stacklstm_fin.exceptions import DatasetError
    from stacklstm_fin.pipeline.publish import forecast_and_publish

    cfg = runtime.load()
    as_of = dt.date.fromisoformat(selection["as_of"])
    with open_warehouse(cfg) as wh:
        info = forecast_and_publish(cfg, wh, as_of)
    if info["stale"]:
        raise DatasetError(
            f"as of {as_of}: no price on that session for {', '.join(info['stale'])}, so no "
            f"forecast for them ({info['tickers']} ticker(s) published); run "
            "stacklstm_market_data for that date first"
        )
    get_current_context()["outlet_events"][FORECASTS].extra = {
        runtime.AS_OF_KEY: as_of.isoformat(),
        "model_id": info["model_id"],
    }
    return info


@task
def write_report(published: dict[str, Any]) -> dict[str, Any]:
    """The static HTML report of the as-of, next to the model files (<data_root>/reports)."""
    from stacklstm_fin.airflow.hooks import warehouse_url
    from stacklstm_fin.report import report_command

    cfg = runtime.load()
    url, _origin = warehouse_url(cfg)  # the stacklstm_warehouse connection, like the others
    as_of = dt.date.fromisoformat(published["as_of"])
    return report_command(cfg, as_of, cfg.data_root / "reports", warehouse_url=url)


@dag(
    dag_id="stacklstm_nightly_retrain",
    schedule=[PRICES],
    start_date=dt.datetime(1999, 1, 4, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=5)},
    params={
        runtime.AS_OF_KEY: Param(
            None,
            type=["null", "string"],
            format="date",
            description="As-of session (YYYY-MM-DD); empty: the logical date or the "
            "triggering prices event.",
        ),
    },
    tags=["stacklstm"],
    doc_md=__doc__,
)
def stacklstm_nightly_retrain() -> None:
    run = build_dataset()
    trained = (
        train.override(queue=_CONFIG.airflow.train_queue, pool=_CONFIG.airflow.train_pool)
        .partial(run=run)
        .expand(candidate=_CANDIDATES)
    )
    selection = select_export_promote(run)
    trained >> selection
    published = forecast_publish.override(outlets=[FORECASTS])(selection)
    write_report(published)


stacklstm_nightly_retrain()
