"""Numba kernels: the design document's equations as loops.

Index names follow ``docs/theory.md`` (and the design document):

* ``i``: a layer, 1..l (layer 0 is the input),
* ``j``: a neuron of layer i, ``k``: a neuron of layer i-1,
* ``n``: a sample of the mini-batch.

Arrays are row-per-sample: activations and deltas of layer i have shape
``(m, L_i)``; the weights of layer i have shape ``(L_i, L_{i-1})`` so that
``w[j, k]`` is the document's w_jk^(i); biases have shape ``(L_i,)``.

Every kernel takes arrays and scalars only, writes into arrays its caller
allocated and allocates nothing itself. Each sample of a batch is computed by
the same code whatever the number of threads, so results are bitwise the same
with 1 or 2 threads.

The derivative of the sigmoid is never evaluated from z: the kernels use
f'(z) = f(z) (1 - f(z)) = a (1 - a) on the stored activation, so z is not
stored at all.
"""
from __future__ import annotations

import numpy as np
from numba import prange, types
from numba.extending import overload

from ._atomics import (compare_exchange, fetch_add, load_acquire, sleep_microseconds,
                       spin_pause, store_release, yield_core)
from ._config import jit, prefer_wide_vectors
from ._threads import run_workers

# A layer goes to the threads only with at least this many multiply-adds per
# mini-batch (m * L_i * L_{i-1}); below it, waking the threads costs more than
# it saves, and on a busy machine far more (see docs/performance.md).
PARALLEL_MIN_WORK = 1_000_000

# The samples n of a batch are processed in blocks of this many, so that each
# weight w_jk loaded from memory is used for several samples. The block
# kernels are written out for exactly four.
SAMPLE_BLOCK = 4
# The forward pass takes six samples per pass over four rows of w: 24 sums
# in 512-bit registers, which measured 1.3-1.5x faster than four samples on
# AVX-512 (docs/performance.md). A batch is split into blocks of six and of
# four (_forward_blocks).
FORWARD_BLOCK = 6

# Per-sample SGD (batch 1) takes layer 1's steps this many samples at a time
# (train_epoch_per_sample); _deferred_step is written out for exactly eight.
LOOKAHEAD = 8
# Columns per tile of _deferred_step: 8 rows x 256 float64 = 16 KiB of L1.
STEP_TILE = 256

# Row and sample ranges that start at the first row are passed as
# FIRST = np.int64(0), never as a literal 0: numba types a literal argument
# as Literal[int](0) and compiles the callee a second time for it (one to
# three seconds for each of _forward_rows, _gradient_rows and
# _backward_delta_samples), beside the int64 version the threads use.

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "forward_layer",
    "output_delta",
    "backward_delta",
    "layer_gradient",
    "forward_pass",
    "backward_pass",
    "train_epoch",
    "train_epoch_threaded",
    "uses_layer_threads",
    "forward_pass_threaded",
    "train_epoch_per_sample",
    "train_epoch_per_sample_shared",
    "train_epoch_shared",
    "use_shared_epoch",
    "shuffle_order",
    "all_finite",
    "layer_weights",
    "layer_biases",
    "workspace_size",
]


# ---------------------------------------------------------------------------
# Scalars of the network's dtype
# ---------------------------------------------------------------------------
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
    e = p * _POWERS_OF_TWO_FLOAT32[np.int32(n) + 150]
    s = one / (one + e)
    return s if z >= 0 else e * s


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
    e = (p * _POWERS_OF_TWO_FLOAT64[np.int64(n) + 1080]) * 5.421010862427522e-20  # 2^-64
    s = 1.0 / (1.0 + e)
    return s if z >= 0 else e * s


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


# ---------------------------------------------------------------------------
# Layer kernels: one equation each
# ---------------------------------------------------------------------------
@jit
def _weighted_sums_block(w, x, out, n0, j_begin, j_end):
    """out[n, j] = sum_k w[j, k] x[n, k] for the samples n = n0..n0+3 and
    the rows j = j_begin..j_end-1.

    Four rows j and four samples share one pass over k: each w_jk loaded
    serves four samples and each x_k four rows, sixteen independent sums in
    flight, so the loop is bound by multiply-adds rather than by loads.
    w: (J, K); x: (m, K); out: (m, J).
    """
    prefer_wide_vectors()
    n_j, n_k = w.shape
    zero = cast_like(0.0, w)
    n1, n2, n3 = n0 + 1, n0 + 2, n0 + 3
    j = j_begin
    while j + 4 <= j_end:
        j1, j2, j3 = j + 1, j + 2, j + 3
        z00 = zero
        z01 = zero
        z02 = zero
        z03 = zero
        z10 = zero
        z11 = zero
        z12 = zero
        z13 = zero
        z20 = zero
        z21 = zero
        z22 = zero
        z23 = zero
        z30 = zero
        z31 = zero
        z32 = zero
        z33 = zero
        for k in range(n_k):
            w0 = w[j, k]
            w1 = w[j1, k]
            w2 = w[j2, k]
            w3 = w[j3, k]
            x0 = x[n0, k]
            x1 = x[n1, k]
            x2 = x[n2, k]
            x3 = x[n3, k]
            z00 += w0 * x0
            z01 += w0 * x1
            z02 += w0 * x2
            z03 += w0 * x3
            z10 += w1 * x0
            z11 += w1 * x1
            z12 += w1 * x2
            z13 += w1 * x3
            z20 += w2 * x0
            z21 += w2 * x1
            z22 += w2 * x2
            z23 += w2 * x3
            z30 += w3 * x0
            z31 += w3 * x1
            z32 += w3 * x2
            z33 += w3 * x3
        out[n0, j] = z00
        out[n1, j] = z01
        out[n2, j] = z02
        out[n3, j] = z03
        out[n0, j1] = z10
        out[n1, j1] = z11
        out[n2, j1] = z12
        out[n3, j1] = z13
        out[n0, j2] = z20
        out[n1, j2] = z21
        out[n2, j2] = z22
        out[n3, j2] = z23
        out[n0, j3] = z30
        out[n1, j3] = z31
        out[n2, j3] = z32
        out[n3, j3] = z33
        j += 4
    while j < j_end:
        z0 = zero
        z1 = zero
        z2 = zero
        z3 = zero
        for k in range(n_k):
            w0 = w[j, k]
            z0 += w0 * x[n0, k]
            z1 += w0 * x[n1, k]
            z2 += w0 * x[n2, k]
            z3 += w0 * x[n3, k]
        out[n0, j] = z0
        out[n1, j] = z1
        out[n2, j] = z2
        out[n3, j] = z3
        j += 1


@jit
def _weighted_sums_six(w, x, out, n0, j_begin, j_end):
    """out[n, j] = sum_k w[j, k] x[n, k] for the samples n = n0..n0+5 and
    the rows j = j_begin..j_end-1.

    Four rows j and six samples share one pass over k: 24 independent sums,
    each w_jk loaded serving six samples and each x_k four rows. Sized for
    the 32 vector registers of AVX-512 (see FORWARD_BLOCK).
    w: (J, K); x: (m, K); out: (m, J).
    """
    prefer_wide_vectors()
    n_j, n_k = w.shape
    zero = cast_like(0.0, w)
    n1, n2, n3, n4, n5 = n0 + 1, n0 + 2, n0 + 3, n0 + 4, n0 + 5
    j = j_begin
    while j + 4 <= j_end:
        j1, j2, j3 = j + 1, j + 2, j + 3
        z00 = z01 = z02 = z03 = z04 = z05 = zero
        z10 = z11 = z12 = z13 = z14 = z15 = zero
        z20 = z21 = z22 = z23 = z24 = z25 = zero
        z30 = z31 = z32 = z33 = z34 = z35 = zero
        for k in range(n_k):
            w0 = w[j, k]
            w1 = w[j1, k]
            w2 = w[j2, k]
            w3 = w[j3, k]
            x0 = x[n0, k]
            x1 = x[n1, k]
            x2 = x[n2, k]
            x3 = x[n3, k]
            x4 = x[n4, k]
            x5 = x[n5, k]
            z00 += w0 * x0
            z01 += w0 * x1
            z02 += w0 * x2
            z03 += w0 * x3
            z04 += w0 * x4
            z05 += w0 * x5
            z10 += w1 * x0
            z11 += w1 * x1
            z12 += w1 * x2
            z13 += w1 * x3
            z14 += w1 * x4
            z15 += w1 * x5
            z20 += w2 * x0
            z21 += w2 * x1
            z22 += w2 * x2
            z23 += w2 * x3
            z24 += w2 * x4
            z25 += w2 * x5
            z30 += w3 * x0
            z31 += w3 * x1
            z32 += w3 * x2
            z33 += w3 * x3
            z34 += w3 * x4
            z35 += w3 * x5
        out[n0, j], out[n1, j], out[n2, j] = z00, z01, z02
        out[n3, j], out[n4, j], out[n5, j] = z03, z04, z05
        out[n0, j1], out[n1, j1], out[n2, j1] = z10, z11, z12
        out[n3, j1], out[n4, j1], out[n5, j1] = z13, z14, z15
        out[n0, j2], out[n1, j2], out[n2, j2] = z20, z21, z22
        out[n3, j2], out[n4, j2], out[n5, j2] = z23, z24, z25
        out[n0, j3], out[n1, j3], out[n2, j3] = z30, z31, z32
        out[n3, j3], out[n4, j3], out[n5, j3] = z33, z34, z35
        j += 4
    while j < j_end:
        z0 = z1 = z2 = z3 = z4 = z5 = zero
        for k in range(n_k):
            w0 = w[j, k]
            z0 += w0 * x[n0, k]
            z1 += w0 * x[n1, k]
            z2 += w0 * x[n2, k]
            z3 += w0 * x[n3, k]
            z4 += w0 * x[n4, k]
            z5 += w0 * x[n5, k]
        out[n0, j], out[n1, j], out[n2, j] = z0, z1, z2
        out[n3, j], out[n4, j], out[n5, j] = z3, z4, z5
        j += 1


@jit
def _weighted_sums_sample(w, x, out, n, j_begin, j_end):
    """out[n, j] = sum_k w[j, k] x[n, k] for the single sample n and the rows
    j = j_begin..j_end-1.

    Four rows j per pass over k: four independent sums keep the multiply-add
    units busy where one sum would wait on each addition's latency.
    """
    n_j, n_k = w.shape
    zero = cast_like(0.0, w)
    j = j_begin
    while j + 4 <= j_end:
        z0 = zero
        z1 = zero
        z2 = zero
        z3 = zero
        for k in range(n_k):
            x_k = x[n, k]
            z0 += w[j, k] * x_k
            z1 += w[j + 1, k] * x_k
            z2 += w[j + 2, k] * x_k
            z3 += w[j + 3, k] * x_k
        out[n, j] = z0
        out[n, j + 1] = z1
        out[n, j + 2] = z2
        out[n, j + 3] = z3
        j += 4
    while j < j_end:
        z = zero
        for k in range(n_k):
            z += w[j, k] * x[n, k]
        out[n, j] = z
        j += 1


@jit
def _activate_rows(b, a, n_begin, n_end, j_begin, j_end):
    """a[n, j] <- f(z[n, j] + b[j]) for the samples n_begin..n_end-1 and the
    neurons j_begin..j_end-1, which hold weighted sums."""
    # (Slices, so that the loop index starts at 0: see _deferred_step.)
    bias = b[j_begin:j_end]
    for n in range(n_begin, n_end):
        row = a[n, j_begin:j_end]
        for j in range(row.shape[0]):
            row[j] = sigmoid_in_loop(row[j] + bias[j])


@jit
def _forward_blocks(m):
    """Split m samples into blocks of six and of four, and single samples.

    Returns (n_six, n_four, n_single) with 6 n_six + 4 n_four + n_single = m
    and as few single samples as possible (one if m is odd; m itself if
    m = 2 or 3): a single sample runs at a fraction of a block's speed.
    """
    n_single = m % 2
    even = m - n_single
    n_six = even // 6
    rest = even - 6 * n_six
    if rest == 2:
        if n_six > 0:
            n_six -= 1
            rest = 8
        else:
            rest = 0
            n_single += 2
    return n_six, rest // 4, n_single


@jit
def _forward_block_start(block, n_six):
    """First sample of block ``block``: the n_six blocks of six come first,
    then those of four."""
    if block <= n_six:
        return 6 * block
    return 6 * n_six + 4 * (block - n_six)


@jit(inline=True)
def _forward_block(w, b, a_prev, a, block, n_six, j_begin, j_end):
    """Weighted sums and activations of one block of _forward_blocks, for
    the neurons j_begin..j_end-1."""
    n0 = _forward_block_start(block, n_six)
    n1 = _forward_block_start(block + 1, n_six)
    if n1 - n0 == FORWARD_BLOCK:
        _weighted_sums_six(w, a_prev, a, n0, j_begin, j_end)
    else:
        _weighted_sums_block(w, a_prev, a, n0, j_begin, j_end)
    _activate_rows(b, a, n0, n1, j_begin, j_end)


@jit(inline=True)
def _forward_rows(w, b, a_prev, a, j_begin, j_end):
    """The whole batch through the neurons j_begin..j_end-1 of layer i."""
    m = a_prev.shape[0]
    n_six, n_four, n_single = _forward_blocks(m)
    n_blocks = n_six + n_four
    for block in range(n_blocks):
        _forward_block(w, b, a_prev, a, block, n_six, j_begin, j_end)
    for n in range(m - n_single, m):
        _weighted_sums_sample(w, a_prev, a, n, j_begin, j_end)
        _activate_rows(b, a, n, n + 1, j_begin, j_end)


@jit(parallel=True)
def forward_layer(w, b, a_prev, a):
    """Weighted sum and activation of layer i for a batch.

    z[n, j] = sum_k w[j, k] a_prev[n, k] + b[j];  a[n, j] = f(z[n, j])

    w: (L_i, L_{i-1}); b: (L_i,); a_prev: (m, L_{i-1}); a: (m, L_i), written.
    The batch is split into blocks of six and four samples (_forward_blocks);
    an odd sample is done alone.

    When the layer has enough work, each thread takes the neurons j whose
    weights it steps in layer_gradient (the same contiguous share of the
    rows), not a share of the samples: the rows of w a thread reads here
    are then the ones in its own cache, where the gradient step left them,
    instead of half of them being fetched from the other core. Each z[n, j]
    is summed by the same code whatever the share (shares start at
    multiples of four rows), so results do not depend on the thread count.
    """
    n_j = w.shape[0]
    # Parts of sixteen rows: numba hands each thread the same contiguous
    # share of them as of layer_gradient's eight-row groups (for two
    # threads and 256 rows: rows 0-127 and 128-255 in both).
    n_parts = n_j // 16
    if a_prev.shape[0] * n_j * w.shape[1] >= PARALLEL_MIN_WORK and n_parts > 1:
        for part in prange(n_parts):
            j_end = n_j if part == n_parts - 1 else 16 * (part + 1)
            _forward_rows(w, b, a_prev, a, 16 * part, j_end)
    else:
        _forward_rows(w, b, a_prev, a, np.int64(0), n_j)


@jit
def output_delta(a, y, delta):
    """dC/dz_j^(l) = (a_j - y_j) f'(z_j) for every sample; returns sum_n C_n.

    a, y, delta: (m, L_l); delta is written. C_n = 1/2 sum_j (y_j - a_j)^2.
    """
    m, n_j = a.shape
    one = cast_like(1.0, a)
    half = cast_like(0.5, a)
    cost = cast_like(0.0, a)
    for n in range(m):
        for j in range(n_j):
            a_nj = a[n, j]
            diff = a_nj - y[n, j]
            cost += half * diff * diff
            delta[n, j] = diff * a_nj * (one - a_nj)
    return cost


@jit
def _scale_by_sigmoid_prime(a_prev, delta_prev, n_begin, n_end):
    """delta_prev[n, k] *= f'(z_k) = a_k (1 - a_k) for rows n_begin..n_end-1."""
    one = cast_like(1.0, a_prev)
    for n in range(n_begin, n_end):
        for k in range(a_prev.shape[1]):
            a_nk = a_prev[n, k]
            delta_prev[n, k] *= a_nk * (one - a_nk)


@jit
def _backward_sums_block(w, delta, delta_prev, n0):
    """delta_prev[n, k] = sum_j delta[n, j] w[j, k] for the samples n = n0..n0+3.

    The sum over j is taken as rows of w added into the four rows of
    delta_prev, four rows j per pass over k: each w_jk loaded serves four
    samples and each delta_prev element is loaded and stored once per
    sixteen products. Vectorized over k, so it needs no transposed copy of w
    and stays efficient when layer i is narrow (the output layer).
    w: (J, K); delta: (m, J); delta_prev: (m, K).
    """
    prefer_wide_vectors()
    n_j, n_k = w.shape
    p0 = delta_prev[n0]
    p1 = delta_prev[n0 + 1]
    p2 = delta_prev[n0 + 2]
    p3 = delta_prev[n0 + 3]
    for k in range(n_k):
        p0[k] = 0
        p1[k] = 0
        p2[k] = 0
        p3[k] = 0
    n1, n2, n3 = n0 + 1, n0 + 2, n0 + 3
    j = 0
    while j + 4 <= n_j:
        j1, j2, j3 = j + 1, j + 2, j + 3
        d00, d01, d02, d03 = delta[n0, j], delta[n0, j1], delta[n0, j2], delta[n0, j3]
        d10, d11, d12, d13 = delta[n1, j], delta[n1, j1], delta[n1, j2], delta[n1, j3]
        d20, d21, d22, d23 = delta[n2, j], delta[n2, j1], delta[n2, j2], delta[n2, j3]
        d30, d31, d32, d33 = delta[n3, j], delta[n3, j1], delta[n3, j2], delta[n3, j3]
        for k in range(n_k):
            w0 = w[j, k]
            w1 = w[j1, k]
            w2 = w[j2, k]
            w3 = w[j3, k]
            p0[k] += d00 * w0 + d01 * w1 + d02 * w2 + d03 * w3
            p1[k] += d10 * w0 + d11 * w1 + d12 * w2 + d13 * w3
            p2[k] += d20 * w0 + d21 * w1 + d22 * w2 + d23 * w3
            p3[k] += d30 * w0 + d31 * w1 + d32 * w2 + d33 * w3
        j += 4
    while j < n_j:
        d0, d1, d2, d3 = delta[n0, j], delta[n1, j], delta[n2, j], delta[n3, j]
        for k in range(n_k):
            w0 = w[j, k]
            p0[k] += d0 * w0
            p1[k] += d1 * w0
            p2[k] += d2 * w0
            p3[k] += d3 * w0
        j += 1


@jit
def _backward_sums_sample(w, delta, delta_prev, n):
    """delta_prev[n, k] = sum_j delta[n, j] w[j, k] for the single sample n."""
    n_j, n_k = w.shape
    p = delta_prev[n]
    for k in range(n_k):
        p[k] = 0
    for j in range(n_j):
        d = delta[n, j]
        for k in range(n_k):
            p[k] += d * w[j, k]


@jit(parallel=True)
def backward_delta(w, delta, a_prev, delta_prev):
    """The backward recursion from layer i to layer i-1.

    dC/dz_k^(i-1) = f'(z_k^(i-1)) sum_j dC/dz_j^(i) w_jk^(i)

    with f'(z_k^(i-1)) = a_k^(i-1) (1 - a_k^(i-1)). The sum runs over the
    neurons j of layer i, the layer *after* k (the document's version sums
    over the wrong layer; docs/theory.md, erratum 2).

    w: (L_i, L_{i-1}); delta: (m, L_i); a_prev: (m, L_{i-1});
    delta_prev: (m, L_{i-1}), written. Blocks of four samples go to the
    threads as in forward_layer.
    """
    m = delta.shape[0]
    if m * w.shape[0] * w.shape[1] >= PARALLEL_MIN_WORK:
        n_blocks = m // SAMPLE_BLOCK
        for block in prange(n_blocks):
            n0 = block * SAMPLE_BLOCK
            _backward_sums_block(w, delta, delta_prev, n0)
            _scale_by_sigmoid_prime(a_prev, delta_prev, n0, n0 + SAMPLE_BLOCK)
        _backward_delta_samples(w, delta, a_prev, delta_prev, n_blocks * SAMPLE_BLOCK)
    else:
        _backward_delta_samples(w, delta, a_prev, delta_prev, np.int64(0))


@jit(inline=True)
def _backward_delta_samples(w, delta, a_prev, delta_prev, n_begin):
    """backward_delta in one thread for the samples n_begin..m-1 (n_begin a
    multiple of four): blocks of four, then single samples."""
    m = delta.shape[0]
    n0 = n_begin
    while n0 + SAMPLE_BLOCK <= m:
        _backward_sums_block(w, delta, delta_prev, n0)
        _scale_by_sigmoid_prime(a_prev, delta_prev, n0, n0 + SAMPLE_BLOCK)
        n0 += SAMPLE_BLOCK
    for n in range(n0, m):
        _backward_sums_sample(w, delta, delta_prev, n)
        _scale_by_sigmoid_prime(a_prev, delta_prev, n, n + 1)


@jit
def _finish_gradient_rows(delta, w, b, grad_w, grad_b, scale, eta, j_begin, j_end):
    """Bias gradient, the 1/m scale and (eta != 0) the step for the rows
    j_begin..j_end-1, whose weight gradients are summed.

    The bias sums are taken along the rows of delta (contiguous in j), all
    rows at once: taken down one column per row, they cost more than the
    rest of a group of eight rows at m = 8 (2 of its 2.5 us at 16 columns).
    """
    bias = grad_b[j_begin:j_end]
    for r in range(bias.shape[0]):
        bias[r] = 0
    for n in range(delta.shape[0]):
        row = delta[n, j_begin:j_end]
        for r in range(bias.shape[0]):
            bias[r] += row[r]
    for r in range(bias.shape[0]):
        bias[r] *= scale
    for j in range(j_begin, j_end):
        g = grad_w[j]
        if eta != 0:
            # The weights of layer i are no longer needed by the backward
            # pass (delta^(i-1) was computed before this), so the step is
            # taken while the gradient row is still in L1.
            for k in range(g.shape[0]):
                g[k] *= scale
                w[j, k] -= eta * g[k]
            b[j] -= eta * grad_b[j]
        else:
            for k in range(g.shape[0]):
                g[k] *= scale


@jit
def _gradient_row(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j):
    """Row j of dC/dw and dC/db summed over the batch; see layer_gradient."""
    m, n_k = a_prev.shape
    g = grad_w[j]
    for k in range(n_k):
        g[k] = 0
    n = 0
    # Four samples per pass: each gradient element is loaded and stored once
    # for four products.
    while n + SAMPLE_BLOCK <= m:
        d0 = delta[n, j]
        d1 = delta[n + 1, j]
        d2 = delta[n + 2, j]
        d3 = delta[n + 3, j]
        for k in range(n_k):
            g[k] += (d0 * a_prev[n, k] + d1 * a_prev[n + 1, k]
                     + d2 * a_prev[n + 2, k] + d3 * a_prev[n + 3, k])
        n += SAMPLE_BLOCK
    while n < m:
        d = delta[n, j]
        for k in range(n_k):
            g[k] += d * a_prev[n, k]
        n += 1
    _finish_gradient_rows(delta, w, b, grad_w, grad_b, scale, eta, j, j + 1)


@jit
def _gradient_row_quad(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j):
    """Rows j..j+3 together: each a_k^(i-1) loaded serves four rows, and each
    gradient element is loaded and stored once per four samples."""
    m, n_k = a_prev.shape
    g0 = grad_w[j]
    g1 = grad_w[j + 1]
    g2 = grad_w[j + 2]
    g3 = grad_w[j + 3]
    for k in range(n_k):
        g0[k] = 0
        g1[k] = 0
        g2[k] = 0
        g3[k] = 0
    n = 0
    while n + SAMPLE_BLOCK <= m:
        n1, n2, n3 = n + 1, n + 2, n + 3
        d00, d01, d02, d03 = delta[n, j], delta[n1, j], delta[n2, j], delta[n3, j]
        d10, d11, d12, d13 = delta[n, j + 1], delta[n1, j + 1], delta[n2, j + 1], delta[n3, j + 1]
        d20, d21, d22, d23 = delta[n, j + 2], delta[n1, j + 2], delta[n2, j + 2], delta[n3, j + 2]
        d30, d31, d32, d33 = delta[n, j + 3], delta[n1, j + 3], delta[n2, j + 3], delta[n3, j + 3]
        for k in range(n_k):
            x0 = a_prev[n, k]
            x1 = a_prev[n1, k]
            x2 = a_prev[n2, k]
            x3 = a_prev[n3, k]
            g0[k] += d00 * x0 + d01 * x1 + d02 * x2 + d03 * x3
            g1[k] += d10 * x0 + d11 * x1 + d12 * x2 + d13 * x3
            g2[k] += d20 * x0 + d21 * x1 + d22 * x2 + d23 * x3
            g3[k] += d30 * x0 + d31 * x1 + d32 * x2 + d33 * x3
        n += SAMPLE_BLOCK
    while n < m:
        d0, d1, d2, d3 = delta[n, j], delta[n, j + 1], delta[n, j + 2], delta[n, j + 3]
        for k in range(n_k):
            x = a_prev[n, k]
            g0[k] += d0 * x
            g1[k] += d1 * x
            g2[k] += d2 * x
            g3[k] += d3 * x
        n += 1
    _finish_gradient_rows(delta, w, b, grad_w, grad_b, scale, eta, j, j + 4)


@jit
def _gradient_row_octet(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j):
    """Rows j..j+7 together, four samples per pass: each a_k^(i-1) loaded
    serves eight rows, and each gradient element is loaded and stored once
    per four products. Eight rows measured 1.3x faster than four with
    512-bit vectors (docs/performance.md)."""
    prefer_wide_vectors()
    m, n_k = a_prev.shape
    g0 = grad_w[j]
    g1 = grad_w[j + 1]
    g2 = grad_w[j + 2]
    g3 = grad_w[j + 3]
    g4 = grad_w[j + 4]
    g5 = grad_w[j + 5]
    g6 = grad_w[j + 6]
    g7 = grad_w[j + 7]
    for k in range(n_k):
        g0[k] = 0
        g1[k] = 0
        g2[k] = 0
        g3[k] = 0
        g4[k] = 0
        g5[k] = 0
        g6[k] = 0
        g7[k] = 0
    n = 0
    while n + SAMPLE_BLOCK <= m:
        n1, n2, n3 = n + 1, n + 2, n + 3
        d00, d01, d02, d03 = delta[n, j], delta[n1, j], delta[n2, j], delta[n3, j]
        d10, d11, d12, d13 = delta[n, j + 1], delta[n1, j + 1], delta[n2, j + 1], delta[n3, j + 1]
        d20, d21, d22, d23 = delta[n, j + 2], delta[n1, j + 2], delta[n2, j + 2], delta[n3, j + 2]
        d30, d31, d32, d33 = delta[n, j + 3], delta[n1, j + 3], delta[n2, j + 3], delta[n3, j + 3]
        d40, d41, d42, d43 = delta[n, j + 4], delta[n1, j + 4], delta[n2, j + 4], delta[n3, j + 4]
        d50, d51, d52, d53 = delta[n, j + 5], delta[n1, j + 5], delta[n2, j + 5], delta[n3, j + 5]
        d60, d61, d62, d63 = delta[n, j + 6], delta[n1, j + 6], delta[n2, j + 6], delta[n3, j + 6]
        d70, d71, d72, d73 = delta[n, j + 7], delta[n1, j + 7], delta[n2, j + 7], delta[n3, j + 7]
        for k in range(n_k):
            x0 = a_prev[n, k]
            x1 = a_prev[n1, k]
            x2 = a_prev[n2, k]
            x3 = a_prev[n3, k]
            g0[k] += d00 * x0 + d01 * x1 + d02 * x2 + d03 * x3
            g1[k] += d10 * x0 + d11 * x1 + d12 * x2 + d13 * x3
            g2[k] += d20 * x0 + d21 * x1 + d22 * x2 + d23 * x3
            g3[k] += d30 * x0 + d31 * x1 + d32 * x2 + d33 * x3
            g4[k] += d40 * x0 + d41 * x1 + d42 * x2 + d43 * x3
            g5[k] += d50 * x0 + d51 * x1 + d52 * x2 + d53 * x3
            g6[k] += d60 * x0 + d61 * x1 + d62 * x2 + d63 * x3
            g7[k] += d70 * x0 + d71 * x1 + d72 * x2 + d73 * x3
        n += SAMPLE_BLOCK
    if n + 2 <= m:
        # Two samples left (a batch of 10 has two after its two blocks):
        # one pass for both halves the loads and stores of the gradient rows.
        n1 = n + 1
        d00, d01, d10, d11 = delta[n, j], delta[n1, j], delta[n, j + 1], delta[n1, j + 1]
        d20, d21, d30, d31 = delta[n, j + 2], delta[n1, j + 2], delta[n, j + 3], delta[n1, j + 3]
        d40, d41, d50, d51 = delta[n, j + 4], delta[n1, j + 4], delta[n, j + 5], delta[n1, j + 5]
        d60, d61, d70, d71 = delta[n, j + 6], delta[n1, j + 6], delta[n, j + 7], delta[n1, j + 7]
        for k in range(n_k):
            x0 = a_prev[n, k]
            x1 = a_prev[n1, k]
            g0[k] += d00 * x0 + d01 * x1
            g1[k] += d10 * x0 + d11 * x1
            g2[k] += d20 * x0 + d21 * x1
            g3[k] += d30 * x0 + d31 * x1
            g4[k] += d40 * x0 + d41 * x1
            g5[k] += d50 * x0 + d51 * x1
            g6[k] += d60 * x0 + d61 * x1
            g7[k] += d70 * x0 + d71 * x1
        n += 2
    while n < m:
        d0, d1, d2, d3 = delta[n, j], delta[n, j + 1], delta[n, j + 2], delta[n, j + 3]
        d4, d5, d6, d7 = delta[n, j + 4], delta[n, j + 5], delta[n, j + 6], delta[n, j + 7]
        for k in range(n_k):
            x = a_prev[n, k]
            g0[k] += d0 * x
            g1[k] += d1 * x
            g2[k] += d2 * x
            g3[k] += d3 * x
            g4[k] += d4 * x
            g5[k] += d5 * x
            g6[k] += d6 * x
            g7[k] += d7 * x
        n += 1
    _finish_gradient_rows(delta, w, b, grad_w, grad_b, scale, eta, j, j + 8)


@jit(parallel=True)
def layer_gradient(delta, a_prev, w, b, grad_w, grad_b, scale, eta):
    """Gradient of layer i, scaled, and optionally the descent step.

    dC/dw_jk^(i) = scale * sum_n dC/dz_j^(i)[n] a_k^(i-1)[n]
    dC/db_j^(i)  = scale * sum_n dC/dz_j^(i)[n]

    (the document writes dC/dw_j and a_j; the weight has two indices and the
    activation is that of neuron k of layer i-1: docs/theory.md, erratum 3).
    With ``scale = 1/m`` this is the mean over the batch. If ``eta != 0`` the
    step w <- w - eta * dC/dw, b <- b - eta * dC/db follows.

    delta: (m, L_i); a_prev: (m, L_{i-1}); w, grad_w: (L_i, L_{i-1});
    b, grad_b: (L_i,). grad_w and grad_b are written; w and b when eta != 0.
    Threads split the rows j (in eights), so no two threads write the same
    element and no sum is split between threads. Rows past the last eight
    go four, then one, at a time.
    """
    scale = cast_like(scale, w)
    eta = cast_like(eta, w)
    n_j, n_k = w.shape
    n_octets = n_j // 8
    if a_prev.shape[0] * n_j * n_k >= PARALLEL_MIN_WORK:
        for octet in prange(n_octets):
            _gradient_row_octet(delta, a_prev, w, b, grad_w, grad_b, scale, eta, 8 * octet)
        _gradient_rows(delta, a_prev, w, b, grad_w, grad_b, scale, eta, 8 * n_octets, n_j)
    else:
        _gradient_rows(delta, a_prev, w, b, grad_w, grad_b, scale, eta, np.int64(0), n_j)


@jit(inline=True)
def _gradient_rows(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j_begin, j_end):
    """layer_gradient in one thread for the rows j_begin..j_end-1 (j_begin a
    multiple of eight; scale and eta already of w's dtype): eight rows at a
    time, then four, then one. Each row is summed the same way whichever
    rows share the call."""
    j = j_begin
    while j + 8 <= j_end:
        _gradient_row_octet(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j)
        j += 8
    if j + 4 <= j_end:
        _gradient_row_quad(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j)
        j += 4
    while j < j_end:
        _gradient_row(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j)
        j += 1


# ---------------------------------------------------------------------------
# The network as a whole: parameters and work buffers laid out by `sizes`
# ---------------------------------------------------------------------------
@jit
def layer_weights(params, sizes, i):
    """View of w^(i), shape (L_i, L_{i-1}), inside the flat parameter vector.

    The vector holds every weight of layer 1 (row-major j, k), then of layer
    2, ..., then every bias of layer 1, 2, ...: the order of the document's
    gradient vector.
    """
    return _flat_weights(params, sizes, i).reshape((sizes[i], sizes[i - 1]))


@jit
def _flat_weights(params, sizes, i):
    """w^(i) as a flat slice: w_jk at [j * L_{i-1} + k]."""
    start = 0
    for h in range(1, i):
        start += sizes[h] * sizes[h - 1]
    return params[start:start + sizes[i] * sizes[i - 1]]


@jit
def layer_biases(params, sizes, i):
    """View of b^(i), shape (L_i,), inside the flat parameter vector."""
    start = 0
    for h in range(1, len(sizes)):
        start += sizes[h] * sizes[h - 1]
    for h in range(1, i):
        start += sizes[h]
    return params[start:start + sizes[i]]


@jit
def _slot_start(sizes, i, capacity):
    """Where layer i's rows begin in a buffer with capacity rows per layer."""
    start = 0
    for h in range(i):
        start += capacity * sizes[h]
    return start


@jit
def _layer_rows(buffer, sizes, i, m, capacity):
    """Rows (m, L_i) of layer i in a buffer with capacity rows per layer."""
    start = _slot_start(sizes, i, capacity)
    return buffer[start:start + m * sizes[i]].reshape((m, sizes[i]))


def workspace_size(sizes, capacity):
    """Length of the activation buffer for ``capacity`` samples: sum_i m L_i.

    The delta buffer has the same length (its layer-0 slot is unused).
    """
    return int(capacity) * int(np.sum(sizes))


@jit
def forward_pass(params, sizes, activations, m, capacity):
    """Feed the m samples in activation slot 0 through every layer, in one
    thread (forward_pass_threaded splits big layers between threads).

    activations: flat buffer of ``workspace_size(sizes, capacity)``; slot i
    holds a^(i) of shape (m, L_i). Slot 0 must hold the inputs.
    """
    _forward_pass_from(params, sizes, _layer_rows(activations, sizes, 0, m, capacity),
                       activations, m, capacity)


@jit(inline=True)
def _forward_pass_from(params, sizes, x, activations, m, capacity):
    """forward_pass with the inputs in x, (m, L_0), instead of slot 0."""
    for i in range(1, len(sizes)):
        w = layer_weights(params, sizes, i)
        _forward_rows(w, layer_biases(params, sizes, i),
                      x if i == 1 else _layer_rows(activations, sizes, i - 1, m, capacity),
                      _layer_rows(activations, sizes, i, m, capacity), np.int64(0), w.shape[0])


@jit
def backward_pass(params, grad, sizes, activations, deltas, targets, m, capacity, eta):
    """Backpropagation for the m samples whose forward pass is in activations.

    Writes the mean gradient over the m samples into ``grad`` (laid out like
    ``params``); if ``eta != 0`` also takes the step params -= eta * grad.
    targets: (capacity, L_l), the first m rows used. Returns sum_n C_n.
    One thread; the threaded twin is _backward_pass_threaded_from.
    """
    return _backward_pass_from(params, grad, sizes, _layer_rows(activations, sizes, 0, m, capacity),
                               activations, deltas, targets, m, capacity, eta)


@jit(inline=True)
def _backward_pass_from(params, grad, sizes, x, activations, deltas, targets, m, capacity, eta):
    """backward_pass with the inputs in x, (m, L_0), instead of slot 0."""
    n_layers = len(sizes) - 1
    cost = output_delta(_layer_rows(activations, sizes, n_layers, m, capacity), targets[:m],
                        _layer_rows(deltas, sizes, n_layers, m, capacity))
    scale = cast_like(1.0 / m, params)
    eta = cast_like(eta, params)
    for i in range(n_layers, 0, -1):
        w = layer_weights(params, sizes, i)
        a_prev = x if i == 1 else _layer_rows(activations, sizes, i - 1, m, capacity)
        delta = _layer_rows(deltas, sizes, i, m, capacity)
        if i > 1:
            # delta^(i-1) needs w^(i) before its step, so it comes first.
            _backward_delta_samples(w, delta, a_prev,
                                    _layer_rows(deltas, sizes, i - 1, m, capacity), np.int64(0))
        _gradient_rows(delta, a_prev, w, layer_biases(params, sizes, i),
                       layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                       scale, eta, np.int64(0), w.shape[0])
    return cost


@jit(calls_parallel=True)
def forward_pass_threaded(params, sizes, activations, m, capacity):
    """forward_pass with every layer of at least PARALLEL_MIN_WORK
    multiply-adds split between numba's threads (forward_layer); bitwise
    the same outputs."""
    _forward_pass_threaded_from(params, sizes, _layer_rows(activations, sizes, 0, m, capacity),
                                activations, m, capacity)


@jit(calls_parallel=True, inline=True)
def _forward_pass_threaded_from(params, sizes, x, activations, m, capacity):
    """_forward_pass_from through forward_layer (threads for big layers)."""
    for i in range(1, len(sizes)):
        forward_layer(
            layer_weights(params, sizes, i),
            layer_biases(params, sizes, i),
            x if i == 1 else _layer_rows(activations, sizes, i - 1, m, capacity),
            _layer_rows(activations, sizes, i, m, capacity),
        )


@jit(calls_parallel=True, inline=True)
def _backward_pass_threaded_from(params, grad, sizes, x, activations, deltas, targets, m,
                                 capacity, eta):
    """_backward_pass_from through backward_delta and layer_gradient
    (threads for big layers): bitwise the same gradient, step and cost."""
    n_layers = len(sizes) - 1
    cost = output_delta(_layer_rows(activations, sizes, n_layers, m, capacity), targets[:m],
                        _layer_rows(deltas, sizes, n_layers, m, capacity))
    for i in range(n_layers, 0, -1):
        w = layer_weights(params, sizes, i)
        a_prev = x if i == 1 else _layer_rows(activations, sizes, i - 1, m, capacity)
        delta = _layer_rows(deltas, sizes, i, m, capacity)
        if i > 1:
            backward_delta(w, delta, a_prev, _layer_rows(deltas, sizes, i - 1, m, capacity))
        layer_gradient(delta, a_prev, w, layer_biases(params, sizes, i),
                       layer_weights(grad, sizes, i), layer_biases(grad, sizes, i), 1.0 / m, eta)
    return cost


@jit
def all_finite(values):
    """Whether every element of ``values`` (float, C-contiguous, any shape)
    is finite.

    x * 0 is 0 for a finite x and NaN for an infinite or NaN one, and the
    fastmath flags keep NaN semantics, so a sum of x * 0 is 0 exactly when
    every x is finite: one vectorized pass with no temporary array
    (np.isfinite(X).all() allocates one of X's length; for 784 x 10,000
    float64 it took 4.5-7.6 ms here, this 3.5 ms, against a 41 ms epoch).
    One thread: two took 1.4 ms, but a parallel function costs about 2 s
    of compiling per signature, and a region waits for a busy core.
    """
    flat = values.reshape(values.size)
    total = cast_like(0.0, flat)
    for i in range(flat.shape[0]):
        total += flat[i] * cast_like(0.0, flat)
    return total == 0


@jit
def shuffle_order(order, seed):
    """Fill ``order`` with a permutation of 0..len-1 drawn from ``seed``.

    Uses numba's own generator, seeded here; the same seed gives the same
    permutation in every process.
    """
    np.random.seed(seed)
    for n in range(order.shape[0]):
        order[n] = n
    np.random.shuffle(order)


@jit
def _gather_batch(inputs, targets, rows, batch_inputs, batch_targets):
    """Copy the samples ``rows`` of inputs and targets into the batch buffers."""
    for n in range(rows.shape[0]):
        source = rows[n]
        for k in range(inputs.shape[1]):
            batch_inputs[n, k] = inputs[source, k]
        for j in range(targets.shape[1]):
            batch_targets[n, j] = targets[source, j]


@jit(inline=True)
def _batch_rows(inputs, targets, order, in_order, start, m, sizes, activations, batch_size,
                batch_targets):
    """Inputs (m, L_0) and targets (m, L_l) of the batch at ``start``: the
    rows themselves when the samples are taken in order (shuffle=False),
    else copies in activation slot 0 and batch_targets."""
    if in_order:
        return inputs[start:start + m], targets[start:start + m]
    x = _layer_rows(activations, sizes, 0, m, batch_size)
    y = batch_targets[:m]
    _gather_batch(inputs, targets, order[start:start + m], x, y)
    return x, y


@jit
def train_epoch(params, grad, sizes, inputs, targets, order, batch_size, eta,
                activations, deltas, batch_targets):
    """One epoch of mini-batch gradient descent, entirely in compiled code,
    in one thread.

    For each batch of ``batch_size`` samples taken in ``order``:
    w <- w - (eta / m) sum_n dC_n/dw (likewise b).

    inputs: (N, L_0); targets: (N, L_l); order: (N,) int64 sample indices.
    activations, deltas: flat buffers of ``workspace_size(sizes, batch_size)``;
    batch_targets: (batch_size, L_l). Returns sum_n C_n, each C_n measured in
    the forward pass that produced its gradient.
    """
    # (np.float64, not 0.0: in plain Python, NUMBA_DISABLE_JIT=1, 0.0 plus
    # a float32 cost is a float32; compiled, the sum is float64 either way.)
    cost = np.float64(0.0)
    in_order = _is_identity(order)
    for start in range(0, inputs.shape[0], batch_size):
        m = min(batch_size, inputs.shape[0] - start)
        x, y = _batch_rows(inputs, targets, order, in_order, start, m, sizes, activations,
                           batch_size, batch_targets)
        _forward_pass_from(params, sizes, x, activations, m, batch_size)
        cost += _backward_pass_from(params, grad, sizes, x, activations, deltas, y, m,
                                    batch_size, eta)
    return cost


@jit(calls_parallel=True)
def train_epoch_threaded(params, grad, sizes, inputs, targets, order, batch_size, eta,
                         activations, deltas, batch_targets):
    """train_epoch with the layers of at least PARALLEL_MIN_WORK multiply-adds
    per batch split between numba's threads (forward_layer, backward_delta,
    layer_gradient): bitwise the same steps and cost. Same arguments."""
    cost = np.float64(0.0)
    in_order = _is_identity(order)
    for start in range(0, inputs.shape[0], batch_size):
        m = min(batch_size, inputs.shape[0] - start)
        x, y = _batch_rows(inputs, targets, order, in_order, start, m, sizes, activations,
                           batch_size, batch_targets)
        _forward_pass_threaded_from(params, sizes, x, activations, m, batch_size)
        cost += _backward_pass_threaded_from(params, grad, sizes, x, activations, deltas, y, m,
                                             batch_size, eta)
    return cost


def uses_layer_threads(sizes, batch_size):
    """Whether some layer has at least PARALLEL_MIN_WORK multiply-adds per
    batch, so that train_epoch_threaded / forward_pass_threaded would split
    it between threads (else they do what the one-thread kernels do)."""
    return any(int(batch_size) * int(sizes[i]) * int(sizes[i - 1]) >= PARALLEL_MIN_WORK
               for i in range(1, len(sizes)))


# ---------------------------------------------------------------------------
# Mini-batch epochs with the threads kept inside one parallel region
# ---------------------------------------------------------------------------
# Layer 1 goes to train_epoch_shared (instead of train_epoch) when it has at
# least this many multiply-adds per batch (m * L_1 * L_0) and every later
# layer together at most 1/SHARED_MAX_TAIL_SHARE of them: the later layers
# run in one thread there.
SHARED_MIN_WORK = 20_000
SHARED_MAX_TAIL_SHARE = 8
# Layer 1's rows are handed out in parts of this many (a multiple of eight).
ROWS_PER_PART = 16


def use_shared_epoch(sizes, batch_size):
    """Whether the shared epoch (``train_epoch_shared``, or for batch_size 1
    ``train_epoch_per_sample_shared``, whose layer 1 works on LOOKAHEAD
    samples at a time) is the faster path for these layers and this batch
    size (see SHARED_MIN_WORK)."""
    products = [int(sizes[i]) * int(sizes[i - 1]) for i in range(1, len(sizes))]
    samples = LOOKAHEAD if batch_size == 1 else batch_size
    return (len(products) > 1
            and samples * products[0] >= SHARED_MIN_WORK
            and SHARED_MAX_TAIL_SHARE * sum(products[1:]) <= products[0])


@jit
def _part_rows(n_j, part):
    """Rows j_begin, j_end of layer 1 in part ``part``: ROWS_PER_PART rows
    a part (the last may have fewer), each summed by the same kernels as in
    one pass over all rows (parts start at multiples of eight)."""
    return ROWS_PER_PART * part, min(ROWS_PER_PART * (part + 1), n_j)


@jit
def _n_parts(n_j):
    return (n_j + ROWS_PER_PART - 1) // ROWS_PER_PART


@jit
def _part_to_try(worker, n_workers, n_parts, attempt):
    """The part that ``worker`` tries to claim at its attempt-th try.

    Each worker first tries its own contiguous run of parts, so that in
    the usual case it steps and reads the same rows of w every batch (they
    stay in its core's cache); then every part from the last, so that a
    worker done early takes parts from the end of a slower worker's run.
    Returns -1 past the last try.
    """
    first = worker * n_parts // n_workers
    own = (worker + 1) * n_parts // n_workers - first
    if attempt < own:
        return first + attempt
    if attempt < own + n_parts:
        return n_parts - 1 - (attempt - own)
    return -1


@jit
def _batch_inputs(inputs, x_ring, in_order, batch, capacity, m):
    """The inputs of batch ``batch``: its rows of ``inputs`` themselves when
    the epoch takes the samples in order, else its copy in the ring of three
    batches (x_ring)."""
    if in_order:
        return inputs[batch * capacity:batch * capacity + m]
    first = (batch % 3) * capacity
    return x_ring[first:first + m]


@jit
def _touch(x):
    """Read one element of every 64-byte line of x (2-D, C-contiguous
    rows) and return their sum, which the caller must keep (stored, so
    that the loads are not optimised away): brings x into this core's
    cache."""
    total = 0.0
    stride = max(1, 64 // x.itemsize)
    for n in range(x.shape[0]):
        row = x[n]
        for k in range(0, row.shape[0], stride):
            total += row[k]
    return total


# A thread waiting for another spins (PAUSE) SPINS_BEFORE_YIELD times
# (about 0.1 ms), then yields its core at each try (sched_yield) for
# YIELDS_BEFORE_SLEEP more, then sleeps SLEEP_MICROSECONDS at each try: the
# thread it waits for may have no core (more threads than cores, or a busy
# machine), and a spinning or yielding waiter keeps a core from it or from
# another process's work. The other worker claims every part meanwhile, so a
# late wake-up costs nothing but this thread's share.
SPINS_BEFORE_YIELD = 2048
YIELDS_BEFORE_SLEEP = 64
SLEEP_MICROSECONDS = 50


@jit
def _new_sync(n_parts):
    """The counters of a shared epoch, one cache line (eight int64) apart:
    claimed[p] at 8 p (the last batch whose part p was claimed; -1 at the
    start), then parts done at 8 n_parts, then tails done at 8 (n_parts + 1)."""
    sync = np.zeros(8 * (n_parts + 2), np.int64)
    for part in range(n_parts):
        sync[8 * part] = -1
    return sync


@jit
def _wait_for_stage(sync, stage_index, stage):
    """Wait until sync[stage_index] >= stage: spin, then yield, then sleep."""
    tries = 0
    while load_acquire(sync, stage_index) < stage:
        if tries < SPINS_BEFORE_YIELD:
            spin_pause()
        elif tries < SPINS_BEFORE_YIELD + YIELDS_BEFORE_SLEEP:
            yield_core()
        else:
            sleep_microseconds(SLEEP_MICROSECONDS)
        tries += 1


@jit
def _is_identity(order):
    """Whether order[n] == n for every n."""
    for n in range(order.shape[0]):
        if order[n] != n:
            return False
    return True


@jit(inline=True)
def _layer1_part(params, grad, sizes, inputs, order, in_order, batch_size, batch, part,
                 n_parts, eta, x_ring, activations, deltas):
    """Part ``part`` of layer 1's work between batch-1's tail and batch's.

    For the rows of the part (_part_rows): the gradient and step of batch-1
    (its deltas are in ``deltas``), then the forward pass of batch with the
    stepped rows; and, unless the samples are taken in order (in_order), a
    share of the samples of batch+1 copied into the ring.
    """
    n_samples = inputs.shape[0]
    n_batches = (n_samples + batch_size - 1) // batch_size
    w = layer_weights(params, sizes, 1)
    b = layer_biases(params, sizes, 1)
    j_begin, j_end = _part_rows(sizes[1], part)
    if batch > 0:
        m = min(batch_size, n_samples - (batch - 1) * batch_size)
        _gradient_rows(_layer_rows(deltas, sizes, 1, m, batch_size),
                       _batch_inputs(inputs, x_ring, in_order, batch - 1, batch_size, m), w, b,
                       layer_weights(grad, sizes, 1), layer_biases(grad, sizes, 1),
                       cast_like(1.0 / m, w), cast_like(eta, w), j_begin, j_end)
    if batch < n_batches:
        m = min(batch_size, n_samples - batch * batch_size)
        _forward_rows(w, b, _batch_inputs(inputs, x_ring, in_order, batch, batch_size, m),
                      _layer_rows(activations, sizes, 1, m, batch_size), j_begin, j_end)
    if batch + 1 < n_batches and not in_order:
        start = (batch + 1) * batch_size
        m = min(batch_size, n_samples - start)
        x = _batch_inputs(inputs, x_ring, in_order, batch + 1, batch_size, m)
        for n in range(part * m // n_parts, (part + 1) * m // n_parts):
            source = order[start + n]
            for k in range(inputs.shape[1]):
                x[n, k] = inputs[source, k]


@jit(inline=True)
def _batch_tail(params, grad, sizes, targets, order, batch_size, n_samples, batch, eta,
                activations, deltas, batch_targets):
    """Everything of batch ``batch`` after layer 1's forward pass, in one
    thread: layers 2..l forward, the output delta, and backward through
    layers l..2 with their steps, leaving delta^(1) for layer 1's gradient.
    The same kernels as train_epoch's serial path. Returns sum_n C_n.
    """
    start = batch * batch_size
    m = min(batch_size, n_samples - start)
    n_layers = len(sizes) - 1
    for n in range(m):
        source = order[start + n]
        for j in range(targets.shape[1]):
            batch_targets[n, j] = targets[source, j]
    for i in range(2, n_layers + 1):
        w = layer_weights(params, sizes, i)
        _forward_rows(w, layer_biases(params, sizes, i),
                      _layer_rows(activations, sizes, i - 1, m, batch_size),
                      _layer_rows(activations, sizes, i, m, batch_size), np.int64(0),
                      w.shape[0])
    cost = output_delta(_layer_rows(activations, sizes, n_layers, m, batch_size),
                        batch_targets[:m], _layer_rows(deltas, sizes, n_layers, m, batch_size))
    scale = cast_like(1.0 / m, params)
    eta = cast_like(eta, params)
    for i in range(n_layers, 1, -1):
        w = layer_weights(params, sizes, i)
        a_prev = _layer_rows(activations, sizes, i - 1, m, batch_size)
        delta = _layer_rows(deltas, sizes, i, m, batch_size)
        _backward_delta_samples(w, delta, a_prev, _layer_rows(deltas, sizes, i - 1, m, batch_size),
                                np.int64(0))
        _gradient_rows(delta, a_prev, w, layer_biases(params, sizes, i),
                       layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                       scale, eta, np.int64(0), w.shape[0])
    return cost


def train_epoch_shared(params, grad, sizes, inputs, targets, order, batch_size, eta,
                       activations, deltas, batch_targets, x_ring, n_threads):
    """``train_epoch`` with layer 1 shared between threads kept for the whole
    epoch: the same steps, bitwise the same results, for networks whose
    layer 1 holds most of the work (``use_shared_epoch``).

    A numba parallel region costs 7.5-10 us here, which is the whole of a
    784-30-10 batch of ten. Here each thread runs the epoch's loop itself
    (_shared_epoch_worker), and the work of a batch is handed out in pieces:

    * part p of layer 1 (ROWS_PER_PART rows j, _part_rows): the
      gradient and step of the previous batch, then this batch's forward
      pass through the same rows (still in that thread's cache), and a
      share of the next batch's samples copied in;
    * the tail (``_batch_tail``): layers 2..l forward and backward, taken
      by the thread that finishes the last part of layer 1.

    The threads are plain Python threads (fastnn._threads) running the
    worker kernel without the GIL, not a numba parallel region: the worker
    compiles as an ordinary function (no parfor passes, 10-15 s less on a
    cold start) and uses none of numba's threading layers, so that any
    number of these epochs may run at once in one process.

    A part is claimed with an atomic compare-and-swap, each thread trying
    its own run of parts first, then the others' from the end
    (_part_to_try). Nothing waits on a particular thread: the calling
    thread alone runs the whole epoch when the others get no core (or
    n_threads is 1), and each piece computes the same numbers whichever
    thread takes it.

    x_ring: (3 batch_size, L_0), the inputs of the previous, current and
    next batch. n_threads: how many threads to use (the results do not
    depend on it). The other arguments are those of train_epoch (the input
    slot of ``activations`` is not used). Returns sum_n C_n.
    """
    n_parts = _n_parts(sizes[1])
    n_workers = max(1, min(int(n_threads), n_parts))
    sync = _new_sync(n_parts)
    cost = np.zeros(8 * (n_workers + 1))
    in_order = _begin_shared_epoch(inputs, order, batch_size, x_ring)
    run_workers(_shared_epoch_worker, n_workers,
                (params, grad, sizes, inputs, targets, order, in_order, batch_size, eta,
                 activations, deltas, batch_targets, x_ring, sync, cost))
    return cost[0]


@jit
def _begin_shared_epoch(inputs, order, batch_size, x_ring):
    """Copy the first batch into the ring unless the samples are taken in
    order (then every batch is read where it is); returns that in_order."""
    in_order = _is_identity(order)
    if not in_order:
        m = min(batch_size, inputs.shape[0])
        x = _batch_inputs(inputs, x_ring, in_order, 0, batch_size, m)
        for n in range(m):
            for k in range(inputs.shape[1]):
                x[n, k] = inputs[order[n], k]
    return in_order


@jit
def _shared_epoch_worker(worker, n_workers, params, grad, sizes, inputs, targets, order,
                         in_order, batch_size, eta, activations, deltas, batch_targets, x_ring,
                         sync, cost):
    """The loop of one of the n_workers threads of train_epoch_shared.

    sync: _new_sync(n_parts); cost: float64 (8 (n_workers + 1),), cost[0]
    the epoch's sum_n C_n (added by whichever thread runs a tail, one at a
    time), cost[8 (worker + 1)] this worker's _touch sum (kept so that its
    loads are not optimised away).
    """
    n_samples = inputs.shape[0]
    n_batches = (n_samples + batch_size - 1) // batch_size
    n_parts = _n_parts(sizes[1])
    done_index = 8 * n_parts
    stage_index = done_index + 8
    touched = 0.0
    for batch in range(n_batches + 1):
        if batch < n_batches and load_acquire(sync, stage_index) < batch:
            # While another thread runs the tail, fetch this batch's
            # inputs (read by every part) into this core's cache.
            m = min(batch_size, n_samples - batch * batch_size)
            touched += _touch(_batch_inputs(inputs, x_ring, in_order, batch, batch_size, m))
        _wait_for_stage(sync, stage_index, batch)
        attempt = 0
        part = _part_to_try(worker, n_workers, n_parts, attempt)
        while part >= 0:
            if compare_exchange(sync, 8 * part, batch - 1, batch):
                _layer1_part(params, grad, sizes, inputs, order, in_order, batch_size,
                             batch, part, n_parts, eta, x_ring, activations, deltas)
                if fetch_add(sync, done_index, 1) == n_parts * (batch + 1) - 1:
                    # The last part of the batch: its tail is this thread's.
                    if batch < n_batches:
                        cost[0] += _batch_tail(params, grad, sizes, targets, order,
                                               batch_size, n_samples, batch, eta,
                                               activations, deltas, batch_targets)
                    store_release(sync, stage_index, batch + 1)
            attempt += 1
            part = _part_to_try(worker, n_workers, n_parts, attempt)
    cost[8 * (worker + 1)] = touched


@jit
def _output_delta_sample(a, y, delta):
    """output_delta for one sample: a, y, delta of shape (L_l,); returns C."""
    one = cast_like(1.0, a)
    half = cast_like(0.5, a)
    cost = cast_like(0.0, a)
    for j in range(a.shape[0]):
        diff = a[j] - y[j]
        cost += half * diff * diff
        delta[j] = diff * a[j] * (one - a[j])
    return cost


# The per-sample path below takes each layer's weights as the flat slice of
# params, w_jk = w[j * L_{i-1} + k], and activations and deltas as 1-D rows:
# a 2-D view costs numba a reshape call (about 30 ns), paid ~20 times per
# sample, which was a third of the time of a small network's step.
@jit
def _sample_row(buffer, sizes, i, capacity, n):
    """Row of sample n in layer i's slot of a buffer with capacity rows per layer."""
    start = _slot_start(sizes, i, capacity) + n * sizes[i]
    return buffer[start:start + sizes[i]]


@jit
def _forward_sample_flat(w, b, a_prev, a):
    """a_j = f(sum_k w_jk a_k + b_j) for one sample, four rows j per pass."""
    n_j = b.shape[0]
    n_k = a_prev.shape[0]
    zero = cast_like(0.0, w)
    j = 0
    while j + 4 <= n_j:
        r0, r1, r2, r3 = j * n_k, (j + 1) * n_k, (j + 2) * n_k, (j + 3) * n_k
        z0 = zero
        z1 = zero
        z2 = zero
        z3 = zero
        for k in range(n_k):
            x = a_prev[k]
            z0 += w[r0 + k] * x
            z1 += w[r1 + k] * x
            z2 += w[r2 + k] * x
            z3 += w[r3 + k] * x
        a[j] = sigmoid_in_loop(z0 + b[j])
        a[j + 1] = sigmoid_in_loop(z1 + b[j + 1])
        a[j + 2] = sigmoid_in_loop(z2 + b[j + 2])
        a[j + 3] = sigmoid_in_loop(z3 + b[j + 3])
        j += 4
    while j < n_j:
        row = j * n_k
        z = zero
        for k in range(n_k):
            z += w[row + k] * a_prev[k]
        a[j] = sigmoid_in_loop(z + b[j])
        j += 1


@jit
def _backward_sample(w, delta, a_prev, delta_prev):
    """dC/dz_k^(i-1) = a_k (1 - a_k) sum_j dC/dz_j^(i) w_jk for one sample."""
    n_j = delta.shape[0]
    n_k = a_prev.shape[0]
    one = cast_like(1.0, w)
    for k in range(n_k):
        delta_prev[k] = 0
    for j in range(n_j):
        d = delta[j]
        row = j * n_k
        for k in range(n_k):
            delta_prev[k] += d * w[row + k]
    for k in range(n_k):
        delta_prev[k] *= a_prev[k] * (one - a_prev[k])


@jit
def _step_and_forward(w, b, delta, a_prev, a_prev_next, a_next, eta):
    """The step of one sample fused with the weighted sum of the next.

    w_jk <- w_jk - eta dC/dz_j a_k (the per-sample gradient, never stored),
    then z_j = sum_k w_jk a'_k + b_j and a'_j = f(z_j) for the next sample
    a', in the same pass: each weight is read and written once per sample.
    Four rows j per pass, so that four independent sums are in flight and
    each a_k, a'_k loaded serves four rows. w is flat: w_jk = w[j L_{i-1} + k].
    """
    n_j = b.shape[0]
    n_k = a_prev.shape[0]
    zero = cast_like(0.0, w)
    j = 0
    while j + 4 <= n_j:
        r0, r1, r2, r3 = j * n_k, (j + 1) * n_k, (j + 2) * n_k, (j + 3) * n_k
        c0 = eta * delta[j]
        c1 = eta * delta[j + 1]
        c2 = eta * delta[j + 2]
        c3 = eta * delta[j + 3]
        z0 = zero
        z1 = zero
        z2 = zero
        z3 = zero
        for k in range(n_k):
            x = a_prev[k]
            x_next = a_prev_next[k]
            w0 = w[r0 + k] - c0 * x
            w1 = w[r1 + k] - c1 * x
            w2 = w[r2 + k] - c2 * x
            w3 = w[r3 + k] - c3 * x
            w[r0 + k] = w0
            w[r1 + k] = w1
            w[r2 + k] = w2
            w[r3 + k] = w3
            z0 += w0 * x_next
            z1 += w1 * x_next
            z2 += w2 * x_next
            z3 += w3 * x_next
        b[j] -= c0
        b[j + 1] -= c1
        b[j + 2] -= c2
        b[j + 3] -= c3
        a_next[j] = sigmoid_in_loop(z0 + b[j])
        a_next[j + 1] = sigmoid_in_loop(z1 + b[j + 1])
        a_next[j + 2] = sigmoid_in_loop(z2 + b[j + 2])
        a_next[j + 3] = sigmoid_in_loop(z3 + b[j + 3])
        j += 4
    while j < n_j:
        row = j * n_k
        c = eta * delta[j]
        z = zero
        for k in range(n_k):
            w_jk = w[row + k] - c * a_prev[k]
            w[row + k] = w_jk
            z += w_jk * a_prev_next[k]
        b[j] -= c
        a_next[j] = sigmoid_in_loop(z + b[j])
        j += 1


@jit
def _step(w, b, delta, a_prev, eta):
    """w_jk <- w_jk - eta dC/dz_j a_k and b_j <- b_j - eta dC/dz_j (one sample)."""
    n_k = a_prev.shape[0]
    for j in range(b.shape[0]):
        c = eta * delta[j]
        row = j * n_k
        for k in range(n_k):
            w[row + k] -= c * a_prev[k]
        b[j] -= c


# ---------------------------------------------------------------------------
# Per-sample SGD with layer 1's step deferred over a block of samples
# ---------------------------------------------------------------------------
@jit
def _pair_products(x, gram, m, first, stride):
    """gram[r, q] = sum_k x[r, k] x[q, k] for q < r < m (the strict lower
    triangle), for the rows r = first, first + stride, ... of it.

    x: (LOOKAHEAD, L_0); gram: (LOOKAHEAD, LOOKAHEAD), those rows written.
    """
    prefer_wide_vectors()
    zero = cast_like(0.0, x)
    n_k = x.shape[1]
    for r in range(first, m, stride):
        for q in range(r):
            total = zero
            for k in range(n_k):
                total += x[r, k] * x[q, k]
            gram[r, q] = total


@jit
def _activate_deferred(z, b, steps, gram, r):
    """a_j = f(z_j + b_j - sum_{q<r} steps[q, j] gram[r, q]) for row r of layer 1.

    z[r] holds sum_k w_jk(t0) x_k(r), the weighted sum with the weights as they
    were at the start of the block; the q-sum turns it into the weighted sum
    with the weights as the r earlier steps of the block left them (see
    train_epoch_per_sample). b is already stepped for those samples.
    z, steps: (LOOKAHEAD, L_1); gram: (LOOKAHEAD, LOOKAHEAD); z[r] is
    overwritten by a(r).
    """
    n_j = b.shape[0]
    row = z[r]
    for j in range(n_j):
        row[j] += b[j]
    for q in range(r):
        g = gram[r, q]
        for j in range(n_j):
            row[j] -= steps[q, j] * g
    for j in range(n_j):
        row[j] = sigmoid_in_loop(row[j])


@jit
def _deferred_step(w, steps, x):
    """w_jk <- w_jk - sum_q steps[q, j] x_k(q), the LOOKAHEAD per-sample steps
    of a block taken at once (steps[q, j] = eta dC_q/dz_j^(1)).

    Each w_jk is read and written once for the eight samples q, with the sum
    over q in registers. w is flat, w_jk = w[j L_0 + k]; x is flat too,
    x_k(q) = x[q L_0 + k]: with one base array for the eight rows, LLVM's
    check that the stores to w do not overlap the loads stays within its
    limit and the loop vectorizes (eight separate rows exceed it).
    steps: (LOOKAHEAD, L_1). Written out for LOOKAHEAD == 8.
    """
    n_j = steps.shape[1]
    n_k = x.shape[0] // LOOKAHEAD
    # Columns k in tiles, so that the eight x rows of a tile stay in L1 while
    # every row j passes over them (all eight rows of 784 float64 do not).
    # (Slicing at k0, so that the inner loops' index starts at 0: LLVM then
    # knows it is not negative and drops numba's wraparound test.)
    for k0 in range(0, n_k, STEP_TILE):
        width = min(STEP_TILE, n_k - k0)
        x_tile = x[k0:]
        j = 0
        # Two rows per pass: each x_k(q) loaded serves both.
        while j + 2 <= n_j:
            c0, c1, c2, c3 = steps[0, j], steps[1, j], steps[2, j], steps[3, j]
            c4, c5, c6, c7 = steps[4, j], steps[5, j], steps[6, j], steps[7, j]
            e0, e1, e2, e3 = steps[0, j + 1], steps[1, j + 1], steps[2, j + 1], steps[3, j + 1]
            e4, e5, e6, e7 = steps[4, j + 1], steps[5, j + 1], steps[6, j + 1], steps[7, j + 1]
            w_tile = w[j * n_k + k0:]
            for k in range(width):
                x0, x1 = x_tile[k], x_tile[n_k + k]
                x2, x3 = x_tile[2 * n_k + k], x_tile[3 * n_k + k]
                x4, x5 = x_tile[4 * n_k + k], x_tile[5 * n_k + k]
                x6, x7 = x_tile[6 * n_k + k], x_tile[7 * n_k + k]
                w_tile[k] -= (((c0 * x0 + c1 * x1) + (c2 * x2 + c3 * x3))
                              + ((c4 * x4 + c5 * x5) + (c6 * x6 + c7 * x7)))
                w_tile[n_k + k] -= (((e0 * x0 + e1 * x1) + (e2 * x2 + e3 * x3))
                                    + ((e4 * x4 + e5 * x5) + (e6 * x6 + e7 * x7)))
            j += 2
        if j < n_j:
            c0, c1, c2, c3 = steps[0, j], steps[1, j], steps[2, j], steps[3, j]
            c4, c5, c6, c7 = steps[4, j], steps[5, j], steps[6, j], steps[7, j]
            w_tile = w[j * n_k + k0:]
            for k in range(width):
                w_tile[k] -= (((c0 * x_tile[k] + c1 * x_tile[n_k + k])
                               + (c2 * x_tile[2 * n_k + k] + c3 * x_tile[3 * n_k + k]))
                              + ((c4 * x_tile[4 * n_k + k] + c5 * x_tile[5 * n_k + k])
                                 + (c6 * x_tile[6 * n_k + k] + c7 * x_tile[7 * n_k + k])))


@jit
def _load_block_rows(inputs, order, start, x, r_begin, r_end):
    """Rows r_begin..r_end-1 of a block of per-sample SGD: x[r] =
    inputs[order[start + r]] for the block's samples, zero past them.
    x: (LOOKAHEAD, L_0)."""
    m = min(LOOKAHEAD, inputs.shape[0] - start)
    for r in range(r_begin, r_end):
        row = x[r]
        if r < m:
            source = order[start + r]
            for k in range(row.shape[0]):
                row[k] = inputs[source, k]
        else:
            for k in range(row.shape[0]):
                row[k] = 0


@jit(inline=True)
def _begin_block(params, sizes, inputs, order, start, activations, deltas, gram):
    """Load the samples of the block at ``start`` and compute what layer 1
    needs of them; returns the number of samples m in the block.

    x[r] = inputs[order[start + r]]; z[r] = sum_k w_jk x_k(r) with the
    weights at the block's start; gram = the pairwise products x(r).x(q).
    Rows past m (the last, short block) are zero in x (and in the steps:
    _block_tail), so that the deferred step adds nothing for them.
    """
    m = min(LOOKAHEAD, inputs.shape[0] - start)
    x = _layer_rows(activations, sizes, 0, LOOKAHEAD, LOOKAHEAD)
    z = _layer_rows(activations, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    _load_block_rows(inputs, order, start, x, 0, LOOKAHEAD)
    w = layer_weights(params, sizes, 1)
    for n0 in range(0, LOOKAHEAD, SAMPLE_BLOCK):
        _weighted_sums_block(w, x, z, n0, 0, w.shape[0])
    _pair_products(x, gram, m, 1, 1)
    return m


@jit(inline=True)
def _block_tail(params, sizes, targets, order, start, m, eta, activations, deltas, gram, cost):
    """The m samples of the block at ``start``, one after another, once
    layer 1's weighted sums (with the block's first weights) and the pair
    products are known: each sample's activations (the deferred-step
    correction), layers 2..l forward, backward, and the steps of every layer
    but layer 1's weights (those steps are left in the deltas' layer-1
    slot, and rows past m zeroed). eta is of the network's dtype.
    Returns ``cost`` + sum_r C_r (added one by one, as the epoch's sum).
    """
    n_layers = len(sizes) - 1
    b1 = layer_biases(params, sizes, 1)
    z1 = _layer_rows(activations, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    steps = _layer_rows(deltas, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    for r in range(m, LOOKAHEAD):
        for j in range(sizes[1]):
            steps[r, j] = 0
    _activate_deferred(z1, b1, steps, gram, 0)
    for i in range(2, n_layers + 1):
        _forward_sample_flat(_flat_weights(params, sizes, i), layer_biases(params, sizes, i),
                             _sample_row(activations, sizes, i - 1, LOOKAHEAD, 0),
                             _sample_row(activations, sizes, i, LOOKAHEAD, 0))
    for r in range(m):
        cost += _output_delta_sample(
            _sample_row(activations, sizes, n_layers, LOOKAHEAD, r),
            targets[order[start + r]],
            _sample_row(deltas, sizes, n_layers, LOOKAHEAD, r))
        for i in range(n_layers, 1, -1):
            _backward_sample(_flat_weights(params, sizes, i),
                             _sample_row(deltas, sizes, i, LOOKAHEAD, r),
                             _sample_row(activations, sizes, i - 1, LOOKAHEAD, r),
                             _sample_row(deltas, sizes, i - 1, LOOKAHEAD, r))
        step = steps[r]
        for j in range(step.shape[0]):
            step[j] *= eta
            b1[j] -= step[j]
        if r + 1 < m:
            _activate_deferred(z1, b1, steps, gram, r + 1)
            for i in range(2, n_layers + 1):
                _step_and_forward(_flat_weights(params, sizes, i),
                                  layer_biases(params, sizes, i),
                                  _sample_row(deltas, sizes, i, LOOKAHEAD, r),
                                  _sample_row(activations, sizes, i - 1, LOOKAHEAD, r),
                                  _sample_row(activations, sizes, i - 1, LOOKAHEAD, r + 1),
                                  _sample_row(activations, sizes, i, LOOKAHEAD, r + 1),
                                  eta)
        else:
            for i in range(2, n_layers + 1):
                _step(_flat_weights(params, sizes, i), layer_biases(params, sizes, i),
                      _sample_row(deltas, sizes, i, LOOKAHEAD, r),
                      _sample_row(activations, sizes, i - 1, LOOKAHEAD, r), eta)
    return cost


@jit
def train_epoch_per_sample(params, sizes, inputs, targets, order, eta, activations, deltas,
                           gram):
    """One epoch of per-sample SGD (batch size 1), the document's algorithm.

    For each sample t in ``order``: w <- w - eta dC_t/dw, b <- b - eta dC_t/db.
    The same steps as ``train_epoch`` with batch_size 1 (equal up to
    rounding), computed differently:

    * Layer 1, the widest, takes its steps LOOKAHEAD samples at a time. With
      w(t0) the weights at the start of a block and s(q) = eta dC_q/dz^(1)
      the step of its sample q, the weights seen by sample r of the block are
      w(t0) - sum_{q<r} s(q) x(q)^T, so their weighted sum is

          sum_k w_jk(t0) x_k(r) - sum_{q<r} s_j(q) (x(q) . x(r)).

      The first term is computed for the whole block in one blocked pass
      (each weight loaded serves four samples), the products x(q) . x(r)
      once per block, and the steps are applied together at the block's end
      (``_deferred_step``): layer 1's weights are read three times and
      written once per block instead of read and written once per sample.
    * Layers 2..l take each step at once, fused with the next sample's
      forward pass (``_step_and_forward``); the gradient is never stored.

    activations, deltas: flat buffers of ``workspace_size(sizes, LOOKAHEAD)``
    (row r of each slot for sample r of the block; layer 1's slot of deltas
    holds the steps s(q)); gram: (LOOKAHEAD, LOOKAHEAD), scratch.
    Returns sum_t C_t, each C_t measured in the forward pass of its step.
    """
    n_samples = inputs.shape[0]
    eta = cast_like(eta, params)
    cost = np.float64(0.0)
    x_flat = activations[:LOOKAHEAD * sizes[0]]
    steps = _layer_rows(deltas, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    for start in range(0, n_samples, LOOKAHEAD):
        m = _begin_block(params, sizes, inputs, order, start, activations, deltas, gram)
        cost = _block_tail(params, sizes, targets, order, start, m, eta, activations, deltas,
                           gram, cost)
        _deferred_step(_flat_weights(params, sizes, 1), steps, x_flat)
    return cost


@jit
def _lookahead_block(inputs, x_ring, in_order, block):
    """The inputs of block ``block`` of per-sample SGD, flat
    (LOOKAHEAD L_0,): a full block of samples taken in order is read where
    it is; any other block was copied into slot block % 3 of the ring.
    inputs must be C-contiguous."""
    n_samples, n_k = inputs.shape
    start = block * LOOKAHEAD
    if in_order and start + LOOKAHEAD <= n_samples:
        return inputs.reshape(n_samples * n_k)[start * n_k:(start + LOOKAHEAD) * n_k]
    first = (block % 3) * LOOKAHEAD * n_k
    return x_ring[first:first + LOOKAHEAD * n_k]


@jit(inline=True)
def _per_sample_part(params, sizes, inputs, order, in_order, block, part, n_parts, x_ring,
                     activations, deltas, gram):
    """Part ``part`` of layer 1's work between the tails of block-1 and block
    (train_epoch_per_sample_shared): for the rows of the part (_part_rows),
    the deferred step of block-1, then the weighted sums of block with the
    stepped rows; a share of the pair products of block; and a share of the
    samples of block+1 copied into the ring when it is not read in place.
    """
    n_samples, n_k = inputs.shape
    n_blocks = (n_samples + LOOKAHEAD - 1) // LOOKAHEAD
    j_begin, j_end = _part_rows(sizes[1], part)
    steps = _layer_rows(deltas, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    if block > 0:
        _deferred_step(_flat_weights(params, sizes, 1)[j_begin * n_k:j_end * n_k],
                       steps[:, j_begin:j_end],
                       _lookahead_block(inputs, x_ring, in_order, block - 1))
    if block < n_blocks:
        x = _lookahead_block(inputs, x_ring, in_order, block).reshape((LOOKAHEAD, n_k))
        z = _layer_rows(activations, sizes, 1, LOOKAHEAD, LOOKAHEAD)
        w = layer_weights(params, sizes, 1)
        for n0 in range(0, LOOKAHEAD, SAMPLE_BLOCK):
            _weighted_sums_block(w, x, z, n0, j_begin, j_end)
        m = min(LOOKAHEAD, n_samples - block * LOOKAHEAD)
        _pair_products(x, gram, m, 1 + part, n_parts)
    start = (block + 1) * LOOKAHEAD
    if start < n_samples and not (in_order and start + LOOKAHEAD <= n_samples):
        _load_block_rows(inputs, order, start,
                         _lookahead_block(inputs, x_ring, in_order, block + 1).reshape(
                             (LOOKAHEAD, n_k)),
                         part * LOOKAHEAD // n_parts, (part + 1) * LOOKAHEAD // n_parts)


def train_epoch_per_sample_shared(params, sizes, inputs, targets, order, eta, activations,
                                  deltas, gram, x_ring, n_threads):
    """``train_epoch_per_sample`` with layer 1's rows split between threads
    kept for the whole epoch: the same steps, bitwise the same results.

    Each block of LOOKAHEAD samples has two phases: the parts of layer 1
    (_per_sample_part: the previous block's deferred step and this block's
    weighted sums, for a share of the rows j each; the pair products and
    the next block's copy, shared out too), then the block's samples one
    after another (_block_tail) in the thread that finished the last part.
    Parts are handed out, and the threads run, as in ``train_epoch_shared``.

    x_ring: (3 LOOKAHEAD L_0,), the inputs of three blocks when they are not
    read in place (shuffled, or the last short block). inputs must be
    C-contiguous. n_threads: how many threads to use (the results do not
    depend on it). The other arguments are those of train_epoch_per_sample.
    """
    n_parts = _n_parts(sizes[1])
    n_workers = max(1, min(int(n_threads), n_parts))
    sync = _new_sync(n_parts)
    cost = np.zeros(8 * (n_workers + 1))
    in_order = _begin_per_sample_shared_epoch(inputs, order, x_ring)
    run_workers(_per_sample_shared_worker, n_workers,
                (params, sizes, inputs, targets, order, in_order, eta, activations, deltas,
                 gram, x_ring, sync, cost))
    return cost[0]


@jit
def _begin_per_sample_shared_epoch(inputs, order, x_ring):
    """Copy the first block into the ring unless it is read in place;
    returns whether the samples are taken in order."""
    n_samples, n_k = inputs.shape
    in_order = _is_identity(order)
    if not (in_order and LOOKAHEAD <= n_samples):
        _load_block_rows(inputs, order, 0,
                         _lookahead_block(inputs, x_ring, in_order, 0).reshape((LOOKAHEAD, n_k)),
                         0, LOOKAHEAD)
    return in_order


@jit
def _per_sample_shared_worker(worker, n_workers, params, sizes, inputs, targets, order,
                              in_order, eta, activations, deltas, gram, x_ring, sync, cost):
    """The loop of one of the n_workers threads of
    train_epoch_per_sample_shared (sync and cost as in _shared_epoch_worker)."""
    n_samples, n_k = inputs.shape
    n_blocks = (n_samples + LOOKAHEAD - 1) // LOOKAHEAD
    n_parts = _n_parts(sizes[1])
    eta = cast_like(eta, params)
    done_index = 8 * n_parts
    stage_index = done_index + 8
    touched = 0.0
    for block in range(n_blocks + 1):
        if block < n_blocks and load_acquire(sync, stage_index) < block:
            # While another thread runs the tail, fetch this block's
            # inputs (read by every part) into this core's cache.
            touched += _touch(
                _lookahead_block(inputs, x_ring, in_order, block).reshape((LOOKAHEAD, n_k)))
        _wait_for_stage(sync, stage_index, block)
        attempt = 0
        part = _part_to_try(worker, n_workers, n_parts, attempt)
        while part >= 0:
            if compare_exchange(sync, 8 * part, block - 1, block):
                _per_sample_part(params, sizes, inputs, order, in_order, block, part,
                                 n_parts, x_ring, activations, deltas, gram)
                if fetch_add(sync, done_index, 1) == n_parts * (block + 1) - 1:
                    if block < n_blocks:
                        start = block * LOOKAHEAD
                        cost[0] = _block_tail(params, sizes, targets, order, start,
                                              min(LOOKAHEAD, n_samples - start), eta,
                                              activations, deltas, gram, cost[0])
                    store_release(sync, stage_index, block + 1)
            attempt += 1
            part = _part_to_try(worker, n_workers, n_parts, attempt)
    cost[8 * (worker + 1)] = touched
