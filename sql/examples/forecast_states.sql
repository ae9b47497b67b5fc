-- Every published forecast by state, per ticker and horizon: nothing is hidden.
--
-- realized: the target session's close is stored; pending: the target session
-- is after the newest stored session; no_price: the target session is past,
-- yet no close is stored (no_price_reason says why, e.g. quarantined).
-- DuckDB and PostgreSQL; no parameters.
SELECT ticker,
       horizon,
       state,
       COUNT(*) AS forecasts,
       MIN(target_date) AS first_target,
       MAX(target_date) AS last_target,
       MAX(no_price_reason) AS example_reason
FROM stacklstm.forecast_accuracy
GROUP BY ticker, horizon, state
ORDER BY ticker, horizon, state;
