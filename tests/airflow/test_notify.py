"""Failure notifications and the deadline callback post real HTTP requests; config is checked."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from stacklstm_fin.config import AirflowConfig
from stacklstm_fin.exceptions import ConfigError


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP server that records the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


class FakeRun:
    dag_id = "stacklstm_nightly_retrain"
    run_id = "asset_triggered__2018-12-31"


def test_the_webhook_notifier_posts_what_failed(webhook: tuple[str, list[Any]]) -> None:
    from airflow.sdk import DAG

    from stacklstm_fin.airflow.notify import WebhookNotifier, failure_callbacks

    dag = DAG("stacklstm_nightly_retrain", schedule=None, default_args={"owner": "stacklstm"})
    url, received = webhook
    (notifier,) = failure_callbacks(AirflowConfig(notify_webhook_url=url))
    assert isinstance(notifier, WebhookNotifier)
    notifier({"dag": dag, "dag_run": FakeRun(), "reason": "task_failure"})
    assert received == [
        {
            "event": "failed",
            "dag_id": "stacklstm_nightly_retrain",
            "run_id": "asset_triggered__2018-12-31",
            "task_id": None,
            "reason": "task_failure",
            "owner": "stacklstm",
        }
    ]


def test_the_deadline_callback_warns_and_posts(
    webhook: tuple[str, list[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    from stacklstm_fin.airflow.notify import deadline_missed, publish_deadline

    url, received = webhook
    alert = publish_deadline(AirflowConfig(notify_webhook_url=url, publish_deadline_minutes=90))
    assert alert is not None
    assert alert.callback.path == "stacklstm_fin.airflow.notify.deadline_missed"
    asyncio.run(deadline_missed({"dag_run": "nightly run"}, **alert.callback.kwargs))
    assert [(r["event"], r["what"], r["minutes"], r["dag_run"]) for r in received] == [
        ("deadline_missed", "forecasts published", 90, "nightly run")
    ]
    assert "stacklstm deadline missed" in caplog.text
    assert publish_deadline(AirflowConfig()) is None  # off by default


def test_notifications_are_off_by_default_and_bad_settings_name_the_key() -> None:
    from stacklstm_fin.airflow.notify import failure_callbacks

    assert failure_callbacks(AirflowConfig()) == []
    with pytest.raises(ConfigError, match=r"^airflow.notify_webhook_url: expected an http"):
        AirflowConfig(notify_webhook_url="hooks.example/x")
    with pytest.raises(ConfigError, match=r"^airflow.notifier: expected a dotted path"):
        AirflowConfig(notifier="not a path")
    with pytest.raises(ConfigError, match=r"^airflow.notifier: cannot import 'nowhere.Nope'"):
        failure_callbacks(AirflowConfig(notifier="nowhere.Nope"))
    with pytest.raises(ConfigError, match=r"is not a BaseNotifier subclass"):
        failure_callbacks(AirflowConfig(notifier="collections.OrderedDict"))
