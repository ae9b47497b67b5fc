"""The plugin inside Airflow's own API server app: mounted, listed, guarded by Airflow's login.

The app is built by ``airflow.api_fastapi.app.create_app`` (what ``airflow
api-server`` serves) in a subprocess with the test AIRFLOW_HOME, its plugins
folder being the repository's ``plugins/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import subprocess_env
from tests.airflow.test_web import populate

pytestmark = pytest.mark.integration

SERVE = """
import json, sys, warnings
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

client = TestClient(create_app(apps="core"))
manager = get_auth_manager()
admin = manager.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
nobody = manager.generate_jwt(SimpleAuthManagerUser(username="nobody", role=None))
bearer = {"Authorization": f"Bearer {admin}"}
out = {}
out["anonymous"] = client.get("/stacklstm/").status_code
out["no_role"] = client.get("/stacklstm/", headers={"Authorization": f"Bearer {nobody}"}).json()
page = client.get("/stacklstm/", headers=bearer)
out["page"] = [page.status_code, page.text]
out["cookie"] = client.get("/stacklstm/?ticker=%5EIXIC", cookies={"_token": admin}).status_code
out["bad_ticker"] = client.get("/stacklstm/chart.svg?ticker=a%3Bb", headers=bearer).status_code
out["leaderboard"] = client.get("/stacklstm/api/leaderboard", headers=bearer).json()
plugins = client.get("/api/v2/plugins", headers=bearer).json()["plugins"]
out["plugin"] = [p for p in plugins if p["name"] == "stacklstm_fin"]
print("@@" + json.dumps(out))
"""


def serve(airflow_db: Path, **env: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SERVE],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    marked = [line for line in done.stdout.splitlines() if line.startswith("@@")]
    assert done.returncode == 0 and marked, (done.stdout + done.stderr)[-5000:]
    result: dict[str, Any] = json.loads(marked[-1][2:])
    return result


def test_forecasts_page_through_the_api_server(airflow_db: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "deployed.duckdb"
    populate(f"duckdb:///{warehouse}")
    config = tmp_path / "stacklstm_fin.toml"
    # The config points elsewhere: the connection is what the deployment reads.
    config.write_text(f'[warehouse]\nurl = "duckdb:///{tmp_path / "unused.duckdb"}"\n')
    out = serve(
        airflow_db,
        STACKLSTM_CONFIG=str(config),
        AIRFLOW_CONN_STACKLSTM_WAREHOUSE=f"duckdb:///{warehouse}",
    )
    assert out["anonymous"] == 401
    assert out["no_role"] == {
        "detail": "forbidden: needs read access to the DAG stacklstm_nightly_retrain"
    }
    status, html = out["page"]
    assert status == 200
    assert "Model leaderboard as of 2018-12-31" in html and 'class="band"' in html
    assert "Recent closes and forecast: ^GSPC" in html
    assert out["cookie"] == 200
    assert out["bad_ticker"] == 400
    assert [c["candidate"] for c in out["leaderboard"]["candidates"]] == ["gru", "random_walk"]
    [plugin] = out["plugin"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/stacklstm"
    [view] = plugin["external_views"]
    assert (view["name"], view["href"], view["url_route"], view["destination"]) == (
        "Forecasts",
        "stacklstm/",
        "stacklstm-forecasts",
        "nav",
    )
    assert not (tmp_path / "unused.duckdb").exists()
