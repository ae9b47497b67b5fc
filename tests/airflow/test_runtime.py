"""How a run finds its as-of, and which failures are retried."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from stacklstm_fin.exceptions import (
    CalendarError,
    DatasetError,
    PartialDownloadError,
    ValidationFailedError,
    WarehouseLockedError,
)


def events(*extras: dict[str, Any]) -> Any:
    """A real accessor of triggering asset events, as the task runner builds it."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    from stacklstm_fin.airflow.assets import PRICES

    return TriggeringAssetEventsAccessor.build(
        AssetEventDagRunReferenceResult(
            asset={"name": PRICES.name, "uri": PRICES.uri, "extra": {}},
            extra=extra,
            source_task_id="validate_and_load",
            source_dag_id="stacklstm_market_data",
            source_run_id=f"scheduled__{i}",
            source_map_index=-1,
            source_aliases=[],
            timestamp=dt.datetime(2019, 1, 1, tzinfo=dt.UTC),
        )
        for i, extra in enumerate(extras)
    )


class FakeRun:
    def __init__(self, conf: dict[str, Any], logical_date: dt.datetime | None) -> None:
        self.conf = conf
        self.logical_date = logical_date


def context(
    *,
    params: dict[str, Any] | None = None,
    conf: dict[str, Any] | None = None,
    logical_date: dt.datetime | None = None,
    triggering: Any = None,
) -> dict[str, Any]:
    return {
        "params": params or {},
        "dag_run": FakeRun(conf or {}, logical_date),
        "logical_date": logical_date,
        "triggering_asset_events": triggering if triggering is not None else {},
    }


def test_conf_as_of_wins_over_the_logical_date() -> None:
    from stacklstm_fin.airflow.runtime import as_of_from_context

    scheduled = dt.datetime(2018, 12, 31, 22, 30, tzinfo=dt.UTC)
    ctx = context(params={"as_of": "2018-12-28"}, logical_date=scheduled)
    assert as_of_from_context(ctx) == (dt.date(2018, 12, 28), "conf as_of")
    ctx = context(conf={"as_of": "2018-12-27"})
    assert as_of_from_context(ctx) == (dt.date(2018, 12, 27), "conf as_of")


def test_logical_date_is_read_as_a_utc_date() -> None:
    from stacklstm_fin.airflow.runtime import as_of_from_context

    # 22:30 UTC is 17:30 in New York: the same trading day.
    scheduled = dt.datetime(2018, 12, 31, 22, 30, tzinfo=dt.UTC)
    assert as_of_from_context(context(logical_date=scheduled)) == (
        dt.date(2018, 12, 31),
        "logical date",
    )
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert as_of_from_context(context(logical_date=dt.datetime(2019, 1, 1, 8, tzinfo=tokyo)))[
        0
    ] == dt.date(2018, 12, 31)


def test_asset_triggered_run_takes_the_newest_event_as_of() -> None:
    from stacklstm_fin.airflow.runtime import as_of_from_context

    triggering = events({"as_of": "2018-12-27"}, {"as_of": "2018-12-31"}, {"other": 1})
    assert as_of_from_context(context(triggering=triggering)) == (
        dt.date(2018, 12, 31),
        "triggering asset event",
    )


def test_a_run_without_any_as_of_fails_and_says_how_to_pass_one() -> None:
    from stacklstm_fin.airflow.runtime import AsOfMissingError, as_of_from_context

    with pytest.raises(AsOfMissingError) as caught:
        as_of_from_context(context(triggering=events({"note": "no as_of"})))
    assert str(caught.value) == (
        "as_of: this run has no logical date and no triggering asset event with an "
        '"as_of"; trigger it with conf {"as_of": "YYYY-MM-DD"} (UI: the as_of field; '
        'CLI: airflow dags trigger DAG_ID --conf \'{"as_of": "2018-12-31"}\')'
    )


def test_which_sessions_a_nightly_run_works_on() -> None:
    from stacklstm_fin.airflow.runtime import AsOfMissingError, nightly_bounds

    def snap(day: dt.date) -> dt.date:  # Christmas 2018 snaps to the 24th
        return dt.date(2018, 12, 24) if day == dt.date(2018, 12, 25) else day

    sweep = dt.datetime(2018, 12, 25, 2, 30, tzinfo=dt.UTC)
    burst = events({"as_of": "2018-12-26"}, {"as_of": "2018-12-27"})
    assert nightly_bounds(context(params={"catch_up": True}, triggering=burst), snap) == (
        None, None, "conf catch_up",
    )  # fmt: skip
    assert nightly_bounds(context(params={"as_of": "2018-12-25"}), snap) == (
        dt.date(2018, 12, 24), None, "conf as_of",
    )  # fmt: skip
    # The events say "new prices"; the warehouse says up to which session.
    assert nightly_bounds(context(triggering=burst), snap) == (
        None, None, "triggering asset event",
    )  # fmt: skip
    assert nightly_bounds(context(logical_date=sweep), snap) == (
        None, dt.date(2018, 12, 24), "logical date",
    )  # fmt: skip
    with pytest.raises(AsOfMissingError):
        nightly_bounds(context(), snap)


def test_a_malformed_as_of_names_the_field() -> None:
    from stacklstm_fin.airflow.runtime import run_as_of

    expected = r"^as_of: expected a date YYYY-MM-DD, got '31/12/2018'"
    with pytest.raises(CalendarError, match=expected):
        run_as_of("31/12/2018", None)


@pytest.mark.parametrize(
    ("policy", "error", "action"),
    [
        ("VENDOR_RETRY", PartialDownloadError("one ticker failed", {"^GSPC": "timeout"}), "retry"),
        ("VENDOR_RETRY", WarehouseLockedError("locked"), "retry"),
        ("VENDOR_RETRY", ValidationFailedError("8 rows quarantined"), "fail"),
        ("VENDOR_RETRY", ConnectionResetError("peer"), "default"),
        ("LOCK_RETRY", WarehouseLockedError("locked"), "retry"),
        ("LOCK_RETRY", PartialDownloadError("reported", {}), "fail"),
        ("LOCK_RETRY", DatasetError("no prices"), "fail"),
        ("LOCK_RETRY", RuntimeError("a bug"), "default"),
    ],
)
def test_retry_policies(policy: str, error: BaseException, action: str) -> None:
    from stacklstm_fin.airflow import runtime

    decision = getattr(runtime, policy).evaluate(error, try_number=1, max_tries=3)
    assert decision.action.value == action


def test_config_comes_from_the_stacklstm_config_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacklstm_fin.airflow import runtime

    path = tmp_path / "c.toml"
    path.write_text('[airflow]\ntrain_queue = "gpu"\n')
    monkeypatch.setenv("STACKLSTM_CONFIG", str(path))
    assert runtime.load().airflow.train_queue == "gpu"
    monkeypatch.setenv("STACKLSTM_CONFIG", " ")
    monkeypatch.chdir(tmp_path)
    assert runtime.config_path() is None
    assert runtime.load().airflow.train_queue == "default"
