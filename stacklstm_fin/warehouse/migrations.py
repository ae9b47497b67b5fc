"""Schema migrations: the ordered files in ``sql/migrations``.

Each file ``NNNN_name.sql`` is applied once, in order, inside a transaction,
and recorded in ``stacklstm.schema_migrations`` with its sha256. Code refuses
to write to a warehouse whose schema is of another version than its own.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from stacklstm_fin.exceptions import SchemaVersionError, WarehouseError
from stacklstm_fin.redact import redact_url
from stacklstm_fin.warehouse.connection import Warehouse

SCHEMA = "stacklstm"
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def migrations_dir() -> Path:
    """``sql/migrations`` of the source tree (or ``STACKLSTM_SQL_DIR``)."""
    override = os.environ.get("STACKLSTM_SQL_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "sql" / "migrations"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    if not directory.is_dir():
        raise WarehouseError(f"migrations: folder not found: {directory}")
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.fullmatch(path.name)
        if not match:
            raise WarehouseError(f"migrations: {path.name}: expected a name like 0001_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text("utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise WarehouseError(f"migrations: versions must run 1..N without gaps, got {versions}")
    return found


def code_schema_version() -> int:
    return len(load_migrations())


def applied_versions(wh: Warehouse) -> dict[int, str]:
    """Applied migration versions and their checksums (empty for a new warehouse)."""
    if not wh.table_exists(SCHEMA, "schema_migrations"):
        return {}
    rows = wh.query(f"SELECT version, checksum FROM {SCHEMA}.schema_migrations ORDER BY version")
    return dict(zip(rows["version"].to_list(), rows["checksum"].to_list(), strict=True))


def migrate(wh: Warehouse) -> list[int]:
    """Apply the pending migrations; returns the versions applied (idempotent)."""
    migrations = load_migrations()
    with wh.transaction():
        if wh.dialect == "postgresql":
            # Two processes running init-db at once must not interleave.
            wh.execute("SELECT pg_advisory_xact_lock(:key)", {"key": 0x5374_4C53})
        wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        wh.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations ("
            " version INTEGER NOT NULL PRIMARY KEY,"
            " name VARCHAR(128) NOT NULL,"
            " checksum VARCHAR(64) NOT NULL,"
            " applied_at TIMESTAMP WITH TIME ZONE NOT NULL)"
        )
        applied = applied_versions(wh)
        _check_known(applied, migrations)
        done = []
        for m in migrations:
            if m.version in applied:
                continue
            wh.execute(m.sql)
            wh.execute(
                f"INSERT INTO {SCHEMA}.schema_migrations (version, name, checksum, applied_at) "
                "VALUES (:version, :name, :checksum, CURRENT_TIMESTAMP)",
                {"version": m.version, "name": m.name, "checksum": m.checksum},
            )
            done.append(m.version)
    return done


def check_schema(wh: Warehouse) -> None:
    """Raise unless the warehouse is exactly at this code's schema version."""
    migrations = load_migrations()
    applied = applied_versions(wh)
    if not applied:
        raise SchemaVersionError(
            f"warehouse {redact_url(wh.url)}: no stacklstm schema; "
            "run `stacklstm-fin init-db` first"
        )
    _check_known(applied, migrations)
    if len(applied) < len(migrations):
        raise SchemaVersionError(
            f"warehouse schema is at version {max(applied)}, this code needs "
            f"{len(migrations)}; run `stacklstm-fin init-db` to migrate"
        )


def _check_known(applied: dict[int, str], migrations: list[Migration]) -> None:
    newest = len(migrations)
    if applied and max(applied) > newest:
        raise SchemaVersionError(
            f"warehouse schema is at version {max(applied)}, newer than this code's "
            f"{newest}; upgrade stacklstm-fin before writing to it"
        )
    for m in migrations:
        if m.version in applied and applied[m.version] != m.checksum:
            raise SchemaVersionError(
                f"warehouse migration {m.version:04d}_{m.name} was applied with other "
                "contents than this code's; refusing to write to a schema of another version"
            )
