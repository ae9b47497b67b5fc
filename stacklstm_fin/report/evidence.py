"""What was published per ticker, on what evidence, and how its intervals turned out.

Shared by the HTML report and the Forecasts page, so both say the same thing
in the same words:

- :func:`decisions_at`: the per-ticker publication decisions (ADR 0008) of the
  newest training as-of on or before a date, with the published and the
  champion model's names;
- :func:`calibration`: per ticker and horizon, the forecasts by state
  (realized, pending, no price), realized coverage against its 95% band and
  the mean interval score, from ``forecast_accuracy`` in one grouped query;
  with ``references=True`` (and a universe of at most
  :data:`REFERENCE_MAX_TICKERS`) also the GARCH(1,1)-t and old pooled
  references of :func:`~stacklstm_fin.pipeline.evaluate.evaluate_range`;
- :func:`calibration_warnings`: the plain-words warnings of
  :func:`~stacklstm_fin.pipeline.evaluate.miscalibrated`;
- :func:`format_p`: one way to print a p-value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import polars as pl

from stacklstm_fin.config import Config
from stacklstm_fin.pipeline.evaluate import calibration_table, evaluate_range, miscalibrated
from stacklstm_fin.warehouse import Warehouse

# The GARCH(1,1)-t reference fits one model per ticker and as-of (about 25 ms
# each): above this many tickers, or this many fits, the report leaves it out
# (and says so) rather than take minutes.
REFERENCE_MAX_TICKERS = 20
REFERENCE_MAX_FITS = 2500
FITS_SQL = """
SELECT COUNT(*) FROM (
    SELECT DISTINCT ticker, as_of_date FROM stacklstm.forecast_accuracy
    WHERE state = 'realized' AND as_of_date >= :start AND as_of_date <= :end
) AS fits
"""
REFERENCE_COLUMNS = (
    "garch_t_coverage",
    "garch_t_interval_score",
    "pooled_coverage",
    "pooled_interval_score",
    "score_vs_garch_t",
)

DECISIONS_SQL = """
SELECT d.as_of, d.ticker, d.model_id, p.candidate AS published_candidate,
       p.family AS published_family, d.champion_model_id, c.candidate AS champion_candidate,
       d.champion_family, c.test_start, c.test_end, d.horizon, d.windows, d.champion_loss,
       d.random_walk_loss, d.ratio, d.dm_stat, d.p_value, d.p_adjusted, d.significance,
       d.correction, d.reason
FROM stacklstm.publication_decisions AS d
LEFT JOIN stacklstm.model_registry AS p ON p.model_id = d.model_id
LEFT JOIN stacklstm.model_registry AS c ON c.model_id = d.champion_model_id
WHERE d.as_of = (SELECT MAX(as_of) FROM stacklstm.publication_decisions WHERE as_of <= :as_of)
ORDER BY d.ticker
"""


def decisions_at(wh: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """One row per ticker: the decisions of the newest training as-of <= ``as_of``.

    Empty when no decision was written on or before ``as_of`` (models trained
    before migration 0004).
    """
    return wh.query(DECISIONS_SQL, {"as_of": as_of})


# Periods of consecutive as-ofs in which a model published for at least one
# ticker (gaps and islands: an as-of's number minus the model's own row number
# is constant over a run). Since ADR 0008 several models publish on one as-of
# (the champion for some tickers, the random walk for the others), so a period
# is per model, with the most tickers it published for.
CHAMPION_PERIODS_SQL = """
WITH daily AS (
    SELECT as_of_date, model_id, COUNT(DISTINCT ticker) AS tickers
    FROM stacklstm.forecasts
    WHERE as_of_date <= :as_of
    GROUP BY as_of_date, model_id
),
dates AS (
    SELECT as_of_date, DENSE_RANK() OVER (ORDER BY as_of_date) AS day_no
    FROM (SELECT DISTINCT as_of_date FROM daily) AS d
),
islands AS (
    SELECT d.as_of_date, d.model_id, d.tickers,
           x.day_no - ROW_NUMBER() OVER (PARTITION BY d.model_id ORDER BY d.as_of_date)
               AS island
    FROM daily AS d
    JOIN dates AS x ON x.as_of_date = d.as_of_date
),
periods AS (
    SELECT model_id, island, MIN(as_of_date) AS first_published,
           MAX(as_of_date) AS last_published, COUNT(*) AS sessions, MAX(tickers) AS tickers
    FROM islands
    GROUP BY model_id, island
)
SELECT CAST(ROW_NUMBER() OVER (ORDER BY p.first_published, r.candidate, p.model_id) AS BIGINT)
           AS period,
       p.model_id, r.candidate, r.family, r.as_of AS trained_as_of, p.first_published,
       p.last_published, CAST(p.sessions AS BIGINT) AS sessions,
       CAST(p.tickers AS BIGINT) AS tickers
FROM periods AS p
LEFT JOIN stacklstm.model_registry AS r ON r.model_id = p.model_id
ORDER BY period
"""


def champion_periods(wh: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """Which models published forecasts, period by period, up to ``as_of``.

    One row per model and run of consecutive as-ofs in which it published for
    at least one ticker, with ``tickers``: the most tickers it published for.
    """
    return wh.query(CHAMPION_PERIODS_SQL, {"as_of": as_of})


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Per (ticker, horizon) calibration over the as-ofs ``start`` .. ``end``."""

    start: dt.date
    end: dt.date
    table: pl.DataFrame  # calibration_table's columns (+ REFERENCE_COLUMNS when computed)
    references: bool  # whether the GARCH-t and pooled references are in the table
    note: str  # why the references are missing, or ""

    @property
    def window_text(self) -> str:
        """``with an as-of from D to D`` (``up to D`` when the window has no start)."""
        if self.start == dt.date.min:
            return f"with an as-of up to {self.end}"
        return f"with an as-of from {self.start} to {self.end}"

    @property
    def warnings(self) -> list[str]:
        return calibration_warnings(self.table)


def calibration(
    wh: Warehouse,
    start: dt.date,
    end: dt.date,
    *,
    references: bool = False,
    cfg: Config | None = None,
) -> Calibration:
    """States, coverage and band per ticker and horizon; the references when asked and cheap."""
    table = calibration_table(wh, start, end)
    tickers = table["ticker"].n_unique()
    note = ""
    with_refs = references and table.height > 0
    why = ""  # why the references are left out
    if with_refs and tickers > REFERENCE_MAX_TICKERS:
        why = f"{tickers} tickers is more than {REFERENCE_MAX_TICKERS}"
    elif with_refs:
        fits = int(wh.scalar(FITS_SQL, {"start": start, "end": end}) or 0)
        why = f"{fits} fits is more than {REFERENCE_MAX_FITS}" if fits > REFERENCE_MAX_FITS else ""
    if why:
        with_refs = False
        note = (
            f"The GARCH(1,1)-t and pooled references are left out: {why}, and the reference "
            "fits one model per ticker and as-of. Run `stacklstm-fin evaluate --start D --end D` "
            "for them over the window you need."
        )
    if with_refs:
        refs = evaluate_range(cfg or Config(), wh, start, end).select(
            "ticker", "horizon", *REFERENCE_COLUMNS
        )
        table = table.join(refs, on=["ticker", "horizon"], how="left").with_columns(
            [pl.col(c).fill_nan(None) for c in REFERENCE_COLUMNS]
        )
    return Calibration(start=start, end=end, table=table, references=with_refs, note=note)


def calibration_warnings(table: pl.DataFrame) -> list[str]:
    """:func:`~stacklstm_fin.pipeline.evaluate.miscalibrated` on a calibration table."""
    if table.height == 0:
        return []
    return miscalibrated(table)


CORRECTIONS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def format_p(value: Any) -> str:
    """A p-value for people: ``0.410``, ``0.031``, ``0.0004``, ``<0.0001``; "" when none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value < 1e-4:
        return "<0.0001"
    return f"{value:.2g}" if value < 0.01 else f"{value:.3f}"


def correction_name(code: Any) -> str:
    """``Holm`` for ``holm``, ``Benjamini-Hochberg`` for ``bh``; else the code itself."""
    return CORRECTIONS.get(str(code), str(code))
