"""Per-ticker publication decisions: which model's forecasts are published for a ticker.

Written by selection (``pipeline/promotion.py``) for every training as-of, in
the promotion's transaction; read by publishing (``pipeline/publish.py``) and
shown by the leaderboard, the report and the Forecasts page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

import polars as pl

from stacklstm_fin.warehouse import Warehouse, upsert

DECISIONS = "stacklstm.publication_decisions"
_VALUES = ["model_id", "champion_model_id", "champion_family", "horizon", "windows",
           "champion_loss", "random_walk_loss", "ratio", "dm_stat", "p_value", "p_adjusted",
           "significance", "correction", "reason"]  # fmt: skip


@dataclass(frozen=True)
class TickerDecision:
    ticker: str
    model_id: str  # the model published for the ticker
    champion_model_id: str
    champion_family: str
    horizon: int  # the selection horizon (0: mean over horizons)
    windows: int  # test sessions the evidence rests on
    champion_loss: float
    random_walk_loss: float
    ratio: float
    dm_stat: float
    p_value: float  # one-sided: the champion's loss is lower
    p_adjusted: float  # after the correction over the tickers
    significance: float
    correction: str
    reason: str


def write_decisions(wh: Warehouse, as_of: dt.date, decisions: list[TickerDecision]) -> int:
    """Upsert the decisions of ``as_of`` (call inside the promotion's transaction)."""
    if not decisions:
        return 0
    now = dt.datetime.now(dt.UTC)
    rows = []
    for d in decisions:
        row = dataclasses.asdict(d)
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                row[key] = None
        rows.append({"as_of": as_of, **row, "decided_at": now})
    frame = pl.DataFrame(rows, schema_overrides={
        "decided_at": pl.Datetime("us", "UTC"), "horizon": pl.Int32(), "windows": pl.Int32(),
        **{k: pl.Float64() for k in ("champion_loss", "random_walk_loss", "ratio", "dm_stat",
                                      "p_value", "p_adjusted", "significance")},
    })  # fmt: skip
    return upsert(wh, DECISIONS, frame, ["as_of", "ticker"], compare=_VALUES)


def decisions_as_of(wh: Warehouse, as_of: dt.date) -> tuple[dt.date | None, dict[str, str]]:
    """(the newest training as-of <= ``as_of`` with decisions, {ticker: model_id published})."""
    frame = wh.query(
        f"SELECT as_of, ticker, model_id FROM {DECISIONS} WHERE as_of = "
        f"(SELECT MAX(as_of) FROM {DECISIONS} WHERE as_of <= :as_of) ORDER BY ticker",
        {"as_of": as_of},
    )
    if frame.height == 0:
        return None, {}
    return frame["as_of"][0], dict(zip(frame["ticker"], frame["model_id"], strict=True))
