"""Forecast with the champion's ONNX (onnxruntime only) and publish.

No TensorFlow or Keras is imported here: a consumer with onnxruntime and the
registry row can reproduce every published number.

For each ticker, the champion maps the last ``window`` sessions of unscaled
features to the next H one-day log returns r_1..r_H. Published per horizon h:
``yhat_log_return = r_1 + ... + r_h`` (cumulative, from the as-of close),
``yhat_close = close_as_of * exp(yhat_log_return)``, and a per-ticker,
volatility-adaptive conformal interval on the cumulative return
(:mod:`stacklstm_fin.pipeline.intervals`, docs/adr/0007). Target dates are the
next sessions of the ticker's own exchange calendar.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any

import polars as pl

from stacklstm_fin.config import Config
from stacklstm_fin.decisions import decisions_as_of
from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.pipeline.intervals import Predict, ticker_calendar, ticker_forecasts
from stacklstm_fin.pipeline.modeling import read_prices
from stacklstm_fin.registry import champion_as_of, stored_onnx
from stacklstm_fin.warehouse import Warehouse, check_schema, upsert

log = logging.getLogger(__name__)
FORECASTS = "stacklstm.forecasts"
METRICS = "stacklstm.model_metrics"
_VALUES = ["target_date", "model_id", "base_close", "yhat_log_return", "yhat_close",
           "lower_close", "upper_close", "interval_level", "interval_method",
           "interval_miss_level", "volatility"]  # fmt: skip
_SCHEMA = {
    "ticker": pl.String(), "as_of_date": pl.Date(), "horizon": pl.Int32(),
    "target_date": pl.Date(), "model_id": pl.String(), "base_close": pl.Float64(),
    "yhat_log_return": pl.Float64(), "yhat_close": pl.Float64(), "lower_close": pl.Float64(),
    "upper_close": pl.Float64(), "interval_level": pl.Float64(), "interval_method": pl.String(),
    "interval_miss_level": pl.Float64(), "volatility": pl.Float64(),
    "published_at": pl.Datetime("us", "UTC"),
}  # fmt: skip


def forecast(cfg: Config, wh: Warehouse, as_of: dt.date) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The forecast rows for ``as_of``: per ticker, the model its publication decision names."""
    from stacklstm_fin.export import load_onnx_session, read_metadata, run_onnx

    champion = champion_as_of(wh, as_of)
    if champion is None:
        raise ModelError(f"no champion as of {as_of}; run `stacklstm-fin train` first")
    decided, chosen = decisions_as_of(wh, as_of)
    if not chosen:
        if champion["family"] != "random_walk":
            raise ModelError(
                f"champion {champion['model_id']} has no per-ticker publication decisions "
                f"(trained before they existed); retrain as of {as_of} before publishing"
            )
        chosen = dict.fromkeys(cfg.universe.tickers, champion["model_id"])
    predictors: dict[str, Predict] = {}
    for model_id in sorted(set(chosen.values())):
        stored = stored_onnx(wh, model_id)
        if stored is None:
            raise ModelError(f"model {model_id}: no ONNX in the registry; retrain as of {as_of}")
        session = load_onnx_session(stored["onnx"], stored["onnx_sha256"])
        meta = read_metadata(session)
        window, horizons = int(meta["window"]), int(meta["horizons"])
        if (window, horizons) != (cfg.dataset.window, cfg.dataset.horizons):
            raise ModelError(
                f"model {model_id} takes window {window}, horizons {horizons}; "
                f"the config has {cfg.dataset.window}, {cfg.dataset.horizons}: retrain first"
            )
        predictors[model_id] = functools.partial(run_onnx, session)
    horizons = cfg.dataset.horizons
    calendars = {t: ticker_calendar(cfg, t) for t in cfg.universe.tickers}
    prices = read_prices(wh, cfg.universe.tickers, as_of)
    by_ticker = {t: predictors[m] for t, m in chosen.items() if t in cfg.universe.tickers}
    results, problems = ticker_forecasts(cfg, prices, by_ticker, as_of)
    for ticker, why in problems.items():
        log.warning("as_of %s: %s not forecast: %s", as_of, ticker, why)
    now = dt.datetime.now(dt.UTC)
    level = cfg.forecast.interval_level
    rows = []
    for res in results:
        targets = calendars[res.ticker].next_sessions(as_of, horizons)
        yhat, lower, upper = res.price_path()
        for h in range(horizons):
            rows.append({
                "ticker": res.ticker, "as_of_date": as_of, "horizon": h + 1,
                "target_date": targets[h], "model_id": chosen[res.ticker],
                "base_close": res.base_close, "yhat_log_return": float(res.yhat_cum[h]),
                "yhat_close": float(yhat[h]), "lower_close": float(lower[h]),
                "upper_close": float(upper[h]), "interval_level": level,
                "interval_method": res.method,
                "interval_miss_level": float(res.interval.miss_levels[h]),
                "volatility": float(res.interval.scales[h]),
                "published_at": now,
            })  # fmt: skip
    frame = pl.DataFrame(
        rows, schema=_SCHEMA, schema_overrides={"published_at": pl.Datetime("us", "UTC")}
    )
    info = {"as_of": as_of.isoformat(), "model_id": champion["model_id"],
            "decisions_as_of": decided.isoformat() if decided else None,
            "models": {m: sorted(t for t, c in chosen.items() if c == m)
                       for m in sorted(set(chosen.values()))},
            "tickers": len(results), "stale": sorted(problems)}  # fmt: skip
    return frame, info


def publish(wh: Warehouse, frame: pl.DataFrame) -> int:
    """Write the forecasts of one as-of in one transaction (unchanged rows stay as they are)."""
    check_schema(wh)
    with wh.transaction():
        rows = upsert(wh, FORECASTS, frame, ["ticker", "as_of_date", "horizon"], compare=_VALUES)
        record_realized_metrics(wh)
        return rows


_REALIZED_SQL = """
SELECT model_id, ticker, horizon, MAX(interval_level) AS level, COUNT(*) AS n,
       SUM(in_interval) AS inside, AVG(interval_score) AS interval_score
FROM stacklstm.forecast_accuracy
WHERE state = 'realized'
GROUP BY model_id, ticker, horizon
"""


def record_realized_metrics(wh: Warehouse) -> int:
    """Realized calibration of every published model, per ticker and horizon, in model_metrics.

    Split ``realized``: ``realized_forecasts``, ``coverage``, ``coverage_band_low`` /
    ``coverage_band_high`` (the 95% binomial band around the nominal level, n / h
    effective forecasts) and the mean ``interval_score``, over every realized
    forecast the warehouse holds (so the result does not depend on the order in
    which as-ofs were published).
    """
    from stacklstm_fin.pipeline.evaluate import binomial_band

    agg = wh.query(_REALIZED_SQL)
    rows = []
    for r in agg.iter_rows(named=True):
        n, h = int(r["n"]), int(r["horizon"])
        lo, hi = binomial_band(float(r["level"]), n / h)
        values = {"realized_forecasts": float(n), "coverage": float(r["inside"]) / n,
                  "coverage_band_low": lo, "coverage_band_high": hi,
                  "interval_score": float(r["interval_score"])}  # fmt: skip
        for metric, value in values.items():
            rows.append({"model_id": r["model_id"], "split": "realized", "ticker": r["ticker"],
                         "horizon": h, "metric": metric, "value": value})  # fmt: skip
    if not rows:
        return 0
    frame = pl.DataFrame(rows, schema_overrides={"horizon": pl.Int32()})
    return upsert(wh, METRICS, frame, ["model_id", "split", "ticker", "horizon", "metric"],
                  compare=["value"])  # fmt: skip


def forecast_and_publish(cfg: Config, wh: Warehouse, as_of: dt.date) -> dict[str, Any]:
    frame, info = forecast(cfg, wh, as_of)
    info["rows"] = publish(wh, frame)
    return info
