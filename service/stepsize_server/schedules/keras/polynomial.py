"""keras.PolynomialDecay (see `float32`)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..node import Context
from ..params import Flag, Rate, Steps
from .float32 import KerasNode
from .libm32 import divide32, f32, ftz, multiply32, power32, scratch


class PolynomialDecay(KerasNode):
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
    initial_learning_rate: Rate = Field(description="The learning rate at step 0.")
    decay_steps: Steps = Field(description="Steps of the decay, > 0.")
    end_learning_rate: Rate = Field(
        0.0001, description="The final learning rate (may be above the initial one)."
    )
    power: Rate = Field(1.0, description="Exponent of the decay, >= 0.")
    cycle: Flag = Field(False, description="Restart the decay past `decay_steps`.")
    summary = "Keras PolynomialDecay: (initial - end) * (1 - step / decay_steps) ** power + end"
    example = {
        "type": "keras.PolynomialDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 10000,
        "end_learning_rate": 0.01,
        "power": 0.5,
    }

    def horizon(self, ctx: Context) -> int | None:
        if f32(self.initial_learning_rate) == f32(self.end_learning_rate) or self.power == 0:
            return 0
        return None if self.cycle else self.decay_steps

    def values32(self, step: np.ndarray) -> np.ndarray:
        decay_steps = f32(self.decay_steps)
        if self.cycle:
            multiplier = np.where(step == 0, f32(1), np.ceil(divide32(step, decay_steps)))
            decay_steps = multiply32(decay_steps, multiplier)
        else:
            step = np.minimum(step, decay_steps)
        p = divide32(step, decay_steps)
        initial, end = f32(self.initial_learning_rate), f32(self.end_learning_rate)
        return multiply32(initial - end, power32(f32(1) - p, f32(self.power))) + end

    def _fast32(self, step: np.ndarray) -> np.ndarray:
        """values32, bit for bit except `(1 - p) ** power` for a power other than 0 and 1:
        that is float64 `exp2(power * log2(1 - p))` rounded to float32, within one ulp of
        glibc's powf. Then `(initial - end) * pw` is within 2 ulps (2**-22 relative) of
        Keras's and `+ end` adds at most 2**-22 * |(initial - end) * pw| / lr + 2**-23
        relative to the rate lr. That stays under 6e-7 wherever |(initial - end) * pw| <=
        2 lr; where it does not (end above initial: the sum cancels), and where pw is
        within a factor 2 of the flush-to-zero threshold, glibc's powf is replayed."""
        decay_steps = self._p.decay_steps
        if self.cycle:
            # ceil(step / decay_steps) is 0 only at step 0, where Keras uses 1.
            multiplier = np.divide(step, decay_steps, out=scratch("keras.d", step.size, np.float32))
            np.ceil(multiplier, out=multiplier)
            np.maximum(multiplier, 1, out=multiplier)
            multiplier *= decay_steps
            p = np.divide(step, multiplier, out=step)
        else:
            np.minimum(step, decay_steps, out=step)
            p = np.divide(step, decay_steps, out=step)
        base = np.subtract(np.float32(1), p, out=p)  # in [0, 1]
        initial, end = self._p.initial_learning_rate, self._p.end_learning_rate
        delta, power = initial - end, self._p.power
        if power == 0:  # powf(x, 0) is 1, even at x = 0
            pw = np.ones_like(base)
        elif power == 1:  # powf(x, 1) is x exactly
            pw = base
        else:
            pw = _polynomial_power(base, power, delta, end)
        # Keras flushes a subnormal product before adding `end`. pw is 0 or normal, so
        # that takes a positive pw below 2**-126 / |delta| (with a factor 2 to spare).
        small = 2.0**-125 / abs(float(delta)) if delta != 0 else 0.0
        flush = small > 2.0**-126 and float(pw.min()) < small and np.any((pw > 0) & (pw < small))
        pw *= delta
        if flush:
            pw = ftz(pw)
        pw += end
        return pw


def _polynomial_power(
    base: np.ndarray, power: np.float32, delta: np.float32, end: np.float32
) -> np.ndarray:
    """`base ** power` for PolynomialDecay's fast path (see its `_fast32`); `base` is 0 or
    >= 2**-24 (it is 1 - p in float32), or slightly negative under a cycle's rounding."""
    pw = scratch("keras.pw", base.size, np.float32)
    replay = None
    if power == 0.5 or power == 2:
        # Correctly rounded float32 sqrt and square: within an ulp of glibc's powf, and
        # (from base) never near the flush-to-zero threshold. sqrt(< 0) is nan.
        if power == 0.5:
            np.sqrt(base, out=pw)
        else:
            np.multiply(base, base, out=pw)
        if float(base.min()) < 0:
            replay = base < 0
    else:
        pw64 = scratch("keras.pw64", base.size)
        np.copyto(pw64, base)
        np.log2(pw64, out=pw64)  # log2(0) = -inf gives 0 below (power > 0)
        pw64 *= float(power)
        np.exp2(pw64, out=pw64)
        np.copyto(pw, pw64, casting="same_kind")
        lowest = float(pw64.min())
        if lowest != lowest:  # nan: a cycle's rounding took 1 - p below 0
            replay = np.isnan(pw64)
            lowest = float(np.nanmin(pw64)) if not replay.all() else 1.0
        if lowest < 2.0**-125:
            pw[pw64 < 2.0**-127] = 0  # under the threshold by a factor 2: glibc flushes too
            band = (pw64 >= 2.0**-127) & (pw64 < 2.0**-125)
            replay = band if replay is None else replay | band
    if delta < 0:
        # lr = end - |delta| pw: the error is amplified by |delta| pw / lr, which is <= 2
        # for pw <= 2 end / (3 |delta|).
        limit = 2 * float(end) / (3 * -float(delta))
        if limit < 1 and not float(pw.max()) <= limit:  # also for nan
            cancels = pw > limit
            replay = cancels if replay is None else replay | cancels
    if replay is not None and replay.any():
        where = np.flatnonzero(replay)
        pw[where] = power32(base[where], power)
    return pw
