"""At most one champion, enforced by the database; forecasts name registry models."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading

import polars as pl
import pytest

from stacklstm_fin import registry
from stacklstm_fin.exceptions import ModelError
from stacklstm_fin.pipeline.publish import _SCHEMA, FORECASTS, publish
from stacklstm_fin.registry import RegistryEntry, missing_models, promote, record_candidates
from stacklstm_fin.warehouse import connect, migrate
from stacklstm_fin.warehouse.migrations import load_migrations

AS_OF = dt.date(2020, 1, 2)
METRIC_COLS = {"model_id": pl.String(), "split": pl.String(), "ticker": pl.String(),
               "horizon": pl.Int32(), "metric": pl.String(), "value": pl.Float64()}  # fmt: skip


def entry(model_id: str, as_of: dt.date = AS_OF) -> RegistryEntry:
    return RegistryEntry(
        model_id=model_id, candidate=model_id, family="random_walk", hyperparameters={},
        as_of=as_of, spans={}, data_hash="h", code_version="c", seed=0, package_versions={},
        metrics={}, status="candidate", status_reason=None,
        trained_at=dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
    )  # fmt: skip


def with_models(url: str, *ids: str) -> None:
    with connect(url) as wh:
        migrate(wh)
        record_candidates(wh, [entry(m) for m in ids], pl.DataFrame(schema=METRIC_COLS))


def statuses(url: str) -> dict[str, str]:
    with connect(url) as wh:
        rows = wh.query("SELECT model_id, status FROM stacklstm.model_registry ORDER BY model_id")
    return dict(rows.iter_rows())


def test_the_database_refuses_a_second_champion(warehouse_url: str) -> None:
    with_models(warehouse_url, "a", "b", "c")
    with connect(warehouse_url) as wh:
        promote(wh, "a", AS_OF, "first")
        promote(wh, "b", AS_OF, "second")
        assert statuses(warehouse_url) == {"a": "retired", "b": "champion", "c": "candidate"}
        with pytest.raises(Exception, match=r"(?i)duplicate key") as err:
            wh.execute(
                "UPDATE stacklstm.model_registry SET status = 'champion' WHERE model_id = 'c'"
            )
        assert type(err.value).__name__ in ("ConstraintException", "UniqueViolation")
    assert statuses(warehouse_url) == {"a": "retired", "b": "champion", "c": "candidate"}


def test_migration_0005_keeps_the_newest_of_two_champions(warehouse_url: str) -> None:
    with_models(warehouse_url, "old", "new")
    (m5,) = [m for m in load_migrations() if m.version == 5]
    with connect(warehouse_url) as wh:
        wh.execute("DROP INDEX stacklstm.model_registry_one_champion")
        for model_id, day in [("old", 1), ("new", 2)]:
            wh.execute(
                "UPDATE stacklstm.model_registry SET status = 'champion', as_of = :d "
                "WHERE model_id = :m",
                {"d": dt.date(2020, 1, day), "m": model_id},
            )
        wh.execute(m5.sql)
        reason = wh.scalar(
            "SELECT status_reason FROM stacklstm.model_registry WHERE model_id = 'old'"
        )
    assert statuses(warehouse_url) == {"new": "champion", "old": "retired"}
    assert reason == "retired by migration 0005: more than one champion was live"


@pytest.mark.postgres
def test_two_concurrent_promotions_on_postgres_end_with_one_champion(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_models(pg_url, "live", "a", "b")
    with connect(pg_url) as wh:
        promote(wh, "live", AS_OF, "initial")
    # Both promotions read the live champion, then meet here before retiring it:
    # without promote()'s lock both get this far and the second fails on the
    # unique index; with it, the second waits at the lock and the meeting times out.
    meet = threading.Barrier(2, timeout=2)
    set_status = registry.set_status

    def meeting(*args: object) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait()
        set_status(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(registry, "set_status", meeting)
    errors: list[BaseException] = []

    def run(model_id: str) -> None:
        try:
            with connect(pg_url) as wh:
                promote(wh, model_id, AS_OF, f"promote {model_id}")
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,)) for m in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    final = statuses(pg_url)
    assert sorted(final.values()) == ["champion", "retired", "retired"]
    assert final["live"] == "retired"
    champion = next(m for m, s in final.items() if s == "champion")
    loser = "a" if champion == "b" else "b"
    with connect(pg_url) as wh:
        reason = wh.scalar(
            "SELECT status_reason FROM stacklstm.model_registry WHERE model_id = :m",
            {"m": loser},
        )
    assert reason == f"replaced by {champion}"


def test_publish_refuses_a_forecast_of_an_unknown_model(warehouse_url: str) -> None:
    with_models(warehouse_url, "known")
    row = {name: None for name in _SCHEMA}
    row |= {"ticker": "AAPL", "as_of_date": AS_OF, "horizon": 1, "target_date": AS_OF,
            "base_close": 1.0, "yhat_log_return": 0.0, "yhat_close": 1.0, "lower_close": 1.0,
            "upper_close": 1.0, "interval_level": 0.8, "interval_method": "x",
            "published_at": dt.datetime(2020, 1, 2, tzinfo=dt.UTC)}  # fmt: skip
    frame = pl.DataFrame([row | {"model_id": "ghost"}, row | {"model_id": "known", "horizon": 2}],
                         schema=_SCHEMA)  # fmt: skip
    with connect(warehouse_url) as wh:
        assert missing_models(wh, ["known", "ghost", "ghost"]) == ["ghost"]
        with pytest.raises(ModelError) as err:
            publish(wh, frame)
        assert str(err.value) == "forecasts name models not in model_registry: ghost"
        assert wh.scalar(f"SELECT COUNT(*) FROM {FORECASTS}") == 0
        assert publish(wh, frame.filter(pl.col("model_id") == "known")) == 1
        assert wh.scalar(f"SELECT COUNT(*) FROM {FORECASTS}") == 1
