"""Per-ticker adaptive conformal intervals against a known conditional distribution."""

import math

import numpy as np
import pytest

from stacklstm_fin.evaluation.adaptive import AdaptiveSettings, ticker_interval
from stacklstm_fin.evaluation.volatility import cumulative_scales, one_step_variance


def garch_path(
    n: int,
    seed: int,
    omega: float = 2e-6,
    alpha: float = 0.08,
    beta: float = 0.9,
    scale_from: int | None = None,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian GARCH(1,1) returns and their true one-step variances (known truth)."""
    rng = np.random.default_rng(seed)
    r, var = np.empty(n), np.empty(n)
    v = omega / (1 - alpha - beta)
    for t in range(n):
        om = omega * (scale if scale_from is not None and t >= scale_from else 1.0)
        if t:
            v = om + alpha * r[t - 1] ** 2 + beta * v
        var[t] = v
        r[t] = math.sqrt(v) * rng.standard_normal()
    return r, var


def replay(r: np.ndarray, start: int, settings: AdaptiveSettings, h: int = 1) -> tuple[
    float, float
]:  # fmt: skip
    """(coverage, mean width) of the random walk's intervals at anchors start.. (h-step)."""
    inside, widths = [], []
    for t in range(start, r.shape[0] - h + 1):
        iv = ticker_interval(r[:t], np.zeros((t + 1, 5)), settings)
        realized = r[t : t + h].sum()
        inside.append(abs(realized) <= iv.halfwidths[h - 1])
        widths.append(2 * iv.halfwidths[h - 1])
    return float(np.mean(inside)), float(np.mean(widths))


def test_ewma_and_garch_scales_read_only_the_past() -> None:
    r, _ = garch_path(800, seed=1)
    for model in ("ewma", "garch"):
        full, _ = cumulative_scales(r, 5, model, fit_upto=600)
        cut, _ = cumulative_scales(r[:600], 5, model)
        # anchor t reads r[:t]: changing returns after 600 changes no scale up to anchor 600.
        np.testing.assert_allclose(full[:601], cut, rtol=1e-12)
    v, fit = one_step_variance(r, "ewma")
    assert fit.model == "ewma" and v.shape == (801,)
    assert v[1] == pytest.approx(0.94 * v[0] + 0.06 * r[0] ** 2)


def test_garch_falls_back_to_ewma_on_short_history() -> None:
    r, _ = garch_path(100, seed=2)
    _, fit = one_step_variance(r, "garch")
    assert fit.model == "ewma"
    assert fit.note == "100 returns < 250 for a GARCH fit"


@pytest.mark.slow
@pytest.mark.parametrize("volatility", ["garch", "ewma"])
def test_coverage_and_width_against_the_true_garch_interval(volatility: str) -> None:
    r, var = garch_path(3300, seed=11)
    settings = AdaptiveSettings(level=0.8, volatility=volatility, aci_sessions=300)
    coverage, width = replay(r, 1300, settings)
    true_width = np.mean(2 * 1.2815515655446004 * np.sqrt(var[1300:]))
    assert abs(coverage - 0.8) <= 0.02
    assert abs(width / true_width - 1) <= 0.10


@pytest.mark.slow
def test_calm_and_volatile_tickers_each_cover() -> None:
    calm, _ = garch_path(2600, seed=5, omega=2e-7)
    wild, _ = garch_path(2600, seed=6, omega=2e-5)
    settings = AdaptiveSettings(level=0.8, aci_sessions=300)
    for r in (calm, wild):
        coverage, _ = replay(r, 1100, settings)
        assert abs(coverage - 0.8) <= 0.04


@pytest.mark.slow
def test_regime_switch_adapts() -> None:
    # Volatility x3 (omega x9) from session 1500: the second half still covers.
    r, _ = garch_path(2600, seed=9, scale_from=1500, scale=9.0)
    coverage, _ = replay(r, 1500, AdaptiveSettings(level=0.8, aci_sessions=300))
    assert abs(coverage - 0.8) <= 0.05


def test_misses_widen_the_next_interval() -> None:
    r, _ = garch_path(1200, seed=3)
    pred = np.zeros((1201, 5))
    base = ticker_interval(r, pred, AdaptiveSettings(aci_gamma=0.0))
    # A forecast that has been badly off for the last 100 sessions: many misses.
    biased = pred.copy()
    biased[-100:] = 0.02
    adapted = ticker_interval(r, biased, AdaptiveSettings(aci_gamma=0.05))
    assert adapted.miss_levels[0] < 0.2 - 0.05
    assert adapted.halfwidths[0] > base.halfwidths[0]
    assert base.miss_levels[0] == pytest.approx(0.2)


def test_too_little_history_is_refused() -> None:
    r, _ = garch_path(40, seed=4)
    with pytest.raises(ValueError, match="realized forecasts at horizon 1, need 50"):
        ticker_interval(r, np.zeros((41, 5)), AdaptiveSettings())
    with pytest.raises(ValueError, match=r"expected pred_cum of shape \(41, H\)"):
        ticker_interval(r, np.zeros((40, 5)), AdaptiveSettings())
