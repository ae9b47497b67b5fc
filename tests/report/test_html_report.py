"""The static HTML report: every chart present, self-contained, the same on both engines."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from stacklstm_fin.report import (
    ReportError,
    all_charts,
    collect,
    fan_chart_id,
    render_report,
    report_command,
)
from stacklstm_fin.warehouse import connect, migrate
from tests.report.conftest import CANDIDATES, LAST, TICKERS, analyst_config

CHART_IDS = ["leaderboard-chart", *(fan_chart_id(t) for t in TICKERS), "accuracy-chart"]


def svg_ids(html: str) -> list[str]:
    return re.findall(r'<svg [^>]*\bid="([^"]+)"', html)


def svg_block(html: str, chart_id: str) -> str:
    match = re.search(rf'<svg [^>]*\bid="{re.escape(chart_id)}".*?</svg>', html, re.S)
    assert match, f"no <svg id={chart_id!r}>"
    return match.group(0)


@pytest.mark.slow
def test_report_has_every_chart_and_table(analyst_warehouse: str, tmp_path: Path) -> None:
    with connect(analyst_warehouse, read_only=True) as wh:
        path = render_report(wh, LAST, tmp_path)
    assert path == tmp_path / f"stacklstm-report-{LAST}.html"
    html = path.read_text("utf-8")
    assert svg_ids(html) == CHART_IDS
    assert html.count("<svg ") == len(CHART_IDS)
    for table in ("leaderboard-table", "forecasts-table", "accuracy-table", "champions-table"):
        assert f'<table id="{table}">' in html
    # Self-contained: nothing to fetch, nothing to run.
    assert "<script" not in html and "<img" not in html and "<link" not in html
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * 5

    board = svg_block(html, "leaderboard-chart")
    assert '<title id="leaderboard-chart-title">Leaderboard' in board
    assert board.count('class="bar"') == len(CANDIDATES)
    assert board.count('class="reference"') == 1 and ">random walk</text>" in board
    assert "★ champion" in board

    fan = svg_block(html, fan_chart_id("SYN0002"))
    assert f"SYN0002: forecast fan as of {LAST}" in fan
    for series in ("close", "median forecast", "published 1-session-ahead interval"):
        assert f'data-series="{series}"' in fan
    assert "no realized closes after the as-of yet" in fan  # nothing after the newest as-of

    accuracy = svg_block(html, "accuracy-chart")
    for family in ("lstm", "random_walk"):
        for h in (1, 2, 3):
            assert f'data-series="{family} h={h}"' in accuracy
    assert ">nominal 80%</text>" in accuracy and ">coin flip 50%</text>" in accuracy


@pytest.mark.slow
def test_report_of_a_past_as_of_shows_the_realized_path(
    analyst_duckdb: str, tmp_path: Path
) -> None:
    saturday = dt.date(2016, 12, 17)
    with connect(analyst_duckdb, read_only=True) as wh:
        path = render_report(wh, saturday, tmp_path, tickers=["SYN0003"])
    assert path.name == "stacklstm-report-2016-12-16.html"  # the last session before it
    html = path.read_text("utf-8")
    assert svg_ids(html) == ["leaderboard-chart", "forecast-fan-syn0003", "accuracy-chart"]
    fan = svg_block(html, "forecast-fan-syn0003")
    assert 'data-series="realized after the as-of"' in fan
    assert "Forecast report as of 2016-12-17" in html
    assert "forecasts published 2016-12-16" in html


@pytest.mark.slow
@pytest.mark.postgres
def test_charts_are_identical_on_both_engines(analyst_duckdb: str, analyst_postgres: str) -> None:
    charts = []
    for url in (analyst_duckdb, analyst_postgres):
        with connect(url, read_only=True) as wh:
            charts.append([(c.id, c.svg) for c in all_charts(collect(wh, LAST))])
    assert [i for i, _ in charts[0]] == CHART_IDS
    assert charts[0] == charts[1]


@pytest.mark.slow
def test_accuracy_without_realized_outcomes_is_a_placeholder(analyst_warehouse: str) -> None:
    with connect(analyst_warehouse, read_only=True) as wh:
        data = collect(wh, LAST, start=LAST)
    assert data.accuracy.height == 0 and data.accuracy_summary.height == 0
    chart = all_charts(data)[-1]
    assert chart.id == "accuracy-chart"
    assert "no realized outcomes yet" in chart.svg


@pytest.mark.slow
def test_report_command_writes_the_file(analyst_warehouse: str, tmp_path: Path) -> None:
    cfg = analyst_config(analyst_warehouse, tmp_path / "data", CANDIDATES)
    out = report_command(cfg, None, tmp_path / "reports")
    path = tmp_path / "reports" / f"stacklstm-report-{LAST}.html"
    assert out == {"report": str(path), "bytes": path.stat().st_size}
    with pytest.raises(ReportError) as err:
        report_command(cfg, dt.date(2016, 10, 3), tmp_path / "reports")
    assert str(err.value) == (
        "as-of 2016-10-03: the warehouse has no published forecasts on or before 2016-10-03; "
        "run `stacklstm-fin run` or `stacklstm-fin backfill` first"
    )
    with pytest.raises(ReportError) as err, connect(analyst_warehouse, read_only=True) as wh:
        collect(wh, LAST, tickers=["SYN0001", "AAPL"])
    assert str(err.value) == (
        "tickers: no forecasts published at 2016-12-30 for AAPL; "
        "published: SYN0001, SYN0002, SYN0003"
    )


def test_empty_warehouse_is_one_clear_error(duckdb_url: str, tmp_path: Path) -> None:
    with connect(duckdb_url) as wh:
        migrate(wh)
        with pytest.raises(ReportError) as err:
            render_report(wh, None, tmp_path)
    assert str(err.value) == (
        "as-of latest: the warehouse has no published forecasts at all; "
        "run `stacklstm-fin run` or `stacklstm-fin backfill` first"
    )
    assert list(tmp_path.glob("*.html")) == []


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.slow
def test_report_renders_in_headless_chromium(analyst_duckdb: str, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        if os.environ.get("CI") == "true":  # .ci/run installs it: a missing one is a failure
            pytest.fail("no Chromium on PATH under CI=true; .ci/run installs Debian's chromium")
        pytest.skip("no Chromium on PATH (apt-get install chromium) for the screenshot")
    with connect(analyst_duckdb, read_only=True) as wh:
        page = render_report(wh, dt.date(2016, 12, 15), tmp_path)
    shot = tmp_path / "report.png"
    width, height = 1100, 3600
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (width, height)
    assert len(data) > 100_000  # text and five charts, not a blank page
