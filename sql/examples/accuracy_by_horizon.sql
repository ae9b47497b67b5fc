-- Realized accuracy by model family and horizon.
--
-- From the forecast_accuracy view, the forecasts in state 'realized' (see
-- forecast_states.sql for the pending and no-price ones). Errors are percentages of the realized close, so tickers of
-- different price levels pool: rmse_pct, mae_pct and bias_pct (mean signed
-- error; above 0 means forecasts were too low) are in percent (1.0 = 1%).
-- hit_rate counts only forecasts that call a direction: a random walk
-- forecasts no change, so its hit_rate is NULL (so is the view's direction_hit). coverage is the share of realized closes inside the interval; it
-- should be near nominal_level. DuckDB and PostgreSQL; no parameters.
SELECT family,
       horizon,
       COUNT(*) AS forecasts,
       MIN(target_date) AS first_target,
       MAX(target_date) AS last_target,
       100 * SQRT(AVG((error / actual_close) * (error / actual_close))) AS rmse_pct,
       100 * AVG(abs_pct_error) AS mae_pct,
       100 * AVG(error / actual_close) AS bias_pct,
       CAST(SUM(CASE WHEN yhat_close <> base_close THEN 1 ELSE 0 END) AS BIGINT)
           AS directional_forecasts,
       AVG(CAST(direction_hit AS DOUBLE PRECISION)) AS hit_rate,
       AVG(CAST(in_interval AS DOUBLE PRECISION)) AS coverage,
       MAX(interval_level) AS nominal_level,
       AVG(interval_score) AS mean_interval_score
FROM stacklstm.forecast_accuracy
WHERE state = 'realized'
GROUP BY family, horizon
ORDER BY family, horizon;
