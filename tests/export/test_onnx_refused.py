"""A model onnxruntime refuses to load is one ModelError line, not onnxruntime's exception."""

from __future__ import annotations

import hashlib

import pytest

from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.export import load_onnx_session


def test_onnxruntime_refusal_is_a_model_error() -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    with pytest.raises(ModelError) as err:
        load_onnx_session(data, hashlib.sha256(data).hexdigest())
    text = str(err.value)
    assert text.startswith(
        "ONNX model <bytes>: onnxruntime refused to load it: [ONNXRuntimeError] : 10 : "
        "INVALID_GRAPH : "
    )
    assert text.endswith("Error No Op registered for NoSuchOp with domain_version of 17")
    assert "\n" not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__
