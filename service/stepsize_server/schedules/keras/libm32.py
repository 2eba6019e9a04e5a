"""float32 arithmetic as TensorFlow computes it on a CPU, for the Keras family.

Keras evaluates its schedules in float32. Near the end of a cosine `1 + cos(x)` cancels,
so a one-ulp difference in `cos` becomes a large relative error: matching Keras within
1e-6 needs the same float32 `cos`, `log` and `pow` that TensorFlow calls, which are
glibc's. Computing in float64 and rounding once (the obvious approach) differs from glibc
in its last bit at a few steps per million, enough to miss 1e-6 there.

+, -, floor, ceil, minimum and comparisons are numpy's float32 operations (IEEE, like
TensorFlow's). Products, quotients and powers go through helpers that flush results under
2**-126 to zero. cos, log and pow follow the published algorithms of glibc's float32
functions (sysdeps/ieee754/flt-32 since glibc 2.28, from Arm's optimized-routines): each
computes in float64 with a small table and a polynomial, then rounds once to float32, so a
float64 replay in numpy gives the same float32 bits. Checked against glibc 2.36 over 10**6
arguments each, with no difference.

`cos32_fast` and `power32_of` are the same functions, bit for bit, shaped for the Keras
family's hot paths (a chunk of steps at a time): fewer passes over the array, and work
arrays from `scratch` instead of fresh numpy temporaries. `cos32_fast` equals `cos32` on
every float32 in (-0.75, 3.9), checked exhaustively.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np

PI32 = np.float32(math.pi)
# The longest work array `scratch` keeps: the Keras family's chunk of steps. Its float64
# arrays (256 KiB each) stay in a core's L2 cache, and numpy's per-operation overhead is
# spread over enough elements.
SCRATCH_SIZE = 1 << 15
_SMALLEST_NORMAL = np.float32(2.0**-126)


def f32(x: Any) -> Any:
    """float32 of a parameter (or list of them), denormals read as zero."""
    return ftz(np.asarray(x, dtype=np.float64).astype(np.float32))


def ftz(x: Any) -> Any:
    return np.where(np.abs(x) < _SMALLEST_NORMAL, np.float32(0), x).astype(np.float32)


def multiply32(a: Any, b: Any) -> np.ndarray:
    return ftz(np.multiply(a, b, dtype=np.float32))


def divide32(a: Any, b: Any) -> np.ndarray:
    return ftz(np.divide(a, b, dtype=np.float32))


def cos32(x: np.ndarray) -> np.ndarray:
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


def cos32_fast(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """`cos32(x)` for a 1-d float32 array, into `out` (float32, may be `x` itself), with
    fewer passes over the array for what the schedules ask: -0.75 < x < 3.9, i.e.
    quadrants 0 to 2 of glibc's reduction (anything else is passed to `cos32`).

    Where all of `x` lies in one quadrant (typical of sorted steps), only that quadrant's
    polynomial is evaluated, with the sign folded into its coefficients. Work arrays come
    from `scratch`."""
    x = np.asarray(x, dtype=np.float32)
    if out is None:
        out = np.empty_like(x)
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if not (lo > -0.75 and hi < 3.9 and x.ndim == 1):  # also false for nan
        out[...] = cos32(x)
        return out
    tiny = np.abs(x) < _TINY_COS if min(abs(lo), abs(hi)) < _TINY_COS or lo < 0 < hi else None
    n_lo, n_hi = _quadrant(max(lo, 0.0)), _quadrant(hi)
    if n_lo == n_hi:
        result = _cos_quadrant(x, n_lo)
    else:
        a = scratch("cos.a", x.size)
        np.abs(x, out=a)  # |x| < 0.75 is glibc's unreduced, even, branch
        # glibc's quadrant, ((int)(a * 2**24 * 2/pi) + 2**23) >> 24, in float64: the same
        # integer for every float32 in [0, 3.9] (checked exhaustively).
        n = np.multiply(a, _TWO_OVER_PI, out=scratch("cos.n", x.size))
        n += 0.5
        np.floor(n, out=n)
        t = np.multiply(n, _HALF_PI_HI, out=scratch("cos.t", x.size))
        a -= t
        np.multiply(n, _HALF_PI_LO, out=t)
        a -= t  # r = a - n * pi/2, as a fused multiply-add rounds it
        r2 = np.multiply(a, a, out=scratch("cos.x2", x.size))
        # Both polynomials, each multiplied by 0 where the other one is glibc's choice
        # (exact, as is adding the 0): n = 0 and 2 take the cosine (negated for n = 2,
        # glibc's table with the cosine coefficients negated), n = 1 the sine at -r.
        result = _cos_poly(r2, _COS_POLY)
        np.subtract(1.0, n, out=t)
        result *= t  # 1, 0, -1
        sin_r = _sin_poly(a, r2, out=t)
        np.subtract(n, 2.0, out=r2)
        r2 *= n  # 0, -1, 0
        sin_r *= r2
        result += sin_r
    np.copyto(out, result, casting="same_kind")  # rounds to float32
    if tiny is not None:
        out[tiny] = 1  # glibc returns 1 for |x| < 2**-12
    return out


def _quadrant(a: float) -> int:
    """glibc's quadrant index of a non-negative float32 `a` (reduce_fast in s_cosf.c)."""
    return (int(a * _HALF_PI_INV_2_24) + 0x800000) >> 24


def _cos_quadrant(x: np.ndarray, n: int) -> np.ndarray:
    """cosf of float32 `x`, all in quadrant n <= 2 (and > -0.75: cos and glibc's
    unreduced quadrant 0 are even), in float64 before rounding."""
    x2 = scratch("cos.x2", x.size)
    if n == 0:  # float32 squares are exact in float64
        return _cos_poly(np.multiply(x, x, out=x2, dtype=np.float64), _COS_POLY)
    r = scratch("cos.a", x.size)
    if n == 2:
        np.subtract(x, 2 * _HALF_PI_HI, out=r, dtype=np.float64)
        r -= 2 * _HALF_PI_LO
        return _cos_poly(np.multiply(r, r, out=x2), -_COS_POLY)
    # n == 1: glibc evaluates its sine polynomial at -r = pi/2 - x; negating the
    # reduction is exact, so compute -r directly.
    np.subtract(_HALF_PI_HI, x, out=r, dtype=np.float64)
    r += _HALF_PI_LO
    return _sin_poly(r, np.multiply(r, r, out=x2), out=scratch("cos.poly", x.size))


def _cos_poly(x2: np.ndarray, c: np.ndarray) -> np.ndarray:
    """glibc's cosine polynomial, `c0 + x2 c1 + x4 c2 + x6 (c3 + x2 c4)` in its order, in
    scratch "cos.poly"."""
    out = np.multiply(x2, c[1], out=scratch("cos.poly", x2.size))
    out += c[0]
    x4 = np.multiply(x2, x2, out=scratch("cos.x4", x2.size))
    t = np.multiply(x4, c[2], out=scratch("cos.u", x2.size))
    out += t
    np.multiply(x2, c[4], out=t)
    t += c[3]
    x4 *= x2  # x6
    t *= x4
    out += t
    return out


def _sin_poly(x: np.ndarray, x2: np.ndarray, out: np.ndarray) -> np.ndarray:
    """glibc's sine polynomial, `x + x3 s1 + x7 (s2 + x2 s3)` in its order, into `out`.
    Overwrites `x2`."""
    s1, s2, s3 = _SIN_POLY
    x3 = np.multiply(x, x2, out=scratch("cos.x4", x.size))
    np.multiply(x3, s1, out=out)
    out += x
    x3 *= x2  # x7
    x2 *= s3
    x2 += s2
    x2 *= x3
    out += x2
    return out


class _Scratch(threading.local):
    def __init__(self) -> None:
        self.arrays: dict[tuple[str, Any], np.ndarray] = {}


_SCRATCH = _Scratch()


def scratch(name: str, size: int, dtype: Any = np.float64) -> np.ndarray:
    """A 1-d work array named `name`, reused by later calls in this thread: its contents
    are whatever the last user left, and it is valid until the next `scratch(name)`.

    numpy allocates a new temporary for each operation without `out`, and glibc serves one
    of more than 128 KiB with a fresh mmap whose page faults cost more than the arithmetic
    on it: a chunk's temporaries are reused instead. Arrays longer than SCRATCH_SIZE are
    not kept."""
    if size > SCRATCH_SIZE:
        return np.empty(size, dtype=dtype)
    arrays = _SCRATCH.arrays
    key = (name, np.dtype(dtype))
    array = arrays.get(key)
    if array is None or array.size < size:
        array = arrays[key] = np.empty(SCRATCH_SIZE, dtype=dtype)
    return array[:size]


def log32(x: np.ndarray) -> np.ndarray:
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


def power32(x: Any, y: Any) -> np.ndarray:
    """glibc's powf, bit for bit for positive normal x and finite non-zero y (else IEEE
    pow in float64, rounded), then flushed to zero below 2**-126."""
    x, y = np.broadcast_arrays(np.asarray(x, np.float32), np.asarray(y, np.float32))
    ix = x.view(np.uint32).astype(np.int64)
    core = (ix >= 0x00800000) & (ix < 0x7F800000) & np.isfinite(y) & (y != 0)
    log2x = _log2(np.where(core, ix, 0x3F800000))
    out = _exp2_rounded(y.astype(np.float64) * log2x)
    out = np.where(core, out, np.power(x.astype(np.float64), y).astype(np.float32))
    return ftz(out)


def power32_of(base: np.float32, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """`power32(base, y)` for one positive normal float32 base and a 1-d float32 array of
    finite exponents, into `out` (float32, may be `y`): glibc's log2(base) once, then its
    exp2 per exponent (which gives exactly 1 for y == 0). Work arrays come from `scratch`."""
    y = np.asarray(y, dtype=np.float32)
    if out is None:
        out = np.empty_like(y)
    ylog2x = np.multiply(y, _log2_of(float(base)), out=scratch("pow.e", y.size), dtype=np.float64)
    lo, hi = (float(ylog2x.min()), float(ylog2x.max())) if y.size else (0.0, 0.0)
    if not (lo > -126.0 and hi <= _POW_OVERFLOW and y.ndim == 1):  # also false for nan
        out[...] = ftz(_exp2_rounded(ylog2x.reshape(y.shape)))  # may overflow or flush
        return out
    # _exp2 with every temporary in scratch; 2**ylog2x > 2**-126 is normal.
    shifted = np.add(ylog2x, _EXP2_SHIFT, out=scratch("pow.s", y.size))
    r = np.subtract(shifted, _EXP2_SHIFT, out=scratch("pow.r", y.size))
    np.subtract(ylog2x, r, out=r)
    ki = shifted.view(np.uint64)
    index = scratch("pow.i", y.size, np.intp)
    np.bitwise_and(ki, np.uint64(31), out=index.view(np.uint64))
    scale = _EXP2_TABLE.take(index, out=scratch("pow.t", y.size, np.uint64))
    np.left_shift(ki, np.uint64(47), out=ki)
    scale += ki  # wraps around on purpose
    p0, p1, p2 = _EXP2_POLY
    z = np.multiply(r, p0, out=ylog2x)
    z += p1
    r2 = np.multiply(r, r, out=shifted)
    z *= r2
    np.multiply(r, p2, out=r2)
    r2 += 1.0
    z += r2
    z *= scale.view(np.float64)
    np.copyto(out, z, casting="same_kind")  # rounds to float32
    return out


@functools.lru_cache(maxsize=64)
def _log2_of(base: float) -> float:
    """glibc's powf log2 of one positive normal float32."""
    return float(_log2(np.asarray(base, np.float32).view(np.uint32).astype(np.int64)))


def _log2(ix: np.ndarray) -> np.ndarray:
    """log2 of positive normal float32 values (bits `ix`), as glibc's powf computes it
    (log2_inline in e_powf.c), in float64."""
    z, i, k = _reduce(ix)
    r = _z_over_c_minus_1(z, _INVC[i])
    a0, a1, a2, a3, a4 = _LOG2_POLY
    r2 = r * r
    q = (a2 * r + a3) * r2 + (a4 * r + (_LOG2C[i] + k))
    return (a0 * r + a1) * (r2 * r2) + q


def _exp2_rounded(ylog2x: np.ndarray) -> np.ndarray:
    """2**ylog2x rounded to float32 as glibc's powf finishes, overflow and underflow
    included (not yet flushed to zero)."""
    lo, hi = (float(ylog2x.min()), float(ylog2x.max())) if ylog2x.size else (0.0, 0.0)
    if lo > -150.0 and hi <= _POW_OVERFLOW:  # the usual case: no special values
        return _exp2(ylog2x).astype(np.float32)
    clipped = np.clip(ylog2x, -1000.0, 1000.0)  # nan stays nan
    out = _exp2(clipped).astype(np.float32)
    out[clipped > _POW_OVERFLOW] = np.inf
    out[clipped <= -150.0] = 0
    return out


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
_TWO_OVER_PI = _HALF_PI_INV_2_24 * 2.0**-24
_TINY_COS = 2.0**-12
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
