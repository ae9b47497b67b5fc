"""One small connection type over the two engines we test for real.

The warehouse code takes a :class:`Warehouse` (never an Airflow hook), so it is
testable and usable from notebooks. URLs:

- ``duckdb:///relative/file.duckdb`` or ``duckdb:////absolute/file.duckdb``
- ``postgresql://user[:password]@host[:port]/database`` (``postgresql+psycopg://``
  and ``postgres://`` are accepted too)

SQL is written once with ``:name`` parameters; each engine gets its own
placeholder style. Bulk loads go through Arrow (DuckDB) or ``COPY`` (PostgreSQL).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import polars as pl

from stacklstm_fin.exceptions import WarehouseError, WarehouseLockedError
from stacklstm_fin.redact import ambiguity, redact_url, scrub

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_DUCKDB_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")


# DuckDB reports a full disk, a read-only file system or a denied write in its
# own exception types; the operating system's words are in the text.
_OS_FAULTS = tuple(
    os.strerror(code)
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EIO, errno.EPERM)
)


def _os_fault(exc: Exception, url: str) -> WarehouseError | None:
    """A one-line :class:`WarehouseError` for an operating-system fault, else ``None``."""
    text = str(exc)
    if isinstance(exc, WarehouseError) or not any(f in text for f in _OS_FAULTS):
        return None
    first = " ".join(text.split())
    return WarehouseError(f"warehouse {redact_url(url)}: {first}")


class Warehouse:
    """A connection to the warehouse; use as a context manager."""

    def __init__(self, url: str, dialect: str, raw: Any) -> None:
        self.url = url
        self.dialect = dialect
        self.raw = raw
        self._in_transaction = False

    # ---------------------------------------------------------------- basics
    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()
            self.raw = None

    def _sql(self, sql: str) -> str:
        if self.dialect == "duckdb":
            return _PARAM.sub(r"$\1", sql)
        return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement (or, without parameters, a script of several)."""
        if self.dialect == "duckdb":
            try:
                if params:
                    self.raw.execute(self._sql(sql), dict(params))
                else:
                    self.raw.execute(sql)
            except Exception as exc:
                fault = _os_fault(exc, self.url)
                if fault is None:
                    raise
                raise fault from None
        else:
            with self.raw.cursor() as cur:
                if params is None:
                    cur.execute(sql)
                else:
                    cur.execute(self._sql(sql), dict(params))

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run a query and return its rows as a polars frame."""
        if self.dialect == "duckdb":
            try:
                rel = self.raw.sql(self._sql(sql), params=dict(params) if params else None)
                return rel.pl()
            except Exception as exc:
                fault = _os_fault(exc, self.url)
                if fault is None:
                    raise
                raise fault from None
        with self.raw.cursor() as cur:
            cur.execute(self._sql(sql), dict(params or {}))
            cols = [d.name for d in cur.description]
            rows = cur.fetchall()
        if not rows:
            return pl.DataFrame({c: [] for c in cols})
        return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        frame = self.query(sql, params)
        if frame.height == 0:
            return None
        return frame.item(0, 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """All statements inside commit together or not at all.

        A nested call joins the outer transaction.
        """
        if self._in_transaction:
            yield self
            return
        self.execute("BEGIN TRANSACTION" if self.dialect == "duckdb" else "BEGIN")
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._in_transaction = False
            self.execute("ROLLBACK")
            raise
        self._in_transaction = False
        self.execute("COMMIT")

    def table_exists(self, schema: str, table: str) -> bool:
        sql = (
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = :schema AND table_name = :table"
        )
        return bool(self.scalar(sql, {"schema": schema, "table": table}))


def connect(url: str, *, read_only: bool = False, lock_timeout: float = 5.0) -> Warehouse:
    """Open the warehouse at ``url``.

    A DuckDB file held by another process is retried for ``lock_timeout``
    seconds, then :class:`WarehouseLockedError` says who holds it.
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "duckdb":
        return _connect_duckdb(url, read_only=read_only, lock_timeout=lock_timeout)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return _connect_postgres(url)
    raise WarehouseError(
        "warehouse.url: expected duckdb:///PATH or postgresql://USER@HOST/DB, "
        f"got {redact_url(url)!r}"
    )


def duckdb_path(url: str) -> str:
    """The file path of a ``duckdb:///`` URL (``:memory:`` for an in-memory one)."""
    rest = url.split(":", 1)[1]
    if not rest.startswith("///"):
        raise WarehouseError(
            f"warehouse.url: expected duckdb:///relative.duckdb or duckdb:////abs.duckdb, "
            f"got {url!r}"
        )
    path = unquote(rest[3:])
    return path or ":memory:"


def _connect_duckdb(url: str, *, read_only: bool, lock_timeout: float) -> Warehouse:
    import duckdb

    path = duckdb_path(url)
    if path != ":memory:":
        parent = Path(path).parent
        if read_only and not Path(path).exists():
            raise WarehouseError(
                f"warehouse {path}: no such DuckDB file; run `stacklstm-fin init-db` first"
            )
        parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    delay = 0.05
    while True:
        try:
            raw = duckdb.connect(path, read_only=read_only)
            break
        except duckdb.IOException as exc:
            message = str(exc)
            if not any(m in message for m in _DUCKDB_LOCK_MARKERS):
                raise WarehouseError(f"warehouse {path}: {message.splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                holder = re.search(r"PID (\d+)", message)
                who = f"process {holder.group(1)}" if holder else "another process"
                raise WarehouseLockedError(
                    f"warehouse {path} is locked by {who} (waited {lock_timeout:g}s); "
                    "wait for it to finish, or use PostgreSQL for concurrent writers"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    raw.execute("SET TimeZone = 'UTC'")
    return Warehouse(url, "duckdb", raw)


def _connect_postgres(url: str) -> Warehouse:
    import psycopg

    why = ambiguity(url)
    if why:
        raise WarehouseError(
            f"warehouse.url: {redact_url(url)}: {why}; the URL is not shown, it may hold a password"
        )
    parts = urlsplit(url)
    try:
        port = parts.port or 5432
    except ValueError:
        raise WarehouseError(
            f"warehouse.url: {redact_url(url)}: the port is not a number; "
            "percent-encode reserved characters in the password ('/' as %2F)"
        ) from None
    dsn_url = "postgresql://" + url.split("://", 1)[1]
    try:
        raw = psycopg.connect(dsn_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WarehouseError(
            f"warehouse {redact_url(url)}: cannot connect to PostgreSQL at "
            f"{parts.hostname}:{port}: {scrub(first, url)}"
        ) from None
    raw.execute("SET TIME ZONE 'UTC'")
    # JSON comes back as text, as DuckDB returns it: callers parse what they need.
    from psycopg.types.string import TextLoader

    for name in ("json", "jsonb"):
        raw.adapters.register_loader(name, TextLoader)
    return Warehouse(url, "postgresql", raw)
