"""The core family: framework-neutral building blocks (SPEC 3.4).

Every type is a pure function of its local step `t` (float64 array). Composite types pass
each child a local step (`t - offset`), as optax's `join_schedules` does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from .base import (
    Context,
    Node,
    NonNegInt,
    PositiveInt,
    PositiveReal,
    Rate,
    max_horizon,
)
from .errors import InvalidStep, pointer
from .expressions import Expression, compile_expression

if TYPE_CHECKING:
    Schedule = Node


class Constant(Node):
    """`value` at every step."""

    type: Literal["constant"] = "constant"
    value: Rate
    summary = "the same learning rate at every step"
    example = {"type": "constant", "value": 0.001}

    def values(self, t, ctx):
        return np.full(t.shape, self.value, dtype=np.float64)

    def horizon(self, ctx):
        return 0


class Linear(Node):
    """Linear from `start` at step 0 to `end` at `steps`, then `end`."""

    type: Literal["linear"] = "linear"
    start: Rate
    end: Rate
    steps: PositiveInt
    summary = "linear from `start` at step 0 to `end` at `steps`, then `end`"
    example = {"type": "linear", "start": 0.0, "end": 0.001, "steps": 1000}

    def values(self, t, ctx):
        frac = np.minimum(t, self.steps) / self.steps
        return self.start + (self.end - self.start) * frac

    def horizon(self, ctx):
        return self.steps


class Cosine(Node):
    """`end + (start-end) * ((1 + cos(pi * min(t, steps) / steps)) / 2) ** exponent`."""

    type: Literal["cosine"] = "cosine"
    start: Rate
    end: Rate = 0.0
    steps: PositiveInt
    exponent: PositiveReal = 1.0
    summary = "half-cosine from `start` to `end` over `steps`, then `end`"
    example = {"type": "cosine", "start": 0.001, "end": 1e-5, "steps": 10000}

    def values(self, t, ctx):
        frac = np.minimum(t, self.steps) / self.steps
        half = (1 + np.cos(np.pi * frac)) / 2
        return self.end + (self.start - self.end) * half**self.exponent

    def horizon(self, ctx):
        return self.steps


class Exponential(Node):
    """`start * rate ** (t / steps)` (floored ratio if `staircase`), bounded by `end`."""

    type: Literal["exponential"] = "exponential"
    start: Rate
    rate: Rate
    steps: PositiveInt
    staircase: bool = False
    end: Rate | None = None
    summary = "`start * rate ** (t / steps)`, floored ratio if `staircase`, bounded by `end`"
    example = {"type": "exponential", "start": 0.1, "rate": 0.5, "steps": 1000, "end": 1e-4}

    def values(self, t, ctx):
        ratio = t / self.steps
        if self.staircase:
            ratio = np.floor(ratio)
        out = self.start * np.power(self.rate, ratio)
        if self.end is not None:
            out = np.maximum(out, self.end) if self.rate < 1 else np.minimum(out, self.end)
        return out

    def horizon(self, ctx):
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
        ratio = math.log(self.end / self.start) / math.log(self.rate)
        if self.staircase:
            return math.ceil(ratio) * self.steps
        return math.ceil(ratio * self.steps)


class Polynomial(Node):
    """`(start - end) * (1 - min(t, steps) / steps) ** power + end`."""

    type: Literal["polynomial"] = "polynomial"
    start: Rate
    end: Rate
    steps: PositiveInt
    power: PositiveReal = 1.0
    summary = "polynomial decay from `start` to `end` over `steps` with `power`"
    example = {"type": "polynomial", "start": 0.01, "end": 0.0, "steps": 5000, "power": 2.0}

    def values(self, t, ctx):
        frac = np.minimum(t, self.steps) / self.steps
        return (self.start - self.end) * (1 - frac) ** self.power + self.end

    def horizon(self, ctx):
        return self.steps


class InverseSqrt(Node):
    """`value * sqrt(warmup_steps / max(t, warmup_steps))`."""

    type: Literal["inverse_sqrt"] = "inverse_sqrt"
    value: Rate
    warmup_steps: PositiveInt
    summary = "`value` until `warmup_steps`, then decays as 1/sqrt(step)"
    example = {"type": "inverse_sqrt", "value": 0.001, "warmup_steps": 4000}

    def values(self, t, ctx):
        return self.value * np.sqrt(self.warmup_steps / np.maximum(t, self.warmup_steps))

    def horizon(self, ctx):
        return 0 if self.value == 0 else None


def _strictly_increasing(values: list[int], name: str) -> list[int]:
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            raise ValueError(
                f"`{name}` must be strictly increasing. Received: {name}[{i - 1}]="
                f"{values[i - 1]}, {name}[{i}]={values[i]}"
            )
    return values


class Piecewise(Node):
    """`values[i]` for `boundaries[i-1] <= t < boundaries[i]`."""

    type: Literal["piecewise"] = "piecewise"
    boundaries: list[NonNegInt] = Field(min_length=1)
    values_: list[Rate] = Field(alias="values")
    summary = "constant pieces: `values[i]` from `boundaries[i-1]` (inclusive) on"
    example = {"type": "piecewise", "boundaries": [1000, 2000], "values": [0.1, 0.01, 0.001]}

    model_config = {**Node.model_config, "populate_by_name": True, "serialize_by_alias": True}

    @field_validator("boundaries")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        return _strictly_increasing(v, "boundaries")

    @model_validator(mode="after")
    def _lengths(self) -> Piecewise:
        if len(self.values_) != len(self.boundaries) + 1:
            raise ValueError(
                "`values` must have one more item than `boundaries`. Received: "
                f"{len(self.boundaries)} boundaries and {len(self.values_)} values"
            )
        return self

    def values(self, t, ctx):
        idx = np.searchsorted(np.asarray(self.boundaries, dtype=np.float64), t, side="right")
        return np.asarray(self.values_, dtype=np.float64)[idx]

    def horizon(self, ctx):
        return self.boundaries[-1]


class Interpolate(Node):
    """Interpolation between `points` ([[step, lr], ...]), constant outside them."""

    type: Literal["interpolate"] = "interpolate"
    points: list[tuple[NonNegInt, Rate]] = Field(min_length=1)
    shape: Literal["linear", "cosine", "log"] = "linear"
    summary = "interpolates between [step, lr] points (linear, cosine or log), flat outside"
    example = {"type": "interpolate", "points": [[0, 0.0], [500, 0.001], [10000, 1e-5]]}

    @field_validator("points")
    @classmethod
    def _increasing(cls, v: list[tuple[int, float]]) -> list[tuple[int, float]]:
        _strictly_increasing([p[0] for p in v], "points[*][0]")
        return v

    @model_validator(mode="after")
    def _log_needs_positive(self) -> Interpolate:
        if self.shape == "log" and any(p[1] <= 0 for p in self.points):
            raise ValueError("shape 'log' needs every point's lr to be > 0")
        return self

    def values(self, t, ctx):
        xs = np.asarray([p[0] for p in self.points], dtype=np.float64)
        ys = np.asarray([p[1] for p in self.points], dtype=np.float64)
        if len(xs) == 1:
            return np.full(t.shape, ys[0])
        i = np.clip(np.searchsorted(xs, t, side="right") - 1, 0, len(xs) - 2)
        frac = np.clip((t - xs[i]) / (xs[i + 1] - xs[i]), 0.0, 1.0)
        lo, hi = ys[i], ys[i + 1]
        if self.shape == "linear":
            return lo + (hi - lo) * frac
        if self.shape == "cosine":
            return hi + (lo - hi) * (1 + np.cos(np.pi * frac)) / 2
        return np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * frac)

    def horizon(self, ctx):
        return self.points[-1][0]


class Warmup(Node):
    """Rises from `start` to `schedule(0)` over `steps`, then `schedule(t - steps)`."""

    type: Literal["warmup"] = "warmup"
    steps: PositiveInt
    schedule: Schedule
    start: Rate = 0.0
    shape: Literal["linear", "cosine", "exponential"] = "linear"
    summary = "warmup from `start` to the child's first value over `steps`, then the child"
    example = {
        "type": "warmup",
        "steps": 500,
        "schedule": {"type": "cosine", "start": 0.001, "steps": 9500},
    }

    @model_validator(mode="after")
    def _exponential_needs_positive(self) -> Warmup:
        if self.shape == "exponential" and self.start <= 0:
            raise ValueError("shape 'exponential' needs `start` > 0. Received: start=0")
        return self

    def values(self, t, ctx):
        out = np.empty(t.shape, dtype=np.float64)
        during = t < self.steps
        after = ~during
        if after.any():
            out[after] = self.schedule.values(t[after] - self.steps, ctx)
        if during.any():
            target = float(self.schedule.values(np.zeros(1), ctx)[0])
            frac = t[during] / self.steps
            if self.shape == "linear":
                out[during] = self.start + (target - self.start) * frac
            elif self.shape == "cosine":
                out[during] = target + (self.start - target) * (1 + np.cos(np.pi * frac)) / 2
            else:
                out[during] = self.start * (target / self.start) ** frac
        return out

    def horizon(self, ctx):
        h = self.schedule.horizon(ctx)
        return None if h is None else h + self.steps

    def children(self):
        return [("/schedule", self.schedule)]


class Sequence(Node):
    """`schedules[i](t - boundaries[i-1])` on segment i."""

    type: Literal["sequence"] = "sequence"
    schedules: list[Schedule] = Field(min_length=1)
    boundaries: list[PositiveInt] = Field(default_factory=list)
    summary = "one child after another, each from its own step 0, switching at `boundaries`"
    example = {
        "type": "sequence",
        "schedules": [
            {"type": "linear", "start": 0.0, "end": 0.001, "steps": 500},
            {"type": "cosine", "start": 0.001, "steps": 9500},
        ],
        "boundaries": [500],
    }

    @field_validator("boundaries")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        return _strictly_increasing(v, "boundaries")

    @model_validator(mode="after")
    def _lengths(self) -> Sequence:
        if len(self.boundaries) != len(self.schedules) - 1:
            raise ValueError(
                "`boundaries` must have one item fewer than `schedules`. Received: "
                f"{len(self.schedules)} schedules and {len(self.boundaries)} boundaries"
            )
        return self

    def values(self, t, ctx):
        starts = np.asarray([0, *self.boundaries], dtype=np.float64)
        seg = np.searchsorted(starts, t, side="right") - 1
        out = np.empty(t.shape, dtype=np.float64)
        for i, child in enumerate(self.schedules):
            mask = seg == i
            if mask.any():
                out[mask] = child.values(t[mask] - starts[i], ctx)
        return out

    def horizon(self, ctx):
        h = self.schedules[-1].horizon(ctx)
        return None if h is None else h + (self.boundaries[-1] if self.boundaries else 0)

    def children(self):
        return [(pointer("schedules", i), s) for i, s in enumerate(self.schedules)]


class Cycle(Node):
    """Restarts `schedule` every period (SGDR): cycle k lasts `period * period_mul**k`
    steps and is scaled by `decay**k`."""

    type: Literal["cycle"] = "cycle"
    period: PositiveInt
    schedule: Schedule
    period_mul: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 1.0
    decay: Rate = 1.0
    summary = "restarts the child every `period` steps (times `period_mul` each cycle)"
    example = {
        "type": "cycle",
        "period": 1000,
        "period_mul": 2.0,
        "decay": 0.5,
        "schedule": {"type": "cosine", "start": 0.01, "steps": 1000},
    }

    def cycle_index(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cycle k, its start step, its length) for each step."""
        p, m = float(self.period), float(self.period_mul)
        if m == 1.0:
            k = np.floor(t / p)
            return k, k * p, np.full(t.shape, p)
        k = np.floor(np.log1p(t * (m - 1) / p) / math.log(m))
        start = p * (m**k - 1) / (m - 1)
        # Float rounding can land one cycle off at exact restart steps; correct it.
        k = np.where(start > t, k - 1, k)
        start = p * (m**k - 1) / (m - 1)
        nxt = p * (m ** (k + 1) - 1) / (m - 1)
        k = np.where(nxt <= t, k + 1, k)
        start = p * (m**k - 1) / (m - 1)
        return k, start, p * m**k

    def values(self, t, ctx):
        k, start, length = self.cycle_index(t)
        local = t - start
        if self.period_mul != 1.0:
            # The child's curve is stretched to the cycle's length.
            local = local * (self.period / length)
        amp = np.power(self.decay, k) if self.decay != 1.0 else 1.0
        return amp * self.schedule.values(local, ctx)

    def horizon(self, ctx):
        h = self.schedule.horizon(ctx)
        if h == 0 and self.decay == 1.0:
            return 0
        if self.decay == 0:
            return self.period
        return None

    def children(self):
        return [("/schedule", self.schedule)]


class Clamp(Node):
    """The child bounded to [`min`, `max`]."""

    type: Literal["clamp"] = "clamp"
    schedule: Schedule
    min: Rate = 0.0
    max: Rate | None = None
    summary = "bounds the child to [`min`, `max`] (the seeds' `min_lr`)"
    example = {
        "type": "clamp",
        "min": 1e-5,
        "schedule": {"type": "cosine", "start": 0.001, "steps": 10000},
    }

    @model_validator(mode="after")
    def _ordered(self) -> Clamp:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"`max` must be >= `min`. Received: min={self.min}, max={self.max}")
        return self

    def values(self, t, ctx):
        out = np.maximum(self.schedule.values(t, ctx), self.min)
        return out if self.max is None else np.minimum(out, self.max)

    def horizon(self, ctx):
        return self.schedule.horizon(ctx)

    def children(self):
        return [("/schedule", self.schedule)]


class Scale(Node):
    """`factor * child`."""

    type: Literal["scale"] = "scale"
    schedule: Schedule
    factor: Rate
    summary = "the child times `factor`"
    example = {"type": "scale", "factor": 0.5, "schedule": {"type": "constant", "value": 0.1}}

    def values(self, t, ctx):
        return self.factor * self.schedule.values(t, ctx)

    def horizon(self, ctx):
        return 0 if self.factor == 0 else self.schedule.horizon(ctx)

    def children(self):
        return [("/schedule", self.schedule)]


class Product(Node):
    """The product of the children."""

    type: Literal["product"] = "product"
    schedules: list[Schedule] = Field(min_length=1)
    summary = "the product of the children (e.g. a base curve times a multiplier)"
    example = {
        "type": "product",
        "schedules": [
            {"type": "constant", "value": 0.1},
            {"type": "expression", "expr": "0.5 ** (step // 1000)"},
        ],
    }

    def values(self, t, ctx):
        out = np.ones(t.shape, dtype=np.float64)
        for child in self.schedules:
            out = out * child.values(t, ctx)
        return out

    def horizon(self, ctx):
        return max_horizon(*(c.horizon(ctx) for c in self.schedules))

    def children(self):
        return [(pointer("schedules", i), s) for i, s in enumerate(self.schedules)]


class ExpressionNode(Node):
    """An expression in `step` (SPEC 3.5)."""

    type: Literal["expression"] = "expression"
    expr: str
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

    def values(self, t, ctx):
        return self.compiled(t, path=self._path + "/expr")

    def horizon(self, ctx):
        return 0 if self.compiled.is_constant else None


class Epochs(Node):
    """The child at `step // steps_per_epoch` (or the exact ratio if `fractional`)."""

    type: Literal["epochs"] = "epochs"
    schedule: Schedule
    steps_per_epoch: PositiveInt | None = None
    fractional: bool = False
    summary = "runs a per-epoch child: it sees `step // steps_per_epoch`"
    example = {
        "type": "epochs",
        "steps_per_epoch": 100,
        "schedule": {"type": "piecewise", "boundaries": [30, 60], "values": [0.1, 0.01, 0.001]},
    }

    def per_epoch(self, ctx: Context) -> int:
        spe = self.steps_per_epoch if self.steps_per_epoch is not None else ctx.steps_per_epoch
        if spe is None:
            raise InvalidStep(
                None,
                f"the schedule at {self._path or '/'} counts epochs and sets no "
                "`steps_per_epoch`: pass steps_per_epoch",
            )
        return spe

    def values(self, t, ctx):
        spe = self.per_epoch(ctx)
        epoch = t / spe if self.fractional else np.floor(t / spe)
        return self.schedule.values(epoch, ctx)

    def horizon(self, ctx):
        spe = self.steps_per_epoch if self.steps_per_epoch is not None else ctx.steps_per_epoch
        h = self.schedule.horizon(ctx)
        return None if h is None or spe is None else h * spe

    def children(self):
        return [("/schedule", self.schedule)]


TYPES: tuple[type[Node], ...] = (
    Constant,
    Linear,
    Cosine,
    Exponential,
    Polynomial,
    InverseSqrt,
    Piecewise,
    Interpolate,
    Warmup,
    Sequence,
    Cycle,
    Clamp,
    Scale,
    Product,
    ExpressionNode,
    Epochs,
)
