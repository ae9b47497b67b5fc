"""Load a registry's ONNX bytes safely and run them with onnxruntime.

A stored artifact is trusted only if its sha256 matches the registry's and it
is self-contained (no tensor data outside the file); it is always loaded from
bytes, so nothing next to a file on disk can change what runs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stacklstm_fin.exceptions import ArtifactIntegrityError, ModelError

if TYPE_CHECKING:
    import onnx
    import onnxruntime

# Small RNNs on a shared worker: a few threads per session is the sweet spot,
# and Airflow runs several tasks per machine.
MAX_INTRA_OP_THREADS = 4


def read_onnx_bytes(path_or_bytes: str | Path | bytes) -> tuple[bytes, str]:
    """(bytes, label for messages) from a path or the bytes themselves."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return bytes(path_or_bytes), "<bytes>"
    path = Path(path_or_bytes)
    if not path.is_file():
        raise ModelError(f"ONNX file not found: {path}")
    return path.read_bytes(), str(path)


def load_onnx_session(
    path_or_bytes: str | Path | bytes,
    expected_sha256: str,
    *,
    intra_op_threads: int | None = None,
) -> onnxruntime.InferenceSession:
    """A CPU session for a registry artifact, after checking its sha256 and data location."""
    import onnx

    data, label = read_onnx_bytes(path_or_bytes)
    got = hashlib.sha256(data).hexdigest()
    if got != expected_sha256.strip().lower():
        raise ArtifactIntegrityError(
            f"ONNX file {label}: sha256 {got} does not match the registry's "
            f"{expected_sha256}; refusing to load"
        )
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ArtifactIntegrityError(f"ONNX file {label}: not a valid ONNX model: {exc}") from None
    external = next(external_data_tensors(proto), None)
    if external is not None:
        raise ArtifactIntegrityError(
            f"ONNX file {label}: tensor {external!r} keeps its data outside the file "
            "(external data); refusing to load: registry artifacts must be self-contained"
        )
    return session_from_bytes(data, intra_op_threads=intra_op_threads, label=label)


def session_from_bytes(
    data: bytes, *, intra_op_threads: int | None = None, label: str = "<bytes>"
) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session from model bytes (no checks).

    A model onnxruntime refuses (unknown operator, invalid graph, bad bytes) is
    a :class:`ModelError` of one line, never onnxruntime's own exception.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    threads = intra_op_threads or min(MAX_INTRA_OP_THREADS, os.cpu_count() or 1)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's pybind errors share no public base class
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"ONNX model {label}: onnxruntime refused to load it: {reason}") from None


def read_metadata(session: onnxruntime.InferenceSession) -> dict[str, str]:
    """The model's metadata_props (feature_names is a JSON list; numbers are strings)."""
    return dict(session.get_modelmeta().custom_metadata_map)


def run_onnx(session: onnxruntime.InferenceSession, x: np.ndarray) -> np.ndarray:
    """(n, window, n_features) unscaled features -> (n, horizons) float32 log returns."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    (name,) = [i.name for i in session.get_inputs()]
    return np.asarray(session.run(None, {name: x})[0], dtype=np.float32)


def external_data_tensors(model: onnx.ModelProto) -> Iterator[str]:
    """Names of tensors, in the graph and every subgraph, stored as external data."""
    import onnx

    def tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("g"):
                    yield from tensors(attr.g)
                for sub in attr.graphs:
                    yield from tensors(sub)

    for tensor in tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            yield tensor.name
