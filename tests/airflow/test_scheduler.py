"""The DAGs under a real scheduler: LocalExecutor, PostgreSQL metadata, DuckDB warehouse.

On loopback: an API server (the Execution API the tasks talk to, and the REST
API this test reads), a scheduler and a DAG processor, with this repository's
``dags/``; the metadata database is a fresh PostgreSQL database, dropped at
the end. The configuration is the sample data (``^GSPC`` and ``^IXIC``, ending
2018-12-31) with a tiny model set, and the embedded DuckDB warehouse.

1. A fresh install, every DAG unpaused (as a new user does): the market-data
   run for the last weekday tick (in 2026) loads the sample history, finds no
   bar on its session and announces nothing; the nightly's sweep finds nothing
   to do. No champion, no forecast: nothing dated after 2018-12-31.
2. On a fresh warehouse, ``airflow backfill create --dag-id stacklstm_market_data``
   over 2018-12-24 .. 2018-12-28 (five weekdays, Christmas among them): four
   sessions announced, the holiday skipped, and every one of the four sessions
   retrained and forecast exactly once, nothing for the holiday.
3. On that warehouse, ``stacklstm_backfill`` over the 100 sessions before
   2018-12-24 while the market data of 2018-12-31 arrive: the market-data run
   and the nightly for 2018-12-31 finish before the backfill does, and the
   Forecasts page (polled every second) answers every request, 200 or a quick
   503 "busy".

Needs PostgreSQL (``STACKLSTM_TEST_PG_URL``, default 127.0.0.1:5432); skipped
with the reason where it is missing, except under CI=true.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
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

from tests.airflow.conftest import REPO, TINY_CANDIDATES
from tests.deploy.cluster import Api, Processes, free_port, tail, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get(
    "STACKLSTM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MARKET, NIGHTLY = "stacklstm_market_data", "stacklstm_nightly_retrain"
BACKFILL = "stacklstm_backfill"
TERMINAL = ("success", "failed")
SESSIONS = [dt.date(2018, 12, 24), dt.date(2018, 12, 26), dt.date(2018, 12, 27),
            dt.date(2018, 12, 28)]  # fmt: skip


def require_postgres() -> None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return
    except psycopg.OperationalError as exc:
        reason = f"no PostgreSQL at {PG_ADMIN_URL}: {str(exc).strip().splitlines()[0]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def write_config(path: Path, data_root: Path) -> None:
    """The sample data with a tiny model set; tasks read it at run time (data_root included)."""
    path.write_text(
        textwrap.dedent(
            f"""
            [source]
            name = "sample"

            [paths]
            data_root = "{data_root.as_posix()}"

            [warehouse]
            lock_timeout_seconds = 120.0

            [dataset]
            window = 8
            horizons = 2
            test_sessions = 30
            validation_sessions = 30
            volatility_window = 5
            max_history_sessions = 400

            [training]
            epochs = 1
            batch_size = 64
            """
        )
        + TINY_CANDIDATES
    )


def init_warehouse(config: Path) -> None:
    """A deployment's ``stacklstm-fin init-db``."""
    from stacklstm_fin.config import load_config
    from stacklstm_fin.warehouse import connect, migrate

    with connect(load_config(config, env={}).warehouse_url) as wh:
        migrate(wh)


def warehouse_rows(config: Path) -> dict[str, Any]:
    """What the DAGs wrote (read only when no task runs: DuckDB has one writer or readers)."""
    from stacklstm_fin.config import load_config
    from stacklstm_fin.warehouse import connect

    with connect(load_config(config, env={}).warehouse_url, read_only=True) as wh:
        return {
            "last_price": wh.scalar("SELECT MAX(session_date) FROM stacklstm.prices_daily"),
            "registry": wh.query(
                "SELECT model_id, as_of, status, promoted_at FROM stacklstm.model_registry"
            ),
            "forecasts": wh.query(
                "SELECT as_of_date, ticker, horizon, published_at FROM stacklstm.forecasts"
            ),
        }


class Cluster:
    def __init__(self, api: Api, processes: Processes, home: Path, config: Path) -> None:
        self.api = api
        self.processes = processes
        self.home = home
        self.config = config

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        found = self.api.get(f"/dags/{dag_id}/dagRuns", params={"limit": 100})
        return sorted(found["dag_runs"], key=lambda r: (r["queued_at"] or "", r["dag_run_id"]))

    def tasks(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in tis}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        entry = self.api.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value

    def settled(self, dag_ids: tuple[str, ...], minimum: dict[str, int]) -> bool:
        """Every run of these DAGs is finished, and each DAG has at least ``minimum`` runs."""
        for dag_id in dag_ids:
            runs = self.runs(dag_id)
            if len(runs) < minimum.get(dag_id, 0):
                return False
            if any(r["state"] not in TERMINAL for r in runs):
                return False
        return True

    def wait_settled(
        self, dag_ids: tuple[str, ...], minimum: dict[str, int], timeout: float, quiet: float = 20
    ) -> None:
        """Wait until the DAGs are settled and stay so for ``quiet`` seconds (no new run)."""
        deadline = time.monotonic() + timeout
        while True:
            wait_for(
                f"runs of {dag_ids} to finish",
                lambda: self.settled(dag_ids, minimum) or None,
                timeout=max(1.0, deadline - time.monotonic()),
                interval=3,
                processes=self.processes,
            )
            counts = {d: len(self.runs(d)) for d in dag_ids}
            time.sleep(quiet)
            if self.settled(dag_ids, minimum) and counts == {d: len(self.runs(d)) for d in dag_ids}:
                return

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("**/*.log")))


def airflow_env(home: Path, config: Path, api_url: str, meta_db: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    host = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STACKLSTM_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{host}/{meta_db}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": (
                f"postgresql+psycopg_async://{host}/{meta_db}"
            ),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": api_url.rsplit(":", 1)[1],
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            # New DAG files are picked up quickly; asset-triggered runs are created promptly.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "STACKLSTM_CONFIG": str(config),
            "PYTHONHASHSEED": "0",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    return env


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_postgres()
    import psycopg

    meta_db = f"stacklstm_sched_meta_{uuid.uuid4().hex[:10]}"
    tmp = Path(tempfile.mkdtemp(prefix="stacklstm-sched-"))
    home = tmp / "airflow_home"
    home.mkdir()
    config = tmp / "stacklstm_fin.toml"
    write_config(config, tmp / "fresh-install")
    processes: Processes | None = None
    api: Api | None = None
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {meta_db}")
        api_url = f"http://127.0.0.1:{free_port()}"
        password = secrets.token_urlsafe(16)
        (home / "simple_auth_manager_passwords.json.generated").write_text(
            json.dumps({"admin": password})
        )
        processes = Processes(home, airflow_env(home, config, api_url, meta_db))
        migrate = processes.start("db-migrate", [str(BIN / "airflow"), "db", "migrate"])
        init_warehouse(config)
        assert migrate.proc.wait(timeout=300) == 0, tail(migrate.log)
        processes.services.remove(migrate)
        airflow = str(BIN / "airflow")
        processes.start("api-server", [airflow, "api-server", "--workers", "1"])
        processes.start("scheduler", [airflow, "scheduler"])
        processes.start("dag-processor", [airflow, "dag-processor"])
        api = Api(api_url, "admin", password)
        wait_for("the API server", lambda: api.status("/monitor/health") == 200 or None,
                 timeout=180, processes=processes)  # fmt: skip
        api.login()
        for dag_id in (MARKET, NIGHTLY, BACKFILL):
            wait_for(f"{dag_id} to be parsed", lambda d=dag_id: api.status(f"/dags/{d}") == 200
                     or None, timeout=180, processes=processes)  # fmt: skip
        assert api.get("/importErrors")["total_entries"] == 0
        yield Cluster(api, processes, home, config)
    finally:
        if api is not None:
            api.close()
        if processes is not None:
            processes.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {meta_db} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)


def test_unpausing_a_fresh_install_promotes_and_publishes_nothing_after_the_data(
    cluster: Cluster,
) -> None:
    started = time.monotonic()
    for dag_id in (MARKET, NIGHTLY, BACKFILL):
        cluster.api.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    # catchup is off: one market-data run (the last weekday tick) and one nightly sweep.
    cluster.wait_settled((MARKET, NIGHTLY), {MARKET: 1, NIGHTLY: 1}, timeout=420)
    market = cluster.runs(MARKET)
    assert len(market) == 1
    run = market[0]
    assert run["logical_date"][:4] == "2026"  # the newest weekday tick before "now"
    assert run["state"] == "failed"
    assert cluster.tasks(MARKET, run["dag_run_id"]) == {
        "extract[-1]": "success", "validate_and_load[-1]": "success", "announce[-1]": "failed",
    }  # fmt: skip
    assert "no price on that session for ^GSPC, ^IXIC (newest session with every ticker: " \
        "2018-12-31)" in cluster.task_log(MARKET, run["dag_run_id"], "announce")  # fmt: skip
    events = cluster.api.get("/assets/events", params={"limit": 100})["asset_events"]
    assert [e for e in events if e["source_dag_id"] == MARKET] == []
    nightly = cluster.runs(NIGHTLY)
    # Only the sweep's run: no prices event, so no asset-triggered run.
    assert [r["run_type"] for r in nightly] == ["scheduled"]
    assert cluster.tasks(NIGHTLY, nightly[0]["dag_run_id"])["plan[-1]"] == "skipped"
    rows = warehouse_rows(cluster.config)
    assert rows["last_price"] == dt.date(2018, 12, 31)  # the sample history was loaded
    assert rows["registry"].height == 0  # no champion
    assert rows["forecasts"].height == 0
    print(f"fresh install settled in {time.monotonic() - started:.0f} s")


def test_a_native_backfill_over_a_holiday_week_gives_one_nightly_per_session(
    cluster: Cluster,
) -> None:
    # A fresh warehouse (tasks read data_root at run time), as on a new install.
    write_config(cluster.config, cluster.config.parent / "backfill-install")
    init_warehouse(cluster.config)
    before = {r["dag_run_id"] for r in cluster.runs(NIGHTLY)}
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "airflow"), "backfill", "create", "--dag-id", MARKET,
         "--from-date", "2018-12-24", "--to-date", "2018-12-29"],
        env=cluster.processes.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cluster.wait_settled((MARKET, NIGHTLY), {MARKET: 6}, timeout=720, quiet=30)
    seconds = time.monotonic() - started

    backfill = {r["logical_date"][:10]: r for r in cluster.runs(MARKET)
                if r["run_type"] == "backfill"}  # fmt: skip
    assert sorted(backfill) == ["2018-12-24", "2018-12-25", "2018-12-26", "2018-12-27",
                                "2018-12-28"]  # fmt: skip
    assert {d: r["state"] for d, r in backfill.items()} == dict.fromkeys(backfill, "success")
    announced = {
        d: cluster.tasks(MARKET, r["dag_run_id"])["announce[-1]"] for d, r in backfill.items()
    }
    holiday = cluster.tasks(MARKET, backfill["2018-12-25"]["dag_run_id"])
    assert holiday == dict.fromkeys(holiday, "skipped")
    assert "is not a XNYS session (an exchange holiday or a weekend)" in cluster.task_log(
        MARKET, backfill["2018-12-25"]["dag_run_id"], "extract"
    )

    nightly = [r for r in cluster.runs(NIGHTLY) if r["dag_run_id"] not in before]
    assert nightly and all(r["state"] == "success" for r in nightly), nightly
    worked: list[str] = []
    for r in nightly:
        if cluster.tasks(NIGHTLY, r["dag_run_id"]).get("plan[-1]") == "success":
            worked += cluster.xcom(NIGHTLY, r["dag_run_id"], "plan")
    rows = warehouse_rows(cluster.config)
    forecasts, registry = rows["forecasts"], rows["registry"]
    per_session = forecasts.group_by("as_of_date").len().sort("as_of_date")
    report = (
        f"backfill + nightlies settled in {seconds:.0f} s; announce per run {announced}; "
        f"{len(nightly)} nightly run(s) ({[r['run_type'] for r in nightly]}) worked on "
        f"{worked}; forecasts per session {per_session.rows()}"
    )
    print(report)
    # Each trading session was worked on exactly once, the holiday never.
    assert sorted(worked) == [d.isoformat() for d in SESSIONS], report
    assert per_session["as_of_date"].to_list() == SESSIONS, report
    assert per_session["len"].to_list() == [2 * 2] * 4, report  # 2 tickers x 2 horizons
    assert sorted(set(registry["as_of"].to_list())) == SESSIONS, report
    assert registry.filter(registry["status"] == "champion").height == 1
    # Each session's forecasts were published once (one publication time per session).
    publications = forecasts.group_by("as_of_date").agg(pl.col("published_at").n_unique())
    assert publications["published_at"].to_list() == [1] * 4


def test_a_100_session_backfill_leaves_the_daily_dags_and_the_page_working(
    cluster: Cluster,
) -> None:
    """``stacklstm_backfill`` over 100 sessions while the next trading day's DAGs run.

    Runs after the holiday-week test, on its warehouse (prices through 2018-12-28):
    the backfill forecasts 100 sessions before 2018-12-24, and meanwhile the market
    data of 2018-12-31 arrive and the nightly forecasts that session. Checked: both
    daily runs finish before the backfill does, and the Forecasts page answers every
    request (a 200, or a quick 503 "busy" while a step holds the DuckDB file).
    """
    import threading

    import httpx

    from stacklstm_fin.config import load_config
    from stacklstm_fin.pipeline.ingest import calendar_for

    cfg = load_config(cluster.config, env={})
    sessions = calendar_for(cfg).sessions(dt.date(2018, 6, 1), dt.date(2018, 12, 21))[-100:]
    conf = {"start": sessions[0].isoformat(), "end": sessions[-1].isoformat(), "retrain_every": 50}
    page: list[tuple[float, int, float]] = []  # (t, status, seconds)
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(
            base_url=cluster.api.base_url, timeout=120, headers=dict(cluster.api.client.headers)
        ) as client:
            while not stop.is_set():
                sent = time.monotonic()
                status = client.get("/stacklstm/api/forecasts").status_code
                page.append((sent - started, status, time.monotonic() - sent))
                stop.wait(1.0)

    started = time.monotonic()
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        backfill = cluster.api.call(
            "POST", f"/dags/{BACKFILL}/dagRuns", json={"logical_date": None, "conf": conf}
        )
        wait_for(
            "the backfill to ingest",
            lambda: (
                cluster.tasks(BACKFILL, backfill["dag_run_id"]).get("ingest_sessions[-1]")
                in ("running", "success")
                or None
            ),
            timeout=600,  # the plan task first; minutes on a busy 2-core machine
            processes=cluster.processes,
        )
        nightly_before = {r["dag_run_id"] for r in cluster.runs(NIGHTLY)}
        market = cluster.api.call(
            "POST",
            f"/dags/{MARKET}/dagRuns",
            json={"logical_date": None, "conf": {"as_of": "2018-12-31"}},
        )

        def finished(dag_id: str, run_id: str) -> dict[str, Any] | None:
            run = cluster.api.get(f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in TERMINAL else None

        market_run = wait_for(
            "the market-data run",
            lambda: finished(MARKET, market["dag_run_id"]),
            timeout=600,
            interval=2,
            processes=cluster.processes,
        )
        market_done = time.monotonic() - started

        def nightly_published() -> dict[str, Any] | None:
            new = [r for r in cluster.runs(NIGHTLY) if r["dag_run_id"] not in nightly_before]
            done = [r for r in new if r["state"] in TERMINAL]
            for r in done:
                if cluster.tasks(NIGHTLY, r["dag_run_id"]).get("plan[-1]") == "success" and (
                    "2018-12-31" in cluster.xcom(NIGHTLY, r["dag_run_id"], "plan")
                ):
                    return r
            return None

        nightly_run = wait_for(
            "the nightly for 2018-12-31",
            nightly_published,
            timeout=900,
            interval=3,
            processes=cluster.processes,
        )
        nightly_done = time.monotonic() - started
        backfill_state = cluster.api.get(f"/dags/{BACKFILL}/dagRuns/{backfill['dag_run_id']}")
        backfill_running_then = backfill_state["state"] not in TERMINAL
        backfill_run = wait_for(
            "the backfill",
            lambda: finished(BACKFILL, backfill["dag_run_id"]),
            timeout=1500,
            interval=3,
            processes=cluster.processes,
        )
        backfill_done = time.monotonic() - started
        cluster.wait_settled((MARKET, NIGHTLY, BACKFILL), {}, timeout=600, quiet=10)
    finally:
        stop.set()
        poller.join(timeout=150)

    statuses = [s for _, s, _ in page]
    longest_gap = 0.0
    last_ok = 0.0
    for t, status, _ in page:
        if status == 200:
            longest_gap = max(longest_gap, t - last_ok)
            last_ok = t
    report = (
        f"market data done at {market_done:.0f} s ({market_run['state']}), nightly for "
        f"2018-12-31 at {nightly_done:.0f} s ({nightly_run['state']}), backfill of 100 "
        f"sessions at {backfill_done:.0f} s ({backfill_run['state']}); page: {len(page)} "
        f"requests, {statuses.count(200)} x 200, {statuses.count(503)} x 503, slowest "
        f"{max(s for _, _, s in page):.1f} s, longest stretch without a 200 {longest_gap:.0f} s"
    )
    print(report)
    assert market_run["state"] == "success", report
    assert nightly_run["state"] == "success", report
    assert backfill_run["state"] == "success", report
    assert backfill_running_then, f"the daily DAGs waited for the whole backfill: {report}"
    assert set(statuses) <= {200, 503}, report
    assert max(s for _, _, s in page) < 30, report
    assert statuses.count(200) > len(statuses) / 2, report
    rows = warehouse_rows(cluster.config)
    published = set(rows["forecasts"]["as_of_date"].to_list())
    assert set(sessions) <= published, report
    assert dt.date(2018, 12, 31) in published, report
