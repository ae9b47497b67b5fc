"""The report's three pictures, drawn from :class:`~stacklstm_fin.report.data.ReportData`.

- :func:`leaderboard_chart`: the ranking score per candidate of the newest as-of
  (its test loss ratio to the random walk, geometric mean over tickers; pooled
  test RMSE for candidates trained before the score existed), with the random
  walk as the reference line every model must beat;
- :func:`forecast_fan_chart`: a ticker's closes, the one-session-ahead
  intervals published over that history, the newest fan (median and
  interval) and the realized closes after the as-of where they exist;
- :func:`accuracy_chart`: rolling RMSE, hit rate and interval coverage (against
  the nominal level) by model family and horizon.

Chart ids are stable (``leaderboard-chart``, ``forecast-fan-<ticker>``,
``accuracy-chart``): the tests and any page styling find them by id.
"""

from __future__ import annotations

import re

import polars as pl

from stacklstm_fin.report.data import ReportData
from stacklstm_fin.report.svg import DASHES, PALETTE, Chart, bar_chart, empty_chart
from stacklstm_fin.report.timechart import Panel, Series, time_chart

LEADERBOARD_ID = "leaderboard-chart"
ACCURACY_ID = "accuracy-chart"


def fan_chart_id(ticker: str) -> str:
    """``forecast-fan-`` and the ticker in lower case with other characters as ``-``."""
    return "forecast-fan-" + (re.sub(r"[^a-z0-9]+", "-", ticker.lower()).strip("-") or "x")


def _pct(v: float) -> str:
    return f"{v:+.2%}"


def leaderboard_chart(data: ReportData) -> Chart:
    """Bars of the ranking score; pooled test RMSE for candidates trained before it existed."""
    board = data.leaderboard
    scored = board.height > 0 and board["score_vs_random_walk"].null_count() == 0
    if scored:
        title = "Leaderboard: score vs the random walk (below 1 beats it)"
    else:
        title = "Leaderboard: pooled test RMSE of log returns (lower is better)"
    if board.height == 0:
        return empty_chart(LEADERBOARD_ID, title, "no candidates trained on or before the as-of")
    as_of = board["as_of"][0]
    if scored:
        values = board["score_vs_random_walk"].to_list()
        reference: float | None = 1.0
        relative = [v - 1.0 for v in values]
        pooling = "geometric mean over tickers of the test loss ratio to the random walk"
    else:
        values = board["test_rmse"].to_list()
        rw = board.filter(pl.col("family") == "random_walk")["test_rmse"].to_list()
        reference = rw[0] if rw else None
        relative = board["rmse_vs_random_walk"].to_list()
        pooling = "mean over horizons, all tickers pooled"
    labels = [f"{r['rank']}. {r['candidate']}" for r in board.iter_rows(named=True)]
    notes = []
    for r, rel in zip(board.iter_rows(named=True), relative, strict=True):
        note = "" if rel is None or r["family"] == "random_walk" else f"{_pct(rel)} vs random walk"
        if r["champion"]:
            note = (note + "  ★ champion").strip()
        notes.append(note)
    champ = data.champion
    subtitle = f"candidates trained as of {as_of}; {pooling}"
    if champ:
        subtitle += f"; champion in force: {champ['candidate']} (trained {champ['as_of']})"
    return bar_chart(
        LEADERBOARD_ID,
        title,
        labels,
        values,
        subtitle=subtitle,
        annotations=notes,
        highlight=board["champion"].to_list(),
        reference=reference,
        reference_label="random walk" if reference is not None else "",
        value_format=lambda v: f"{v:.4g}",
        axis_label="score vs random walk" if scored else "test RMSE (log return)",
    )


def forecast_fan_chart(data: ReportData, ticker: str) -> Chart:
    chart_id = fan_chart_id(ticker)
    fan = data.forecasts.filter(pl.col("ticker") == ticker).sort("horizon")
    title = f"{ticker}: forecast fan as of {data.forecast_as_of}"
    if fan.height == 0:
        return empty_chart(chart_id, title, f"no forecasts for {ticker} at the as-of")
    history = data.history.filter(pl.col("ticker") == ticker)
    past = data.past_forecasts.filter(pl.col("ticker") == ticker)
    realized = data.realized.filter(pl.col("ticker") == ticker)
    base = fan["base_close"][0]
    level = fan["interval_level"][0]
    fan_x = [data.forecast_as_of, *fan["target_date"].to_list()]
    series = [
        Series(
            "published 1-session-ahead interval",
            past["target_date"].to_list(),
            lower=past["lower_close"].to_list(),
            upper=past["upper_close"].to_list(),
            color=PALETTE[7],
            band_opacity=0.22,
        ),
        Series(
            f"{level:.0%} interval (newest forecast)",
            fan_x,
            lower=[base, *fan["lower_close"].to_list()],
            upper=[base, *fan["upper_close"].to_list()],
            color=PALETTE[1],
            band_opacity=0.25,
        ),
        Series(
            "close",
            history["session_date"].to_list(),
            history["close"].to_list(),
            color=PALETTE[0],
        ),
        Series(
            "median forecast",
            fan_x,
            [base, *fan["yhat_close"].to_list()],
            color=PALETTE[1],
            dash=DASHES[1],
            markers=True,
        ),
    ]
    if realized.height:
        series.append(
            Series(
                "realized after the as-of",
                [data.forecast_as_of, *realized["session_date"].to_list()],
                [base, *realized["close"].to_list()],
                color=PALETTE[3],
                markers=True,
            )
        )
    model = f"{fan['candidate'][0]} ({fan['family'][0]})" if fan["candidate"][0] else "unknown"
    subtitle = f"close prices; model {model}; horizons 1..{fan['horizon'].to_list()[-1]} sessions"
    if not realized.height:
        subtitle += "; no realized closes after the as-of yet"
    panel = Panel("close", series, y_format=lambda v: f"{v:,.6g}")
    return time_chart(
        chart_id, title, [panel], subtitle=subtitle, markers=[(data.forecast_as_of, "as-of")]
    )


def accuracy_chart(data: ReportData) -> Chart:
    rolling = data.rolling
    title = "Realized accuracy over time by model family and horizon"
    if rolling.height == 0:
        return empty_chart(
            ACCURACY_ID,
            title,
            "no realized outcomes yet: no forecast published in the range has reached "
            "its target session",
        )
    families = sorted(rolling["family"].unique().to_list())
    horizons = sorted(rolling["horizon"].unique().to_list())
    rmse, hit, cover = [], [], []
    for (family, horizon), group in rolling.sort("family", "horizon", "target_date").group_by(
        "family", "horizon", maintain_order=True
    ):
        color = PALETTE[horizons.index(horizon) % len(PALETTE)]
        dash = DASHES[families.index(family) % len(DASHES)]
        name = f"{family} h={horizon}"
        x = group["target_date"].to_list()
        rmse.append(Series(name, x, group["rmse_pct"].to_list(), color=color, dash=dash))
        hit.append(Series(name, x, group["hit_rate"].to_list(), color=color, dash=dash))
        cover.append(Series(name, x, group["coverage"].to_list(), color=color, dash=dash))
    levels = rolling["interval_level"].drop_nulls().unique().to_list()
    nominal = float(levels[0]) if len(levels) == 1 else None
    no_hits = rolling["hit_rate"].drop_nulls().len() == 0
    panels = [
        Panel(
            "rolling RMSE of the % error (lower is better)", rmse, y_format=lambda v: f"{v:.2f}%"
        ),
        Panel(
            "rolling hit rate: right direction among forecasts that call one",
            hit,
            y_format=lambda v: f"{v:.0%}",
            reference=0.5,
            reference_label="coin flip 50%",
            y_limits=(0.0, 1.0),
            note="no forecast called a direction (a random walk forecasts no change)"
            if no_hits
            else "",
        ),
        Panel(
            "rolling interval coverage: realized closes inside the interval",
            cover,
            y_format=lambda v: f"{v:.0%}",
            reference=nominal,
            reference_label=f"nominal {nominal:.0%}" if nominal is not None else "",
            y_limits=(0.0, 1.0),
        ),
    ]
    subtitle = (
        f"forecasts published {data.start} .. {data.as_of}; rolling over the last "
        f"{data.window} target sessions, all tickers pooled; x = target session"
    )
    return time_chart(ACCURACY_ID, title, panels, subtitle=subtitle, panel_height=170)


def all_charts(data: ReportData) -> list[Chart]:
    """Every chart of the report: leaderboard, one fan per ticker, accuracy."""
    fans = [forecast_fan_chart(data, t) for t in data.tickers]
    return [leaderboard_chart(data), *fans, accuracy_chart(data)]
