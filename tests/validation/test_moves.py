"""The per-ticker robust move rule (validation/moves.py, ADR 0009), without GX."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import ValidationConfig
from stacklstm_fin.validation import rules
from stacklstm_fin.validation.moves import HISTORY_SCHEMA
from tests.validation.frames import bar, frame, replace, sessions

START = dt.date(2019, 1, 2)


def walk(ticker: str, days: list[dt.date], step: float, start: float = 100.0) -> list:
    """Closes alternating +step / -step log returns: every |r| is step, MAD sigma 1.4826 step."""
    closes = [start * math.exp(step * (i % 2)) for i in range(len(days))]
    return [bar(ticker, d, c) for d, c in zip(days, closes, strict=True)]


def judge(
    rows: list,
    calendar: TradingCalendar,
    cfg: ValidationConfig = ValidationConfig(),  # noqa: B008
    **kw: object,
) -> tuple[list[str | None], rules.RuleOutcome]:
    prices = frame(rows)
    days = calendar.sessions(prices["session_date"].min(), prices["session_date"].max())  # type: ignore[arg-type]
    outcome = rules.evaluate(prices, cfg, days, **kw)  # type: ignore[arg-type]
    return rules.reason_strings(outcome.flags, outcome.details).to_list(), outcome


def with_close(row: tuple, close: float) -> tuple:
    return bar(row[0], row[1], close)


@pytest.mark.parametrize(("jump", "flagged"), [(0.148, False), (0.149, True)])
def test_the_spike_threshold_is_k_robust_sigmas(
    calendar: TradingCalendar, jump: float, flagged: bool
) -> None:
    """|r| = 0.01 every day: robust sigma 0.014826, 10 sigmas = 0.14826 (above the floor)."""
    days = sessions(calendar, START, 40)
    rows = walk("AAA", days, 0.01)
    before = rows[29][5]
    rows[30] = with_close(rows[30], before * math.exp(jump))
    rows[31] = with_close(rows[31], before)  # reverts exactly
    got, _ = judge(rows, calendar)
    assert got[30] == (
        f"price_spike (AAA {days[30]}: +{100 * jump:.1f}% log return, "
        f"{jump / 0.014826:.1f} robust sigmas, reverted on {days[31]}; not loaded)"
        if flagged
        else None
    )
    assert [g for i, g in enumerate(got) if i != 30] == [None] * 39


def test_the_floor_keeps_a_calm_index_5_percent_day(calendar: TradingCalendar) -> None:
    """|r| = 0.001: 10 robust sigmas is 1.5%; the 10% floor decides, so a 5% day stands."""
    days = sessions(calendar, START, 40)
    for jump, expected in ((0.05, None), (0.12, "price_spike")):
        rows = walk("IDX", days, 0.001)
        rows[30] = with_close(rows[30], rows[29][5] * math.exp(-jump))
        rows[31] = with_close(rows[31], rows[29][5])
        got, _ = judge(rows, calendar)
        assert [g and g.split(" ")[0] for g in got][30] == expected


def test_a_reverting_move_must_undo_most_of_it(calendar: TradingCalendar) -> None:
    """+40% then back to +10% above the start (undoes 74%, under revert_share 0.8): real."""
    days = sessions(calendar, START, 40)
    rows = walk("AAA", days, 0.01)
    base = rows[29][5]
    rows[30] = with_close(rows[30], base * math.exp(0.4))
    rows[31] = with_close(rows[31], base * math.exp(0.105))
    rows[32:] = [with_close(r, r[5] * math.exp(0.105)) for r in rows[32:]]
    got, outcome = judge(rows, calendar)
    assert got == [None] * 40
    assert outcome.moves.warnings == (
        f"AAA {days[30]}: +40.0% log return, 27.0 robust sigmas, persisted: loaded",
        f"AAA {days[31]}: -29.5% log return, 19.9 robust sigmas, persisted: loaded",
    )


def test_a_100x_shift_without_adj_close_stops_the_ticker_from_that_row(
    calendar: TradingCalendar,
) -> None:
    days = sessions(calendar, START, 30)
    a = walk("AAA", days, 0.01)
    a[20:] = [replace(with_close(r, r[5] * 100), adj_close=r[5]) for r in a[20:]]
    b = walk("BBB", days, 0.01)
    got, outcome = judge([*a, *b], calendar)
    reason = (  # 100 x 100 / 101.005 (the walk's previous close)
        f"level_shift (level shift x99.0 on {days[20]} without a matching adj_close change; "
        "rows from this date are not loaded)"
    )
    assert got == [None] * 20 + [reason] * 10 + [None] * 30
    assert outcome.moves.stopped == {"AAA": reason[len("level_shift (") : -1]}


def test_a_100x_move_with_a_matching_adj_close_is_real(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 30)
    a = walk("AAA", days, 0.01)
    a[25:] = [with_close(r, r[5] / 100) for r in a[25:]]  # close and adj_close both fall
    got, outcome = judge(a, calendar)
    assert got == [None] * 30
    assert outcome.moves.warnings == (
        f"AAA {days[25]}: -459.5% log return, 309.9 robust sigmas, persisted: loaded",
    )


def test_a_big_move_on_the_last_row_is_held_and_a_100x_one_too(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 30)
    a = walk("AAA", days, 0.01)
    a[-1] = with_close(a[-1], a[-2][5] * 100)
    b = walk("BBB", days, 0.01)
    b[-1] = with_close(b[-1], b[-2][5] * 1.5)
    got, outcome = judge([*a, *b], calendar)
    held_a = f"AAA {days[-1]}: +460.5% log return, 310.6 robust sigmas, is the batch's last session; held until the next one"  # noqa: E501
    held_b = f"BBB {days[-1]}: +40.5% log return, 27.3 robust sigmas, is the batch's last session; held until the next one"  # noqa: E501
    assert got == [None] * 29 + [f"unconfirmed_move ({held_a})"] + [None] * 29 + [
        f"unconfirmed_move ({held_b})"
    ]
    assert outcome.moves.warnings == (f"{held_a}: not loaded", f"{held_b}: not loaded")


def test_history_judges_the_first_incremental_rows(calendar: TradingCalendar) -> None:
    """A one-row nightly batch: the stored closes give the level and the robust sigma."""
    days = sessions(calendar, START, 62)
    stored = walk("AAA", days, 0.01)[:60]
    history = pl.DataFrame(
        [(r[0], r[1], r[5], r[6]) for r in stored], schema=HISTORY_SCHEMA, orient="row"
    )
    last = stored[-1][5]
    spike = [bar("AAA", days[60], last * 100), bar("AAA", days[61], last)]
    got, _ = judge(spike, calendar, history=history)
    assert got == [
        f"price_spike (AAA {days[60]}: +460.5% log return, 310.6 robust sigmas, reverted on "
        f"{days[61]}; not loaded)",
        None,
    ]
    # Without history the first row has no previous close: the fall back is the big move.
    assert judge(spike, calendar)[0] == [
        None,
        f"unconfirmed_move (AAA {days[61]}: -460.5% log return, no robust sigma (under 20 "
        "prior returns), is the batch's last session; held until the next one)",
    ]
    # A small move against the stored level is not judged at all.
    assert judge([bar("AAA", days[60], last * 1.02)], calendar, history=history)[0] == [None]


def test_no_robust_sigma_before_scale_min_returns(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 6)
    rows = walk("NEW", days, 0.01)
    rows[3:] = [with_close(r, r[5] * 1.3) for r in rows[3:]]
    got, outcome = judge(rows, calendar)
    assert got == [None] * 6
    assert outcome.moves.warnings == (
        f"NEW {days[3]}: +27.2% log return, no robust sigma (under 20 prior returns), "
        "persisted: loaded",
    )
