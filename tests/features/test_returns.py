import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from stacklstm_fin.config import DatasetConfig
from stacklstm_fin.exceptions import DatasetError
from stacklstm_fin.features import FEATURE_NAMES, build_features
from stacklstm_fin.features.pandas_reference import build_features_pandas
from stacklstm_fin.schema import PRICE_SCHEMA
from tests.features.prices import make_prices, weekdays

CFG = DatasetConfig(volatility_window=2)


def _tiny() -> pl.DataFrame:
    days = weekdays(dt.date(2021, 3, 1), 4)
    return pl.DataFrame(
        {
            "ticker": ["X"] * 4,
            "session_date": days,
            "open": [1.0, 1.0, 1.0, 1.0],
            "high": [11.0, 12.0, 13.0, 15.0],
            "low": [9.0, 10.0, 11.0, 12.0],
            "close": [10.0, 11.0, 12.0, 13.0],
            "adj_close": [10.0, 11.0, 12.1, 12.0],
            "volume": [0.0, 9.0, 4.0, 0.0],
        },
        schema=PRICE_SCHEMA,
    )


def test_feature_zero_is_the_log_return() -> None:
    assert FEATURE_NAMES[0] == "log_return"
    assert FEATURE_NAMES == ("log_return", "log_range", "log_volume_change", "volatility")


def test_hand_computed_values_and_warm_up_dropped() -> None:
    out = build_features(_tiny(), CFG)
    # Rows 0 (no previous close) and 1 (one return < volatility_window 2) are warm-up.
    assert out.get_column("session_date").to_list() == weekdays(dt.date(2021, 3, 1), 4)[2:]
    r1, r2, r3 = math.log(11 / 10), math.log(12.1 / 11), math.log(12.0 / 12.1)
    expected = {
        "log_return": [r2, r3],
        "log_range": [math.log(13 / 11), math.log(15 / 12)],
        "log_volume_change": [math.log(5 / 10), math.log(1 / 5)],
        "volatility": [abs(r2 - r1) / math.sqrt(2), abs(r3 - r2) / math.sqrt(2)],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(out.get_column(name).to_numpy(), values, rtol=1e-14)


def test_polars_matches_pandas_reference() -> None:
    prices = make_prices(("B", "A", "^IDX"), 300, seed=3, zero_volume=("^IDX",))
    shuffled = prices.sample(fraction=1.0, shuffle=True, seed=1)
    cfg = DatasetConfig(volatility_window=20)
    fast = build_features(shuffled, cfg)
    slow = build_features_pandas(shuffled.to_pandas(), cfg)
    assert fast.height == 3 * (300 - 20) == len(slow)
    assert fast.get_column("ticker").to_list() == slow["ticker"].tolist()
    assert fast.get_column("session_date").to_list() == [d.date() for d in slow["session_date"]]
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(
            fast.get_column(name).to_numpy(), slow[name].to_numpy(), rtol=0, atol=1e-12
        )


def test_non_positive_price_is_a_dataset_error() -> None:
    prices = _tiny().with_columns(
        pl.when(pl.col("session_date") == dt.date(2021, 3, 4))
        .then(0.0)
        .otherwise(pl.col("low"))
        .alias("low")
    )
    with pytest.raises(DatasetError) as err:
        build_features(prices, CFG)
    assert str(err.value) == (
        "prices: non-finite feature for X on 2021-03-04; expected positive high, low and "
        "adj_close and volume >= 0 (validate the prices first)"
    )


def test_missing_column_is_named() -> None:
    with pytest.raises(DatasetError) as err:
        build_features(_tiny().drop("adj_close"), CFG)
    assert str(err.value) == (
        "build_features: prices: missing column(s) adj_close; "
        "expected ticker, session_date, high, low, adj_close, volume"
    )
