"""Run one DAG with ``dag.test()`` and print its outcome as one JSON line.

Usage: ``python dagtest.py '{"dag_id": ..., "logical_date": ..., "conf": {...}, "retries": N}'``.
``logical_date`` null makes a run without a logical date (as asset-triggered
and most manual runs are); ``retries`` N sets every task to N retries without
delay, so retry paths run in seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

from airflow.dag_processing.dagbag import DagBag
from sqlalchemy import select

RESULT_MARK = "@@DAGTEST@@"


def plain(state: object) -> str | None:
    """A state enum or string as its plain value."""
    return None if state is None else str(getattr(state, "value", state))


def main(spec: dict) -> None:
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.get_dag(spec["dag_id"])
    if spec.get("retries") is not None:
        for task in dag.tasks:
            task.retries = spec["retries"]
            task.retry_delay = dt.timedelta(0)
            task.retry_exponential_backoff = 0
    logical = spec.get("logical_date")
    run = dag.test(
        logical_date=dt.datetime.fromisoformat(logical) if logical else None,
        run_conf=spec.get("conf") or None,
    )
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id
            )
        ).all()
        tasks = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): {
                "state": plain(ti.state),
                "try_number": ti.try_number,
                "rendered_map_index": ti.rendered_map_index,
            }
            for ti in tis
        }
    print(RESULT_MARK + json.dumps({"state": plain(run.state), "run_id": run.run_id,
                                    "tasks": tasks}))  # fmt: skip


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
