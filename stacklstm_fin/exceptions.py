"""The package's one small exception hierarchy.

Every error a user can cause by bad input (config, tickers, files, dates) is a
:class:`StackLSTMError`. The CLI prints its message as one line on stderr and
exits non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

# Exit codes of the command line (README, "Command line"): 2 bad input or
# environment (this hierarchy and OSError), 3 a failed validation run, 4 a
# forecast run that left tickers of the universe without a forecast.
OS_ERROR_EXIT = 2


class StackLSTMError(Exception):
    """Base class: an error caused by input or environment, not a bug."""

    exit_code = 2


class ConfigError(StackLSTMError):
    """A configuration key or value is wrong."""


class InvalidTickerError(StackLSTMError, ValueError):
    """A ticker symbol is not of an accepted form."""


class CalendarError(StackLSTMError):
    """A date cannot be mapped to a trading session."""


class SourceError(StackLSTMError):
    """A data source failed or returned unusable data."""


class PartialDownloadError(SourceError):
    """Some tickers could not be downloaded; nothing is returned silently."""

    def __init__(self, message: str, failures: dict[str, str]) -> None:
        super().__init__(message)
        self.failures = failures


class SnapshotError(StackLSTMError):
    """A raw snapshot is missing or unreadable."""


class ValidationFailedError(StackLSTMError):
    """A validation run failed as a whole: nothing was loaded."""

    exit_code = 3


class WarehouseError(StackLSTMError):
    """The warehouse cannot be reached or used."""


class WarehouseLockedError(WarehouseError):
    """The DuckDB file is held by another process."""


class SchemaVersionError(WarehouseError):
    """The warehouse schema is of another version than this code."""


class DatasetError(StackLSTMError):
    """Not enough or unusable data to build a dataset."""


class ModelError(StackLSTMError):
    """A model could not be trained, exported or loaded."""


class ArtifactIntegrityError(ModelError):
    """A stored model artifact does not match its recorded checksum."""


def os_error_message(exc: OSError) -> str:
    """An operating-system fault as one line: the path and the errno text.

    ``[Errno 28] No space left on device: '/data/x'`` becomes
    ``/data/x: No space left on device (errno 28 ENOSPC)``.
    """
    import errno as _errno

    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    what = exc.strerror or str(exc) or type(exc).__name__
    code = f" (errno {exc.errno} {_errno.errorcode.get(exc.errno, '?')})" if exc.errno else ""
    return f"{where or 'operating system'}: {what}{code}"


class StaleTickersError(StackLSTMError):
    """``forecast``/``run`` published, but some tickers of the universe got no forecast."""

    exit_code = 4

    def __init__(self, tickers: list[str], published: int) -> None:
        self.tickers = sorted(tickers)
        others = f"published for the other {published}" if published else "nothing was published"
        super().__init__(
            f"no forecast published for {len(self.tickers)} ticker(s) of the universe: "
            f"{', '.join(self.tickers)} ({others})"
        )
