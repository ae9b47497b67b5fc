-- Views analysts query first. Views hold no data: re-creating them is safe.

-- The newest published as-of per ticker.
CREATE OR REPLACE VIEW stacklstm.latest_forecasts AS
SELECT f.*
FROM stacklstm.forecasts AS f
JOIN (
    SELECT ticker, MAX(as_of_date) AS as_of_date
    FROM stacklstm.forecasts
    GROUP BY ticker
) AS newest
  ON newest.ticker = f.ticker AND newest.as_of_date = f.as_of_date;

-- One row per candidate of the newest training as-of, ranked by pooled test
-- RMSE (mean over horizons); mase < 1 beats the random walk.
CREATE OR REPLACE VIEW stacklstm.model_leaderboard AS
WITH newest AS (
    SELECT MAX(as_of) AS as_of FROM stacklstm.model_registry
),
pooled AS (
    SELECT model_id,
           MAX(CASE WHEN metric = 'rmse' THEN value END) AS test_rmse,
           MAX(CASE WHEN metric = 'mae' THEN value END) AS test_mae,
           MAX(CASE WHEN metric = 'mase' THEN value END) AS test_mase,
           MAX(CASE WHEN metric = 'directional_accuracy' THEN value END)
               AS test_directional_accuracy,
           MAX(CASE WHEN metric = 'dm_pvalue' THEN value END) AS dm_pvalue_vs_random_walk
    FROM stacklstm.model_metrics
    WHERE split = 'test' AND ticker = '*' AND horizon = 0
    GROUP BY model_id
)
SELECT r.as_of,
       RANK() OVER (ORDER BY p.test_rmse ASC NULLS LAST) AS rank,
       r.model_id,
       r.candidate,
       r.family,
       r.status,
       p.test_rmse,
       p.test_mae,
       p.test_mase,
       p.test_directional_accuracy,
       p.dm_pvalue_vs_random_walk,
       r.parity_max_abs_diff,
       r.status_reason
FROM stacklstm.model_registry AS r
JOIN newest AS n ON r.as_of = n.as_of
LEFT JOIN pooled AS p ON p.model_id = r.model_id;

-- Forecasts joined to the realized close of their target session.
CREATE OR REPLACE VIEW stacklstm.forecast_accuracy AS
SELECT f.ticker,
       f.as_of_date,
       f.horizon,
       f.target_date,
       f.model_id,
       r.family,
       f.base_close,
       f.yhat_close,
       f.lower_close,
       f.upper_close,
       f.interval_level,
       p.close AS actual_close,
       p.close - f.yhat_close AS error,
       ABS(p.close - f.yhat_close) / p.close AS abs_pct_error,
       CASE WHEN SIGN(f.yhat_close - f.base_close) = SIGN(p.close - f.base_close)
            THEN 1 ELSE 0 END AS direction_hit,
       CASE WHEN p.close BETWEEN f.lower_close AND f.upper_close
            THEN 1 ELSE 0 END AS in_interval
FROM stacklstm.forecasts AS f
JOIN stacklstm.prices_daily AS p
  ON p.ticker = f.ticker AND p.session_date = f.target_date
LEFT JOIN stacklstm.model_registry AS r ON r.model_id = f.model_id;
