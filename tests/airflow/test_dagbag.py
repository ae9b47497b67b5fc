"""The DAG files parse fast, without errors, and import nothing heavy.

Parsing runs in a subprocess so ``sys.modules`` starts clean: what is loaded
afterwards is what parsing the DAG files loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import REPO, subprocess_env, write_config

HEAVY = [
    "tensorflow", "keras", "yfinance", "great_expectations", "onnxruntime", "onnx", "tf2onnx",
    "duckdb", "psycopg", "polars", "pandas", "exchange_calendars", "arch",
]  # fmt: skip
PARSE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
start = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - start
heavy = sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "timetable": type(dag.timetable).__name__,
        "cron": getattr(dag.timetable, "expression", None),
        "tz": str(getattr(dag.timetable, "timezone", "")),
        "params": sorted(dag.params.keys()),
        "max_active_runs": dag.max_active_runs,
        "deadline": [(type(d.reference).__name__, d.interval.total_seconds(), d.callback.path,
                      d.callback.kwargs) for d in (dag.deadline or [])],
        "on_failure": [type(c).__name__ for c in (dag.on_failure_callback or [])],
        "tasks": {t.task_id: {"queue": t.queue, "pool": t.pool, "retries": t.retries,
                              "outlets": [a.name for a in t.outlets], "owner": t.owner,
                              "timeout": t.execution_timeout.total_seconds()
                              if t.execution_timeout else None,
                              "max_active_tis_per_dag": t.max_active_tis_per_dag}
                  for t in dag.tasks},
    }
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "seconds": seconds, "heavy": heavy, "dags": dags}))
"""


def parse_dags(config: Path | None = None) -> dict[str, Any]:
    env = subprocess_env(**({"STACKLSTM_CONFIG": str(config)} if config else {}))
    done = subprocess.run(
        [sys.executable, "-c", PARSE, str(REPO / "dags"), json.dumps(HEAVY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def parsed() -> dict[str, Any]:
    """The DAG folder parsed once with the built-in default config."""
    return parse_dags()


def test_dag_files_parse_fast_without_errors_or_heavy_imports(parsed: dict[str, Any]) -> None:
    assert parsed["errors"] == {}
    assert sorted(parsed["dags"]) == [
        "stacklstm_backfill",
        "stacklstm_market_data",
        "stacklstm_nightly_retrain",
    ]
    assert parsed["seconds"] < 2.0, f"parsing took {parsed['seconds']:.2f}s"
    assert parsed["heavy"] == []


def test_schedules_assets_and_params(parsed: dict[str, Any]) -> None:
    dags = parsed["dags"]
    market = dags["stacklstm_market_data"]
    assert market["timetable"] == "CronTriggerTimetable"
    assert (market["cron"], market["tz"]) == ("30 22 * * 1-5", "UTC")
    assert market["params"] == ["as_of"]
    assert market["tasks"]["extract"]["retries"] == 4
    assert list(market["tasks"]) == ["extract", "validate_and_load", "announce"]
    # Only `announce` emits, and only for a new session (tests/airflow/test_dags.py).
    assert {t: i["outlets"] for t, i in market["tasks"].items()} == {
        "extract": [], "validate_and_load": [], "announce": ["stacklstm.prices_daily"],
    }  # fmt: skip
    nightly = dags["stacklstm_nightly_retrain"]
    # The prices event, or the morning sweep for sessions whose event made no run.
    assert nightly["timetable"] == "AssetOrTimeSchedule"
    assert nightly["params"] == ["as_of", "catch_up"]
    assert list(nightly["tasks"]) == [
        "plan", "build_dataset", "train", "select_export_promote", "forecast_publish",
        "write_report", "more_sessions_pending", "follow_up",
    ]  # fmt: skip
    assert nightly["tasks"]["forecast_publish"]["outlets"] == ["stacklstm.forecasts"]
    backfill = dags["stacklstm_backfill"]
    assert backfill["timetable"] == "NullTimetable"
    assert backfill["params"] == ["backwards", "end", "retrain_every", "start", "tickers"]
    assert list(backfill["tasks"]) == [
        "plan", "ingest_sessions", "retrain_dates", "build_dataset", "train",
        "select_export_promote", "forecast_chunks", "forecast_chunk", "announce",
    ]  # fmt: skip
    assert backfill["tasks"]["announce"]["outlets"] == ["stacklstm.forecasts"]


def test_every_task_has_a_timeout_an_owner_and_serialized_warehouse_writers(
    parsed: dict[str, Any],
) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert dag["max_active_runs"] == 1, dag_id
        for task_id, info in dag["tasks"].items():
            assert info["timeout"] is not None and info["timeout"] > 0, f"{dag_id}.{task_id}"
            assert info["owner"] == "stacklstm", f"{dag_id}.{task_id}"
        # Notifications and the deadline are off by default.
        assert (dag["on_failure"], dag["deadline"]) == ([], []), dag_id
    # Warehouse writers run one at a time across all runs, `airflow backfill create` included.
    market = parsed["dags"]["stacklstm_market_data"]["tasks"]
    assert {t: i["max_active_tis_per_dag"] for t, i in market.items()} == {
        "extract": 1, "validate_and_load": 1, "announce": 1,
    }  # fmt: skip
    backfill = parsed["dags"]["stacklstm_backfill"]["tasks"]
    writers = ["ingest_sessions", "build_dataset", "select_export_promote", "forecast_chunk"]
    assert [backfill[t]["max_active_tis_per_dag"] for t in writers] == [1, 1, 1, 1]
    # Lock waits: six retries (about 35 min of backoff) where a task writes the warehouse.
    assert parsed["dags"]["stacklstm_nightly_retrain"]["tasks"]["forecast_publish"]["retries"] == 6
    nightly = parsed["dags"]["stacklstm_nightly_retrain"]["tasks"]
    assert nightly["train"]["timeout"] == 120 * 60


def test_guardrails_come_from_the_airflow_section(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '\n[airflow]\nowner = "markets-oncall"\nnotify_webhook_url = "https://hooks.example/x"\n'
        "publish_deadline_minutes = 90\ntrain_timeout_minutes = 30\n",
    )
    dags = parse_dags(config)["dags"]
    nightly = dags["stacklstm_nightly_retrain"]
    assert nightly["deadline"] == [
        ["DagRunQueuedAtDeadline", 5400.0, "stacklstm_fin.airflow.notify.deadline_missed",
         {"what": "forecasts published", "minutes": 90,
          "webhook_url": "https://hooks.example/x"}],
    ]  # fmt: skip
    assert nightly["tasks"]["train"]["timeout"] == 30 * 60
    for dag_id, dag in dags.items():
        assert dag["on_failure"] == ["WebhookNotifier"], dag_id
        assert {i["owner"] for i in dag["tasks"].values()} == {"markets-oncall"}, dag_id


def test_training_queue_and_pool_come_from_the_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, '\n[airflow]\ntrain_queue = "gpu"\ntrain_pool = "gpu_slots"\n')
    dags = parse_dags(config)["dags"]
    train = dags["stacklstm_nightly_retrain"]["tasks"]["train"]
    assert (train["queue"], train["pool"]) == ("gpu", "gpu_slots")
    backfill = dags["stacklstm_backfill"]["tasks"]
    assert (backfill["train"]["queue"], backfill["train"]["pool"]) == ("gpu", "gpu_slots")
    # Only training holds the training queue and pool; the backfill's ingest does not.
    for task_id in ("ingest_sessions", "build_dataset", "select_export_promote", "forecast_chunk"):
        assert (backfill[task_id]["queue"], backfill[task_id]["pool"]) == (
            "default", "default_pool",
        ), task_id  # fmt: skip
    build = dags["stacklstm_nightly_retrain"]["tasks"]["build_dataset"]
    assert (build["queue"], build["pool"]) == ("default", "default_pool")


def test_a_broken_config_is_an_import_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[airflow]\ntrain_queues = "gpu"\n')
    errors = parse_dags(config)["errors"]
    assert sorted(Path(f).name for f in errors) == [
        "stacklstm_backfill.py",
        "stacklstm_market_data.py",
        "stacklstm_nightly_retrain.py",
    ]
    assert all("airflow.train_queues: unknown key" in e for e in errors.values())
