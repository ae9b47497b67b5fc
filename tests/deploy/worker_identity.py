"""``[core] hostname_callable`` for the distributed test's Celery workers.

Both workers run on one machine, so the real host name cannot tell them apart
in the task-instance records. Each worker process gets ``DEPLOYTEST_WORKER_NAME``
in its environment and ``AIRFLOW__CORE__HOSTNAME_CALLABLE`` pointing here; the
task runner reports this name as the task instance's ``hostname``, exactly
where a multi-host deployment would report the real host.
"""

from __future__ import annotations

import os


def worker_name() -> str:
    return os.environ["DEPLOYTEST_WORKER_NAME"]
