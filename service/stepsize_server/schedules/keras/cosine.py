"""keras.CosineDecay and CosineDecayRestarts (see `float32`), with the restart index and
the tables of its powers."""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..node import Context
from ..params import NonNegSteps, PositiveReal, Rate, Steps
from .float32 import _SMALLEST_NORMAL, KerasNode, _lookup, _powers
from .libm32 import PI32, cos32, cos32_fast, divide32, f32, log32, multiply32, power32, scratch


class CosineDecay(KerasNode):
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
    consecutive_steps = ("warmup_steps", "decay_steps")
    initial_learning_rate: Rate = Field(description="The learning rate at step 0.")
    decay_steps: Steps = Field(description="Steps of the cosine (after the warmup), > 0.")
    alpha: Rate = Field(0.0, description="The floor, as a fraction of the cosine's starting rate.")
    warmup_target: Rate | None = Field(
        None, description="The rate reached at the end of the warmup, or null for no warmup."
    )
    warmup_steps: NonNegSteps = Field(
        0, description="Steps of the warmup (only with `warmup_target`)."
    )
    summary = "Keras CosineDecay: optional linear warmup, then a half-cosine down to alpha"
    example = {
        "type": "keras.CosineDecay",
        "initial_learning_rate": 0.0,
        "decay_steps": 9000,
        "alpha": 0.01,
        "warmup_target": 0.001,
        "warmup_steps": 1000,
    }

    def horizon(self, ctx: Context) -> int | None:
        if self.warmup_target is None:
            return 0 if f32(self.initial_learning_rate) == 0 else self.decay_steps
        return self.decay_steps + self.warmup_steps

    def _decay(self, step: np.ndarray, decay_steps: np.float32, peak: np.float32) -> np.ndarray:
        completed = divide32(step, decay_steps)
        cosine = multiply32(f32(0.5), f32(1) + cos32(multiply32(PI32, completed)))
        # Keras does `(1 - self.alpha) * cosine + self.alpha` with a Python float alpha.
        decayed = multiply32(f32(1 - self.alpha), cosine) + f32(self.alpha)
        return multiply32(peak, decayed)

    def values32(self, step: np.ndarray) -> np.ndarray:
        initial = f32(self.initial_learning_rate)
        decay_steps = f32(self.decay_steps)
        if self.warmup_target is None:
            return self._decay(np.minimum(step, decay_steps), decay_steps, initial)
        target, warmup_steps = f32(self.warmup_target), f32(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup_steps)
        warm = self._warmup(step, warmup_steps, target, initial)
        decay = self._decay(step - warmup_steps, decay_steps, target)
        return np.where(step < warmup_steps, warm, decay)

    def _warmup(
        self, step: np.ndarray, warmup_steps: np.float32, target: np.float32, initial: np.float32
    ) -> np.ndarray:
        return multiply32(target - initial, divide32(step, warmup_steps)) + initial

    def _fast32(self, step: np.ndarray) -> np.ndarray:
        # Bit for bit as values32, evaluating each step's branch only.
        p = self._p
        if self.warmup_target is None:
            np.minimum(step, p.decay_steps, out=step)
            return self._fast_decay(step, p.initial_learning_rate)
        target, warmup_steps = p.warmup_target, p.warmup_steps
        np.minimum(step, p.decay_steps + warmup_steps, out=step)
        if float(step.min()) >= warmup_steps:
            step -= warmup_steps
            return self._fast_decay(step, target)
        if float(step.max()) < warmup_steps:
            return self._fast_warmup(step, step)
        # Both branches: the warmup everywhere, the decay at max(step - warmup_steps, 0)
        # (which is step - warmup_steps wherever the decay is taken).
        warm = np.less(step, warmup_steps, out=scratch("keras.warm", step.size, np.bool_))
        warmup = self._fast_warmup(step, scratch("keras.warmup", step.size, np.float32))
        step -= warmup_steps
        np.maximum(step, 0, out=step)
        return _select(warm, warmup, self._fast_decay(step, target))

    def _fast_warmup(self, step: np.ndarray, out: np.ndarray) -> np.ndarray:
        """`_warmup`, bit for bit, into `out` (may be `step`)."""
        p = self._p
        delta = p.warmup_target - p.initial_learning_rate
        fraction = np.divide(step, p.warmup_steps, out=out)  # 0 or >= 2**-106
        fraction *= delta
        if abs(float(delta)) < 2.0**-19:  # the product may be subnormal: Keras flushes it
            fraction[np.abs(fraction) < _SMALLEST_NORMAL] = 0
        fraction += p.initial_learning_rate
        return fraction

    def _fast_decay(self, step: np.ndarray, peak: np.float32) -> np.ndarray:
        """`_decay` for steps in [0, decay_steps], bit for bit, overwriting `step`.

        No operation can give a subnormal here: 1 + cos is 0 or >= 2**-25, and 1 - alpha,
        computed in float64, is 0 or >= 2**-54."""
        completed = np.divide(step, self._p.decay_steps, out=step)
        completed *= PI32
        cosine = cos32_fast(completed, out=completed)
        cosine += np.float32(1)
        cosine *= np.float32(0.5)
        _scale_and_shift(cosine, self._one_minus_alpha, self._p.alpha)
        cosine *= peak
        return cosine

    @functools.cached_property
    def _one_minus_alpha(self) -> np.float32:
        # Keras computes `(1 - self.alpha) * cosine` with a Python float alpha.
        return np.float32(f32(1 - self.alpha))


def _select(where: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`np.where(where, a, b)` for float32 arrays, into `b` (overwriting `a` too).

    As `a * w + b * (1 - w)` with w = 0 or 1, which is exact for finite values, and much
    faster than a masked copy when the mask is irregular (unsorted steps)."""
    if not (np.isfinite(a.max()) and np.isfinite(b.max())):  # also catches nan
        np.copyto(b, a, where=where)
        return b
    weight = scratch("keras.weight", where.size, np.float32)
    np.copyto(weight, where)
    a *= weight
    np.subtract(np.float32(1), weight, out=weight)
    b *= weight
    b += a
    return b


def _scale_and_shift(x: np.ndarray, scale: np.float32, shift: np.float32) -> None:
    """x = scale * x + shift in float32, in place (multiplying by 1 and adding 0 are
    exact, so skipped)."""
    if scale != 1:
        x *= scale
    if shift != 0:
        x += shift


class CosineDecayRestarts(KerasNode):
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
    initial_learning_rate: Rate = Field(description="The learning rate at step 0.")
    first_decay_steps: Steps = Field(description="Steps of the first period, > 0.")
    t_mul: PositiveReal = Field(
        2.0, description="Each period is `t_mul` times longer than the one before."
    )
    m_mul: Rate = Field(
        1.0, description="Each period starts `m_mul` times lower than the one before."
    )
    alpha: Rate = Field(
        0.0,
        description="The floor, as a fraction of `initial_learning_rate` (not scaled by m_mul).",
    )
    summary = "Keras CosineDecayRestarts: cosine decay restarting every period (SGDR)"
    example = {
        "type": "keras.CosineDecayRestarts",
        "initial_learning_rate": 0.01,
        "first_decay_steps": 1000,
        "t_mul": 2.0,
        "m_mul": 0.9,
    }

    def horizon(self, ctx: Context) -> int | None:
        return None

    def values32(self, step: np.ndarray) -> np.ndarray:
        alpha, t_mul = f32(self.alpha), f32(self.t_mul)
        completed = divide32(step, f32(self.first_decay_steps))
        if t_mul == 1:
            restart = np.floor(completed)
            completed = completed - restart
        else:
            one = f32(1)
            ratio = divide32(log32(one - multiply32(completed, one - t_mul)), log32(t_mul))
            restart = np.floor(ratio)
            grown = power32(t_mul, restart)
            done = divide32(one - grown, one - t_mul)
            completed = divide32(completed - done, grown)
        scale = multiply32(f32(0.5), power32(f32(self.m_mul), restart))
        cosine = multiply32(scale, f32(1) + cos32(multiply32(PI32, completed)))
        decayed = multiply32(f32(1) - alpha, cosine) + alpha
        return multiply32(f32(self.initial_learning_rate), decayed)

    def _fast32(self, step: np.ndarray) -> np.ndarray:
        """Bit for bit as values32. The restart index comes from float64 `log` rounded to
        float32, except where that could change its floor (see `_restarts`); the powers
        of the whole restart index come from tables, and the cosine is glibc's."""
        p = self._p
        completed = np.divide(step, p.first_decay_steps, out=step)
        if p.t_mul == 1:
            restart = _floor(completed)
            completed -= restart
        else:
            restart = _restarts(completed, p.t_mul, self._log_t_mul)
            completed -= _lookup(_restart_sums, float(p.t_mul), restart)
            completed /= _lookup(_powers, float(p.t_mul), restart)
        scale = np.float32(0.5) if p.m_mul == 1 else _lookup(_half_powers, float(p.m_mul), restart)
        completed *= PI32
        cosine = cos32_fast(completed, out=completed)
        cosine += np.float32(1)
        if float(np.min(scale)) >= 2.0**-60:
            # Then no product below is subnormal: cosine is 0 or >= 2**-85, and
            # 1 - alpha is 0 or >= 2**-24.
            cosine *= scale
            _scale_and_shift(cosine, np.float32(1) - p.alpha, p.alpha)
        else:
            cosine = multiply32(scale, cosine)
            cosine = multiply32(np.float32(1) - p.alpha, cosine) + p.alpha
        cosine *= p.initial_learning_rate
        return cosine

    @functools.cached_property
    def _log_t_mul(self) -> np.float32:
        return np.float32(log32(self._p.t_mul))


def _floor(x: np.ndarray) -> np.ndarray | np.float32:
    """floor(x), as one float32 if it is the same for all of `x`."""
    lo, hi = np.floor(x.min()), np.floor(x.max())
    if lo == hi:
        return np.float32(lo)
    return np.floor(x, out=scratch("keras.restart", x.size, np.float32))


def _restarts(
    completed: np.ndarray, t_mul: np.float32, log_t_mul: np.float32
) -> np.ndarray | np.float32:
    """CosineDecayRestarts's restart index `floor(log(1 - completed * (1 - t_mul)) /
    log(t_mul))`, bit for bit with glibc's float32 log; one float32 if it is the same for
    the whole chunk.

    glibc's logf is within 0.82 ulp of log, so each ratio Keras computes is within 2**-22
    (relative) of the real `R = log(v) / log_t_mul`; v and so R are monotonic in
    `completed`. If R at the chunk's ends lies between two whole numbers with 2**-20 to
    spare, that is every step's floor. Otherwise each step's ratio takes float64 log
    rounded to float32 (within 1.32 ulp of log, so within 2 ulps of glibc's: the float32
    ratios differ by under 2**-21 relative), and glibc's logf is replayed only where the
    ratio is within 2**-20 of the chunk's largest ratio from a whole number (or is not
    finite): elsewhere both floors agree.
    """
    one = np.float32(1)
    ends = np.array([completed.min(), completed.max()], dtype=np.float32)
    ratios = np.log((one - ends * (one - t_mul)).astype(np.float64)) / float(log_t_mul)
    lo, hi = float(ratios.min()), float(ratios.max())
    if lo >= 0 and hi < 2**20:  # also false for nan
        k = math.floor(lo * (1 - 2.0**-20))
        if k == math.floor(hi * (1 + 2.0**-20)):
            return np.float32(k)
    v = np.multiply(completed, one - t_mul, out=scratch("keras.v", completed.size, np.float32))
    np.subtract(one, v, out=v)
    log = scratch("keras.log", v.size)
    np.copyto(log, v)
    np.log(log, out=log)
    ratio = scratch("keras.ratio", v.size, np.float32)
    np.copyto(ratio, log, casting="same_kind")
    ratio /= log_t_mul
    restart = np.floor(ratio, out=scratch("keras.restart", v.size, np.float32))
    margin = 0.5 - (float(restart.max()) + 1) * 2.0**-20
    ratio -= restart
    ratio -= np.float32(0.5)
    np.abs(ratio, out=ratio)
    sure = ratio <= margin  # false for nan
    if not sure.all():
        where = np.flatnonzero(~sure)
        restart[where] = np.floor(divide32(log32(v[where]), log_t_mul))
    return restart


# Functions of a whole exponent k (float32), looked up by `_lookup`.


def _restart_sums(t_mul: float, k: Any) -> np.ndarray:
    """`(1 - t_mul ** k) / (1 - t_mul)`, the periods before restart k, as Keras computes."""
    t = np.float32(t_mul)
    return divide32(np.float32(1) - power32(t, k), np.float32(1) - t)


def _half_powers(m_mul: float, k: Any) -> np.ndarray:
    """`0.5 * m_mul ** k` as Keras computes it."""
    return multiply32(np.float32(0.5), power32(np.float32(m_mul), k))
