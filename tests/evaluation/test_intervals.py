import math

import numpy as np
import pytest

from stacklstm_fin.evaluation import (
    conformal_halfwidths,
    cumulative,
    cumulative_residuals,
    price_path,
)


def test_finite_sample_rank() -> None:
    res = np.array([[-1.0, 10.0], [2.0, -20.0], [3, 30], [-4, 40], [5, 50], [6, 60], [-7, 70],
                    [8, 80], [9, -90]])  # fmt: skip
    # n = 9, level 0.8: rank ceil(10 * 0.8) = 8 (not 9 from 8.000000000000002)
    np.testing.assert_array_equal(conformal_halfwidths(res, 0.8), [8.0, 80.0])
    np.testing.assert_array_equal(conformal_halfwidths(res, 0.5), [5.0, 50.0])
    # rank ceil(10 * 0.95) = 10 > 9: no finite half-width is valid.
    assert np.isinf(conformal_halfwidths(res, 0.95)).all()
    with pytest.raises(ValueError, match=r"expected 0 < level < 1, got 1\.0"):
        conformal_halfwidths(res, 1.0)


def test_cumulative_residuals() -> None:
    y = np.array([[0.01, 0.02, -0.01]])
    np.testing.assert_allclose(cumulative(y), [[0.01, 0.03, 0.02]])
    np.testing.assert_allclose(cumulative_residuals(y, np.zeros_like(y)), [[0.01, 0.03, 0.02]])


def test_price_path_hand_computed() -> None:
    yhat, lower, upper = price_path(100.0, np.array([0.01, -0.02]), np.array([0.05, 0.1]))
    np.testing.assert_allclose(yhat, [100 * math.exp(0.01), 100 * math.exp(-0.01)])
    np.testing.assert_allclose(lower, [100 * math.exp(-0.04), 100 * math.exp(-0.11)])
    np.testing.assert_allclose(upper, [100 * math.exp(0.06), 100 * math.exp(0.09)])


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_coverage_is_close_to_nominal_on_iid_data(level: float) -> None:
    rng = np.random.default_rng(42)
    h = 5

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        signal = rng.normal(0.0, 0.01, (n, h))
        return signal + rng.standard_t(5, (n, h)) * 0.01, signal  # y_true, y_pred

    y_val, p_val = draw(5_000)
    q = conformal_halfwidths(cumulative_residuals(y_val, p_val), level)
    assert np.all(np.diff(q) > 0)  # uncertainty grows with the horizon
    y_new, p_new = draw(20_000)
    covered = np.abs(cumulative_residuals(y_new, p_new)) <= q
    coverage = covered.mean(axis=0)
    assert np.all(np.abs(coverage - level) < 0.03), coverage
    # The same in prices: the realised close H sessions ahead falls inside the interval.
    hits = 0
    for i in range(2_000):
        _, lo, hi = price_path(50.0, p_new[i], q)
        close = 50.0 * np.exp(np.sum(y_new[i]))
        hits += int(lo[-1] <= close <= hi[-1])
    assert abs(hits / 2_000 - level) < 0.03
