"""The dependency-free SVG drawing: ticks, gaps, escaping, determinism."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from stacklstm_fin.report import fan_chart_id
from stacklstm_fin.report.svg import bar_chart, empty_chart, nice_ticks
from stacklstm_fin.report.timechart import Panel, Series, time_chart

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [dt.date(2018, 12, d) for d in (3, 4, 5, 6, 7, 10)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_nice_ticks() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.0103, 0.0108) == [0.0103, 0.0104, 0.0105, 0.0106, 0.0107, 0.0108]
    assert nice_ticks(412.0, 488.0) == [420.0, 440.0, 460.0, 480.0]
    assert nice_ticks(5.0, 5.0) == [5.0]


def test_time_chart_breaks_lines_at_gaps_and_escapes_text() -> None:
    series = Series("A&B <h=1>", DAYS, [1.0, 2.0, None, 4.0, 5.0, 6.0])
    chart = time_chart("c-1", 'Title "quoted" & <tagged>', [Panel("p", [series])])
    root = parse(chart.svg)
    assert root.get("id") == "c-1"
    assert root.find(f"{SVG}title").text == 'Title "quoted" & <tagged>'
    paths = root.findall(f".//{SVG}path")
    assert [p.get("data-series") for p in paths] == ["A&B <h=1>"] * 2  # two runs around the gap
    assert [p.get("d").count("L") for p in paths] == [1, 2]


def test_time_chart_draws_bands_reference_and_legend() -> None:
    band = Series("interval", DAYS, lower=[1, 1, 1, 1, 1, 1], upper=[2, 2, 2, 2, 2, 2])
    panel = Panel("cover", [band], reference=0.8, reference_label="nominal 80%",
                  y_limits=(0.0, 3.0))  # fmt: skip
    root = parse(time_chart("c-2", "t", [panel], markers=[(DAYS[2], "as-of")]).svg)
    assert len(root.findall(f".//{SVG}polygon")) == 1
    refs = [e for e in root.iter(f"{SVG}line") if e.get("class") == "reference"]
    assert len(refs) == 1
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "nominal 80%" in texts and "as-of" in texts and "interval" in texts
    assert "2018-12-03" in texts and "2018-12-10" in texts  # both ends of the date axis


def test_same_input_same_bytes() -> None:
    def make() -> str:
        s = Series("x", DAYS, [3.0, 1.0, 4.0, 1.0, 5.0, 9.0], markers=True)
        return time_chart("c-3", "t", [Panel("p", [s]), Panel("q", [s])]).svg

    assert make() == make()


def test_bar_chart_reference_line_and_missing_values() -> None:
    chart = bar_chart(
        "b-1", "board", ["1. lstm", "2. random_walk", "3. broken"], [0.0101, 0.0102, None],
        annotations=["-1.0% vs random walk", "", ""], highlight=[True, False, False],
        reference=0.0102, reference_label="random walk",
    )  # fmt: skip
    root = parse(chart.svg)
    bars = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]
    assert [b.get("data-label") for b in bars] == ["1. lstm", "2. random_walk"]
    assert float(bars[0].get("width")) < float(bars[1].get("width"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "n/a" in texts and "0.0101  -1.0% vs random walk" in texts
    ref = next(e for e in root.iter(f"{SVG}line") if e.get("class") == "reference")
    assert ref.get("x1") == ref.get("x2")


def test_empty_inputs_give_a_titled_placeholder() -> None:
    for chart in (
        empty_chart("e-1", "Nothing", "no data"),
        bar_chart("e-1", "Nothing", [], []),
        time_chart("e-1", "Nothing", [Panel("p", [])]),
    ):
        root = parse(chart.svg)
        assert (root.get("id"), root.find(f"{SVG}title").text) == ("e-1", "Nothing")


def test_fan_chart_ids() -> None:
    assert fan_chart_id("^GSPC") == "forecast-fan-gspc"
    assert fan_chart_id("BRK-B") == "forecast-fan-brk-b"
    assert fan_chart_id("EURUSD=X") == "forecast-fan-eurusd-x"
