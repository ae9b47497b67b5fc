-- Champion changes over time.
--
-- Which model published the forecasts, period by period: a new period starts
-- on the first as-of whose forecasts came from another model than the day
-- before. trained_as_of is the as-of the model was trained on;
-- previous_candidate is the champion it replaced (NULL for the first).
-- current_status is the model's registry status now (champion = live).
-- Promotions that never published (a backfill retrained but no session used
-- the model) do not appear. DuckDB and PostgreSQL; no parameters.
WITH daily AS (
    SELECT as_of_date, MIN(model_id) AS model_id
    FROM stacklstm.forecasts
    GROUP BY as_of_date
),
marked AS (
    SELECT as_of_date,
           model_id,
           CASE WHEN LAG(model_id) OVER (ORDER BY as_of_date) = model_id THEN 0 ELSE 1 END
               AS is_change
    FROM daily
),
numbered AS (
    SELECT as_of_date,
           model_id,
           CAST(SUM(is_change) OVER (ORDER BY as_of_date ROWS UNBOUNDED PRECEDING) AS BIGINT)
               AS period
    FROM marked
)
SELECT n.period,
       MIN(n.as_of_date) AS first_published,
       MAX(n.as_of_date) AS last_published,
       COUNT(*) AS sessions,
       r.candidate,
       r.family,
       r.as_of AS trained_as_of,
       LAG(r.candidate) OVER (ORDER BY n.period) AS previous_candidate,
       r.status AS current_status,
       n.model_id
FROM numbered AS n
LEFT JOIN stacklstm.model_registry AS r ON r.model_id = n.model_id
GROUP BY n.period, n.model_id, r.candidate, r.family, r.as_of, r.status
ORDER BY n.period;
