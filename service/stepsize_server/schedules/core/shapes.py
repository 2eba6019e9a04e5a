"""The interpolation shapes, written once: each goes from `start` at `frac = 0` to `end`
at `frac = 1` (float64 arrays or scalars, `frac` in [0, 1]).

Used by `cosine`, `warmup` and `interpolate`.
"""

from __future__ import annotations

import numpy as np

Real = float | np.ndarray


def linear(start: Real, end: Real, frac: np.ndarray) -> np.ndarray:
    """`start + (end - start) * frac`."""
    return start + (end - start) * frac


def cosine(start: Real, end: Real, frac: np.ndarray, exponent: float = 1.0) -> np.ndarray:
    """Half a cosine: `end + (start - end) * ((1 + cos(pi * frac)) / 2) ** exponent`."""
    half = (1 + np.cos(np.pi * frac)) / 2
    if exponent != 1.0:
        half = half**exponent
    return end + (start - end) * half


def geometric(start: Real, end: Real, frac: np.ndarray) -> np.ndarray:
    """Linear in log space: `start * (end / start) ** frac` (`start` and `end` > 0)."""
    return start * (end / start) ** frac
