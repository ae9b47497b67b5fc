-- Interval coverage by ticker and horizon, against the nominal level.
--
-- Of the forecasts with a realized close: how many fell inside the published
-- interval, below it and above it. coverage_gap = coverage - interval_level:
-- below 0 the intervals are too narrow for the ticker, above 0 too wide (the
-- intervals are calibrated on all tickers pooled, so a calm ticker tends to
-- be over-covered and a volatile one under-covered). mean_width is the
-- interval's width as a fraction of the as-of close. ticker '*' is all
-- tickers together. DuckDB and PostgreSQL; no parameters.
WITH outcomes AS (
    SELECT ticker,
           horizon,
           interval_level,
           in_interval,
           CASE WHEN actual_close < lower_close THEN 1 ELSE 0 END AS below,
           CASE WHEN actual_close > upper_close THEN 1 ELSE 0 END AS above,
           (upper_close - lower_close) / base_close AS width,
           interval_score
    FROM stacklstm.forecast_accuracy
    WHERE state = 'realized'
),
by_ticker AS (
    SELECT ticker, horizon, interval_level, in_interval, below, above, width, interval_score
    FROM outcomes
    UNION ALL
    SELECT '*', horizon, interval_level, in_interval, below, above, width, interval_score
    FROM outcomes
)
SELECT ticker,
       horizon,
       interval_level,
       COUNT(*) AS forecasts,
       CAST(SUM(in_interval) AS BIGINT) AS inside,
       CAST(SUM(below) AS BIGINT) AS below,
       CAST(SUM(above) AS BIGINT) AS above,
       AVG(CAST(in_interval AS DOUBLE PRECISION)) AS coverage,
       AVG(CAST(in_interval AS DOUBLE PRECISION)) - interval_level AS coverage_gap,
       interval_level - 1.96 * SQRT(interval_level * (1 - interval_level) / COUNT(*))
           AS coverage_low,
       interval_level + 1.96 * SQRT(interval_level * (1 - interval_level) / COUNT(*))
           AS coverage_high,
       AVG(interval_score) AS mean_interval_score,
       AVG(width) AS mean_width
FROM by_ticker
GROUP BY ticker, horizon, interval_level
ORDER BY ticker, horizon, interval_level;
