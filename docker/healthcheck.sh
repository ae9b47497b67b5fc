#!/usr/bin/env bash
# The image's HEALTHCHECK: one image runs every Airflow component, so look at what
# this container runs (PID 1 is dumb-init; its arguments are the component's command)
# and ask that component the way Airflow's own docker-compose does.
set -euo pipefail

# HEALTHCHECK_CMDLINE stands in for PID 1's command line in tests (tests/deploy/test_static.py).
cmdline="${HEALTHCHECK_CMDLINE:-$(tr '\0' ' ' </proc/1/cmdline)}"
port="${AIRFLOW__API__PORT:-8080}"

case " ${cmdline} " in
  *" api-server "*)
    exec curl --fail --silent --show-error --max-time 15 \
      "http://localhost:${port}/api/v2/monitor/health" -o /dev/null ;;
  *" scheduler "*)
    exec airflow jobs check --job-type SchedulerJob --local ;;
  *" dag-processor "*)
    exec airflow jobs check --job-type DagProcessorJob --local ;;
  *" triggerer "*)
    exec airflow jobs check --job-type TriggererJob --local ;;
  *" celery worker "*)
    # The worker's node name: --celery-hostname / -H if given (%h is the host), else Celery's default.
    name="celery@${HOSTNAME}"
    read -r -a args <<<"${cmdline}"
    for i in "${!args[@]}"; do
      if [[ "${args[$i]}" == "--celery-hostname" || "${args[$i]}" == "-H" ]]; then
        name="${args[$((i + 1))]//%h/${HOSTNAME}}"
      fi
    done
    exec celery --app airflow.providers.celery.executors.celery_executor.app \
      inspect ping --timeout 10 --destination "${name}" ;;
  *" celery flower "*)
    exec curl --fail --silent --show-error --max-time 15 http://localhost:5555/ -o /dev/null ;;
  *)
    # One-off commands (db migrate, init, a shell): nothing long-running to check.
    exit 0 ;;
esac
