"""Register-blocked inner loops of the layer equations, for a batch.

Each kernel here computes one equation of docs/theory.md for a block of
samples n and rows j, written out by hand so that every value loaded from
memory serves several multiply-adds and a dozen or more independent sums
are in flight (the loop is then bound by the multiply-add units, not by
loads or by the latency of one addition). Their repetition is what the
speed pays for; each names its equation (§N) and is tested against that
equation's reference kernel in ``fastnn.kernels.reference``
(tests/test_reference.py).

The block sizes below are written out in the loops, not read from the
constants: the constants name them for the callers, and ``written_out``
fails the import if one is changed without rewriting its kernels.
"""
from __future__ import annotations

from ._jit import jit, prefer_wide_vectors
from .activation import cast_like

__all__ = [
    "SAMPLE_BLOCK", "FORWARD_BLOCK", "ROW_BLOCK", "GRADIENT_ROW_BLOCK", "written_out",
    "weighted_sums_four", "weighted_sums_six", "weighted_sums_one",
    "backward_sums_four", "backward_sums_one",
    "gradient_row_one", "gradient_rows_four", "gradient_rows_eight",
]

# Samples n per pass of weighted_sums_four, backward_sums_four and the
# gradient rows: each weight w_jk loaded serves this many samples.
SAMPLE_BLOCK = 4
# Samples n per pass of weighted_sums_six: 6 samples x 4 rows = 24 sums in
# 512-bit registers, which measured 1.3-1.5x faster than four samples on
# AVX-512 (docs/performance.md).
FORWARD_BLOCK = 6
# Rows j per pass of the weighted sums and the backward sums.
ROW_BLOCK = 4
# Rows j per pass of gradient_rows_eight: 1.3x faster than four with 512-bit
# vectors (docs/performance.md). Threads split layer_gradient's rows in
# groups of this many, so that no sum is split between threads.
GRADIENT_ROW_BLOCK = 8


def written_out(constant, value, expected, kernels):
    """Fail the import if a block size no longer matches the kernels that
    are unrolled by hand for it: they would silently skip or repeat work."""
    if value != expected:
        raise ImportError(
            f"fastnn.kernels.blocked: {constant} = {value}, but {kernels} are written out by "
            f"hand for {expected}; rewrite them before changing the constant")


@jit
def weighted_sums_four(w, x, out, n0, j_begin, j_end):
    """§1 without the bias: out[n, j] = sum_k w[j, k] x[n, k] for the
    samples n = n0..n0+3 and the rows j = j_begin..j_end-1.

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
def weighted_sums_six(w, x, out, n0, j_begin, j_end):
    """§1 without the bias: out[n, j] = sum_k w[j, k] x[n, k] for the
    samples n = n0..n0+5 and the rows j = j_begin..j_end-1.

    Four rows j and six samples share one pass over k: 24 independent sums,
    each w_jk loaded serving six samples and each x_k four rows. Sized for
    the 32 vector registers of AVX-512 (FORWARD_BLOCK).
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
def weighted_sums_one(w, x, out, n, j_begin, j_end):
    """§1 without the bias: out[n, j] = sum_k w[j, k] x[n, k] for the
    single sample n and the rows j = j_begin..j_end-1.

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


written_out("SAMPLE_BLOCK", SAMPLE_BLOCK, 4, "weighted_sums_four and backward_sums_four")
written_out("FORWARD_BLOCK", FORWARD_BLOCK, 6, "weighted_sums_six")
written_out("ROW_BLOCK", ROW_BLOCK, 4, "the weighted sums and backward_sums_four")


@jit
def backward_sums_four(w, delta, delta_prev, n0):
    """§6 before the factor f'(z_k): delta_prev[n, k] = sum_j delta[n, j] w[j, k]
    for the samples n = n0..n0+3.

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
def backward_sums_one(w, delta, delta_prev, n):
    """§6 before the factor f'(z_k): delta_prev[n, k] = sum_j delta[n, j] w[j, k]
    for the single sample n."""
    n_j, n_k = w.shape
    p = delta_prev[n]
    for k in range(n_k):
        p[k] = 0
    for j in range(n_j):
        d = delta[n, j]
        for k in range(n_k):
            p[k] += d * w[j, k]


@jit
def _finish_gradient_rows(delta, w, b, grad_w, grad_b, scale, eta, j_begin, j_end):
    """§7 and the step, finished: the bias gradient, the 1/m scale and
    (eta != 0) the step for the rows j_begin..j_end-1, whose weight
    gradients are summed.

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
def gradient_row_one(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j):
    """§7 for row j: dC/dw_jk and dC/db_j summed over the batch (see
    layers.layer_gradient), four samples per pass."""
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
def gradient_rows_four(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j):
    """§7 for rows j..j+3 together: each a_k^(i-1) loaded serves four
    rows, and each gradient element is loaded and stored once per four samples."""
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
def gradient_rows_eight(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j):
    """§7 for rows j..j+7 together, four samples per pass: each a_k^(i-1)
    loaded serves eight rows, and each gradient element is loaded and
    stored once per four products (GRADIENT_ROW_BLOCK)."""
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


written_out("GRADIENT_ROW_BLOCK", GRADIENT_ROW_BLOCK, 8, "gradient_rows_eight")
written_out("SAMPLE_BLOCK", SAMPLE_BLOCK, 4, "gradient_rows_four and gradient_rows_eight")
