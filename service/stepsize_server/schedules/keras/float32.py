"""The Keras family's evaluation driver: float32, chunk by chunk (`KerasNode`).

Every Keras type is one `KerasNode` subclass: its parameters, their validation, its
formula in the docstring, `values32` (the formula as Keras writes it, operation by
operation: the reference) and `_fast32` (the same bits, or within a bound its docstring
states, with fewer passes over the array). This module holds the driver they share and
the tables of whole powers; `libm32` replays glibc's float32 functions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
from pydantic import model_validator

from ..node import Context, Node
from .libm32 import SCRATCH_SIZE, f32, ftz, power32, scratch


class KerasNode(Node):
    """Base of the Keras family: drops Keras's `name`, evaluates in float32, chunk by chunk.

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


# Functions of a whole exponent k (float32), looked up by `_lookup`.


def _powers(base: float, k: Any) -> np.ndarray:
    """`base ** k` as Keras computes it (glibc's powf)."""
    return power32(np.float32(base), k)
