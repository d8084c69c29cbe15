"""The activation function (docs/theory.md §2) and its derivative (§4).

    f(z) = 1 / (1 + exp(-z)),      f'(z) = f(z) (1 - f(z))

``sigmoid`` and ``sigmoid_prime`` are the reference forms (libm's exp).
The loops of the other kernels call ``sigmoid_in_loop``, which picks a
libm-free exponential of the same accuracy for float32 and float64 so that
the loops vectorize. ``cast_like`` keeps every constant in the network's
dtype.
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from ._jit import jit

__all__ = ["cast_like", "sigmoid", "sigmoid_prime", "sigmoid_in_loop"]


def cast_like(value, like):  # pragma: no cover - replaced by the overload
    """``value`` converted to the float type of ``like`` (a scalar or array)."""
    return np.asarray(like).dtype.type(value)


@overload(cast_like)
def _cast_like_overload(value, like):
    # A Python float literal in a float32 expression promotes it to float64;
    # every constant of a kernel goes through here to stay in the network's
    # dtype.
    target = like.dtype if isinstance(like, types.Array) else like

    def impl(value, like):
        return target(value)

    return impl


@jit
def sigmoid(z):
    """f(z) = 1 / (1 + exp(-z)), stable for any z in float32 and float64.

    exp is only ever taken of -|z| <= 0, so it cannot overflow; for z < 0 the
    equal form exp(z) / (1 + exp(z)) is used.
    """
    one = cast_like(1.0, z)
    e = np.exp(-np.abs(z))
    s = one / (one + e)
    return s if z >= 0 else e * s


@jit
def sigmoid_prime(z):
    """f'(z) = exp(-z) / (1 + exp(-z))^2 = f(z) (1 - f(z)).

    The design document prints -exp(z)/(exp(z)+1)^2: the sign is wrong (f is
    increasing) and so is the exponent's (see docs/theory.md, erratum 1).
    """
    one = cast_like(1.0, z)
    s = sigmoid(z)
    return s * (one - s)


# 2^n for n = -150..0 in float32 (2^-150 rounds to 0), for the exponential of
# _sigmoid_float32 below.
_POWERS_OF_TWO_FLOAT32 = (2.0 ** np.arange(-150, 1)).astype(np.float32)


@jit
def _sigmoid_float32(z):
    """f(z) for a float32 z without calling libm, so that loops vectorize.

    e = exp(-|z|) by Cody and Waite's reduction: n = round(x / ln 2),
    r = x - n ln 2 (|r| <= ln2 / 2), exp(r) by a degree-7 polynomial and 2^n
    from a table. All in float32; within 3e-7 relative of the exact sigmoid
    (libm's expf path: 2e-7), about five times faster in a loop here.
    """
    one = cast_like(1.0, z)
    x = max(-abs(z), cast_like(-104.0, z))
    n = np.floor(x * cast_like(1.4426950408889634, z) + cast_like(0.5, z))
    r = x - n * cast_like(0.693359375, z) - n * cast_like(-2.12194440e-4, z)
    p = cast_like(1.9875691500e-4, z)
    p = p * r + cast_like(1.3981999507e-3, z)
    p = p * r + cast_like(8.3334519073e-3, z)
    p = p * r + cast_like(4.1665795894e-2, z)
    p = p * r + cast_like(1.6666665459e-1, z)
    p = p * r + cast_like(5.0000001201e-1, z)
    p = p * r * r + r + one
    # n is NaN when z is: its conversion to an integer is undefined (on
    # x86, the most negative int), so the index is clamped into the table,
    # and the NaN goes on through p to the result instead of reading
    # outside the table.
    e = p * _POWERS_OF_TWO_FLOAT32[min(max(np.int32(n) + 150, 0), 150)]
    s = one / (one + e)
    s = s if z >= 0 else e * s
    # A NaN z must give a NaN, for training to see that it diverged: the
    # clamp of x above may turn it into -104 or not, depending on how LLVM
    # lowers max() in each caller.
    return s if z == z else z


# 2^(n + 64) for n = -1080..0, for the exponential of _sigmoid_float64
# below: all normal numbers, so that e = p 2^(n + 64) 2^-64 is rounded only
# once, by the last product, also where e is subnormal.
_POWERS_OF_TWO_FLOAT64 = 2.0 ** (np.arange(-1080, 1) + 64)


@jit(reassociate=False)
def _sigmoid_float64(z):
    """f(z) for a float64 z without calling libm, so that loops vectorize.

    As _sigmoid_float32, in float64: n = round(x / ln 2) with x = -|z|,
    r = x - n ln2_hi - n ln2_lo (ln 2 in two parts, so that r is exact to a
    few ulp; this is why the function is compiled without reassociation,
    which would fold the two subtractions into one), exp(r) by its Taylor
    polynomial to degree 13 (remainder below 1e-17 for |r| <= ln2 / 2), 2^n
    from a table. Against the exact value (long double) it errs at most
    2.5 ulp, 0.22 on average, where the libm form ``sigmoid`` errs 2.1 and
    0.21 (subnormal results included); three times faster in a loop here.
    Below x = -746, e is 0, as libm gives.
    """
    x = max(-abs(z), -746.0)
    n = np.floor(x * 1.4426950408889634 + 0.5)
    r = (x - n * 0.6931471803691238) - n * 1.9082149292705877e-10
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r * r + r + 1.0
    # (the index clamped for a NaN z, as in _sigmoid_float32)
    index = min(max(np.int64(n) + 1080, 0), 1080)
    e = (p * _POWERS_OF_TWO_FLOAT64[index]) * 5.421010862427522e-20  # 2^-64
    s = 1.0 / (1.0 + e)
    s = s if z >= 0 else e * s
    return s if z == z else z  # NaN in, NaN out (see _sigmoid_float32)


def sigmoid_in_loop(z):  # pragma: no cover - replaced by the overload
    """f(z) in the kernels' loops: the libm-free forms, which vectorize."""
    return sigmoid(z)


@overload(sigmoid_in_loop)
def _sigmoid_in_loop_overload(z):
    if z == types.float32:
        return lambda z: _sigmoid_float32(z)
    if z == types.float64:
        return lambda z: _sigmoid_float64(z)
    return lambda z: sigmoid(z)
