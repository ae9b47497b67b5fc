"""Raw snapshots: what a source returned for one as-of, kept as parquet.

``<data_root>/raw/<source>/<as_of>.parquet`` holds the canonical prices; its
key-value metadata (key ``stacklstm_fin.snapshot``, JSON) records the tickers
requested, the failures (ticker -> reason) and the start of the fetch, so a
re-run can tell whether the snapshot covers what it needs. Files are written
to a temporary file in the same folder, fsynced, then renamed over the
target: a reader sees the old complete file or the new complete file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from stacklstm_fin.atomic import atomic_writer
from stacklstm_fin.exceptions import SnapshotError
from stacklstm_fin.schema import conform, empty_prices
from stacklstm_fin.sources.base import Source
from stacklstm_fin.symbols import NAME_PATTERN, validate_tickers

METADATA_KEY = "stacklstm_fin.snapshot"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot's metadata: what was asked for and what failed."""

    path: Path
    source: str
    as_of: dt.date
    tickers: tuple[str, ...]
    failures: dict[str, str]
    start: dt.date | None
    # Rows the source had after the as-of (not in the snapshot): ticker -> counts.
    rows_after_end: dict[str, Any] = dataclasses.field(default_factory=dict)

    def covers(self, tickers: Sequence[str], start: dt.date | None) -> bool:
        """True if every ticker was fetched without failure from ``start`` or earlier."""
        fetched = set(self.tickers) - set(self.failures)
        if not set(tickers) <= fetched:
            return False
        return self.start is None or (start is not None and self.start <= start)


@dataclasses.dataclass(frozen=True)
class LoadedSnapshot:
    """Prices for one as-of, read back from the snapshot (``reused``) or freshly fetched."""

    prices: pl.DataFrame
    failures: dict[str, str]
    path: Path
    reused: bool


def _check(source: str, as_of: dt.date) -> None:
    if not isinstance(source, str) or not NAME_PATTERN.fullmatch(source):
        raise SnapshotError(
            f"source: expected a name of letters, digits, '_' or '-' (at most 64), got {source!r}"
        )
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise SnapshotError(f"as_of: expected a date, got {as_of!r}")


def snapshot_path(data_root: Path, source: str, as_of: dt.date) -> Path:
    """``<data_root>/raw/<source>/<as_of ISO>.parquet``."""
    _check(source, as_of)
    return Path(data_root) / "raw" / source / f"{as_of.isoformat()}.parquet"


def write_snapshot(
    data_root: Path,
    source: str,
    as_of: dt.date,
    frame: pl.DataFrame,
    *,
    tickers: Sequence[str] | None = None,
    failures: Mapping[str, str] | None = None,
    start: dt.date | None = None,
    rows_after_end: Mapping[str, Any] | None = None,
) -> Path:
    """Write the snapshot atomically (temp file, fsync, rename) and return its path.

    ``tickers`` defaults to those present in ``frame``. Rows after ``as_of``
    are refused: a snapshot never holds the future of its as-of.
    """
    path = snapshot_path(data_root, source, as_of)
    prices = conform(frame, f"snapshot {source} {as_of.isoformat()}")
    late = prices.filter(pl.col("session_date") > as_of)
    if late.height:
        raise SnapshotError(
            f"snapshot {source} {as_of.isoformat()}: expected rows on or before the as-of, "
            f"got {late.height} later row(s) (first {late.row(0, named=True)['session_date']})"
        )
    requested = (
        validate_tickers(tickers)
        if tickers is not None
        else tuple(sorted(prices.get_column("ticker").unique().to_list()))
    )
    meta = {
        "format": FORMAT_VERSION,
        "source": source,
        "as_of": as_of.isoformat(),
        "tickers": list(requested),
        "failures": dict(sorted((failures or {}).items())),
        "start": start.isoformat() if start is not None else None,
        "rows_after_end": dict(sorted((rows_after_end or {}).items())),
    }
    with atomic_writer(path) as fh:
        prices.write_parquet(fh, metadata={METADATA_KEY: json.dumps(meta)})
    return path


def _unreadable(path: Path, exc: BaseException) -> SnapshotError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return SnapshotError(
        f"snapshot {path}: unreadable ({first}); delete it or fetch again with refresh"
    )


def read_snapshot(data_root: Path, source: str, as_of: dt.date) -> pl.DataFrame | None:
    """The stored prices for this as-of, or None if there is no snapshot."""
    path = snapshot_path(data_root, source, as_of)
    if not path.is_file():
        return None
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, exc) from None
    return conform(frame, f"snapshot {path}")


def read_snapshot_info(data_root: Path, source: str, as_of: dt.date) -> SnapshotInfo | None:
    """The snapshot's metadata, or None if there is no snapshot."""
    path = snapshot_path(data_root, source, as_of)
    if not path.is_file():
        return None
    try:
        raw = pl.read_parquet_metadata(path).get(METADATA_KEY)
        meta = json.loads(raw) if raw is not None else None
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot {path}: expected metadata {METADATA_KEY!r} of format {FORMAT_VERSION}, "
            f"got {meta!r}; delete it or fetch again with refresh"
        )
    try:
        start = meta.get("start")
        return SnapshotInfo(
            path=path,
            source=str(meta["source"]),
            as_of=dt.date.fromisoformat(meta["as_of"]),
            tickers=tuple(meta["tickers"]),
            failures=dict(meta["failures"]),
            start=dt.date.fromisoformat(start) if start else None,
            rows_after_end=dict(meta.get("rows_after_end") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def load_or_fetch(
    source: Source,
    data_root: Path,
    as_of: dt.date,
    tickers: Sequence[str],
    start: dt.date | None,
    *,
    refresh: bool = False,
    allow_partial: bool = False,
) -> LoadedSnapshot:
    """Prices for ``tickers`` in ``[start, as_of]``: from the stored snapshot if it covers
    them, else fetched from ``source`` and written as the new snapshot for this as-of.

    ``refresh`` always fetches. A snapshot covers the request when every ticker
    was fetched without failure from ``start`` or earlier. A fetch with failures
    raises :class:`PartialDownloadError` (nothing written) unless ``allow_partial``;
    then the snapshot records the failures and the next run fetches again. A
    ``start`` after ``as_of`` (nothing new to load) returns no rows and writes nothing.
    """
    requested = validate_tickers(tickers) or source.default_tickers()
    if start is not None and start > as_of:  # already up to date: write nothing
        return LoadedSnapshot(
            empty_prices(), {}, snapshot_path(data_root, source.name, as_of), False
        )
    info = None if refresh else read_snapshot_info(data_root, source.name, as_of)
    stored = None
    if info is not None and info.covers(requested, start):
        # None only if the file vanished since its metadata was read: fetch again.
        stored = read_snapshot(data_root, source.name, as_of)
    if info is not None and stored is not None:
        keep = pl.col("ticker").is_in(list(requested))
        if start is not None:
            keep = keep & (pl.col("session_date") >= start)
        return LoadedSnapshot(stored.filter(keep), {}, info.path, reused=True)
    result = source.fetch(requested, start, as_of, allow_partial=allow_partial)
    path = write_snapshot(
        data_root,
        source.name,
        as_of,
        result.prices,
        tickers=requested,
        failures=result.failures,
        start=start,
        rows_after_end=result.rows_after_end,
    )
    return LoadedSnapshot(result.prices, result.failures, path, reused=False)
