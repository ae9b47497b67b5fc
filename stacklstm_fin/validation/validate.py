"""Validate a canonical price frame: rows that fail a rule go to quarantine, the rest load.

Order of judgement (the first failure wins the one-line ``failure``):

1. schema: a missing canonical column or a wrong dtype (before GX: nothing
   else can be trusted);
2. table-level expectations (ordered column list, at least one row) and GX
   errors;
3. GX and the row rules disagree on a row-level expectation (a bug: refuse
   rather than load);
4. nothing is left to load and some ticker failed (below).

A ticker *fails* when every one of its rows is bad, or, with at least
``validation.share_min_rows`` rows in the batch, when its quarantined share
is above ``validation.max_quarantine_share`` (a nightly batch has one row per
ticker: one bad row of two says nothing about the feed). Rows held or
stopped by the move rule (``unconfirmed_move``, ``level_shift``) are not
bad rows and are not counted. A failing ticker loads none of its rows; the
other tickers load, and ``ticker_failures`` names it (a level-shift stop
too). The run fails only when no row is left to load.

A failed run has an empty ``clean`` frame: nothing of it may be loaded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import ValidationConfig
from stacklstm_fin.exceptions import CalendarError, ValidationFailedError
from stacklstm_fin.schema import PRICE_COLUMNS, PRICE_SCHEMA, empty_prices
from stacklstm_fin.validation import expectations, rules

NO_ROWS = "no rows to validate"


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """What the loader needs from one validation run."""

    clean: pl.DataFrame
    quarantined: pl.DataFrame
    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    success: bool
    failure: str | None
    report: dict[str, Any]
    # Big moves that persisted (loaded) or were held, one line each.
    warnings: tuple[str, ...] = ()
    # Ticker -> why some or all of its rows did not load though the run succeeded.
    ticker_failures: dict[str, str] = dataclasses.field(default_factory=dict)

    def raise_for_failure(self) -> None:
        """Raise :class:`ValidationFailedError` with ``failure`` if the run failed."""
        if not self.success:
            raise ValidationFailedError(f"validation failed: {self.failure}")


def empty_quarantine() -> pl.DataFrame:
    """An empty quarantine frame: ``row_index``, the canonical columns and ``reason``."""
    return pl.DataFrame(schema={"row_index": pl.Int64(), **PRICE_SCHEMA, "reason": pl.String()})


def schema_problems(frame: pl.DataFrame) -> str | None:
    """One line naming missing columns or wrong dtypes, or None if the schema is usable."""
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        return (
            f"schema: missing column(s) {', '.join(missing)}; expected {', '.join(PRICE_COLUMNS)}"
        )
    wrong = [
        f"{name} is {frame.schema[name]}, expected {dtype}"
        for name, dtype in PRICE_SCHEMA.items()
        if frame.schema[name] != dtype
    ]
    if wrong:
        return (
            f"schema: wrong dtype(s): {'; '.join(wrong)}; cast with stacklstm_fin.schema.conform()"
        )
    return None


def validate_prices(
    frame: pl.DataFrame,
    cfg: ValidationConfig,
    calendar: TradingCalendar,
    *,
    history: pl.DataFrame | None = None,
) -> ValidationResult:
    """Run the row rules and the GX suite on ``frame``; split it into clean and quarantined.

    ``history`` holds each ticker's recent stored rows before the frame
    (``ticker, session_date, close, adj_close``; see
    :func:`stacklstm_fin.validation.moves.find_moves`), so the rows of an
    incremental load are judged against the ticker's own recent moves.
    """
    rows_in = frame.height
    report: dict[str, Any] = {
        "suite": expectations.SUITE_NAME,
        "calendar": calendar.name,
        "rows_in": rows_in,
    }
    problem = schema_problems(frame)
    if problem is not None:
        return _failed(rows_in, problem, report)

    dates = frame["session_date"].drop_nulls()
    sessions: list[dt.date] = []
    if dates.len():
        try:
            sessions = calendar.sessions(dates.min(), dates.max())  # type: ignore[arg-type]
        except CalendarError as exc:
            return _failed(rows_in, f"calendar: {exc}", report)
    report["sessions"] = _sessions_summary(sessions)

    canonical = frame.select(PRICE_COLUMNS)
    outcome = rules.evaluate(canonical, cfg, sessions, history=history)
    flags = outcome.flags
    reasons = rules.reason_strings(flags, outcome.details)
    report["reason_counts"] = rules.reason_counts(flags)

    gx_results = expectations.run_suite(frame, sessions)
    mirrors = expectations.mirror_counts(canonical, sessions)
    for item in gx_results:
        item["rule_count"] = mirrors.get(item["check"])
    report["expectations"] = gx_results
    report["gx_success"] = all(r["success"] for r in gx_results)

    bad = reasons.is_not_null()
    # row_index: the row's position in the input (the raw snapshot), the quarantine key.
    quarantined = (
        canonical.with_columns(reason=reasons)
        .with_row_index("row_index")
        .with_columns(pl.col("row_index").cast(pl.Int64))
        .filter(bad)
    )
    failing = _failing_tickers(canonical, flags, cfg)
    clean = canonical.filter(~bad & ~pl.col("ticker").is_in(list(failing)))
    stopped = {t: f"{t}: {why}" for t, why in outcome.moves.stopped.items()}
    failure = _judge(rows_in, gx_results)
    if failure is None and (failing or stopped) and clean.is_empty():
        failure = "; ".join(v for _, v in sorted({**stopped, **failing}.items()))
    if failure is not None:
        clean = empty_prices()
    ticker_failures = {} if failure is not None else {**outcome.moves.stopped, **failing}
    report.update(
        rows_loaded=clean.height,
        rows_quarantined=quarantined.height,
        success=failure is None,
        failure=failure,
        warnings=list(outcome.moves.warnings),
        ticker_failures=dict(sorted(ticker_failures.items())),
    )
    return ValidationResult(
        clean=clean,
        quarantined=quarantined,
        rows_in=rows_in,
        rows_loaded=clean.height,
        rows_quarantined=quarantined.height,
        success=failure is None,
        failure=failure,
        report=report,
        warnings=outcome.moves.warnings,
        ticker_failures=ticker_failures,
    )


# Rows the move rule holds or stops are not bad rows: not counted in the share.
_NOT_COUNTED = ("level_shift", "unconfirmed_move")


def _failing_tickers(
    frame: pl.DataFrame, flags: pl.DataFrame, cfg: ValidationConfig
) -> dict[str, str]:
    """Ticker -> one line, for each ticker that loads nothing: every row bad, or (with at
    least ``share_min_rows`` rows) a quarantined share over the limit."""
    counted = [r for r in rules.REASONS if r not in _NOT_COUNTED]
    per = (
        pl.DataFrame({"ticker": frame["ticker"], "bad": flags.select(pl.any_horizontal(counted))})
        .drop_nulls("ticker")
        .group_by("ticker")
        .agg(rows=pl.len(), bad=pl.col("bad").sum())
        .sort("ticker")
    )
    out = {}
    for ticker, rows, bad in per.iter_rows():
        if rows >= cfg.share_min_rows and bad / rows > cfg.max_quarantine_share:
            out[ticker] = (
                f"{ticker}: {bad} of {rows} rows quarantined ({bad / rows:.1%}), above "
                f"validation.max_quarantine_share = {cfg.max_quarantine_share:.1%}"
            )
        elif bad == rows:
            out[ticker] = f"{ticker}: {bad} of {rows} rows quarantined, none left to load"
    return out


def _judge(
    rows_in: int,
    gx_results: Sequence[Mapping[str, Any]],
) -> str | None:
    """The one-line reason the run fails, or None when it may load."""
    if rows_in == 0:
        return NO_ROWS
    for r in gx_results:
        if r["exception"] is not None:
            return f"Great Expectations could not evaluate {r['type']}: {r['exception']}"
    for r in gx_results:
        if r["level"] == "table" and not r["success"]:
            observed = r.get("observed_value")
            return f"table expectation failed: {r['type']} (observed {observed!r})"
    for r in gx_results:
        if r["level"] == "row" and r["unexpected_count"] != r["rule_count"]:
            return (
                f"Great Expectations and the row rules disagree on {r['check']}: "
                f"{r['unexpected_count']} vs {r['rule_count']} unexpected rows (a bug)"
            )
    return None


def _failed(rows_in: int, failure: str, report: dict[str, Any]) -> ValidationResult:
    """A run that failed before the rules could split the rows: nothing loads."""
    report.update(rows_loaded=0, rows_quarantined=0, success=False, failure=failure)
    return ValidationResult(
        clean=empty_prices(),
        quarantined=empty_quarantine(),
        rows_in=rows_in,
        rows_loaded=0,
        rows_quarantined=0,
        success=False,
        failure=failure,
        report=report,
    )


def _sessions_summary(sessions: Sequence[dt.date]) -> dict[str, Any]:
    return {
        "parameter": expectations.SESSIONS_PARAMETER,
        "count": len(sessions),
        "first": sessions[0].isoformat() if sessions else None,
        "last": sessions[-1].isoformat() if sessions else None,
    }
