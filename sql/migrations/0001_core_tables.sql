-- stacklstm-fin warehouse, version 1: prices, quarantine, validation runs,
-- model registry, metrics and forecasts. Portable between DuckDB and
-- PostgreSQL: only types and syntax both engines accept.

CREATE SCHEMA IF NOT EXISTS stacklstm;

-- Validated daily bars, one row per (ticker, session_date).
CREATE TABLE IF NOT EXISTS stacklstm.prices_daily (
    ticker        VARCHAR(32)      NOT NULL,
    session_date  DATE             NOT NULL,
    open          DOUBLE PRECISION NOT NULL,
    high          DOUBLE PRECISION NOT NULL,
    low           DOUBLE PRECISION NOT NULL,
    close         DOUBLE PRECISION NOT NULL,
    adj_close     DOUBLE PRECISION NOT NULL,
    volume        DOUBLE PRECISION NOT NULL,
    source        VARCHAR(32)      NOT NULL,
    ingested_at   TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (ticker, session_date)
);

-- Rows a validation run refused, with the reason(s). row_index is the row's
-- position in the raw snapshot, so duplicate keys and rows with a null ticker
-- or date are kept too (nothing is lost).
CREATE TABLE IF NOT EXISTS stacklstm.prices_quarantine (
    run_id          VARCHAR(128) NOT NULL,
    row_index       BIGINT       NOT NULL,
    ticker          VARCHAR(64),
    session_date    DATE,
    open            DOUBLE PRECISION,
    high            DOUBLE PRECISION,
    low             DOUBLE PRECISION,
    close           DOUBLE PRECISION,
    adj_close       DOUBLE PRECISION,
    volume          DOUBLE PRECISION,
    reason          VARCHAR(512) NOT NULL,
    quarantined_at  TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (run_id, row_index)
);
CREATE INDEX IF NOT EXISTS prices_quarantine_key
    ON stacklstm.prices_quarantine (ticker, session_date, run_id);

-- One row per validation run; run_id is derived from (source, as_of, data,
-- validation settings), so re-validating the same snapshot is a no-op.
CREATE TABLE IF NOT EXISTS stacklstm.validation_runs (
    run_id            VARCHAR(128) NOT NULL PRIMARY KEY,
    as_of             DATE         NOT NULL,
    source            VARCHAR(32)  NOT NULL,
    rows_in           BIGINT       NOT NULL,
    rows_loaded       BIGINT       NOT NULL,
    rows_quarantined  BIGINT       NOT NULL,
    success           BOOLEAN      NOT NULL,
    failure           VARCHAR(1024),
    report            JSON         NOT NULL,
    validated_at      TIMESTAMP WITH TIME ZONE NOT NULL
);

-- Every candidate ever trained, with its lineage and (for exported ones) ONNX.
CREATE TABLE IF NOT EXISTS stacklstm.model_registry (
    model_id             VARCHAR(128) NOT NULL PRIMARY KEY,
    candidate            VARCHAR(64)  NOT NULL,
    family               VARCHAR(32)  NOT NULL,
    hyperparameters      JSON         NOT NULL,
    as_of                DATE         NOT NULL,
    train_start          DATE,
    train_end            DATE,
    validation_start     DATE,
    validation_end       DATE,
    test_start           DATE,
    test_end             DATE,
    data_hash            VARCHAR(64)  NOT NULL,
    code_version         VARCHAR(64)  NOT NULL,
    seed                 BIGINT       NOT NULL,
    package_versions     JSON         NOT NULL,
    metrics              JSON         NOT NULL,
    onnx                 BYTEA,
    onnx_sha256          VARCHAR(64),
    parity_max_abs_diff  DOUBLE PRECISION,
    status               VARCHAR(16)  NOT NULL,
    status_reason        VARCHAR(1024),
    trained_at           TIMESTAMP WITH TIME ZONE NOT NULL,
    promoted_at          TIMESTAMP WITH TIME ZONE,
    CHECK (status IN ('candidate', 'champion', 'rejected', 'retired'))
);
CREATE INDEX IF NOT EXISTS model_registry_as_of ON stacklstm.model_registry (as_of);

-- Evaluation metrics; ticker '*' is pooled over all tickers, horizon 0 is the
-- mean over horizons.
CREATE TABLE IF NOT EXISTS stacklstm.model_metrics (
    model_id  VARCHAR(128) NOT NULL,
    split     VARCHAR(16)  NOT NULL,
    ticker    VARCHAR(32)  NOT NULL,
    horizon   INTEGER      NOT NULL,
    metric    VARCHAR(32)  NOT NULL,
    value     DOUBLE PRECISION,
    PRIMARY KEY (model_id, split, ticker, horizon, metric)
);

-- Published forecasts. yhat_log_return is the cumulative log return from the
-- as-of close to target_date; prices are closes.
CREATE TABLE IF NOT EXISTS stacklstm.forecasts (
    ticker           VARCHAR(32)  NOT NULL,
    as_of_date       DATE         NOT NULL,
    horizon          INTEGER      NOT NULL,
    target_date      DATE         NOT NULL,
    model_id         VARCHAR(128) NOT NULL,
    base_close       DOUBLE PRECISION NOT NULL,
    yhat_log_return  DOUBLE PRECISION NOT NULL,
    yhat_close       DOUBLE PRECISION NOT NULL,
    lower_close      DOUBLE PRECISION NOT NULL,
    upper_close      DOUBLE PRECISION NOT NULL,
    interval_level   DOUBLE PRECISION NOT NULL,
    published_at     TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (ticker, as_of_date, horizon)
);
