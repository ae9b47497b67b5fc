"""The static HTML report: one self-contained file, charts inline as SVG.

It has the notebook's content for people who do not run notebooks: a warning
box at the top when published intervals are miscalibrated, the leaderboard,
the model published per ticker and its evidence, the newest forecasts, a
forecast fan per ticker, realized accuracy over time, calibration per ticker
and horizon, and the champion history (the evidence sections are in
:mod:`.evidence_html`). Nothing is fetched when the file is opened (no
scripts, fonts or images from elsewhere), so it can be mailed, attached to a
ticket or served from an artifact store as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from pathlib import Path

from stacklstm_fin import __version__
from stacklstm_fin.atomic import write_bytes_atomic
from stacklstm_fin.config import Config
from stacklstm_fin.report.charts import accuracy_chart, forecast_fan_chart, leaderboard_chart
from stacklstm_fin.report.data import ReportData, collect
from stacklstm_fin.report.evidence_html import calibration_html, decisions_html, warning_html
from stacklstm_fin.report.tables import (
    Formatter,
    num,
    pct,
    pct_points,
    sig,
    table_html,
)
from stacklstm_fin.warehouse import Warehouse

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif;
       margin: 24px auto; max-width: 960px; color: #222; line-height: 1.45; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin-top: 22px; }
.meta { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 10px 0; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e5e5e5; text-align: right; }
th { background: #f4f4f4; }
td.text, th.text { text-align: left; }
tr.champion td { font-weight: bold; }
figure { margin: 12px 0; }
svg.chart { max-width: 100%; height: auto; }
.note { font-size: 13px; color: #444; background: #f8f8f8; padding: 8px 12px; }
.warning { border: 3px solid #b00020; background: #fde8ea; color: #5a0010;
           padding: 10px 16px; margin: 16px 0; font-size: 15px; }
.warning strong { font-size: 17px; }
tr.miscalibrated td { background: #fde8ea; color: #8a0018; font-weight: bold; }
"""


LEADERBOARD_COLUMNS = {
    "rank": "rank",
    "candidate": "candidate",
    "family": "family",
    "status": "status",
    "score_vs_random_walk": "score vs random walk",
    "test_rmse": "test RMSE",
    "rmse_vs_random_walk": "vs random walk",
    "test_mase": "MASE",
    "test_directional_accuracy": "direction",
    "dm_pvalue_vs_random_walk": "DM p-value",
}
LEADERBOARD_FORMATS: dict[str, Formatter] = {
    "score_vs_random_walk": num(3),
    "test_rmse": sig,
    "rmse_vs_random_walk": pct(2, sign=True),
    "test_mase": num(3),
    "test_directional_accuracy": pct(1),
    "dm_pvalue_vs_random_walk": num(3),
}
FORECAST_COLUMNS = {
    "ticker": "ticker",
    "horizon": "h",
    "target_date": "target session",
    "base_close": "as-of close",
    "yhat_close": "median",
    "expected_change": "change",
    "lower_close": "lower",
    "upper_close": "upper",
    "interval_width": "width",
    "actual_close": "realized",
}
FORECAST_FORMATS: dict[str, Formatter] = {
    "base_close": num(2),
    "yhat_close": num(2),
    "expected_change": pct(2, sign=True),
    "lower_close": num(2),
    "upper_close": num(2),
    "interval_width": pct(2),
    "actual_close": num(2),
}
SUMMARY_COLUMNS = {
    "family": "family",
    "horizon": "h",
    "forecasts": "forecasts",
    "rmse_pct": "RMSE (% of price)",
    "mae_pct": "MAE (% of price)",
    "directional_forecasts": "called a direction",
    "hit_rate": "hit rate",
    "coverage": "coverage",
    "nominal_level": "nominal",
}
SUMMARY_FORMATS: dict[str, Formatter] = {
    "rmse_pct": pct_points,
    "mae_pct": pct_points,
    "hit_rate": pct(1),
    "coverage": pct(1),
    "nominal_level": pct(0),
}
CHAMPION_COLUMNS = {
    "period": "period",
    "candidate": "candidate",
    "family": "family",
    "trained_as_of": "trained as of",
    "first_published": "first published",
    "last_published": "last published",
    "sessions": "sessions",
    "tickers": "tickers (most)",
    "model_id": "model id",
}


def _figure(svg: str) -> str:
    return f"<figure>{svg}</figure>"


def report_html(data: ReportData, *, warehouse: str = "", generated_at: dt.datetime) -> str:
    """The report's HTML text for ``data``."""
    champ = data.champion
    champ_text = (
        f"{champ['candidate']} ({champ['family']}, trained {champ['as_of']})" if champ else "none"
    )
    level = data.interval_level
    level_text = f"{level:.0%}" if level is not None else "mixed"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>stacklstm-fin report as of {data.as_of}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Forecast report as of {data.as_of}</h1>",
        '<p class="meta">'
        f"forecasts published {data.forecast_as_of} · champion in force: {escape(champ_text)} · "
        f"tickers: {escape(', '.join(data.tickers))} · interval level {level_text}<br>"
        f"accuracy from forecasts published {data.start} .. {data.as_of} · "
        f"generated {generated_at:%Y-%m-%d %H:%M} UTC by stacklstm-fin {__version__}"
        + (f" from {escape(warehouse)}" if warehouse else "")
        + "</p>",
        warning_html(data.calibration),
        '<h2 id="leaderboard">Leaderboard</h2>',
        "<p>Every candidate of the newest training as-of, ranked by its score vs the random "
        "walk: the geometric mean over tickers of its test loss divided by the random walk's "
        "on the same ticker (below 1 beats the random walk; the random walk scores 1), then "
        "by pooled test RMSE. In the chart the dashed red line is the random walk "
        "(tomorrow's close equals today's): a model left of it beats that honest baseline "
        "(candidates trained before the score existed are charted by pooled test RMSE).</p>",
        _figure(leaderboard_chart(data).svg),
        table_html(
            data.leaderboard,
            LEADERBOARD_COLUMNS,
            LEADERBOARD_FORMATS,
            table_id="leaderboard-table",
            row_class=lambda r: "champion" if r["champion"] else "",
            empty="no candidates trained on or before the as-of",
        ),
        decisions_html(data),
        '<h2 id="forecasts">Newest forecasts</h2>',
        table_html(data.forecasts, FORECAST_COLUMNS, FORECAST_FORMATS, table_id="forecasts-table"),
        '<h2 id="fans">Forecast fans</h2>',
        "<p>The blue line is the close. Grey: the one-session-ahead interval published each "
        "day before the as-of (the close should fall inside it at the nominal rate). Orange: "
        "the newest forecast, median and interval, by horizon. Red: the realized closes after "
        "the as-of, where the warehouse has them.</p>",
    ]
    for ticker in data.tickers:
        parts.append(f"<h3>{escape(ticker)}</h3>")
        parts.append(_figure(forecast_fan_chart(data, ticker).svg))
    parts += [
        '<h2 id="accuracy">Realized accuracy</h2>',
        "<p>Forecasts whose target session has a realized close, by the family of the model "
        "that published them and by horizon. RMSE is of the percentage error, so tickers of "
        "different price levels pool. The hit rate counts only forecasts that call a direction "
        "(a random walk calls none). Coverage below the nominal level means the intervals are "
        "too narrow; above it, too wide.</p>",
        _figure(accuracy_chart(data).svg),
        table_html(
            data.accuracy_summary,
            SUMMARY_COLUMNS,
            SUMMARY_FORMATS,
            table_id="accuracy-table",
            empty="no realized outcomes yet",
        ),
        calibration_html(data.calibration),
        '<h2 id="champions">Published models over time</h2>',
        "<p>The models that published forecasts, period by period: a period is a run of "
        "consecutive as-ofs in which the model published for at least one ticker, and "
        "tickers is the most it published for on one as-of. Several models publish on the "
        "same as-of when the champion has evidence for some tickers only (the random walk "
        "publishes for the others).</p>",
        table_html(data.champions, CHAMPION_COLUMNS, table_id="champions-table"),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def render_report(
    wh: Warehouse,
    as_of: dt.date | None,
    out_dir: Path | str,
    *,
    start: dt.date | None = None,
    tickers: Sequence[str] | None = None,
    window: int = 20,
    history_sessions: int = 60,
    filename: str | None = None,
    references: bool = True,
    cfg: Config | None = None,
) -> Path:
    """Write the HTML report as of ``as_of`` into ``out_dir``; returns the file's path.

    The file is ``stacklstm-report-<forecast as-of>.html`` unless ``filename``
    is given; it is written atomically. See :func:`collect` for the arguments.
    """
    data = collect(
        wh, as_of, start=start, tickers=tickers, window=window,
        history_sessions=history_sessions, references=references, cfg=cfg,
    )  # fmt: skip
    from stacklstm_fin.warehouse.connection import _redact

    text = report_html(data, warehouse=_redact(wh.url), generated_at=dt.datetime.now(dt.UTC))
    path = Path(out_dir) / (filename or f"stacklstm-report-{data.forecast_as_of}.html")
    return write_bytes_atomic(path, text.encode("utf-8"))
