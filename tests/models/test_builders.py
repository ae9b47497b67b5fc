"""The stacked-RNN builder and the baselines: shapes, layers, in-graph constants."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from stacklstm_fin.config import BASELINE_FAMILIES, FAMILIES, CandidateConfig
from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.models import build_model, ewma_weights
from stacklstm_fin.models.builders import global_dtype_policy

W, F, H = 8, 3, 5
MEAN = np.array([0.001, 0.5, -1.0], dtype=np.float32)
STD = np.array([0.01, 2.0, 3.0], dtype=np.float32)
TARGET_STD = 0.02
SHAPE = {"window": W, "n_features": F, "horizons": H}
CONSTS = {"feature_mean": MEAN, "feature_std": STD, "target_std": TARGET_STD}
UNITS = {"lstm": (8,), "stacked_lstm": (8, 4), "gru": (8, 4), "bilstm": (8, 4)}


def candidate(family: str, **kw: object) -> CandidateConfig:
    return CandidateConfig(name=f"c_{family}", family=family, units=UNITS.get(family, (8,)), **kw)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(16, W, F)) * STD + MEAN).astype(np.float32)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_maps_windows_to_horizons(family: str, x: np.ndarray) -> None:
    model = build_model(candidate(family), **SHAPE, **CONSTS)
    y = np.asarray(model.predict_on_batch(x))
    assert model.name == f"c_{family}"
    assert [t.name for t in model.inputs] == ["features"]
    assert model.output_names == ["log_returns"]
    assert y.shape == (16, H) and y.dtype == np.float32
    assert np.all(np.isfinite(y))
    if family in BASELINE_FAMILIES:
        assert model.weights == []
    else:
        assert len(model.trainable_weights) > 0
        assert {w.path for w in model.non_trainable_weights} == {
            "standardize/mean",
            "standardize/std",
            "log_returns/scale",
        }


def test_stacked_lstm_layers_keep_the_cudnn_conditions() -> None:
    model = build_model(candidate("stacked_lstm", dropout=0.2), **SHAPE, **CONSTS)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer", "Standardize", "LSTM", "Dropout", "LSTM", "Dense", "Rescale",
    ]  # fmt: skip
    rnns = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert [r.units for r in rnns] == [8, 4]
    assert [r.return_sequences for r in rnns] == [True, False]
    assert model.get_layer("dropout_0").rate == 0.2
    for r in rnns:
        assert r.cell.activation is keras.activations.tanh
        assert r.cell.recurrent_activation is keras.activations.sigmoid
        assert (r.cell.recurrent_dropout, r.unroll, r.use_cudnn) == (0.0, False, "auto")


def test_gru_bilstm_and_lstm_use_their_cells() -> None:
    gru = build_model(candidate("gru"), **SHAPE, **CONSTS, use_cudnn=False)
    assert [type(layer).__name__ for layer in gru.layers[2:4]] == ["GRU", "GRU"]
    assert all(layer.cell.reset_after and layer.use_cudnn is False for layer in gru.layers[2:4])
    bi = build_model(candidate("bilstm"), **SHAPE, **CONSTS)
    assert [type(layer).__name__ for layer in bi.layers[2:4]] == ["Bidirectional"] * 2
    assert bi.get_layer("rnn_1").output.shape == (None, 8)  # 2 x 4 units
    one = build_model(candidate("lstm"), **SHAPE, **CONSTS)
    assert [type(layer).__name__ for layer in one.layers] == [
        "InputLayer", "Standardize", "LSTM", "Dense", "Rescale",
    ]  # fmt: skip
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in one.layers)


def test_standardization_in_graph_is_exactly_x_minus_mean_over_std(x: np.ndarray) -> None:
    model = build_model(candidate("stacked_lstm"), **SHAPE, **CONSTS)
    scaled = keras.Model(model.inputs, model.get_layer("standardize").output)
    np.testing.assert_array_equal(np.asarray(scaled.predict_on_batch(x)), (x - MEAN) / STD)


def test_output_is_the_head_times_target_std(x: np.ndarray) -> None:
    model = build_model(candidate("gru"), **SHAPE, **CONSTS)
    head = keras.Model(model.inputs, model.get_layer("head").output)
    np.testing.assert_array_equal(
        np.asarray(model.predict_on_batch(x)),
        np.asarray(head.predict_on_batch(x)) * np.float32(TARGET_STD),
    )


def test_random_walk_forecasts_zero(x: np.ndarray) -> None:
    model = build_model(candidate("random_walk"), **SHAPE, **CONSTS)
    np.testing.assert_array_equal(np.asarray(model.predict_on_batch(x)), np.zeros((16, H)))


def test_drift_is_the_window_mean_of_the_return_feature(x: np.ndarray) -> None:
    model = build_model(candidate("drift"), **SHAPE, **CONSTS)
    expected = np.repeat(x[:, :, 0].mean(axis=1, keepdims=True), H, axis=1)
    np.testing.assert_allclose(np.asarray(model.predict_on_batch(x)), expected, rtol=1e-6)


def test_ewma_matches_a_hand_computed_recursion(x: np.ndarray) -> None:
    span = 4
    alpha = 2 / (span + 1)
    expected = []
    for row in x[:, :, 0].astype(np.float64):
        num = den = 0.0
        for r in row:  # oldest to newest: pandas' ewm(span, adjust=True)
            num, den = (1 - alpha) * num + r, (1 - alpha) * den + 1
        expected.append(num / den)
    model = build_model(candidate("ewma", span=span), **SHAPE, **CONSTS)
    got = np.asarray(model.predict_on_batch(x))
    np.testing.assert_allclose(got, np.repeat(np.array(expected)[:, None], H, 1), atol=1e-7)


def test_ewma_weights_sum_to_one_newest_heaviest() -> None:
    w = ewma_weights(5, span=3)
    np.testing.assert_allclose(w, np.array([1, 2, 4, 8, 16]) / 31, rtol=1e-6)
    assert np.all(np.diff(w) > 0)


def test_mixed_precision_keeps_constants_and_head_float32() -> None:
    with global_dtype_policy("mixed_float16"):
        model = build_model(candidate("stacked_lstm"), **SHAPE, **CONSTS)
    assert keras.mixed_precision.global_policy().name == "float32"
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers[1:]}
    assert policies == {
        "standardize": "float32",
        "rnn_0": "mixed_float16",
        "rnn_1": "mixed_float16",
        "head": "float32",
        "log_returns": "float32",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"feature_std": np.array([0.01, 0.0, 1.0])},
            "feature_std: expected every value > 0, got [0.009999999776482582, 0.0, 1.0]; "
            "a constant feature cannot be standardized, drop it from the dataset",
        ),
        (
            {"feature_mean": np.zeros(2)},
            "feature_mean: expected shape (3,) to match n_features, got (2,)",
        ),
        ({"target_std": 0.0}, "target_std: expected a finite value > 0, got 0.0"),
        ({"use_cudnn": "yes"}, "use_cudnn: expected 'auto', True or False, got 'yes'"),
        ({"window": 0}, "window: expected a positive integer, got 0"),
    ],
)
def test_bad_arguments_name_themselves(kwargs: dict[str, object], message: str) -> None:
    args = {**SHAPE, **CONSTS, **kwargs}
    with pytest.raises(ModelError) as err:
        build_model(candidate("lstm"), **args)  # type: ignore[arg-type]
    assert str(err.value) == message
