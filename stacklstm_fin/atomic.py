"""Atomic file writes: readers see the old complete file or the new one.

Write to a temporary file in the target's folder, fsync it, ``os.replace`` it
over the target, then fsync the folder so the rename itself is durable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file handle whose contents replace ``path`` when the block ends cleanly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fault = os_fault(exc, path)
        if fault is not None:
            raise fault from exc
        raise
    _fsync_dir(path.parent)


# Writers that wrap the operating system's error in their own type say so in
# the text: polars "... (os error 28)", h5py "... errno = 28, ...".
_OS_ERROR = re.compile(r"os error (\d+)|errno = (\d+)", re.IGNORECASE)


def os_fault(exc: BaseException, path: Path) -> OSError | None:
    """The :class:`OSError` behind a writer's own exception type, naming ``path``.

    An ``OSError`` that names no file (``fh.write`` on a full disk) gets
    ``path``; ``None`` when it names one already (re-raised as is) or ``exc``
    is not an operating-system fault.
    """
    if isinstance(exc, OSError):
        if exc.filename is not None or not exc.errno:
            return None
        return type(exc)(exc.errno, os.strerror(exc.errno), str(path))
    if not isinstance(exc, Exception):
        return None
    match = _OS_ERROR.search(str(exc))
    if not match:
        return None
    code = int(match.group(1) or match.group(2))
    if code not in errno.errorcode:
        return None
    return OSError(code, os.strerror(code), str(path))


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_writer(path) as fh:
        fh.write(data)
    return path


def _fsync_dir(folder: Path) -> None:
    # Makes the rename durable; not every platform can open a folder for fsync.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
