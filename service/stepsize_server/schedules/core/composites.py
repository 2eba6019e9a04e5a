"""The core family's composite types: children see a local step (SPEC 3.4).

`warmup`, `sequence` and `cycle` pass each child `t - offset` (as optax's
`join_schedules` does); `clamp`, `scale` and `product` transform their children's values;
`epochs` runs a per-epoch child at `step // steps_per_epoch`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..errors import InvalidStep, pointer
from ..node import Context, Node, max_horizon
from ..params import AtLeastOne, Flag, Rate, Steps, strictly_increasing
from . import shapes

if TYPE_CHECKING:
    Schedule = Node


class Warmup(Node):
    """Rises from `start` to `schedule(0)` over `steps`, then `schedule(t - steps)`."""

    type: Literal["warmup"] = "warmup"
    child_offsets = {"schedule": "steps"}
    steps: Steps = Field(description="Steps of the warmup, > 0.")
    schedule: Schedule = Field(description="The schedule after the warmup, from its step 0.")
    start: Rate = Field(0.0, description="The learning rate at step 0.")
    shape: Literal["linear", "cosine", "exponential"] = Field(
        "linear",
        description="The rise: linear, half-cosine or exponential (needs `start` > 0).",
    )
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

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        out = np.empty(t.shape, dtype=np.float64)
        during = t < self.steps
        after = ~during
        if after.any():
            out[after] = self.schedule.values(t[after] - self.steps, ctx)
        if during.any():
            target = float(self.schedule.values(np.zeros(1), ctx)[0])
            frac = t[during] / self.steps
            if self.shape == "linear":
                out[during] = shapes.linear(self.start, target, frac)
            elif self.shape == "cosine":
                out[during] = shapes.cosine(self.start, target, frac)
            else:
                out[during] = shapes.geometric(self.start, target, frac)
        return out

    def horizon(self, ctx: Context) -> int | None:
        h = self.schedule.horizon(ctx)
        return None if h is None else h + self.steps

    def children(self) -> list[tuple[str, Node]]:
        return [("/schedule", self.schedule)]


class Sequence(Node):
    """`schedules[i](t - boundaries[i-1])` on segment i."""

    type: Literal["sequence"] = "sequence"
    child_offsets = {"schedules": "boundaries"}
    schedules: list[Schedule] = Field(
        min_length=1, description="The schedules, in order; each starts at its own step 0."
    )
    boundaries: list[Steps] = Field(
        default_factory=list,
        description="Strictly increasing steps where the next schedule starts, one fewer "
        "than `schedules`.",
    )
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
        return strictly_increasing(v, "boundaries")

    @model_validator(mode="after")
    def _lengths(self) -> Sequence:
        if len(self.boundaries) != len(self.schedules) - 1:
            raise ValueError(
                "`boundaries` must have one item fewer than `schedules`. Received: "
                f"{len(self.schedules)} schedules and {len(self.boundaries)} boundaries"
            )
        return self

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        starts = np.asarray([0, *self.boundaries], dtype=np.float64)
        seg = np.searchsorted(starts, t, side="right") - 1
        out = np.empty(t.shape, dtype=np.float64)
        for i, child in enumerate(self.schedules):
            mask = seg == i
            if mask.any():
                out[mask] = child.values(t[mask] - starts[i], ctx)
        return out

    def horizon(self, ctx: Context) -> int | None:
        h = self.schedules[-1].horizon(ctx)
        return None if h is None else h + (self.boundaries[-1] if self.boundaries else 0)

    def children(self) -> list[tuple[str, Node]]:
        return [(pointer("schedules", i), s) for i, s in enumerate(self.schedules)]


class Cycle(Node):
    """Restarts `schedule` every period (SGDR): cycle k lasts `period * period_mul**k`
    steps and is scaled by `decay**k`."""

    type: Literal["cycle"] = "cycle"
    period: Steps = Field(description="Steps of the first cycle, > 0.")
    schedule: Schedule = Field(description="The schedule run in every cycle.")
    period_mul: AtLeastOne = Field(
        1.0, description="Each cycle is this many times longer than the one before, >= 1."
    )
    decay: Rate = Field(1.0, description="Each cycle is scaled by this times the one before.")
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

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        k, start, length = self.cycle_index(t)
        local = t - start
        if self.period_mul != 1.0:
            # The child's curve is stretched to the cycle's length.
            local = local * (self.period / length)
        amp = np.power(self.decay, k) if self.decay != 1.0 else 1.0
        return amp * self.schedule.values(local, ctx)

    def horizon(self, ctx: Context) -> int | None:
        h = self.schedule.horizon(ctx)
        if h == 0 and self.decay == 1.0:
            return 0
        if self.decay == 0:
            return self.period
        return None

    def children(self) -> list[tuple[str, Node]]:
        return [("/schedule", self.schedule)]


class Clamp(Node):
    """The child bounded to [`min`, `max`]."""

    type: Literal["clamp"] = "clamp"
    schedule: Schedule = Field(description="The schedule to bound.")
    min: Rate = Field(0.0, description="The lowest learning rate.")
    max: Rate | None = Field(None, description="The highest learning rate, or null for none.")
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

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        out = np.maximum(self.schedule.values(t, ctx), self.min)
        return out if self.max is None else np.minimum(out, self.max)

    def horizon(self, ctx: Context) -> int | None:
        return self.schedule.horizon(ctx)

    def children(self) -> list[tuple[str, Node]]:
        return [("/schedule", self.schedule)]


class Scale(Node):
    """`factor * child`."""

    type: Literal["scale"] = "scale"
    schedule: Schedule = Field(description="The schedule to scale.")
    factor: Rate = Field(description="The factor the schedule's values are multiplied by.")
    summary = "the child times `factor`"
    example = {"type": "scale", "factor": 0.5, "schedule": {"type": "constant", "value": 0.1}}

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        return self.factor * self.schedule.values(t, ctx)

    def horizon(self, ctx: Context) -> int | None:
        return 0 if self.factor == 0 else self.schedule.horizon(ctx)

    def children(self) -> list[tuple[str, Node]]:
        return [("/schedule", self.schedule)]


class Product(Node):
    """The product of the children."""

    type: Literal["product"] = "product"
    schedules: list[Schedule] = Field(
        min_length=1, description="The schedules whose values are multiplied, step by step."
    )
    summary = "the product of the children (e.g. a base curve times a multiplier)"
    example = {
        "type": "product",
        "schedules": [
            {"type": "constant", "value": 0.1},
            {"type": "expression", "expr": "0.5 ** (step // 1000)"},
        ],
    }

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        out = np.ones(t.shape, dtype=np.float64)
        for child in self.schedules:
            out = out * child.values(t, ctx)
        return out

    def horizon(self, ctx: Context) -> int | None:
        return max_horizon(*(c.horizon(ctx) for c in self.schedules))

    def children(self) -> list[tuple[str, Node]]:
        return [(pointer("schedules", i), s) for i, s in enumerate(self.schedules)]


class Epochs(Node):
    """The child at `step // steps_per_epoch` (or the exact ratio if `fractional`)."""

    type: Literal["epochs"] = "epochs"
    schedule: Schedule = Field(description="The schedule counting epochs.")
    steps_per_epoch: Steps | None = Field(
        None, description="Steps per epoch, > 0; null takes the query's `steps_per_epoch`."
    )
    fractional: Flag = Field(
        False, description="Pass the exact epoch (`step / steps_per_epoch`), not its floor."
    )
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

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        spe = self.per_epoch(ctx)
        epoch = t / spe if self.fractional else np.floor(t / spe)
        return self.schedule.values(epoch, ctx)

    def horizon(self, ctx: Context) -> int | None:
        spe = self.steps_per_epoch if self.steps_per_epoch is not None else ctx.steps_per_epoch
        h = self.schedule.horizon(ctx)
        return None if h is None or spe is None else h * spe

    def children(self) -> list[tuple[str, Node]]:
        return [("/schedule", self.schedule)]


TYPES: tuple[type[Node], ...] = (Warmup, Sequence, Cycle, Clamp, Scale, Product, Epochs)
