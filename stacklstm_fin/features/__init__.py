"""Features, windows and the point-in-time dataset."""

from stacklstm_fin.features.dataset import Dataset, build_dataset
from stacklstm_fin.features.returns import FEATURE_NAMES, build_features
from stacklstm_fin.features.windows import WindowSplit

__all__ = ["FEATURE_NAMES", "Dataset", "WindowSplit", "build_dataset", "build_features"]
