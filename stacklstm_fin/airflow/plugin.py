"""The Airflow plugin: the Forecasts page in the Airflow 3 UI.

- a FastAPI app mounted by the API server at ``/stacklstm`` (see :mod:`.web`);
- an external view "Forecasts" in the navigation ("Browse"), shown inside the
  UI in an iframe at ``/plugin/stacklstm-forecasts``.

Airflow does not authenticate plugin apps by itself, so this one checks the
caller as the REST API does: a JWT from the ``Authorization: Bearer`` header or
the UI's ``_token`` cookie, and read access to the ``stacklstm_nightly_retrain``
DAG (whoever may read that DAG may read its forecasts). The page is read-only.

Register it by putting ``plugins/stacklstm_plugin.py`` (one import line) in
the deployment's plugins folder.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import HTTPException, Request

from stacklstm_fin.airflow.web import create_app

URL_PREFIX = "/stacklstm"
GUARD_DAG_ID = "stacklstm_nightly_retrain"
TOKEN_COOKIE = "_token"


async def require_airflow_reader(request: Request) -> None:
    """Allow a logged-in Airflow user who may read the nightly retrain DAG; else 401/403."""
    import jwt
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise HTTPException(401, "not authenticated: log in to Airflow first")
    manager = get_auth_manager()
    try:
        user = await manager.get_user_from_token(token)
    except jwt.ExpiredSignatureError:
        raise HTTPException(401, "token expired: log in to Airflow again") from None
    except jwt.InvalidTokenError:
        raise HTTPException(403, "invalid token") from None
    details = DagDetails(id=GUARD_DAG_ID)
    if not manager.is_authorized_dag(method="GET", details=details, user=user):
        raise HTTPException(403, f"forbidden: needs read access to the DAG {GUARD_DAG_ID}")


forecasts_app = create_app(dependencies=[require_airflow_reader])

FASTAPI_APP: dict[str, Any] = {
    "app": forecasts_app,
    "url_prefix": URL_PREFIX,
    "name": "stacklstm-fin forecasts",
}
EXTERNAL_VIEW: dict[str, Any] = {
    "name": "Forecasts",
    # Relative (no leading slash): resolved against the UI's base URL, proxies included.
    "href": URL_PREFIX.lstrip("/") + "/",
    "url_route": "stacklstm-forecasts",
    "destination": "nav",
    "category": "browse",
}


class StackLSTMPlugin(AirflowPlugin):
    """Forecasts page (FastAPI app + external view) for stacklstm-fin."""

    name = "stacklstm_fin"
    # Plain class attributes, as AirflowPlugin declares them.
    fastapi_apps = [FASTAPI_APP]  # noqa: RUF012
    external_views = [EXTERNAL_VIEW]  # noqa: RUF012
