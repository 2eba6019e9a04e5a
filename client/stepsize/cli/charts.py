"""Charts of one curve: a plain-text chart for the terminal, or an image with matplotlib.

Both draw the y axis from 0 when the curve is non-negative (a learning rate is), so the
chart does not exaggerate a decay, and both span exactly the steps they are given: the
caller passes steps up to the curve's horizon (the step after which it is constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Mantissas of "round" axis ends: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of 10).
ROUND_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
LABEL_WIDTH = 9


@dataclass(frozen=True)
class YAxis:
    """The lr range a chart draws: `bottom` to `top`, linear or log10."""

    bottom: float
    top: float
    log: bool

    def position(self, value: float) -> float:
        """0 at `bottom`, 1 at `top`."""
        if self.log:
            return (math.log10(value) - math.log10(self.bottom)) / (
                math.log10(self.top) - math.log10(self.bottom)
            )
        return (value - self.bottom) / (self.top - self.bottom)

    def value_at(self, fraction: float) -> float:
        """The lr at `fraction` of the way from `bottom` to `top`."""
        if self.log:
            low, high = math.log10(self.bottom), math.log10(self.top)
            return float(10 ** (low + (high - low) * fraction))
        return self.bottom + (self.top - self.bottom) * fraction


def round_up(value: float) -> float:
    """The smallest "round" number (ROUND_MANTISSAS x 10^k) >= value, for value > 0."""
    exponent = math.floor(math.log10(value))
    for mantissa in ROUND_MANTISSAS:
        candidate = mantissa * 10.0**exponent
        # Relative slack: 0.1 must stay 0.1, not become 0.12 through float noise.
        if candidate >= value * (1 - 1e-12):
            return float(f"{candidate:.12g}")
    return 10.0 ** (exponent + 1)  # pragma: no cover (10.0 is the last mantissa)


def y_axis(values: np.ndarray, *, log: bool) -> YAxis:
    """The axis for `values`: from 0 (or the lowest value, if negative) to a round number
    at or above the highest; for `log`, the positive values' decades.

    Raises ValueError when `log` is asked for a curve without a positive value."""
    finite = values[np.isfinite(values)]
    if log:
        positive = finite[finite > 0]
        if positive.size == 0:
            raise ValueError("a log scale needs a positive learning rate; leave out --log")
        low = 10.0 ** math.floor(math.log10(float(positive.min())))
        high = 10.0 ** math.ceil(math.log10(float(positive.max())))
        return YAxis(low, high if high > low else low * 10, log=True)
    if finite.size == 0:
        return YAxis(0.0, 1.0, log=False)
    low, high = float(finite.min()), float(finite.max())
    bottom = min(low, 0.0)
    # A curve that is 0 everywhere still gets an axis of height 1.
    top = round_up(high) if high > 0 else (0.0 if low < 0 else 1.0)
    if bottom < 0:
        bottom = -round_up(-bottom)
    return YAxis(bottom, top, log=False)


def terminal_chart(
    steps: np.ndarray,
    values: np.ndarray,
    *,
    width: int = 72,
    height: int = 17,
    log: bool = False,
    title: str = "",
) -> str:
    """`values` over `steps` as text: a title line, `height` rows of `width` cells (each
    column marks the lowest to the highest value of its steps), the x axis and its labels.

    Raises ValueError for `log` without a positive value."""
    width, height = max(width, 10), max(height, 3)
    y = np.asarray(values, dtype=np.float64)
    axis = y_axis(y, log=log)
    grid = [[" "] * width for _ in range(height)]
    if len(y) >= width:
        for column, chunk in enumerate(np.array_split(y, width)):
            _mark(grid, column, chunk, axis)
    else:  # fewer values than columns: spread them out
        for index in range(len(y)):
            column = round(index * (width - 1) / max(len(y) - 1, 1))
            _mark(grid, column, y[index : index + 1], axis)
    rows = [title] if title else []
    for row, cells in enumerate(grid):
        label = _label(axis, row, height)
        rows.append(f"{label.rjust(LABEL_WIDTH)} |{''.join(cells)}")
    first, last = (int(steps[0]), int(steps[-1])) if len(steps) else (0, 0)
    rows.append(" " * LABEL_WIDTH + " +" + "-" * width)
    left, right = f"{first:,}", f"{last:,}"
    rows.append(" " * (LABEL_WIDTH + 2) + left + right.rjust(width - len(left)) + "  step")
    return "\n".join(rows)


def _label(axis: YAxis, row: int, height: int) -> str:
    """The y label of `row` (0 at the top), on rows whose value is round: the quarters of
    a linear axis, the powers of ten of a log one; the top and bottom rows always."""
    decades = round(math.log10(axis.top / axis.bottom)) if axis.log else 0
    ticks = decades if axis.log else 4
    if row not in (0, height - 1) and (row * ticks) % (height - 1) != 0:
        return ""
    return f"{axis.value_at(1 - row / (height - 1)):.4g}"


def _mark(grid: list[list[str]], column: int, chunk: np.ndarray, axis: YAxis) -> None:
    """Mark, in `column`, the rows from the lowest to the highest value of `chunk`."""
    usable = chunk[np.isfinite(chunk) & ((chunk > 0) if axis.log else True)]
    if usable.size == 0:
        return
    height = len(grid)

    def row_of(value: float) -> int:
        fraction = min(max(axis.position(value), 0.0), 1.0)
        return round(fraction * (height - 1))

    for row in range(row_of(float(usable.min())), row_of(float(usable.max())) + 1):
        grid[height - 1 - row][column] = "*"


def image_chart(
    steps: np.ndarray, values: np.ndarray, output: Path, *, log: bool, title: str
) -> None:
    """Write the curve as an image (PNG, or the format of `output`'s suffix) with matplotlib.

    Raises ImportError when matplotlib is missing, ValueError for `log` without a positive
    value, OSError when the file cannot be written."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the chart only goes to a file
    import matplotlib.pyplot as plt

    axis = y_axis(np.asarray(values, dtype=np.float64), log=log)
    figure, axes = plt.subplots(figsize=(8, 4), layout="constrained")
    try:
        axes.plot(steps, values, linewidth=1.5)
        axes.set_xlabel("step")
        axes.set_ylabel("learning rate")
        axes.set_title(title)
        axes.set_xlim(float(steps[0]), float(max(steps[-1], steps[0] + 1)))
        if log:
            axes.set_yscale("log")
        axes.set_ylim(axis.bottom, axis.top)
        axes.grid(True, alpha=0.3)
        figure.savefig(output, dpi=100)
    finally:
        plt.close(figure)
