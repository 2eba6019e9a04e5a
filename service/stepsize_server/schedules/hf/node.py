"""The Hugging Face family's base: `HFNode`, parameter types and shared helpers.

See the package docstring for the family's semantics and notation.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..node import Context, Node, as_steps
from ..params import Rate


def clip0(x: np.ndarray) -> np.ndarray:
    """Python's `max(0.0, x)`: x where x > 0, else +0.0 (also for -0.0 and NaN)."""
    return np.where(x > 0.0, x, 0.0)


def cosine_wave(num_cycles: float, progress: np.ndarray) -> np.ndarray:
    """`0.5 * (1.0 + cos(pi * num_cycles * 2.0 * progress))`, evaluated left to right."""
    return 0.5 * (1.0 + np.cos(np.pi * float(num_cycles) * 2.0 * progress))


class HFNode(Node):
    """Base of the family: `values = base_lr * lr_lambda(step)`, as `LambdaLR` computes."""

    base_lr: Rate = Field(
        description="The optimizer's learning rate (`lr`), which `lr_lambda` multiplies."
    )

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        return self.base_lr * self.lr_lambda(as_steps(t))

    def horizon(self, ctx: Context) -> int | None:
        if self.base_lr == 0:
            return 0
        upper = self.settles_by()
        return None if upper is None else self._first_constant(upper)

    def settles_by(self) -> int | None:
        """A step from which `lr_lambda` is constant, or None if it never settles."""
        raise NotImplementedError

    def _first_constant(self, upper: int, window: int = 64) -> int:
        """Walk back from `upper` over at most `window` steps while the value is unchanged
        (the closed-form bounds are exact except in degenerate cases like `w == 1`); the
        result is still an upper bound if the value is unchanged over the whole window."""
        lo = max(0, upper - window)
        v = self.values(np.arange(lo, upper + 1, dtype=np.float64), Context())
        changed = np.flatnonzero(v != v[-1])
        return lo + int(changed[-1]) + 1 if changed.size else lo


def warmup_ramp(t: np.ndarray, w: int) -> np.ndarray:
    return t / float(max(1, w))
