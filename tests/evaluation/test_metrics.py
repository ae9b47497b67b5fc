import math

import numpy as np
import pytest
from scipy import stats

from stacklstm_fin.evaluation import METRICS, MetricRow, diebold_mariano, evaluate, score
from stacklstm_fin.exceptions import ConfigError

D1, D2 = np.datetime64("2024-01-02"), np.datetime64("2024-01-03")
Y_TRUE = np.array([[0.01, -0.02], [-0.01, 0.03], [0.02, 0.0], [0.0, -0.01]])
Y_PRED = np.array([[0.02, -0.01], [0.01, 0.01], [0.01, 0.01], [0.0, 0.0]])
TICKERS = np.array(["B", "B", "A", "A"])
DATES = np.array([D1, D2, D1, D2])


def _table(rows: list[MetricRow]) -> dict[tuple[str, int, str], float]:
    return {(r.ticker, r.horizon, r.metric): r.value for r in rows}


def test_rows_cover_every_ticker_horizon_and_metric() -> None:
    rows = evaluate(Y_TRUE, Y_PRED, TICKERS, DATES)
    assert [(r.ticker, r.horizon) for r in rows[:: len(METRICS)]] == [
        ("*", 1), ("*", 2), ("A", 1), ("A", 2), ("B", 1), ("B", 2)
    ]  # fmt: skip
    assert [r.metric for r in rows[: len(METRICS)]] == list(METRICS)


def test_hand_computed_values() -> None:
    t = _table(evaluate(Y_TRUE, Y_PRED, TICKERS, DATES))
    # Pooled, horizon 1: errors -0.01, -0.02, 0.01, 0.0
    assert t["*", 1, "rmse"] == pytest.approx(math.sqrt((1 + 4 + 1 + 0) * 1e-4 / 4))
    assert t["*", 1, "mae"] == pytest.approx(0.04 / 4)
    assert t["*", 1, "mase"] == pytest.approx((0.04 / 4) / (0.04 / 4))
    # Signs true (+, -, +, 0) vs pred (+, +, +, 0): zero meets zero counts as a hit.
    assert t["*", 1, "directional_accuracy"] == 0.75
    # Horizon 2: errors -0.01, 0.02, -0.01, -0.01; true (-, +, 0, -) vs pred (-, +, +, 0).
    assert t["*", 2, "rmse"] == pytest.approx(math.sqrt((1 + 4 + 1 + 1) * 1e-4 / 4))
    assert t["*", 2, "mase"] == pytest.approx((0.05 / 4) / (0.06 / 4))
    assert t["*", 2, "directional_accuracy"] == 0.5
    # Ticker A alone, horizon 2: errors -0.01, -0.01; the random walk's 0.0, 0.01.
    assert t["A", 2, "mae"] == pytest.approx(0.01)
    assert t["A", 2, "mase"] == pytest.approx(0.01 / 0.005)
    assert t["A", 2, "directional_accuracy"] == 0.0
    # Pooled DM at h=1: d = e^2 - y^2 averaged per date: (0 - 3e-4) / 2, (3e-4 + 0) / 2.
    assert (t["*", 1, "dm_stat"], t["*", 1, "dm_pvalue"]) == (0.0, 1.0)


def test_pooled_dm_runs_on_per_date_means() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(0, 0.01, (12, 1))
    pred = y * 0.5 + rng.normal(0, 0.002, (12, 1))
    dates = np.repeat(np.arange(6).astype("datetime64[D]"), 2)
    tickers = np.tile(np.array(["X", "Y"]), 6)
    d = ((y - pred) ** 2 - y**2)[:, 0]
    per_date = d.reshape(6, 2).mean(axis=1)
    t = _table(evaluate(y, pred, tickers, dates))
    assert (t["*", 1, "dm_stat"], t["*", 1, "dm_pvalue"]) == diebold_mariano(per_date, 1)
    assert t["X", 1, "dm_stat"] == diebold_mariano(d[0::2], 1)[0]
    assert t["*", 1, "dm_stat"] != pytest.approx(diebold_mariano(d, 1)[0])


def test_diebold_mariano_hand_computed() -> None:
    d = np.array([1.0, -1.0, 2.0, 0.0])
    # mean 0.5, gamma0 1.25, gamma1 -0.9375, T = 4
    stat1 = math.sqrt((4 + 1 - 2) / 4) * 0.5 / math.sqrt(1.25 / 4)
    stat2 = math.sqrt((4 + 1 - 4 + 2 / 4) / 4) * 0.5 / math.sqrt((1.25 - 0.9375) / 4)
    for h, stat in ((1, stat1), (2, stat2)):
        got_stat, got_p = diebold_mariano(d, h)
        assert got_stat == pytest.approx(stat, rel=1e-12)
        assert got_p == pytest.approx(2 * stats.t.sf(stat, df=3), rel=1e-12)
    assert diebold_mariano(np.zeros(5), 3) == (0.0, 1.0)
    assert diebold_mariano(np.full(5, -2.0), 1) == (-math.inf, 0.0)
    assert all(math.isnan(v) for v in diebold_mariano(np.array([1.0]), 1))


def test_random_walk_scores_mase_one_and_dm_zero() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.01, (300, 3))
    tickers = np.repeat(np.array(["X", "Y", "Z"]), 100)
    dates = np.tile(np.arange(100).astype("datetime64[D]"), 3)
    t = _table(evaluate(y, np.zeros_like(y), tickers, dates))
    for who in ("*", "X", "Y", "Z"):
        for h in (1, 2, 3):
            assert t[who, h, "mase"] == 1.0
            assert (t[who, h, "dm_stat"], t[who, h, "dm_pvalue"]) == (0.0, 1.0)
            assert t[who, h, "directional_accuracy"] == 0.0  # never calls a direction


def test_dm_detects_a_clearly_better_and_a_worse_forecast() -> None:
    rng = np.random.default_rng(1)
    n, h = 400, 3
    signal = rng.normal(0, 0.01, (n, h))
    y = signal + rng.normal(0, 0.005, (n, h))
    dates = np.arange(n).astype("datetime64[D]")
    tickers = np.full(n, "X")
    good = _table(evaluate(y, signal, tickers, dates))
    bad = _table(evaluate(y, -signal, tickers, dates))
    for k in range(1, h + 1):
        assert good["*", k, "dm_stat"] < 0 and good["*", k, "dm_pvalue"] < 0.05
        assert good["*", k, "mase"] < 1.0
        assert bad["*", k, "dm_stat"] > 0 and bad["*", k, "dm_pvalue"] < 0.05
    noise = _table(evaluate(y, 1e-6 * rng.normal(size=(n, h)), tickers, dates))
    assert noise["*", 1, "dm_pvalue"] > 0.05


def test_score_reads_pooled_values() -> None:
    rows = evaluate(Y_TRUE, Y_PRED, TICKERS, DATES)
    t = _table(rows)
    assert score(rows, "rmse", 2) == t["*", 2, "rmse"]
    assert score(rows, "rmse", 0) == pytest.approx((t["*", 1, "rmse"] + t["*", 2, "rmse"]) / 2)
    with pytest.raises(ConfigError) as err:
        score(rows, "r2", 0)
    assert str(err.value) == (
        "selection.metric: expected one of rmse, mae, mase, directional_accuracy, dm_stat, "
        "dm_pvalue; got 'r2'"
    )
    with pytest.raises(ConfigError) as err:
        score(rows, "mae", 3)
    assert str(err.value) == (
        "selection.horizon: expected 0 (mean) or 1..2, got 3; the dataset's horizons bound it"
    )


def test_shape_mismatch_is_named() -> None:
    with pytest.raises(ValueError) as err:
        evaluate(Y_TRUE, Y_PRED[:, :1], TICKERS, DATES)
    assert str(err.value) == (
        "evaluate: expected y_true and y_pred of one shape (n, H), got (4, 2) and (4, 1)"
    )
