"""The Keras family (SPEC 3.1): `keras.optimizers.schedules`, value for value.

Each type takes the Keras 3 constructor's parameters with the same names and defaults.
`name` is accepted and dropped, so `{"type": "keras." + cls.__name__,
**schedule.get_config()}` is a valid definition with the same digest as one without it.

Values are what Keras 3 computes with TensorFlow on a CPU, eagerly, for `schedule(step)`
with a scalar step (the call the optimizer makes with its `iterations` counter; also what
reading `optimizer.learning_rate` gives), bit for bit:

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

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from .base import MAX_STEP, Context, Node, NonNegInt, PositiveReal, Rate

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
    """Base of the family: drops Keras's `name` and evaluates in float32."""

    @model_validator(mode="before")
    @classmethod
    def _drop_name(cls, data: Any) -> Any:
        # get_config() includes the schedule's `name`; it has no effect on the values.
        if isinstance(data, dict) and "name" in data:
            return {k: v for k, v in data.items() if k != "name"}
        return data

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        step = np.asarray(t, dtype=np.float64).astype(np.float32)
        with np.errstate(all="ignore"):
            return _ftz(self.values32(step)).astype(np.float64)

    def values32(self, step: np.ndarray) -> np.ndarray:
        """The float32 learning rates at float32 steps, computed as Keras does."""
        raise NotImplementedError


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
        p = _divide(step, _f32(self.decay_steps))
        if self.staircase:
            p = np.floor(p)
        return _multiply(_f32(self.initial_learning_rate), _power(_f32(self.decay_rate), p))

    def horizon(self, ctx):
        rate = _f32(self.decay_rate)
        if rate == 1 or (_f32(self.initial_learning_rate) == 0 and rate < 1):
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

    def values(self, t, ctx):
        # Keras compares in the integer step dtype; float64 steps and boundaries are exact.
        piece = np.searchsorted(np.asarray(self.boundaries, dtype=np.float64), t, side="left")
        return _f32(self.values_)[piece].astype(np.float64)

    def horizon(self, ctx):
        v = _f32(self.values_)
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
        decay_steps = _f32(self.decay_steps)
        if self.cycle:
            multiplier = np.where(step == 0, _f32(1), np.ceil(_divide(step, decay_steps)))
            decay_steps = _multiply(decay_steps, multiplier)
        else:
            step = np.minimum(step, decay_steps)
        p = _divide(step, decay_steps)
        initial, end = _f32(self.initial_learning_rate), _f32(self.end_learning_rate)
        return _multiply(initial - end, _power(_f32(1) - p, _f32(self.power))) + end

    def horizon(self, ctx):
        if _f32(self.initial_learning_rate) == _f32(self.end_learning_rate) or self.power == 0:
            return 0
        return None if self.cycle else self.decay_steps


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
        p = _divide(step, _f32(self.decay_steps))
        if self.staircase:
            p = np.floor(p)
        denom = _f32(1) + _multiply(_f32(self.decay_rate), p)
        return _divide(_f32(self.initial_learning_rate), denom)

    def horizon(self, ctx):
        constant = _f32(self.initial_learning_rate) == 0 or _f32(self.decay_rate) == 0
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
        completed = _divide(step, decay_steps)
        cosine = _multiply(_f32(0.5), _f32(1) + _cos(_multiply(_PI, completed)))
        # Keras does `(1 - self.alpha) * cosine + self.alpha` with a Python float alpha.
        decayed = _multiply(_f32(1 - self.alpha), cosine) + _f32(self.alpha)
        return _multiply(peak, decayed)

    def values32(self, step):
        initial = _f32(self.initial_learning_rate)
        decay_steps = _f32(self.decay_steps)
        if self.warmup_target is None:
            return self._decay(np.minimum(step, decay_steps), decay_steps, initial)
        target, warmup_steps = _f32(self.warmup_target), _f32(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup_steps)
        warm = _multiply(target - initial, _divide(step, warmup_steps)) + initial
        decay = self._decay(step - warmup_steps, decay_steps, target)
        return np.where(step < warmup_steps, warm, decay)

    def horizon(self, ctx):
        if self.warmup_target is None:
            return 0 if _f32(self.initial_learning_rate) == 0 else self.decay_steps
        return self.decay_steps + self.warmup_steps


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
        alpha, t_mul = _f32(self.alpha), _f32(self.t_mul)
        completed = _divide(step, _f32(self.first_decay_steps))
        if t_mul == 1:
            restart = np.floor(completed)
            completed = completed - restart
        else:
            one = _f32(1)
            ratio = _divide(_log(one - _multiply(completed, one - t_mul)), _log(t_mul))
            restart = np.floor(ratio)
            grown = _power(t_mul, restart)
            done = _divide(one - grown, one - t_mul)
            completed = _divide(completed - done, grown)
        scale = _multiply(_f32(0.5), _power(_f32(self.m_mul), restart))
        cosine = _multiply(scale, _f32(1) + _cos(_multiply(_PI, completed)))
        decayed = _multiply(_f32(1) - alpha, cosine) + alpha
        return _multiply(_f32(self.initial_learning_rate), decayed)

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


# -- float32 arithmetic as TensorFlow does it on a CPU ------------------------------------
#
# +, -, floor, ceil, minimum and comparisons are numpy's float32 operations (IEEE, like
# TensorFlow's). Products, quotients and powers go through helpers that flush results
# under 2**-126 to zero. cos, log and pow reimplement glibc's float32 functions (the
# algorithms of sysdeps/ieee754/flt-32 since glibc 2.28, from Arm's optimized-routines):
# each computes in float64 with tables and polynomials, then rounds once to float32, so a
# float64 replay gives the same float32 bits. Checked against glibc 2.36 over 10**6
# arguments each, with no difference.

_PI = np.float32(math.pi)
_SMALLEST_NORMAL = np.float32(2.0**-126)


def _f32(x: Any) -> Any:
    """float32 of a parameter (or list of them), denormals read as zero."""
    return _ftz(np.asarray(x, dtype=np.float64).astype(np.float32))


def _ftz(x: Any) -> Any:
    return np.where(np.abs(x) < _SMALLEST_NORMAL, np.float32(0), x).astype(np.float32)


def _multiply(a: Any, b: Any) -> np.ndarray:
    return _ftz(np.multiply(a, b, dtype=np.float32))


def _divide(a: Any, b: Any) -> np.ndarray:
    return _ftz(np.divide(a, b, dtype=np.float32))


def _cos(x: np.ndarray) -> np.ndarray:
    """glibc's cosf, bit for bit for |x| < 120 (larger, inf and nan via numpy)."""
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x).astype(np.float64)  # cosf is even, and so is glibc's evaluation
    quadrant = ((a * _HALF_PI_INV_2_24).astype(np.int64) + 0x800000) >> 24
    # a - quadrant * pi/2, rounded once (a fused multiply-add in glibc's FMA build).
    r = (a - quadrant * _HALF_PI_HI) - quadrant * _HALF_PI_LO
    r2 = r * r
    sign = np.where(quadrant & 2, -1.0, 1.0)
    c0, c1, c2, c3, c4 = (sign * c for c in _COS_POLY)
    cos_r = (c0 + r2 * c1) + (r2 * r2) * c2 + (r2 * r2 * r2) * (c3 + r2 * c4)
    s1, s2, s3 = _SIN_POLY
    rs = np.where(quadrant & 3 == 1, -r, r)
    sin_r = (rs + (rs * r2) * s1) + (rs * r2 * r2) * (s2 + r2 * s3)
    out = np.where(quadrant & 1, sin_r, cos_r).astype(np.float32)
    bits = x.view(np.uint32) & np.uint32(0x7FFFFFFF)
    out = np.where(bits < 0x39800000, np.float32(1), out)  # |x| < 2**-12
    return np.where(bits < 0x42F00000, out, np.cos(a).astype(np.float32))


def _log(x: np.ndarray) -> np.ndarray:
    """glibc's logf, bit for bit (non-positive, subnormal and non-finite x via numpy)."""
    x = np.asarray(x, dtype=np.float32)
    ix = x.view(np.uint32).astype(np.int64)
    normal = (ix >= 0x00800000) & (ix < 0x7F800000)
    z, i, k = _reduce(np.where(normal, ix, 0x3F800000))
    r = _z_over_c_minus_1(z, _INVC[i])
    a0, a1, a2 = _LOG_POLY
    r2 = r * r
    y = a0 * r2 + (a1 * r + a2)
    y = y * r2 + ((_LOGC[i] + k * _LN2) + r)
    out = y.astype(np.float32)
    out = np.where(normal, out, np.log(x.astype(np.float64)).astype(np.float32))
    return np.where(ix == 0x3F800000, np.float32(0), out)


def _power(x: Any, y: Any) -> np.ndarray:
    """glibc's powf, bit for bit for positive normal x and finite non-zero y (else IEEE
    pow in float64, rounded), then flushed to zero below 2**-126."""
    x, y = np.broadcast_arrays(np.asarray(x, np.float32), np.asarray(y, np.float32))
    ix = x.view(np.uint32).astype(np.int64)
    core = (ix >= 0x00800000) & (ix < 0x7F800000) & np.isfinite(y) & (y != 0)
    z, i, k = _reduce(np.where(core, ix, 0x3F800000))
    r = _z_over_c_minus_1(z, _INVC[i])
    a0, a1, a2, a3, a4 = _LOG2_POLY
    r2 = r * r
    q = (a2 * r + a3) * r2 + (a4 * r + (_LOG2C[i] + k))
    log2x = (a0 * r + a1) * (r2 * r2) + q
    ylog2x = np.clip(y.astype(np.float64) * log2x, -1000.0, 1000.0)
    out = _exp2(ylog2x).astype(np.float32)
    out = np.where(ylog2x > _POW_OVERFLOW, np.float32(np.inf), out)
    out = np.where(ylog2x <= -150.0, np.float32(0), out)
    out = np.where(core, out, np.power(x.astype(np.float64), y).astype(np.float32))
    return _ftz(out)


def _reduce(ix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x = 2**k * z (bits `ix`), z near 1, and the table index i of z's subinterval."""
    tmp = ix - 0x3F330000
    top = tmp & ~np.int64(0x7FFFFF)
    z = (ix - top).astype(np.uint32).view(np.float32).astype(np.float64)
    return z, (tmp >> 19) & 15, top >> 23


def _z_over_c_minus_1(z: np.ndarray, invc: np.ndarray) -> np.ndarray:
    """`z * invc - 1` rounded once, as the fused multiply-add of glibc's FMA build: z times
    invc's high 26 bits is exact, so is that minus 1, and so is z times the rest."""
    hi = _high26(invc)
    return (z * hi - 1.0) + z * (invc - hi)


def _high26(x: Any) -> Any:
    """x with all but the top 26 bits of its significand cleared."""
    bits = np.asarray(x, dtype=np.float64).view(np.uint64) & np.uint64(0xFFFFFFFFF8000000)
    return bits.view(np.float64)


def _exp2(x: np.ndarray) -> np.ndarray:
    """2**x for |x| < 1000, as glibc's powf finishes: 2**(k/32) from the table times a
    cubic in the remainder."""
    shifted = x + _EXP2_SHIFT
    ki = shifted.view(np.uint64)
    r = x - (shifted - _EXP2_SHIFT)
    with np.errstate(over="ignore"):  # the exponent bits wrap around on purpose
        scale = (_EXP2_TABLE[ki & np.uint64(31)] + (ki << np.uint64(47))).view(np.float64)
    p0, p1, p2 = _EXP2_POLY
    return ((p0 * r + p1) * (r * r) + (p2 * r + 1.0)) * scale


def _hex(text: str) -> np.ndarray:
    return np.array([float.fromhex(h) for h in text.split()])


def _u64(text: str) -> np.ndarray:
    return np.array([int(h, 16) for h in text.split()], dtype=np.uint64)


_HALF_PI = float.fromhex("0x1.921fb54442d18p0")
_HALF_PI_HI = float(_high26(_HALF_PI))
_HALF_PI_LO = _HALF_PI - _HALF_PI_HI
_HALF_PI_INV_2_24 = float.fromhex("0x1.45f306dc9c883p+23")  # 2/pi * 2**24
_COS_POLY = _hex(
    "0x1p0 -0x1.ffffffd0c621cp-2 0x1.55553e1068f19p-5 -0x1.6c087e89a359dp-10 0x1.99343027bf8c3p-16"
)
_SIN_POLY = _hex("-0x1.555545995a603p-3 0x1.1107605230bc4p-7 -0x1.994eb3774cf24p-13")

# 1/c for the 16 subintervals of [0x3f330000, 2 * 0x3f330000), with log(c) and log2(c).
_INVC = _hex(
    "0x1.661ec79f8f3bep+0 0x1.571ed4aaf883dp+0 0x1.49539f0f010bp+0 0x1.3c995b0b80385p+0 "
    "0x1.30d190c8864a5p+0 0x1.25e227b0b8eap+0 0x1.1bb4a4a1a343fp+0 0x1.12358f08ae5bap+0 "
    "0x1.0953f419900a7p+0 0x1p+0 0x1.e608cfd9a47acp-1 0x1.ca4b31f026aap-1 "
    "0x1.b2036576afce6p-1 0x1.9c2d163a1aa2dp-1 0x1.886e6037841edp-1 0x1.767dcf5534862p-1"
)
_LOGC = _hex(
    "-0x1.57bf7808caadep-2 -0x1.2bef0a7c06ddbp-2 -0x1.01eae7f513a67p-2 -0x1.b31d8a68224e9p-3 "
    "-0x1.6574f0ac07758p-3 -0x1.1aa2bc79c81p-3 -0x1.a4e76ce8c0e5ep-4 -0x1.1973c5a611cccp-4 "
    "-0x1.252f438e10c1ep-5 0x0p+0 0x1.aa5aa5df25984p-5 0x1.c5e53aa362eb4p-4 "
    "0x1.526e57720db08p-3 0x1.bc2860d22477p-3 0x1.1058bc8a07ee1p-2 0x1.4043057b6ee09p-2"
)
_LOG2C = _hex(
    "-0x1.efec65b963019p-2 -0x1.b0b6832d4fca4p-2 -0x1.7418b0a1fb77bp-2 -0x1.39de91a6dcf7bp-2 "
    "-0x1.01d9bf3f2b631p-2 -0x1.97c1d1b3b7afp-3 -0x1.2f9e393af3c9fp-3 -0x1.960cbbf788d5cp-4 "
    "-0x1.a6f9db6475fcep-5 0x0p+0 0x1.338ca9f24f53dp-4 0x1.476a9543891bap-3 "
    "0x1.e840b4ac4e4d2p-3 0x1.40645f0c6651cp-2 0x1.88e9c2c1b9ff8p-2 0x1.ce0a44eb17bccp-2"
)
_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOG_POLY = _hex("-0x1.00ea348b88334p-2 0x1.5575b0be00b6ap-2 -0x1.ffffef20a4123p-2")
_LOG2_POLY = _hex(
    "0x1.27616c9496e0bp-2 -0x1.71969a075c67ap-2 0x1.ec70a6ca7baddp-2 -0x1.7154748bef6c8p-1 "
    "0x1.71547652ab82bp0"
)
# bits of 2**(i/32), minus i << 47 (the exponent is added back from the rounded x).
_EXP2_TABLE = _u64(
    "3ff0000000000000 3fefd9b0d3158574 3fefb5586cf9890f 3fef9301d0125b51 "
    "3fef72b83c7d517b 3fef54873168b9aa 3fef387a6e756238 3fef1e9df51fdee1 "
    "3fef06fe0a31b715 3feef1a7373aa9cb 3feedea64c123422 3feece086061892d "
    "3feebfdad5362a27 3feeb42b569d4f82 3feeab07dd485429 3feea47eb03a5585 "
    "3feea09e667f3bcd 3fee9f75e8ec5f74 3feea11473eb0187 3feea589994cce13 "
    "3feeace5422aa0db 3feeb737b0cdc5e5 3feec49182a3f090 3feed503b23e255d "
    "3feee89f995ad3ad 3feeff76f2fb5e47 3fef199bdd85529c 3fef3720dcef9069 "
    "3fef5818dcfba487 3fef7c97337b9b5f 3fefa4afa2a490da 3fefd0765b6e4540"
)
_EXP2_POLY = _hex("0x1.c6af84b912394p-5 0x1.ebfce50fac4f3p-3 0x1.62e42ff0c52d6p-1")
_EXP2_SHIFT = float.fromhex("0x1.8p+52") / 32
_POW_OVERFLOW = float.fromhex("0x1.fffffffd1d571p+6")
