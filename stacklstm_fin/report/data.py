"""What the report and the notebook show, read from the warehouse as of a date.

One call, :func:`collect`, gathers every frame the charts and tables need, so
the notebook and the HTML report show the same numbers. Point in time: the
leaderboard, the champion and the forecast fan are those of the newest as-of
on or before the requested date; realized prices and outcomes are whatever
the warehouse holds now (a report of a past date shows how it turned out).

Accuracy is measured on the percentage error ``(actual - forecast) / actual``
so tickers of different price levels pool honestly. The hit rate counts only
forecasts that call a direction: a random walk forecasts no change and so has
no hit rate (the view's ``direction_hit`` is NULL for it). ``forecast_accuracy``
holds every published forecast with its state; accuracy reads only the
``realized`` ones, and :mod:`~stacklstm_fin.report.evidence` counts the states.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

from stacklstm_fin.config import Config
from stacklstm_fin.exceptions import StackLSTMError
from stacklstm_fin.report.evidence import (
    Calibration,
    calibration,
    champion_periods,
    decisions_at,
)
from stacklstm_fin.warehouse import Warehouse


class ReportError(StackLSTMError):
    """The warehouse holds nothing to report for the requested date."""


# The model_leaderboard view (migration 0004) as of a date, from the same view.
LEADERBOARD_SQL = """
SELECT as_of,
       RANK() OVER (ORDER BY score_vs_random_walk ASC NULLS LAST,
                             test_rmse ASC NULLS LAST) AS rank,
       model_id, candidate, family, status, test_rmse, test_mae, test_mase,
       test_directional_accuracy, dm_pvalue_vs_random_walk, parity_max_abs_diff,
       status_reason, score_vs_random_walk
FROM stacklstm.model_test_metrics
WHERE as_of = (SELECT MAX(as_of) FROM stacklstm.model_registry WHERE as_of <= :as_of)
ORDER BY rank, candidate
"""

CHAMPION_SQL = """
SELECT model_id, candidate, family, as_of
FROM stacklstm.model_registry
WHERE promoted_at IS NOT NULL AND as_of <= :as_of
ORDER BY as_of DESC, promoted_at DESC
LIMIT 1
"""

FORECASTS_SQL = """
SELECT f.ticker, f.as_of_date, f.horizon, f.target_date, r.candidate, r.family,
       f.base_close, f.yhat_close, f.lower_close, f.upper_close, f.interval_level,
       p.close AS actual_close, f.model_id
FROM stacklstm.forecasts AS f
LEFT JOIN stacklstm.model_registry AS r ON r.model_id = f.model_id
LEFT JOIN stacklstm.prices_daily AS p
  ON p.ticker = f.ticker AND p.session_date = f.target_date
WHERE f.as_of_date = :as_of
ORDER BY f.ticker, f.horizon
"""

HISTORY_SQL = """
SELECT ticker, session_date, close
FROM (
    SELECT ticker, session_date, close,
           ROW_NUMBER() OVER (PARTITION BY ticker ORDER BY session_date DESC) AS age
    FROM stacklstm.prices_daily
    WHERE session_date <= :as_of AND session_date >= :since
) AS recent
WHERE age <= :sessions
ORDER BY ticker, session_date
"""

REALIZED_SQL = """
SELECT ticker, session_date, close
FROM stacklstm.prices_daily
WHERE session_date > :as_of AND session_date <= :until
ORDER BY ticker, session_date
"""

PAST_FORECASTS_SQL = """
SELECT ticker, as_of_date, horizon, target_date, yhat_close, lower_close, upper_close
FROM stacklstm.forecasts
WHERE horizon = 1 AND as_of_date >= :start AND as_of_date < :as_of
ORDER BY ticker, target_date
"""

ACCURACY_SQL = """
SELECT ticker, as_of_date, horizon, target_date, family, base_close, yhat_close,
       lower_close, upper_close, interval_level, actual_close, error,
       abs_pct_error, direction_hit, in_interval
FROM stacklstm.forecast_accuracy
WHERE as_of_date >= :start AND as_of_date <= :as_of AND state = 'realized'
ORDER BY target_date, family, horizon, ticker
"""


@dataclasses.dataclass(frozen=True)
class ReportData:
    """Everything one report shows; frames are polars, dates are sessions."""

    as_of: dt.date
    forecast_as_of: dt.date
    start: dt.date
    tickers: tuple[str, ...]
    window: int
    leaderboard: pl.DataFrame
    champion: dict[str, Any] | None
    forecasts: pl.DataFrame
    history: pl.DataFrame
    realized: pl.DataFrame
    past_forecasts: pl.DataFrame
    accuracy: pl.DataFrame
    rolling: pl.DataFrame
    accuracy_summary: pl.DataFrame
    champions: pl.DataFrame
    decisions: pl.DataFrame  # per ticker, the newest decisions on or before as_of
    calibration: Calibration  # states, coverage and band per ticker and horizon

    @property
    def interval_level(self) -> float | None:
        levels = self.forecasts["interval_level"].unique().to_list()
        return float(levels[0]) if len(levels) == 1 else None


def newest_forecast_as_of(wh: Warehouse, as_of: dt.date | None = None) -> dt.date | None:
    """The newest ``as_of_date`` with published forecasts on or before ``as_of``."""
    if as_of is None:
        return wh.scalar("SELECT MAX(as_of_date) FROM stacklstm.forecasts")
    return wh.scalar(
        "SELECT MAX(as_of_date) FROM stacklstm.forecasts WHERE as_of_date <= :as_of",
        {"as_of": as_of},
    )


def leaderboard(wh: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """The candidates of the newest training as-of on or before ``as_of``, ranked.

    The columns of the ``model_leaderboard`` view, plus ``rmse_vs_random_walk``
    (the relative RMSE difference to the random walk of the same as-of: below
    zero beats it) and ``champion`` (the model in force at ``as_of``).
    """
    board = wh.query(LEADERBOARD_SQL, {"as_of": as_of})
    champ = champion(wh, as_of)
    rw = board.filter((pl.col("family") == "random_walk") & pl.col("test_rmse").is_not_null())
    if rw.height and rw["test_rmse"][0]:
        rw_id, rw_rmse = rw["model_id"][0], rw["test_rmse"][0]
        relative = (
            pl.when(pl.col("model_id") == rw_id)
            .then(0.0)
            .otherwise(pl.col("test_rmse") / rw_rmse - 1.0)
        )
    else:
        relative = pl.lit(None, dtype=pl.Float64)
    return board.with_columns(
        relative.alias("rmse_vs_random_walk"),
        (pl.col("model_id") == (champ["model_id"] if champ else "")).alias("champion"),
    )


def champion(wh: Warehouse, as_of: dt.date) -> dict[str, Any] | None:
    """The champion in force at ``as_of`` (the newest promotion on or before it)."""
    frame = wh.query(CHAMPION_SQL, {"as_of": as_of})
    return frame.row(0, named=True) if frame.height else None


def forecasts_at(wh: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """The forecasts published at ``as_of`` with their realized close where known."""
    frame = wh.query(FORECASTS_SQL, {"as_of": as_of})
    return frame.with_columns(
        (pl.col("yhat_close") / pl.col("base_close") - 1.0).alias("expected_change"),
        ((pl.col("upper_close") - pl.col("lower_close")) / pl.col("base_close")).alias(
            "interval_width"
        ),
    )


def accuracy_rows(wh: Warehouse, start: dt.date, as_of: dt.date) -> pl.DataFrame:
    """Realized outcomes of the forecasts published in ``[start, as_of]``."""
    frame = wh.query(ACCURACY_SQL, {"start": start, "as_of": as_of})
    return frame.with_columns(
        (pl.col("error") / pl.col("actual_close")).alias("pct_error"),
        (pl.col("yhat_close") != pl.col("base_close")).alias("calls_direction"),
        pl.col("family").fill_null("unknown"),
    )


def rolling_accuracy(rows: pl.DataFrame, window: int = 20) -> pl.DataFrame:
    """Rolling accuracy per (family, horizon) over the last ``window`` target sessions.

    One row per family, horizon and target date: ``rmse_pct`` (RMSE of the
    percentage error, in percent), ``hit_rate`` (share of direction-calling
    forecasts whose direction was right; null when none called one),
    ``coverage`` (share of realized closes inside the interval) and the
    ``interval_level`` they should reach.
    """
    if window < 1:
        raise ValueError(f"window: expected an integer >= 1, got {window}")
    daily = (
        rows.group_by("family", "horizon", "target_date")
        .agg(
            pl.len().alias("n"),
            (pl.col("pct_error") ** 2).sum().alias("sq"),
            pl.col("calls_direction").cast(pl.Int64).sum().alias("n_dir"),
            pl.col("direction_hit").filter(pl.col("calls_direction")).cast(pl.Int64).sum()
            .alias("hits"),
            pl.col("in_interval").cast(pl.Int64).sum().alias("covered"),
            pl.col("interval_level").max().alias("interval_level"),
        )
        .sort("family", "horizon", "target_date")
    )  # fmt: skip
    over = ("family", "horizon")

    def roll(name: str) -> pl.Expr:
        return pl.col(name).rolling_sum(window, min_samples=1).over(over)

    return daily.select(
        "family",
        "horizon",
        "target_date",
        roll("n").alias("forecasts"),
        ((roll("sq") / roll("n")).sqrt() * 100.0).alias("rmse_pct"),
        pl.when(roll("n_dir") > 0).then(roll("hits") / roll("n_dir")).alias("hit_rate"),
        (roll("covered") / roll("n")).alias("coverage"),
        "interval_level",
    )


def accuracy_summary(rows: pl.DataFrame) -> pl.DataFrame:
    """Realized accuracy per family and horizon over all rows."""
    return (
        rows.group_by("family", "horizon")
        .agg(
            pl.len().alias("forecasts"),
            ((pl.col("pct_error") ** 2).mean().sqrt() * 100.0).alias("rmse_pct"),
            (pl.col("pct_error").abs().mean() * 100.0).alias("mae_pct"),
            pl.col("calls_direction").cast(pl.Int64).sum().alias("directional_forecasts"),
            pl.col("direction_hit").filter(pl.col("calls_direction")).mean().alias("hit_rate"),
            pl.col("in_interval").mean().alias("coverage"),
            pl.col("interval_level").max().alias("nominal_level"),
        )
        .sort("family", "horizon")
    )


def collect(
    wh: Warehouse,
    as_of: dt.date | None = None,
    *,
    start: dt.date | None = None,
    tickers: Sequence[str] | None = None,
    window: int = 20,
    history_sessions: int = 60,
    references: bool = True,
    cfg: Config | None = None,
) -> ReportData:
    """Read everything the report shows as of ``as_of`` (default: the newest forecasts).

    ``start`` bounds the accuracy history, the calibration and the past
    forecasts drawn under the fan (default: everything); ``tickers`` limits
    the fans (default: every ticker published at the as-of). ``references``
    adds the GARCH(1,1)-t and pooled references to the calibration (skipped,
    with a note, above 20 tickers); ``cfg`` is passed to
    :func:`~stacklstm_fin.pipeline.evaluate.evaluate_range` (default: built-in).
    """
    if history_sessions < 1:
        raise ReportError(f"history_sessions: expected an integer >= 1, got {history_sessions}")
    if window < 1:
        raise ReportError(f"window: expected an integer >= 1, got {window}")
    forecast_as_of = newest_forecast_as_of(wh, as_of)
    if forecast_as_of is None:
        when = f"on or before {as_of.isoformat()}" if as_of else "at all"
        raise ReportError(
            f"as-of {as_of or 'latest'}: the warehouse has no published forecasts {when}; "
            "run `stacklstm-fin run` or `stacklstm-fin backfill` first"
        )
    as_of = as_of or forecast_as_of
    if start is not None and start > as_of:
        raise ReportError(
            f"start: expected a date on or before the as-of {as_of.isoformat()}, "
            f"got {start.isoformat()}"
        )
    forecasts = forecasts_at(wh, forecast_as_of)
    published = forecasts["ticker"].unique(maintain_order=True).to_list()
    if tickers:
        missing = sorted(set(tickers) - set(published))
        if missing:
            raise ReportError(
                f"tickers: no forecasts published at {forecast_as_of.isoformat()} for "
                f"{', '.join(missing)}; published: {', '.join(published)}"
            )
        chosen = tuple(tickers)
    else:
        chosen = tuple(published)
    forecasts = forecasts.filter(pl.col("ticker").is_in(chosen))
    until = _first_date(forecasts["target_date"].max(), forecast_as_of)
    keep = pl.col("ticker").is_in(chosen)
    # N sessions span fewer than 2N + 14 calendar days (weekends, holidays): a
    # bound that keeps the scan small without cutting the history short.
    since = forecast_as_of - dt.timedelta(days=2 * history_sessions + 14)
    history = wh.query(
        HISTORY_SQL, {"as_of": forecast_as_of, "since": since, "sessions": history_sessions}
    )
    history = history.filter(keep)
    first_shown = _first_date(history["session_date"].min(), forecast_as_of)
    rows = accuracy_rows(wh, start or dt.date.min, as_of)
    return ReportData(
        as_of=as_of,
        forecast_as_of=forecast_as_of,
        start=start or _first_date(rows["as_of_date"].min(), forecast_as_of),
        tickers=chosen,
        window=window,
        leaderboard=leaderboard(wh, as_of),
        champion=champion(wh, as_of),
        forecasts=forecasts,
        history=history,
        realized=wh.query(REALIZED_SQL, {"as_of": forecast_as_of, "until": until}).filter(keep),
        past_forecasts=wh.query(
            PAST_FORECASTS_SQL,
            {"start": max(start or first_shown, first_shown), "as_of": forecast_as_of},
        ).filter(keep),
        accuracy=rows,
        rolling=rolling_accuracy(rows, window),
        accuracy_summary=accuracy_summary(rows),
        champions=champion_periods(wh, as_of),
        decisions=decisions_at(wh, as_of),
        calibration=calibration(wh, start or dt.date.min, as_of, references=references, cfg=cfg),
    )


def _first_date(value: object, default: dt.date) -> dt.date:
    """``value`` when it is a date (a frame's min or max), else ``default``."""
    return value if isinstance(value, dt.date) else default
