"""notebooks/analyst_report.ipynb: stored clean, and executed end to end on real warehouses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.report.helpers import REPO

NOTEBOOK = REPO / "notebooks" / "analyst_report.ipynb"


def test_notebook_is_stored_without_outputs_and_has_parameters() -> None:
    nb = json.loads(NOTEBOOK.read_text("utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    first = code[0]
    assert first["metadata"].get("tags") == ["parameters"]
    names = [line.split("=")[0].strip() for line in first["source"] if "=" in line]
    assert names == [
        "WAREHOUSE_URL", "CONFIG_PATH", "TICKER", "AS_OF_START", "AS_OF_END",
        "ROLLING_WINDOW", "HISTORY_SESSIONS",
    ]  # fmt: skip


def execute(parameters: str | None = None) -> Any:
    """Run the notebook as Jupyter would, in its own folder; fail on any error."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    if parameters:  # as papermill does: a cell after the parameters cell
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(parameters))
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    return nb


def svgs(nb: Any) -> list[str]:
    return [
        out["data"]["image/svg+xml"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/svg+xml" in out.get("data", {})
    ]


def errors(nb: Any) -> list[str]:
    return [
        out.get("ename", "") for c in nb.cells for out in c.get("outputs", [])
        if out.get("output_type") == "error"
    ]  # fmt: skip


@pytest.mark.slow
def test_notebook_runs_with_the_warehouse_from_the_environment(
    analyst_warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKLSTM_WAREHOUSE__URL", analyst_warehouse)
    nb = execute()
    assert errors(nb) == []
    charts = svgs(nb)
    assert len(charts) == 3
    leaderboard, fan, accuracy = charts
    assert 'id="leaderboard-chart"' in leaderboard and 'class="reference"' in leaderboard
    assert 'id="forecast-fan-syn0001"' in fan  # the first published ticker by default
    assert 'id="accuracy-chart"' in accuracy and 'data-series="lstm h=1"' in accuracy
    printed = "".join(out.get("text", "") for c in nb.cells for out in c.get("outputs", []))
    assert "as-of 2016-12-30: forecasts published 2016-12-30, ticker SYN0001" in printed
    tables = [
        out["data"]["text/html"]
        for c in nb.cells
        for out in c.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]
    assert len(tables) == 4  # leaderboard, forecasts, accuracy summary, champions


@pytest.mark.slow
def test_notebook_parameters_pick_ticker_and_as_of(analyst_duckdb: str) -> None:
    nb = execute(
        f'WAREHOUSE_URL = "{analyst_duckdb}"\n'
        'TICKER = "SYN0002"\nAS_OF_START = "2016-11-15"\nAS_OF_END = "2016-12-15"'
    )
    assert errors(nb) == []
    _leaderboard, fan, accuracy = svgs(nb)
    assert 'id="forecast-fan-syn0002"' in fan
    assert "SYN0002: forecast fan as of 2016-12-15" in fan
    assert 'data-series="realized after the as-of"' in fan
    assert "forecasts published 2016-11-15 .. 2016-12-15" in accuracy
