"""forecast_accuracy hides no published forecast: realized, pending, or no price with a reason."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

from stacklstm_fin.warehouse import connect, insert, migrate

UTC = dt.UTC
D = dt.date


def _prices(rows: list[tuple[str, dt.date, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticker": [r[0] for r in rows], "session_date": [r[1] for r in rows],
            "open": [r[2] for r in rows], "high": [r[2] for r in rows],
            "low": [r[2] for r in rows], "close": [r[2] for r in rows],
            "adj_close": [r[2] for r in rows], "volume": [0.0] * len(rows),
            "source": ["test"] * len(rows),
            "ingested_at": [dt.datetime(2020, 1, 1, tzinfo=UTC)] * len(rows),
        }
    )  # fmt: skip


def _forecast(ticker: str, target: dt.date, yhat: float, lo: float, hi: float) -> dict:
    return {
        "ticker": ticker, "as_of_date": D(2020, 1, 2), "horizon": (target - D(2020, 1, 2)).days,
        "target_date": target, "model_id": "m1", "base_close": 100.0,
        "yhat_log_return": math.log(yhat / 100.0), "yhat_close": yhat, "lower_close": lo,
        "upper_close": hi, "interval_level": 0.8,
        "published_at": dt.datetime(2020, 1, 2, tzinfo=UTC),
    }  # fmt: skip


def test_every_forecast_has_a_state_and_quarantined_targets_say_so(warehouse_url: str) -> None:
    with connect(warehouse_url) as wh:
        migrate(wh)
        insert(wh, "stacklstm.prices_daily", _prices([
            ("AAA", D(2020, 1, 2), 100.0), ("AAA", D(2020, 1, 3), 104.0),
            ("AAA", D(2020, 1, 6), 99.0), ("BBB", D(2020, 1, 2), 100.0),
        ]))  # fmt: skip
        # 2020-01-04 of AAA was refused by validation: the forecast for it must still show.
        wh.execute(
            "INSERT INTO stacklstm.prices_quarantine (run_id, row_index, ticker, session_date, "
            "close, reason, quarantined_at) VALUES ('r1', 0, 'AAA', :d, 10000.0, "
            "'spike: +470.0% and back the next session', CURRENT_TIMESTAMP)",
            {"d": D(2020, 1, 4)},
        )
        insert(wh, "stacklstm.forecasts", pl.DataFrame([
            _forecast("AAA", D(2020, 1, 3), 101.0, 95.0, 105.0),  # realized, inside
            _forecast("AAA", D(2020, 1, 4), 100.0, 95.0, 105.0),  # quarantined target
            _forecast("AAA", D(2020, 1, 5), 102.0, 95.0, 105.0),  # past, no bar, not quarantined
            _forecast("AAA", D(2020, 1, 6), 100.0, 99.5, 105.0),  # realized, below the interval
            _forecast("AAA", D(2020, 1, 7), 100.0, 95.0, 105.0),  # after the newest session
            _forecast("BBB", D(2020, 1, 3), 101.0, 95.0, 105.0),  # BBB's newest is 01-02
        ]))  # fmt: skip
        view = wh.query(
            "SELECT ticker, target_date, state, no_price_reason, direction_hit, in_interval, "
            "interval_score FROM stacklstm.forecast_accuracy ORDER BY ticker, target_date"
        )
    assert view.height == 6
    assert view.select("ticker", "state").rows() == [
        ("AAA", "realized"), ("AAA", "no_price"), ("AAA", "no_price"), ("AAA", "realized"),
        ("AAA", "pending"), ("BBB", "pending"),
    ]  # fmt: skip
    reasons = view["no_price_reason"].to_list()
    assert reasons[1] == "quarantined: spike: +470.0% and back the next session"
    assert reasons[2] == "no bar stored for the target session"
    assert reasons[0] is None and reasons[4] is None
    # 01-03: forecast up, realized up: a hit. 01-06: forecast no change: no direction called.
    assert view["direction_hit"].to_list() == [1, None, None, None, None, None]
    assert view["in_interval"].to_list() == [1, None, None, 0, None, None]
    width = math.log(105.0 / 95.0)
    assert abs(view["interval_score"][0] - width) < 1e-12
    below = math.log(105.0 / 99.5) + 2 / 0.2 * math.log(99.5 / 99.0)
    assert abs(view["interval_score"][3] - below) < 1e-9
