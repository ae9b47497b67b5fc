"""Data sources: yfinance (production), files, sample (offline demo), synthetic.

``get_source(cfg)`` builds the one named by ``source.name``. No source imports
its vendor library at module level.
"""

from __future__ import annotations

from collections.abc import Callable

from stacklstm_fin.config import Config
from stacklstm_fin.exceptions import ConfigError
from stacklstm_fin.sources.base import FetchResult, Source
from stacklstm_fin.sources.files import FilesSource
from stacklstm_fin.sources.sample import SampleSource
from stacklstm_fin.sources.synthetic import (
    SyntheticSource,
    best_horizon_rmse,
    best_one_step_rmse,
    garch_conditional,
    synthetic_tickers,
)
from stacklstm_fin.sources.yfinance_source import YFinanceSource

__all__ = [
    "REGISTRY",
    "FetchResult",
    "FilesSource",
    "SampleSource",
    "Source",
    "SyntheticSource",
    "YFinanceSource",
    "best_horizon_rmse",
    "best_one_step_rmse",
    "garch_conditional",
    "get_source",
    "synthetic_tickers",
]

# Keys match config.SOURCES (a test checks it).
REGISTRY: dict[str, Callable[[Config], Source]] = {
    "yfinance": lambda cfg: YFinanceSource(cfg.source.yfinance),
    "files": lambda cfg: FilesSource(cfg.source.files.path),
    "sample": lambda cfg: SampleSource(),
    "synthetic": SyntheticSource.from_config,
}


def get_source(cfg: Config) -> Source:
    """The source named by ``cfg.source.name``, configured from ``cfg``."""
    name = cfg.source.name
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"source.name: expected one of {', '.join(REGISTRY)}; got {name!r}"
        ) from None
    return factory(cfg)
