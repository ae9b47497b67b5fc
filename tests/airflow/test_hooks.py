"""The warehouse hook turns Airflow connections into warehouse URLs and clients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacklstm_fin.config import load_config
from stacklstm_fin.exceptions import WarehouseError


def conn(uri: str | None = None, **fields: object):  # type: ignore[no-untyped-def]
    from airflow.sdk import Connection

    if uri is not None:
        return Connection.from_uri(uri, conn_id="stacklstm_warehouse")
    return Connection(conn_id="stacklstm_warehouse", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("connection", "url"),
    [
        (dict(uri="duckdb:////srv/data/warehouse.duckdb"), "duckdb:////srv/data/warehouse.duckdb"),
        (
            dict(conn_type="duckdb", extra=json.dumps({"path": "/srv/my data/wh.duckdb"})),
            "duckdb:////srv/my%20data/wh.duckdb",
        ),
        (
            dict(uri="postgres://fin:p%40ss%2Fw@db.example:5433/warehouse?sslmode=require"),
            "postgresql://fin:p%40ss%2Fw@db.example:5433/warehouse?sslmode=require",
        ),
        (
            dict(
                conn_type="postgres",
                host="db",
                login="fin",
                schema="wh",
                extra=json.dumps({"application_name": "airflow", "unknown": "x"}),
            ),
            "postgresql://fin@db/wh?application_name=airflow",
        ),
    ],
)
def test_connection_url(connection: dict[str, str], url: str) -> None:
    from stacklstm_fin.airflow.hooks import connection_url

    assert connection_url(conn(**connection)) == url


def test_unsupported_connection_type_is_named() -> None:
    from stacklstm_fin.airflow.hooks import connection_url

    with pytest.raises(WarehouseError) as caught:
        connection_url(conn(uri="mysql://u@h/db"))
    assert str(caught.value) == (
        "connection stacklstm_warehouse: conn_type 'mysql' is not a warehouse; "
        "expected one of duckdb, postgres, postgresql"
    )
    with pytest.raises(WarehouseError, match="conn_type duckdb needs the file path"):
        connection_url(conn(conn_type="duckdb"))


def test_the_connection_wins_over_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacklstm_fin.airflow.hooks import StackLSTMWarehouseHook, warehouse_url

    cfg = load_config(None, env={}, overrides={"paths.data_root": str(tmp_path / "cfg")})
    monkeypatch.delenv("AIRFLOW_CONN_STACKLSTM_WAREHOUSE", raising=False)
    assert warehouse_url(cfg) == (cfg.warehouse_url, "config warehouse.url")

    target = tmp_path / "conn" / "warehouse.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_STACKLSTM_WAREHOUSE", f"duckdb:///{target}")
    assert warehouse_url(cfg) == (f"duckdb:///{target}", "connection stacklstm_warehouse")
    with StackLSTMWarehouseHook().get_conn() as wh:
        assert wh.scalar("SELECT 42") == 42
    assert target.exists()


def test_provider_info_matches_airflows_schema() -> None:
    import jsonschema
    from airflow import providers_manager

    from stacklstm_fin.airflow import get_provider_info
    from stacklstm_fin.airflow.hooks import StackLSTMWarehouseHook

    schema = json.loads(
        (Path(providers_manager.__file__).parent / "provider_info.schema.json").read_text()
    )
    info = get_provider_info()
    jsonschema.validate(info, schema)
    [conn_type] = info["connection-types"]
    assert conn_type["hook-class-name"] == (
        f"{StackLSTMWarehouseHook.__module__}.{StackLSTMWarehouseHook.__name__}"
    )
    assert conn_type["connection-type"] == StackLSTMWarehouseHook.conn_type
