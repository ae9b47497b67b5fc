"""Forecast with the champion's ONNX (onnxruntime only) and publish.

No TensorFlow or Keras is imported here: a consumer with onnxruntime and the
registry row can reproduce every published number.

For each ticker, the champion maps the last ``window`` sessions of unscaled
features to the next H one-day log returns r_1..r_H. Published per horizon h:
``yhat_log_return = r_1 + ... + r_h`` (cumulative, from the as-of close),
``yhat_close = close_as_of * exp(yhat_log_return)``, and a split-conformal
interval on the cumulative return at the level the champion was calibrated at.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import polars as pl

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import Config
from stacklstm_fin.evaluation.intervals import price_path
from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.features.dataset import latest_windows
from stacklstm_fin.pipeline.modeling import read_prices
from stacklstm_fin.registry import champion_as_of
from stacklstm_fin.warehouse import Warehouse, check_schema, upsert

log = logging.getLogger(__name__)
FORECASTS = "stacklstm.forecasts"
_VALUES = ["target_date", "model_id", "base_close", "yhat_log_return", "yhat_close",
           "lower_close", "upper_close", "interval_level"]  # fmt: skip


def forecast(cfg: Config, wh: Warehouse, as_of: dt.date) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The forecast rows for ``as_of`` from the champion as of that date."""
    from stacklstm_fin.export import load_onnx_session, read_metadata, run_onnx

    champion = champion_as_of(wh, as_of)
    if champion is None:
        raise ModelError(f"no champion as of {as_of}; run `stacklstm-fin train` first")
    session = load_onnx_session(champion["onnx"], champion["onnx_sha256"])
    meta = read_metadata(session)
    window, horizons = int(meta["window"]), int(meta["horizons"])
    if (window, horizons) != (cfg.dataset.window, cfg.dataset.horizons):
        raise ModelError(
            f"champion {champion['model_id']} takes window {window}, horizons {horizons}; "
            f"the config has {cfg.dataset.window}, {cfg.dataset.horizons}: retrain first"
        )
    metrics = champion["metrics"]
    halfwidths = np.asarray(metrics.get("conformal_halfwidths") or [], dtype=np.float64)
    level = metrics.get("interval_level")
    if halfwidths.shape != (horizons,) or level is None:
        raise ModelError(f"champion {champion['model_id']}: no interval calibration stored")

    prices = read_prices(wh, cfg.universe.tickers, as_of)
    latest = latest_windows(prices, cfg.dataset, as_of)
    fresh = latest.anchor_dates == np.datetime64(as_of, "D")
    stale = sorted(set(cfg.universe.tickers) - set(latest.tickers[fresh].tolist()))
    if stale:
        log.warning("as_of %s: no fresh window for %s; not forecast", as_of, ", ".join(stale))
    pred = run_onnx(session, latest.x[fresh]) if fresh.any() else np.zeros((0, horizons))
    closes = dict(
        prices.filter(pl.col("session_date") == as_of).select("ticker", "close").iter_rows()
    )
    targets = TradingCalendar(cfg.universe.calendar, cfg.universe.calendar_start).next_sessions(
        as_of, horizons
    )
    now = dt.datetime.now(dt.UTC)
    rows = []
    for ticker, r in zip(latest.tickers[fresh].tolist(), pred, strict=True):
        base = float(closes[ticker])
        yhat, lower, upper = price_path(base, r.astype(np.float64), halfwidths)
        cum = np.cumsum(r.astype(np.float64))
        for h in range(horizons):
            rows.append({
                "ticker": ticker, "as_of_date": as_of, "horizon": h + 1,
                "target_date": targets[h], "model_id": champion["model_id"],
                "base_close": base, "yhat_log_return": float(cum[h]),
                "yhat_close": float(yhat[h]), "lower_close": float(lower[h]),
                "upper_close": float(upper[h]), "interval_level": float(level),
                "published_at": now,
            })  # fmt: skip
    frame = pl.DataFrame(rows, schema_overrides={"published_at": pl.Datetime("us", "UTC")})
    info = {"as_of": as_of.isoformat(), "model_id": champion["model_id"],
            "tickers": int(fresh.sum()), "stale": stale}  # fmt: skip
    return frame, info


def publish(wh: Warehouse, frame: pl.DataFrame) -> int:
    """Write the forecasts of one as-of in one transaction (unchanged rows stay as they are)."""
    check_schema(wh)
    with wh.transaction():
        return upsert(wh, FORECASTS, frame, ["ticker", "as_of_date", "horizon"], compare=_VALUES)


def forecast_and_publish(cfg: Config, wh: Warehouse, as_of: dt.date) -> dict[str, Any]:
    frame, info = forecast(cfg, wh, as_of)
    info["rows"] = publish(wh, frame)
    return info
