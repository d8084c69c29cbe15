"""The activation functions f (docs/theory.md §2, §11) and their
derivatives f' (§4, §11), as runtime rules.

Each layer's activation is a code (``IDENTITY``, ``LOGISTIC``, ``TANH``,
``RELU``, ``LEAKY_RELU``; ``SOFTMAX`` for an output layer only), read by
the kernels at run time like ``objective``'s output rules, so that one
compiled epoch serves every activation: no compile per activation.

    logistic     f(z) = 1 / (1 + exp(-z))          f' = a (1 - a)
    tanh         f(z) = tanh(z)                    f' = (1 - a) (1 + a)
    relu         f(z) = max(z, 0)                  f' = 1 if a > 0 else 0
    leaky_relu   f(z) = z if z >= 0 else c z       f' = 1 if a > 0 else c  (slope c >= 0)
    identity     f(z) = z                          f' = 1
    softmax      a_j = exp(z_j) / sum_k exp(z_k)   (output only; §11)

f' is written in terms of the activation a = f(z), which the kernels keep,
never of z, which they do not store. At z = 0 ReLU takes the subgradient 0
and leaky ReLU the slope c (as scikit-learn and PyTorch do).

``sigmoid``, ``tanh``, ``activation_value`` and ``activation_derivative``
are the reference forms (libm's exp and tanh). The loops of the other
kernels call ``sigmoid_in_loop``, ``tanh_in_loop`` and ``exp_in_loop``,
which pick a libm-free form of the same accuracy for float32 and float64
so that the loops vectorize. ``cast_like`` keeps every constant in the
network's dtype.
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from ._jit import jit

__all__ = ["IDENTITY", "LOGISTIC", "TANH", "RELU", "LEAKY_RELU", "SOFTMAX", "EXP", "exp_row",
           "HIDDEN_ACTIVATIONS", "ACTIVATION_NAMES", "DEFAULT_LEAKY_SLOPE", "hidden_activation",
           "cast_like", "sigmoid", "sigmoid_prime", "sigmoid_in_loop", "tanh", "tanh_in_loop",
           "relu", "leaky_relu", "exp_in_loop", "activation_value", "activation_in_loop",
           "activation_derivative", "softmax_row", "activate_row"]

# The codes of the activations. IDENTITY = 0 and LOGISTIC = 1, so that the
# older kernels' flag ``activate`` (False: identity, True: the document's
# sigmoid) reads as the same code.
IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
SOFTMAX = 5
# a_j = exp(z_j): the output of Poisson regression (§15), output only
EXP = 6

# Hidden layers' activations by name (scikit-learn's names, and
# leaky_relu); "sigmoid" is the output layer's name for the logistic.
HIDDEN_ACTIVATIONS = {"logistic": LOGISTIC, "tanh": TANH, "relu": RELU,
                      "leaky_relu": LEAKY_RELU, "identity": IDENTITY}
ACTIVATION_NAMES = {IDENTITY: "identity", LOGISTIC: "logistic", TANH: "tanh", RELU: "relu",
                    LEAKY_RELU: "leaky_relu", SOFTMAX: "softmax", EXP: "exp"}
# PyTorch's and Keras's default slope of leaky ReLU.
DEFAULT_LEAKY_SLOPE = 0.01


def hidden_activation(name) -> int:
    """The code of a hidden layer's activation; ValueError for any other
    name (and for "softmax", an output layer's)."""
    if name == "sigmoid":
        name = "logistic"
    if name not in HIDDEN_ACTIVATIONS:
        hint = (" (softmax is an output layer: output='softmax')" if name == "softmax" else "")
        raise ValueError(
            f"activation must be one of {', '.join(map(repr, HIDDEN_ACTIVATIONS))}; "
            f"got {name!r}{hint}")
    return HIDDEN_ACTIVATIONS[name]


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


# -- the reference forms (libm) ---------------------------------------------------
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


@jit
def tanh(z):
    """§11: f(z) = tanh(z) = (e^z - e^-z) / (e^z + e^-z), libm's."""
    return np.tanh(z)


@jit(inline=True)
def relu(z):
    """§11: f(z) = max(z, 0); a NaN z stays NaN (max would drop it)."""
    return cast_like(0.0, z) if z < 0 else z


@jit(inline=True)
def leaky_relu(z, slope):
    """§11: f(z) = z for z >= 0, slope z below (slope of z's dtype)."""
    return slope * z if z < 0 else z


@jit
def activation_value(z, code, slope):
    """§2, §11: f(z) for the activation ``code`` (not SOFTMAX, which needs a
    whole row: ``softmax_row``), with libm's exp and tanh. slope: leaky
    ReLU's, of z's dtype."""
    if code == LOGISTIC:
        return sigmoid(z)
    if code == TANH:
        return tanh(z)
    if code == RELU:
        return relu(z)
    if code == LEAKY_RELU:
        return leaky_relu(z, slope)
    if code == EXP:
        return np.exp(z)
    return z


@jit(inline=True)
def activation_derivative(a, code, slope):
    """§4, §11: f'(z) from the activation a = f(z), for every code but
    SOFTMAX (whose Jacobian §11 folds into the output delta).

    logistic a (1 - a); tanh (1 - a) (1 + a) (= 1 - a^2, without its
    cancellation near |a| = 1); relu 1 for a > 0, else 0 (the subgradient 0
    at z = 0); leaky relu 1 for a > 0, else the slope (at z = 0 too: a > 0
    exactly when z > 0, for a slope >= 0); identity 1.
    """
    one = cast_like(1.0, a)
    if code == LOGISTIC:
        return a * (one - a)
    if code == TANH:
        return (one - a) * (one + a)
    if code == RELU:
        return one if a > 0 else cast_like(0.0, a)
    if code == LEAKY_RELU:
        return one if a > 0 else slope
    return one


# -- the exponential without libm ------------------------------------------------
# 2^n for n = -150..0 in float32 (2^-150 rounds to 0), for _exp_parts_float32.
_POWERS_OF_TWO_FLOAT32 = (2.0 ** np.arange(-150, 1)).astype(np.float32)


@jit
def _exp_parts_float32(x):
    """exp(x) = (1 + q) 2^n for a float32 x <= 0, as (q, 2^n), without libm.

    Cody and Waite's reduction: n = round(x / ln 2), r = x - n ln 2
    (|r| <= ln2 / 2), q = exp(r) - 1 by a degree-7 polynomial (r + r^2 P(r)),
    2^n from a table. x is clamped at -104, where exp is far below float32's
    smallest number. q keeps its full relative accuracy near x = 0, which
    expm1 needs (tanh_in_loop).
    """
    x = max(x, cast_like(-104.0, x))
    n = np.floor(x * cast_like(1.4426950408889634, x) + cast_like(0.5, x))
    r = x - n * cast_like(0.693359375, x) - n * cast_like(-2.12194440e-4, x)
    p = cast_like(1.9875691500e-4, x)
    p = p * r + cast_like(1.3981999507e-3, x)
    p = p * r + cast_like(8.3334519073e-3, x)
    p = p * r + cast_like(4.1665795894e-2, x)
    p = p * r + cast_like(1.6666665459e-1, x)
    p = p * r + cast_like(5.0000001201e-1, x)
    q = p * r * r + r
    # n is NaN when x is: its conversion to an integer is undefined (on
    # x86, the most negative int), so the index is clamped into the table,
    # and the NaN goes on through q to the result instead of reading
    # outside the table.
    return q, _POWERS_OF_TWO_FLOAT32[min(max(np.int32(n) + 150, 0), 150)]


@jit
def _sigmoid_float32(z):
    """f(z) for a float32 z without calling libm, so that loops vectorize.

    e = exp(-|z|) = (1 + q) 2^n (_exp_parts_float32). All in float32; within
    3e-7 relative of the exact sigmoid (libm's expf path: 2e-7), about five
    times faster in a loop here.
    """
    one = cast_like(1.0, z)
    q, two_n = _exp_parts_float32(-abs(z))
    e = (q + one) * two_n
    s = one / (one + e)
    s = s if z >= 0 else e * s
    # A NaN z must give a NaN, for training to see that it diverged: the
    # clamp of x above may turn it into -104 or not, depending on how LLVM
    # lowers max() in each caller.
    return s if z == z else z


# 2^(n + 64) for n = -1080..0, for _exp_parts_float64: all normal numbers,
# so that e = p 2^(n + 64) 2^-64 is rounded only once, by the last product,
# also where e is subnormal.
_POWERS_OF_TWO_FLOAT64 = 2.0 ** (np.arange(-1080, 1) + 64)


@jit(reassociate=False)
def _exp_parts_float64(x):
    """exp(x) = (1 + q) 2^n for a float64 x <= 0, as (q, 2^(n + 64)),
    without libm.

    n = round(x / ln 2), r = x - n ln2_hi - n ln2_lo (ln 2 in two parts, so
    that r is exact to a few ulp; this is why it is compiled without
    reassociation, which would fold the two subtractions into one),
    q = exp(r) - 1 by its Taylor polynomial to degree 13 (remainder below
    1e-17 for |r| <= ln2 / 2), 2^(n + 64) from a table: the caller
    multiplies by 2^-64 last, so that a subnormal result is rounded once.
    Below x = -746, exp(x) is 0, as libm gives.
    """
    x = max(x, -746.0)
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
    q = p * r * r + r
    # (the index clamped for a NaN x, as in _exp_parts_float32)
    return q, _POWERS_OF_TWO_FLOAT64[min(max(np.int64(n) + 1080, 0), 1080)]


_TWO_TO_MINUS_64 = 5.421010862427522e-20


@jit(reassociate=False)
def _sigmoid_float64(z):
    """f(z) for a float64 z without calling libm, so that loops vectorize.

    e = exp(-|z|) = (1 + q) 2^n (_exp_parts_float64). Against the exact
    value (long double) it errs at most 2.5 ulp, 0.22 on average, where the
    libm form ``sigmoid`` errs 2.1 and 0.21 (subnormal results included);
    three times faster in a loop here.
    """
    q, two_n = _exp_parts_float64(-abs(z))
    e = ((q + 1.0) * two_n) * _TWO_TO_MINUS_64
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


@jit
def _tanh_float32(z):
    """§11: tanh(z) for a float32 z without libm, so that loops vectorize:
    _tanh_float64's two forms, in float32 (_exp_parts_float32). Within
    3 float32 ulp of the exact value (tests/test_activations.py).
    """
    one = cast_like(1.0, z)
    two = cast_like(2.0, z)
    q, two_n = _exp_parts_float32(-two * abs(z))
    small = abs(z) < cast_like(0.55, z)
    u = q * two_n + (two_n - one)
    e = (q + one) * two_n
    quotient = (abs(u) if small else two * e) / ((two + u) if small else (one + e))
    t = quotient if small else one - quotient
    t = t if z >= 0 else -t
    return t if z == z else z  # NaN in, NaN out


@jit(reassociate=False)
def _tanh_float64(z):
    """§11: tanh(z) for a float64 z without libm, so that loops vectorize.

    With e = exp(-2|z|) = (1 + q) 2^n (_exp_parts_float64) and
    u = e - 1 = q 2^n + (2^n - 1) (exact but for q's rounding):
    tanh(|z|) = -u / (2 + u) = |u| / (2 + u) below |z| = 0.55, where u keeps its relative
    accuracy as z -> 0 (1 - e would cancel), and 1 - 2e / (1 + e) above it,
    where the quotient is small beside 1 and its rounding hardly counts.
    One division either way (the branches select its operands). Without
    reassociation, which would undo the order that keeps u exact. Within
    2 ulp of the exact value, 0.3 on average (libm's tanh: 1.2 and 0.2;
    tests/test_activations.py).
    """
    q, two_n = _exp_parts_float64(-2.0 * abs(z))
    two_n = two_n * _TWO_TO_MINUS_64
    small = abs(z) < 0.55
    u = q * two_n + (two_n - 1.0)
    e = (q + 1.0) * two_n
    quotient = (abs(u) if small else 2.0 * e) / ((2.0 + u) if small else (1.0 + e))
    t = quotient if small else 1.0 - quotient
    t = t if z >= 0 else -t
    return t if z == z else z  # NaN in, NaN out


def tanh_in_loop(z):  # pragma: no cover - replaced by the overload
    """tanh(z) in the kernels' loops: the libm-free forms, which vectorize."""
    return np.tanh(z)


@overload(tanh_in_loop)
def _tanh_in_loop_overload(z):
    if z == types.float32:
        return lambda z: _tanh_float32(z)
    if z == types.float64:
        return lambda z: _tanh_float64(z)
    return lambda z: np.tanh(z)


@jit
def _exp_float32(x):
    """exp(x) for a float32 x <= 0 without libm (softmax_row's)."""
    q, two_n = _exp_parts_float32(x)
    e = (q + cast_like(1.0, x)) * two_n
    return e if x == x else x


@jit(reassociate=False)
def _exp_float64(x):
    """exp(x) for a float64 x <= 0 without libm (softmax_row's)."""
    q, two_n = _exp_parts_float64(x)
    e = ((q + 1.0) * two_n) * _TWO_TO_MINUS_64
    return e if x == x else x


def exp_in_loop(x):  # pragma: no cover - replaced by the overload
    """exp(x) for x <= 0 in the kernels' loops: the libm-free forms."""
    return np.exp(x)


@overload(exp_in_loop)
def _exp_in_loop_overload(x):
    if x == types.float32:
        return lambda x: _exp_float32(x)
    if x == types.float64:
        return lambda x: _exp_float64(x)
    return lambda x: np.exp(x)


def activation_in_loop(z, code, slope):  # pragma: no cover - replaced by the overload
    """f(z) in the kernels' loops, for one element: the libm-free forms."""
    return activation_value(z, code, slope)


@overload(activation_in_loop)
def _activation_in_loop_overload(z, code, slope):
    def impl(z, code, slope):
        if code == LOGISTIC:
            return sigmoid_in_loop(z)
        if code == TANH:
            return tanh_in_loop(z)
        if code == RELU:
            return relu(z)
        if code == LEAKY_RELU:
            return leaky_relu(z, slope)
        return z

    return impl


@jit
def softmax_row(row):
    """§11: the softmax of one sample's output, in place: row holds z_j and
    becomes a_j = exp(z_j - max_k z_k) / sum_k exp(z_k - max_k z_k).

    Subtracting the maximum changes nothing in exact arithmetic and keeps
    every exponent <= 0: no overflow, and the largest term is 1, so the sum
    is >= 1. A NaN (or an infinite) z gives NaN outputs, for training to
    see it diverged. row: (L_l,).
    """
    top = row[0]
    for j in range(1, row.shape[0]):
        if row[j] > top or row[j] != row[j]:
            top = row[j]
    total = cast_like(0.0, row)
    for j in range(row.shape[0]):
        e = exp_in_loop(row[j] - top)
        row[j] = e
        total += e
    scale = cast_like(1.0, row) / total
    for j in range(row.shape[0]):
        row[j] *= scale


@jit
def exp_row(row):
    """§15: a_j = exp(z_j) for one sample's output, in place (libm's exp:
    z may be of either sign; above about 709 in float64, 88 in float32,
    a_j is inf, and training reports the divergence)."""
    for j in range(row.shape[0]):
        row[j] = np.exp(row[j])


@jit
def activate_row(row, code, slope):
    """§2, §11: row[j] <- f(row[j]) for every j of one sample's layer (the
    softmax of the row for SOFTMAX), with the libm-free forms. One loop per
    code, so that each vectorizes. row: (L_i,); slope: leaky ReLU's."""
    n_j = row.shape[0]
    if code == LOGISTIC:
        for j in range(n_j):
            row[j] = sigmoid_in_loop(row[j])
    elif code == TANH:
        for j in range(n_j):
            row[j] = tanh_in_loop(row[j])
    elif code == RELU:
        for j in range(n_j):
            row[j] = relu(row[j])
    elif code == LEAKY_RELU:
        c = cast_like(slope, row)
        for j in range(n_j):
            row[j] = leaky_relu(row[j], c)
    elif code == SOFTMAX:
        softmax_row(row)
    elif code == EXP:
        exp_row(row)
