"""Float32 evaluation of the Keras family (keras_family), value for value with Keras.

`Float32Node` is the chunked driver every Keras type shares; each `<Type>32` class below is
one type's evaluation: `values32`, the reference, and `_fast32`, its fast path. The model of
the same name in keras_family inherits it, adding the parameters and their validation. The
two cosine types are evaluated in keras_cosine32.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import Context, Node
from .libm32 import SCRATCH_SIZE, divide32, f32, ftz, multiply32, power32, power32_of, scratch


class Float32Node(Node):
    """Base of the Keras family's evaluation: in float32, chunk by chunk.

    `values32` is each formula as Keras writes it, operation by operation, with the exact
    (glibc) float32 functions on every element: the reference. `_fast32` computes the same
    bits (or, where its docstring says so, within a stated bound) with fewer passes over
    the array; `values` runs it chunk by chunk, so that the temporaries stay in the CPU
    cache and no step array-sized temporary is allocated (each fresh megabyte costs page
    faults). Chunks with a positive step below 2**-53 (only possible under a fractional
    `epochs` wrapper) take the reference, whose every operation flushes subnormals: the
    fast paths rely on `step / decay_steps` being 0 or a normal number.
    """

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


# Functions of a whole exponent k (float32), looked up by `_lookup`.


def _powers(base: float, k: Any) -> np.ndarray:
    """`base ** k` as Keras computes it (glibc's powf)."""
    return power32(np.float32(base), k)


class ExponentialDecay32(Float32Node):
    """keras.ExponentialDecay's evaluation."""

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


class PiecewiseConstantDecay32(Float32Node):
    """keras.PiecewiseConstantDecay's evaluation (float64 lookups, no arithmetic)."""

    if TYPE_CHECKING:  # fields of keras_family.PiecewiseConstantDecay
        boundaries: list[int]
        values_: list[float]

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


class PolynomialDecay32(Float32Node):
    """keras.PolynomialDecay's evaluation."""

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


class InverseTimeDecay32(Float32Node):
    """keras.InverseTimeDecay's evaluation."""

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
