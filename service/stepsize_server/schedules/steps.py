"""Step checks (SPEC 2): what a query may ask for, before anything is evaluated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InvalidStep
from .node import MAX_STEP, Context


def check_steps(steps: Any) -> np.ndarray:
    """Validate steps (SPEC 2): integers with 0 <= step <= 2**53, as a float64 array (exact
    for every valid step). Raises InvalidStep naming the first offending value."""
    if isinstance(steps, range):
        steps = np.arange(steps.start, steps.stop, steps.step, dtype=np.int64)
    if not isinstance(steps, np.ndarray):
        items = np.asarray(steps, dtype=object)
        for value in items.reshape(-1):
            check_scalar_step(value)
        return items.astype(np.float64)
    if steps.dtype.kind == "b" or steps.dtype.kind not in "iuf":
        if steps.size == 0:
            return steps.astype(np.float64)
        if steps.dtype == object:
            for value in steps.reshape(-1):
                check_scalar_step(value)
            return steps.astype(np.float64)
        raise InvalidStep(steps.reshape(-1)[0].item(), "a step must be an integer")
    if steps.size == 0:
        return steps.astype(np.float64)
    # Two reductions settle the common case without temporaries (NaN fails `lo >= 0`).
    lo, hi = steps.min(), steps.max()
    if steps.dtype.kind == "f":
        in_range = bool(lo >= 0 and hi <= MAX_STEP)
        if not in_range or not np.array_equal(np.floor(steps), steps):
            bad = ~np.isfinite(steps) | (steps != np.floor(steps)) | (steps < 0)
            bad |= steps > MAX_STEP
            check_scalar_step(steps[bad][0].item())
        return steps.astype(np.float64)
    if lo < 0 or hi > MAX_STEP:
        bad = (steps < 0) | (steps > MAX_STEP)
        check_scalar_step(steps[bad][0].item())
    return steps.astype(np.float64)


def check_scalar_step(value: Any) -> None:
    """Raise InvalidStep unless `value` is an integer (or integral float) in [0, 2**53]."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidStep(value, "a step must be an integer")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidStep(value, "a step must be an integer")
    if value < 0:
        raise InvalidStep(value, "a step must be >= 0")
    if value > MAX_STEP:
        raise InvalidStep(value, f"a step must be <= 2**53 ({MAX_STEP})")


def context(steps_per_epoch: Any) -> Context:
    """The evaluation context; raises InvalidStep unless `steps_per_epoch` is None or a
    positive integer."""
    if steps_per_epoch is not None and (
        isinstance(steps_per_epoch, bool)
        or not isinstance(steps_per_epoch, int)
        or steps_per_epoch <= 0
    ):
        raise InvalidStep(steps_per_epoch, "steps_per_epoch must be a positive integer")
    return Context(steps_per_epoch=steps_per_epoch)


def as_number(value: Any) -> int | float:
    """A step as a plain Python number, integral floats as int (for messages)."""
    v = value.item() if hasattr(value, "item") else value
    if isinstance(v, float) and v.is_integer() and abs(v) <= MAX_STEP * 2:
        return int(v)
    return v
