"""The canonical price frame every source returns and every step reads.

One row per (ticker, session_date); prices as float64, volume as float64
(some vendors report fractional volume for indices and FX).
"""

from __future__ import annotations

import polars as pl

from stacklstm_fin.exceptions import SourceError

PRICE_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "session_date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "adj_close": pl.Float64(),
    "volume": pl.Float64(),
}
PRICE_COLUMNS = tuple(PRICE_SCHEMA)
PRICE_KEY = ("ticker", "session_date")


def empty_prices() -> pl.DataFrame:
    return pl.DataFrame(schema=PRICE_SCHEMA)


def conform(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """Select and cast the canonical columns, sorted by key.

    A missing column is an error naming it; a value that cannot be cast is an
    error naming the column. Extra columns are dropped.
    """
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{origin}: missing column(s) {', '.join(missing)}; expected {', '.join(PRICE_COLUMNS)}"
        )
    exprs = []
    for name, dtype in PRICE_SCHEMA.items():
        col = pl.col(name)
        if name == "session_date" and frame.schema[name] in (pl.String(), pl.Utf8()):
            exprs.append(col.str.to_date("%Y-%m-%d", strict=True).alias(name))
        elif name == "session_date" and isinstance(frame.schema[name], pl.Datetime):
            exprs.append(col.dt.date().alias(name))
        else:
            exprs.append(col.cast(dtype, strict=True).alias(name))
    try:
        out = frame.select(exprs)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise SourceError(f"{origin}: a column has values of the wrong type: {first}") from None
    return out.sort(PRICE_KEY)
