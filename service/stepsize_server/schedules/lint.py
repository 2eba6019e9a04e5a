"""The value checks: every learning rate finite and >= 0, at the queried steps and on the
publish grid (what a definition must pass to be published)."""

from __future__ import annotations

import numpy as np

from .cost import DEFAULT_BUDGET, Deadline, check_cost, per_step_cost
from .errors import EvaluationError, EvaluationTimeout, StepOutOfRange
from .node import MAX_STEP, Context, Node
from .steps import as_number

# With a deadline, steps are evaluated in chunks of about this many cost units (~20 ms),
# the deadline checked before each.
CHUNK_COST = 20_000_000

DENSE_LIMIT = 200_000
SPARSE_POINTS = 4_096


def publish_grid(node: Node) -> np.ndarray:
    """Steps checked when a definition is published: dense up to its horizon (or the first
    200,000 steps), strided beyond that up to the horizon, then sparse up to 2**53."""
    h = node.horizon(Context(steps_per_epoch=1))
    # A horizon past 2**53 (a huge OneCycleLR total, an interpolation point far out) is
    # checked up to 2**53, the last valid step; numpy would not hold it as a number.
    end = DENSE_LIMIT if h is None else min(max(h, 1) + 2, MAX_STEP)
    dense = np.arange(min(end, DENSE_LIMIT), dtype=np.float64)
    parts = [dense]
    if end > DENSE_LIMIT:
        parts.append(np.unique(np.linspace(DENSE_LIMIT, end, DENSE_LIMIT).round()))
    parts.append(np.unique(np.geomspace(max(end, 1), MAX_STEP, SPARSE_POINTS).round()))
    grid = np.unique(np.concatenate(parts))
    return grid[grid <= MAX_STEP]


def check_grid(
    node: Node, *, budget: int = DEFAULT_BUDGET, deadline: Deadline | None = None
) -> None:
    """Raise EvaluationError if the node yields a bad value on the publish grid.

    Types that can only be evaluated up to some step (cumulative torch schedules) are
    checked up to that step. The check's cost is estimated first: CostTooLarge if it is
    over `budget`; EvaluationTimeout if `deadline` passes while it runs."""
    grid = publish_grid(node)
    check_cost(node, grid.size, max_step=int(grid[-1]), budget=budget, what="the publish check")
    ctx = Context(steps_per_epoch=1)
    while True:
        try:
            values = values_chunked(node, grid, ctx, deadline)
            break
        except StepOutOfRange as exc:
            grid = grid[grid <= exc.limit]
    check_values(grid, values)


def values_chunked(
    node: Node, flat: np.ndarray, ctx: Context, deadline: Deadline | None
) -> np.ndarray:
    """`values_located`, in chunks with `deadline` checked before each (one call without
    a deadline). Raises EvaluationTimeout once the deadline has passed."""
    if deadline is None:
        return values_located(node, flat, ctx)
    size = min(max(CHUNK_COST // per_step_cost(node), 4096), 1 << 20)
    out = np.empty(flat.shape, dtype=np.float64)
    for lo in range(0, flat.size, size):
        if deadline():
            raise EvaluationTimeout(lo, flat.size)
        out[lo : lo + size] = values_located(node, flat[lo : lo + size], ctx)
    return out


def check_values(steps: np.ndarray, values: np.ndarray) -> None:
    """Raise EvaluationError naming the first step whose value is non-finite or negative."""
    if values.size == 0:
        return
    lo, hi = values.min(), values.max()  # NaN propagates into both and fails the test
    if lo >= 0 and hi < np.inf:
        return
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.argmax(bad))
        step = as_number(steps[i])
        what = "negative" if np.isfinite(values[i]) else "non-finite"
        value = float(values[i])
        raise EvaluationError(step, f"the learning rate at step {step} is {what} ({value!r})")


def values_located(node: Node, flat: np.ndarray, ctx: Context) -> np.ndarray:
    """node.values(flat), but an EvaluationError names the first global step that fails."""
    with np.errstate(all="ignore"):
        try:
            return np.asarray(node.values(flat, ctx), dtype=np.float64)
        except EvaluationError as exc:
            if flat.size <= 1:
                step = as_number(flat[0]) if flat.size else exc.step
                raise relocated(exc, step) from None
            lo, hi = 0, flat.size
            while hi - lo > 1:  # the failure is in flat[lo:hi]; keep the first failing half
                mid = (lo + hi) // 2
                try:
                    node.values(flat[lo:mid], ctx)
                except EvaluationError:
                    hi = mid
                else:
                    lo = mid
            step = as_number(flat[lo])
            raise relocated(exc, step) from None


def relocated(exc: EvaluationError, step: int | float) -> EvaluationError:
    """The same error, naming the global `step` (and keeping a StepOutOfRange's limit)."""
    path = exc.errors[0]["path"]
    if isinstance(exc, StepOutOfRange):
        return StepOutOfRange(step, exc.limit, _at_step(exc, step), path)
    return EvaluationError(step, _at_step(exc, step), path)


def _at_step(exc: EvaluationError, step: int | float) -> str:
    message = exc.errors[0]["message"]
    return message if f"step {step}" in message else f"{message} at step {step}"
