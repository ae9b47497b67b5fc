"""Rolling and summary accuracy, computed by hand on a few rows."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from stacklstm_fin.report.data import accuracy_summary, rolling_accuracy

D1, D2, D3 = dt.date(2018, 12, 3), dt.date(2018, 12, 4), dt.date(2018, 12, 5)


def rows() -> pl.DataFrame:
    # pct_error, calls_direction, direction_hit, in_interval per (family, h=1, target date)
    data = [
        ("lstm", D1, 0.01, True, 1, 1),
        ("lstm", D1, -0.03, True, 0, 0),
        ("lstm", D2, 0.02, True, 1, 1),
        ("lstm", D3, 0.00, False, 0, 1),
        ("random_walk", D1, 0.02, False, 0, 1),
        ("random_walk", D2, -0.02, False, 0, 0),
    ]
    return pl.DataFrame(
        data,
        schema=["family", "target_date", "pct_error", "calls_direction", "direction_hit",
                "in_interval"],
        orient="row",
    ).with_columns(horizon=pl.lit(1, pl.Int32), interval_level=pl.lit(0.8))  # fmt: skip


def test_rolling_accuracy_by_hand() -> None:
    out = rolling_accuracy(rows(), window=2).sort("family", "target_date")
    lstm = out.filter(pl.col("family") == "lstm")
    assert lstm["target_date"].to_list() == [D1, D2, D3]
    assert lstm["forecasts"].to_list() == [2, 3, 2]
    expected_rmse = [
        math.sqrt((0.01**2 + 0.03**2) / 2) * 100,
        math.sqrt((0.01**2 + 0.03**2 + 0.02**2) / 3) * 100,
        math.sqrt((0.02**2 + 0.0) / 2) * 100,  # D1 left the window of 2 target sessions
    ]
    assert lstm["rmse_pct"].to_list() == pytest.approx(expected_rmse)
    assert lstm["hit_rate"].to_list() == pytest.approx([0.5, 2 / 3, 1.0])
    assert lstm["coverage"].to_list() == pytest.approx([0.5, 2 / 3, 1.0])
    rw = out.filter(pl.col("family") == "random_walk")
    assert rw["hit_rate"].to_list() == [None, None]  # never called a direction
    assert rw["coverage"].to_list() == pytest.approx([1.0, 0.5])


def test_accuracy_summary_by_hand() -> None:
    out = accuracy_summary(rows())
    assert out["family"].to_list() == ["lstm", "random_walk"]
    assert out["forecasts"].to_list() == [4, 2]
    assert out["directional_forecasts"].to_list() == [3, 0]
    assert out["hit_rate"].to_list()[0] == pytest.approx(2 / 3)
    assert out["hit_rate"].to_list()[1] is None
    assert out["mae_pct"].to_list() == pytest.approx([1.5, 2.0])
    assert out["nominal_level"].to_list() == [0.8, 0.8]


def test_rolling_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window: expected an integer >= 1, got 0"):
        rolling_accuracy(rows(), window=0)
