#!/usr/bin/env bash
# `make demo`: the market-data and nightly-retrain DAGs end to end through Airflow,
# offline, on the bundled sample data (S&P 500 and NASDAQ Composite) and the
# embedded DuckDB warehouse, for one as-of; then the leaderboard and the forecasts.
#
# Airflow home: ./airflow_home (SQLite metadata, examples off, dags = ./dags,
# plugins = ./plugins). Warehouse and model files: under the config's data_root
# (./data for the example config). Re-running changes no published row.
#
# Then a point-in-time backfill of the last ~60 sessions before AS_OF and the HTML report.
#
# Environment: CONFIG (default stacklstm_fin.example.toml), AS_OF (2018-12-31),
# BACKFILL_START (2018-10-04), BACKFILL_END (2018-12-28, the session before AS_OF),
# BIN (the virtualenv's bin folder, default .venv/bin).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"
BIN="${BIN:-$REPO/.venv/bin}"
CONFIG="${CONFIG:-stacklstm_fin.example.toml}"
AS_OF="${AS_OF:-2018-12-31}"
BACKFILL_START="${BACKFILL_START:-2018-10-04}"
BACKFILL_END="${BACKFILL_END:-2018-12-28}"

export AIRFLOW_HOME="$REPO/airflow_home"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export STACKLSTM_CONFIG="$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export PYTHONHASHSEED=0
LOGS="$AIRFLOW_HOME/demo-logs"
mkdir -p "$LOGS"

# step NAME COMMAND...: run quietly into $LOGS/NAME.log; on failure show its tail.
step() {
  local name="$1"
  shift
  local start=$SECONDS
  printf '==> %-28s' "$name"
  if "$@" >"$LOGS/$name.log" 2>&1; then
    printf 'ok (%ds)\n' $((SECONDS - start))
  else
    local rc=$?
    printf 'FAILED (exit %d); last lines of %s:\n' "$rc" "$LOGS/$name.log"
    tail -n 40 "$LOGS/$name.log" >&2
    exit "$rc"
  fi
}

# The published rows, as one fingerprint (count and hash, published_at included).
fingerprint() {
  "$BIN/python" - <<'PY'
import hashlib
from stacklstm_fin.config import load_config
from stacklstm_fin.warehouse import connect
from stacklstm_fin.warehouse.connection import duckdb_path

cfg = load_config(__import__("os").environ["STACKLSTM_CONFIG"])
url = cfg.warehouse_url
if url.startswith("duckdb:") and not __import__("pathlib").Path(duckdb_path(url)).exists():
    print("none")
else:
    with connect(url, read_only=True) as wh:
        rows = wh.query("SELECT * FROM stacklstm.forecasts ORDER BY ticker, as_of_date, horizon")
    print(rows.height, hashlib.sha256(rows.write_csv().encode()).hexdigest()[:16])
PY
}

echo "stacklstm-fin demo: as of $AS_OF, config $STACKLSTM_CONFIG, AIRFLOW_HOME $AIRFLOW_HOME"
before="$(fingerprint 2>/dev/null || echo none)"
step "airflow db migrate" "$BIN/airflow" db migrate
step "stacklstm-fin init-db" "$BIN/stacklstm-fin" init-db --config "$STACKLSTM_CONFIG"
step "airflow dags reserialize" "$BIN/airflow" dags reserialize
"$BIN/airflow" dags list-import-errors >"$LOGS/import-errors.log" 2>&1
if ! grep -q "No data found" "$LOGS/import-errors.log"; then
  echo "DAG import errors:" >&2
  cat "$LOGS/import-errors.log" >&2
  exit 1
fi
echo "==> DAGs: $("$BIN/airflow" dags list -o plain 2>/dev/null | awk '/^stacklstm_/ {print $1}' | xargs)"
# The scheduled market-data run of that day (22:30 UTC): it loads the history up to AS_OF.
step "stacklstm_market_data" "$BIN/airflow" dags test stacklstm_market_data "${AS_OF}T22:30:00+00:00"
# Point-in-time history for the accuracy views, the notebook and the report: the ~60
# sessions before AS_OF, retraining every 20 sessions, each day forecast by its champion.
# It runs before the nightly of AS_OF because trainings run in date order (ADR 8).
step "backfill to ${BACKFILL_END}" "$BIN/stacklstm-fin" backfill \
  --config "$STACKLSTM_CONFIG" --start "$BACKFILL_START" --end "$BACKFILL_END" --retrain-every 20
# Then the nightly retrain for the as-of the prices event carries.
step "stacklstm_nightly_retrain" "$BIN/airflow" dags test stacklstm_nightly_retrain \
  "${AS_OF}T22:30:00+00:00" --conf "{\"as_of\": \"$AS_OF\"}"
after="$(fingerprint)"
step "report" "$BIN/stacklstm-fin" report --config "$STACKLSTM_CONFIG" --as-of "$AS_OF"

echo
"$BIN/stacklstm-fin" leaderboard --config "$STACKLSTM_CONFIG" --forecasts
echo
if [ "$before" = "$after" ]; then
  echo "Published forecasts unchanged since the last run ($after)."
else
  echo "Published forecasts: $after (before this run: $before)."
fi
echo "Report: $(awk '$1 == "report" {print $2}' "$LOGS/report.log")"
echo "Logs: $LOGS. Forecasts page: airflow api-server, then Browse > Forecasts (/stacklstm/)."
