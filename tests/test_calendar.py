from __future__ import annotations

import datetime as dt

import pytest

from stacklstm_fin.calendar import TradingCalendar, parse_date
from stacklstm_fin.exceptions import CalendarError

D = dt.date


def test_snap_to_last_session_on_or_before() -> None:
    cal = TradingCalendar()
    assert cal.snap(D(2018, 12, 31)) == D(2018, 12, 31)
    assert cal.snap(D(2018, 12, 30)) == D(2018, 12, 28)  # Sunday -> Friday
    assert cal.snap(D(2018, 12, 25)) == D(2018, 12, 24)  # Christmas
    assert cal.snap(D(2019, 1, 1)) == D(2018, 12, 31)  # New Year's Day


def test_sessions_and_next_sessions_over_year_end() -> None:
    cal = TradingCalendar()
    assert cal.sessions(D(2018, 12, 21), D(2019, 1, 3)) == [
        D(2018, 12, 21),
        D(2018, 12, 24),
        D(2018, 12, 26),
        D(2018, 12, 27),
        D(2018, 12, 28),
        D(2018, 12, 31),
        D(2019, 1, 2),
        D(2019, 1, 3),
    ]
    assert cal.next_sessions(D(2018, 12, 28), 3) == [D(2018, 12, 31), D(2019, 1, 2), D(2019, 1, 3)]
    # The 2018-12-05 national day of mourning closed the NYSE.
    assert not cal.is_session(D(2018, 12, 5))


def test_history_back_to_the_sample_start() -> None:
    assert len(TradingCalendar().sessions(D(1999, 1, 1), D(2018, 12, 31))) == 5031


def test_errors_name_the_argument() -> None:
    with pytest.raises(
        CalendarError, match="--as-of: expected a date YYYY-MM-DD, got '2018-13-01'"
    ):
        parse_date("2018-13-01")
    with pytest.raises(CalendarError, match="unknown exchange calendar 'NOPE'"):
        TradingCalendar("NOPE")
    with pytest.raises(CalendarError, match="1990-01-02 is outside the XNYS calendar"):
        TradingCalendar().snap(D(1990, 1, 2))
