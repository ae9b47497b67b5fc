"""Ingest for one as-of session: extract -> validate -> load.

- ``extract`` fetches from the configured source (incrementally: from the day
  after the last loaded session) and writes the immutable raw snapshot
  ``<data_root>/raw/<source>/<as_of>.parquet``; a re-run reads that snapshot.
- ``validate_snapshot`` runs the Great Expectations suite and the row rules;
  each ticker's last ``validation.scale_window`` stored closes come along, so
  a nightly row is judged against the ticker's own recent moves (ADR 0009).
- ``load_batch`` writes prices, quarantine and the validation run in ONE
  transaction; a failed validation records its run and quarantined rows but
  loads no price.

The run id is derived from the snapshot's bytes and the validation settings,
so validating the same snapshot twice writes the same rows (idempotent).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from stacklstm_fin import faults
from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import Config
from stacklstm_fin.exceptions import PartialDownloadError, SnapshotError, ValidationFailedError
from stacklstm_fin.schema import PRICE_COLUMNS
from stacklstm_fin.snapshots import (
    load_or_fetch,
    read_snapshot,
    read_snapshot_info,
    snapshot_path,
)
from stacklstm_fin.sources import get_source
from stacklstm_fin.symbols import validate_tickers
from stacklstm_fin.warehouse import Warehouse, check_schema, upsert

log = logging.getLogger(__name__)

PRICES = "stacklstm.prices_daily"
QUARANTINE = "stacklstm.prices_quarantine"
RUNS = "stacklstm.validation_runs"
_PRICE_VALUES = ["open", "high", "low", "close", "adj_close", "volume", "source"]


def calendar_for(cfg: Config) -> TradingCalendar:
    return TradingCalendar(cfg.universe.calendar, cfg.universe.calendar_start)


def resolve_as_of(cfg: Config, day: dt.date) -> dt.date:
    """The session an as-of date stands for: the last session on or before it."""
    return calendar_for(cfg).snap(day)


@dataclasses.dataclass(frozen=True)
class ExtractResult:
    as_of: dt.date
    source: str
    snapshot: Path
    rows: int
    failures: dict[str, str]
    reused: bool
    # Everything requested was already loaded through as_of: nothing was fetched.
    up_to_date: bool


@dataclasses.dataclass(frozen=True)
class ValidatedBatch:
    run_id: str
    as_of: dt.date
    source: str
    clean: pl.DataFrame
    quarantined: pl.DataFrame
    success: bool
    failure: str | None
    report: dict[str, Any]
    # Rows in the snapshot (a failing ticker's good rows are in neither frame).
    rows_in: int = 0
    # Big moves loaded or held, one line each; tickers not (fully) loaded -> why.
    warnings: tuple[str, ...] = ()
    ticker_failures: dict[str, str] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_loaded": self.clean.height if self.success else 0,
            "rows_quarantined": self.quarantined.height,
            "success": self.success,
            "failure": self.failure,
            "warnings": list(self.warnings),
            "ticker_failures": dict(self.ticker_failures),
        }


def last_loaded_sessions(wh: Warehouse, tickers: Sequence[str]) -> dict[str, dt.date]:
    rows = wh.query(
        f"SELECT ticker, MAX(session_date) AS last FROM {PRICES} GROUP BY ticker",
    )
    known = dict(zip(rows["ticker"].to_list(), rows["last"].to_list(), strict=True))
    return {t: known[t] for t in tickers if t in known}


def extract(
    cfg: Config,
    wh: Warehouse,
    as_of: dt.date,
    *,
    tickers: Sequence[str] | None = None,
    refresh: bool | None = None,
) -> ExtractResult:
    """Fetch new bars up to ``as_of`` into the raw snapshot (or reuse the stored one).

    Incremental: from the day after the oldest last-loaded session of the
    requested tickers; a ticker never loaded before brings its whole history.
    A row validation held (a big move with no next session yet, ADR 0009) is
    not loaded, so the next run fetches it again and judges it then.
    """
    as_of = resolve_as_of(cfg, as_of)
    tickers = validate_tickers(tickers or cfg.universe.tickers)
    name = cfg.source.name
    last = last_loaded_sessions(wh, tickers)
    start = None if len(last) < len(tickers) else min(last.values()) + dt.timedelta(days=1)
    if start is None and name == "yfinance":
        start = cfg.source.yfinance.start
    loaded = load_or_fetch(
        get_source(cfg),
        cfg.data_root,
        as_of,
        tickers,
        start,
        refresh=cfg.source.refresh if refresh is None else refresh,
        allow_partial=True,
    )
    up_to_date = start is not None and start > as_of
    log.info(
        "as_of %s: %s %d rows from %s (%s)",
        as_of,
        "reused" if loaded.reused else "fetched",
        loaded.prices.height,
        name,
        "up to date" if up_to_date else loaded.path,
    )
    return ExtractResult(
        as_of,
        name,
        loaded.path,
        loaded.prices.height,
        dict(loaded.failures),
        loaded.reused,
        up_to_date,
    )


def validate_snapshot(cfg: Config, wh: Warehouse, as_of: dt.date) -> ValidatedBatch:
    """Validate the stored raw snapshot of ``as_of`` (no write)."""
    from stacklstm_fin.validation import validate_prices

    as_of = resolve_as_of(cfg, as_of)
    path = snapshot_path(cfg.data_root, cfg.source.name, as_of)
    frame = read_snapshot(cfg.data_root, cfg.source.name, as_of)
    info = read_snapshot_info(cfg.data_root, cfg.source.name, as_of)
    if frame is None or info is None:
        raise SnapshotError(
            f"--as-of {as_of}: no raw snapshot at {path}; run `stacklstm-fin ingest` first"
        )
    settings = json.dumps(dataclasses.asdict(cfg.validation), sort_keys=True)
    digest = hashlib.sha256(path.read_bytes() + settings.encode()).hexdigest()
    run_id = f"{cfg.source.name}-{as_of.isoformat()}-{digest[:16]}"
    report_extra: dict[str, Any] = {
        "source_failures": info.failures,
        "rows_after_as_of": _after_as_of(info.rows_after_end),
    }
    if frame.height == 0:
        # Nothing new since the last load (e.g. a re-run after a later as-of).
        empty = frame.with_columns(pl.lit("").alias("reason")).head(0)
        return ValidatedBatch(
            run_id, as_of, cfg.source.name, frame, empty, True, None, {"rows_in": 0, **report_extra}
        )
    history = recent_history(wh, frame, cfg.validation.scale_window)
    result = validate_prices(frame, cfg.validation, calendar_for(cfg), history=history)
    report = {**result.report, **report_extra}
    for line in result.warnings:
        log.warning("as_of %s: %s", as_of, line)
    for ticker, why in result.ticker_failures.items():
        log.error("as_of %s: %s not (fully) loaded: %s", as_of, ticker, why)
    return ValidatedBatch(
        run_id,
        as_of,
        cfg.source.name,
        result.clean,
        result.quarantined,
        result.success,
        result.failure,
        report,
        rows_in=result.rows_in,
        warnings=result.warnings,
        ticker_failures=result.ticker_failures,
    )


def _after_as_of(rows_after_end: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"count": N, "by_ticker": {...}}``: rows the source had after the as-of."""
    count = sum(int(v["rows"]) for v in rows_after_end.values())
    return {"count": count, "by_ticker": dict(sorted(rows_after_end.items()))}


def load_batch(wh: Warehouse, batch: ValidatedBatch) -> dict[str, Any]:
    """Write one validation run in one transaction; raise if it failed."""
    check_schema(wh)
    now = dt.datetime.now(dt.UTC)
    loaded = batch.clean.height if batch.success else 0
    quarantine = batch.quarantined.with_columns(
        pl.lit(batch.run_id).alias("run_id"),
        pl.lit(now).alias("quarantined_at"),
    )
    run_row = pl.DataFrame(
        {
            "run_id": [batch.run_id],
            "as_of": [batch.as_of],
            "source": [batch.source],
            "rows_in": [batch.rows_in],
            "rows_loaded": [loaded],
            "rows_quarantined": [batch.quarantined.height],
            "success": [batch.success],
            "failure": [batch.failure],
            "report": [json.dumps(batch.report, sort_keys=True, default=str)],
            "validated_at": [now],
        },
        schema_overrides={"failure": pl.String()},
    )
    with wh.transaction():
        if batch.success and loaded:
            prices = batch.clean.select(PRICE_COLUMNS).with_columns(
                pl.lit(batch.source).alias("source"), pl.lit(now).alias("ingested_at")
            )
            upsert(wh, PRICES, prices, ["ticker", "session_date"], compare=_PRICE_VALUES)
        faults.point("load.after_prices")
        upsert(wh, QUARANTINE, quarantine, ["run_id", "row_index"], update=False)
        upsert(wh, RUNS, run_row, ["run_id"], update=False)
    summary = batch.summary()
    if not batch.success:
        raise ValidationFailedError(
            f"validation of {batch.source} as of {batch.as_of} failed: {batch.failure} "
            f"(run {batch.run_id}; nothing loaded)"
        )
    return summary


def ingest(
    cfg: Config,
    wh: Warehouse,
    as_of: dt.date,
    *,
    tickers: Sequence[str] | None = None,
    refresh: bool | None = None,
) -> dict[str, Any]:
    """Extract, validate and load one as-of; vendor failures are raised after the load."""
    check_schema(wh)
    extracted = extract(cfg, wh, as_of, tickers=tickers, refresh=refresh)
    if extracted.up_to_date and not extracted.snapshot.exists():
        # Loaded through a later as-of already (e.g. a backfill going backwards).
        return {
            "as_of": extracted.as_of.isoformat(),
            "source": extracted.source,
            "rows_loaded": 0,
            "success": True,
            "up_to_date": True,
        }
    batch = validate_snapshot(cfg, wh, extracted.as_of)
    summary = load_batch(wh, batch)
    summary["snapshot"] = str(extracted.snapshot)
    summary["reused_snapshot"] = extracted.reused
    summary["up_to_date"] = extracted.up_to_date
    if extracted.failures:
        detail = "; ".join(f"{t}: {r}" for t, r in sorted(extracted.failures.items()))
        raise PartialDownloadError(
            f"ingest as of {extracted.as_of}: loaded {summary['rows_loaded']} rows, but "
            f"{len(extracted.failures)} ticker(s) failed ({detail}); re-run to fetch them",
            extracted.failures,
        )
    return summary


def recent_history(wh: Warehouse, frame: pl.DataFrame, n: int) -> pl.DataFrame:
    """Each ticker's last ``n`` stored rows before its first row in ``frame``.

    Columns ``ticker, session_date, close, adj_close``, the history the move
    rule (:mod:`stacklstm_fin.validation.moves`) judges a batch against.
    """
    from stacklstm_fin.validation.moves import HISTORY_SCHEMA, empty_history

    firsts = frame.group_by("ticker").agg(pl.col("session_date").min().alias("first"))
    parts = []
    for ticker, first in firsts.sort("ticker").iter_rows():
        if ticker is None or first is None:
            continue
        rows = wh.query(
            f"SELECT ticker, session_date, close, adj_close FROM {PRICES} "
            "WHERE ticker = :t AND session_date < :d ORDER BY session_date DESC LIMIT :n",
            {"t": ticker, "d": first, "n": n},
        )
        if rows.height:
            parts.append(rows.select(pl.col(c).cast(t) for c, t in HISTORY_SCHEMA.items()))
    return pl.concat(parts).sort("ticker", "session_date") if parts else empty_history()
