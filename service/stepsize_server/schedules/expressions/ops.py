"""The operations compiled expressions are made of (SPEC 3.5; see expressions).

Each evaluator maps variable values (and a mask of the selected positions) to values: the
closures here combine them with numpy, evaluate a branch only where it is selected, and
raise `_Fault` at the first selected position where a result is not finite. The kernels
give numpy's results faster on large arrays (`power`, `//` and `%` on integers).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

# Variable values in, values out; the mask marks the positions whose value is selected
# (None: all of them). Failures are reported only at selected positions.
Mask = np.ndarray | None
Value = np.ndarray | float
Evaluator = Callable[[np.ndarray, Mask], Value]
Kernel = Callable[[Value, Value], Value]

_UNARY_FUNCTIONS: dict[str, np.ufunc] = {
    "abs": np.abs, "floor": np.floor, "ceil": np.ceil, "sqrt": np.sqrt, "exp": np.exp,
    "log": np.log, "log2": np.log2, "log10": np.log10, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "tanh": np.tanh,
}  # fmt: skip
# These never turn a finite argument into a non-finite value.
_TOTAL_FUNCTIONS = {"abs", "floor", "ceil", "sin", "cos", "tanh"}


class _Fault(Exception):
    """A selected sub-expression failed at the variable value `value`."""

    def __init__(self, value: float, message: str, position: str) -> None:
        super().__init__(message)
        self.value = value
        self.message = message
        self.position = position


def _constant(value: float) -> Evaluator:
    return lambda x, active: value


def _variable(x: np.ndarray, active: Mask) -> np.ndarray:
    return x


def _within(active: Mask, condition: np.ndarray) -> np.ndarray:
    return condition if active is None else active & condition


def _check(
    result: Value, x: np.ndarray, active: Mask, explain: Callable[[int], str], position: str
) -> None:
    """Raise _Fault at the first selected position where `result` is not finite."""
    finite = np.isfinite(result)
    if finite.all():
        return
    bad = np.broadcast_to(~finite, x.shape)
    if active is not None:
        bad = bad & active
    if bad.any():
        i = int(np.argmax(bad))
        raise _Fault(float(x[i]), explain(i), position)


def _at(values: Value, i: int) -> float:
    return float(values[i]) if isinstance(values, np.ndarray) and values.ndim else float(values)


def _binary(kernel: Kernel, symbol: str, left: Evaluator, right: Evaluator,
            snippet: str, position: str) -> Evaluator:  # fmt: skip
    def evaluate(x: np.ndarray, active: Mask) -> Value:
        a, b = left(x, active), right(x, active)
        result = kernel(a, b)

        def explain(i: int) -> str:
            ai, bi, ri = _at(a, i), _at(b, i), _at(result, i)
            if symbol in ("/", "//", "%") and bi == 0:
                return f"division by zero in `{snippet}`"
            if symbol == "**" and ai == 0 and bi < 0:
                return f"division by zero in `{snippet}` (zero to a negative power)"
            if math.isnan(ri):
                hint = " (negative number to a fractional power)" if symbol == "**" else ""
                return f"not a number (NaN) in `{snippet}`{hint}"
            return f"overflow in `{snippet}`"

        _check(result, x, active, explain, position)
        return result

    return evaluate


# -- kernels: numpy's results, faster on large arrays -------------------------------------

_LARGE = 4096  # below this many values, the plain ufunc is as fast


def power(base: float, exponent: np.ndarray, *, integral: bool = False) -> np.ndarray:
    """`np.power(base, exponent)` (float64) for a float `base`, fast on large arrays.

    libm's pow is slow where the result is subnormal, 0 or inf (a decay stepped a million
    times underflows): here such results come from a table of the few distinct integer
    exponents, or are set directly where they are exactly 0 or inf, and results beyond
    2**+-1020 are products of two normal powers (they may differ from pow's in the last
    bit or two; overflow, within two bits of the largest float). `integral` promises that
    every finite exponent is an integer. Never raises; warnings follow `np.errstate`."""
    e = exponent
    if e.size < _LARGE or not 0 < base < math.inf or base == 1:
        return np.power(base, e, dtype=np.float64)
    log2 = abs(math.log2(base))
    normal = 1020 / log2  # |exponent| up to this: a normal result, pow's fast path
    final = 1077 / log2  # |exponent| beyond this: exactly 0 or inf
    lo, hi = float(e.min()), float(e.max())
    if abs(lo) < 2.0**62 and abs(hi) < 2.0**62:  # finite; fits an index once clipped
        # Exponents beyond +-c give what +-c gives (0 or inf): a table from -c to c at most.
        c = float(math.ceil(final))
        first, last = min(max(lo, -c), c), max(min(hi, c), -c)
        if last - first < max(_LARGE, e.size // 4) and (integral or _integers(e)):
            table = power(base, np.arange(first, last + 1))
            index = e.astype(np.intp)
            if first:
                index -= int(first)
            return table.take(index, mode="clip")
        if -normal <= lo and hi <= normal:
            return np.power(base, e, dtype=np.float64)
    out = np.power(base, np.clip(e, -normal, normal), dtype=np.float64)
    outside = np.flatnonzero(np.abs(e) > normal)  # NaN is not: pow gives NaN
    if outside.size:
        far = np.asarray(e[outside], dtype=np.float64)
        # 0 or inf, except in the band between: there, products of two normal powers
        # (pow is slowest on subnormal and infinite results; `far - half` is exact by
        # Sterbenz's lemma).
        values = np.where((far > 0) == (base < 1), 0.0, math.inf)
        band = np.flatnonzero(np.abs(far) <= final)
        if band.size:
            near = far[band]
            half = np.copysign(540 / log2, near)
            values[band] = np.power(base, near - half) * np.power(base, half)
        out[outside] = values
    return out


def _integers(e: np.ndarray) -> bool:
    return e.dtype.kind in "iu" or bool(np.equal(np.floor(e), e).all())


def _small_integers(a: object, divisor: object, integral: bool) -> bool:
    """Whether `divisor` is a positive integer and every value of the array `a` an integer
    n with |n| + divisor < 2**53: then floor(n / divisor) is Python's n // divisor.
    `integral`: the values of `a` are known to be integers when finite."""
    if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.size >= _LARGE):
        return False
    if not (isinstance(divisor, float) and 0 < divisor < 2.0**52 and divisor.is_integer()):
        return False
    lo, hi = float(a.min()), float(a.max())
    bound = 2.0**53 - divisor
    return -bound < lo and hi < bound and (integral or _integers(a))


def _floor_divide(a: Value, b: Value, integral: bool = False) -> Value:
    """Python's `a // b`: floor(a / b) where that is exact (integers by a positive
    integer constant, the seed rule's `epoch // 3`), else numpy's floor_divide."""
    if _small_integers(a, b, integral):
        q = np.divide(a, b)
        return np.floor(q, out=q)
    return np.floor_divide(a, b)


def _remainder(a: Value, b: Value, integral: bool = False) -> Value:
    """Python's `a % b`: a - b * (a // b) where that is exact (see `_floor_divide`)."""
    if _small_integers(a, b, integral):
        q = np.divide(a, b)
        np.floor(q, out=q)
        np.multiply(q, b, out=q)
        return np.subtract(a, q, out=q)
    return np.remainder(a, b)


def _power(a: Value, b: Value, integral: bool = False) -> Value:
    if isinstance(a, float) and isinstance(b, np.ndarray):
        return power(a, b, integral=integral)
    return np.power(a, b)


def _function(name: str, argument: Evaluator, snippet: str, position: str) -> Evaluator:
    ufunc = _UNARY_FUNCTIONS[name]
    if name in _TOTAL_FUNCTIONS:
        return lambda x, active: ufunc(argument(x, active))

    def evaluate(x: np.ndarray, active: Mask) -> Value:
        a = argument(x, active)
        result = ufunc(a)

        def explain(i: int) -> str:
            if name.startswith("log") and _at(a, i) == 0:
                return f"division by zero in `{snippet}` (logarithm of 0)"
            if math.isnan(_at(result, i)):
                return f"not a number (NaN) in `{snippet}` (negative argument)"
            return f"overflow in `{snippet}`"

        _check(result, x, active, explain, position)
        return result

    return evaluate


def _select(test: Evaluator, body: Evaluator, orelse: Evaluator) -> Evaluator:
    """`body if test else orelse`, each branch checked only where it is selected."""

    def evaluate(x: np.ndarray, active: Mask) -> Value:
        chosen = np.not_equal(test(x, active), 0)
        if np.all(chosen):
            return body(x, active)
        if not np.any(chosen):
            return orelse(x, active)
        return np.where(chosen, body(x, _within(active, chosen)),
                        orelse(x, _within(active, ~chosen)))  # fmt: skip

    return evaluate


def _boolean(is_and: bool, operands: list[Evaluator]) -> Evaluator:
    """Python's `and`/`or`: the first operand that decides, else the last one."""
    first, rest = operands[0], operands[1:]

    def evaluate(x: np.ndarray, active: Mask) -> Value:
        result = first(x, active)
        going = np.not_equal(result, 0) if is_and else np.equal(result, 0)
        for operand in rest:
            if not np.any(going):
                break
            value = operand(x, _within(active, going))
            result = np.where(going, value, result)
            going = going & (np.not_equal(value, 0) if is_and else np.equal(value, 0))
        return result

    return evaluate


def _compare(left: Evaluator, ops: list[np.ufunc], operands: list[Evaluator]) -> Evaluator:
    """A (chained) comparison: later operands are evaluated only where it still holds."""

    def evaluate(x: np.ndarray, active: Mask) -> Value:
        a = left(x, active)
        holds = None
        for op, operand in zip(ops, operands, strict=True):
            if holds is not None and not np.any(holds):
                break
            b = operand(x, active if holds is None else _within(active, holds))
            step = op(a, b)
            holds = step if holds is None else holds & step
            a = b
        return np.asarray(holds, dtype=np.float64)

    return evaluate


def _reduce(ufunc: np.ufunc, operands: list[Evaluator]) -> Evaluator:
    def evaluate(x: np.ndarray, active: Mask) -> Value:
        result = operands[0](x, active)
        for operand in operands[1:]:
            result = ufunc(result, operand(x, active))
        return result

    return evaluate
