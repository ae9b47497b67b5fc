"""Which sessions have fresh prices and which still need forecasts, on both engines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from stacklstm_fin.config import load_config
from stacklstm_fin.pipeline.ingest import ingest
from stacklstm_fin.pipeline.sessions import (
    StalePricesError,
    has_fresh_bars,
    is_trading_session,
    require_fresh_bars,
    sessions_needing_forecasts,
    stale_tickers,
    validated_sessions,
)
from stacklstm_fin.warehouse import connect, migrate

D = dt.date
# 2018-12-24 .. 2018-12-31: 12-25 is Christmas, 12-29/30 a weekend.
BURST = [D(2018, 12, 24), D(2018, 12, 26), D(2018, 12, 27), D(2018, 12, 28), D(2018, 12, 31)]


def config(tmp_path: Path, url: str, **overrides: Any) -> Any:
    return load_config(
        None,
        env={},
        overrides={
            "paths.data_root": str(tmp_path / "data"),
            "warehouse.url": url,
            "source.name": "synthetic",
            "source.synthetic.n_tickers": 2,
            "source.synthetic.start": "2018-10-01",
            "universe.tickers": ["SYN0001", "SYN0002"],
            **overrides,
        },
    )


def publish_fake(wh: Any, day: dt.date, tickers: tuple[str, ...]) -> None:
    for ticker in tickers:
        wh.execute(
            "INSERT INTO stacklstm.forecasts (ticker, as_of_date, horizon, target_date, model_id, "
            "base_close, yhat_log_return, yhat_close, lower_close, upper_close, interval_level, "
            "published_at) VALUES (:t, :d, 1, :d, 'm', 1, 0, 1, 1, 1, 0.8, CURRENT_TIMESTAMP)",
            {"t": ticker, "d": day},
        )


@pytest.fixture
def loaded(tmp_path: Path, warehouse_url: str) -> Any:
    """Prices ingested as of 2018-12-24 (the first run), then one run per later session."""
    cfg = config(tmp_path, warehouse_url)
    with connect(warehouse_url) as wh:
        migrate(wh)
        for day in BURST:
            ingest(cfg, wh, day)
    return cfg


def test_holidays_are_not_sessions(tmp_path: Path) -> None:
    cfg = config(tmp_path, "duckdb:///unused.duckdb")
    assert [is_trading_session(cfg, D(2018, 12, d)) for d in (24, 25, 26, 29)] == [
        True, False, True, False,
    ]  # fmt: skip


def test_fresh_bars_name_the_stale_tickers(loaded: Any) -> None:
    with connect(loaded.warehouse_url) as wh:
        assert has_fresh_bars(loaded, wh, D(2018, 12, 31))
        wh.execute(
            "DELETE FROM stacklstm.prices_daily WHERE ticker = 'SYN0002' "
            "AND session_date = '2018-12-31'"
        )
        assert stale_tickers(loaded, wh, D(2018, 12, 31)) == ["SYN0002"]
        assert stale_tickers(loaded, wh, D(2019, 1, 2)) == ["SYN0001", "SYN0002"]
        with pytest.raises(StalePricesError) as caught:
            require_fresh_bars(loaded, wh, D(2019, 1, 2))
        # The validated sessions end where a ticker is missing.
        assert validated_sessions(loaded, wh, D(2018, 12, 20), None)[-1] == D(2018, 12, 28)
    assert str(caught.value) == (
        "as of 2019-01-02: no price on that session for SYN0001, SYN0002 (newest session with "
        "every ticker: 2018-12-28); nothing is trained, promoted or published for it. Load it "
        "with stacklstm_market_data once the source has the bars"
    )


def test_a_burst_leaves_every_session_pending_oldest_first(loaded: Any) -> None:
    with connect(loaded.warehouse_url) as wh:
        pending = sessions_needing_forecasts(loaded, wh, D(2018, 12, 31), limit=5)
        assert pending.todo == tuple(BURST)
        assert (pending.later, pending.too_old, pending.newest) == ((), 0, D(2018, 12, 31))
        # The history loaded by the first run (before 12-24) is not the nightly's job.
        assert pending.todo[0] == D(2018, 12, 24)

        # Bounded per run: the next run takes the rest.
        bounded = sessions_needing_forecasts(loaded, wh, D(2018, 12, 31), limit=2)
        assert bounded.todo == tuple(BURST[:2])
        assert bounded.later == tuple(BURST[2:])
        assert "2 session(s) need forecasts: 2018-12-24, 2018-12-26; 3 more after this run" in (
            bounded.describe()
        )

        # Published sessions drop out; a gap in the middle is found again.
        for day in (D(2018, 12, 24), D(2018, 12, 27), D(2018, 12, 28)):
            publish_fake(wh, day, loaded.universe.tickers)
        # Forecasts for one ticker only do not count as published.
        publish_fake(wh, D(2018, 12, 31), ("SYN0001",))
        again = sessions_needing_forecasts(loaded, wh, D(2018, 12, 31))
        assert again.todo == (D(2018, 12, 26), D(2018, 12, 31))
        # ``upto`` bounds the work (an as-of from the run), holidays never appear.
        assert sessions_needing_forecasts(loaded, wh, D(2018, 12, 25)).todo == ()
        assert sessions_needing_forecasts(loaded, wh, D(2018, 12, 26)).todo == (D(2018, 12, 26),)

        # A lookback window: older gaps are counted, not worked on.
        windowed = sessions_needing_forecasts(loaded, wh, D(2018, 12, 31), lookback=2)
        assert windowed.todo == (D(2018, 12, 31),)
        assert windowed.too_old == 1
        assert "1 older session(s) without forecasts" in windowed.describe()


def test_nothing_to_do_before_any_validated_run_or_after_the_data(
    tmp_path: Path, warehouse_url: str
) -> None:
    cfg = config(tmp_path, warehouse_url)
    with connect(warehouse_url) as wh:
        migrate(wh)
        empty = sessions_needing_forecasts(cfg, wh, D(2018, 12, 31))
        assert (empty.todo, empty.newest) == ((), None)
        assert "no loaded session has a bar for every ticker" in empty.describe()
        # The synthetic source ends its data at the as-of; a later as-of with no bars
        # (the sample data ending 2018-12-31, run on 2026-11-27) leaves nothing pending.
        ingest(cfg, wh, D(2018, 12, 31))
        wh.execute("DELETE FROM stacklstm.prices_daily WHERE session_date = '2018-12-31'")
        later = sessions_needing_forecasts(cfg, wh, D(2026, 11, 27))
        assert (later.todo, later.newest) == ((), None)


def test_backfill_plan_retrains_on_the_grid_and_refuses_long_ranges() -> None:
    from stacklstm_fin.pipeline.sessions import BackfillRangeError, plan_backfill

    days = [D(2018, 12, 3) + dt.timedelta(days=i) for i in range(7)]
    planned = plan_backfill(days, retrain_every=3, chunk=2, limit=7)
    assert planned.retrain == (days[0], days[3], days[6])
    assert planned.chunks == ((days[0], days[1]), (days[2], days[3]), (days[4], days[5]),
                              (days[6],))  # fmt: skip
    assert plan_backfill(days, retrain_every=3, chunk=4, limit=7, backwards=True).chunks == (
        tuple(days[4:]), tuple(days[:4]),
    )  # fmt: skip
    with pytest.raises(BackfillRangeError) as caught:
        plan_backfill(days, retrain_every=3, chunk=2, limit=5)
    assert str(caught.value) == (
        "start/end: 7 sessions (2018-12-03 .. 2018-12-09), more than "
        "airflow.max_backfill_sessions = 5 per run; run 2018-12-03 .. 2018-12-07 first, then "
        "the rest (each run resumes from the warehouse), or raise the limit"
    )
    with pytest.raises(BackfillRangeError, match="the range holds no trading session"):
        plan_backfill([], retrain_every=1, chunk=1, limit=5)


def test_plan_nightly_reruns_an_exact_session_or_works_up_to_the_newest(loaded: Any) -> None:
    from stacklstm_fin.pipeline.sessions import plan_nightly

    with connect(loaded.warehouse_url) as wh:
        publish_fake(wh, D(2018, 12, 24), loaded.universe.tickers)
        # An exact session is re-run even with forecasts; one without bars is refused.
        assert plan_nightly(loaded, wh, exact=D(2018, 12, 24)).todo == (D(2018, 12, 24),)
        with pytest.raises(StalePricesError):
            plan_nightly(loaded, wh, exact=D(2019, 1, 2))
        # No bound: up to the newest loaded session (an asset-triggered or follow-up run).
        assert plan_nightly(loaded, wh).todo == tuple(BURST[1:])
        assert plan_nightly(loaded, wh, upto=D(2018, 12, 27)).todo == tuple(BURST[1:3])


def test_plan_nightly_on_an_empty_warehouse_has_nothing_to_do(
    tmp_path: Path, warehouse_url: str
) -> None:
    from stacklstm_fin.pipeline.sessions import plan_nightly

    cfg = config(tmp_path, warehouse_url)
    with connect(warehouse_url) as wh:
        migrate(wh)
        pending = plan_nightly(cfg, wh)
    assert (pending.todo, pending.newest) == ((), None)
    assert pending.describe() == "nothing to do: no loaded session has a bar for every ticker"
