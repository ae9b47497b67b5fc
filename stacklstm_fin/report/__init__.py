"""What analysts look at: the data, the charts and the static HTML report.

The notebook ``notebooks/analyst_report.ipynb`` and ``stacklstm-fin report``
share these functions, so both show the same numbers and pictures:

- :mod:`~stacklstm_fin.report.data`: :func:`collect` reads everything as of a date;
- :mod:`~stacklstm_fin.report.charts`: the leaderboard, forecast-fan and accuracy charts;
- :mod:`~stacklstm_fin.report.svg` and :mod:`~stacklstm_fin.report.timechart`: the
  dependency-free SVG drawing they use (bars; lines and bands over dates);
- :mod:`~stacklstm_fin.report.html`: :func:`render_report` writes the HTML file;
- :mod:`~stacklstm_fin.report.command`: :func:`report_command` for the CLI;
- :mod:`~stacklstm_fin.report.notebook`: configuration lookup for the notebook.
"""

from stacklstm_fin.report.charts import (
    accuracy_chart,
    all_charts,
    fan_chart_id,
    forecast_fan_chart,
    leaderboard_chart,
)
from stacklstm_fin.report.command import report_command
from stacklstm_fin.report.data import ReportData, ReportError, collect
from stacklstm_fin.report.html import render_report, report_html, table_html
from stacklstm_fin.report.svg import Chart

__all__ = [
    "Chart",
    "ReportData",
    "ReportError",
    "accuracy_chart",
    "all_charts",
    "collect",
    "fan_chart_id",
    "forecast_fan_chart",
    "leaderboard_chart",
    "render_report",
    "report_command",
    "report_html",
    "table_html",
]
