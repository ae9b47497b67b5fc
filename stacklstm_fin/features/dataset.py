"""Point-in-time dataset: features, windows, walk-forward splits, scaling stats.

Only prices with ``session_date <= as_of`` are read (``docs/architecture.md``,
point-in-time rule); the result, ``data_hash`` included, does not change when
any later price changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from stacklstm_fin.config import DatasetConfig
from stacklstm_fin.exceptions import DatasetError
from stacklstm_fin.features.returns import FEATURE_NAMES, build_features, check_columns
from stacklstm_fin.features.windows import (
    RowIndex,
    WindowSplit,
    covered_rows,
    last_rows,
    make_split,
    ordered,
    row_index,
)
from stacklstm_fin.schema import PRICE_COLUMNS, PRICE_KEY, PRICE_SCHEMA

STD_FLOOR = 1e-8
_EPOCH = dt.date(1970, 1, 1)
_HASH_VERSION = b"stacklstm_fin.dataset/v1\0"


@dataclass(frozen=True, eq=False)
class Dataset:
    as_of: dt.date
    window: int
    horizons: int
    feature_names: tuple[str, ...]
    tickers: tuple[str, ...]
    train: WindowSplit
    validation: WindowSplit
    test: WindowSplit
    latest: WindowSplit  # last window per ticker ending at its last session <= as_of; y NaN
    feature_mean: np.ndarray  # (n_features,) float32, from rows inside train windows
    feature_std: np.ndarray  # (n_features,) float32, same rows, floored at STD_FLOOR
    target_std: float  # std of train y, all horizons pooled, floored at STD_FLOOR
    spans: dict[str, tuple[dt.date, dt.date]]  # first and last anchor date per split
    data_hash: str  # sha256 of the prices used and the DatasetConfig


def build_dataset(prices: pl.DataFrame, cfg: DatasetConfig, as_of: dt.date) -> Dataset:
    """Build the walk-forward dataset of ``prices`` as of ``as_of``.

    Splits are by anchor date, pooled over tickers: the last ``test_sessions``
    anchor dates with complete targets are the test split, the
    ``validation_sessions`` before them the validation split, the rest train.
    The ``horizons`` anchor dates before each boundary are dropped (embargo),
    and a window is kept only if its last target date is before the next
    split's first anchor date, so no target reaches into the next split.
    """
    used = prices_used(prices, cfg, as_of)
    data_hash = dataset_hash(used, cfg)
    tickers = tuple(used.get_column("ticker").unique(maintain_order=True).to_list())

    features, log_return, names, index = _matrix(used, cfg)

    rows = _split_rows(index, cfg, as_of, used)

    def split(r: np.ndarray, with_targets: bool = True) -> WindowSplit:
        return make_split(
            features, log_return, names, index, r, cfg.window, cfg.horizons,
            with_targets=with_targets,
        )  # fmt: skip

    train = split(rows["train"])
    inside = covered_rows(rows["train"], features.shape[0], cfg.window)
    train_rows = features[inside].astype(np.float64)  # (rows in train windows, n_features)
    return Dataset(
        as_of=as_of,
        window=cfg.window,
        horizons=cfg.horizons,
        feature_names=FEATURE_NAMES,
        tickers=tickers,
        train=train,
        validation=split(rows["validation"]),
        test=split(rows["test"]),
        latest=split(last_rows(index), with_targets=False),
        feature_mean=train_rows.mean(axis=0).astype(np.float32),
        feature_std=np.maximum(train_rows.std(axis=0), STD_FLOOR).astype(np.float32),
        target_std=max(float(train.y.astype(np.float64).std()), STD_FLOOR),
        spans={name: _span(index.days[r]) for name, r in rows.items()},
        data_hash=data_hash,
    )


def recent_windows(used: pl.DataFrame, cfg: DatasetConfig, per_ticker: int) -> WindowSplit:
    """The windows anchored at each ticker's last ``per_ticker`` sessions (y NaN).

    ``used`` is :func:`prices_used` output. Ordered by (anchor_date, ticker);
    a ticker with less history gives every window it has.
    """
    features, log_return, names, index = _matrix(used, cfg)
    codes = index.codes
    # (N,) rows after this one of the same ticker: the frame is sorted by ticker.
    ends = np.searchsorted(codes, codes, side="right") - 1
    rows = np.flatnonzero(index.has_window & (ends - np.arange(codes.shape[0]) < per_ticker))
    return make_split(
        features, log_return, names, index, ordered(rows, index), cfg.window, cfg.horizons,
        with_targets=False,
    )  # fmt: skip


def _matrix(
    used: pl.DataFrame, cfg: DatasetConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, RowIndex]:
    """Features (N, n_features) float32, log returns (N,), ticker names and the row index."""
    feats = build_features(used, cfg)
    names = np.asarray(feats.get_column("ticker").unique(maintain_order=True).to_list(), dtype=str)
    codes = feats.get_column("ticker").rle_id().to_numpy()  # frame is sorted by ticker
    days = feats.get_column("session_date").cast(pl.Int32).to_numpy()
    # (N, n_features) float32, C order (polars hands back Fortran order)
    features = np.ascontiguousarray(feats.select(FEATURE_NAMES).to_numpy(), dtype=np.float32)
    log_return = feats.get_column("log_return").to_numpy()  # (N,) float64
    return features, log_return, names, row_index(codes, days, cfg.window, cfg.horizons)


def prices_used(prices: pl.DataFrame, cfg: DatasetConfig, as_of: dt.date) -> pl.DataFrame:
    """Canonical prices with ``session_date <= as_of``, newest ``max_history_sessions``
    per ticker (all if 0), sorted by (ticker, session_date)."""
    check_columns(prices, PRICE_COLUMNS, "build_dataset: prices")
    used = (
        prices.lazy()
        .select(pl.col(c).cast(t) for c, t in PRICE_SCHEMA.items())
        .filter(pl.col("session_date") <= as_of)
        .sort(PRICE_KEY)
    )
    n = cfg.max_history_sessions
    if n > 0:
        used = used.filter(pl.int_range(pl.len()).over("ticker") >= pl.len().over("ticker") - n)
    out = used.collect()
    dupes = out.filter(pl.struct(PRICE_KEY).is_duplicated())
    if dupes.height:
        ticker, day = dupes.row(0)[:2]
        raise DatasetError(
            f"prices: duplicate row for ({ticker}, {day}); expected one row per "
            "(ticker, session_date)"
        )
    return out


def dataset_hash(used: pl.DataFrame, cfg: DatasetConfig) -> str:
    """sha256 of the canonical bytes of ``used`` (sorted canonical prices) and ``cfg``.

    Little-endian fixed-width values, a null bitmap per column, tickers as
    (length, utf-8, row count) runs: independent of process, platform and
    polars' in-memory layout.
    """
    h = hashlib.sha256(_HASH_VERSION)
    h.update(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode())
    for ticker, count in used.group_by("ticker", maintain_order=True).len().iter_rows():
        raw = ticker.encode()
        h.update(len(raw).to_bytes(4, "little") + raw + count.to_bytes(8, "little"))
    for name in PRICE_COLUMNS[1:]:
        col = used.get_column(name)
        h.update(name.encode() + b"\0")
        h.update(np.packbits(col.is_null().to_numpy()).tobytes())
        if name == "session_date":
            values = col.cast(pl.Int32).fill_null(0).to_numpy().astype("<i4")
        else:
            values = col.fill_null(0.0).to_numpy().astype("<f8")
            values[np.isnan(values)] = np.nan  # one NaN bit pattern
        h.update(values.tobytes())
    return h.hexdigest()


def _split_rows(
    index: RowIndex, cfg: DatasetConfig, as_of: dt.date, used: pl.DataFrame
) -> dict[str, np.ndarray]:
    """Anchor rows of train, validation and test, each ordered by (date, ticker)."""
    h, v, t = cfg.horizons, cfg.validation_sessions, cfg.test_sessions
    complete = index.complete
    anchor_days = np.unique(index.days[complete])  # (K,) pooled over tickers
    k = anchor_days.shape[0]
    required = t + v + 2 * h + 1  # at least one train anchor date
    overhead = cfg.volatility_window + cfg.window - 1 + h  # sessions that anchor nothing
    needed = required + overhead
    if k < required:
        lengths = used.group_by("ticker").len().get_column("len").to_numpy()
        have = k + overhead if k else int(lengths.max(initial=0))
        raise DatasetError(
            f"not enough history as of {as_of.isoformat()}: need at least {needed} sessions "
            f"(volatility_window {cfg.volatility_window} + window {cfg.window} + "
            f"3 x horizons {h} + validation_sessions {v} + test_sessions {t}), have {have}; "
            "load more history or lower dataset.test_sessions / dataset.validation_sessions"
        )
    test_lo = k - t
    val_lo = test_lo - h - v
    test_start, val_start = anchor_days[test_lo], anchor_days[val_lo]
    val_end, train_end = anchor_days[test_lo - h - 1], anchor_days[val_lo - h - 1]
    days, last = index.days, index.last_target_day
    masks = {
        "train": complete & (days <= train_end) & (last < val_start),
        "validation": complete & (days >= val_start) & (days <= val_end) & (last < test_start),
        "test": complete & (days >= test_start),
    }
    rows = {name: ordered(np.flatnonzero(m), index) for name, m in masks.items()}
    for name, r in rows.items():
        if r.shape[0] == 0:  # only with tickers on disjoint calendars
            raise DatasetError(
                f"dataset as of {as_of.isoformat()}: the {name} split has no window whose "
                "targets end before the next split; the tickers' sessions barely overlap"
            )
    return rows


def _span(days: np.ndarray) -> tuple[dt.date, dt.date]:
    lo, hi = int(days.min()), int(days.max())
    return (_EPOCH + dt.timedelta(days=lo), _EPOCH + dt.timedelta(days=hi))
