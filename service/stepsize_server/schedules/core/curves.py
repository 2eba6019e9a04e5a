"""The core family's curves: framework-neutral building blocks (SPEC 3.4).

Every type is a pure function of its local step `t` (float64 array). The composite types
(warmup, sequence, cycle, clamp, scale, product, epochs) are in core_composite.py.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..expressions import Expression, compile_expression
from ..node import NODE_COST, Context, Node
from ..params import Flag, NonNegInt, NonNegSteps, PositiveReal, Rate, Steps, strictly_increasing
from . import shapes


class Constant(Node):
    """`value` at every step."""

    type: Literal["constant"] = "constant"
    value: Rate = Field(description="The learning rate at every step.")
    summary = "the same learning rate at every step"
    example = {"type": "constant", "value": 0.001}

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        return np.full(t.shape, self.value, dtype=np.float64)

    def horizon(self, ctx: Context) -> int | None:
        return 0


class Linear(Node):
    """Linear from `start` at step 0 to `end` at `steps`, then `end`."""

    type: Literal["linear"] = "linear"
    start: Rate = Field(description="The learning rate at step 0.")
    end: Rate = Field(description="The learning rate at `steps` and after.")
    steps: Steps = Field(description="Steps from `start` to `end`, > 0.")
    summary = "linear from `start` at step 0 to `end` at `steps`, then `end`"
    example = {"type": "linear", "start": 0.0, "end": 0.001, "steps": 1000}

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        return shapes.linear(self.start, self.end, np.minimum(t, self.steps) / self.steps)

    def horizon(self, ctx: Context) -> int | None:
        return self.steps


class Cosine(Node):
    """`end + (start-end) * ((1 + cos(pi * min(t, steps) / steps)) / 2) ** exponent`."""

    type: Literal["cosine"] = "cosine"
    start: Rate = Field(description="The learning rate at step 0.")
    end: Rate = Field(0.0, description="The learning rate at `steps` and after.")
    steps: Steps = Field(description="Steps of the half-cosine, > 0.")
    exponent: PositiveReal = Field(
        1.0, description="Power applied to the cosine's weight; > 1 falls sooner, > 0."
    )
    summary = "half-cosine from `start` to `end` over `steps`, then `end`"
    example = {"type": "cosine", "start": 0.001, "end": 1e-5, "steps": 10000}

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        frac = np.minimum(t, self.steps) / self.steps
        return shapes.cosine(self.start, self.end, frac, self.exponent)

    def horizon(self, ctx: Context) -> int | None:
        return self.steps


class Exponential(Node):
    """`start * rate ** (t / steps)` (floored ratio if `staircase`), bounded by `end`."""

    type: Literal["exponential"] = "exponential"
    start: Rate = Field(description="The learning rate at step 0.")
    rate: Rate = Field(description="The factor applied every `steps` steps.")
    steps: Steps = Field(description="Steps per factor of `rate`, > 0.")
    staircase: Flag = Field(
        False, description="Apply the factor in whole periods (floor `step / steps`)."
    )
    end: Rate | None = Field(
        None, description="Bound the value stops at (a floor when decaying), or null for none."
    )
    summary = "`start * rate ** (t / steps)`, floored ratio if `staircase`, bounded by `end`"
    example = {"type": "exponential", "start": 0.1, "rate": 0.5, "steps": 1000, "end": 1e-4}

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        ratio = t / self.steps
        if self.staircase:
            ratio = np.floor(ratio)
        out = self.start * np.power(self.rate, ratio)
        if self.end is not None:
            out = np.maximum(out, self.end) if self.rate < 1 else np.minimum(out, self.end)
        return out

    def horizon(self, ctx: Context) -> int | None:
        if self.rate == 1 or self.start == 0:
            return 0
        if self.rate == 0:
            return 1 if not self.staircase else self.steps
        if self.end is None:
            return None
        decaying = self.rate < 1
        if (decaying and self.end >= self.start) or (not decaying and self.end <= self.start):
            return 0
        if self.end == 0:
            return None
        # First t with start * rate**(t/steps) past `end`; then the bound holds forever.
        # The logarithms are rounded, so the estimate can be a step off either way: settle
        # it on the values themselves.
        ratio = math.log(self.end / self.start) / math.log(self.rate)
        unit = self.steps if self.staircase else 1
        h = max(0, math.ceil(ratio if self.staircase else ratio * self.steps) * unit)
        while not self._at_bound(h, ctx):
            h += unit
        while h >= unit and self._at_bound(h - unit, ctx):
            h -= unit
        return h

    def _at_bound(self, t: int, ctx: Context) -> bool:
        return bool(self.values(np.array([float(t)]), ctx)[0] == self.end)


class Polynomial(Node):
    """`(start - end) * (1 - min(t, steps) / steps) ** power + end`."""

    type: Literal["polynomial"] = "polynomial"
    start: Rate = Field(description="The learning rate at step 0.")
    end: Rate = Field(description="The learning rate at `steps` and after.")
    steps: Steps = Field(description="Steps of the decay, > 0.")
    power: PositiveReal = Field(1.0, description="Exponent of the decay (1 is linear), > 0.")
    summary = "polynomial decay from `start` to `end` over `steps` with `power`"
    example = {"type": "polynomial", "start": 0.01, "end": 0.0, "steps": 5000, "power": 2.0}

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        frac = np.minimum(t, self.steps) / self.steps
        return (self.start - self.end) * (1 - frac) ** self.power + self.end

    def horizon(self, ctx: Context) -> int | None:
        return self.steps


class InverseSqrt(Node):
    """`value * sqrt(warmup_steps / max(t, warmup_steps))`."""

    type: Literal["inverse_sqrt"] = "inverse_sqrt"
    value: Rate = Field(description="The learning rate until `warmup_steps`.")
    warmup_steps: Steps = Field(description="Step from which the rate decays as 1/sqrt(step), > 0.")
    summary = "`value` until `warmup_steps`, then decays as 1/sqrt(step)"
    example = {"type": "inverse_sqrt", "value": 0.001, "warmup_steps": 4000}

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        return self.value * np.sqrt(self.warmup_steps / np.maximum(t, self.warmup_steps))

    def horizon(self, ctx: Context) -> int | None:
        return 0 if self.value == 0 else None


class Piecewise(Node):
    """`values[i]` for `boundaries[i-1] <= t < boundaries[i]`."""

    type: Literal["piecewise"] = "piecewise"
    boundaries: list[NonNegSteps] = Field(
        min_length=1, description="Strictly increasing steps where the next piece starts."
    )
    values_: list[Rate] = Field(
        alias="values", description="The learning rate of each piece, one more than `boundaries`."
    )
    summary = "constant pieces: `values[i]` from `boundaries[i-1]` (inclusive) on"
    example = {"type": "piecewise", "boundaries": [1000, 2000], "values": [0.1, 0.01, 0.001]}

    model_config = {**Node.model_config, "populate_by_name": True, "serialize_by_alias": True}

    @field_validator("boundaries")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        return strictly_increasing(v, "boundaries")

    @model_validator(mode="after")
    def _lengths(self) -> Piecewise:
        if len(self.values_) != len(self.boundaries) + 1:
            raise ValueError(
                "`values` must have one more item than `boundaries`. Received: "
                f"{len(self.boundaries)} boundaries and {len(self.values_)} values"
            )
        return self

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.boundaries, dtype=np.float64), t, side="right")
        return np.asarray(self.values_, dtype=np.float64)[idx]

    def horizon(self, ctx: Context) -> int | None:
        return self.boundaries[-1]


class Interpolate(Node):
    """Interpolation between `points` ([[step, lr], ...]), constant outside them."""

    type: Literal["interpolate"] = "interpolate"
    points: list[tuple[NonNegInt, Rate]] = Field(
        min_length=1, description="The [step, lr] pairs, with strictly increasing steps."
    )
    shape: Literal["linear", "cosine", "log"] = Field(
        "linear", description="The curve between two points: linear, half-cosine or log-linear."
    )
    summary = "interpolates between [step, lr] points (linear, cosine or log), flat outside"
    example = {"type": "interpolate", "points": [[0, 0.0], [500, 0.001], [10000, 1e-5]]}

    @field_validator("points")
    @classmethod
    def _increasing(cls, v: list[tuple[int, float]]) -> list[tuple[int, float]]:
        strictly_increasing([p[0] for p in v], "points[*][0]")
        return v

    @model_validator(mode="after")
    def _log_needs_positive(self) -> Interpolate:
        if self.shape == "log" and any(p[1] <= 0 for p in self.points):
            raise ValueError("shape 'log' needs every point's lr to be > 0")
        return self

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        xs = np.asarray([p[0] for p in self.points], dtype=np.float64)
        ys = np.asarray([p[1] for p in self.points], dtype=np.float64)
        if len(xs) == 1:
            return np.full(t.shape, ys[0])
        i = np.clip(np.searchsorted(xs, t, side="right") - 1, 0, len(xs) - 2)
        frac = np.clip((t - xs[i]) / (xs[i + 1] - xs[i]), 0.0, 1.0)
        lo, hi = ys[i], ys[i + 1]
        if self.shape == "linear":
            return shapes.linear(lo, hi, frac)
        if self.shape == "cosine":
            return shapes.cosine(lo, hi, frac)
        return shapes.geometric(lo, hi, frac)

    def horizon(self, ctx: Context) -> int | None:
        return self.points[-1][0]


class ExpressionNode(Node):
    """An expression in `step` (SPEC 3.5)."""

    type: Literal["expression"] = "expression"
    expr: str = Field(description="An arithmetic expression in `step` (SPEC 3.5).")
    summary = "a safe arithmetic expression in `step`"
    example = {"type": "expression", "expr": "0.1 * 0.5 ** (step // 1000)"}

    @field_validator("expr")
    @classmethod
    def _compiles(cls, v: str) -> str:
        compile_expression(v, "step")
        return v

    @property
    def compiled(self) -> Expression:
        return compile_expression(self.expr, "step")

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        return self.compiled(t, path=self._path + "/expr")

    def step_cost(self) -> int:
        return NODE_COST + self.compiled.cost

    def horizon(self, ctx: Context) -> int | None:
        return 0 if self.compiled.is_constant else None


TYPES: tuple[type[Node], ...] = (
    Constant,
    Linear,
    Cosine,
    Exponential,
    Polynomial,
    InverseSqrt,
    Piecewise,
    Interpolate,
    ExpressionNode,
)
