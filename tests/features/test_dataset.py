import datetime as dt
import math
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from stacklstm_fin.config import DatasetConfig
from stacklstm_fin.exceptions import DatasetError
from stacklstm_fin.features import Dataset, build_dataset, build_features
from tests.features.prices import make_prices, weekdays

CFG = DatasetConfig(
    window=10, horizons=3, test_sessions=20, validation_sessions=15, volatility_window=5
)
DAYS = weekdays(dt.date(2020, 1, 1), 200)
AS_OF = DAYS[149]  # 150 sessions on or before as_of
SPLITS = ("train", "validation", "test", "latest")


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return make_prices(("BBB", "AAA", "^IDX"), 200, zero_volume=("^IDX",))


@pytest.fixture(scope="module")
def ds(prices: pl.DataFrame) -> Dataset:
    return build_dataset(prices, CFG, AS_OF)


def _same(a: Dataset, b: Dataset) -> None:
    assert (a.as_of, a.tickers, a.spans, a.data_hash) == (b.as_of, b.tickers, b.spans, b.data_hash)
    assert a.target_std == b.target_std
    np.testing.assert_array_equal(a.feature_mean, b.feature_mean)
    np.testing.assert_array_equal(a.feature_std, b.feature_std)
    for name in SPLITS:
        sa, sb = getattr(a, name), getattr(b, name)
        for field in ("x", "y", "tickers", "anchor_dates"):
            np.testing.assert_array_equal(getattr(sa, field), getattr(sb, field))


def _index(day: np.datetime64) -> int:
    return DAYS.index(day.astype(dt.date))


def test_shapes_dtypes_and_order(ds: Dataset) -> None:
    assert ds.tickers == ("AAA", "BBB", "^IDX")
    assert ds.feature_names[0] == "log_return"
    assert (ds.window, ds.horizons, ds.as_of) == (10, 3, AS_OF)
    for name in SPLITS:
        split = getattr(ds, name)
        assert split.x.shape == (split.n, 10, 4) and split.x.dtype == np.float32
        assert split.y.shape == (split.n, 3) and split.y.dtype == np.float32
        assert split.tickers.shape == (split.n,) and split.anchor_dates.dtype == "datetime64[D]"
        keys = list(zip(split.anchor_dates.tolist(), split.tickers.tolist(), strict=True))
        assert keys == sorted(keys) and len(set(keys)) == split.n
    assert (ds.test.n, ds.validation.n, ds.latest.n) == (3 * 20, 3 * 15, 3)
    # 150 sessions - 5 warm-up - 9 to fill the first window - 3 targets - 20 - 15 - 2 x 3 embargo
    assert ds.train.n == 3 * (150 - 5 - 9 - 3 - 20 - 15 - 6)
    assert ds.feature_mean.shape == ds.feature_std.shape == (4,)
    assert ds.feature_mean.dtype == ds.feature_std.dtype == np.float32
    assert ds.spans["test"][1] == DAYS[149 - 3]


def test_nothing_after_as_of_changes_anything(prices: pl.DataFrame, ds: Dataset) -> None:
    later = pl.col("session_date") > AS_OF
    changed = prices.with_columns(
        pl.when(later).then(pl.col(c) * 1.7).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low", "close", "adj_close", "volume")
    )
    extra = make_prices(("AAA", "ZZZ"), 5, start=DAYS[-1] + dt.timedelta(days=7), seed=9)
    _same(build_dataset(pl.concat([extra, changed]), CFG, AS_OF), ds)


def test_data_hash_is_stable_across_processes_and_sensitive(
    prices: pl.DataFrame, ds: Dataset, tmp_path
) -> None:
    path = tmp_path / "prices.parquet"
    prices.write_parquet(path)
    code = (
        "import datetime, polars as pl; from stacklstm_fin.config import DatasetConfig; "
        "from stacklstm_fin.features.dataset import dataset_hash, prices_used; "
        f"cfg = DatasetConfig(**{CFG.__dict__!r}); "
        f"print(dataset_hash(prices_used(pl.read_parquet({str(path)!r}), cfg, "
        f"datetime.date.fromisoformat({AS_OF.isoformat()!r})), cfg))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ds.data_hash
    earlier = pl.col("session_date") == DAYS[10]
    bumped = prices.with_columns(
        pl.when(earlier).then(pl.col("open") + 1e-9).otherwise(pl.col("open")).alias("open")
    )
    assert build_dataset(bumped, CFG, AS_OF).data_hash != ds.data_hash
    other_cfg = DatasetConfig(**{**CFG.__dict__, "ticker_id_input": True})
    assert build_dataset(prices, other_cfg, AS_OF).data_hash != ds.data_hash


def test_embargo_keeps_targets_out_of_the_next_split(ds: Dataset) -> None:
    h = ds.horizons
    train, val, test = (np.unique(s.anchor_dates) for s in (ds.train, ds.validation, ds.test))
    assert (len(val), len(test)) == (15, 20)
    assert _index(train.max()) + h < _index(val.min())
    assert _index(val.max()) + h < _index(test.min())
    # Exactly H anchor dates are dropped before each boundary.
    assert _index(val.min()) - _index(train.max()) == h + 1
    assert _index(test.min()) - _index(val.max()) == h + 1
    last_train_target = DAYS[_index(train.max()) + h]
    last_val_target = DAYS[_index(val.max()) + h]
    assert last_train_target < val.min().astype(dt.date)
    assert last_val_target < test.min().astype(dt.date)
    assert DAYS[_index(test.max()) + h] == AS_OF  # targets need sessions <= as_of only


def test_targets_and_windows_are_the_hand_computed_values(prices: pl.DataFrame) -> None:
    small = prices.filter(pl.col("ticker") == "AAA")
    ds = build_dataset(small, CFG, AS_OF)
    adj = dict(zip(small["session_date"].to_list(), small["adj_close"].to_list(), strict=True))
    feats = build_features(small, CFG)
    rows = {d: i for i, d in enumerate(feats["session_date"].to_list())}
    values = feats.select(ds.feature_names).to_numpy()
    for split in (ds.train, ds.validation, ds.test):
        for x, y, anchor in zip(split.x, split.y, split.anchor_dates.tolist(), strict=True):
            i = DAYS.index(anchor)
            expected = [math.log(adj[DAYS[i + k]] / adj[DAYS[i + k - 1]]) for k in (1, 2, 3)]
            np.testing.assert_allclose(y, expected, rtol=1e-6)
            r = rows[anchor]
            np.testing.assert_array_equal(x, values[r - 9 : r + 1].astype(np.float32))


def test_scaling_stats_come_from_train_only(prices: pl.DataFrame, ds: Dataset) -> None:
    first_val = ds.spans["validation"][0]
    later = pl.col("session_date") >= first_val
    changed = prices.with_columns(
        pl.when(later).then(pl.col(c) * 3.0).otherwise(pl.col(c)).alias(c)
        for c in ("high", "adj_close", "volume")
    )
    other = build_dataset(changed, CFG, AS_OF)
    np.testing.assert_array_equal(other.feature_mean, ds.feature_mean)
    np.testing.assert_array_equal(other.feature_std, ds.feature_std)
    assert other.target_std == ds.target_std
    np.testing.assert_array_equal(other.train.x, ds.train.x)
    np.testing.assert_array_equal(other.train.y, ds.train.y)
    assert not np.array_equal(other.validation.x, ds.validation.x)
    # The stats are those of the feature rows inside train windows.
    rows = build_features(prices.filter(pl.col("session_date") <= AS_OF), CFG).filter(
        pl.col("session_date") <= ds.spans["train"][1]
    )
    values = rows.select(ds.feature_names).to_numpy().astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(ds.feature_mean, values.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(ds.feature_std, values.std(axis=0), rtol=1e-6)
    assert ds.target_std == pytest.approx(float(ds.train.y.astype(np.float64).std()))


def test_latest_window_ends_at_each_tickers_last_session(prices: pl.DataFrame) -> None:
    saturday = AS_OF + dt.timedelta(days=(5 - AS_OF.weekday()) % 7)
    stale = prices.filter((pl.col("ticker") != "BBB") | (pl.col("session_date") <= DAYS[140]))
    ds = build_dataset(stale, CFG, saturday)
    friday = max(d for d in DAYS if d <= saturday)
    assert ds.latest.anchor_dates.tolist() == [DAYS[140], friday, friday]
    assert ds.latest.tickers.tolist() == ["BBB", "AAA", "^IDX"]
    assert np.isnan(ds.latest.y).all()
    feats = build_features(stale.filter(pl.col("ticker") == "AAA"), CFG)
    last = feats.filter(pl.col("session_date") <= friday).tail(10).select(ds.feature_names)
    np.testing.assert_array_equal(ds.latest.x[1], last.to_numpy().astype(np.float32))


def test_max_history_keeps_the_newest_sessions(prices: pl.DataFrame) -> None:
    cfg = DatasetConfig(**{**CFG.__dict__, "max_history_sessions": 100})
    ds = build_dataset(prices, cfg, AS_OF)
    cut = prices.filter(pl.col("session_date") >= DAYS[50])
    full = build_dataset(cut, CFG, AS_OF)
    np.testing.assert_array_equal(ds.train.x, full.train.x)
    assert ds.spans == full.spans and ds.spans["train"][0] == DAYS[50 + 5 + 9]


def test_not_enough_history_names_needed_and_available(prices: pl.DataFrame) -> None:
    with pytest.raises(DatasetError) as err:
        build_dataset(prices, CFG, DAYS[57])
    assert str(err.value) == (
        "not enough history as of 2020-03-20: need at least 59 sessions (volatility_window 5 "
        "+ window 10 + 3 x horizons 3 + validation_sessions 15 + test_sessions 20), have 58; "
        "load more history or lower dataset.test_sessions / dataset.validation_sessions"
    )
    exact = build_dataset(prices, CFG, DAYS[58])  # exactly enough: one train anchor date
    assert np.unique(exact.train.anchor_dates).size == 1
    with pytest.raises(DatasetError, match=r"need at least 59 sessions .*, have 0;"):
        build_dataset(prices, CFG, dt.date(2019, 6, 3))


def test_duplicate_rows_are_rejected(prices: pl.DataFrame) -> None:
    with pytest.raises(DatasetError) as err:
        build_dataset(pl.concat([prices, prices.head(1)]), CFG, AS_OF)
    assert str(err.value) == (
        "prices: duplicate row for (AAA, 2020-01-01); expected one row per (ticker, session_date)"
    )
