"""Fixtures for the validation tests."""

from __future__ import annotations

import pytest

from stacklstm_fin.calendar import TradingCalendar


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return TradingCalendar("XNYS")
