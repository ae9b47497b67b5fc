"""Bulk, idempotent loads: a frame in, one set-based statement per table.

DuckDB reads the frame through Arrow; PostgreSQL gets it through ``COPY`` into a
temporary staging table. Either way the target sees one
``INSERT ... SELECT ... ON CONFLICT`` statement, never row-by-row inserts.
An upsert only rewrites a row whose values changed, so loading the same data
twice leaves every column, timestamps included, as it was.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence

import polars as pl

from stacklstm_fin.warehouse.connection import Warehouse

_stage_ids = itertools.count()


def upsert(
    wh: Warehouse,
    table: str,
    frame: pl.DataFrame,
    key: Sequence[str],
    *,
    compare: Sequence[str] | None = None,
    update: bool = True,
) -> int:
    """Insert ``frame`` into ``table``; rows whose key exists are updated.

    ``compare`` lists the columns whose change triggers an update (default: all
    non-key columns); the other non-key columns (e.g. ``ingested_at``) are then
    only refreshed along with them. ``update=False`` keeps existing rows
    (``DO NOTHING``). Keys repeated inside ``frame`` are an error: which copy
    wins must be decided by the caller, not by the engine.
    Returns the number of rows in ``frame``.
    """
    if frame.height == 0:
        return 0
    dupes = frame.select(key).is_duplicated().sum()
    if dupes:
        raise ValueError(f"upsert into {table}: {dupes} rows repeat a key {list(key)}")
    columns = frame.columns
    non_key = [c for c in columns if c not in key]
    compare = list(compare) if compare is not None else non_key
    col_list = ", ".join(columns)
    if update and non_key:
        assignments = ", ".join(f"{c} = excluded.{c}" for c in non_key)
        changed = " OR ".join(f"{table}.{c} IS DISTINCT FROM excluded.{c}" for c in compare)
        conflict = f"DO UPDATE SET {assignments}" + (f" WHERE {changed}" if changed else "")
    else:
        conflict = "DO NOTHING"
    stage = f"_stacklstm_stage_{next(_stage_ids)}"
    with wh.transaction():
        if wh.dialect == "duckdb":
            wh.raw.register(stage, frame.to_arrow())
            try:
                wh.execute(
                    f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {stage} "
                    f"ON CONFLICT ({', '.join(key)}) {conflict}"
                )
            finally:
                wh.raw.unregister(stage)
        else:
            _copy_to_stage(wh, table, stage, frame)
            wh.execute(
                f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {stage} "
                f"ON CONFLICT ({', '.join(key)}) {conflict}"
            )
            wh.execute(f"DROP TABLE {stage}")
    return frame.height


def insert(wh: Warehouse, table: str, frame: pl.DataFrame) -> int:
    """Plain bulk insert (the table has no rows with these keys yet)."""
    if frame.height == 0:
        return 0
    stage = f"_stacklstm_stage_{next(_stage_ids)}"
    col_list = ", ".join(frame.columns)
    with wh.transaction():
        if wh.dialect == "duckdb":
            wh.raw.register(stage, frame.to_arrow())
            try:
                wh.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {stage}")
            finally:
                wh.raw.unregister(stage)
        else:
            _copy_to_stage(wh, table, stage, frame)
            wh.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {stage}")
            wh.execute(f"DROP TABLE {stage}")
    return frame.height


def _copy_to_stage(wh: Warehouse, table: str, stage: str, frame: pl.DataFrame) -> None:
    """COPY ``frame`` into a temporary table shaped like ``table`` (PostgreSQL)."""
    cols = ", ".join(frame.columns)
    wh.execute(f"CREATE TEMPORARY TABLE {stage} AS SELECT {cols} FROM {table} WITH NO DATA")
    binary = [c for c, t in frame.schema.items() if t == pl.Binary()]
    with wh.raw.cursor() as cur:
        if binary:
            # Model bytes: a handful of rows, sent through COPY's row interface.
            with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
                for row in frame.iter_rows():
                    copy.write_row(row)
            return
        buf = io.BytesIO()
        frame.write_csv(buf, include_header=False, null_value="", quote_style="necessary")
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
