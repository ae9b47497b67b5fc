"""The warehouse hook: an Airflow Connection in, a warehouse URL or client out.

Deployments keep credentials in the ``stacklstm_warehouse`` connection (id set
by ``airflow.warehouse_conn_id``), not in the config file. Accepted:

- ``conn_type`` ``duckdb``: the file path in ``extra.path``, or in the URI's
  path (``AIRFLOW_CONN_STACKLSTM_WAREHOUSE='duckdb:////data/warehouse.duckdb'``);
- ``conn_type`` ``postgres`` / ``postgresql``: host, port, login, password and
  schema (the database), plus libpq options from ``extra`` (``sslmode`` ...).

Like ``PostgresHook.get_conn``, the hook only builds a client: the warehouse
code takes a :class:`~stacklstm_fin.warehouse.Warehouse` and never a hook.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from stacklstm_fin.config import Config
from stacklstm_fin.exceptions import WarehouseError
from stacklstm_fin.redact import redact_url
from stacklstm_fin.warehouse import Warehouse, connect

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "stacklstm_warehouse"
DUCKDB_TYPES = ("duckdb",)
POSTGRES_TYPES = ("postgres", "postgresql")
# libpq settings a connection's extra may carry into the URL; others are ignored.
LIBPQ_EXTRAS = (
    "sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "options",
    "target_session_attrs", "connect_timeout",
)  # fmt: skip


class ConnectionLike(Protocol):
    """What :func:`connection_url` reads of an Airflow ``Connection``."""

    @property
    def conn_id(self) -> str | None: ...
    @property
    def conn_type(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def schema(self) -> str | None: ...
    @property
    def login(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def connection_url(conn: ConnectionLike) -> str:
    """The warehouse URL a connection stands for (``duckdb:///...`` or ``postgresql://...``)."""
    kind = (conn.conn_type or "").lower()
    extra = conn.extra_dejson
    if kind in DUCKDB_TYPES:
        path = str(extra.get("path") or conn.schema or conn.host or "")
        if not path:
            raise WarehouseError(
                f"connection {conn.conn_id}: conn_type duckdb needs the file path, in "
                "extra.path or as duckdb:////absolute/path.duckdb; got neither"
            )
        return "duckdb:///" + quote(path, safe="/")
    if kind in POSTGRES_TYPES:
        if not conn.host:
            raise WarehouseError(f"connection {conn.conn_id}: conn_type {kind} needs a host")
        auth = ""
        if conn.login:
            auth = quote(conn.login, safe="")
            if conn.password:
                auth += ":" + quote(conn.password, safe="")
            auth += "@"
        port = f":{conn.port}" if conn.port else ""
        query = {k: str(extra[k]) for k in LIBPQ_EXTRAS if extra.get(k) not in (None, "")}
        url = f"postgresql://{auth}{conn.host}{port}/{quote(conn.schema or '', safe='')}"
        return url + (f"?{urlencode(query)}" if query else "")
    raise WarehouseError(
        f"connection {conn.conn_id}: conn_type {conn.conn_type!r} is not a warehouse; "
        f"expected one of {', '.join(DUCKDB_TYPES + POSTGRES_TYPES)}"
    )


class StackLSTMWarehouseHook(BaseHook):
    """Turns the ``stacklstm_warehouse`` connection into a warehouse client."""

    conn_name_attr = "stacklstm_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "duckdb"
    hook_name = "stacklstm-fin warehouse"

    def __init__(
        self,
        stacklstm_conn_id: str = DEFAULT_CONN_ID,
        *,
        read_only: bool = False,
        lock_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.stacklstm_conn_id = stacklstm_conn_id
        self.read_only = read_only
        self.lock_timeout = lock_timeout

    def get_uri(self) -> str:
        return connection_url(self.get_connection(self.stacklstm_conn_id))

    def get_conn(self) -> Warehouse:
        return connect(self.get_uri(), read_only=self.read_only, lock_timeout=self.lock_timeout)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["port", "login", "password", "host"],
            "relabeling": {"schema": "DuckDB file (absolute path)"},
        }


def warehouse_url(cfg: Config) -> tuple[str, str]:
    """The warehouse URL and where it came from: the connection if defined, else the config."""
    conn_id = cfg.airflow.warehouse_conn_id
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return cfg.warehouse_url, "config warehouse.url"
    return connection_url(conn), f"connection {conn_id}"


def open_warehouse(
    cfg: Config, *, read_only: bool = False, lock_timeout: float | None = None
) -> Warehouse:
    """Connect to the deployment's warehouse (connection first, then config).

    ``lock_timeout`` (seconds) overrides ``warehouse.lock_timeout_seconds`` for a
    caller that must answer quickly (the Forecasts page).
    """
    url, origin = warehouse_url(cfg)
    log.info("warehouse %s (from %s)", redact_url(url), origin)
    wait = cfg.warehouse.lock_timeout_seconds if lock_timeout is None else lock_timeout
    return connect(url, read_only=read_only, lock_timeout=wait)
