"""Decisions, states and calibration in the report, on a warehouse whose answers are known."""

from __future__ import annotations

import datetime as dt
import math
import re
from html import escape
from pathlib import Path

import polars as pl
import pytest

from stacklstm_fin.config import Config
from stacklstm_fin.pipeline import evaluate
from stacklstm_fin.pipeline.evaluate import binomial_band, calibration_table, evaluate_range
from stacklstm_fin.report import evidence, render_report
from stacklstm_fin.report.evidence_html import calibration_html, warning_html
from stacklstm_fin.warehouse import connect
from tests.report.evidence_fixture import (
    AAA_REASON,
    AS_OF,
    BBB_REASON,
    EXPECTED,
    START,
    WARNINGS,
    populate,
)

EVERYTHING = (dt.date(2000, 1, 1), dt.date(2030, 1, 1))


@pytest.fixture
def evidence_url(warehouse_url: str) -> str:
    """The hand-made warehouse, once per engine."""
    populate(warehouse_url)
    return warehouse_url


def cells(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'<table id="{table_id}">')[1].split("</table>")[0]
    return [
        [re.sub(r"<[^>]+>", "", c).replace("&lt;", "<").replace("&gt;", ">") for c in
         re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>")[1])
    ]  # fmt: skip


def test_calibration_table_counts_every_state_like_the_view(evidence_url: str) -> None:
    with connect(evidence_url, read_only=True) as wh:
        table = calibration_table(wh, *EVERYTHING)
        view = wh.query(
            "SELECT ticker, horizon, state, COUNT(*) AS n FROM stacklstm.forecast_accuracy "
            "GROUP BY ticker, horizon, state"
        )
        python = evaluate_range(Config(), wh, *EVERYTHING, reference=False)
    by_state = {(r["ticker"], r["horizon"], r["state"]): r["n"] for r in view.to_dicts()}
    got = {}
    for row in table.iter_rows(named=True):
        key = (row["ticker"], row["horizon"])
        got[key] = (row["published"], row["realized"], row["pending"], row["no_price"])
        # The view's own counts, state by state.
        for i, state in enumerate(("realized", "pending", "no_price"), start=1):
            assert got[key][i] == by_state.get((*key, state), 0)
        _, realized, _, _, covered = EXPECTED[key]
        assert row["coverage"] == pytest.approx(covered / realized)
        low, high = binomial_band(0.8, realized / key[1])
        assert (row["band_low"], row["band_high"]) == pytest.approx((low, high))
        assert row["calibrated"] is (key[0] == "AAA")
    assert got == {k: v[:4] for k, v in EXPECTED.items()}
    # The SQL path and evaluate_range's Python path agree on every shared column.
    shared = [c for c in table.columns if c in python.columns]
    assert shared == table.columns
    numbers = ["level", "coverage", "band_low", "band_high", "interval_score"]
    assert table.drop(numbers).equals(python.select(shared).drop(numbers))
    for column in numbers:
        assert table[column].to_list() == pytest.approx(python[column].to_list(), rel=1e-12)
    assert evaluate.miscalibrated(table) == WARNINGS


def test_evaluate_range_without_reference_fits_nothing(
    evidence_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fits(*args: object) -> None:
        raise AssertionError("a GARCH reference was fitted")

    monkeypatch.setattr(evaluate, "_reference_halfwidths", no_fits)
    with connect(evidence_url, read_only=True) as wh:
        table = evaluate_range(Config(), wh, *EVERYTHING, reference=False)
        with pytest.raises(AssertionError, match="a GARCH reference was fitted"):
            evaluate_range(Config(), wh, *EVERYTHING)
    assert table["garch_t_coverage"].is_nan().all()
    assert table["pooled_coverage"].is_not_nan().all()  # the cheap reference is still read


def test_report_warns_at_the_top_and_shows_decisions_and_states(
    evidence_url: str, tmp_path: Path
) -> None:
    with connect(evidence_url, read_only=True) as wh:
        html = render_report(wh, None, tmp_path).read_text("utf-8")
    # The warning box comes before everything else the report says.
    box = html.split('<div class="warning" id="calibration-warning" role="alert">')[1]
    box = box.split("</div>")[0]
    assert "Warning: 2 published interval series are miscalibrated." in box
    assert re.findall(r"<li>(.*?)</li>", box) == WARNINGS
    assert html.index("calibration-warning") < html.index('<h2 id="leaderboard">')
    assert "AAA h=" not in box

    assert cells(html, "decisions-table") == [
        ["AAA", "gru (gru)", "gru (gru)", f"2017-10-02 .. {dt.date(2018, 9, 28)}", "250",
         "0.912", "0.0004", "0.0008", AAA_REASON],
        ["BBB", "random_walk (random_walk)", "gru (gru)", "2017-10-02 .. 2018-09-28", "250",
         "0.995", "0.410", "0.410", BBB_REASON],
    ]  # fmt: skip
    assert "decided at the training as-of 2018-09-28" in html
    assert "older decision" not in html  # the 2018-06-29 decision is not the newest
    assert "after the Holm adjustment" in html

    rows = cells(html, "calibration-table")
    assert [(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows] == [
        (*key, *counts[:4]) for key, counts in EXPECTED.items()
    ]
    assert [(r[7], r[8], r[9]) for r in rows] == [
        ("80.0%", "68%-92%", "inside"),
        ("80.0%", "62%-98%", "inside"),
        ("23.7%", "67%-93%", "OUTSIDE: too narrow"),
        ("23.7%", "62%-98%", "OUTSIDE: too narrow"),
    ]
    assert html.count('<tr class="miscalibrated">') == 2
    assert "GARCH-t coverage" in html  # two tickers: the references are computed
    assert f"with an as-of up to {AS_OF}" in html

    chart = html.split("<svg ")[1].split("</svg>")[0]
    assert "Leaderboard: score vs the random walk (below 1 beats it)" in chart
    assert "-5.00% vs random walk  ★ champion" in chart and chart.count('class="bar"') == 2
    board = cells(html, "leaderboard-table")
    assert [(r[0], r[1], r[4]) for r in board] == [("1", "gru", "0.950"), ("2", "random_walk",
                                                                           "1.000")]  # fmt: skip


def test_large_universe_skips_the_references_and_says_so(
    evidence_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence, "REFERENCE_MAX_TICKERS", 1)
    monkeypatch.setattr(evidence, "evaluate_range", None)  # calling it would fail
    with connect(evidence_url, read_only=True) as wh:
        cal = evidence.calibration(wh, *EVERYTHING, references=True)
    assert cal.references is False
    assert cal.note.startswith("The GARCH(1,1)-t and pooled references are left out: 2 tickers")
    html = calibration_html(cal)
    assert "GARCH-t coverage" not in html
    assert escape(cal.note) in html and "left out: 2 tickers is more than 1" in html
    assert cal.warnings == WARNINGS


def test_no_warning_when_every_coverage_is_inside(evidence_url: str) -> None:
    with connect(evidence_url, read_only=True) as wh:
        cal = evidence.calibration(wh, *EVERYTHING)
    calm = evidence.Calibration(
        start=cal.start, end=cal.end, table=cal.table.filter(pl.col("ticker") == "AAA"),
        references=False, note="",
    )  # fmt: skip
    assert warning_html(calm) == "" and calm.warnings == []
    assert warning_html(cal).count("<li>") == 2


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.41, "0.410"), (0.031, "0.031"), (0.0004, "0.0004"), (0.00081, "0.00081"),
     (0.00001, "<0.0001"), (None, ""), (math.nan, "")],
)  # fmt: skip
def test_format_p(value: float | None, text: str) -> None:
    assert evidence.format_p(value) == text


def test_many_fits_skip_the_references_and_say_so(
    evidence_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence, "REFERENCE_MAX_FITS", 50)
    monkeypatch.setattr(evidence, "evaluate_range", None)  # calling it would fail
    with connect(evidence_url, read_only=True) as wh:
        cal = evidence.calibration(wh, *EVERYTHING, references=True)
    # AAA: as-ofs 0..39 realized; BBB: the same but session 20, quarantined.
    assert cal.references is False
    assert "left out: 79 fits is more than 50," in cal.note


@pytest.mark.slow
def test_report_of_the_pipeline_warehouse_matches_its_views(analyst_warehouse: str) -> None:
    from stacklstm_fin.report import collect, report_html
    from tests.report.conftest import LAST, TICKERS

    with connect(analyst_warehouse, read_only=True) as wh:
        data = collect(wh, LAST, references=False)
        latest = wh.query(
            "SELECT ticker, model_id, p_value, p_adjusted, reason "
            "FROM stacklstm.latest_publication_decisions ORDER BY ticker"
        )
        states = wh.query(
            "SELECT ticker, horizon, state, COUNT(*) AS n FROM stacklstm.forecast_accuracy "
            "GROUP BY ticker, horizon, state"
        )
    assert latest["ticker"].to_list() == TICKERS
    assert data.decisions.select(latest.columns).equals(latest)
    counts = {(r["ticker"], r["horizon"], r["state"]): r["n"] for r in states.to_dicts()}
    table = data.calibration.table
    assert table.height == len({(t, h) for t, h, _ in counts})
    for row in table.iter_rows(named=True):
        for state in ("realized", "pending", "no_price"):
            assert row[state] == counts.get((row["ticker"], row["horizon"], state), 0)
        assert row["published"] == row["realized"] + row["pending"] + row["no_price"]
    assert table["pending"].sum() > 0  # the newest forecasts are not realized yet
    html = report_html(data, generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    rows = cells(html, "decisions-table")
    assert [(r[0], r[6], r[7]) for r in rows] == [
        (t, evidence.format_p(p), evidence.format_p(q))
        for t, p, q in zip(latest["ticker"], latest["p_value"], latest["p_adjusted"], strict=True)
    ]
    assert ("calibration-warning" in html) == bool(data.calibration.warnings)


def test_published_models_are_periods_per_model(evidence_url: str) -> None:
    from stacklstm_fin.report.evidence import champion_periods
    from tests.report.evidence_fixture import QUARANTINED, SESSIONS

    with connect(evidence_url, read_only=True) as wh:
        periods = champion_periods(wh, AS_OF)
    # gru-1 publishes AAA at every as-of; the random walk publishes BBB, which has
    # no as-of on its quarantined session: two periods. (Before ADR 0008 a period
    # was MIN(model_id) per as-of, which would have shown gru-1 alone.)
    assert periods.select(
        "period", "candidate", "first_published", "last_published", "sessions", "tickers"
    ).rows() == [
        (1, "gru", SESSIONS[0], AS_OF, 41, 1),
        (2, "random_walk", SESSIONS[0], SESSIONS[QUARANTINED - 1], 20, 1),
        (3, "random_walk", SESSIONS[QUARANTINED + 1], AS_OF, 20, 1),
    ]


def test_leaderboard_chart_falls_back_to_rmse_without_scores(evidence_url: str) -> None:
    from stacklstm_fin.report import collect, leaderboard_chart

    with connect(evidence_url) as wh:
        wh.execute("DELETE FROM stacklstm.model_metrics WHERE metric = 'score_vs_random_walk'")
        data = collect(wh, None, references=False)
    chart = leaderboard_chart(data).svg
    assert "Leaderboard: pooled test RMSE of log returns (lower is better)" in chart
    assert "-6.48% vs random walk  ★ champion" in chart  # 0.0101 / 0.0108 - 1


def test_evaluate_command_prints_states_coverage_and_warnings(
    evidence_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stacklstm_fin.cli import main

    config = tmp_path / "cfg.toml"
    config.write_text(f'[warehouse]\nurl = "{evidence_url}"\n')
    args = ["evaluate", "--config", str(config), "--start", START.isoformat()]
    assert main([*args, "--end", AS_OF.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "| BBB    | 1 | 40  | 38   | 1    | 1    | 23.7% | 67%-93% |" in out
    assert "| AAA    | 2 | 41  | 40   | 1    | 0    | 80.0% | 62%-98% |" in out
    assert [line[len("WARNING: "):] for line in out.splitlines() if line.startswith("WARNING")] \
        == WARNINGS  # fmt: skip
    assert main([*args[:-1], "2019-01-02", "--end", "2019-01-31"]) == 2
    assert capsys.readouterr().err == (
        "stacklstm-fin: error: no forecasts published with an as-of in 2019-01-02 .. 2019-01-31\n"
    )
