"""The Keras family (SPEC 3.1): `keras.optimizers.schedules`, value for value.

Each type takes the Keras 3 constructor's parameters with the same names and defaults.
`name` is accepted and dropped, so `{"type": "keras." + cls.__name__,
**schedule.get_config()}` is a valid definition with the same digest as one without it.

Values are what Keras 3 computes with TensorFlow on a CPU, eagerly, for `schedule(step)`
with a scalar step (the call the optimizer makes with its `iterations` counter; also what
reading `optimizer.learning_rate` gives), bit for bit (PolynomialDecay with a `power` other
than 0 and 1: within 6e-7 relative, see `PolynomialDecay32._fast32` in keras_float32):

- the step and every parameter are cast to float32 (the dtype Keras takes from
  `initial_learning_rate`), so steps above 2**24 round as they do in Keras; the arithmetic
  is float32, operation by operation, in the order of Keras's source;
- `cos`, `log` and `pow` are glibc's float32 functions (what TensorFlow's CPU kernels call
  for a scalar), reproduced in libm32. This matters: near the end of a cosine, `1 + cos(x)`
  cancels, and one ulp of `cos` there is a relative error of up to 1e-2;
- results under 2**-126 are flushed to zero, as TensorFlow's CPU threads do.

Keras itself is not that consistent: inside a `tf.function` Grappler turns `x / constant`
into `x * (1 / constant)`, XLA and the other backends use other `cos`/`log`/`pow`, and a
call on a whole tensor of steps uses vectorized ones. Those answers differ from the eager
one by an ulp here and there, i.e. by up to ~1e-4 relative near the end of a cosine (more
where the value is nearly 0), and move the CosineDecayRestarts glitch below.

The result is returned as float64 (the float32 value, upcast). Two deliberate departures:
`initial_learning_rate` is always a float (JSON numbers are; Keras would compute in int32
for a Python int), and `PiecewiseConstantDecay` requires strictly increasing boundaries.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from .base import MAX_STEP, Node, NonNegInt, PositiveReal, Rate, must_be
from .keras_cosine32 import CosineDecay32, CosineDecayRestarts32
from .keras_float32 import (
    ExponentialDecay32,
    Float32Node,
    InverseTimeDecay32,
    PiecewiseConstantDecay32,
    PolynomialDecay32,
)
from .libm32 import f32

# -- parameter types with Keras's messages ------------------------------------------------


Steps = Annotated[
    int,
    must_be("> 0", lambda v: v > 0),
    must_be(f"<= 2**53 ({MAX_STEP})", lambda v: v <= MAX_STEP),
    Field(json_schema_extra={"exclusiveMinimum": 0, "maximum": MAX_STEP}),
]
"""A step count that must be > 0, as Keras checks (`decay_steps`, `first_decay_steps`)."""
NonNegSteps = Annotated[
    int,
    must_be(">= 0", lambda v: v >= 0),
    must_be(f"<= 2**53 ({MAX_STEP})", lambda v: v <= MAX_STEP),
    Field(json_schema_extra={"minimum": 0, "maximum": MAX_STEP}),
]


class KerasNode(Float32Node):
    """Base of the family: drops Keras's `name` and evaluates in float32 (`Float32Node`)."""

    @model_validator(mode="before")
    @classmethod
    def _drop_name(cls, data: Any) -> Any:
        # get_config() includes the schedule's `name`; it has no effect on the values.
        if isinstance(data, dict) and "name" in data:
            return {k: v for k, v in data.items() if k != "name"}
        return data


class ExponentialDecay(KerasNode, ExponentialDecay32):
    """Exponential decay: `initial_learning_rate * decay_rate ** p`, with no end.

    `p = step / decay_steps`, floored if `staircase`
    (`keras.optimizers.schedules.ExponentialDecay`).

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: steps per factor of `decay_rate`, > 0.
        decay_rate: the factor per `decay_steps`.
        staircase: decay in whole steps of `decay_steps`.
    """

    type: Literal["keras.ExponentialDecay"] = "keras.ExponentialDecay"
    initial_learning_rate: Rate
    decay_steps: Steps
    decay_rate: Rate
    staircase: bool = False
    summary = "Keras ExponentialDecay: initial_learning_rate * decay_rate ** (step / decay_steps)"
    example = {
        "type": "keras.ExponentialDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 10000,
        "decay_rate": 0.96,
        "staircase": True,
    }

    def horizon(self, ctx):
        rate = f32(self.decay_rate)
        if rate == 1 or (f32(self.initial_learning_rate) == 0 and rate < 1):
            return 0
        if rate == 0:  # rate ** 0 == 1 until p > 0
            return self.decay_steps if self.staircase else 1
        return None


class PiecewiseConstantDecay(KerasNode, PiecewiseConstantDecay32):
    """Constant pieces that switch just AFTER each boundary.

    `values[0]` for `step <= boundaries[0]`, `values[i]` for
    `boundaries[i-1] < step <= boundaries[i]`, `values[-1]` for `step > boundaries[-1]`
    (`keras.optimizers.schedules.PiecewiseConstantDecay`). As in Keras, boundaries are cast
    to the integer step type: 2.5 acts as (and is stored as) 2. Unlike Keras, boundaries
    must be strictly increasing (Keras sums overlapping pieces instead).

    Args:
        boundaries: strictly increasing steps, at least one.
        values: the learning rates, one more than `boundaries`.
    """

    type: Literal["keras.PiecewiseConstantDecay"] = "keras.PiecewiseConstantDecay"
    boundaries: list[Annotated[NonNegInt, Field(le=MAX_STEP)]] = Field(min_length=1)
    values_: list[Rate] = Field(alias="values")
    summary = "Keras PiecewiseConstantDecay: values[i] once step > boundaries[i-1]"
    example = {
        "type": "keras.PiecewiseConstantDecay",
        "boundaries": [100000, 110000],
        "values": [1.0, 0.5, 0.1],
    }

    model_config = {**Node.model_config, "populate_by_name": True, "serialize_by_alias": True}

    @field_validator("boundaries", mode="before")
    @classmethod
    def _truncate(cls, v: Any) -> Any:
        # Keras casts each boundary to the step's integer dtype, truncating a fraction.
        if isinstance(v, list):
            return [int(b) if isinstance(b, float) and math.isfinite(b) else b for b in v]
        return v

    @field_validator("boundaries")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        for i in range(1, len(v)):
            if v[i] <= v[i - 1]:
                raise ValueError(
                    "Argument `boundaries` must be strictly increasing. Received: "
                    f"boundaries[{i - 1}]={v[i - 1]}, boundaries[{i}]={v[i]}"
                )
        return v

    @model_validator(mode="after")
    def _lengths(self) -> PiecewiseConstantDecay:
        if len(self.boundaries) != len(self.values_) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={self.boundaries} of length {len(self.boundaries)}, "
                f"and values={self.values_} of length {len(self.values_)}."
            )
        return self

    def horizon(self, ctx):
        v = f32(self.values_)
        changes = np.flatnonzero(v[1:] != v[:-1])
        return 0 if changes.size == 0 else self.boundaries[int(changes[-1])] + 1


class PolynomialDecay(KerasNode, PolynomialDecay32):
    """Polynomial decay from `initial_learning_rate` to `end_learning_rate`.

    `lr = (initial_learning_rate - end_learning_rate) * (1 - step / D) ** power
    + end_learning_rate` with `D = decay_steps` and `step` clamped to `decay_steps`; with
    `cycle`, `D = decay_steps * ceil(step / decay_steps)` (1 at step 0) and the decay
    restarts with a growing period, an exact multiple of `decay_steps` giving the end value
    (`keras.optimizers.schedules.PolynomialDecay`).

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: steps of the decay, > 0.
        end_learning_rate: the final learning rate (may be above the initial one).
        power: exponent of the decay, >= 0.
        cycle: restart the decay past `decay_steps`.
    """

    type: Literal["keras.PolynomialDecay"] = "keras.PolynomialDecay"
    initial_learning_rate: Rate
    decay_steps: Steps
    end_learning_rate: Rate = 0.0001
    power: Rate = 1.0
    cycle: bool = False
    summary = "Keras PolynomialDecay: (initial - end) * (1 - step / decay_steps) ** power + end"
    example = {
        "type": "keras.PolynomialDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 10000,
        "end_learning_rate": 0.01,
        "power": 0.5,
    }

    def horizon(self, ctx):
        if f32(self.initial_learning_rate) == f32(self.end_learning_rate) or self.power == 0:
            return 0
        return None if self.cycle else self.decay_steps


class InverseTimeDecay(KerasNode, InverseTimeDecay32):
    """Inverse time decay: `initial_learning_rate / (1 + decay_rate * p)`, with no end.

    `p = step / decay_steps`, floored if `staircase`
    (`keras.optimizers.schedules.InverseTimeDecay`).

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: steps per unit of `p`, > 0.
        decay_rate: how fast the rate falls.
        staircase: decay in whole steps of `decay_steps`.
    """

    type: Literal["keras.InverseTimeDecay"] = "keras.InverseTimeDecay"
    initial_learning_rate: Rate
    decay_steps: Steps
    decay_rate: Rate
    staircase: bool = False
    summary = "Keras InverseTimeDecay: initial / (1 + decay_rate * step / decay_steps)"
    example = {
        "type": "keras.InverseTimeDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 1000,
        "decay_rate": 0.5,
    }

    def horizon(self, ctx):
        constant = f32(self.initial_learning_rate) == 0 or f32(self.decay_rate) == 0
        return 0 if constant else None


class CosineDecay(KerasNode, CosineDecay32):
    """Optional linear warmup, then a half-cosine clamped at its end.

    Without `warmup_target` (`warmup_steps` is then ignored, as in Keras):
    `lr = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps))
    + alpha)` with `s = min(step, decay_steps)`. With `warmup_target`: linear from
    `initial_learning_rate` to `warmup_target` over `warmup_steps`, then the same cosine
    from `warmup_target` over the next `decay_steps` steps (the floor is
    `alpha * warmup_target`) (`keras.optimizers.schedules.CosineDecay`).

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: steps of the cosine (after the warmup), > 0.
        alpha: the floor, as a fraction of the cosine's starting rate.
        warmup_target: the rate reached at the end of the warmup, or null for no warmup.
        warmup_steps: steps of the warmup (only with `warmup_target`).
    """

    type: Literal["keras.CosineDecay"] = "keras.CosineDecay"
    initial_learning_rate: Rate
    decay_steps: Steps
    alpha: Rate = 0.0
    warmup_target: Rate | None = None
    warmup_steps: NonNegSteps = 0
    summary = "Keras CosineDecay: optional linear warmup, then a half-cosine down to alpha"
    example = {
        "type": "keras.CosineDecay",
        "initial_learning_rate": 0.0,
        "decay_steps": 9000,
        "alpha": 0.01,
        "warmup_target": 0.001,
        "warmup_steps": 1000,
    }

    def horizon(self, ctx):
        if self.warmup_target is None:
            return 0 if f32(self.initial_learning_rate) == 0 else self.decay_steps
        return self.decay_steps + self.warmup_steps


class CosineDecayRestarts(KerasNode, CosineDecayRestarts32):
    """Cosine decay with warm restarts (SGDR), forever.

    With `f = step / first_decay_steps`: the restart index is `i = floor(f)` if
    `t_mul == 1`, else `i = floor(log(1 - f * (1 - t_mul)) / log(t_mul))` and
    `f = (f - (1 - t_mul**i) / (1 - t_mul)) / t_mul**i`, else `f = f - i`; then
    `lr = initial_learning_rate * ((1 - alpha) * 0.5 * m_mul**i * (1 + cos(pi * f)) + alpha)`
    (`keras.optimizers.schedules.CosineDecayRestarts`). The float32 `log` puts `i` one
    period low at some exact restart steps (the rate is then 0 instead of the peak, e.g.
    step 32764 with `first_decay_steps=4`); that is reproduced.

    Args:
        initial_learning_rate: the learning rate at step 0.
        first_decay_steps: steps of the first period, > 0.
        t_mul: each period is `t_mul` times longer than the one before.
        m_mul: each period starts `m_mul` times lower than the one before.
        alpha: the floor, as a fraction of `initial_learning_rate` (not scaled by m_mul).
    """

    type: Literal["keras.CosineDecayRestarts"] = "keras.CosineDecayRestarts"
    initial_learning_rate: Rate
    first_decay_steps: Steps
    t_mul: PositiveReal = 2.0
    m_mul: Rate = 1.0
    alpha: Rate = 0.0
    summary = "Keras CosineDecayRestarts: cosine decay restarting every period (SGDR)"
    example = {
        "type": "keras.CosineDecayRestarts",
        "initial_learning_rate": 0.01,
        "first_decay_steps": 1000,
        "t_mul": 2.0,
        "m_mul": 0.9,
    }

    def horizon(self, ctx):
        return None


TYPES: tuple[type[Node], ...] = (
    ExponentialDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    InverseTimeDecay,
    CosineDecay,
    CosineDecayRestarts,
)
