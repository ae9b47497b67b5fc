"""Validate a canonical price frame: rows that fail a rule go to quarantine, the rest load.

Order of judgement (the first failure wins the one-line ``failure``):

1. schema: a missing canonical column or a wrong dtype (before GX: nothing
   else can be trusted);
2. table-level expectations (ordered column list, at least one row) and GX
   errors;
3. GX and the row rules disagree on a row-level expectation (a bug: refuse
   rather than load);
4. the quarantined share is above ``validation.max_quarantine_share``.

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
    prev_close: Mapping[str, float] | None = None,
) -> ValidationResult:
    """Run the row rules and the GX suite on ``frame``; split it into clean and quarantined.

    ``prev_close`` maps a ticker to its last stored close, so the first row of
    an incremental load is checked for an extreme return too.
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
    flags = rules.reason_flags(canonical, cfg, sessions, prev_close=prev_close)
    reasons = rules.reason_strings(flags)
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
    clean = canonical.filter(~bad)
    failure = _judge(rows_in, quarantined.height, cfg, gx_results)
    if failure is not None:
        clean = empty_prices()
    report.update(
        rows_loaded=clean.height,
        rows_quarantined=quarantined.height,
        success=failure is None,
        failure=failure,
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
    )


def _judge(
    rows_in: int,
    rows_quarantined: int,
    cfg: ValidationConfig,
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
    share = rows_quarantined / rows_in
    if share > cfg.max_quarantine_share:
        return (
            f"{rows_quarantined} of {rows_in} rows quarantined ({share:.1%}), above "
            f"validation.max_quarantine_share = {cfg.max_quarantine_share:.1%}"
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
