"""ONNX export, parity against Keras, and safe loading of stored artifacts."""

from stacklstm_fin.export.artifacts import load_onnx_session, read_metadata, run_onnx
from stacklstm_fin.export.onnx_export import DEFAULT_OPSET, ExportResult, export_onnx
from stacklstm_fin.export.parity import PARITY_ATOL, check_parity

__all__ = [
    "DEFAULT_OPSET",
    "PARITY_ATOL",
    "ExportResult",
    "check_parity",
    "export_onnx",
    "load_onnx_session",
    "read_metadata",
    "run_onnx",
]
