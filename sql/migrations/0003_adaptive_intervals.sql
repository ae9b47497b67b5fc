-- Per-ticker adaptive intervals (docs/adr/0007) and an accuracy view that hides
-- no published forecast.

-- How each published interval was made: the method (aci-conformal/garch or
-- /ewma), the miss level adaptive conformal inference read the quantile at,
-- and the ticker's conditional volatility of the cumulative return.
ALTER TABLE stacklstm.forecasts ADD COLUMN IF NOT EXISTS interval_method VARCHAR(64);
ALTER TABLE stacklstm.forecasts ADD COLUMN IF NOT EXISTS interval_miss_level DOUBLE PRECISION;
ALTER TABLE stacklstm.forecasts ADD COLUMN IF NOT EXISTS volatility DOUBLE PRECISION;

-- Every published forecast, with its state:
--   realized  the target session's close is stored;
--   no_price  the target session is not after the ticker's newest stored
--             session, yet it has no close (no_price_reason says why, e.g.
--             the quarantine reason);
--   pending   the target session is after the ticker's newest stored session.
-- The error columns are NULL unless realized. direction_hit is NULL when the
-- forecast calls no direction (a zero return, as the random walk forecasts).
-- interval_score is the Winkler / Gneiting-Raftery (2007) interval score of the
-- interval on the log return from the as-of close: width plus 2 / alpha times
-- the distance by which the realized return falls outside.
DROP VIEW IF EXISTS stacklstm.forecast_accuracy;
CREATE VIEW stacklstm.forecast_accuracy AS
WITH newest AS (
    SELECT ticker, MAX(session_date) AS newest_session
    FROM stacklstm.prices_daily
    GROUP BY ticker
),
quarantined AS (
    SELECT ticker, session_date, MAX(reason) AS reason
    FROM stacklstm.prices_quarantine
    WHERE ticker IS NOT NULL AND session_date IS NOT NULL
    GROUP BY ticker, session_date
)
SELECT f.ticker,
       f.as_of_date,
       f.horizon,
       f.target_date,
       f.model_id,
       r.family,
       f.base_close,
       f.yhat_log_return,
       f.yhat_close,
       f.lower_close,
       f.upper_close,
       f.interval_level,
       f.interval_method,
       CASE WHEN p.close IS NOT NULL THEN 'realized'
            WHEN q.reason IS NOT NULL OR f.target_date <= n.newest_session THEN 'no_price'
            ELSE 'pending' END AS state,
       CASE WHEN p.close IS NOT NULL THEN NULL
            WHEN q.reason IS NOT NULL THEN 'quarantined: ' || q.reason
            WHEN f.target_date <= n.newest_session THEN 'no bar stored for the target session'
            ELSE NULL END AS no_price_reason,
       p.close AS actual_close,
       LN(p.close / f.base_close) AS realized_log_return,
       p.close - f.yhat_close AS error,
       ABS(p.close - f.yhat_close) / p.close AS abs_pct_error,
       CASE WHEN p.close IS NULL OR SIGN(f.yhat_close - f.base_close) = 0 THEN NULL
            WHEN SIGN(f.yhat_close - f.base_close) = SIGN(p.close - f.base_close) THEN 1
            ELSE 0 END AS direction_hit,
       CASE WHEN p.close IS NULL THEN NULL
            WHEN p.close BETWEEN f.lower_close AND f.upper_close THEN 1
            ELSE 0 END AS in_interval,
       CASE WHEN p.close IS NULL THEN NULL
            ELSE LN(f.upper_close / f.lower_close)
                 + 2.0 / (1.0 - f.interval_level)
                   * (GREATEST(LN(f.lower_close / p.close), 0.0)
                      + GREATEST(LN(p.close / f.upper_close), 0.0)) END AS interval_score
FROM stacklstm.forecasts AS f
LEFT JOIN stacklstm.prices_daily AS p
  ON p.ticker = f.ticker AND p.session_date = f.target_date
LEFT JOIN newest AS n ON n.ticker = f.ticker
LEFT JOIN quarantined AS q ON q.ticker = f.ticker AND q.session_date = f.target_date
LEFT JOIN stacklstm.model_registry AS r ON r.model_id = f.model_id;
