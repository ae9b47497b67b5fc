"""The server-side SVG chart."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from stacklstm_fin.airflow.chart import BOTTOM, HEIGHT, TOP, FanPoint, fan_chart, nice_ticks

NS = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (70.1, 109.0, [80, 90, 100]),
        (2400.0, 2700.0, [2400, 2500, 2600, 2700]),
        (0.5, 0.51, [0.5, 0.5025, 0.505, 0.5075, 0.51]),
        (5.0, 5.0, [5.0]),
    ],
)
def test_nice_ticks(lo: float, hi: float, ticks: list[float]) -> None:
    assert nice_ticks(lo, hi) == pytest.approx(ticks)


def test_fan_starts_at_the_last_close_and_spans_the_interval() -> None:
    days = [dt.date(2018, 12, d) for d in (26, 27, 28, 31)]
    fan = [
        FanPoint(dt.date(2019, 1, 2), 101.0, 95.0, 110.0),
        FanPoint(dt.date(2019, 1, 3), 102.0, 90.0, 120.0),
    ]
    history = list(zip(days, [97.0, 98.0, 99.0, 100.0], strict=True))
    root = ET.fromstring(fan_chart("BRK-B", history, fan))
    prices, forecast, band = (
        root.find(f"{NS}{tag}[@class='{css}']").attrib["points"].split()  # type: ignore[union-attr]
        for tag, css in (("polyline", "prices"), ("polyline", "forecast"), ("polygon", "band"))
    )
    assert forecast[0] == prices[-1] == band[0] == band[-1]  # all leave from the as-of close
    assert len(band) == 2 + 2 * len(fan)
    ys = [float(p.split(",")[1]) for p in band]
    # base, upper h1, upper h2, lower h2, lower h1, base: widest at h=2, inside the plot
    assert (ys.index(min(ys)), ys.index(max(ys))) == (2, 3)
    assert TOP < min(ys) < max(ys) < HEIGHT - BOTTOM
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "as of 2018-12-31" in texts and "BRK-B" in texts


def test_no_history_gives_a_message_not_an_error() -> None:
    svg = fan_chart("<X>", [], [])
    assert "No prices stored for &lt;X&gt;." in svg
    ET.fromstring(svg)
