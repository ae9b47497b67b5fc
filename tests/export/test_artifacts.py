"""Loading stored ONNX bytes: checksum first, self-contained only, CPU session."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from stacklstm_fin.exceptions import ArtifactIntegrityError, ModelError
from stacklstm_fin.export import load_onnx_session, read_metadata, run_onnx


def tiny_model() -> onnx.ModelProto:
    """features (batch, 2, 1) -> features + bias, with one initializer."""
    bias = numpy_helper.from_array(np.array([0.5], dtype=np.float32), "bias")  # raw_data
    graph = helper.make_graph(
        [helper.make_node("Add", ["features", "bias"], ["log_returns"])],
        "tiny",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 2, 1])],
        [helper.make_tensor_value_info("log_returns", TensorProto.FLOAT, ["batch", 2, 1])],
        initializer=[bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"model_id": "tiny-1"})
    return model


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_good_bytes_load_run_and_report_metadata(tmp_path: Path) -> None:
    data = tiny_model().SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    for source in (path, str(path), data):
        session = load_onnx_session(source, sha(data).upper())
        assert session.get_providers() == ["CPUExecutionProvider"]
        assert read_metadata(session) == {"model_id": "tiny-1"}
        x = np.zeros((3, 2, 1), dtype=np.float64)  # cast to float32 by run_onnx
        np.testing.assert_array_equal(run_onnx(session, x), np.full((3, 2, 1), 0.5, np.float32))


def test_sha_mismatch_is_refused_with_both_checksums(tmp_path: Path) -> None:
    data = tiny_model().SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    wrong = "0" * 64
    with pytest.raises(ArtifactIntegrityError) as err:
        load_onnx_session(path, wrong)
    assert str(err.value) == (
        f"ONNX file {path}: sha256 {sha(data)} does not match the registry's {wrong}; "
        "refusing to load"
    )
    tampered = data + b"\x00"
    with pytest.raises(ArtifactIntegrityError) as err:
        load_onnx_session(tampered, sha(data))
    assert str(err.value) == (
        f"ONNX file <bytes>: sha256 {sha(tampered)} does not match the registry's "
        f"{sha(data)}; refusing to load"
    )


def test_external_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ext.onnx"
    onnx.save_model(
        tiny_model(), path, save_as_external_data=True, all_tensors_to_one_file=True,
        location="weights.bin", size_threshold=0,
    )  # fmt: skip
    assert (tmp_path / "weights.bin").is_file()
    data = path.read_bytes()
    with pytest.raises(ArtifactIntegrityError) as err:
        load_onnx_session(path, sha(data))
    assert str(err.value) == (
        f"ONNX file {path}: tensor 'bias' keeps its data outside the file (external data); "
        "refusing to load: registry artifacts must be self-contained"
    )


def test_not_onnx_and_missing_files(tmp_path: Path) -> None:
    junk = b"\xff\xff\xff not a protobuf"
    with pytest.raises(ArtifactIntegrityError, match=r"^ONNX file <bytes>: not a valid ONNX model"):
        load_onnx_session(junk, sha(junk))
    with pytest.raises(ModelError, match=r"^ONNX file not found: .*missing\.onnx$"):
        load_onnx_session(tmp_path / "missing.onnx", "0" * 64)
