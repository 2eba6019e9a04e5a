"""A learning-rate curve as a small, dependency-free SVG (a polyline, axes, ticks)."""

from __future__ import annotations

from html import escape

import numpy as np

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 28, 36
MAX_POINTS = 1500


def sample_steps(stop: int, points: int = MAX_POINTS) -> np.ndarray:
    """At most `points` integer steps spread over [0, stop), both ends included."""
    if stop <= points:
        return np.arange(stop, dtype=np.int64)
    return np.unique(np.linspace(0, stop - 1, points).round().astype(np.int64))


def render_svg(steps: np.ndarray, values: np.ndarray, *, title: str, log: bool = False) -> str:
    """The curve `values` over `steps` as an SVG document; `log` uses a log10 y axis
    (zeros are drawn at the bottom edge)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x = steps.astype(np.float64)
    y = values.astype(np.float64)
    if log:
        positive = y[y > 0]
        floor = positive.min() if positive.size else 1e-12
        y = np.log10(np.maximum(y, floor))
    x_lo, x_hi = (float(x[0]), float(x[-1])) if x.size else (0.0, 1.0)
    y_lo, y_hi = (float(y.min()), float(y.max())) if y.size else (0.0, 1.0)
    if not log:
        y_lo = min(y_lo, 0.0)
    if y_hi == y_lo:
        y_hi = y_lo + (abs(y_lo) or 1.0)
    if x_hi == x_lo:
        x_hi = x_lo + 1
    px = LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w
    py = TOP + (1 - (y - y_lo) / (y_hi - y_lo)) * plot_h
    points = " ".join(map("{:.1f},{:.1f}".format, px.tolist(), py.tolist()))

    def label(v: float) -> str:
        return f"{10**v:.3g}" if log else f"{v:.3g}"

    ticks = []
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        ty = TOP + (1 - frac) * plot_h
        tx = LEFT + frac * plot_w
        ticks.append(
            f'<line x1="{LEFT - 4}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" '
            f'stroke="#e5e7eb"/>'
            f'<text x="{LEFT - 8}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{label(y_lo + frac * (y_hi - y_lo))}</text>"
            f'<text x="{tx:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
            f"{x_lo + frac * (x_hi - x_lo):,.0f}</text>"
        )
    scale = "log" if log else "linear"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" '
        f'fill="#374151">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>'
        f'<text x="{LEFT}" y="18" font-size="13">{escape(title)} ({scale} scale)</text>'
        + "".join(ticks)
        + f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#9ca3af"/>'
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        f'stroke="#9ca3af"/>'
        f'<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="{points}"/>'
        f'<text x="{LEFT + plot_w}" y="{HEIGHT - 4}" text-anchor="end">step</text>'
        "</svg>"
    )
