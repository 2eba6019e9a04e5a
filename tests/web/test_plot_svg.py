"""GET .../plot.svg: round ticks (1, 2 or 5 times a power of ten), no label cut off
(checked on the rendered SVG in the browser, and by the renderer's own width estimate),
the log option, a title with ref@version, a y axis from 0 for a non-negative curve."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import httpx
import numpy as np
import pytest
from stepsize_server.web.plot import (
    WIDTH,
    label_width,
    linear_ticks,
    log_ticks,
    nice_step,
    render_svg,
    sample_steps,
)

from tests.support.live_server import LiveServer

from .conftest import OfflinePage, publisher

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str, cls: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [t for t in root.iter(f"{SVG}text") if t.get("class") == cls]


def tick_values(svg: str, cls: str) -> list[float]:
    return [float((t.text or "").replace(",", "")) for t in texts(svg, cls)]


def assert_evenly_spaced_round(values: list[float]) -> None:
    assert len(values) >= 3, values
    steps = np.diff(values)
    assert np.allclose(steps, steps[0], rtol=1e-9), values
    step = float(steps[0])
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1.0, 2.0, 5.0), (step, values)
    # Every tick a whole multiple of the step: 0, 2,000, 4,000, never 8,249.
    assert all(abs(v / step - round(v / step)) < 1e-6 for v in values), values


@pytest.mark.parametrize("stop", [8250, 11_000, 1100, 37, 1_000_000, 2**53])
def test_x_ticks_are_round_and_inside(stop: int) -> None:
    steps = sample_steps(stop)
    svg = render_svg(steps, np.full(steps.size, 0.1), title="t/s@1")
    xs = tick_values(svg, "xtick")
    assert_evenly_spaced_round(xs)
    assert xs[0] == 0 and xs[-1] <= stop - 1
    for label in texts(svg, "xtick"):
        x, anchor, width = (
            float(label.get("x", 0)),
            label.get("text-anchor"),
            label_width(label.text or ""),
        )
        left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor or "start"]
        assert left >= 0 and left + width <= WIDTH, (label.text, left, width)


def test_old_odd_ticks_are_gone() -> None:
    for stop in (8250, 11_000):
        steps = sample_steps(stop)
        svg = render_svg(steps, np.linspace(1, 0, steps.size), title="t/s@1")
        labels = [t.text for t in texts(svg, "xtick")]
        assert "8,249" not in labels and "10,999" not in labels, labels
    assert linear_ticks(0, 10_999, integer=True)[-1] == 10_000
    assert [nice_step(s) for s in (10, 70, 0.003, 12_000)] == [2.0, 20.0, 0.0005, 2000.0]


def test_y_axis_starts_at_zero_and_tops_the_curve() -> None:
    steps = sample_steps(1000)
    values = 1e-3 * (1 + np.cos(np.pi * steps / 999)) / 2 + 1e-5  # never 0, never below
    svg = render_svg(steps, values, title="t/s@1")
    ys = tick_values(svg, "ytick")
    assert ys[0] == 0
    assert ys[-1] >= values.max()
    assert_evenly_spaced_round(ys)


def test_log_axis_ticks() -> None:
    steps = sample_steps(1000)
    values = 1e-2 * 0.99 ** steps.astype(float)  # 1e-2 down to ~4e-7
    svg = render_svg(steps, values, title="t/s@1", log=True)
    ys = tick_values(svg, "ytick")
    assert ys == sorted(ys) and all(v > 0 for v in ys)
    assert all(math.log10(v) == round(math.log10(v)) for v in ys), ys  # whole decades
    assert log_ticks(-3.2, -3.0) == [0.0007, 0.0008, 0.0009, 0.001]
    assert log_ticks(-2, -1) == [0.01, 0.02, 0.05, 0.1]


def test_plot_svg_over_http(live_server: LiveServer, admin: httpx.Client, ns: str) -> None:
    publisher(admin)(f"{ns}/s", {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 1000})
    publisher(admin)(f"{ns}/s", {"type": "cosine", "start": 2e-3, "end": 0, "steps": 7499})
    url = f"{live_server.url}/v1/schedules/{ns}/s/plot.svg"
    latest = httpx.get(url, timeout=30)
    assert latest.headers["content-type"] == "image/svg+xml"
    title = ET.fromstring(latest.text).find(f"{SVG}title")
    assert title is not None and title.text == f"{ns}/s@2"
    assert texts(latest.text, "title")[0].text == f"{ns}/s@2 (linear scale)"
    xs = tick_values(latest.text, "xtick")
    assert_evenly_spaced_round(xs)
    assert xs[-1] == 8000  # stop = ceil(7499 * 1.1): the axis ends at step 8248
    assert tick_values(latest.text, "ytick")[0] == 0

    pinned = httpx.get(url, params={"version": 1, "log": "true"}, timeout=30)
    assert texts(pinned.text, "title")[0].text == f"{ns}/s@1 (log scale)"
    ys = tick_values(pinned.text, "ytick")
    assert all(v > 0 for v in ys) and ys == sorted(ys)
    assert min(ys) <= 1e-5 * 1.0000001 and max(ys) >= 1e-3 / 1.0000001
    tagged = admin.put(f"/v1/schedules/{ns}/s/tags/prod", json={"version": 1})
    assert tagged.status_code in (200, 201)
    by_tag = httpx.get(url, params={"tag": "prod"}, timeout=30)
    assert ET.fromstring(by_tag.text).find(f"{SVG}title").text == f"{ns}/s@1"  # type: ignore[union-attr]


def test_no_label_cut_off_in_the_browser(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    """The rendered text boxes lie inside the viewBox, for several lengths. The document is
    the SVG itself at 1:1, so client coordinates are viewBox coordinates (and include the
    rotation of the y-axis title, which getBBox would not)."""
    publisher(admin)(f"{ns}/s", {"type": "exponential", "start": 0.5, "rate": 0.5, "steps": 900})
    for params in ("stop=8250", "stop=11000", "stop=123457", "stop=9007199254740993", "log=true"):
        web.page.goto(f"{live_server.url}/v1/schedules/{ns}/s/plot.svg?{params}")
        boxes = web.page.evaluate(
            """() => Array.from(document.querySelectorAll("text")).map((t) => {
                 const b = t.getBoundingClientRect();
                 return [t.textContent, b.x, b.y, b.width, b.height]; })"""
        )
        assert len(boxes) > 8
        for text, x, y, width, height in boxes:
            assert x >= 0 and y >= 0, (params, text, x, y)
            assert x + width <= WIDTH and y + height <= 320, (params, text, x, width)
    web.shot("plot-svg", full_page=False)
