"""A real Airflow 3 deployment on loopback, for the distributed test.

Every component is its own process, started in its own process group
(``start_new_session``), logging to ``<home>/service-logs/<name>.log``, and
stopped at the end by its own pid: SIGTERM to the group led by that pid (a
Celery worker's pool children and a running task's supervisor go with it),
then SIGKILL to that group if it is still alive after the grace period.
Nothing is looked up or killed by name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


@dataclasses.dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


class Processes:
    """The component processes of one deployment; stop() ends each by its own pid."""

    def __init__(self, home: Path, env: Mapping[str, str]) -> None:
        self.home = home
        self.env = dict(env)
        self.logs = home / "service-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.services: list[Service] = []

    def start(
        self, name: str, args: Sequence[str], extra_env: Mapping[str, str] | None = None
    ) -> Service:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(args),
                env={**self.env, **(extra_env or {})},
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, led by its pid
            )
        service = Service(name, proc, log)
        self.services.append(service)
        return service

    def check_alive(self) -> None:
        dead = [s for s in self.services if not s.alive()]
        if dead:
            raise AssertionError(
                "\n\n".join(
                    f"{s.name} exited with {s.proc.returncode}:\n{tail(s.log)}" for s in dead
                )
            )

    def report(self, lines: int = 25) -> str:
        return "\n\n".join(f"--- {s.name} ({s.log}):\n{tail(s.log, lines)}" for s in self.services)

    def stop(self, grace: float = 30) -> None:
        """SIGTERM every service's group (newest first), then SIGKILL what outlives ``grace``."""
        for service in reversed(self.services):
            self._signal(service, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in reversed(self.services):
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The leader may be gone while its children linger: the group goes either way.
            self._signal(service, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.proc.wait(timeout=10)
        self.services.clear()

    @staticmethod
    def _signal(service: Service, sig: signal.Signals) -> None:
        # The group id is the leader's pid (start_new_session): only what this test started.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.proc.pid, sig)


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 1.0,
    processes: Processes | None = None,
) -> T:
    """Call ``probe`` until it returns something not None; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        if processes is not None:
            processes.check_alive()
        try:
            value = probe()
        except (httpx.HTTPError, OSError) as exc:
            value, last_error = None, f" (last error: {exc!r})"
        if value is not None:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{processes.report()}" if processes is not None else ""
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}{last_error}{detail}"
            )
        time.sleep(interval)


class Api:
    """The Airflow REST API (``/api/v2``) with a SimpleAuthManager token."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def close(self) -> None:
        self.client.close()

    def login(self) -> None:
        response = self.client.post(
            "/auth/token", json={"username": self.username, "password": self.password}
        )
        assert response.status_code == 201, f"login: {response.status_code} {response.text}"
        token = response.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        assert response.status_code == expect, (
            f"{method} /api/v2{path}: expected {expect}, got {response.status_code}: "
            f"{response.text[:2000]}"
        )
        return response.json() if response.content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def status(self, path: str) -> int:
        return self.client.get(f"/api/v2{path}").status_code
