"""The row rules in polars, without Great Expectations."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import ValidationConfig
from stacklstm_fin.validation import rules, validate_prices
from tests.validation.frames import bar, frame, path, reasons_by_key, replace, sessions

START = dt.date(2019, 1, 2)


def reasons(
    prices: pl.DataFrame,
    calendar: TradingCalendar,
    cfg: ValidationConfig = ValidationConfig(),  # noqa: B008
    history: pl.DataFrame | None = None,
) -> list[str | None]:
    days = calendar.sessions(START, dt.date(2019, 12, 31))
    flags = rules.reason_flags(prices, cfg, days, history=history)
    return rules.reason_strings(flags).to_list()


@pytest.mark.parametrize("k", [2, 3, ValidationConfig().stale_sessions])
def test_stale_run_is_flagged_from_the_kth_repeated_session(
    calendar: TradingCalendar, k: int
) -> None:
    days = sessions(calendar, START, 12)
    rows = path("AAA", days)
    for i in range(3, 3 + k + 2):  # k + 2 sessions with the OHLC of session 3
        rows[i] = replace(rows[3], session_date=days[i])
    got = reasons(frame(rows), calendar, ValidationConfig(stale_sessions=k))
    expected = [None] * 12
    for i in range(3 + k - 1, 3 + k + 2):
        expected[i] = "stale_price"
    assert got == expected


def test_a_run_one_short_of_k_is_not_stale(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 10)
    rows = path("AAA", days)
    rows[3:7] = [replace(rows[3], session_date=d) for d in days[3:7]]  # 4 the same, k = 5
    assert reasons(frame(rows), calendar, ValidationConfig(stale_sessions=5)) == [None] * 10


def test_stale_runs_are_per_ticker_and_survive_a_broken_row(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 6)
    a = [replace(bar("AAA", START, 10.0), session_date=d) for d in days]
    b = [replace(bar("BBB", START, 10.0), session_date=d) for d in days[:2]]
    a[2] = replace(a[2], volume=-1.0)  # broken: quarantined, does not end the run
    got = reasons(frame([*b, *a]), calendar, ValidationConfig(stale_sessions=3))
    stale = "stale_price"
    assert got == [None, None, None, None, "negative_volume", stale, stale, stale]


def test_a_reverted_spike_flags_itself_not_the_return_back(calendar: TradingCalendar) -> None:
    """The honest row after a spike is judged against the level before it (ADR 0009)."""
    days = sessions(calendar, START, 5)
    rows = path("AAA", days)
    rows[2] = bar("AAA", days[2], 200.0)
    got = reasons(frame(rows), calendar)
    assert got == [None, None, "price_spike", None, None]


def test_unsorted_input_keeps_its_row_order(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 4)
    rows = path("AAA", days)
    rows[3] = bar("AAA", days[3], 500.0)  # the last session: nothing to judge it by yet
    got = reasons(frame(rows[::-1]), calendar)
    assert got == ["unconfirmed_move", None, None, None]


def test_all_copies_of_a_duplicate_key_are_flagged(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 4)
    rows = path("AAA", days)
    rows += [rows[1], replace(rows[1], close=rows[1][5] * 1.001), bar("BBB", days[1], 5.0)]
    got = reasons(frame(rows), calendar)
    assert got == [None, "duplicate_key", None, None, "duplicate_key", "duplicate_key", None]


def test_duplicates_are_quarantined_whole_by_validate(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 10)
    rows = path("AAA", days)
    conflicting = replace(rows[4], close=rows[4][5] * 1.002)
    result = validate_prices(
        frame([*rows, conflicting]), ValidationConfig(max_quarantine_share=0.2), calendar
    )
    assert reasons_by_key(result.quarantined) == {
        ("AAA", days[4]): ["duplicate_key", "duplicate_key"]
    }
    assert result.rows_loaded == 9 and result.success is True
    assert result.clean["session_date"].to_list() == [d for d in days if d != days[4]]


def test_reason_order_is_stable_and_complete() -> None:
    assert rules.REASONS == (
        "null_value",
        "non_finite",
        "non_positive_price",
        "negative_volume",
        "high_below_open_close",
        "low_above_open_close",
        "duplicate_key",
        "not_a_session",
        "stale_price",
        "price_spike",
        "level_shift",
        "unconfirmed_move",
    )


def test_null_and_nan_give_one_reason_each(calendar: TradingCalendar) -> None:
    rows = [
        replace(bar("AAA", START, 10.0), high=None),
        replace(bar("AAA", dt.date(2019, 1, 3), 10.0), high=math.nan),
        replace(bar("AAA", dt.date(2019, 1, 4), 10.0), open=math.inf),
        replace(bar("AAA", dt.date(2019, 1, 7), 10.0), ticker=None, open=-1.0),
    ]
    assert reasons(frame(rows), calendar) == [
        "null_value",
        "non_finite",
        "non_finite;high_below_open_close",
        "null_value;non_positive_price;low_above_open_close",
    ]
