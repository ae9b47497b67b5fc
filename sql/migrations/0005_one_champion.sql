-- At most one live champion, enforced by the database (issue 15).
--
-- PostgreSQL accepts a partial unique index (ON model_registry (status) WHERE
-- status = 'champion'); DuckDB 2.0 does not ("Creating partial indexes is not
-- supported"). A unique index on an expression that is 1 for the champion and
-- NULL for every other row means the same on both engines: NULLs never
-- collide, so any number of candidates, retired and rejected models, and one
-- champion. promote() also takes an advisory lock on PostgreSQL so that two
-- concurrent promotions queue instead of failing on this index.
--
-- A warehouse that already holds more than one champion (two promotions raced
-- before this migration) keeps the newest one (as_of, then promoted_at, then
-- model_id) and retires the others, saying why.
UPDATE stacklstm.model_registry
SET status = 'retired',
    status_reason = 'retired by migration 0005: more than one champion was live'
WHERE status = 'champion'
  AND model_id <> (
      SELECT model_id FROM stacklstm.model_registry
      WHERE status = 'champion'
      ORDER BY as_of DESC, promoted_at DESC, model_id DESC
      LIMIT 1
  );

CREATE UNIQUE INDEX IF NOT EXISTS model_registry_one_champion
    ON stacklstm.model_registry ((CASE WHEN status = 'champion' THEN 1 END));
