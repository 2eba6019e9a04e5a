"""keras.ExponentialDecay, PiecewiseConstantDecay and InverseTimeDecay (see `float32`)."""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..node import Context, Node
from ..params import Flag, NonNegSteps, Rate, Steps, strictly_increasing
from .float32 import KerasNode, _lookup, _powers
from .libm32 import divide32, f32, multiply32, power32, power32_of


class ExponentialDecay(KerasNode):
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
    initial_learning_rate: Rate = Field(description="The learning rate at step 0.")
    decay_steps: Steps = Field(description="Steps per factor of `decay_rate`, > 0.")
    decay_rate: Rate = Field(description="The factor per `decay_steps`.")
    staircase: Flag = Field(False, description="Decay in whole steps of `decay_steps`.")
    summary = "Keras ExponentialDecay: initial_learning_rate * decay_rate ** (step / decay_steps)"
    example = {
        "type": "keras.ExponentialDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 10000,
        "decay_rate": 0.96,
        "staircase": True,
    }

    def horizon(self, ctx: Context) -> int | None:
        rate = f32(self.decay_rate)
        if rate == 1 or (f32(self.initial_learning_rate) == 0 and rate < 1):
            return 0
        if rate == 0:  # rate ** 0 == 1 until p > 0
            return self.decay_steps if self.staircase else 1
        return None

    def values32(self, step: np.ndarray) -> np.ndarray:
        p = divide32(step, f32(self.decay_steps))
        if self.staircase:
            p = np.floor(p)
        return multiply32(f32(self.initial_learning_rate), power32(f32(self.decay_rate), p))

    def _fast32(self, step: np.ndarray) -> np.ndarray:
        # Bit for bit as values32. p = step / decay_steps is 0 or normal (>= 2**-106).
        lr, rate = self._p.initial_learning_rate, self._p.decay_rate
        p = np.divide(step, self._p.decay_steps, out=step)
        if self.staircase:
            np.floor(p, out=p)
        if rate == 0:  # powf(0, p) is 1 at p == 0, else 0
            return np.where(p == 0, lr, np.float32(0))
        # Staircase: whole exponents, looked up. Else glibc's log2(rate) once and its exp2
        # per step. Either way subnormal powers are flushed, as in Keras.
        staircase = self.staircase
        rate_p = _lookup(_powers, float(rate), p) if staircase else power32_of(rate, p, out=p)
        return np.multiply(rate_p, lr, out=p)  # may be subnormal: flushed with the result


class PiecewiseConstantDecay(KerasNode):
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
    boundaries: list[NonNegSteps] = Field(
        min_length=1, description="Strictly increasing steps after which the next value applies."
    )
    values_: list[Rate] = Field(
        alias="values", description="The learning rates, one more than `boundaries`."
    )
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
        return strictly_increasing(v, "boundaries")

    @model_validator(mode="after")
    def _lengths(self) -> PiecewiseConstantDecay:
        if len(self.boundaries) != len(self.values_) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={self.boundaries} of length {len(self.boundaries)}, "
                f"and values={self.values_} of length {len(self.values_)}."
            )
        return self

    def horizon(self, ctx: Context) -> int | None:
        v = f32(self.values_)
        changes = np.flatnonzero(v[1:] != v[:-1])
        return 0 if changes.size == 0 else self.boundaries[int(changes[-1])] + 1

    def _chunk(self, t: np.ndarray, horizon: int | None) -> np.ndarray | np.generic:
        # Keras compares in the integer step dtype; float64 steps and boundaries are exact.
        bounds, values = self._bounds, self._values64
        first, last = np.searchsorted(bounds, [t.min(), t.max()], side="left")
        if first == last:  # one piece
            return values[first]
        return values[first : last + 1].take(np.searchsorted(bounds[first:last], t))

    @functools.cached_property
    def _bounds(self) -> np.ndarray:
        return np.asarray(self.boundaries, dtype=np.float64)

    @functools.cached_property
    def _values64(self) -> np.ndarray:
        return f32(self.values_).astype(np.float64)


class InverseTimeDecay(KerasNode):
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
    initial_learning_rate: Rate = Field(description="The learning rate at step 0.")
    decay_steps: Steps = Field(description="Steps per unit of decay (`step / decay_steps`), > 0.")
    decay_rate: Rate = Field(description="How fast the rate falls.")
    staircase: Flag = Field(False, description="Decay in whole steps of `decay_steps`.")
    summary = "Keras InverseTimeDecay: initial / (1 + decay_rate * step / decay_steps)"
    example = {
        "type": "keras.InverseTimeDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 1000,
        "decay_rate": 0.5,
    }

    def horizon(self, ctx: Context) -> int | None:
        constant = f32(self.initial_learning_rate) == 0 or f32(self.decay_rate) == 0
        return 0 if constant else None

    def values32(self, step: np.ndarray) -> np.ndarray:
        p = divide32(step, f32(self.decay_steps))
        if self.staircase:
            p = np.floor(p)
        denom = f32(1) + multiply32(f32(self.decay_rate), p)
        return divide32(f32(self.initial_learning_rate), denom)

    def _fast32(self, step: np.ndarray) -> np.ndarray:
        # Bit for bit as values32: p is 0 or normal, and a subnormal decay_rate * p is
        # absorbed by the 1 it is added to, flushed or not.
        p = np.divide(step, self._p.decay_steps, out=step)
        if self.staircase:
            np.floor(p, out=p)
        p *= self._p.decay_rate
        p += np.float32(1)
        return np.divide(self._p.initial_learning_rate, p, out=p)
