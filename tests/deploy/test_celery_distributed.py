"""A real distributed Airflow 3: CeleryExecutor, Redis, PostgreSQL, two Celery workers.

On loopback, with free ports: an API server (the Execution API the workers
talk to), a scheduler, a DAG processor and two Celery workers, one on the
``default`` queue and one on ``gpu`` (the queue ``airflow.train_queue`` sends
training to). The metadata database and the warehouse are fresh PostgreSQL
databases, dropped at the end; Celery uses a dedicated Redis database number.
The DAGs are this repository's ``dags/``, configured through
``STACKLSTM_CONFIG`` and the ``AIRFLOW_CONN_STACKLSTM_WAREHOUSE`` connection,
as in ``docker/docker-compose.yaml``.

Prices are ingested through the library (the market-data DAG is covered by
``tests/airflow``), then ``stacklstm_nightly_retrain`` is triggered over REST
twice for the same as-of. Checked: the mapped ``train`` instances went through
the ``gpu`` queue and ran on the gpu worker, every other task on the default
worker (the task-instance records and the workers' own logs), the champion and
its forecasts are in the PostgreSQL warehouse, the Forecasts page on the API
server reads the same rows, and the second run changes no row of the warehouse.
A task that fails or goes up for retry fails the test at once, with its log.

Needs PostgreSQL (``STACKLSTM_TEST_PG_URL``, default 127.0.0.1:5432), Redis
(``STACKLSTM_TEST_REDIS_URL``, default database 13 at 127.0.0.1:6379, flushed
before and after) and the Celery provider (the ``deploy`` extra). Skipped with
the reason where one is missing, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.airflow.conftest import TINY_CANDIDATES
from tests.deploy.cluster import Api, Processes, free_port, tail, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAG_ID = "stacklstm_nightly_retrain"
AS_OF = "2018-12-31"
CANDIDATES = ["ewma", "lstm", "random_walk"]
PG_ADMIN_URL = os.environ.get(
    "STACKLSTM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("STACKLSTM_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
WORKERS = {"default-worker": "default", "gpu-worker": "gpu"}
BAD_STATES = ("failed", "up_for_retry", "upstream_failed")
PUBLISHED = ("prices_daily", "validation_runs", "model_registry", "model_metrics", "forecasts")


def missing_service() -> str | None:
    """Why this test cannot run here, or None."""
    if importlib.util.find_spec("airflow.providers.celery") is None:
        return (
            "the Celery provider is not installed: "
            ".venv/bin/pip install -c constraints.txt -e '.[deploy]'"
        )
    import psycopg
    import redis

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL at {PG_ADMIN_URL}: {str(exc).strip().splitlines()[0]}"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"no Redis at {REDIS_URL}: {exc}"
    return None


def require_services() -> None:
    reason = missing_service()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def write_config(folder: Path) -> Path:
    """Two synthetic tickers, window 8, 2 horizons, three tiny candidates, training on ``gpu``.

    ``warehouse.url`` stays empty: the tasks must find the PostgreSQL warehouse
    through the ``stacklstm_warehouse`` connection (else they would write a
    DuckDB file under data_root, which the test checks is absent).
    """
    path = folder / "stacklstm_fin.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [universe]
            tickers = ["SYN0001", "SYN0002"]

            [source]
            name = "synthetic"

            [source.synthetic]
            n_tickers = 2
            start = 2017-06-01

            [paths]
            data_root = "{(folder / "data").as_posix()}"

            [dataset]
            window = 8
            horizons = 2
            test_sessions = 30
            validation_sessions = 30
            volatility_window = 5

            [training]
            epochs = 2
            batch_size = 64

            [airflow]
            train_queue = "gpu"
            train_pool = "gpu"
            """
        )
        + TINY_CANDIDATES
    )
    return path


def ingest_prices(config: Path, warehouse_url: str) -> dict[str, Any]:
    """The warehouse schema (a deployment's ``init-db``) and the prices through the as-of."""
    from stacklstm_fin.config import load_config
    from stacklstm_fin.pipeline.ingest import ingest
    from stacklstm_fin.warehouse import connect, migrate

    cfg = load_config(config, env={}, overrides={"warehouse.url": warehouse_url})
    with connect(warehouse_url) as wh:
        migrate(wh)
        return ingest(cfg, wh, dt.date.fromisoformat(AS_OF))


def published(warehouse_url: str) -> dict[str, pl.DataFrame]:
    """Every row of the tables a run writes, in a stable order."""
    from stacklstm_fin.warehouse import connect

    with connect(warehouse_url) as wh:
        frames = {name: wh.query(f"SELECT * FROM stacklstm.{name}") for name in PUBLISHED}
    return {name: frame.sort(frame.columns) for name, frame in frames.items()}


class Deployment:
    """What the tests read: the API, the warehouse URL, the processes and their logs."""

    def __init__(self, api: Api, processes: Processes, warehouse_url: str, home: Path) -> None:
        self.api = api
        self.processes = processes
        self.warehouse_url = warehouse_url
        self.home = home

    def trigger_and_wait(self, run_id: str, timeout: float) -> dict[str, Any]:
        """Trigger the nightly DAG for AS_OF over REST; the finished run and its task instances."""
        started = time.monotonic()
        self.api.call(
            "POST",
            f"/dags/{DAG_ID}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": None, "conf": {"as_of": AS_OF}},
        )

        def finished() -> dict[str, Any] | None:
            run = self.api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            # A failed try fails the test now, with its log, not after the retry delay.
            tis = self.api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
            bad = [t for t in tis["task_instances"] if t["state"] in BAD_STATES]
            return run if bad else None

        run = wait_for(
            f"{DAG_ID} run {run_id}",
            finished,
            timeout=timeout,
            interval=2,
            processes=self.processes,
        )
        tis = self.api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
        result = {"run": run, "tis": tis, "seconds": time.monotonic() - started}
        assert run["state"] == "success", self.failure_report(run_id, tis)
        return result

    def failure_report(self, run_id: str, tis: list[dict[str, Any]]) -> str:
        """The task states, the logs of the tasks that went wrong, the components' last lines."""
        states = {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in tis}
        bad = {t["task_id"] for t in tis if t["state"] in BAD_STATES} or {"*"}
        run_logs = self.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
        paths = sorted(p for task in bad for p in run_logs.glob(f"task_id={task}/**/*.log"))
        logs = "\n\n".join(f"--- {p}:\n{tail(p, 15)}" for p in paths)
        return f"run {run_id}: {states}\n{logs}\n\n{self.processes.report(lines=15)}"

    def worker_log_tasks(self, worker: str, run_id: str) -> list[str]:
        """``task_id[map_index]`` of every workload a worker's log says it executed for a run."""
        text = (self.processes.logs / f"{worker}.log").read_text(errors="replace")
        found = []
        for line in text.splitlines():
            if "Executing workload in Celery" in line and f"run_id='{run_id}'" in line:
                task = re.search(r"task_id='([^']+)'", line)
                index = re.search(r"map_index=(-?\d+)", line)
                assert task and index, line
                found.append(f"{task.group(1)}[{index.group(1)}]")
        return sorted(found)


def airflow_env(
    home: Path, config: Path, api_url: str, meta_db: str, warehouse_url: str
) -> dict[str, str]:
    """One deployment's settings, given to every component (as the compose file does)."""
    from cryptography.fernet import Fernet

    host = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STACKLSTM_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{host}/{meta_db}",
            # psycopg 3 for the async engine too (Airflow's default would need asyncpg).
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": (
                f"postgresql+psycopg_async://{host}/{meta_db}"
            ),
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg://{host}/{meta_db}",
            # Shared by every component that signs or checks tokens.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": api_url.rsplit(":", 1)[1],
            "AIRFLOW__API__BASE_URL": api_url,
            # Where the workers' task runners reach the Execution API.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW_CONN_STACKLSTM_WAREHOUSE": warehouse_url,
            "STACKLSTM_CONFIG": str(config),
            "PYTHONPATH": str(REPO),  # for tests.deploy.worker_identity
            "PYTHONHASHSEED": "0",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    return env


def start_airflow(processes: Processes, api: Api) -> None:
    """API server, scheduler, DAG processor, the two workers; then the pool and the DAG."""
    airflow = str(BIN / "airflow")
    processes.start("api-server", [airflow, "api-server", "--workers", "1"])
    processes.start("scheduler", [airflow, "scheduler"])
    processes.start("dag-processor", [airflow, "dag-processor"])
    worker = [airflow, "celery", "worker", "--concurrency", "2"]
    for name, queue in WORKERS.items():
        processes.start(
            name,
            [*worker, "--queues", queue, "--celery-hostname", f"{name}@%h"],
            {
                "DEPLOYTEST_WORKER_NAME": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.deploy.worker_identity.worker_name",
                # Each worker serves its task logs on its own port.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            },
        )
    wait_for(
        "the API server",
        lambda: api.status("/monitor/health") == 200 or None,
        timeout=120,
        processes=processes,
    )
    api.login()
    api.call("POST", "/pools", json={"name": "gpu", "slots": 2}, expect=201)
    wait_for(
        f"{DAG_ID} to be parsed",
        lambda: api.status(f"/dags/{DAG_ID}") == 200 or None,
        timeout=120,
        processes=processes,
    )
    errors = api.get("/importErrors")
    assert errors["total_entries"] == 0, errors
    api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    require_services()
    import psycopg
    import redis

    suffix = uuid.uuid4().hex[:10]
    meta_db, warehouse_db = f"stacklstm_deploy_meta_{suffix}", f"stacklstm_deploy_wh_{suffix}"
    warehouse_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{warehouse_db}"
    broker = redis.Redis.from_url(REDIS_URL)
    tmp = Path(tempfile.mkdtemp(prefix="stacklstm-deploy-"))
    home = tmp / "airflow_home"
    home.mkdir()
    processes: Processes | None = None
    api: Api | None = None
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {meta_db}")
            conn.execute(f"CREATE DATABASE {warehouse_db}")
        broker.flushdb()
        api_url = f"http://127.0.0.1:{free_port()}"
        password = secrets.token_urlsafe(16)
        # SimpleAuthManager reads (and would otherwise generate) the passwords here.
        (home / "simple_auth_manager_passwords.json.generated").write_text(
            json.dumps({"admin": password})
        )
        config = write_config(tmp)
        processes = Processes(home, airflow_env(home, config, api_url, meta_db, warehouse_url))
        migrate = processes.start("db-migrate", [str(BIN / "airflow"), "db", "migrate"])
        summary = ingest_prices(config, warehouse_url)  # meanwhile, in this process
        assert summary["success"] and summary["rows_loaded"] > 0, summary
        assert migrate.proc.wait(timeout=300) == 0, tail(migrate.log)
        processes.services.remove(migrate)
        api = Api(api_url, "admin", password)
        start_airflow(processes, api)
        yield Deployment(api, processes, warehouse_url, home)
    finally:
        if api is not None:
            api.close()
        if processes is not None:
            processes.stop()
        broker.flushdb()
        broker.close()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            for name in (meta_db, warehouse_db):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def first_run(deployment: Deployment) -> dict[str, Any]:
    return deployment.trigger_and_wait("deploy-first", timeout=300)


def test_training_runs_on_the_gpu_worker_and_the_rest_on_the_default_worker(
    deployment: Deployment, first_run: dict[str, Any]
) -> None:
    tis = {f"{t['task_id']}[{t['map_index']}]": t for t in first_run["tis"]}
    train = [f"train[{i}]" for i in range(len(CANDIDATES))]
    # The nightly's follow-up trigger is skipped (no session left), so no worker runs it.
    skipped = ["follow_up[-1]"]
    other = sorted(k for k in tis if not k.startswith("train[") and k not in skipped)
    assert sorted(k for k in tis if k.startswith("train[")) == train
    assert {"plan[-1]", "build_dataset[0]", "select_export_promote[-1]",
            "forecast_publish[-1]"} <= set(other)  # fmt: skip
    assert {k: t["state"] for k, t in tis.items()} == {
        **dict.fromkeys(tis, "success"), **dict.fromkeys(skipped, "skipped"),
    }  # fmt: skip
    tis = {k: t for k, t in tis.items() if k not in skipped}
    assert sorted(tis[k]["rendered_map_index"] for k in train) == [
        f"{AS_OF} {c}" for c in CANDIDATES
    ]
    where = {k: (t["queue"], t["pool"], t["hostname"]) for k, t in tis.items()}
    assert where == {
        **dict.fromkeys(train, ("gpu", "gpu", "gpu-worker")),
        **dict.fromkeys(other, ("default", "default_pool", "default-worker")),
    }
    # The workers' own logs agree: each executed exactly its queue's workloads.
    assert deployment.worker_log_tasks("gpu-worker", "deploy-first") == train
    assert deployment.worker_log_tasks("default-worker", "deploy-first") == other


def test_champion_and_forecasts_are_in_the_postgresql_warehouse(
    deployment: Deployment, first_run: dict[str, Any]
) -> None:
    tables = published(deployment.warehouse_url)
    registry, forecasts = tables["model_registry"], tables["forecasts"]
    assert sorted(registry["candidate"].to_list()) == CANDIDATES
    champions = registry.filter(pl.col("status") == "champion")
    assert champions.height == 1
    champion = champions.row(0, named=True)
    assert champion["as_of"] == dt.date(2018, 12, 31)
    assert champion["onnx_sha256"] and champion["parity_max_abs_diff"] <= 1e-4
    assert forecasts.select("ticker", "as_of_date", "horizon", "target_date").rows() == [
        ("SYN0001", dt.date(2018, 12, 31), 1, dt.date(2019, 1, 2)),
        ("SYN0001", dt.date(2018, 12, 31), 2, dt.date(2019, 1, 3)),
        ("SYN0002", dt.date(2018, 12, 31), 1, dt.date(2019, 1, 2)),
        ("SYN0002", dt.date(2018, 12, 31), 2, dt.date(2019, 1, 3)),
    ]
    assert set(forecasts["model_id"]) == {champion["model_id"]}
    # The tasks found the warehouse through the connection, not the config's DuckDB default.
    assert (deployment.home.parent / "data" / "runs").is_dir()
    assert not list((deployment.home.parent / "data").glob("*.duckdb"))


def test_the_forecasts_page_on_the_api_server_reads_the_same_warehouse(
    deployment: Deployment, first_run: dict[str, Any]
) -> None:
    response = deployment.api.client.get("/stacklstm/api/forecasts")
    assert response.status_code == 200, response.text
    rows = response.json()["forecasts"]
    forecasts = published(deployment.warehouse_url)["forecasts"]
    assert sorted((r["ticker"], r["horizon"], r["model_id"]) for r in rows) == sorted(
        forecasts.select("ticker", "horizon", "model_id").rows()
    )


def test_a_second_trigger_for_the_same_as_of_changes_no_published_row(
    deployment: Deployment, first_run: dict[str, Any]
) -> None:
    before = published(deployment.warehouse_url)
    again = deployment.trigger_and_wait("deploy-again", timeout=240)
    after = published(deployment.warehouse_url)
    changed = [name for name in PUBLISHED if not after[name].equals(before[name])]
    assert changed == []
    # The re-run reuses the finished candidates, still through the gpu worker.
    hosts = {t["hostname"] for t in again["tis"] if t["task_id"] == "train"}
    assert hosts == {"gpu-worker"}
