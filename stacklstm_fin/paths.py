"""Where ``paths.data_root`` may point: a folder of its own, never a system folder.

Checked once, when the configuration is read, before anything is written: the
warehouse, raw snapshots and models all go under ``data_root``, so ``/``,
``/etc`` (also reached through ``..`` or a symlink), a file, or a folder that
cannot be created is refused with one line naming the key.
"""

from __future__ import annotations

import os
from pathlib import Path

from stacklstm_fin.exceptions import ConfigError

KEY = "paths.data_root"
# The folder and everything under it belong to the operating system.
SYSTEM_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
    "/proc", "/sbin", "/sys", "/usr",
)  # fmt: skip
# Only the folder itself: a subfolder of its own (/var/lib/stacklstm) is fine.
SYSTEM_FOLDERS = ("/", "/home", "/mnt", "/media", "/opt", "/root", "/run", "/srv", "/tmp", "/var")


def resolve_data_root(root: Path, base_dir: Path) -> Path:
    """``root`` made absolute against ``base_dir`` (the config's folder), then checked."""
    path = root if root.is_absolute() else (base_dir / root).resolve()
    check_data_root(path)
    return path


def check_data_root(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` is, or can become, a data folder."""
    real = Path(os.path.realpath(path))
    got = repr(str(path)) + ("" if str(real) == str(path) else f" (resolves to {str(real)!r})")
    if _is_system(real):
        raise ConfigError(
            f"{KEY}: expected a folder of its own for the warehouse, snapshots and models, "
            f'got {got}, a system folder; set it to e.g. "data" or /var/lib/stacklstm'
        )
    existing = real
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = ", a file" if existing == real else f": {str(existing)!r} is a file"
        raise ConfigError(
            f"{KEY}: expected a folder, got {got}{where}; point it at a folder (created if missing)"
        )
    if existing != real and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{KEY}: cannot create {got}: {str(existing)!r} is not writable; "
            "point it at a folder you can write to"
        )


def _is_system(path: Path) -> bool:
    text = path.as_posix()
    if text in SYSTEM_FOLDERS:
        return True
    return any(text == tree or text.startswith(tree + "/") for tree in SYSTEM_TREES)
