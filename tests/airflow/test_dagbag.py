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
        "tasks": {t.task_id: {"queue": t.queue, "pool": t.pool, "retries": t.retries,
                              "outlets": [a.name for a in t.outlets]} for t in dag.tasks},
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
    assert market["tasks"]["validate_and_load"]["outlets"] == ["stacklstm.prices_daily"]
    nightly = dags["stacklstm_nightly_retrain"]
    assert nightly["timetable"] == "AssetTriggeredTimetable"
    assert list(nightly["tasks"]) == [
        "build_dataset", "train", "select_export_promote", "forecast_publish", "write_report",
    ]  # fmt: skip
    assert nightly["tasks"]["forecast_publish"]["outlets"] == ["stacklstm.forecasts"]
    backfill = dags["stacklstm_backfill"]
    assert backfill["timetable"] == "NullTimetable"
    assert backfill["params"] == ["backwards", "end", "retrain_every", "start", "tickers"]


def test_training_queue_and_pool_come_from_the_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, '\n[airflow]\ntrain_queue = "gpu"\ntrain_pool = "gpu_slots"\n')
    dags = parse_dags(config)["dags"]
    train = dags["stacklstm_nightly_retrain"]["tasks"]["train"]
    assert (train["queue"], train["pool"]) == ("gpu", "gpu_slots")
    backfill = dags["stacklstm_backfill"]["tasks"]["backfill_range"]
    assert (backfill["queue"], backfill["pool"]) == ("gpu", "gpu_slots")
    build = dags["stacklstm_nightly_retrain"]["tasks"]["build_dataset"]
    assert (build["queue"], build["pool"]) == ("default", "default_pool")


def test_a_broken_config_is_an_import_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[airflow]\ntrain_queues = "gpu"\n')
    errors = parse_dags(config)["errors"]
    assert sorted(Path(f).name for f in errors) == [
        "stacklstm_backfill.py",
        "stacklstm_nightly_retrain.py",
    ]
    assert all("airflow.train_queues: unknown key" in e for e in errors.values())
