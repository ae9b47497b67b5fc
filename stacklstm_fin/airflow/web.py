"""The Forecasts page: a read-only FastAPI app over the warehouse's analyst views.

Routes (all GET; there is no write endpoint):

- ``/``: a warning box when published intervals are miscalibrated, the
  leaderboard of the newest as-of (view ``model_leaderboard``), the model
  published per ticker with its evidence (view
  ``latest_publication_decisions``), the latest forecasts with their intervals
  (view ``latest_forecasts``), calibration per ticker and horizon over the
  last :data:`CALIBRATION_DAYS` of as-ofs, and a server-side SVG chart of
  recent closes with the forecast fan for ``?ticker=`` (default: the first
  ticker with forecasts);
- ``/chart.svg?ticker=``: the chart alone;
- ``/api/leaderboard``, ``/api/forecasts?ticker=``, ``/api/decisions`` and
  ``/api/calibration`` (rows and warnings): the same data as JSON.

Calibration is one grouped query over ``forecast_accuracy``
(:func:`~stacklstm_fin.report.evidence.calibration` without references): a
page request never fits a model.

Each request opens the warehouse read-only and closes it before answering,
so the page never holds DuckDB's file lock while a DAG writes. A ticker that
is not a valid symbol is a 400; a valid one without forecasts is a 404; a
warehouse that cannot be read is a 503 whose body names no path or host.
Links are relative, so the page works under any mount point or proxy prefix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response

log = logging.getLogger(__name__)

# A function returning an open warehouse (stacklstm_fin.warehouse.Warehouse).
Opener = Callable[[], Any]
HISTORY_SESSIONS = 60
CALIBRATION_DAYS = 365  # the page's calibration window: as-ofs this many days back
DECISIONS_SQL = (
    "SELECT as_of, ticker, model_id, published_candidate, published_family, "
    "champion_model_id, champion_family, horizon, windows, ratio, dm_stat, p_value, "
    "p_adjusted, significance, correction, reason "
    "FROM stacklstm.latest_publication_decisions ORDER BY ticker"
)
LEADERBOARD_SQL = "SELECT * FROM stacklstm.model_leaderboard ORDER BY rank, candidate"
FORECASTS_SQL = (
    "SELECT ticker, as_of_date, horizon, target_date, model_id, base_close, yhat_log_return, "
    "yhat_close, lower_close, upper_close, interval_level, published_at "
    "FROM stacklstm.latest_forecasts {where} ORDER BY ticker, horizon"
)
HISTORY_SQL = (
    "SELECT session_date, close FROM stacklstm.prices_daily "
    "WHERE ticker = :ticker AND session_date <= :as_of "
    "ORDER BY session_date DESC LIMIT :n"
)
_LEADERBOARD_COLUMNS = [
    ("rank", "rank"), ("candidate", "candidate"), ("family", "family"), ("status", "status"),
    ("score_vs_random_walk", "score vs RW"), ("test_rmse", "RMSE"), ("test_mae", "MAE"),
    ("test_mase", "MASE"),
    ("test_directional_accuracy", "direction hit"), ("dm_pvalue_vs_random_walk", "DM p vs RW"),
    ("parity_max_abs_diff", "ONNX parity"),
]  # fmt: skip
_DECISION_COLUMNS = [
    ("ticker", "ticker"), ("published", "published model"), ("windows", "test windows"),
    ("ratio", "loss ratio vs RW"), ("p_value", "DM p (one-sided)"), ("p_adjusted", "adjusted p"),
    ("reason", "reason"),
]  # fmt: skip
_CALIBRATION_COLUMNS = [
    ("ticker", "ticker"), ("horizon", "h"), ("realized", "realized"), ("pending", "pending"),
    ("no_price", "no price"), ("coverage", "coverage"), ("band", "95% band"),
    ("verdict", "verdict"),
]  # fmt: skip
_FORECAST_COLUMNS = [
    ("ticker", "ticker"), ("as_of_date", "as of"), ("horizon", "h"),
    ("target_date", "target"), ("base_close", "close as of"), ("yhat_close", "forecast"),
    ("lower_close", "lower"), ("upper_close", "upper"), ("interval_level", "level"),
    ("model_id", "model"),
]  # fmt: skip


PAGE_LOCK_TIMEOUT_SECONDS = 5.0


def default_opener() -> Any:
    """The deployment's warehouse, read-only: connection ``stacklstm_warehouse`` or config."""
    from stacklstm_fin.airflow import runtime
    from stacklstm_fin.airflow.hooks import open_warehouse

    cfg = runtime.load()
    # A page answers within seconds: busy (503) rather than waiting as long as a task would.
    wait = min(cfg.warehouse.lock_timeout_seconds, PAGE_LOCK_TIMEOUT_SECONDS)
    wh = open_warehouse(cfg, read_only=True, lock_timeout=wait)
    if wh.dialect == "postgresql":
        wh.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    return wh


def create_app(
    opener: Opener = default_opener,
    *,
    dependencies: Sequence[Callable[..., Any]] = (),
) -> FastAPI:
    """The Forecasts app; ``dependencies`` guard every route (e.g. Airflow's login)."""
    app = FastAPI(
        title="stacklstm-fin forecasts",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(d) for d in dependencies],
    )

    @contextlib.contextmanager
    def warehouse() -> Iterator[Any]:
        from stacklstm_fin.exceptions import StackLSTMError, WarehouseLockedError
        from stacklstm_fin.warehouse import check_schema

        try:
            wh = opener()
        except WarehouseLockedError:
            raise HTTPException(
                503, "the warehouse is busy (a run is writing); retry shortly"
            ) from None
        except StackLSTMError as exc:
            log.warning("forecasts page: warehouse unavailable: %s", exc)
            raise HTTPException(503, "the warehouse is not available") from None
        try:
            check_schema(wh)
            yield wh
        except StackLSTMError as exc:
            log.warning("forecasts page: %s", exc)
            raise HTTPException(503, "the warehouse has no stacklstm schema yet") from None
        finally:
            wh.close()

    @app.get("/api/leaderboard")
    def api_leaderboard() -> dict[str, Any]:
        with warehouse() as wh:
            rows = wh.query(LEADERBOARD_SQL).to_dicts()
        return {"as_of": rows[0]["as_of"] if rows else None, "candidates": rows}

    @app.get("/api/forecasts")
    def api_forecasts(ticker: str | None = Query(None, max_length=64)) -> dict[str, Any]:
        symbol = _ticker_or_400(ticker) if ticker is not None else None
        with warehouse() as wh:
            rows = _forecasts(wh, symbol)
        if symbol is not None and not rows:
            raise HTTPException(404, f"no published forecasts for {symbol}")
        return {"forecasts": rows}

    @app.get("/api/decisions")
    def api_decisions() -> dict[str, Any]:
        with warehouse() as wh:
            rows = _decisions(wh)
        return {"as_of": rows[0]["as_of"] if rows else None, "decisions": rows}

    @app.get("/api/calibration")
    def api_calibration() -> dict[str, Any]:
        with warehouse() as wh:
            return _calibration(wh)

    @app.get("/chart.svg")
    def chart_svg(ticker: str = Query(..., max_length=64)) -> Response:
        symbol = _ticker_or_400(ticker)
        with warehouse() as wh:
            svg = _chart(wh, symbol)
        return Response(svg, media_type="image/svg+xml")

    @app.get("/", response_class=HTMLResponse)
    def page(ticker: str | None = Query(None, max_length=64)) -> HTMLResponse:
        symbol = _ticker_or_400(ticker) if ticker is not None else None
        with warehouse() as wh:
            board = wh.query(LEADERBOARD_SQL).to_dicts()
            forecasts = _forecasts(wh, None)
            tickers = sorted({r["ticker"] for r in forecasts})
            if symbol is None and tickers:
                symbol = tickers[0]
            if symbol is not None and symbol not in tickers:
                raise HTTPException(404, f"no published forecasts for {symbol}")
            svg = _chart(wh, symbol) if symbol else ""
            evidence = {"decisions": _decisions(wh), **_calibration(wh)}
        return HTMLResponse(_page(board, forecasts, tickers, symbol, svg, evidence))

    return app


def _ticker_or_400(ticker: str) -> str:
    from stacklstm_fin.exceptions import InvalidTickerError
    from stacklstm_fin.symbols import validate_ticker

    try:
        return validate_ticker(ticker)
    except InvalidTickerError as exc:
        raise HTTPException(400, str(exc)) from None


def _forecasts(wh: Any, ticker: str | None) -> list[dict[str, Any]]:
    if ticker is None:
        return list(wh.query(FORECASTS_SQL.format(where="")).to_dicts())
    sql = FORECASTS_SQL.format(where="WHERE ticker = :ticker")
    return list(wh.query(sql, {"ticker": ticker}).to_dicts())


def _decisions(wh: Any) -> list[dict[str, Any]]:
    return list(wh.query(DECISIONS_SQL).to_dicts())


def _calibration(wh: Any) -> dict[str, Any]:
    """Calibration over the last CALIBRATION_DAYS of as-ofs, and its warnings (JSON-safe)."""
    from stacklstm_fin.report.evidence import calibration

    end = wh.scalar("SELECT MAX(as_of_date) FROM stacklstm.forecasts")
    if end is None:
        return {"start": None, "end": None, "calibration": [], "warnings": []}
    cal = calibration(wh, end - dt.timedelta(days=CALIBRATION_DAYS), end)
    rows = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in cal.table.to_dicts()
    ]
    return {"start": cal.start, "end": cal.end, "calibration": rows, "warnings": cal.warnings}


def _chart(wh: Any, ticker: str) -> str:
    from stacklstm_fin.airflow.chart import FanPoint, fan_chart

    rows = _forecasts(wh, ticker)
    if not rows:
        raise HTTPException(404, f"no published forecasts for {ticker}")
    as_of: dt.date = rows[0]["as_of_date"]
    history = wh.query(HISTORY_SQL, {"ticker": ticker, "as_of": as_of, "n": HISTORY_SESSIONS})
    closes = sorted(zip(history["session_date"].to_list(), history["close"].to_list(), strict=True))
    fan = [
        FanPoint(r["target_date"], r["yhat_close"], r["lower_close"], r["upper_close"])
        for r in rows
    ]
    return fan_chart(ticker, closes, fan, interval_level=rows[0]["interval_level"])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return escape(str(value))


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], css: str) -> str:
    head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(key))}</td>" for key, _ in columns) + "</tr>"
        for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_STYLE = """
body{font-family:sans-serif;margin:1.2rem;color:#222}
table{border-collapse:collapse;margin:.4rem 0 1.2rem;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f4f6f8}td:nth-child(-n+4){text-align:left}
nav a{margin-right:.6rem}nav a.current{font-weight:bold;text-decoration:none}
.muted{color:#777;font-size:.8rem}
.warning{border:3px solid #b00020;background:#fde8ea;color:#5a0010;padding:.6rem 1rem;margin:1rem 0}
"""


def _page(
    board: list[dict[str, Any]],
    forecasts: list[dict[str, Any]],
    tickers: list[str],
    symbol: str | None,
    svg: str,
    evidence: dict[str, Any],
) -> str:
    as_of = board[0]["as_of"] if board else None
    links = " ".join(
        f'<a href="?ticker={quote(t, safe="")}"{" class=current" if t == symbol else ""}>'
        f"{escape(t)}</a>"
        for t in tickers
    )
    chart = (
        f"<h2>Recent closes and forecast: {escape(symbol)}</h2><nav>{links}</nav>{svg}"
        if symbol
        else ""
    )
    leaderboard = (
        _table(board, _LEADERBOARD_COLUMNS, "leaderboard")
        if board
        else "<p>No model trained yet.</p>"
    )
    latest = (
        _table(forecasts, _FORECAST_COLUMNS, "forecasts")
        if forecasts
        else "<p>No forecasts published yet.</p>"
    )
    api = f"?ticker={quote(symbol, safe='')}" if symbol else ""
    warning, decisions, calibration = _evidence_html(evidence)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>stacklstm-fin forecasts</title><style>{_STYLE}</style></head><body>"
        f"<h1>stacklstm-fin forecasts</h1>{warning}"
        f"<h2>Model leaderboard{f' as of {escape(str(as_of))}' if as_of else ''}</h2>"
        '<p class="muted">Test-span metrics, mean over horizons. Ranked by the score vs the '
        "random walk (geometric mean over tickers of the loss ratio to it; below 1 beats it), "
        "then RMSE; MASE below 1 also beats the random walk.</p>"
        f"{leaderboard}{decisions}<h2>Latest published forecasts</h2>{latest}{calibration}"
        f"{chart}"
        f'<p class="muted">JSON: <a href="api/leaderboard">api/leaderboard</a> · '
        f'<a href="api/forecasts{api}">api/forecasts{escape(api)}</a> · '
        '<a href="api/decisions">api/decisions</a> · '
        '<a href="api/calibration">api/calibration</a></p>'
        "</body></html>"
    )


def _evidence_html(evidence: dict[str, Any]) -> tuple[str, str, str]:
    """(warning box, "Published per ticker", "Calibration") for the page."""
    from stacklstm_fin.report.evidence import format_p
    from stacklstm_fin.report.tables import pct

    warnings = evidence["warnings"]
    window = f"as-ofs {evidence['start']} .. {evidence['end']}"
    warning = (
        '<div class="warning" id="calibration-warning" role="alert"><strong>Warning: '
        f"{len(warnings)} published interval series "
        f"{'is' if len(warnings) == 1 else 'are'} miscalibrated</strong> ({window}): their "
        "realized coverage is outside the 95% band around the nominal level, so they do not "
        "hold the probability they state.<ul>"
        + "".join(f"<li>{escape(w)}</li>" for w in warnings)
        + "</ul></div>"
        if warnings
        else ""
    )
    rows = [
        {**r, "p_value": format_p(r["p_value"]), "p_adjusted": format_p(r["p_adjusted"]),
         "published": f"{r['published_candidate']} ({r['published_family']})"
         if r["published_candidate"] else r["model_id"]}
        for r in evidence["decisions"]
    ]  # fmt: skip
    decisions = "<h2>Published per ticker</h2>" + (
        f'<p class="muted">Decided at the training as-of {escape(str(rows[0]["as_of"]))}: a '
        "network is published for a ticker only when a one-sided Diebold-Mariano test on the "
        "ticker's own test windows beats the random walk after the adjustment over the "
        "tickers; elsewhere the random walk is published.</p>"
        + _table(rows, _DECISION_COLUMNS, "decisions")
        if rows
        else "<p>No publication decision recorded yet.</p>"
    )
    shown = []
    for r in evidence["calibration"]:
        low, high, ok = r["band_low"], r["band_high"], r["calibrated"]
        verdict = "nothing realized yet" if ok is None else "inside" if ok else (
            "OUTSIDE: too narrow" if r["coverage"] < low else "OUTSIDE: too wide")  # fmt: skip
        shown.append({
            **r, "coverage": pct(1)(r["coverage"]) if r["coverage"] is not None else None,
            "band": f"{low:.0%}-{high:.0%}" if low is not None else None, "verdict": verdict,
        })  # fmt: skip
    calibration = (
        f"<h2>Calibration ({window})</h2>"
        '<p class="muted">Every published forecast by state; coverage of the realized ones '
        "against the 95% band of the nominal level.</p>"
        + _table(shown, _CALIBRATION_COLUMNS, "calibration")
        if shown
        else ""
    )
    return warning, decisions, calibration
