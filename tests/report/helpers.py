"""Small helpers shared by the analyst tests."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from stacklstm_fin.warehouse import connect

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "sql" / "examples"


def run_sql_file(url: str, path: Path) -> pl.DataFrame:
    """Run a .sql file as an analyst's client would: the text as it is, no parameters."""
    text = path.read_text("utf-8")
    with connect(url, read_only=True) as wh:
        if wh.dialect == "duckdb":
            return wh.raw.sql(text).pl()
        with wh.raw.cursor() as cur:
            cur.execute(text)
            cols = [d.name for d in cur.description]
            rows = cur.fetchall()
    return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)
