"""Failure notifications and the "forecasts published by" deadline, through Airflow's own APIs.

Both are off by default and switched on in the ``[airflow]`` section:

- ``notify_webhook_url``: :class:`WebhookNotifier` (a :class:`~airflow.sdk.BaseNotifier`)
  POSTs one JSON object per failed DAG run (``on_failure_callback``, run by
  the DAG processor);
- ``notifier``: the dotted path of your own ``BaseNotifier`` subclass that
  takes no arguments (e.g. an ``SmtpNotifier`` or ``SlackNotifier`` subclass
  with its settings filled in), called for the same failures;
- ``publish_deadline_minutes``: a :class:`~airflow.sdk.DeadlineAlert` on the
  nightly, ``DAGRUN_QUEUED_AT`` + N minutes, whose :func:`deadline_missed`
  callback runs in the **triggerer** (an ``AsyncCallback``): it logs a warning
  and posts to the webhook if one is set.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

# Public names of airflow.sdk (its __all__); the task-sdk 1.3.2 type stub lacks the deadline ones.
from airflow.sdk import (  # type: ignore[attr-defined]
    AsyncCallback,
    BaseNotifier,
    DeadlineAlert,
    DeadlineReference,
)

from stacklstm_fin.config import AirflowConfig
from stacklstm_fin.exceptions import ConfigError

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 10.0


def failure_message(context: dict[str, Any]) -> dict[str, Any]:
    """The JSON a failure notification carries (what failed, where to look)."""
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    ti = context.get("ti") or context.get("task_instance")
    return {
        "event": "failed",
        "dag_id": getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None),
        "run_id": getattr(dag_run, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "reason": str(context.get("reason") or context.get("exception") or ""),
        "owner": (getattr(dag, "default_args", None) or {}).get("owner"),
    }


def post_json(url: str, payload: dict[str, Any]) -> None:
    """POST ``payload`` to ``url`` (standard library only; errors are logged, not raised)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            log.info("notification sent to %s: HTTP %s", url, response.status)
    except OSError as exc:
        log.error("notification to %s failed: %s", url, exc)


class WebhookNotifier(BaseNotifier):
    """POST one JSON object per failure to ``url`` (e.g. a chat or on-call webhook)."""

    template_fields = ("url",)

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def notify(self, context: Any) -> None:
        post_json(self.url, failure_message(dict(context)))


def _import(path: str) -> Any:
    import importlib

    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"airflow.notifier: cannot import {path!r} ({exc})") from None


def failure_callbacks(cfg: AirflowConfig) -> list[Callable[..., Any]]:
    """The configured failure notifiers (empty: notifications off, the default)."""
    callbacks: list[Callable[..., Any]] = []
    if cfg.notify_webhook_url:
        callbacks.append(WebhookNotifier(cfg.notify_webhook_url))
    if cfg.notifier:
        notifier = _import(cfg.notifier)()
        if not isinstance(notifier, BaseNotifier):
            raise ConfigError(
                f"airflow.notifier: {cfg.notifier} is not a BaseNotifier subclass "
                "(from airflow.sdk import BaseNotifier)"
            )
        callbacks.append(notifier)
    return callbacks


async def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """The deadline alert's callback (runs in the triggerer): warn, and post if configured."""
    payload = {
        "event": "deadline_missed",
        "what": kwargs.get("what", "forecasts published"),
        "minutes": kwargs.get("minutes"),
        "dag_run": str((context or {}).get("dag_run", "")),
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
    log.warning("stacklstm deadline missed: %s", payload)
    url = kwargs.get("webhook_url")
    if url:
        post_json(str(url), payload)


def publish_deadline(cfg: AirflowConfig) -> DeadlineAlert | None:
    """The "forecasts published by" deadline of the nightly (None: off)."""
    if not cfg.publish_deadline_minutes:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(minutes=cfg.publish_deadline_minutes),
        callback=AsyncCallback(
            deadline_missed,
            kwargs={
                "what": "forecasts published",
                "minutes": cfg.publish_deadline_minutes,
                "webhook_url": cfg.notify_webhook_url,
            },
        ),
        name="forecasts_published",
    )
