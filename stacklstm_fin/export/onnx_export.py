"""Keras model -> one self-describing `.onnx` file, written atomically.

Always exported from a fresh float32, ``use_cudnn=False`` copy of the
architecture with the trained weights copied in: a graph traced through
cuDNN (``CudnnRNNV3``, what a TF GPU run builds) cannot be converted by
tf2onnx, and Keras' ONNX export needs a float32 policy. LSTM layers become
the native ONNX ``LSTM`` op; GRU becomes a ``Loop``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stacklstm_fin.config import CandidateConfig
from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.models.builders import (
    INPUT_NAME,
    OUTPUT_NAME,
    build_model,
    global_dtype_policy,
)

if TYPE_CHECKING:
    import keras
    import onnx
    from numpy.typing import ArrayLike

# One fixed opset, tested end to end (tf2onnx 1.17 writes up to 18; onnxruntime
# 1.32 reads far beyond). Bytes still differ between two exports of the same
# weights (tf2onnx numbers its node names per process): the sha256 names an
# artifact, not a set of weights.
DEFAULT_OPSET = 17
BATCH_DIM = "batch"
# Keys the exporter writes itself; caller metadata may not override them.
RESERVED_KEYS = (
    "feature_names",
    "n_features",
    "window",
    "horizons",
    "candidate_name",
    "family",
    "candidate",
    "input",
    "output",
    "output_description",
)


@dataclasses.dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    op_types: tuple[str, ...]  # sorted, the main graph and its subgraphs (Loop bodies)
    opset: int


def export_onnx(
    model: keras.Model,
    candidate: CandidateConfig,
    *,
    window: int,
    n_features: int,
    horizons: int,
    feature_mean: ArrayLike,
    feature_std: ArrayLike,
    target_std: float,
    feature_names: Sequence[str],
    path: str | Path,
    opset: int = DEFAULT_OPSET,
    metadata: Mapping[str, str] | None = None,
) -> ExportResult:
    """Export ``model`` (built by ``build_model`` for ``candidate``) to ``path``.

    Input "features" (batch, window, n_features) float32 unscaled, output
    "log_returns" (batch, horizons), batch dynamic. ``metadata`` (model_id,
    ...) is embedded with the exporter's own keys (see RESERVED_KEYS).
    """
    import keras
    import onnx

    if keras.backend.backend() != "tensorflow":
        raise ModelError(
            f"ONNX export needs the TensorFlow backend, got {keras.backend.backend()!r}: save "
            "the weights with save_weights() and export from a KERAS_BACKEND=tensorflow process"
        )
    props = _metadata(candidate, window, n_features, horizons, feature_names, metadata or {})
    with global_dtype_policy("float32"):
        clone = build_model(
            candidate,
            window=window,
            n_features=n_features,
            horizons=horizons,
            feature_mean=feature_mean,
            feature_std=feature_std,
            target_std=target_std,
            use_cudnn=False,
        )
    try:
        clone.set_weights(model.get_weights())
    except ValueError as exc:
        raise ModelError(
            f"model {model.name!r}: its weights do not fit candidate {candidate.name!r} "
            f"({candidate.family}, units {list(candidate.units)}): {exc}"
        ) from None
    clone(np.zeros((1, window, n_features), dtype=np.float32))  # export needs a called model

    with tempfile.TemporaryDirectory(prefix="stacklstm-onnx-") as tmp, _quiet_converter():
        raw = Path(tmp) / "model.onnx"
        clone.export(str(raw), format="onnx", verbose=False, opset_version=opset)
        proto = onnx.load_model(str(raw))
    _finalize(proto, props, opset)
    data = proto.SerializeToString()
    path = Path(path)
    _write_atomic(path, data)
    return ExportResult(path, hashlib.sha256(data).hexdigest(), op_types(proto), opset)


def op_types(model: onnx.ModelProto) -> tuple[str, ...]:
    """Sorted distinct op types of the graph and all its subgraphs."""
    found: set[str] = set()

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.HasField("g"):
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(model.graph)
    return tuple(sorted(found))


def _metadata(
    candidate: CandidateConfig,
    window: int,
    n_features: int,
    horizons: int,
    feature_names: Sequence[str],
    extra: Mapping[str, str],
) -> dict[str, str]:
    names = list(feature_names)
    if len(names) != n_features or not all(isinstance(n, str) for n in names):
        raise ModelError(
            f"feature_names: expected {n_features} strings (one per feature, in order), got {names}"
        )
    for key, value in extra.items():
        if key in RESERVED_KEYS:
            raise ModelError(f"metadata: key {key!r} is written by the exporter; use another name")
        if not isinstance(key, str) or not isinstance(value, str):
            raise ModelError(f"metadata: expected str keys and values, got {key!r}: {value!r}")
    return {
        "feature_names": json.dumps(names),
        "n_features": str(n_features),
        "window": str(window),
        "horizons": str(horizons),
        "candidate_name": candidate.name,
        "family": candidate.family,
        "candidate": json.dumps(dataclasses.asdict(candidate), sort_keys=True),
        "input": f"{INPUT_NAME}: (batch, window, n_features) float32, unscaled",
        "output": OUTPUT_NAME,
        "output_description": (
            f"{OUTPUT_NAME}: (batch, horizons) float32, the one-day log return "
            "forecast for each of the sessions t+1..t+horizons"
        ),
        **dict(extra),
    }


def _finalize(proto: onnx.ModelProto, props: Mapping[str, str], opset: int) -> None:
    """Stable names, a named dynamic batch dimension, metadata; then validate."""
    import onnx

    graph = proto.graph
    if [i.name for i in graph.input] != [INPUT_NAME] or len(graph.output) != 1:
        raise ModelError(
            f"ONNX export: expected one input {INPUT_NAME!r} and one output, got inputs "
            f"{[i.name for i in graph.input]} and {len(graph.output)} outputs"
        )
    _rename(graph, graph.output[0].name, OUTPUT_NAME)
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    versions = {o.domain: o.version for o in proto.opset_import}
    if versions.get("", versions.get("ai.onnx")) != opset:
        raise ModelError(f"ONNX export: asked for opset {opset}, the converter wrote {versions}")
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a value everywhere in the graph and its subgraphs."""
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
        for attr in node.attribute:
            if attr.HasField("g"):
                _rename(attr.g, old, new)
            for sub in attr.graphs:
                _rename(sub, old, new)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """tf2onnx's INFO chatter off; Keras' numpy-2 shim for tf2onnx warns on np.object."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*np\.object.*", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)
