"""The Airflow 3 layer: the only part of ``stacklstm_fin`` that imports Airflow.

- :mod:`.runtime` - config location, a run's as-of, retry rules;
- :mod:`.hooks` - the ``stacklstm_warehouse`` connection as a warehouse client;
- :mod:`.assets` - the prices and forecasts assets;
- :mod:`.web`, :mod:`.chart`, :mod:`.plugin` - the read-only Forecasts page.

The DAG files in ``dags/`` are thin schedules over these and over
``stacklstm_fin.pipeline``. This ``__init__`` imports nothing, so reading the
provider info below costs no Airflow import.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for the ``apache_airflow_provider`` entry point."""
    from stacklstm_fin import __version__

    return {
        "package-name": "stacklstm-fin",
        "name": "stacklstm-fin",
        "description": "Daily market data to published, auditable forecasts "
        "(warehouse connection type and hook).",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "duckdb",
                "hook-class-name": "stacklstm_fin.airflow.hooks.StackLSTMWarehouseHook",
                "hook-name": "stacklstm-fin warehouse (DuckDB file)",
            }
        ],
    }
