"""Which trading sessions have fresh prices, and which still lack forecasts.

The scheduling decisions of the Airflow layer, as plain functions over the
warehouse (no Airflow import), so they are unit-tested on both engines:

- a **validated session** is a session of the universe's exchange calendar on
  which *every* ticker of the universe has a bar in ``prices_daily``;
- :func:`stale_tickers` / :func:`has_fresh_bars`: the check that runs before
  any training, so no champion is promoted for an as-of without prices;
- :func:`sessions_needing_forecasts`: the validated sessions up to a date that
  have no published forecasts yet, oldest first, bounded per run. The nightly
  works through them, so a burst of prices events consumed by one run (or a
  run Airflow never created) still leaves no session without forecasts.

Where the nightly starts: the oldest as-of of a successful validation run
(the first market-data run of a deployment loads the whole history as of its
session; older sessions are the backfill's job), and at most ``lookback``
validated sessions back from the newest one (an older gap is reported, and
filled with ``stacklstm_backfill``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import Config
from stacklstm_fin.exceptions import CalendarError, DatasetError
from stacklstm_fin.warehouse import Warehouse

log = logging.getLogger(__name__)

PRICES = "stacklstm.prices_daily"
FORECASTS = "stacklstm.forecasts"
RUNS = "stacklstm.validation_runs"


class StalePricesError(DatasetError):
    """The as-of session lacks a bar for some ticker: nothing may be trained or announced."""


def calendar_of(cfg: Config) -> TradingCalendar:
    return TradingCalendar(cfg.universe.calendar, cfg.universe.calendar_start)


def is_trading_session(cfg: Config, day: dt.date) -> bool:
    """Whether ``day`` is a session of the universe's exchange (False on holidays, weekends)."""
    return calendar_of(cfg).is_session(day)


def stale_tickers(cfg: Config, wh: Warehouse, as_of: dt.date) -> list[str]:
    """The tickers of the universe without a bar on ``as_of``, sorted (empty: all fresh)."""
    frame = wh.query(
        f"SELECT DISTINCT ticker FROM {PRICES} WHERE session_date = :day", {"day": as_of}
    )
    present = set(frame["ticker"].to_list()) if frame.height else set()
    return sorted(set(cfg.universe.tickers) - present)


def has_fresh_bars(cfg: Config, wh: Warehouse, as_of: dt.date) -> bool:
    """Every ticker of the universe has a bar on ``as_of``."""
    return not stale_tickers(cfg, wh, as_of)


def newest_loaded_session(cfg: Config, wh: Warehouse) -> dt.date | None:
    """The newest session with a bar for every ticker (None: none yet)."""
    found = validated_sessions(cfg, wh, None, None, newest_only=True)
    return found[0] if found else None


def require_fresh_bars(cfg: Config, wh: Warehouse, as_of: dt.date) -> None:
    """Raise :class:`StalePricesError` naming the stale tickers and the newest loaded session."""
    stale = stale_tickers(cfg, wh, as_of)
    if not stale:
        return
    newest = newest_loaded_session(cfg, wh)
    raise StalePricesError(
        f"as of {as_of}: no price on that session for {', '.join(stale)} (newest session "
        f"with every ticker: {newest.isoformat() if newest else 'none'}); nothing is "
        "trained, promoted or published for it. Load it with stacklstm_market_data once "
        "the source has the bars"
    )


def validated_sessions(
    cfg: Config,
    wh: Warehouse,
    start: dt.date | None,
    end: dt.date | None,
    *,
    tickers: Sequence[str] | None = None,
    newest_only: bool = False,
) -> list[dt.date]:
    """Calendar sessions in ``[start, end]`` (open ends allowed) with a bar for every ticker."""
    names = list(tickers or cfg.universe.tickers)
    where = ["ticker IN ({})".format(", ".join(f":t{i}" for i in range(len(names))))]
    params: dict[str, object] = {f"t{i}": t for i, t in enumerate(names)}
    if start is not None:
        where.append("session_date >= :start")
        params["start"] = start
    if end is not None:
        where.append("session_date <= :end")
        params["end"] = end
    order = "DESC LIMIT 1" if newest_only else ""
    frame = wh.query(
        f"SELECT session_date FROM {PRICES} WHERE {' AND '.join(where)} "
        "GROUP BY session_date HAVING COUNT(DISTINCT ticker) = :n "
        f"ORDER BY session_date {order}",
        {**params, "n": len(names)},
    )
    days = [_as_date(d) for d in frame["session_date"].to_list()] if frame.height else []
    calendar = calendar_of(cfg)
    return [d for d in days if _is_session(calendar, d)]


def forecast_sessions(
    cfg: Config, wh: Warehouse, start: dt.date | None, end: dt.date
) -> set[dt.date]:
    """As-of sessions in ``[start, end]`` with forecasts published for every ticker."""
    names = list(cfg.universe.tickers)
    params: dict[str, object] = {f"t{i}": t for i, t in enumerate(names)}
    params.update({"end": end, "n": len(names)})
    lower = ""
    if start is not None:
        lower = "AND as_of_date >= :start "
        params["start"] = start
    frame = wh.query(
        f"SELECT as_of_date FROM {FORECASTS} WHERE as_of_date <= :end {lower}"
        "AND ticker IN ({}) ".format(", ".join(f":t{i}" for i in range(len(names))))
        + "GROUP BY as_of_date HAVING COUNT(DISTINCT ticker) = :n",
        params,
    )
    return {_as_date(d) for d in frame["as_of_date"].to_list()} if frame.height else set()


def first_validated_as_of(wh: Warehouse) -> dt.date | None:
    """The oldest as-of of a successful validation run (where this deployment's history starts)."""
    value = wh.scalar(f"SELECT MIN(as_of) FROM {RUNS} WHERE success")
    return None if value is None else _as_date(value)


@dataclasses.dataclass(frozen=True)
class PendingSessions:
    """The outcome of :func:`sessions_needing_forecasts`."""

    upto: dt.date
    # Validated sessions without forecasts to work through in this run, oldest first.
    todo: tuple[dt.date, ...]
    # Pending sessions beyond the per-run limit: the next run takes them.
    later: tuple[dt.date, ...]
    # Sessions without forecasts older than the lookback window: a backfill's job.
    too_old: int
    # The newest validated session on or before ``upto`` (None: no prices yet).
    newest: dt.date | None

    def describe(self) -> str:
        """One log line: what this run does and what it leaves."""
        if not self.todo:
            if self.newest is None:
                return "nothing to do: no loaded session has a bar for every ticker"
            return (
                f"nothing to do up to {self.upto}: every validated session has forecasts "
                f"(newest validated session {self.newest})"
            )
        text = f"{len(self.todo)} session(s) need forecasts: {_dates(self.todo)}"
        if self.later:
            text += f"; {len(self.later)} more after this run ({_dates(self.later)})"
        if self.too_old:
            text += (
                f"; {self.too_old} older session(s) without forecasts are outside the "
                "lookback window: run stacklstm_backfill for them"
            )
        return text


def sessions_needing_forecasts(
    cfg: Config,
    wh: Warehouse,
    upto: dt.date,
    *,
    limit: int | None = None,
    lookback: int | None = None,
) -> PendingSessions:
    """Validated sessions on or before ``upto`` without forecasts, oldest first.

    ``limit`` (default ``airflow.max_sessions_per_run``) bounds ``todo``;
    ``lookback`` (default ``airflow.lookback_sessions``) is how many validated
    sessions back from the newest one are considered at all.
    """
    limit = cfg.airflow.max_sessions_per_run if limit is None else limit
    lookback = cfg.airflow.lookback_sessions if lookback is None else lookback
    if limit < 1 or lookback < 1:
        raise ValueError(f"limit and lookback must be >= 1, got {limit}, {lookback}")
    first = first_validated_as_of(wh)
    if first is None:
        return PendingSessions(upto, (), (), 0, None)
    candidates = validated_sessions(cfg, wh, first, upto)
    if not candidates:
        return PendingSessions(upto, (), (), 0, None)
    window = candidates[-lookback:]
    done = forecast_sessions(cfg, wh, window[0], upto)
    pending = [d for d in window if d not in done]
    older = candidates[: len(candidates) - len(window)]
    too_old = 0
    if older:
        older_done = forecast_sessions(cfg, wh, older[0], older[-1])
        too_old = sum(1 for d in older if d not in older_done)
    return PendingSessions(
        upto, tuple(pending[:limit]), tuple(pending[limit:]), too_old, candidates[-1]
    )


def plan_nightly(
    cfg: Config,
    wh: Warehouse,
    *,
    exact: dt.date | None = None,
    upto: dt.date | None = None,
) -> PendingSessions:
    """The sessions one nightly run works on.

    ``exact``: that session only, re-run even if it has forecasts, refused
    (:class:`StalePricesError`) when a ticker has no bar on it. Otherwise the
    validated sessions without forecasts up to ``upto`` (None: the newest
    loaded session), see :func:`sessions_needing_forecasts`.
    """
    if exact is not None:
        require_fresh_bars(cfg, wh, exact)
        return PendingSessions(exact, (exact,), (), 0, exact)
    bound = upto if upto is not None else newest_loaded_session(cfg, wh)
    if bound is None:
        return PendingSessions(dt.date.min, (), (), 0, None)
    return sessions_needing_forecasts(cfg, wh, bound)


def _is_session(calendar: TradingCalendar, day: dt.date) -> bool:
    try:
        return calendar.is_session(day)
    except CalendarError:
        return False


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _dates(days: Sequence[dt.date]) -> str:
    return ", ".join(d.isoformat() for d in days)


class BackfillRangeError(CalendarError):
    """A backfill range is empty or longer than one run may take."""


@dataclasses.dataclass(frozen=True)
class BackfillPlan:
    """What one backfill run does: every session, the retrain dates, the forecast chunks."""

    sessions: tuple[dt.date, ...]
    retrain: tuple[dt.date, ...]
    chunks: tuple[tuple[dt.date, ...], ...]

    def describe(self) -> str:
        return (
            f"{len(self.sessions)} session(s) {self.sessions[0]} .. {self.sessions[-1]}; "
            f"retrain on {len(self.retrain)}: {_dates(self.retrain)}; forecasts in "
            f"{len(self.chunks)} chunk(s)"
        )


def plan_backfill(
    sessions: Sequence[dt.date],
    *,
    retrain_every: int,
    chunk: int,
    limit: int,
    backwards: bool = False,
) -> BackfillPlan:
    """Split a backfill range: retrain every ``retrain_every``-th session (from the first),
    forecast in chunks of ``chunk`` sessions (``backwards``: the newest chunk first).

    A range of more than ``limit`` sessions is refused with the way to split it.
    """
    days = tuple(sorted(sessions))
    if not days:
        raise BackfillRangeError("start/end: the range holds no trading session")
    if len(days) > limit:
        cut = days[limit - 1]
        raise BackfillRangeError(
            f"start/end: {len(days)} sessions ({days[0]} .. {days[-1]}), more than "
            f"airflow.max_backfill_sessions = {limit} per run; run {days[0]} .. {cut} first, "
            "then the rest (each run resumes from the warehouse), or raise the limit"
        )
    if retrain_every < 1 or chunk < 1:
        raise ValueError(f"retrain_every and chunk must be >= 1, got {retrain_every}, {chunk}")
    chunks = tuple(days[i : i + chunk] for i in range(0, len(days), chunk))
    return BackfillPlan(days, days[::retrain_every], chunks[::-1] if backwards else chunks)
