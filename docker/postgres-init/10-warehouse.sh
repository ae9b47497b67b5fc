#!/usr/bin/env bash
# Runs once, on the first start of an empty PostgreSQL volume (the postgres image's
# /docker-entrypoint-initdb.d): the stacklstm role and its `warehouse` database, next
# to Airflow's metadata database. The schema itself is created by
# `stacklstm-fin init-db` (the airflow-init service), as on a managed PostgreSQL.
set -euo pipefail

: "${STACKLSTM_WAREHOUSE_PASSWORD:?set STACKLSTM_WAREHOUSE_PASSWORD}"

# psql variables (:'pw', :"db") quote the values; nothing is spliced into SQL by the shell.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$STACKLSTM_WAREHOUSE_PASSWORD" <<'SQL'
CREATE ROLE stacklstm LOGIN PASSWORD :'pw';
CREATE DATABASE warehouse OWNER stacklstm;
REVOKE ALL ON DATABASE warehouse FROM PUBLIC;
SQL
