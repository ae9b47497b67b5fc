"""Row-level rules computed in polars: one boolean flag per reason code.

Every rule looks at a canonical price frame (``stacklstm_fin.schema``) and
answers, per row, "is this row bad for this reason?". A row may fail several
rules; :func:`reason_strings` joins them with ``;`` in the order of
:data:`REASONS`, which is stable.

Missing values: polars distinguishes null from NaN. ``null_value`` is a null
in any canonical column, ``non_finite`` a NaN or an infinity in a float
column. Comparisons (``non_positive_price``, ``high_below_open_close``, ...)
only judge values that are present (neither null nor NaN), so a missing
value gives exactly one reason, not a cascade.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import polars as pl

from stacklstm_fin.config import ValidationConfig
from stacklstm_fin.schema import PRICE_COLUMNS, PRICE_KEY
from stacklstm_fin.validation.moves import MOVE_REASONS, ROW, MoveFindings, find_moves

PRICE_VALUE_COLUMNS = ("open", "high", "low", "close", "adj_close")
FLOAT_COLUMNS = (*PRICE_VALUE_COLUMNS, "volume")
OHLC = ("open", "high", "low", "close")

# The order in which reasons are joined; never reorder (stored reason strings).
REASONS = (
    "null_value",
    "non_finite",
    "non_positive_price",
    "negative_volume",
    "high_below_open_close",
    "low_above_open_close",
    "duplicate_key",
    "not_a_session",
    "stale_price",
    # Price moves (validation/moves.py); "extreme_return" (a fixed |log return|
    # limit) was retired with ADR 0009 and is no longer produced.
    *MOVE_REASONS,
)

_ROW = ROW


def present(column: str) -> pl.Expr:
    """True where a float value is there to compare: neither null nor NaN."""
    col = pl.col(column)
    return (col.is_not_null() & col.is_not_nan()).fill_null(False)


def missing(column: str) -> pl.Expr:
    """True where a value is null, or NaN for a float column (pandas' idea of missing)."""
    col = pl.col(column)
    if column in FLOAT_COLUMNS:
        return (col.is_null() | col.is_nan()).fill_null(True)
    return col.is_null()


def below(a: str, b: str) -> pl.Expr:
    """True where both values are present and ``a < b``."""
    return present(a) & present(b) & (pl.col(a) < pl.col(b)).fill_null(False)


def duplicate_key() -> pl.Expr:
    """Every copy of a repeated (ticker, session_date); an all-null key is no key."""
    key = pl.struct(list(PRICE_KEY))
    has_key = pl.any_horizontal(pl.col(c).is_not_null() for c in PRICE_KEY)
    return has_key & key.is_duplicated().fill_null(False)


def not_a_session(sessions: Sequence[dt.date]) -> pl.Expr:
    """True where a date is given and is not one of ``sessions``."""
    col = pl.col("session_date")
    known = pl.lit(pl.Series(list(sessions), dtype=pl.Date())).implode()
    return col.is_not_null() & ~col.is_in(known).fill_null(True)


def _stale(frame: pl.DataFrame, k: int) -> pl.Series:
    """Flag rows from the k-th of >= k consecutive rows with identical OHLC (per ticker)."""
    ordered = frame.sort(["ticker", "session_date", _ROW], maintain_order=True)
    same = pl.all_horizontal(
        present(c) & (pl.col(c) == pl.col(c).shift(1).over("ticker")).fill_null(False) for c in OHLC
    )
    flagged = (
        ordered.with_columns(same=same)
        .with_columns(run=(~pl.col("same")).cum_sum().over("ticker"))
        .with_columns(pos=pl.int_range(1, pl.len() + 1).over(["ticker", "run"]))
        .select(_ROW, flag=pl.col("pos") >= k)
        .sort(_ROW)
    )
    return flagged["flag"]


@dataclasses.dataclass(frozen=True)
class RuleOutcome:
    """The rules' verdict on a frame: flags per reason, and what the move rule found."""

    # One boolean column per reason in REASONS, aligned with the frame's rows.
    flags: pl.DataFrame
    # A one-line detail per row (the move rule's), else null; aligned likewise.
    details: pl.Series
    moves: MoveFindings


def evaluate(
    frame: pl.DataFrame,
    cfg: ValidationConfig,
    sessions: Sequence[dt.date],
    *,
    history: pl.DataFrame | None = None,
) -> RuleOutcome:
    """Run every rule on ``frame`` (canonical columns and dtypes).

    ``sessions`` are the calendar's sessions covering the frame's date range;
    ``history`` holds stored rows (``ticker, session_date, close, adj_close``)
    before the frame's, so an incremental batch is judged against the
    ticker's recent moves (see :mod:`stacklstm_fin.validation.moves`).
    """
    data = frame.select(PRICE_COLUMNS).with_row_index(_ROW)
    row_exprs = {
        "null_value": pl.any_horizontal(pl.col(c).is_null() for c in PRICE_COLUMNS),
        "non_finite": pl.any_horizontal(
            (pl.col(c).is_nan() | pl.col(c).is_infinite()).fill_null(False) for c in FLOAT_COLUMNS
        ),
        "non_positive_price": pl.any_horizontal(
            present(c) & (pl.col(c) <= 0).fill_null(False) for c in PRICE_VALUE_COLUMNS
        ),
        "negative_volume": present("volume") & (pl.col("volume") < 0).fill_null(False),
        "high_below_open_close": below("high", "open") | below("high", "close"),
        "low_above_open_close": below("open", "low") | below("close", "low"),
        "duplicate_key": duplicate_key(),
        "not_a_session": not_a_session(sessions),
    }
    flags = data.select(_ROW, **row_exprs)
    # Series rules see only rows that pass the row rules above, so one broken
    # row neither breaks a stale run nor fakes a jump for its neighbour.
    broken = flags.select(pl.any_horizontal(list(row_exprs)).alias("broken"))["broken"]
    base = data.filter(~broken)
    moves = find_moves(base, cfg, history)
    series = base.select(_ROW, stale_price=_stale(base, cfg.stale_sessions)).join(
        moves.flags, on=_ROW, how="left", maintain_order="left"
    )
    flags = flags.join(series, on=_ROW, how="left", maintain_order="left")
    return RuleOutcome(
        flags=flags.select(pl.col(r).fill_null(False) for r in REASONS),
        details=flags["move_detail"],
        moves=moves,
    )


def reason_flags(
    frame: pl.DataFrame,
    cfg: ValidationConfig,
    sessions: Sequence[dt.date],
    *,
    history: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One boolean column per reason in :data:`REASONS`, aligned with ``frame``'s rows."""
    return evaluate(frame, cfg, sessions, history=history).flags


def reason_strings(flags: pl.DataFrame, details: pl.Series | None = None) -> pl.Series:
    """The reasons of each row joined with ``;`` (in :data:`REASONS` order); null if none.

    A row with a detail gets it in parentheses: ``price_spike (AAA 2018-03-05: ...)``.
    """
    parts = [pl.when(pl.col(r)).then(pl.lit(r)) for r in REASONS]
    joined = flags.select(reason=pl.concat_str(parts, separator=";", ignore_nulls=True))
    reasons = joined["reason"].replace("", None)
    if details is None:
        return reasons
    both = pl.DataFrame({"reason": reasons, "detail": details})
    return both.select(
        pl.when(pl.col("detail").is_not_null())
        .then(pl.format("{} ({})", "reason", "detail"))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )["reason"]


def reason_counts(flags: pl.DataFrame) -> dict[str, int]:
    """How many rows fail each reason (zeros included), as plain ints."""
    sums = flags.select(pl.col(r).sum() for r in REASONS).row(0)
    return {r: int(n or 0) for r, n in zip(REASONS, sums, strict=True)}
