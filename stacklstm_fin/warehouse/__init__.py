"""The warehouse: connections, migrations and bulk loads (DuckDB or PostgreSQL)."""

from stacklstm_fin.warehouse.connection import Warehouse, connect
from stacklstm_fin.warehouse.loads import insert, upsert
from stacklstm_fin.warehouse.migrations import check_schema, code_schema_version, migrate

__all__ = [
    "Warehouse",
    "check_schema",
    "code_schema_version",
    "connect",
    "insert",
    "migrate",
    "upsert",
]
