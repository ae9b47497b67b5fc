"""The Forecasts page over HTTP (FastAPI's test client on the plugin's app)."""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest

from stacklstm_fin.warehouse import connect, migrate

AS_OF = dt.date(2018, 12, 31)
TICKERS = ("^GSPC", "^IXIC")


def _client(app: Any) -> Any:
    # fastapi.testclient warns at import that starlette wants httpx2 (not installed).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    return TestClient(app)


def populate(url: str) -> None:
    """Two tickers' closes, a champion and a challenger, and a published 2-session forecast."""
    with connect(url) as wh:
        migrate(wh)
        now = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
        sessions = [AS_OF - dt.timedelta(days=i) for i in range(90, -1, -1)]
        for k, ticker in enumerate(TICKERS):
            for i, day in enumerate(sessions):
                close = 1000.0 * (k + 2) + i
                wh.execute(
                    "INSERT INTO stacklstm.prices_daily VALUES (:t, :d, :c, :c, :c, :c, :c, 1, "
                    "'sample', :now)",
                    {"t": ticker, "d": day, "c": close, "now": now},
                )
            base = 1000.0 * (k + 2) + 90
            for h, target in enumerate((dt.date(2019, 1, 2), dt.date(2019, 1, 3)), start=1):
                wh.execute(
                    "INSERT INTO stacklstm.forecasts (ticker, as_of_date, horizon, target_date, "
                    "model_id, base_close, yhat_log_return, yhat_close, lower_close, upper_close, "
                    "interval_level, published_at) VALUES (:t, :a, :h, :target, 'gru-1', :b, "
                    "0.001, :y, :lo, :hi, 0.8, :now)",
                    {"t": ticker, "a": AS_OF, "h": h, "target": target, "b": base,
                     "y": base + h, "lo": base - 10 * h, "hi": base + 12 * h, "now": now},
                )  # fmt: skip
        for model_id, candidate, status, rmse in (
            ("gru-1", "gru", "champion", 0.0101),
            ("random_walk-1", "random_walk", "rejected", 0.0108),
        ):
            wh.execute(
                "INSERT INTO stacklstm.model_registry (model_id, candidate, family, "
                "hyperparameters, as_of, data_hash, code_version, seed, package_versions, "
                "metrics, status, trained_at) VALUES (:m, :c, :c, '{}', :a, 'h', 'v', 1, '{}', "
                "'{}', :s, :now)",
                {"m": model_id, "c": candidate, "a": AS_OF, "s": status, "now": now},
            )
            wh.execute(
                "INSERT INTO stacklstm.model_metrics VALUES (:m, 'test', '*', 0, 'rmse', :v)",
                {"m": model_id, "v": rmse},
            )


@pytest.fixture
def warehouse_url(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    populate(url)
    return url


@pytest.fixture
def client(warehouse_url: str) -> Iterator[Any]:
    from stacklstm_fin.airflow.web import create_app

    with _client(create_app(lambda: connect(warehouse_url, read_only=True))) as c:
        yield c


def test_page_shows_leaderboard_forecasts_and_chart(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Model leaderboard as of 2018-12-31" in html
    board = html.split('<table class="leaderboard">')[1].split("</table>")[0]
    assert board.index("gru") < board.index("random_walk")  # ranked by test RMSE
    assert "champion" in board
    forecasts = html.split('<table class="forecasts">')[1].split("</table>")[0]
    assert forecasts.count("<tr>") == 1 + 2 * len(TICKERS)
    assert "<td>2019-01-03</td>" in forecasts
    assert "<td>3,114.00</td>" in forecasts  # ^IXIC's upper bound at h=2
    assert "Recent closes and forecast: ^GSPC" in html
    assert 'href="?ticker=%5EIXIC"' in html
    assert html.count("<svg") == 1 and 'class="band"' in html and "<script" not in html


def test_chart_for_a_chosen_ticker(client: Any) -> None:
    page = client.get("/", params={"ticker": "^IXIC"})
    assert page.status_code == 200
    assert "Recent closes and forecast: ^IXIC" in page.text
    svg = client.get("/chart.svg", params={"ticker": "^IXIC"})
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(svg.text)
    ns = "{http://www.w3.org/2000/svg}"
    prices = root.find(f"{ns}polyline[@class='prices']")
    forecast = root.find(f"{ns}polyline[@class='forecast']")
    assert prices is not None and len(prices.attrib["points"].split()) == 60
    assert forecast is not None and len(forecast.attrib["points"].split()) == 3  # as-of + 2
    assert root.find(f"{ns}title").text == (  # type: ignore[union-attr]
        "^IXIC: last 60 closes to 2018-12-31 and the forecast for 2 sessions"
    )


def test_json_endpoints(client: Any) -> None:
    board = client.get("/api/leaderboard").json()
    assert board["as_of"] == "2018-12-31"
    assert [(c["rank"], c["candidate"], c["status"]) for c in board["candidates"]] == [
        (1, "gru", "champion"),
        (2, "random_walk", "rejected"),
    ]
    rows = client.get("/api/forecasts", params={"ticker": "^GSPC"}).json()["forecasts"]
    assert [(r["horizon"], r["lower_close"], r["yhat_close"], r["upper_close"]) for r in rows] == [
        (1, 2080.0, 2091.0, 2102.0),
        (2, 2070.0, 2092.0, 2114.0),
    ]
    assert len(client.get("/api/forecasts").json()["forecasts"]) == 4


@pytest.mark.parametrize("path", ["/", "/chart.svg", "/api/forecasts"])
def test_bad_ticker_is_400_and_unknown_ticker_404(client: Any, path: str) -> None:
    bad = client.get(path, params={"ticker": "x' OR 1=1"})
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith('ticker "x\' OR 1=1": not a valid symbol')
    unknown = client.get(path, params={"ticker": "AAPL"})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no published forecasts for AAPL"}


def test_read_only_no_write_routes(client: Any) -> None:
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/api/leaderboard").status_code == 405
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404


def test_empty_and_missing_warehouses(tmp_path: Path) -> None:
    from stacklstm_fin.airflow.web import create_app

    empty = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    with connect(empty) as wh:
        migrate(wh)
    with _client(create_app(lambda: connect(empty, read_only=True))) as c:
        page = c.get("/")
        assert page.status_code == 200
        assert "No model trained yet." in page.text
        assert "No forecasts published yet." in page.text
        assert c.get("/api/leaderboard").json() == {"as_of": None, "candidates": []}
    missing = tmp_path / "secret-location" / "nope.duckdb"
    with _client(create_app(lambda: connect(f"duckdb:///{missing}", read_only=True))) as c:
        page = c.get("/")
        assert page.status_code == 503
        assert page.json() == {"detail": "the warehouse is not available"}
        assert "secret-location" not in page.text


def test_page_does_not_hold_the_duckdb_lock(client: Any, warehouse_url: str) -> None:
    assert client.get("/").status_code == 200
    with connect(warehouse_url, lock_timeout=0.2) as wh:  # a writer gets the file at once
        wh.execute("SELECT 1")
    assert json.loads(client.get("/api/leaderboard").text)["as_of"] == "2018-12-31"


@pytest.mark.postgres
def test_page_on_postgresql_through_the_connection(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from stacklstm_fin.airflow.web import create_app, default_opener

    populate(pg_url)
    monkeypatch.delenv("STACKLSTM_CONFIG", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_STACKLSTM_WAREHOUSE", pg_url)
    with _client(create_app()) as c:
        board = c.get("/api/leaderboard").json()
        assert [r["candidate"] for r in board["candidates"]] == ["gru", "random_walk"]
        assert c.get("/", params={"ticker": "^IXIC"}).status_code == 200
    with default_opener() as wh, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        wh.execute("CREATE TABLE stacklstm.page_must_not_write (a INTEGER)")


@pytest.fixture
def evidence_client(tmp_path: Path) -> Iterator[Any]:
    """The page over the hand-made warehouse of tests/report/evidence_fixture.py."""
    from stacklstm_fin.airflow.web import create_app
    from tests.report.evidence_fixture import populate as populate_evidence

    url = f"duckdb:///{tmp_path / 'evidence.duckdb'}"
    populate_evidence(url)
    with _client(create_app(lambda: connect(url, read_only=True))) as c:
        yield c


def _rows(html: str, css: str) -> list[list[str]]:
    body = html.split(f'<table class="{css}">')[1].split("</table>")[0].split("<tbody>")[1]
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_page_shows_decisions_and_calibration_warnings(evidence_client: Any) -> None:
    from tests.report.evidence_fixture import AAA_REASON, BBB_REASON, EXPECTED, WARNINGS

    html = evidence_client.get("/").text
    box = html.split('<div class="warning" id="calibration-warning" role="alert">')[1]
    box = box.split("</div>")[0]
    assert "Warning: 2 published interval series are miscalibrated" in box
    assert "as-ofs 2017-12-07 .. 2018-12-07" in box
    assert re.findall(r"<li>(.*?)</li>", box) == WARNINGS
    assert html.index("calibration-warning") < html.index("Model leaderboard")
    assert _rows(html, "decisions") == [
        ["AAA", "gru (gru)", "250", "0.912", "0.0004", "0.0008", escape(AAA_REASON)],
        ["BBB", "random_walk (random_walk)", "250", "0.995", "0.410", "0.410",
         escape(BBB_REASON)],
    ]  # fmt: skip
    calibration = _rows(html, "calibration")
    assert [(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in calibration] == [
        (*key, *counts[1:4]) for key, counts in EXPECTED.items()
    ]
    assert [r[7] for r in calibration] == ["inside", "inside", *["OUTSIDE: too narrow"] * 2]
    board = _rows(html, "leaderboard")
    assert [(r[1], r[4]) for r in board] == [("gru", "0.95"), ("random_walk", "1.00")]


def test_json_exposes_decisions_and_calibration(evidence_client: Any) -> None:
    from tests.report.evidence_fixture import EXPECTED, WARNINGS

    decisions = evidence_client.get("/api/decisions").json()
    assert decisions["as_of"] == "2018-09-28"
    assert [
        (d["ticker"], d["model_id"], d["windows"], d["ratio"], d["p_value"], d["p_adjusted"])
        for d in decisions["decisions"]
    ] == [("AAA", "gru-1", 250, 0.912, 0.0004, 0.0008),
          ("BBB", "random_walk-1", 250, 0.995, 0.41, 0.41)]  # fmt: skip
    cal = evidence_client.get("/api/calibration").json()
    assert (cal["start"], cal["end"]) == ("2017-12-07", "2018-12-07")
    assert cal["warnings"] == WARNINGS
    assert {
        (r["ticker"], r["horizon"]): (r["published"], r["realized"], r["pending"], r["no_price"])
        for r in cal["calibration"]
    } == {k: v[:4] for k, v in EXPECTED.items()}
    assert [r["calibrated"] for r in cal["calibration"]] == [True, True, False, False]


def test_page_request_fits_no_model(evidence_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacklstm_fin.pipeline import evaluate
    from stacklstm_fin.report import evidence

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a page request ran evaluate_range")

    monkeypatch.setattr(evidence, "evaluate_range", refuse)
    monkeypatch.setattr(evaluate, "_reference_halfwidths", refuse)
    for path in ("/", "/api/calibration", "/api/decisions"):
        assert evidence_client.get(path).status_code == 200


def test_every_route_is_behind_the_guard(warehouse_url: str) -> None:
    from fastapi import HTTPException

    from stacklstm_fin.airflow.web import create_app

    def deny() -> None:
        raise HTTPException(401, "not authenticated")

    app = create_app(lambda: connect(warehouse_url, read_only=True), dependencies=[deny])
    paths = sorted(r.path for r in app.routes)  # type: ignore[attr-defined]
    assert paths == ["/", "/api/calibration", "/api/decisions", "/api/forecasts",
                     "/api/leaderboard", "/chart.svg"]  # fmt: skip
    with _client(app) as c:
        for path in paths:
            assert c.get(path, params={"ticker": "^GSPC"}).status_code == 401, path
