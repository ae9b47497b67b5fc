"""Realized calibration and accuracy of what was published over a range.

``stacklstm-fin evaluate --start D --end D``: for every published forecast with
an as-of in the range, from what the warehouse holds (``forecast_accuracy``,
``prices_daily``, ``model_registry``), per ticker and horizon:

- the count of forecasts by state (realized, pending, no price): nothing hidden;
- realized coverage of the published intervals with its 95% binomial band
  around the nominal level (``n / h`` effective forecasts: h-step forecasts of
  consecutive days overlap), and whether coverage falls outside it;
- the mean interval score (Winkler; Gneiting & Raftery 2007) on the log return;
- the same coverage and score for GARCH(1,1)-t fitted per ticker at each
  as-of and for the old pooled split-conformal half-widths stored with the
  model, both around the same published point forecast.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import polars as pl

from stacklstm_fin.config import Config
from stacklstm_fin.evaluation.reference import garch_t_halfwidths, interval_score
from stacklstm_fin.exceptions import DatasetError
from stacklstm_fin.warehouse import Warehouse, check_schema

_ACCURACY = """
SELECT ticker, as_of_date, horizon, model_id, state, yhat_log_return, base_close,
       lower_close, upper_close, interval_level, realized_log_return, in_interval,
       interval_score
FROM stacklstm.forecast_accuracy
WHERE as_of_date >= :start AND as_of_date <= :end
ORDER BY ticker, as_of_date, horizon
"""
_Z95 = 1.959963984540054


def binomial_band(level: float, n: float) -> tuple[float, float]:
    """95% band of realized coverage around ``level`` for ``n`` independent forecasts."""
    if n <= 0:
        return (math.nan, math.nan)
    half = _Z95 * math.sqrt(level * (1.0 - level) / n)
    return (max(level - half, 0.0), min(level + half, 1.0))


def evaluate_range(
    cfg: Config, wh: Warehouse, start: dt.date, end: dt.date, *, reference: bool = True
) -> pl.DataFrame:
    """One row per (ticker, horizon): states, coverage, band, scores; and the references.

    ``reference=False`` skips the GARCH(1,1)-t fits (one per ticker and as-of,
    the slow part): its columns are NaN; the pooled reference is still read.
    """
    check_schema(wh)
    acc = wh.query(_ACCURACY, {"start": start, "end": end})
    if acc.height == 0:
        raise DatasetError(f"no forecasts published with an as-of in {start} .. {end}")
    realized = acc.filter(pl.col("state") == "realized")
    garch = _reference_halfwidths(cfg, wh, realized) if reference else {}
    pooled = _pooled_halfwidths(wh, realized)
    out = []
    for (ticker, h), group in acc.group_by(["ticker", "horizon"], maintain_order=True):
        states = group.get_column("state").value_counts()
        count = dict(zip(states["state"].to_list(), states["count"].to_list(), strict=True))
        done = group.filter(pl.col("state") == "realized")
        row: dict[str, Any] = {
            "ticker": ticker, "horizon": h, "published": group.height,
            "realized": count.get("realized", 0), "pending": count.get("pending", 0),
            "no_price": count.get("no_price", 0),
        }  # fmt: skip
        level = float(group.get_column("interval_level").max())  # type: ignore[arg-type]
        lo, hi = binomial_band(level, done.height / int(h))
        y = done.get_column("realized_log_return").to_numpy()
        yhat = done.get_column("yhat_log_return").to_numpy()
        coverage = float(done.get_column("in_interval").mean()) if done.height else math.nan  # type: ignore[arg-type]
        row.update(
            level=level, coverage=coverage, band_low=lo, band_high=hi,
            calibrated=bool(lo <= coverage <= hi) if done.height else None,
            interval_score=float(np.mean(done.get_column("interval_score").to_numpy()))
            if done.height else math.nan,
        )  # fmt: skip
        ref_hw = [garch.get((ticker, d, int(h)), math.nan) for d in done["as_of_date"]]
        pooled_hw = [pooled.get((m, int(h)), math.nan) for m in done["model_id"]]
        for name, hw in (("garch_t", np.array(ref_hw)), ("pooled", np.array(pooled_hw))):
            ok = np.isfinite(hw)
            if ok.any():
                inside = np.abs(y[ok] - yhat[ok]) <= hw[ok]
                scores = interval_score(yhat[ok] - hw[ok], yhat[ok] + hw[ok], y[ok], level)
                row[f"{name}_coverage"] = float(inside.mean())
                row[f"{name}_interval_score"] = float(scores.mean())
            else:
                row[f"{name}_coverage"] = row[f"{name}_interval_score"] = math.nan
        ref = row["garch_t_interval_score"]
        row["score_vs_garch_t"] = row["interval_score"] / ref if ref and ref > 0 else math.nan
        out.append(row)
    return pl.DataFrame(out).sort("ticker", "horizon")


_CALIBRATION = """
SELECT ticker, horizon, CAST(COUNT(*) AS BIGINT) AS published,
       CAST(SUM(CASE WHEN state = 'realized' THEN 1 ELSE 0 END) AS BIGINT) AS realized,
       CAST(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS BIGINT) AS pending,
       CAST(SUM(CASE WHEN state = 'no_price' THEN 1 ELSE 0 END) AS BIGINT) AS no_price,
       MAX(interval_level) AS level,
       AVG(CASE WHEN state = 'realized' THEN CAST(in_interval AS DOUBLE PRECISION) END)
           AS coverage,
       AVG(CASE WHEN state = 'realized' THEN interval_score END) AS interval_score
FROM stacklstm.forecast_accuracy
WHERE as_of_date >= :start AND as_of_date <= :end
GROUP BY ticker, horizon
ORDER BY ticker, horizon
"""


def calibration_table(wh: Warehouse, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The cheap part of :func:`evaluate_range`, aggregated in SQL: no fits, no references.

    One row per (ticker, horizon) with an as-of in ``[start, end]``: ``published``,
    ``realized``, ``pending``, ``no_price``, ``level``, ``coverage`` (realized
    only; null when nothing is realized), ``band_low``/``band_high`` (as in
    :func:`evaluate_range`), ``calibrated`` (null when nothing is realized) and
    ``interval_score``. Empty (same columns) when nothing was published.
    Safe on a page request: one grouped query over ``forecast_accuracy``.
    """
    frame = wh.query(_CALIBRATION, {"start": start, "end": end})
    bands = [
        binomial_band(float(level), realized / int(h))
        for h, realized, level in zip(frame["horizon"], frame["realized"], frame["level"],
                                      strict=True)
    ]  # fmt: skip
    low = [None if math.isnan(lo) else lo for lo, _ in bands]
    high = [None if math.isnan(hi) else hi for _, hi in bands]
    out = frame.with_columns(
        pl.col("published", "realized", "pending", "no_price").cast(pl.Int64),
        pl.col("level", "coverage", "interval_score").cast(pl.Float64),
        pl.Series("band_low", low, dtype=pl.Float64),
        pl.Series("band_high", high, dtype=pl.Float64),
    )
    calibrated = (
        pl.when(pl.col("realized") > 0)
        .then(
            (pl.col("coverage") >= pl.col("band_low")) & (pl.col("coverage") <= pl.col("band_high"))
        )
        .otherwise(None)
    )
    return out.with_columns(calibrated.alias("calibrated")).select(
        "ticker", "horizon", "published", "realized", "pending", "no_price", "level",
        "coverage", "band_low", "band_high", "calibrated", "interval_score",
    )  # fmt: skip


def _reference_halfwidths(
    cfg: Config, wh: Warehouse, realized: pl.DataFrame
) -> dict[tuple[str, dt.date, int], float]:
    """GARCH(1,1)-t half-width per (ticker, as-of, horizon), fitted on returns <= as-of."""
    out: dict[tuple[str, dt.date, int], float] = {}
    if realized.height == 0:
        return out
    horizons = int(realized.get_column("horizon").max())  # type: ignore[arg-type]
    level = float(realized.get_column("interval_level").max())  # type: ignore[arg-type]
    for ticker in realized.get_column("ticker").unique().sort().to_list():
        prices = wh.query(
            "SELECT session_date, adj_close FROM stacklstm.prices_daily WHERE ticker = :t "
            "ORDER BY session_date",
            {"t": ticker},
        )
        days = prices.get_column("session_date").to_numpy().astype("datetime64[D]")
        logp = np.log(prices.get_column("adj_close").to_numpy().astype(np.float64))
        mine = realized.filter(pl.col("ticker") == ticker)
        for as_of in mine.get_column("as_of_date").unique().sort().to_list():
            n = int(np.searchsorted(days, np.datetime64(as_of, "D"), side="right"))
            hw = garch_t_halfwidths(np.diff(logp[:n]), horizons, level)
            for h in range(1, horizons + 1):
                out[(ticker, as_of, h)] = float(hw[h - 1])
    return out


def _pooled_halfwidths(wh: Warehouse, realized: pl.DataFrame) -> dict[tuple[str, int], float]:
    """The pooled split-conformal half-widths each model stored at training (the old method)."""
    ids = realized.get_column("model_id").unique().to_list()
    out: dict[tuple[str, int], float] = {}
    if not ids:
        return out
    rows = wh.query(
        "SELECT model_id, metrics FROM stacklstm.model_registry WHERE model_id IN ("
        + ", ".join(f":m{i}" for i in range(len(ids))) + ")",
        {f"m{i}": mid for i, mid in enumerate(ids)},
    )  # fmt: skip
    for mid, metrics in rows.iter_rows():
        widths = (json.loads(metrics) if isinstance(metrics, str) else metrics or {}).get(
            "conformal_halfwidths"
        ) or []
        for h, w in enumerate(widths, start=1):
            out[(mid, h)] = float(w) if w is not None else math.nan
    return out


def miscalibrated(table: pl.DataFrame) -> list[str]:
    """Plain-words warnings for every (ticker, horizon) whose coverage left its band."""
    out = []
    for row in table.filter(pl.col("calibrated").not_()).iter_rows(named=True):
        side = "too narrow" if row["coverage"] < row["band_low"] else "too wide"
        out.append(
            f"{row['ticker']} h={row['horizon']}: the {row['level']:.0%} intervals contained "
            f"{row['coverage']:.0%} of {row['realized']} outcomes, outside the 95% band "
            f"{row['band_low']:.0%}-{row['band_high']:.0%}: they are {side}"
        )
    return out


def render_evaluation(table: pl.DataFrame) -> str:
    """The terminal table of :func:`evaluate_range` and its warnings."""
    pct = "{:.1%}".format
    shown = pl.DataFrame({
        "ticker": table["ticker"], "h": table["horizon"], "pub": table["published"],
        "real": table["realized"], "pend": table["pending"], "nopx": table["no_price"],
        "cov": [pct(v) for v in table["coverage"]],
        "band": [f"{lo:.0%}-{hi:.0%}" for lo, hi in zip(table["band_low"], table["band_high"],
                                                         strict=True)],
        "score": table["interval_score"].round(5),
        "garch_cov": [pct(v) for v in table["garch_t_coverage"]],
        "garch_score": table["garch_t_interval_score"].round(5),
        "pooled_cov": [pct(v) for v in table["pooled_coverage"]],
        "vs_garch": table["score_vs_garch_t"].round(3),
    })  # fmt: skip
    with pl.Config(tbl_rows=500, tbl_cols=20, tbl_width_chars=120, tbl_formatting="MARKDOWN",
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):  # fmt: skip
        lines = [
            "Published intervals per ticker and horizon h: forecasts published, realized, "
            "pending, no price;",
            "coverage and its 95% band; score = mean interval score on the log return (lower "
            "is better);",
            "GARCH(1,1)-t and the old pooled method around the same point forecasts.",
            str(shown),
        ]
    warnings = miscalibrated(table)
    lines += ["", *(f"WARNING: {w}" for w in warnings)] if warnings else [
        "", "Every coverage is inside its 95% band."]  # fmt: skip
    return "\n".join(lines)
