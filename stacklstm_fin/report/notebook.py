"""Helpers for the analyst notebook (``notebooks/analyst_report.ipynb``).

A notebook runs in its own folder, not the project's, so the configuration is
looked up the way an analyst expects: an explicit path, else the nearest
``stacklstm_fin.toml`` in the working folder or above it, else the built-in
defaults relative to the project folder (the nearest folder above holding
``pyproject.toml``; ``make demo`` writes its warehouse there). ``STACKLSTM_*``
variables apply in every case, as on the command line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

from stacklstm_fin.config import DEFAULT_CONFIG_FILE, ENV_PREFIX, Config, PathsConfig, load_config
from stacklstm_fin.exceptions import ConfigError


def notebook_config(config_path: str | Path | None = None, *, cwd: Path | None = None) -> Config:
    """The configuration for a notebook running in ``cwd`` (default: the working folder)."""
    if config_path:
        return load_config(config_path)
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_CONFIG_FILE).is_file():
            return load_config(folder / DEFAULT_CONFIG_FILE)
        if (folder / "pyproject.toml").is_file():
            cfg = load_config(None)
            if f"{ENV_PREFIX}PATHS__DATA_ROOT" not in os.environ:
                default = PathsConfig().data_root
                cfg = cfg.replace(paths=dataclasses.replace(cfg.paths, data_root=folder / default))
            return cfg
    return load_config(None)


def parse_day(value: str | dt.date | None, name: str) -> dt.date | None:
    """A notebook parameter as a date: ``None``, a date, or ``YYYY-MM-DD`` text."""
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{name}: expected a date YYYY-MM-DD or None, got {value!r}") from None


def safe_url(url: str) -> str:
    """``url`` without its password, to print in a notebook."""
    from stacklstm_fin.redact import redact_url

    return redact_url(url)
