"""The equations for one sample at a time, and layer 1's deferred step:
the loops of per-sample SGD (``fastnn.kernels.per_sample``).

These take each layer's weights as the flat slice of params,
w_jk = w[j * L_{i-1} + k] (``layout.flat_weights``), and activations and
deltas as 1-D rows: a 2-D view costs numba a reshape call (about 30 ns),
paid ~20 times per sample, which was a third of the time of a small
network's step. Each names its equation (§N) and is tested against that
equation's reference kernel (tests/test_reference.py).
"""
from __future__ import annotations

from ._jit import jit, prefer_wide_vectors
from .blocked import written_out
from .activation import cast_like
from .neurons import activate_sample, scale_sample_by_derivative
from .objective import output_cost, output_delta_value

__all__ = ["LOOKAHEAD", "STEP_TILE", "output_delta_one", "forward_one", "backward_one",
           "step_and_forward", "step_one", "decay_weights", "pair_products",
           "activate_deferred", "decay_deferred", "deferred_step"]

# Per-sample SGD takes layer 1's steps this many samples at a time
# (train_epoch_per_sample); deferred_step is written out for exactly eight.
LOOKAHEAD = 8
# Columns per tile of deferred_step: 8 rows x 256 float64 = 16 KiB of L1.
STEP_TILE = 256


# Without reassociation: the cost's sum then stays a scalar loop wherever
# the kernel is inlined, so that np.log (the cross-entropy's) is the same
# scalar call in every driver and the cost is bitwise the same in all of
# them (vectorized, LLVM may call a vector log that rounds differently).
@jit(reassociate=False)
def output_delta_one(a, y, delta, rule, weight):
    """§5 and §3 (§10 for the other rules) for one sample of weight s:
    delta_j = s dC/dz_j, with dC/dz_j = (a_j - y_j) a_j (1 - a_j) for the
    quadratic cost and sigmoid output; returns s C, with C = 1/2 sum_j
    (y_j - a_j)^2 there. a, y, delta: (L_l,)."""
    cost = cast_like(0.0, a)
    for j in range(a.shape[0]):
        cost += weight * output_cost(a[j], y[j], rule)
        delta[j] = weight * output_delta_value(a[j], y[j], rule)
    return cost


@jit
def forward_one(w, b, a_prev, a, rule, key):
    """§1 for one sample: a_j = f(sum_k w_jk a_k + b_j), four rows j per pass,
    then the layer's ``rule`` over the row (``neurons.activate_sample``):
    f (§2, §11; none for an identity output, §10), the softmax of an output
    (§11), dropout (§12; key: the sample's dropout key)."""
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
        a[j] = z0 + b[j]
        a[j + 1] = z1 + b[j + 1]
        a[j + 2] = z2 + b[j + 2]
        a[j + 3] = z3 + b[j + 3]
        j += 4
    while j < n_j:
        row = j * n_k
        z = zero
        for k in range(n_k):
            z += w[row + k] * a_prev[k]
        a[j] = z + b[j]
        j += 1
    activate_sample(a, rule, key)


@jit
def backward_one(w, delta, a_prev, delta_prev, rule, key):
    """§6 for one sample: dC/dz_k^(i-1) = f'(z_k) sum_j dC/dz_j^(i) w_jk, f'
    from the activation a_k by layer i-1's ``rule`` (a_k (1 - a_k) for the
    logistic, §4; §11; with dropout, §12, times D_k)."""
    n_j = delta.shape[0]
    n_k = a_prev.shape[0]
    for k in range(n_k):
        delta_prev[k] = 0
    for j in range(n_j):
        d = delta[j]
        row = j * n_k
        for k in range(n_k):
            delta_prev[k] += d * w[row + k]
    scale_sample_by_derivative(a_prev, delta_prev, rule, key)


@jit
def step_and_forward(w, b, delta, a_prev, a_prev_next, a_next, eta, rule, key):
    """§7 with the step, for one sample, fused with §1 for the next sample.

    w_jk <- w_jk - eta dC/dz_j a_k (the per-sample gradient, never stored),
    then z_j = sum_k w_jk a'_k + b_j and a'_j = f(z_j) for the next sample
    a', in the same pass: each weight is read and written once per sample;
    then the layer's ``rule`` over a' (``neurons.activate_sample``; key:
    the next sample's dropout key).
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
        a_next[j] = z0 + b[j]
        a_next[j + 1] = z1 + b[j + 1]
        a_next[j + 2] = z2 + b[j + 2]
        a_next[j + 3] = z3 + b[j + 3]
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
        a_next[j] = z + b[j]
        j += 1
    activate_sample(a_next, rule, key)


@jit
def step_one(w, b, delta, a_prev, eta):
    """§7 with the step, for one sample: w_jk <- w_jk - eta dC/dz_j a_k and
    b_j <- b_j - eta dC/dz_j."""
    n_k = a_prev.shape[0]
    for j in range(b.shape[0]):
        c = eta * delta[j]
        row = j * n_k
        for k in range(n_k):
            w[row + k] -= c * a_prev[k]
        b[j] -= c


@jit
def decay_weights(w, decay):
    """§10, the L2 part of a step: w <- decay w, before the gradient part."""
    for p in range(w.shape[0]):
        w[p] *= decay


@jit
def pair_products(x, gram, m, first, stride):
    """§9 (per-sample SGD): gram[r, q] = sum_k x[r, k] x[q, k] for q < r < m (the strict lower
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
def activate_deferred(z, b, steps, gram, r, rule, key, decay):
    """§1 for row r of a block of layer 1, with the deferred steps (§9):
    a_j = f(z_j + b_j - sum_{q<r} steps[q, j] gram[r, q]).

    z[r] holds sum_k w_jk(t0) x_k(r), the weighted sum with the weights as they
    were at the start of the block; the q-sum turns it into the weighted sum
    with the weights as the r earlier steps of the block left them (see
    per_sample.train_epoch_per_sample). b is already stepped for those samples.
    With L2 (§10, decay d != 1) each step also scales the weights by d, so
    w(r) = d^r w(t0) - sum_{q<r} d^(r-1-q) steps[q] x(q)^T and
    a_j = f(d^r z_j - sum_{q<r} d^(r-1-q) steps[q, j] gram[r, q] + b_j).
    f is layer 1's ``rule`` (an identity output of a one-layer network
    leaves the sum itself; with dropout, §12, D f, key: sample r's dropout
    key). z, steps: (LOOKAHEAD, L_1); gram: (LOOKAHEAD, LOOKAHEAD); z[r]
    is overwritten by a(r).
    """
    n_j = b.shape[0]
    row = z[r]
    if decay == 1:
        for j in range(n_j):
            row[j] += b[j]
        for q in range(r):
            g = gram[r, q]
            for j in range(n_j):
                row[j] -= steps[q, j] * g
    else:
        power = cast_like(1.0, decay)
        for q in range(r):
            power *= decay
        for j in range(n_j):
            row[j] *= power
        factor = cast_like(1.0, decay)
        for q in range(r - 1, -1, -1):
            g = gram[r, q] * factor
            for j in range(n_j):
                row[j] -= steps[q, j] * g
            factor *= decay
        for j in range(n_j):
            row[j] += b[j]
    activate_sample(row, rule, key)


@jit
def decay_deferred(w, steps, m, decay):
    """§10: ready a block's deferred step for L2 (decay d != 1). After the
    block's m steps the weights are d^m w(t0) - sum_{q<m} d^(m-1-q)
    steps[q] x(q)^T: scale w by d^m and steps[q] by d^(m-1-q), so that
    deferred_step's plain sum finishes the block.

    w: layer 1's flat weights (or the rows of a part); steps: (LOOKAHEAD,
    rows), the same rows."""
    factor = cast_like(1.0, decay)
    for q in range(m - 1, -1, -1):
        step = steps[q]
        for j in range(step.shape[0]):
            step[j] *= factor
        factor *= decay
    for p in range(w.shape[0]):
        w[p] *= factor


@jit
def deferred_step(w, steps, x):
    """§7's step for a block (§9): w_jk <- w_jk - sum_q steps[q, j] x_k(q),
    the LOOKAHEAD per-sample steps of a block taken at once
    (steps[q, j] = eta dC_q/dz_j^(1)).

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


written_out("LOOKAHEAD", LOOKAHEAD, 8, "deferred_step's eight steps per pass")
