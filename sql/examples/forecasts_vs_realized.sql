-- Forecasts against realized closes for a range of target sessions.
--
-- Every published forecast whose target session falls in the range, with
-- the realized close where the warehouse has it: the error, the error as a
-- fraction of the realized close, whether the direction was right (NULL when
-- the forecast called no direction or nothing is realized yet) and where the
-- close fell: inside, below or above the interval, or pending.
-- The range: by default the last 30 calendar days of target sessions. For
-- fixed dates, replace the SELECT inside date_range with, for example,
--     SELECT DATE '2018-10-01' AS start_date, DATE '2018-12-31' AS end_date
-- DuckDB and PostgreSQL.
WITH date_range AS (
    SELECT MAX(target_date) - 30 AS start_date, MAX(target_date) AS end_date
    FROM stacklstm.forecasts
)
SELECT f.target_date,
       f.ticker,
       f.horizon,
       f.as_of_date,
       r.family,
       f.base_close,
       f.yhat_close,
       f.lower_close,
       f.upper_close,
       f.interval_level,
       p.close AS actual_close,
       p.close - f.yhat_close AS error,
       (p.close - f.yhat_close) / p.close AS pct_error,
       CASE WHEN p.close IS NULL OR f.yhat_close = f.base_close THEN NULL
            WHEN SIGN(f.yhat_close - f.base_close) = SIGN(p.close - f.base_close) THEN 1
            ELSE 0 END AS direction_hit,
       CASE WHEN p.close IS NULL THEN 'pending'
            WHEN p.close < f.lower_close THEN 'below'
            WHEN p.close > f.upper_close THEN 'above'
            ELSE 'inside' END AS outcome,
       f.model_id
FROM stacklstm.forecasts AS f
CROSS JOIN date_range AS d
LEFT JOIN stacklstm.prices_daily AS p
  ON p.ticker = f.ticker AND p.session_date = f.target_date
LEFT JOIN stacklstm.model_registry AS r ON r.model_id = f.model_id
WHERE f.target_date BETWEEN d.start_date AND d.end_date
ORDER BY f.target_date, f.ticker, f.horizon, f.as_of_date;
