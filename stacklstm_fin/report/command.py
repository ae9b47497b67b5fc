"""``stacklstm-fin report``: one library call for the command line and the DAG."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from stacklstm_fin.config import Config

REPORTS_DIR = "reports"


def report_command(
    cfg: Config,
    as_of: dt.date | None,
    out_dir: Path | str | None = None,
    *,
    warehouse_url: str | None = None,
) -> dict[str, Any]:
    """Write the HTML report of the configured warehouse as of ``as_of`` into ``out_dir``.

    ``as_of`` None means the newest published forecasts (any date works: the
    report uses the newest forecasts on or before it). ``out_dir`` None means
    ``<data_root>/reports``. The warehouse is opened read-only and its schema
    version checked. ``warehouse_url`` overrides the config's (Airflow passes the
    ``stacklstm_warehouse`` connection's). Returns a small summary for the CLI to
    print and a task to return.
    """
    from stacklstm_fin.report.html import render_report
    from stacklstm_fin.warehouse import check_schema, connect

    target = Path(out_dir) if out_dir is not None else cfg.data_root / REPORTS_DIR
    url = warehouse_url or cfg.warehouse_url
    with connect(url, read_only=True, lock_timeout=cfg.warehouse.lock_timeout_seconds) as wh:
        check_schema(wh)
        path = render_report(wh, as_of, target, cfg=cfg)
    return {"report": str(path.resolve()), "bytes": path.stat().st_size}
