"""A learning-rate curve as a small, dependency-free SVG (a polyline, axes, round ticks).

Ticks sit on round numbers (1, 2 or 5 times a power of ten); the linear y axis of a
non-negative curve starts at 0; every label is placed inside the viewBox."""

from __future__ import annotations

import math
from html import escape

import numpy as np

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 78, 28, 30, 40
FONT_SIZE = 11
# Average advance of a sans-serif digit or comma at FONT_SIZE, generous on purpose: it
# decides how far a label may sit from the edges, and a label cut off is worse than space.
CHAR_WIDTH = 0.62 * FONT_SIZE
MAX_POINTS = 1500
TARGET_TICKS = 6


def sample_steps(stop: int, points: int = MAX_POINTS) -> np.ndarray:
    """At most `points` integer steps spread over [0, stop), both ends included."""
    if stop <= points:
        return np.arange(stop, dtype=np.int64)
    return np.unique(np.linspace(0, stop - 1, points).round().astype(np.int64))


def nice_step(span: float, target: int = TARGET_TICKS) -> float:
    """The 1-2-5 multiple of a power of ten that cuts `span` into about `target` parts."""
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 5.0, 10.0):
        if raw <= mult * power * 1.0000001:
            return mult * power
    return 10.0 * power


def linear_ticks(lo: float, hi: float, *, integer: bool = False) -> list[float]:
    """Round tick values in [lo, hi] (1-2-5 spacing); integers only when `integer`."""
    step = nice_step(hi - lo)
    if integer:
        step = max(step, 1.0)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    # round() removes the float noise of k * step (0.30000000000000004).
    digits = max(0, -math.floor(math.log10(step))) + 1
    return [round(k * step, digits) for k in range(first, last + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log10 axis spanning [10**lo, 10**hi]: powers of ten, with 2 and 5
    times them when the span is short, else round linear values."""
    for mults in ((1.0,), (1.0, 2.0, 5.0)):
        ticks = [
            m * 10.0**k
            for k in range(math.floor(lo) - 1, math.ceil(hi) + 1)
            for m in mults
            if lo - 1e-9 <= math.log10(m * 10.0**k) <= hi + 1e-9
        ]
        if len(ticks) >= 3:
            return ticks
    return [t for t in linear_ticks(10.0**lo, 10.0**hi) if t > 0]


def format_tick(value: float) -> str:
    """A short label: '2,000' for whole numbers from 1 up, else the shortest general form."""
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:g}"


def label_width(text: str) -> float:
    """An upper estimate of the rendered width of `text` at FONT_SIZE."""
    return len(text) * CHAR_WIDTH


def render_svg(steps: np.ndarray, values: np.ndarray, *, title: str, log: bool = False) -> str:
    """The curve `values` over `steps` as an SVG document; `log` uses a log10 y axis
    (zeros are drawn at the bottom edge, at the smallest positive value)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x = steps.astype(np.float64)
    y = values.astype(np.float64)
    x_lo, x_hi = (float(x[0]), float(x[-1])) if x.size else (0.0, 1.0)
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    if log:
        positive = y[y > 0]
        floor = float(positive.min()) if positive.size else 1e-12
        y = np.log10(np.maximum(y, floor))
        y_lo, y_hi = float(y.min()), float(y.max())
        if y_hi - y_lo < 1e-12:
            y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
        y_ticks = log_ticks(y_lo, y_hi)
        y_tick_pos = [math.log10(t) for t in y_ticks]
    else:
        y_lo = min(float(y.min()), 0.0) if y.size else 0.0
        y_hi = float(y.max()) if y.size else 1.0
        if y_hi <= y_lo:
            y_hi = y_lo + (abs(y_lo) or 1.0)
        # The axis runs from round value to round value, so both ends carry a label.
        step = nice_step(y_hi - y_lo)
        y_lo = math.floor(y_lo / step + 1e-9) * step
        y_hi = math.ceil(y_hi / step - 1e-9) * step
        y_ticks = linear_ticks(y_lo, y_hi)
        y_tick_pos = y_ticks

    def sx(v: float) -> float:
        return LEFT + (v - x_lo) / (x_hi - x_lo) * plot_w

    def sy(v: float) -> float:
        return TOP + (1 - (v - y_lo) / (y_hi - y_lo)) * plot_h

    px = LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w
    py = TOP + (1 - (y - y_lo) / (y_hi - y_lo)) * plot_h
    points = " ".join(map("{:.1f},{:.1f}".format, px.tolist(), py.tolist()))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="{FONT_SIZE}" '
        f'fill="#374151">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="13" class="title">{escape(title)} '
        f"({'log' if log else 'linear'} scale)</text>",
    ]
    for value, pos in zip(y_ticks, y_tick_pos, strict=True):
        ty = sy(pos)
        parts.append(
            f'<line x1="{LEFT - 4}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" '
            f'stroke="#e5e7eb"/><text class="ytick" x="{LEFT - 8}" y="{ty + 4:.1f}" '
            f'text-anchor="end">{format_tick(value)}</text>'
        )
    for value in linear_ticks(x_lo, x_hi, integer=True):
        parts.append(x_tick(value, sx(value), TOP + plot_h))
    parts += [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#9ca3af"/>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        f'stroke="#9ca3af"/>',
        f'<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="{points}"/>',
        f'<text x="{LEFT + plot_w}" y="{HEIGHT - 6}" text-anchor="end">step</text>',
        f'<text x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">learning rate</text>',
        "</svg>",
    ]
    return "".join(parts)


def x_tick(value: float, tx: float, axis_y: float) -> str:
    """A tick mark and its label under the x axis, the label kept inside the viewBox."""
    text = format_tick(value)
    half = label_width(text) / 2
    # Centered under the tick unless that would cross an edge of the viewBox.
    if tx + half > WIDTH - 2:
        anchor, lx = "end", min(tx + half, WIDTH - 2.0)
    elif tx - half < 2:
        anchor, lx = "start", max(tx - half, 2.0)
    else:
        anchor, lx = "middle", tx
    return (
        f'<line x1="{tx:.1f}" y1="{axis_y}" x2="{tx:.1f}" y2="{axis_y + 4}" stroke="#9ca3af"/>'
        f'<text class="xtick" x="{lx:.1f}" y="{axis_y + 17}" text-anchor="{anchor}">'
        f"{text}</text>"
    )
