"""The Keras family (SPEC 3.1): `keras.optimizers.schedules`, value for value.

Each type takes the Keras 3 constructor's parameters with the same names and defaults.
`name` is accepted and dropped, so `{"type": "keras." + cls.__name__,
**schedule.get_config()}` is a valid definition with the same digest as one without it.

Values are what Keras 3 computes with TensorFlow on a CPU, eagerly, for `schedule(step)`
with a scalar step (the call the optimizer makes with its `iterations` counter; also what
reading `optimizer.learning_rate` gives), bit for bit (PolynomialDecay with a `power` other
than 0 and 1: within 6e-7 relative, see its `_fast32`):

- the step and every parameter are cast to float32 (the dtype Keras takes from
  `initial_learning_rate`), so steps above 2**24 round as they do in Keras; the arithmetic
  is float32, operation by operation, in the order of Keras's source;
- `cos`, `log` and `pow` are glibc's float32 functions (what TensorFlow's CPU kernels call
  for a scalar), reproduced below. This matters: near the end of a cosine, `1 + cos(x)`
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

import functools
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from .base import MAX_STEP, Context, Node, NonNegInt, PositiveReal, Rate
from .libm32 import (
    PI32,
    SCRATCH_SIZE,
    cos32,
    cos32_fast,
    divide32,
    f32,
    ftz,
    log32,
    multiply32,
    power32,
    power32_of,
    scratch,
)

# -- parameter types with Keras's messages ------------------------------------------------


def _must_be(rule: str, ok: Callable[[int], bool]) -> AfterValidator:
    """A validator raising ``Argument `x` must be <rule>. Received: x=<value>``."""

    def check(v: int, info: ValidationInfo) -> int:
        if not ok(v):
            name = info.field_name
            raise ValueError(f"Argument `{name}` must be {rule}. Received: {name}={v}")
        return v

    return AfterValidator(check)


Steps = Annotated[
    int,
    _must_be("> 0", lambda v: v > 0),
    _must_be(f"<= 2**53 ({MAX_STEP})", lambda v: v <= MAX_STEP),
    Field(json_schema_extra={"exclusiveMinimum": 0, "maximum": MAX_STEP}),
]
"""A step count that must be > 0, as Keras checks (`decay_steps`, `first_decay_steps`)."""
NonNegSteps = Annotated[
    int,
    _must_be(">= 0", lambda v: v >= 0),
    _must_be(f"<= 2**53 ({MAX_STEP})", lambda v: v <= MAX_STEP),
    Field(json_schema_extra={"minimum": 0, "maximum": MAX_STEP}),
]


class KerasNode(Node):
    """Base of the family: drops Keras's `name` and evaluates in float32.

    `values32` is each formula as Keras writes it, operation by operation, with the exact
    (glibc) float32 functions on every element: the reference. `_fast32` computes the same
    bits (or, where its docstring says so, within a stated bound) with fewer passes over
    the array; `values` runs it chunk by chunk, so that the temporaries stay in the CPU
    cache and no step array-sized temporary is allocated (each fresh megabyte costs page
    faults). Chunks with a positive step below 2**-53 (only possible under a fractional
    `epochs` wrapper) take the reference, whose every operation flushes subnormals: the
    fast paths rely on `step / decay_steps` being 0 or a normal number.
    """

    @model_validator(mode="before")
    @classmethod
    def _drop_name(cls, data: Any) -> Any:
        # get_config() includes the schedule's `name`; it has no effect on the values.
        if isinstance(data, dict) and "name" in data:
            return {k: v for k, v in data.items() if k != "name"}
        return data

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        flat = t.reshape(-1)
        out = np.empty(flat.shape, dtype=np.float64)
        horizon = self.horizon(ctx)
        with np.errstate(all="ignore"):
            for lo in range(0, flat.size, _CHUNK):
                out[lo : lo + _CHUNK] = self._chunk(flat[lo : lo + _CHUNK], horizon)
        return out.reshape(t.shape)

    def _chunk(self, t: np.ndarray, horizon: int | None) -> np.ndarray | np.generic:
        """The values at a chunk of float64 steps: float32 or float64, an array or one
        value for all."""
        step = scratch("keras.step", t.size, np.float32)
        np.copyto(step, t, casting="same_kind")  # rounds as Keras's cast does
        lowest = float(step.min())
        if horizon is not None and lowest >= horizon:
            # Constant from the horizon on: one evaluation, at a step of the chunk.
            return self._evaluate(step[:1], lowest)[0]
        return self._evaluate(step, lowest)

    def _evaluate(self, step: np.ndarray, lowest: float) -> np.ndarray:
        if lowest < _ORDINARY and np.any((step > 0) & (step < _ORDINARY)):
            return _flush(self.values32(ftz(step)))
        return _flush(self._fast32(step))

    @functools.cached_property
    def _p(self) -> SimpleNamespace:
        """Each numeric parameter as a float32 scalar (flushed to zero), converted once."""
        numbers = {k: v for k, v in self if isinstance(v, int | float) and type(v) is not bool}
        return SimpleNamespace(**{k: np.float32(f32(v)) for k, v in numbers.items()})

    def values32(self, step: np.ndarray) -> np.ndarray:
        """The float32 learning rates at float32 steps, computed as Keras does."""
        raise NotImplementedError

    def _fast32(self, step: np.ndarray) -> np.ndarray:
        """`values32(step)` for steps that are 0 or >= 2**-53, before the final flush to
        zero; may overwrite `step`."""
        return self.values32(step)


# Steps evaluated at a time, with work arrays from `scratch` (see SCRATCH_SIZE).
_CHUNK = SCRATCH_SIZE
# Steps that are 0 or at least this keep `step / decay_steps` (decay_steps <= 2**53) normal.
_ORDINARY = 2.0**-53
_SMALLEST_NORMAL = np.float32(2.0**-126)
# Whole exponents below this are looked up in a table (see `_lookup`).
_TABLE_LIMIT = 1 << 16


def _flush(v: np.ndarray) -> np.ndarray:
    """`ftz(v)` in place, with one comparison pass when nothing needs flushing."""
    tiny = np.less(v, _SMALLEST_NORMAL, out=scratch("keras.tiny", v.size, np.bool_))
    if tiny.any():
        v[tiny & (v > -_SMALLEST_NORMAL)] = 0
    return v


def _lookup(
    fn: Callable[[float, Any], np.ndarray], base: float, k: np.ndarray | np.float32
) -> np.ndarray | np.float32:
    """`fn(base, k)` for whole-number exponents k (float32): from a table of fn over
    0 .. 2**m - 1 when k is small (one value if k is the same everywhere), else directly.

    Staircase and restart exponents are whole numbers, mostly few distinct ones: a lookup
    replaces a powf per step."""
    lo, hi = (float(k.min()), float(k.max())) if k.ndim else (float(k), float(k))
    if not (lo >= 0 and hi < _TABLE_LIMIT):  # also for nan
        return fn(base, k)
    table = _table(fn, base, 1 << max(int(hi), 1).bit_length())
    if lo == hi:
        return table[int(hi)]
    index = scratch("keras.index", k.size, np.intp)
    np.copyto(index, k, casting="unsafe")
    return table.take(index, out=scratch(f"keras.{fn.__name__}", k.size, np.float32))


@functools.lru_cache(maxsize=64)
def _table(fn: Callable[[float, Any], np.ndarray], base: float, size: int) -> np.ndarray:
    """fn(base, k) for k = 0 .. size - 1, read-only, shared between calls."""
    table = fn(base, np.arange(size, dtype=np.float32))
    table.flags.writeable = False
    return table


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

    def values32(self, step):
        p = divide32(step, f32(self.decay_steps))
        if self.staircase:
            p = np.floor(p)
        return multiply32(f32(self.initial_learning_rate), power32(f32(self.decay_rate), p))

    def _fast32(self, step):
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

    def horizon(self, ctx):
        rate = f32(self.decay_rate)
        if rate == 1 or (f32(self.initial_learning_rate) == 0 and rate < 1):
            return 0
        if rate == 0:  # rate ** 0 == 1 until p > 0
            return self.decay_steps if self.staircase else 1
        return None


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

    def _chunk(self, t, horizon):
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

    def horizon(self, ctx):
        v = f32(self.values_)
        changes = np.flatnonzero(v[1:] != v[:-1])
        return 0 if changes.size == 0 else self.boundaries[int(changes[-1])] + 1


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

    def values32(self, step):
        decay_steps = f32(self.decay_steps)
        if self.cycle:
            multiplier = np.where(step == 0, f32(1), np.ceil(divide32(step, decay_steps)))
            decay_steps = multiply32(decay_steps, multiplier)
        else:
            step = np.minimum(step, decay_steps)
        p = divide32(step, decay_steps)
        initial, end = f32(self.initial_learning_rate), f32(self.end_learning_rate)
        return multiply32(initial - end, power32(f32(1) - p, f32(self.power))) + end

    def _fast32(self, step):
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

    def horizon(self, ctx):
        if f32(self.initial_learning_rate) == f32(self.end_learning_rate) or self.power == 0:
            return 0
        return None if self.cycle else self.decay_steps


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

    def values32(self, step):
        p = divide32(step, f32(self.decay_steps))
        if self.staircase:
            p = np.floor(p)
        denom = f32(1) + multiply32(f32(self.decay_rate), p)
        return divide32(f32(self.initial_learning_rate), denom)

    def _fast32(self, step):
        # Bit for bit as values32: p is 0 or normal, and a subnormal decay_rate * p is
        # absorbed by the 1 it is added to, flushed or not.
        p = np.divide(step, self._p.decay_steps, out=step)
        if self.staircase:
            np.floor(p, out=p)
        p *= self._p.decay_rate
        p += np.float32(1)
        return np.divide(self._p.initial_learning_rate, p, out=p)

    def horizon(self, ctx):
        constant = f32(self.initial_learning_rate) == 0 or f32(self.decay_rate) == 0
        return 0 if constant else None


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

    def _decay(self, step: np.ndarray, decay_steps: np.float32, peak: np.float32) -> np.ndarray:
        completed = divide32(step, decay_steps)
        cosine = multiply32(f32(0.5), f32(1) + cos32(multiply32(PI32, completed)))
        # Keras does `(1 - self.alpha) * cosine + self.alpha` with a Python float alpha.
        decayed = multiply32(f32(1 - self.alpha), cosine) + f32(self.alpha)
        return multiply32(peak, decayed)

    def values32(self, step):
        initial = f32(self.initial_learning_rate)
        decay_steps = f32(self.decay_steps)
        if self.warmup_target is None:
            return self._decay(np.minimum(step, decay_steps), decay_steps, initial)
        target, warmup_steps = f32(self.warmup_target), f32(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup_steps)
        warm = self._warmup(step, warmup_steps, target, initial)
        decay = self._decay(step - warmup_steps, decay_steps, target)
        return np.where(step < warmup_steps, warm, decay)

    def _warmup(self, step, warmup_steps, target, initial):
        return multiply32(target - initial, divide32(step, warmup_steps)) + initial

    def _fast32(self, step):
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

    def horizon(self, ctx):
        if self.warmup_target is None:
            return 0 if f32(self.initial_learning_rate) == 0 else self.decay_steps
        return self.decay_steps + self.warmup_steps


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

    def values32(self, step):
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

    def _fast32(self, step):
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

    def horizon(self, ctx):
        return None


def _floor(x: np.ndarray) -> np.ndarray | np.float32:
    """floor(x), as one float32 if it is the same for all of `x`."""
    lo, hi = np.floor(x.min()), np.floor(x.max())
    if lo == hi:
        return np.float32(lo)
    return np.floor(x, out=scratch("keras.restart", x.size, np.float32))


def _restarts(completed: np.ndarray, t_mul: np.float32, log_t_mul: np.float32):
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


def _powers(base: float, k: Any) -> np.ndarray:
    """`base ** k` as Keras computes it (glibc's powf)."""
    return power32(np.float32(base), k)


def _restart_sums(t_mul: float, k: Any) -> np.ndarray:
    """`(1 - t_mul ** k) / (1 - t_mul)`, the periods before restart k, as Keras computes."""
    t = np.float32(t_mul)
    return divide32(np.float32(1) - power32(t, k), np.float32(1) - t)


def _half_powers(m_mul: float, k: Any) -> np.ndarray:
    """`0.5 * m_mul ** k` as Keras computes it."""
    return multiply32(np.float32(0.5), power32(np.float32(m_mul), k))


TYPES: tuple[type[Node], ...] = (
    ExponentialDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    InverseTimeDecay,
    CosineDecay,
    CosineDecayRestarts,
)
