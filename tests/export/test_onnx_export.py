"""Every family exports to one ONNX file that onnxruntime runs like Keras does."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from stacklstm_fin.config import FAMILIES, CandidateConfig, TrainingConfig
from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.export import (
    DEFAULT_OPSET,
    PARITY_ATOL,
    check_parity,
    export_onnx,
    load_onnx_session,
    read_metadata,
    run_onnx,
)
from stacklstm_fin.models import build_model
from stacklstm_fin.models.builders import global_dtype_policy
from stacklstm_fin.training import train_candidate

W, F, H = 8, 3, 5
NAMES = ["log_return_1d", "volatility_20d", "volume_z"]
MEAN = np.array([0.0003, 0.011, 0.2], dtype=np.float32)
STD = np.array([0.012, 0.004, 1.3], dtype=np.float32)
KW = {
    "window": W,
    "n_features": F,
    "horizons": H,
    "feature_mean": MEAN,
    "feature_std": STD,
    "target_std": 0.012,
}
UNITS = {"lstm": (8,), "stacked_lstm": (8, 4), "gru": (8, 4), "bilstm": (8, 4)}


def candidate(family: str) -> CandidateConfig:
    return CandidateConfig(name=f"c_{family}", family=family, units=UNITS.get(family, (8,)), span=3)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.normal(size=(64, W, F)) * STD + MEAN).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """family -> (model, ExportResult), each family exported once."""
    out = tmp_path_factory.mktemp("onnx")
    done = {}
    for family in FAMILIES:
        model = build_model(candidate(family), **KW)
        result = export_onnx(
            model, candidate(family), **KW, feature_names=NAMES, path=out / f"{family}.onnx",
            metadata={"model_id": f"m-{family}", "data_hash": "abc"},
        )  # fmt: skip
        done[family] = (model, result)
    return done


@pytest.mark.parametrize("family", FAMILIES)
def test_export_matches_keras_within_1e5(exported, family: str, x: np.ndarray) -> None:
    model, result = exported[family]
    diff = check_parity(model, result.path, x)
    assert diff <= PARITY_ATOL, f"{family}: max abs diff {diff}"
    assert check_parity(model, result.path.read_bytes(), x[:1]) <= PARITY_ATOL  # batch of one


@pytest.mark.parametrize("family", FAMILIES)
def test_export_file_shape_names_and_opset(exported, family: str) -> None:
    _model, result = exported[family]
    data = result.path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.opset == DEFAULT_OPSET == 17
    proto = onnx.load_model_from_string(data)
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    (inp,), (out,) = proto.graph.input, proto.graph.output
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in (inp, out)]
    assert (inp.name, out.name, dims) == (
        "features",
        "log_returns",
        [["batch", W, F], ["batch", H]],
    )
    assert sorted(p.name for p in result.path.parent.iterdir() if p.name.startswith(".")) == []


def test_op_types_per_family(exported) -> None:
    ops = {family: exported[family][1].op_types for family in FAMILIES}
    for family in ("stacked_lstm", "lstm", "bilstm"):
        assert "LSTM" in ops[family] and "Loop" not in ops[family], ops[family]
    assert "Loop" in ops["gru"] and "LSTM" not in ops["gru"]
    assert ops["random_walk"] == ("ConstantOfShape", "Shape", "Slice", "Squeeze", "Tile")
    assert ops["drift"] == ("ReduceMean", "Slice", "Squeeze", "Tile")
    assert ops["ewma"] == ("MatMul", "Slice", "Squeeze", "Tile")


def test_metadata_round_trips(exported) -> None:
    _model, result = exported["stacked_lstm"]
    meta = read_metadata(load_onnx_session(result.path, result.sha256))
    assert json.loads(meta.pop("feature_names")) == NAMES
    assert json.loads(meta.pop("candidate")) == {
        "name": "c_stacked_lstm", "family": "stacked_lstm", "units": [8, 4], "dropout": 0.0,
        "span": 3,
    }  # fmt: skip
    assert meta == {
        "n_features": "3",
        "window": "8",
        "horizons": "5",
        "candidate_name": "c_stacked_lstm",
        "family": "stacked_lstm",
        "input": "features: (batch, window, n_features) float32, unscaled",
        "output": "log_returns",
        "output_description": "log_returns: (batch, horizons) float32, the one-day log return "
        "forecast for each of the sessions t+1..t+horizons",
        "model_id": "m-stacked_lstm",
        "data_hash": "abc",
    }


def test_registry_bytes_run_like_the_model(exported, x: np.ndarray) -> None:
    model, result = exported["gru"]
    session = load_onnx_session(result.path.read_bytes(), result.sha256)
    got = run_onnx(session, x)
    np.testing.assert_allclose(got, np.asarray(model.predict_on_batch(x)), atol=PARITY_ATOL)


def test_a_cudnn_built_model_is_rebuilt_for_export(tmp_path: Path, x: np.ndarray) -> None:
    cand = candidate("stacked_lstm")
    cudnn = build_model(cand, **KW, use_cudnn=True)
    # On a CPU-only TensorFlow the cuDNN path does not exist: the model cannot even run...
    with pytest.raises(ValueError, match="use_cudnn=True was specified"):
        cudnn.predict_on_batch(x)
    # ...but its weights export through the use_cudnn=False rebuild.
    result = export_onnx(cudnn, cand, **KW, feature_names=NAMES, path=tmp_path / "m.onnx")
    assert "LSTM" in result.op_types
    plain = build_model(cand, **KW, use_cudnn=False)
    plain.set_weights(cudnn.get_weights())
    assert check_parity(plain, result.path, x) <= PARITY_ATOL


def test_a_mixed_precision_model_exports_in_float32(tmp_path: Path, x: np.ndarray) -> None:
    cand = candidate("gru")
    with global_dtype_policy("mixed_float16"):
        mixed = build_model(cand, **KW)
    result = export_onnx(mixed, cand, **KW, feature_names=NAMES, path=tmp_path / "m.onnx")
    as_float32 = build_model(cand, **KW)
    as_float32.set_weights(mixed.get_weights())
    assert check_parity(as_float32, result.path, x) <= PARITY_ATOL


def test_a_trained_model_exports_with_parity(tmp_path: Path, x: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    y = (rng.normal(size=(64, H)) * 0.012).astype(np.float32)
    cand = CandidateConfig(name="t", family="bilstm", units=(4,), dropout=0.0)
    cfg = TrainingConfig(epochs=1, batch_size=32)
    trained = train_candidate(cand, x[:48], y[:48], x[48:], y[48:], cfg=cfg, **{
        k: KW[k] for k in ("feature_mean", "feature_std", "target_std")
    })  # fmt: skip
    result = export_onnx(trained.model, cand, **KW, feature_names=NAMES, path=tmp_path / "t.onnx")
    assert check_parity(trained.model, result.path, x) <= PARITY_ATOL


def test_export_arguments_are_checked(tmp_path: Path) -> None:
    cand = candidate("lstm")
    model = build_model(cand, **KW)
    with pytest.raises(ModelError) as err:
        export_onnx(model, cand, **KW, feature_names=NAMES[:2], path=tmp_path / "a.onnx")
    assert str(err.value) == (
        "feature_names: expected 3 strings (one per feature, in order), "
        "got ['log_return_1d', 'volatility_20d']"
    )
    with pytest.raises(ModelError) as err:
        export_onnx(
            model, cand, **KW, feature_names=NAMES, path=tmp_path / "a.onnx",
            metadata={"window": "9"},
        )  # fmt: skip
    assert str(err.value) == "metadata: key 'window' is written by the exporter; use another name"
    other = CandidateConfig(name="o", family="lstm", units=(5,))
    with pytest.raises(ModelError, match=r"^model 'c_lstm': its weights do not fit candidate 'o'"):
        export_onnx(model, other, **KW, feature_names=NAMES, path=tmp_path / "a.onnx")
    assert list(tmp_path.iterdir()) == []
