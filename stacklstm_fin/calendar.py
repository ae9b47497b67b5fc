"""Trading sessions from ``exchange_calendars``.

Every step works on an ``as_of`` *session*: a date is snapped to the last
session on or before it, so a Saturday run forecasts as of Friday's close.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING

from stacklstm_fin.exceptions import CalendarError

if TYPE_CHECKING:
    import exchange_calendars


# Far enough ahead for multi-horizon target dates after any realistic as-of.
_END_PADDING_DAYS = 400


@functools.lru_cache(maxsize=8)
def _calendar(name: str, start: dt.date) -> exchange_calendars.ExchangeCalendar:
    import exchange_calendars as xcals
    import pandas as pd

    end = max(dt.date.today(), dt.date(2026, 12, 31)) + dt.timedelta(days=_END_PADDING_DAYS)
    try:
        return xcals.get_calendar(name, start=pd.Timestamp(start), end=pd.Timestamp(end))
    except xcals.errors.InvalidCalendarName:
        raise CalendarError(
            f"universe.calendar: unknown exchange calendar {name!r}; expected a name from "
            "exchange_calendars.get_calendar_names(), e.g. 'XNYS'"
        ) from None


class TradingCalendar:
    """A thin, cached view of one exchange calendar with plain ``date`` values."""

    def __init__(self, name: str = "XNYS", start: dt.date = dt.date(1998, 1, 2)) -> None:
        self.name = name
        self.start = start
        self._cal = _calendar(name, start)

    def _bounds(self, day: dt.date, what: str) -> None:
        first = self._cal.first_session.date()
        last = self._cal.last_session.date()
        if not first <= day <= last:
            raise CalendarError(
                f"{what}: {day.isoformat()} is outside the {self.name} calendar "
                f"({first.isoformat()} .. {last.isoformat()}); set universe.calendar_start"
            )

    def snap(self, day: dt.date) -> dt.date:
        """The last session on or before ``day``."""
        import pandas as pd

        self._bounds(day, "as_of")
        return self._cal.date_to_session(pd.Timestamp(day), direction="previous").date()

    def is_session(self, day: dt.date) -> bool:
        import pandas as pd

        self._bounds(day, "date")
        return bool(self._cal.is_session(pd.Timestamp(day)))

    def sessions(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Sessions in ``[start, end]``, both inclusive."""
        import pandas as pd

        if end < start:
            raise CalendarError(f"--end: {end.isoformat()} is before --start {start.isoformat()}")
        self._bounds(start, "start")
        self._bounds(end, "end")
        idx = self._cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
        return [ts.date() for ts in idx]

    def next_sessions(self, after: dt.date, count: int) -> list[dt.date]:
        """The ``count`` sessions strictly after ``after``."""
        import pandas as pd

        self._bounds(after, "date")
        session = self.snap(after)
        idx = self._cal.sessions_window(pd.Timestamp(session), count + 1)
        return [ts.date() for ts in idx[1:]]


def parse_date(text: str, what: str = "--as-of") -> dt.date:
    """Parse ``YYYY-MM-DD`` with an error that names the argument."""
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise CalendarError(f"{what}: expected a date YYYY-MM-DD, got {text!r}") from None
