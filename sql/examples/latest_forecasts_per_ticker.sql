-- Latest forecasts per ticker.
--
-- The newest published as-of of every ticker: per horizon, the median
-- forecast, its interval, the expected change from the as-of close and the
-- model that published it. One row per (ticker, horizon).
-- expected_change and interval_width are fractions of the as-of close
-- (0.01 = 1%). Runs as it is on DuckDB and PostgreSQL; no parameters.
SELECT f.ticker,
       f.as_of_date,
       f.horizon,
       f.target_date,
       f.base_close,
       f.yhat_close,
       f.yhat_close / f.base_close - 1 AS expected_change,
       f.lower_close,
       f.upper_close,
       (f.upper_close - f.lower_close) / f.base_close AS interval_width,
       f.interval_level,
       r.candidate,
       r.family,
       f.model_id,
       f.published_at
FROM stacklstm.latest_forecasts AS f
LEFT JOIN stacklstm.model_registry AS r ON r.model_id = f.model_id
ORDER BY f.ticker, f.horizon;
