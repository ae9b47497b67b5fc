-- Leaderboard history.
--
-- Every training as-of with its candidates, ranked within the as-of by pooled
-- test RMSE (all tickers, mean over horizons; lower is better).
-- rmse_vs_random_walk compares with the random walk trained on the same data
-- (below 0 beats it; -0.02 = 2% lower RMSE); test_mase below 1 says the same.
-- promoted says whether the candidate became the champion for its period;
-- status is its status now. Newest as-of first. DuckDB and PostgreSQL; no
-- parameters.
WITH random_walk AS (
    SELECT as_of, MIN(test_rmse) AS test_rmse
    FROM stacklstm.model_test_metrics
    WHERE family = 'random_walk'
    GROUP BY as_of
)
SELECT m.as_of,
       RANK() OVER (PARTITION BY m.as_of ORDER BY m.test_rmse ASC NULLS LAST) AS rank,
       m.candidate,
       m.family,
       CASE WHEN m.promoted_at IS NULL THEN 0 ELSE 1 END AS promoted,
       m.status,
       m.test_rmse,
       m.test_rmse / NULLIF(rw.test_rmse, 0) - 1 AS rmse_vs_random_walk,
       m.test_mase,
       m.test_directional_accuracy,
       m.dm_pvalue_vs_random_walk,
       m.model_id
FROM stacklstm.model_test_metrics AS m
LEFT JOIN random_walk AS rw ON rw.as_of = m.as_of
ORDER BY m.as_of DESC, rank, m.candidate;
