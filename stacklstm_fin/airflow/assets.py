"""The assets the DAGs produce: validated prices and published forecasts.

Each event's ``extra`` carries the session it is about (``{"as_of": "YYYY-MM-DD"}``),
so a run triggered by the event knows its as-of without a logical date.
"""

from __future__ import annotations

from airflow.sdk import Asset

PRICES = Asset(
    name="stacklstm.prices_daily",
    uri="stacklstm://warehouse/prices_daily",
    group="stacklstm",
)
FORECASTS = Asset(
    name="stacklstm.forecasts",
    uri="stacklstm://warehouse/forecasts",
    group="stacklstm",
)
