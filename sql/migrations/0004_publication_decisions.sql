-- Per-ticker publication decisions (docs/adr/0008): for each training as-of and
-- ticker, the model whose forecasts are published and the evidence for it.
-- model_id is the champion where it beats the random walk on the ticker's own
-- test windows by a one-sided Diebold-Mariano test (HLN), after a correction
-- over the tickers; else the random walk of that as-of.
CREATE TABLE IF NOT EXISTS stacklstm.publication_decisions (
    as_of              DATE         NOT NULL,
    ticker             VARCHAR(32)  NOT NULL,
    model_id           VARCHAR(128) NOT NULL,
    champion_model_id  VARCHAR(128) NOT NULL,
    champion_family    VARCHAR(32)  NOT NULL,
    horizon            INTEGER      NOT NULL,
    windows            INTEGER      NOT NULL,
    champion_loss      DOUBLE PRECISION,
    random_walk_loss   DOUBLE PRECISION,
    ratio              DOUBLE PRECISION,
    dm_stat            DOUBLE PRECISION,
    p_value            DOUBLE PRECISION,
    p_adjusted         DOUBLE PRECISION,
    significance       DOUBLE PRECISION NOT NULL,
    correction         VARCHAR(16)  NOT NULL,
    reason             VARCHAR(1024) NOT NULL,
    decided_at         TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (as_of, ticker)
);

-- The decisions of the newest training as-of, one row per ticker.
CREATE OR REPLACE VIEW stacklstm.latest_publication_decisions AS
SELECT d.*, r.candidate AS published_candidate, r.family AS published_family
FROM stacklstm.publication_decisions AS d
LEFT JOIN stacklstm.model_registry AS r ON r.model_id = d.model_id
WHERE d.as_of = (SELECT MAX(as_of) FROM stacklstm.publication_decisions);

-- One row per model with its pooled test metrics (all tickers; horizon 0 = the
-- mean over horizons) and the scale-free score (geometric mean over tickers of
-- the loss ratio to the random walk; below 1 beats it). The leaderboard view,
-- the report and sql/examples select from it: the pooling is written once.
CREATE OR REPLACE VIEW stacklstm.model_test_metrics AS
SELECT r.model_id,
       r.as_of,
       r.candidate,
       r.family,
       r.status,
       r.status_reason,
       r.promoted_at,
       r.parity_max_abs_diff,
       MAX(CASE WHEN m.metric = 'rmse' AND m.horizon = 0 THEN m.value END) AS test_rmse,
       MAX(CASE WHEN m.metric = 'mae' AND m.horizon = 0 THEN m.value END) AS test_mae,
       MAX(CASE WHEN m.metric = 'mase' AND m.horizon = 0 THEN m.value END) AS test_mase,
       MAX(CASE WHEN m.metric = 'directional_accuracy' AND m.horizon = 0 THEN m.value END)
           AS test_directional_accuracy,
       MAX(CASE WHEN m.metric = 'dm_pvalue' AND m.horizon = 0 THEN m.value END)
           AS dm_pvalue_vs_random_walk,
       MAX(CASE WHEN m.metric = 'score_vs_random_walk' THEN m.value END) AS score_vs_random_walk
FROM stacklstm.model_registry AS r
LEFT JOIN stacklstm.model_metrics AS m
  ON m.model_id = r.model_id AND m.split = 'test' AND m.ticker = '*'
GROUP BY r.model_id, r.as_of, r.candidate, r.family, r.status, r.status_reason,
         r.promoted_at, r.parity_max_abs_diff;

-- One row per candidate of the newest training as-of, ranked by the scale-free
-- score, then by pooled test RMSE for models trained before the score existed.
DROP VIEW IF EXISTS stacklstm.model_leaderboard;
CREATE VIEW stacklstm.model_leaderboard AS
SELECT as_of,
       RANK() OVER (ORDER BY score_vs_random_walk ASC NULLS LAST,
                             test_rmse ASC NULLS LAST) AS rank,
       model_id, candidate, family, status, test_rmse, test_mae, test_mase,
       test_directional_accuracy, dm_pvalue_vs_random_walk, parity_max_abs_diff,
       status_reason, score_vs_random_walk
FROM stacklstm.model_test_metrics
WHERE as_of = (SELECT MAX(as_of) FROM stacklstm.model_registry);
