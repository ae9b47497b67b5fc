"""Ingest keeps real moves and stops wrong ones (ADR 0009): files source, real warehouses."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import polars as pl

from stacklstm_fin.pipeline.ingest import calendar_for, ingest
from stacklstm_fin.warehouse import connect, migrate
from tests.pipeline.test_ingest import make_config, synthetic_frame

END = dt.date(2012, 6, 29)
OHLC = ("open", "high", "low", "close")


def scaled(
    frame: pl.DataFrame, ticker: str, days: pl.Expr, factor: float, *, adj: bool
) -> pl.DataFrame:
    """``frame`` with ``ticker``'s prices on ``days`` multiplied (adj_close too if ``adj``)."""
    hit = (pl.col("ticker") == ticker) & days
    columns = [*OHLC, "adj_close"] if adj else list(OHLC)
    return frame.with_columns(pl.when(hit).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c)
                              for c in columns)  # fmt: skip


def files_config(tmp_path: Path, url: str, prices: pl.DataFrame, **sections: object):
    path = tmp_path / "prices.csv"
    prices.write_csv(path)
    return make_config(tmp_path, url, source__name="files", source__files__path=str(path),
                       universe__tickers=sorted(set(prices["ticker"])), **sections)  # fmt: skip


def close_of(prices: pl.DataFrame, ticker: str, day: dt.date) -> float:
    row = prices.filter((pl.col("ticker") == ticker) & (pl.col("session_date") == day))
    return float(row["close"].item())


def test_a_reverting_100x_spike_is_quarantined_and_its_neighbours_load(
    tmp_path: Path, warehouse_url: str
) -> None:
    cfg = make_config(tmp_path, warehouse_url)
    good = synthetic_frame(cfg, ("AAA", "BBB"), END)
    day = good["session_date"].unique().sort()[60]
    bad = scaled(good, "AAA", pl.col("session_date") == day, 100.0, adj=True)
    cfg = files_config(tmp_path, warehouse_url, bad)
    with connect(warehouse_url) as wh:
        migrate(wh)
        summary = ingest(cfg, wh, END)
        quarantined = wh.query(
            "SELECT ticker, session_date, reason FROM stacklstm.prices_quarantine"
        )
        loaded = wh.query("SELECT ticker, session_date FROM stacklstm.prices_daily")
    assert quarantined.select("ticker", "session_date").rows() == [("AAA", day)]
    reason = quarantined["reason"][0]
    assert re.fullmatch(
        rf"price_spike \(AAA {day}: \+4\d\d\.\d% log return, \d+\.\d robust sigmas, reverted on "
        r"2012-\d\d-\d\d; not loaded\)",
        reason,
    ), reason
    assert ("AAA", day) not in set(loaded.rows())
    assert loaded.height == good.height - 1 == summary["rows_loaded"]
    assert (summary["success"], summary["warnings"], summary["ticker_failures"]) == (True, [], {})


def test_a_persistent_100x_shift_loads_nothing_at_the_shifted_level(
    tmp_path: Path, warehouse_url: str
) -> None:
    cfg = make_config(tmp_path, warehouse_url)
    good = synthetic_frame(cfg, ("AAA", "BBB"), END)
    day = good["session_date"].unique().sort()[60]
    bad = scaled(good, "AAA", pl.col("session_date") >= day, 100.0, adj=False)
    cfg = files_config(tmp_path, warehouse_url, bad)
    before = max(d for d in good["session_date"] if d < day)
    ratio = close_of(bad, "AAA", day) / close_of(bad, "AAA", before)
    why = (f"level shift x{ratio:.1f} on {day} without a matching adj_close change; rows from "
           "this date are not loaded")  # fmt: skip
    with connect(warehouse_url) as wh:
        migrate(wh)
        summary = ingest(cfg, wh, END)
        aaa = wh.query("SELECT MAX(session_date) AS last, MAX(close) AS top FROM "
                       "stacklstm.prices_daily WHERE ticker = 'AAA'").row(0)  # fmt: skip
        bbb = wh.scalar("SELECT COUNT(*) FROM stacklstm.prices_daily WHERE ticker = 'BBB'")
        reasons = wh.query("SELECT DISTINCT reason FROM stacklstm.prices_quarantine")
        stopped = wh.scalar("SELECT COUNT(*) FROM stacklstm.prices_quarantine")
        report = json.loads(wh.scalar("SELECT report FROM stacklstm.validation_runs"))
    shifted = bad.filter((pl.col("ticker") == "AAA") & (pl.col("session_date") >= day)).height
    assert aaa[0] == before and aaa[1] < 1000 < close_of(bad, "AAA", day)
    assert bbb == good.height // 2
    assert reasons.rows() == [(f"level_shift ({why})",)] and stopped == shifted
    assert summary["ticker_failures"] == report["ticker_failures"] == {"AAA": why}
    assert summary["success"] is True and 95.0 < ratio < 105.0


def test_a_real_77_percent_day_in_a_volatile_series_loads_with_a_warning(
    tmp_path: Path, warehouse_url: str
) -> None:
    cfg = make_config(tmp_path, warehouse_url, source__synthetic__sigma=0.04)
    good = synthetic_frame(cfg, ("VOL",), END)
    day = good["session_date"].unique().sort()[60]
    moved = scaled(good, "VOL", pl.col("session_date") >= day, 1.77, adj=True)
    cfg = files_config(tmp_path, warehouse_url, moved)
    before = max(d for d in good["session_date"] if d < day)
    r = math.log(close_of(moved, "VOL", day) / close_of(moved, "VOL", before))
    with connect(warehouse_url) as wh:
        migrate(wh)
        summary = ingest(cfg, wh, END)
        loaded = wh.scalar("SELECT close FROM stacklstm.prices_daily WHERE ticker = 'VOL' "
                           "AND session_date = :d", {"d": day})  # fmt: skip
        report = json.loads(wh.scalar("SELECT report FROM stacklstm.validation_runs"))
    assert loaded == close_of(moved, "VOL", day)
    assert (summary["rows_loaded"], summary["rows_quarantined"]) == (good.height, 0)
    [warning] = report["warnings"]
    match = re.fullmatch(
        rf"VOL {day}: \+{100 * r:.1f}% log return, (\d+\.\d) robust sigmas, persisted: loaded",
        warning,
    )
    assert match is not None, warning
    assert float(match.group(1)) > 10.0 and 0.5 < r < 0.6
    assert summary["warnings"] == [warning]


def test_rows_after_the_as_of_are_counted_in_the_validation_run(
    tmp_path: Path, duckdb_url: str
) -> None:
    cfg = make_config(tmp_path, duckdb_url)
    prices = synthetic_frame(cfg, ("AAA", "BBB"), dt.date(2012, 7, 31))
    cfg = files_config(tmp_path, duckdb_url, prices.filter(
        (pl.col("ticker") == "AAA") | (pl.col("session_date") <= dt.date(2012, 7, 3))))  # fmt: skip
    with connect(duckdb_url) as wh:
        migrate(wh)
        summary = ingest(cfg, wh, END)
        report = json.loads(wh.scalar("SELECT report FROM stacklstm.validation_runs"))
        last = wh.scalar("SELECT MAX(session_date) FROM stacklstm.prices_daily")
    assert last == END
    assert report["rows_after_as_of"] == {
        "count": 23,
        "by_ticker": {
            "AAA": {"rows": 21, "first": "2012-07-02", "last": "2012-07-31"},
            "BBB": {"rows": 2, "first": "2012-07-02", "last": "2012-07-03"},
        },
    }
    assert summary["rows_in"] == summary["rows_loaded"] == 2 * 125


def test_daily_ingests_hold_a_real_40_percent_day_then_load_it_with_a_warning(
    tmp_path: Path, duckdb_url: str
) -> None:
    """A backfill from an empty warehouse, one session at a time (the nightly case)."""
    cfg = make_config(tmp_path, duckdb_url)
    end = dt.date(2012, 3, 9)
    good = synthetic_frame(cfg, ("AAA", "BBB"), end)
    days = calendar_for(cfg).sessions(dt.date(2012, 1, 3), end)
    jump = days[35]
    prices = scaled(good, "BBB", pl.col("session_date") >= jump, 1.4, adj=True)
    cfg = files_config(tmp_path, duckdb_url, prices)
    summaries = {}
    with connect(duckdb_url) as wh:
        migrate(wh)
        for day in days:
            summaries[day] = ingest(cfg, wh, day)
        stored = wh.query("SELECT ticker, session_date, close FROM stacklstm.prices_daily "
                          "ORDER BY ticker, session_date")  # fmt: skip
        quarantined = wh.query("SELECT ticker, session_date, reason FROM "
                               "stacklstm.prices_quarantine")  # fmt: skip
    expected = prices.select("ticker", "session_date", "close").sort("ticker", "session_date")
    assert stored.rows() == expected.rows()  # every session of both tickers, as in the file
    before = days[34]
    r = math.log(close_of(prices, "BBB", jump) / close_of(prices, "BBB", before))
    size = rf"BBB {jump}: \+{100 * r:.1f}% log return, \d+\.\d robust sigmas"
    held = summaries[jump]
    assert (held["rows_loaded"], held["rows_quarantined"]) == (1, 1)
    assert re.fullmatch(rf"{size}, is the batch's last session; held until the next one: not "
                        "loaded", held["warnings"][0])  # fmt: skip
    confirmed = summaries[days[36]]
    assert [w for w in confirmed["warnings"] if re.fullmatch(rf"{size}, persisted: loaded", w)]
    assert quarantined.select("ticker", "session_date").rows() == [("BBB", jump)]
    assert quarantined["reason"][0].startswith(f"unconfirmed_move (BBB {jump}: ")
    assert all(s["success"] and not s["ticker_failures"] for s in summaries.values())
    assert 0.3 < r < 0.4
