-- Leaderboard history.
--
-- Every training as-of with its candidates, ranked within the as-of by pooled
-- test RMSE (all tickers, mean over horizons; lower is better).
-- rmse_vs_random_walk compares with the random walk trained on the same data
-- (below 0 beats it; -0.02 = 2% lower RMSE); test_mase below 1 says the same.
-- promoted says whether the candidate became the champion for its period;
-- status is its status now. Newest as-of first. DuckDB and PostgreSQL; no
-- parameters.
WITH pooled AS (
    SELECT model_id,
           MAX(CASE WHEN metric = 'rmse' THEN value END) AS test_rmse,
           MAX(CASE WHEN metric = 'mase' THEN value END) AS test_mase,
           MAX(CASE WHEN metric = 'directional_accuracy' THEN value END)
               AS test_directional_accuracy,
           MAX(CASE WHEN metric = 'dm_pvalue' THEN value END) AS dm_pvalue_vs_random_walk
    FROM stacklstm.model_metrics
    WHERE split = 'test' AND ticker = '*' AND horizon = 0
    GROUP BY model_id
),
random_walk AS (
    SELECT r.as_of, MIN(p.test_rmse) AS test_rmse
    FROM stacklstm.model_registry AS r
    JOIN pooled AS p ON p.model_id = r.model_id
    WHERE r.family = 'random_walk'
    GROUP BY r.as_of
)
SELECT r.as_of,
       RANK() OVER (PARTITION BY r.as_of ORDER BY p.test_rmse ASC NULLS LAST) AS rank,
       r.candidate,
       r.family,
       CASE WHEN r.promoted_at IS NULL THEN 0 ELSE 1 END AS promoted,
       r.status,
       p.test_rmse,
       p.test_rmse / NULLIF(rw.test_rmse, 0) - 1 AS rmse_vs_random_walk,
       p.test_mase,
       p.test_directional_accuracy,
       p.dm_pvalue_vs_random_walk,
       r.model_id
FROM stacklstm.model_registry AS r
LEFT JOIN pooled AS p ON p.model_id = r.model_id
LEFT JOIN random_walk AS rw ON rw.as_of = r.as_of
ORDER BY r.as_of DESC, rank, r.candidate;
