"""Evidence against the random walk: one-sided DM, multiple testing, scale-free score."""

import math

import numpy as np
import pytest

from stacklstm_fin.evaluation.evidence import (
    adjust,
    compare,
    normalized_losses,
    scale_free_score,
    window_losses,
)


def ar1(n: int, phi: float, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = np.zeros(n + 1)
    for t in range(1, n + 1):
        r[t] = phi * r[t - 1] + sigma * rng.standard_normal()
    return r


def test_one_sided_dm_finds_a_real_edge_and_not_a_fake_one() -> None:
    days = np.arange(300).astype("datetime64[D]")
    r = ar1(300, 0.3, 0.01, seed=4)
    y, best = r[1:, None], 0.3 * r[:-1, None]  # the true conditional mean
    good = compare(window_losses(y, best, "rmse", 1), window_losses(y, 0 * y, "rmse", 1),
                   days, "rmse", 1)  # fmt: skip
    assert good.p_value < 0.05 and good.ratio < 0.97 and good.dm_stat < 0
    # On a random walk, the same "model" is noise: no evidence, and worse is p > 0.5.
    w = ar1(300, 0.0, 0.01, seed=7)
    y0, fake = w[1:, None], 0.3 * w[:-1, None]
    bad = compare(window_losses(y0, fake, "rmse", 1), window_losses(y0, 0 * y0, "rmse", 1),
                  days, "rmse", 1)  # fmt: skip
    assert bad.p_value > 0.5 and bad.ratio > 1.0
    assert good.windows == bad.windows == 300


def test_windows_of_one_date_are_averaged_before_the_test() -> None:
    days = np.repeat(np.arange(50).astype("datetime64[D]"), 2)
    loss = np.tile([1.0, 3.0], 50)
    ev = compare(loss, loss + 1.0, days, "mae", 1)
    assert ev.windows == 50 and ev.p_value == 0.0 and ev.loss == 2.0 and ev.reference_loss == 3.0


def test_holm_and_benjamini_hochberg() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert math.isnan(adjust([0.01, math.nan], "holm")[1])
    assert adjust([0.01, math.nan], "holm")[0] == pytest.approx(0.02)  # NaN counts as a test
    with pytest.raises(ValueError, match="expected one of"):
        adjust(p, "bonferroni")


def test_scale_free_score_is_not_decided_by_the_volatile_ticker() -> None:
    rng = np.random.default_rng(3)
    calm = 0.001 * rng.standard_normal((200, 1))
    wild = 0.05 * rng.standard_normal((200, 1))
    y = np.vstack([calm, wild])
    tickers = np.array(["CALM"] * 200 + ["WILD"] * 200)
    # A model 10% better on the volatile ticker and 2x worse (RMSE) on the calm one.
    pred = np.vstack([calm + 0.001 * np.sqrt(3) * rng.standard_normal((200, 1)), 0.1 * wild])
    pooled = math.sqrt(np.mean((y - pred) ** 2) / np.mean(y**2))
    assert pooled < 1.0  # pooled RMSE says "better": the volatile ticker decides it
    score = scale_free_score(y, pred, tickers, "rmse", 0)
    assert score > 1.0  # the geometric mean of ~2.0 and ~0.9 says "worse"
    assert scale_free_score(y, 0 * y, tickers, "rmse", 0) == 1.0
    norm = normalized_losses(y, 0 * y, tickers, "rmse", 0)
    assert np.mean(norm[:200]) == pytest.approx(1.0) and np.mean(norm[200:]) == pytest.approx(1.0)
