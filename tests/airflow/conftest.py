"""Airflow fixtures: a throwaway AIRFLOW_HOME, its SQLite metadata database, tiny configs.

Airflow reads its configuration when it is first imported, so the environment
is set when this conftest is loaded, before any test module imports Airflow.
DAG runs (``dag.test()``) go to subprocesses (:mod:`tests.airflow.dagtest`):
each gets a clean ``sys.modules`` and its own TensorFlow, and the test reads
the warehouse and the metadata database afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HOME = Path(tempfile.mkdtemp(prefix="stacklstm-airflow-home-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    # 64 bytes: below that PyJWT warns about the HMAC key length.
    "AIRFLOW__API_AUTH__JWT_SECRET": "stacklstm-test-" + "0123456789abcdef" * 4,
    "AIRFLOW__API__SECRET_KEY": "stacklstm-test-secret",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONHASHSEED": "0",
}
os.environ.update(AIRFLOW_ENV)
os.environ.pop("STACKLSTM_CONFIG", None)
RESULT_MARK = "@@DAGTEST@@"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(HOME, ignore_errors=True)


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKLSTM_")}
    env.update(AIRFLOW_ENV)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The metadata database of the test AIRFLOW_HOME, migrated once per session."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return HOME / "airflow.db"


# Three tiny candidates (a 4-unit LSTM and two baselines), shared by every test config
# that runs real DAGs (tests/airflow, tests/deploy).
TINY_CANDIDATES = """
[[models.candidates]]
name = "lstm"
family = "lstm"
units = [4]

[[models.candidates]]
name = "random_walk"
family = "random_walk"

[[models.candidates]]
name = "ewma"
family = "ewma"
span = 5
"""


def write_config(folder: Path, text: str = "", **sections: Mapping[str, Any]) -> Path:
    """A tiny config (2 synthetic tickers, window 8, 2 horizons, 1 epoch) plus ``text``."""
    data_root = folder / "data"
    base = f"""
    [universe]
    tickers = ["SYN0001", "SYN0002"]

    [source]
    name = "synthetic"

    [source.synthetic]
    n_tickers = 2
    start = 2017-06-01

    [paths]
    data_root = "{data_root.as_posix()}"

    [dataset]
    window = 8
    horizons = 2
    test_sessions = 30
    validation_sessions = 30
    volatility_window = 5

    [training]
    epochs = 1
    batch_size = 64
    """
    path = folder / "stacklstm_fin.toml"
    path.write_text(textwrap.dedent(base) + TINY_CANDIDATES + textwrap.dedent(text))
    return path


def init_warehouse(config: Path) -> None:
    """Create the warehouse schema (a deployment's `stacklstm-fin init-db`)."""
    from stacklstm_fin.config import load_config
    from stacklstm_fin.warehouse import connect, migrate

    with connect(load_config(config, env={}).warehouse_url) as wh:
        migrate(wh)


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """The tiny synthetic config, its warehouse created."""
    path = write_config(tmp_path)
    init_warehouse(path)
    return path


def run_dag(
    config: Path,
    dag_id: str,
    *,
    logical_date: str | None = None,
    conf: Mapping[str, Any] | None = None,
    retries: int | None = None,
    timeout: float = 600,
) -> dict[str, Any]:
    """``dag.test()`` in a subprocess; the run's state, task states and output."""
    spec = {"dag_id": dag_id, "logical_date": logical_date, "conf": dict(conf or {}),
            "retries": retries}  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("dagtest.py")), json.dumps(spec)],
        env=subprocess_env(STACKLSTM_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=config.parent,
    )
    output = done.stdout + done.stderr
    marked = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert done.returncode == 0 and marked, f"dag.test crashed:\n{output[-6000:]}"
    result: dict[str, Any] = json.loads(marked[-1][len(RESULT_MARK) :])
    result["output"] = output
    return result


def asset_events(db: Path, asset_name: str) -> list[dict[str, Any]]:
    """The events of one asset in the metadata database, oldest first."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT e.extra, e.source_dag_id, e.source_task_id, e.source_run_id FROM asset_event e "
            "JOIN asset a ON a.id = e.asset_id WHERE a.name = ? ORDER BY e.id",
            (asset_name,),
        ).fetchall()
    return [
        {"extra": json.loads(r[0]), "dag_id": r[1], "task_id": r[2], "run_id": r[3]} for r in rows
    ]


@pytest.fixture
def warehouse_of() -> Iterator[Any]:
    """Open the warehouse a config names (read-only), closing it after the test."""
    from stacklstm_fin.config import load_config
    from stacklstm_fin.warehouse import connect

    opened: list[Any] = []

    def open_(config: Path) -> Any:
        wh = connect(load_config(config, env={}).warehouse_url, read_only=True)
        opened.append(wh)
        return wh

    yield open_
    for wh in opened:
        wh.close()
