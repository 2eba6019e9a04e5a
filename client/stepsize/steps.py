"""Bounds and checks of steps and values, shared by every layer of the client."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_STEP = 2**53
"""The largest step the registry evaluates (an int that a float64 still holds exactly)."""

MAX_VALUES_PER_REQUEST = 10_000_000
"""The most values the server answers in one `.npy` range (SPEC section 4)."""


def check_step(step: Any) -> int:
    """`step` as an int in [0, 2**53]; ValueError naming it otherwise (floats must be integral)."""
    if isinstance(step, (bool, str, bytes)):
        raise ValueError(f"Argument `step` must be an integer. Received: step={step!r}")
    if not isinstance(step, int):
        try:
            as_float = float(step)
        except (TypeError, ValueError):
            raise ValueError(
                f"Argument `step` must be an integer. Received: step={step!r}"
            ) from None
        if not (math.isfinite(as_float) and as_float == int(as_float)):
            raise ValueError(f"Argument `step` must be an integer. Received: step={step!r}")
        step = int(as_float)
    if not 0 <= step <= MAX_STEP:
        raise ValueError(f"Argument `step` must be in [0, 2**53]. Received: step={step}")
    return step


def check_values(values: Any, length: int) -> np.ndarray:
    """`values` as a float64 vector of `length` finite, non-negative numbers, else ValueError."""
    arr = np.asarray(values)
    if arr.dtype != np.float64 or arr.shape != (length,):
        raise ValueError(f"expected {length} float64 values, got {arr.dtype} {arr.shape}")
    if length and not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise ValueError("values must be finite and >= 0")
    return arr


__all__ = ["MAX_STEP", "MAX_VALUES_PER_REQUEST", "check_step", "check_values"]
