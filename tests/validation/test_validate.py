"""validate_prices end to end with the real Great Expectations suite."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys

import polars as pl
import pytest

from stacklstm_fin.calendar import TradingCalendar
from stacklstm_fin.config import ValidationConfig
from stacklstm_fin.exceptions import ValidationFailedError
from stacklstm_fin.schema import PRICE_COLUMNS, PRICE_SCHEMA
from stacklstm_fin.validation import REASONS, validate_prices
from stacklstm_fin.validation import expectations as gx_suite
from tests.validation.frames import bar, frame, path, reasons_by_key, replace, sessions

CFG = ValidationConfig(max_quarantine_share=0.25, stale_sessions=3)
START = dt.date(2019, 1, 2)
MLK_DAY = dt.date(2019, 1, 21)  # XNYS closed


def one_bad_row_of_each_kind(calendar: TradingCalendar) -> tuple[pl.DataFrame, dict]:
    """Four tickers, one bad row per reason; the expected quarantine."""
    days = sessions(calendar, START, 30)
    a = path("AAA", days)
    b = path("BBB", days, start=50.0)
    # A real +50% move from BBB's 20th session on: loaded, with a warning.
    b[20:] = [bar("BBB", d, 75.0 * (1 + 0.001 * i)) for i, d in enumerate(days[20:])]
    # CCC: a one-day x2 spike that reverts, then a x100 close without adj_close.
    c = path("CCC", days, start=10.0)
    c[10] = bar("CCC", days[10], c[10][5] * 2)
    c[25:] = [replace(bar("CCC", r[1], r[5] * 100), adj_close=r[5]) for r in c[25:]]
    # DDD: a x3 close on its last session, not yet confirmed by the next one.
    d = path("DDD", days[:3], start=5.0)
    d[2] = bar("DDD", days[2], 15.0)
    a[3] = replace(a[3], volume=None)
    a[5] = replace(a[5], adj_close=math.nan)
    a[7] = replace(a[7], low=0.0)
    a[9] = replace(a[9], volume=-100.0)
    a[11] = replace(a[11], high=a[11][5] * 0.995)
    a[13] = replace(a[13], low=a[13][5] * 1.005)
    a[15] = replace(a[15], open=-1.0, volume=-5.0)
    b[11] = replace(b[10], session_date=days[11])  # the same OHLC three sessions running
    b[12] = replace(b[10], session_date=days[12])
    rows = [*a, *b, b[3], bar("BBB", MLK_DAY, b[12][5]), *c, *d]
    shift = (
        f"level_shift (level shift x100.1 on {days[25]} without a matching adj_close change; "
        "rows from this date are not loaded)"
    )
    expected = {
        ("AAA", days[3]): ["null_value"],
        ("AAA", days[5]): ["non_finite"],
        ("AAA", days[7]): ["non_positive_price"],
        ("AAA", days[9]): ["negative_volume"],
        ("AAA", days[11]): ["high_below_open_close"],
        ("AAA", days[13]): ["low_above_open_close"],
        ("AAA", days[15]): ["non_positive_price;negative_volume;low_above_open_close"],
        ("BBB", days[3]): ["duplicate_key", "duplicate_key"],
        ("BBB", MLK_DAY): ["not_a_session"],
        ("BBB", days[12]): ["stale_price"],
        ("CCC", days[10]): [
            f"price_spike (CCC {days[10]}: +69.4% log return, no robust sigma (under 20 "
            f"prior returns), reverted on {days[11]}; not loaded)"
        ],
        **{("CCC", day): [shift] for day in days[25:]},
        ("DDD", days[2]): [
            f"unconfirmed_move (DDD {days[2]}: +109.8% log return, no robust sigma (under 20 "
            "prior returns), is the batch's last session; held until the next one)"
        ],
    }
    return frame(rows), expected


def test_one_bad_row_of_each_kind_lands_exactly_in_quarantine(calendar: TradingCalendar) -> None:
    prices, expected = one_bad_row_of_each_kind(calendar)
    result = validate_prices(prices, CFG, calendar)

    assert reasons_by_key(result.quarantined) == expected
    assert result.success is True and result.failure is None
    assert (result.rows_in, result.rows_quarantined, result.rows_loaded) == (95, 18, 77)
    assert result.clean.schema == pl.Schema(PRICE_SCHEMA)
    assert result.quarantined.columns == ["row_index", *PRICE_COLUMNS, "reason"]
    # row_index points back at the row's position in the input.
    for row in result.quarantined.iter_rows(named=True):
        original = prices.row(row["row_index"], named=True)
        assert (original["ticker"], original["session_date"]) == (
            row["ticker"],
            row["session_date"],
        )
    bad_keys = set(expected)
    clean_keys = set(result.clean.select("ticker", "session_date").rows())
    assert clean_keys.isdisjoint(bad_keys) and len(clean_keys) == 77
    codes = {r for rs in expected.values() for x in rs for r in x.split(" (")[0].split(";")}
    assert set(REASONS) <= codes
    days = sessions(calendar, START, 30)
    warning = (
        f"BBB {days[20]}: +38.7% log return, no robust sigma (under 20 prior returns), "
        "persisted: loaded"
    )
    held = expected[("DDD", days[2])][0][len("unconfirmed_move (") : -1] + ": not loaded"
    assert result.warnings == (warning, held)
    assert result.report["warnings"] == [warning, held]
    stop = expected[("CCC", days[25])][0][len("level_shift (") : -1]
    assert result.ticker_failures == result.report["ticker_failures"] == {"CCC": stop}


def test_gx_unexpected_counts_equal_rule_counts(calendar: TradingCalendar) -> None:
    prices, _ = one_bad_row_of_each_kind(calendar)
    report = validate_prices(prices, CFG, calendar).report
    rows = {e["check"]: e for e in report["expectations"] if e["level"] == "row"}

    assert all(e["unexpected_count"] == e["rule_count"] for e in rows.values()), rows
    counts = report["reason_counts"]
    assert rows["unique_key"]["unexpected_count"] == counts["duplicate_key"] == 2
    assert rows["session"]["unexpected_count"] == counts["not_a_session"] == 1
    assert rows["not_null[volume]"]["unexpected_count"] == counts["null_value"] == 1
    # NaN is missing to pandas: GX's not-null sees it, the rules call it non_finite.
    assert rows["not_null[adj_close]"]["unexpected_count"] == counts["non_finite"] == 1
    assert rows["between[low]"]["unexpected_count"] == 1
    assert rows["between[open]"]["unexpected_count"] == 1
    assert rows["between[volume]"]["unexpected_count"] == 2 == counts["negative_volume"]
    assert rows["high>=open"]["unexpected_count"] == counts["high_below_open_close"] == 1
    assert rows["open>=low"]["unexpected_count"] == 2 == counts["low_above_open_close"]
    assert rows["close>=low"]["unexpected_count"] == 1
    assert report["gx_success"] is False


def test_a_disagreement_between_gx_and_the_rules_fails_the_run(
    calendar: TradingCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulate a bug in a rule's mirror: the run must refuse to load."""
    real = gx_suite.mirror_counts

    def off_by_one(*args: object) -> dict[str, int]:
        counts = real(*args)  # type: ignore[arg-type]
        counts["high>=close"] += 1
        return counts

    monkeypatch.setattr(gx_suite, "mirror_counts", off_by_one)
    result = validate_prices(frame(path("AAA", sessions(calendar, START, 5))), CFG, calendar)
    assert result.success is False
    assert result.failure == (
        "Great Expectations and the row rules disagree on high>=close: "
        "0 vs 1 unexpected rows (a bug)"
    )
    assert result.clean.is_empty()


def test_over_the_threshold_nothing_loads(calendar: TradingCalendar) -> None:
    rows = path("AAA", sessions(calendar, START, 20))
    rows[4] = replace(rows[4], close=None)
    rows[9] = replace(rows[9], volume=-1.0)
    result = validate_prices(frame(rows), ValidationConfig(max_quarantine_share=0.05), calendar)

    assert result.success is False
    assert result.failure == (
        "AAA: 2 of 20 rows quarantined (10.0%), above validation.max_quarantine_share = 5.0%"
    )
    assert result.clean.is_empty() and result.clean.schema == pl.Schema(PRICE_SCHEMA)
    assert (result.rows_loaded, result.rows_quarantined) == (0, 2)
    with pytest.raises(ValidationFailedError, match=r"^validation failed: AAA: 2 of 20 rows"):
        result.raise_for_failure()


def test_at_the_threshold_the_rest_loads(calendar: TradingCalendar) -> None:
    rows = path("AAA", sessions(calendar, START, 20))
    rows[4] = replace(rows[4], close=None)
    result = validate_prices(frame(rows), ValidationConfig(max_quarantine_share=0.05), calendar)
    assert result.success is True
    assert (result.rows_loaded, result.rows_quarantined) == (19, 1)
    result.raise_for_failure()


def test_a_ticker_over_the_share_loads_nothing_and_the_others_load(
    calendar: TradingCalendar,
) -> None:
    days = sessions(calendar, START, 20)
    a = path("AAA", days)
    a[4], a[9] = replace(a[4], close=None), replace(a[9], volume=-1.0)
    b = path("BBB", days)
    b[4] = replace(b[4], volume=-1.0)
    result = validate_prices(frame([*a, *b]), ValidationConfig(max_quarantine_share=0.05), calendar)
    assert (result.success, result.failure) == (True, None)
    assert result.ticker_failures == {
        "AAA": "AAA: 2 of 20 rows quarantined (10.0%), above validation.max_quarantine_share = 5.0%"
    }
    assert result.clean["ticker"].unique().to_list() == ["BBB"]
    assert (result.rows_in, result.rows_quarantined, result.rows_loaded) == (40, 3, 19)


def test_the_share_is_not_judged_for_a_small_nightly_batch(calendar: TradingCalendar) -> None:
    """One bad row of two (50%): that ticker has nothing to load, the other one loads."""
    days = sessions(calendar, START, 1)
    rows = [bar("AAA", days[0], 10.0), replace(bar("BBB", days[0], 10.0), volume=-1.0)]
    result = validate_prices(frame(rows), ValidationConfig(max_quarantine_share=0.05), calendar)
    assert (result.success, result.failure) == (True, None)
    assert result.ticker_failures == {"BBB": "BBB: 1 of 1 rows quarantined, none left to load"}
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert reasons_by_key(result.quarantined) == {("BBB", days[0]): ["negative_volume"]}


def test_a_nightly_batch_with_every_row_bad_fails(calendar: TradingCalendar) -> None:
    days = sessions(calendar, START, 1)
    rows = [replace(bar(t, days[0], 10.0), close=-10.0) for t in ("AAA", "BBB")]
    result = validate_prices(frame(rows), ValidationConfig(), calendar)
    assert result.success is False and result.clean.is_empty()
    assert result.failure == (
        "AAA: 1 of 1 rows quarantined, none left to load; "
        "BBB: 1 of 1 rows quarantined, none left to load"
    )


def test_a_batch_of_held_rows_only_succeeds_and_loads_nothing(calendar: TradingCalendar) -> None:
    """Held rows are not bad: the next run judges them (ADR 0009)."""
    days = sessions(calendar, START, 2)
    history = pl.DataFrame(
        {"ticker": ["AAA"], "session_date": [days[0]], "close": [10.0], "adj_close": [10.0]}
    )
    result = validate_prices(frame([bar("AAA", days[1], 20.0)]), CFG, calendar, history=history)
    assert (result.success, result.rows_loaded, result.ticker_failures) == (True, 0, {})
    assert result.quarantined["reason"].to_list() == [
        f"unconfirmed_move (AAA {days[1]}: +69.3% log return, no robust sigma (under 20 prior "
        "returns), is the batch's last session; held until the next one)"
    ]


def test_history_judges_a_jump_on_the_first_incremental_row(calendar: TradingCalendar) -> None:
    new = frame(path("AAA", sessions(calendar, dt.date(2019, 3, 4), 3)))
    history = pl.DataFrame(
        {"ticker": ["AAA"], "session_date": [dt.date(2019, 3, 1)], "close": [60.0],
         "adj_close": [60.0]}
    )  # fmt: skip
    jumped = validate_prices(new, CFG, calendar, history=history)
    assert jumped.rows_quarantined == 0 and jumped.rows_loaded == 3
    assert jumped.warnings == (
        "AAA 2019-03-04: +51.1% log return, no robust sigma (under 20 prior returns), "
        "persisted: loaded",
    )
    assert validate_prices(new, CFG, calendar).warnings == ()


def test_christmas_2018_is_not_a_session(calendar: TradingCalendar) -> None:
    days = [dt.date(2018, 12, 21), dt.date(2018, 12, 24), dt.date(2018, 12, 25)]
    rows = [bar("AAA", d, 100.0 + i) for i, d in enumerate(days)]
    result = validate_prices(frame(rows), ValidationConfig(max_quarantine_share=0.5), calendar)
    assert reasons_by_key(result.quarantined) == {("AAA", dt.date(2018, 12, 25)): ["not_a_session"]}
    session = next(e for e in result.report["expectations"] if e["check"] == "session")
    assert (session["success"], session["unexpected_count"]) == (False, 1)
    assert result.report["sessions"] == {
        "parameter": "sessions",
        "count": 2,
        "first": "2018-12-21",
        "last": "2018-12-24",
    }


def test_report_is_plain_json(calendar: TradingCalendar) -> None:
    prices, _ = one_bad_row_of_each_kind(calendar)
    prices = pl.concat([prices, frame([bar("CCC", START, math.inf)])])
    report = validate_prices(prices, CFG, calendar).report
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    first = report["expectations"][0]
    assert set(first) >= {"type", "kwargs", "success", "unexpected_count", "unexpected_percent"}
    between = next(e for e in report["expectations"] if e["check"] == "between[open]")
    assert between["kwargs"]["max_value"] == sys.float_info.max
    assert report["reason_counts"]["non_finite"] == 2


def test_empty_frame_fails_with_no_rows(calendar: TradingCalendar) -> None:
    result = validate_prices(frame([]), CFG, calendar)
    assert (result.success, result.failure) == (False, "no rows to validate")
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (0, 0, 0)
    row_count = next(e for e in result.report["expectations"] if e["check"] == "row_count")
    assert (row_count["success"], row_count["observed_value"]) == (False, 0)
    json.dumps(result.report, allow_nan=False)


def test_missing_column_is_a_failure_not_a_crash(calendar: TradingCalendar) -> None:
    prices = frame(path("AAA", sessions(calendar, START, 3))).drop("adj_close", "volume")
    result = validate_prices(prices, CFG, calendar)
    assert result.success is False
    assert result.failure == (
        "schema: missing column(s) adj_close, volume; "
        "expected ticker, session_date, open, high, low, close, adj_close, volume"
    )
    assert result.clean.is_empty() and result.quarantined.is_empty()
    assert "expectations" not in result.report


def test_wrong_dtype_is_a_failure_not_a_crash(calendar: TradingCalendar) -> None:
    prices = frame(path("AAA", sessions(calendar, START, 3))).with_columns(
        pl.col("session_date").cast(pl.String), pl.col("volume").cast(pl.Int64)
    )
    result = validate_prices(prices, CFG, calendar)
    assert result.failure == (
        "schema: wrong dtype(s): session_date is String, expected Date; "
        "volume is Int64, expected Float64; cast with stacklstm_fin.schema.conform()"
    )
    assert result.success is False and result.clean.is_empty()


def test_column_order_is_a_table_level_failure(calendar: TradingCalendar) -> None:
    prices = frame(path("AAA", sessions(calendar, START, 3))).with_columns(source=pl.lit("x"))
    result = validate_prices(prices, CFG, calendar)
    assert result.success is False
    assert result.failure == (
        "table expectation failed: expect_table_columns_to_match_ordered_list (observed "
        "['ticker', 'session_date', 'open', 'high', 'low', 'close', 'adj_close', 'volume', "
        "'source'])"
    )
    assert result.clean.is_empty() and result.rows_quarantined == 0


def test_dates_outside_the_calendar_fail_cleanly(calendar: TradingCalendar) -> None:
    result = validate_prices(frame([bar("AAA", dt.date(1990, 1, 2), 10.0)]), CFG, calendar)
    assert result.success is False
    assert result.failure is not None
    assert result.failure.startswith("calendar: start: 1990-01-02 is outside the XNYS calendar")


def test_no_progress_bars_on_stderr(
    calendar: TradingCalendar, capfd: pytest.CaptureFixture[str]
) -> None:
    validate_prices(frame(path("AAA", sessions(calendar, START, 3))), CFG, calendar)
    assert capfd.readouterr().err == ""


def test_importing_the_package_does_not_import_great_expectations() -> None:
    code = (
        "import sys, stacklstm_fin.validation; "
        "assert 'great_expectations' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
