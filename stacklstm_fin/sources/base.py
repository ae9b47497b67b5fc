"""The contract every data source keeps.

A source turns ``(tickers, start, end)`` into the canonical price frame
(:mod:`stacklstm_fin.schema`). ``end`` is inclusive: it is the as-of session.
A ticker the source could not deliver is a *failure*; failures raise
:class:`PartialDownloadError` unless the caller asks for them explicitly with
``allow_partial=True``. There is never a silent partial success.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from stacklstm_fin.exceptions import PartialDownloadError, SourceError
from stacklstm_fin.schema import conform, empty_prices
from stacklstm_fin.symbols import validate_tickers


@dataclasses.dataclass(frozen=True)
class FetchResult:
    """What a fetch returned: canonical prices and the tickers that failed (ticker -> reason)."""

    prices: pl.DataFrame
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    # Rows the source had after ``end`` (never loaded, but counted):
    # ticker -> {"rows": n, "first": ISO date, "last": ISO date}.
    rows_after_end: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def tickers(self) -> tuple[str, ...]:
        """The tickers that have at least one row, sorted."""
        return tuple(sorted(self.prices.get_column("ticker").unique().to_list()))


def one_line(text: str) -> str:
    """Collapse whitespace so a vendor's reason fits the CLI's one-line errors."""
    return " ".join(str(text).split())


def partial_error(source: str, requested: int, failures: Mapping[str, str]) -> PartialDownloadError:
    """The error for a fetch in which some tickers failed (message lists ticker: reason)."""
    detail = "; ".join(f"{t}: {r}" for t, r in failures.items())
    return PartialDownloadError(
        f"source {source}: {len(failures)} of {requested} ticker(s) failed, nothing was "
        f"returned ({detail}); retry later, drop the ticker(s), or allow a partial download",
        dict(failures),
    )


class Source(abc.ABC):
    """Base class: validates the request, conforms the frame, enforces the failure rule.

    Subclasses implement :meth:`_fetch`, which may return extra rows or columns;
    :meth:`fetch` keeps only the requested tickers and sessions in ``[start, end]``.
    """

    name: str = ""

    def default_tickers(self) -> tuple[str, ...]:
        """Tickers used when ``fetch`` is given none; most sources have no default."""
        raise SourceError(
            f"tickers: source {self.name} needs at least one ticker, got none; "
            "set universe.tickers or pass --tickers"
        )

    def fetch(
        self,
        tickers: Sequence[str],
        start: dt.date | None,
        end: dt.date,
        *,
        allow_partial: bool = False,
    ) -> FetchResult:
        """Prices for ``tickers`` in ``[start, end]`` (``start`` None: from the beginning).

        Raises :class:`PartialDownloadError` if any ticker failed, unless
        ``allow_partial`` is true (then the failures are in the result).
        """
        requested = validate_tickers(tickers) or self.default_tickers()
        if start is not None and start > end:
            return FetchResult(empty_prices(), {})
        frame, failures = self._fetch(requested, start, end)
        prices = conform(frame, f"source {self.name}")
        wanted = pl.col("ticker").is_in(list(requested))
        later = _rows_after(prices.filter(wanted & (pl.col("session_date") > end)))
        keep = wanted & (pl.col("session_date") <= end)
        if start is not None:
            keep = keep & (pl.col("session_date") >= start)
        prices = prices.filter(keep)
        failed = {t: one_line(failures[t]) for t in requested if t in failures}
        if failed and not allow_partial:
            raise partial_error(self.name, len(requested), failed)
        return FetchResult(prices, failed, later)

    @abc.abstractmethod
    def _fetch(
        self, tickers: tuple[str, ...], start: dt.date | None, end: dt.date
    ) -> tuple[pl.DataFrame, dict[str, str]]:
        """Return ``(frame with the canonical columns, failures)`` for validated tickers."""


def _rows_after(later: pl.DataFrame) -> dict[str, dict[str, Any]]:
    per = later.group_by("ticker").agg(
        rows=pl.len(), first=pl.col("session_date").min(), last=pl.col("session_date").max()
    )
    return {
        ticker: {"rows": int(rows), "first": first.isoformat(), "last": last.isoformat()}
        for ticker, rows, first, last in per.sort("ticker").iter_rows()
    }
