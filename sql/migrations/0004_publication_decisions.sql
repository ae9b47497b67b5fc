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

-- One row per candidate of the newest training as-of, ranked by the scale-free
-- score (geometric mean over tickers of the loss ratio to the random walk;
-- below 1 beats it), then by pooled test RMSE for models trained before it existed.
DROP VIEW IF EXISTS stacklstm.model_leaderboard;
CREATE VIEW stacklstm.model_leaderboard AS
WITH newest AS (
    SELECT MAX(as_of) AS as_of FROM stacklstm.model_registry
),
pooled AS (
    SELECT model_id,
           MAX(CASE WHEN metric = 'rmse' AND horizon = 0 THEN value END) AS test_rmse,
           MAX(CASE WHEN metric = 'mae' AND horizon = 0 THEN value END) AS test_mae,
           MAX(CASE WHEN metric = 'mase' AND horizon = 0 THEN value END) AS test_mase,
           MAX(CASE WHEN metric = 'directional_accuracy' AND horizon = 0 THEN value END)
               AS test_directional_accuracy,
           MAX(CASE WHEN metric = 'dm_pvalue' AND horizon = 0 THEN value END)
               AS dm_pvalue_vs_random_walk,
           MAX(CASE WHEN metric = 'score_vs_random_walk' THEN value END) AS score_vs_random_walk
    FROM stacklstm.model_metrics
    WHERE split = 'test' AND ticker = '*'
    GROUP BY model_id
)
SELECT r.as_of,
       RANK() OVER (ORDER BY p.score_vs_random_walk ASC NULLS LAST,
                             p.test_rmse ASC NULLS LAST) AS rank,
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
       r.status_reason,
       p.score_vs_random_walk
FROM stacklstm.model_registry AS r
JOIN newest AS n ON r.as_of = n.as_of
LEFT JOIN pooled AS p ON p.model_id = r.model_id;
