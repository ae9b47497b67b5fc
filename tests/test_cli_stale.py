"""forecast and run exit 4 naming the tickers of the universe left without a forecast."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from stacklstm_fin import cli
from stacklstm_fin.pipeline import publish, run

INFO: dict[str, Any] = {"as_of": "2018-12-31", "rows": 5}


@pytest.fixture
def no_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STACKLSTM_UNIVERSE__TICKERS", '["^GSPC", "^IXIC", "AAPL"]')
    monkeypatch.setattr(cli, "_connect", lambda cfg: contextlib.nullcontext())


@pytest.mark.parametrize(
    ("models", "stale", "code", "err"),
    [
        ({"m1": ["AAPL", "^GSPC", "^IXIC"]}, [], 0, ""),
        (
            {"m1": ["AAPL", "^GSPC", "^IXIC"]},
            ["^IXIC"],
            4,
            "no forecast published for 1 ticker(s) of the universe: ^IXIC "
            "(published for the other 2)",
        ),
        (
            {"m1": ["^GSPC"]},  # a ticker with no decision gets no forecast either
            [],
            4,
            "no forecast published for 2 ticker(s) of the universe: AAPL, ^IXIC "
            "(published for the other 1)",
        ),
        (
            {"m1": ["AAPL", "^GSPC", "^IXIC"]},
            ["AAPL", "^GSPC", "^IXIC"],
            4,
            "no forecast published for 3 ticker(s) of the universe: AAPL, ^GSPC, ^IXIC "
            "(nothing was published)",
        ),
    ],
)
def test_forecast_exit_code_names_the_tickers(
    models: dict[str, list[str]],
    stale: list[str],
    code: int,
    err: str,
    no_warehouse: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    info = INFO | {"models": models, "stale": stale}
    monkeypatch.setattr(publish, "forecast_and_publish", lambda cfg, wh, as_of: info)
    assert cli.main(["forecast", "--as-of", "2018-12-31"]) == code
    out, got = capsys.readouterr()
    assert "rows" in out and "stale" in out  # the summary is printed first, either way
    assert got == (f"stacklstm-fin: error: {err}\n" if err else "")


def test_run_exits_4_after_printing_its_summary(
    no_warehouse: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = {
        "as_of": "2018-12-31",
        "ingest": {"rows_loaded": 10},
        "selection": {"champion": "m1", "promoted": False, "reason": "kept"},
        "forecast": INFO | {"models": {"m1": ["AAPL", "^GSPC", "^IXIC"]}, "stale": ["AAPL"]},
    }
    monkeypatch.setattr(run, "run_all", lambda cfg, wh, as_of: result)
    assert cli.main(["run", "--source", "sample", "--as-of", "2018-12-31"]) == 4
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "forecast_rows  5"
    assert err == (
        "stacklstm-fin: error: no forecast published for 1 ticker(s) of the universe: AAPL "
        "(published for the other 2)\n"
    )
