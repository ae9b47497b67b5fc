"""Per-ticker publication decisions from test-window evidence (no training)."""

from __future__ import annotations

import datetime as dt
import math
from types import SimpleNamespace

import numpy as np
import pytest

from stacklstm_fin.config import load_config
from stacklstm_fin.decisions import decisions_as_of, write_decisions
from stacklstm_fin.pipeline.promotion import ticker_decisions
from stacklstm_fin.warehouse import connect, migrate


def dataset(n: int = 400, seed: int = 5) -> tuple[SimpleNamespace, np.ndarray]:
    """A test split of two tickers: AR(1) phi 0.3 (PRED) and a random walk (RW)."""
    rng = np.random.default_rng(seed)
    ys, preds, tickers, days = [], [], [], []
    for ticker, phi in (("PRED", 0.3), ("RW", 0.0)):
        r = np.zeros(n + 1)
        for t in range(1, n + 1):
            r[t] = phi * r[t - 1] + 0.01 * rng.standard_normal()
        ys.append(r[1:, None])
        preds.append(0.3 * r[:-1, None])  # the model that knows phi = 0.3
        tickers += [ticker] * n
        days.append(np.arange(n).astype("datetime64[D]"))
    test = SimpleNamespace(y=np.vstack(ys), tickers=np.array(tickers),
                           anchor_dates=np.concatenate(days))  # fmt: skip
    return SimpleNamespace(test=test, horizons=1), np.vstack(preds)


def test_the_network_is_published_only_where_it_beats_the_random_walk() -> None:
    cfg = load_config(None, env={}, overrides={"selection.horizon": 1})
    ds, pred = dataset()
    live = {"model_id": "gru-1", "family": "gru", "candidate": "gru"}
    out = {d.ticker: d for d in ticker_decisions(cfg, ds, live, pred, "rw-1", competing=3)}  # type: ignore[arg-type]
    assert out["PRED"].model_id == "gru-1" and out["RW"].model_id == "rw-1"
    assert out["PRED"].p_adjusted < 0.05 <= out["RW"].p_adjusted
    # Bonferroni for 3 candidates, then Holm over 2 tickers (the smallest p times 2).
    assert out["PRED"].p_adjusted == pytest.approx(min(out["PRED"].p_value * 3 * 2, 1.0))
    assert out["RW"].reason.startswith("no evidence gru beats the random walk on RW's 400 test")
    assert out["PRED"].reason.startswith("gru beats the random walk on PRED's 400 test sessions")
    # A random walk champion publishes itself everywhere.
    rw = {"model_id": "rw-1", "family": "random_walk", "candidate": "random_walk"}
    everywhere = ticker_decisions(cfg, ds, rw, 0 * pred, "rw-1")  # type: ignore[arg-type]
    assert {d.model_id for d in everywhere} == {"rw-1"}
    assert {d.reason for d in everywhere} == {"the champion is the random walk"}
    assert all(math.isnan(d.p_value) and math.isnan(d.p_adjusted) for d in everywhere)


def test_decisions_are_read_as_of_a_date(warehouse_url: str) -> None:
    cfg = load_config(None, env={}, overrides={"selection.horizon": 1})
    ds, pred = dataset()
    live = {"model_id": "gru-1", "family": "gru", "candidate": "gru"}
    first = ticker_decisions(cfg, ds, live, pred, "rw-1")  # type: ignore[arg-type]
    later = ticker_decisions(cfg, ds, {**live, "model_id": "gru-2"}, pred, "rw-2")  # type: ignore[arg-type]
    with connect(warehouse_url) as wh:
        migrate(wh)
        with wh.transaction():
            assert write_decisions(wh, dt.date(2018, 1, 2), first) == 2
            write_decisions(wh, dt.date(2018, 7, 2), later)
        stamp = "SELECT decided_at, reason FROM stacklstm.publication_decisions ORDER BY 1, 2"
        before = wh.query(stamp).rows()
        write_decisions(wh, dt.date(2018, 1, 2), first)
        assert wh.query(stamp).rows() == before  # a rerun changes no row
        assert decisions_as_of(wh, dt.date(2017, 12, 29)) == (None, {})
        assert decisions_as_of(wh, dt.date(2018, 3, 1)) == (
            dt.date(2018, 1, 2), {"PRED": "gru-1", "RW": "rw-1"})  # fmt: skip
        assert decisions_as_of(wh, dt.date(2018, 12, 31))[1] == {"PRED": "gru-2", "RW": "rw-2"}
