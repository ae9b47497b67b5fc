"""Prices from a local CSV or Parquet file in the canonical columns.

The file holds ``ticker, session_date, open, high, low, close, adj_close,
volume`` (extra columns are ignored); dates as ``YYYY-MM-DD``. A requested
ticker with no row in the file is a failure.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from stacklstm_fin.exceptions import SourceError
from stacklstm_fin.schema import conform
from stacklstm_fin.sources.base import Source

SUFFIXES = (".csv", ".parquet", ".pq")


def read_price_file(path: str | Path) -> pl.DataFrame:
    """Read and conform a CSV or Parquet price file (the suffix decides)."""
    if not str(path).strip():
        raise SourceError(
            "source.files.path: expected the path of a .csv or .parquet file, got an empty "
            "value; set source.files.path in the config"
        )
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SourceError(
            f"source.files.path: expected a file ending in {', '.join(SUFFIXES)}, got {path.name!r}"
        )
    if not path.is_file():
        raise SourceError(f"source.files.path: file not found: {path}")
    # CSV as text: conform() casts strictly and names a bad column, and
    # tickers such as 0700 keep their leading zeros.
    try:
        frame = pl.read_csv(path, infer_schema=False) if suffix == ".csv" else pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"source.files.path: cannot read {path}: {first}") from None
    return conform(frame, f"source.files.path {path}")


class FilesSource(Source):
    """Prices from ``source.files.path`` (read on every fetch; files are small)."""

    name = "files"

    def __init__(self, path: str | Path) -> None:
        self.path = path

    def _fetch(
        self, tickers: tuple[str, ...], start: dt.date | None, end: dt.date
    ) -> tuple[pl.DataFrame, dict[str, str]]:
        frame = read_price_file(self.path)
        present = set(frame.get_column("ticker").unique().to_list())
        failures = {t: f"no rows in {self.path}" for t in tickers if t not in present}
        return frame.filter(pl.col("ticker").is_in(list(tickers))), failures
