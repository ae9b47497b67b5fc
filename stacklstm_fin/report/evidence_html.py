"""The report's evidence sections: the calibration warning, per-ticker decisions, calibration.

- :func:`warning_html`: a red box near the top of the report, one line per
  ticker and horizon whose realized coverage left its 95% band (the words of
  :func:`~stacklstm_fin.pipeline.evaluate.miscalibrated`); nothing when all are in;
- :func:`decisions_html`: "Published per ticker", the model published for each
  ticker of the newest decisions and the Diebold-Mariano evidence for it;
- :func:`calibration_html`: "Calibration", per ticker and horizon, every
  published forecast counted by state, realized coverage against its band,
  mean interval score and (small universes) the references.
"""

from __future__ import annotations

from html import escape

import polars as pl

from stacklstm_fin.report.data import ReportData
from stacklstm_fin.report.evidence import Calibration, correction_name, format_p
from stacklstm_fin.report.tables import Formatter, num, pct, table_html

DECISION_COLUMNS = {
    "ticker": "ticker",
    "published": "published model",
    "champion": "champion (tested)",
    "test_span": "test span",
    "windows": "test windows",
    "ratio": "loss ratio vs random walk",
    "p_value": "DM p (one-sided)",
    "p_adjusted": "adjusted p",
    "reason": "reason",
}
DECISION_FORMATS: dict[str, Formatter] = {
    "ratio": num(3),
    "p_value": format_p,
    "p_adjusted": format_p,
}
CALIBRATION_COLUMNS = {
    "ticker": "ticker",
    "horizon": "h",
    "published": "published",
    "realized": "realized",
    "pending": "pending",
    "no_price": "no price",
    "level": "nominal",
    "coverage": "coverage",
    "band": "95% band",
    "verdict": "verdict",
    "interval_score": "interval score",
}
REFERENCE_HEADERS = {
    "garch_t_coverage": "GARCH-t coverage",
    "garch_t_interval_score": "GARCH-t score",
    "pooled_coverage": "pooled coverage",
    "pooled_interval_score": "pooled score",
}
CALIBRATION_FORMATS: dict[str, Formatter] = {
    "level": pct(0),
    "coverage": pct(1),
    "interval_score": num(4),
    "garch_t_coverage": pct(1),
    "garch_t_interval_score": num(4),
    "pooled_coverage": pct(1),
    "pooled_interval_score": num(4),
}


def warning_html(cal: Calibration) -> str:
    """The box a reader cannot miss, or "" when every coverage is inside its band."""
    warnings = cal.warnings
    if not warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return (
        '<div class="warning" id="calibration-warning" role="alert">'
        f"<strong>Warning: {len(warnings)} published interval series "
        f"{'is' if len(warnings) == 1 else 'are'} miscalibrated.</strong> "
        "Their realized coverage is outside the 95% band around the nominal level, so they "
        "do not hold the probability they state: do not read them as nominal intervals "
        f"(forecasts {cal.window_text}; see "
        '<a href="#calibration">Calibration</a>).'
        f"<ul>{items}</ul></div>"
    )


def decisions_html(data: ReportData) -> str:
    """The "Published per ticker" section."""
    frame = data.decisions
    head = '<h2 id="published">Published per ticker</h2>'
    if frame.height == 0:
        return head + (
            '<p class="note">No per-ticker publication decision was recorded on or before '
            f"{data.as_of} (models trained before decisions were recorded publish the "
            "champion for every ticker).</p>"
        )
    first = frame.row(0, named=True)
    shown = frame.with_columns(
        _model("published_candidate", "published_family", "model_id").alias("published"),
        _model("champion_candidate", "champion_family", "champion_model_id").alias("champion"),
        pl.format("{} .. {}", "test_start", "test_end").alias("test_span"),
    )
    return (
        head + "<p>For each ticker, the model whose forecasts are published, decided at the "
        f"training as-of {first['as_of']}. A network is published for a ticker only when a "
        "one-sided Diebold-Mariano test on that ticker's own test windows says it beats the "
        f"random walk at {first['significance']:g} after the "
        f"{escape(correction_name(first['correction']))} "
        "adjustment over the tickers; elsewhere the random walk is published. The loss ratio "
        "is the champion's test loss over the random walk's (below 1 is better).</p>"
        + table_html(
            shown,
            DECISION_COLUMNS,
            DECISION_FORMATS,
            table_id="decisions-table",
        )
    )


def calibration_html(cal: Calibration) -> str:
    """The "Calibration" section."""
    head = (
        '<h2 id="calibration">Calibration</h2>'
        f"<p>Every forecast {cal.window_text}, per ticker and horizon, "
        "counted by state: <b>realized</b> (the target session's close is stored), "
        "<b>pending</b> (the target session is still ahead) and <b>no price</b> (the session "
        "has passed but no close is stored, e.g. it was quarantined). Coverage is the share of "
        "realized closes inside the published interval; the 95% band is where it should fall "
        "if the intervals hold their nominal level (h-session forecasts overlap, so n/h "
        "independent outcomes). The interval score is the mean width plus the penalty for "
        "misses, on the log return: lower is better.</p>"
    )
    table = cal.table
    if table.height == 0:
        return head + '<p class="note">no forecasts published in the window</p>'
    columns = dict(CALIBRATION_COLUMNS)
    if cal.references:
        columns |= REFERENCE_HEADERS
        head += (
            "<p>References around the same point forecasts: a GARCH(1,1)-t fitted per ticker "
            "at each as-of, and the old pooled split-conformal half-widths stored with the "
            "model.</p>"
        )
    elif cal.note:
        head += f'<p class="note">{escape(cal.note)}</p>'
    bands = [
        f"{lo:.0%}-{hi:.0%}" if lo is not None and hi is not None else ""
        for lo, hi in zip(table["band_low"], table["band_high"], strict=True)
    ]
    shown = table.with_columns(
        pl.Series("band", bands, dtype=pl.String),
        pl.when(pl.col("calibrated").is_null())
        .then(pl.lit("nothing realized yet"))
        .when(pl.col("calibrated"))
        .then(pl.lit("inside"))
        .when(pl.col("coverage") < pl.col("band_low"))
        .then(pl.lit("OUTSIDE: too narrow"))
        .otherwise(pl.lit("OUTSIDE: too wide"))
        .alias("verdict"),
    )
    return head + table_html(
        shown,
        columns,
        CALIBRATION_FORMATS,
        table_id="calibration-table",
        row_class=lambda r: "miscalibrated" if r["calibrated"] is False else "",
    )


def _model(candidate: str, family: str, model_id: str) -> pl.Expr:
    named = pl.format("{} ({})", candidate, family)
    return pl.when(pl.col(candidate).is_not_null()).then(named).otherwise(pl.col(model_id))
