"""The Great Expectations suite ``stacklstm_prices`` and how it is run.

Each expectation is described by a :class:`Check`: the GX class, its kwargs,
and for a row-level expectation the polars expression that counts the rows GX
should find unexpected (its *mirror*) and the row rule reason it matches. The
mirror encodes GX's pandas semantics exactly (NaN counts as missing; column
pair and set expectations skip missing values), so ``validate_prices`` can
check that GX and the row rules agree.

GX is imported inside functions only: importing it costs seconds, and DAG
parsing must stay fast. The context, data source and suite are built once per
process and reused; the calendar sessions reach the suite as a run parameter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import math
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from stacklstm_fin.schema import PRICE_COLUMNS, PRICE_KEY
from stacklstm_fin.validation import rules

SUITE_NAME = "stacklstm_prices"
SESSIONS_PARAMETER = "sessions"
# Prices and volumes must be finite: inf is above the largest float.
FINITE_MAX = sys.float_info.max
_DATASOURCE, _ASSET, _BATCH = "stacklstm_prices", "frame", "whole_frame"
_LOCK = threading.Lock()

Mirror = Callable[[Sequence[dt.date]], pl.Expr]


@dataclasses.dataclass(frozen=True)
class Check:
    """One expectation of the suite and, for a row-level one, its polars mirror."""

    name: str
    expectation: str
    kwargs: Mapping[str, Any]
    reason: str | None = None
    mirror: Mirror | None = None

    @property
    def table_level(self) -> bool:
        return self.mirror is None


def _const(expr: pl.Expr) -> Mirror:
    return lambda _sessions: expr


def _between(column: str, strict_min: bool) -> Check:
    present = rules.present(column)
    if strict_min:
        bad, reason = pl.col(column) <= 0, "non_positive_price"
    else:
        bad, reason = pl.col(column) < 0, "negative_volume"
    out_of_range = present & (bad | pl.col(column).is_infinite()).fill_null(False)
    return Check(
        name=f"between[{column}]",
        expectation="ExpectColumnValuesToBeBetween",
        kwargs={
            "column": column,
            "min_value": 0.0,
            "max_value": FINITE_MAX,
            "strict_min": strict_min,
        },
        reason=reason,
        mirror=_const(out_of_range),
    )


def _pair(a: str, b: str, reason: str) -> Check:
    return Check(
        name=f"{a}>={b}",
        expectation="ExpectColumnPairValuesAToBeGreaterThanB",
        kwargs={
            "column_A": a,
            "column_B": b,
            "or_equal": True,
            "ignore_row_if": "either_value_is_missing",
        },
        reason=reason,
        mirror=_const(rules.below(a, b)),
    )


@functools.cache
def checks() -> tuple[Check, ...]:
    """Every expectation of the suite, table-level ones first."""
    out = [
        Check(
            "columns",
            "ExpectTableColumnsToMatchOrderedList",
            {"column_list": list(PRICE_COLUMNS)},
        ),
        Check("row_count", "ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Check(
            "unique_key",
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": list(PRICE_KEY)},
            reason="duplicate_key",
            mirror=_const(rules.duplicate_key()),
        ),
    ]
    for column in PRICE_COLUMNS:
        out.append(
            Check(
                f"not_null[{column}]",
                "ExpectColumnValuesToNotBeNull",
                {"column": column},
                # NaN is missing to pandas: GX counts it here, the rules call it non_finite.
                reason="null_value",
                mirror=_const(rules.missing(column)),
            )
        )
    out += [_between(c, strict_min=True) for c in rules.PRICE_VALUE_COLUMNS]
    out.append(_between("volume", strict_min=False))
    out += [
        _pair("high", "open", "high_below_open_close"),
        _pair("high", "close", "high_below_open_close"),
        _pair("open", "low", "low_above_open_close"),
        _pair("close", "low", "low_above_open_close"),
    ]
    out.append(
        Check(
            "session",
            "ExpectColumnValuesToBeInSet",
            {"column": "session_date", "value_set": {"$PARAMETER": SESSIONS_PARAMETER}},
            reason="not_a_session",
            mirror=rules.not_a_session,
        )
    )
    return tuple(out)


def mirror_counts(frame: pl.DataFrame, sessions: Sequence[dt.date]) -> dict[str, int]:
    """Rows each row-level expectation should find unexpected, computed in polars."""
    exprs = [c.mirror(sessions).sum().alias(c.name) for c in checks() if c.mirror]
    row = frame.select(exprs).row(0, named=True)
    return {name: int(n or 0) for name, n in row.items()}


@functools.lru_cache(maxsize=1)
def _gx_batch_and_suite() -> tuple[Any, Any]:
    """The per-process GX objects: an ephemeral context's batch definition and the suite."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # That module pins its logger to INFO and announces a temporary Data Docs
    # folder on every ephemeral context: noise in task logs and the CLI.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    # GX draws tqdm bars on stderr unless the context says otherwise.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_or_update_pandas(_DATASOURCE)
    asset = source.add_dataframe_asset(_ASSET)
    batch_definition = asset.add_batch_definition_whole_dataframe(_BATCH)
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for check in checks():
        cls = getattr(gx.expectations, check.expectation)
        suite.add_expectation(cls(**check.kwargs, meta={"check": check.name}))
    return batch_definition, context.suites.add_or_update(suite)


def _to_pandas(frame: pl.DataFrame) -> Any:
    """The frame as GX sees it; dates become ISO strings (exact set membership)."""
    if frame.schema.get("session_date") == pl.Date():
        frame = frame.with_columns(pl.col("session_date").dt.to_string("%Y-%m-%d"))
    return frame.to_pandas()


def run_suite(frame: pl.DataFrame, sessions: Sequence[dt.date]) -> list[dict[str, Any]]:
    """Validate ``frame`` with the suite; one JSON-ready dict per check, in check order."""
    pdf = _to_pandas(frame)
    parameters = {SESSIONS_PARAMETER: [d.isoformat() for d in sessions]}
    with _LOCK:
        batch_definition, suite = _gx_batch_and_suite()
        batch = batch_definition.get_batch(batch_parameters={"dataframe": pdf})
        result = batch.validate(suite, result_format="BASIC", expectation_parameters=parameters)
    by_name = {r.expectation_config.meta["check"]: r for r in result.results}
    return [_summarize(check, by_name.get(check.name)) for check in checks()]


def _summarize(check: Check, result: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "check": check.name,
        "type": _snake(check.expectation),
        "kwargs": to_jsonable(dict(check.kwargs)),
        "level": "table" if check.table_level else "row",
        "reason": check.reason,
        "success": False,
        "unexpected_count": None,
        "unexpected_percent": None,
        "exception": None,
    }
    if result is None:
        out["exception"] = "no result from Great Expectations"
        return out
    info = result.exception_info or {}
    if info.get("raised_exception"):
        out["exception"] = str(info.get("exception_message") or "raised an exception")
    details = result.result or {}
    out["success"] = bool(result.success)
    if "unexpected_count" in details:
        out["unexpected_count"] = int(details["unexpected_count"])
        out["unexpected_percent"] = to_jsonable(details.get("unexpected_percent"))
    if "observed_value" in details:
        out["observed_value"] = to_jsonable(details["observed_value"])
    return out


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def to_jsonable(value: Any) -> Any:
    """Plain JSON values only: numpy/pandas scalars become Python ones, NaN/inf None."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dt.date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return to_jsonable(item())
    return str(value)
