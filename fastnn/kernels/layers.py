"""The layer equations for a batch: forward (§1), output delta (§5),
backward recursion (§6), gradient and step (§7) of docs/theory.md.

Arrays are row-per-sample: the activations and deltas of layer i have shape
(m, L_i); its weights (L_i, L_{i-1}), so that ``w[j, k]`` is the document's
w_jk^(i); its biases (L_i,). The four public kernels split big layers
between numba's threads (prange); the ``*_rows`` / ``*_samples`` kernels
are their one-thread bodies for a range of rows j or samples n, which the
epochs call directly. Each runs the register-blocked loops of
``fastnn.kernels.blocked``; the same loops compute each number whatever the
thread count, so the results do not depend on it.

f'(z) is never evaluated from z: f'(z) = f(z) (1 - f(z)) = a (1 - a) on the
stored activation (§4), so z is not stored at all. What a layer does with
its sums (its activation, §11, and dropout, §12) is its ``LayerRule``
(``fastnn.kernels.neurons``), applied after the blocked loops.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import jit
from .blocked import (BACKWARD_BLOCK, FORWARD_BLOCK, FORWARD_SMALL_BLOCK, GRADIENT_ROW_BLOCK,
                      GRADIENT_SMALL_ROWS, ROWS_PER_PART, backward_sums_block, backward_sums_one,
                      gradient_row_one, gradient_rows_block, gradient_rows_small,
                      weighted_sums_block, weighted_sums_one, weighted_sums_small)
from .activation import cast_like
from .neurons import activate_rows, complete_rows, scale_by_derivative
from .objective import output_cost, output_delta_value, sample_weight

__all__ = ["PARALLEL_MIN_WORK", "ROWS_PER_PART", "forward_layer", "forward_rows",
           "weighted_sums_rows",
           "output_delta", "backward_delta", "backward_delta_samples", "layer_gradient",
           "gradient_rows"]

# A layer goes to the threads only with at least this many multiply-adds per
# mini-batch (m * L_i * L_{i-1}); below it, waking the threads costs more than
# it saves, and on a busy machine far more (see docs/performance.md).
PARALLEL_MIN_WORK = 1_000_000

# Rows j are handed to threads in parts of ROWS_PER_PART (blocked.py): in
# forward_layer, and in layer 1 of the shared epochs (fastnn.kernels.scheduler).
# A part starts at a multiple of every row block, so that its rows are
# summed by the same loops as in one pass over all rows; and forward_layer's
# parts give each of numba's threads the same contiguous rows as
# layer_gradient's groups (for two threads and 256 rows: 0-127 and 128-255
# in both).

# Row and sample ranges that start at the first row are passed as
# np.int64(0), never as a literal 0: numba types a literal argument as
# Literal[int](0) and compiles the callee a second time for it (one to
# three seconds for each of forward_rows, gradient_rows and
# backward_delta_samples), beside the int64 version the threads use.


@jit(inline=True)
def _forward_blocks(m):
    """Split m samples into blocks of FORWARD_BLOCK and of FORWARD_SMALL_BLOCK
    samples, and single samples.

    Returns (n_big, n_small, n_single) with FORWARD_BLOCK n_big +
    FORWARD_SMALL_BLOCK n_small + n_single = m and as few single samples as
    possible, then as many big blocks as possible: a single sample runs at a
    fraction of a block's speed. (With blocks of six and four: one single
    sample if m is odd, m itself if m = 2 or 3; 128 = 20 x 6 + 2 x 4.)
    """
    best_big, best_small, best_single = 0, 0, m
    for n_big in range(m // FORWARD_BLOCK, -1, -1):
        rest = m - FORWARD_BLOCK * n_big
        n_small = rest // FORWARD_SMALL_BLOCK
        n_single = rest - FORWARD_SMALL_BLOCK * n_small
        if n_single < best_single:
            best_big, best_small, best_single = n_big, n_small, n_single
            if n_single == 0:
                break
    return best_big, best_small, best_single


@jit(inline=True)
def _forward_block_start(block, n_big):
    """First sample of block ``block``: the n_big big blocks come first,
    then the small ones."""
    if block <= n_big:
        return FORWARD_BLOCK * block
    return FORWARD_BLOCK * n_big + FORWARD_SMALL_BLOCK * (block - n_big)


@jit(inline=True)
def _forward_block(w, b, a_prev, a, block, n_big, j_begin, j_end, rule, rows):
    """§1 for one block of _forward_blocks, for
    the neurons j_begin..j_end-1."""
    n0 = _forward_block_start(block, n_big)
    n1 = _forward_block_start(block + 1, n_big)
    if n1 - n0 == FORWARD_BLOCK:
        weighted_sums_block(w, a_prev, a, n0, j_begin, j_end)
    else:
        weighted_sums_small(w, a_prev, a, n0, j_begin, j_end)
    activate_rows(b, a, n0, n1, j_begin, j_end, rule, rows)


@jit(inline=True)
def weighted_sums_rows(w, x, z, j_begin, j_end):
    """§1 without the bias and f: z[n, j] = sum_k w[j, k] x[n, k] for every
    sample n of x and the rows j_begin..j_end-1, in the blocks of
    forward_rows (per-sample SGD's block of LOOKAHEAD samples)."""
    m = x.shape[0]
    n_big, n_small, n_single = _forward_blocks(m)
    for block in range(n_big + n_small):
        n0 = _forward_block_start(block, n_big)
        if _forward_block_start(block + 1, n_big) - n0 == FORWARD_BLOCK:
            weighted_sums_block(w, x, z, n0, j_begin, j_end)
        else:
            weighted_sums_small(w, x, z, n0, j_begin, j_end)
    for n in range(m - n_single, m):
        weighted_sums_one(w, x, z, n, j_begin, j_end)


@jit(inline=True)
def forward_rows(w, b, a_prev, a, j_begin, j_end, rule, rows):
    """§1 in one thread: the whole batch through the neurons j_begin..j_end-1
    of layer i (blocks of samples, then single ones: _forward_blocks), then
    what the layer's ``rule`` does with the sums (``neurons.activate_rows``:
    f, §2, §11, none for an identity output, §10; dropout, §12, the batch's
    samples being rows ``rows`` of the epoch's inputs). A softmax layer is
    left at z + b: the caller completes it (``neurons.complete_rows``) once
    every row j is done."""
    m = a_prev.shape[0]
    n_big, n_small, n_single = _forward_blocks(m)
    for block in range(n_big + n_small):
        _forward_block(w, b, a_prev, a, block, n_big, j_begin, j_end, rule, rows)
    for n in range(m - n_single, m):
        weighted_sums_one(w, a_prev, a, n, j_begin, j_end)
        activate_rows(b, a, n, n + 1, j_begin, j_end, rule, rows)


@jit(parallel=True)
def forward_layer(w, b, a_prev, a, rule, rows):
    """§1: weighted sum and activation of layer i for a batch.

    z[n, j] = sum_k w[j, k] a_prev[n, k] + b[j];  a[n, j] = f(z[n, j])
    with f the activation of the layer's ``rule`` (``neurons.LayerRule``:
    §2, §11, the identity of an output for regression, §10, the softmax of
    each row, and dropout, §12, for the samples in rows ``rows`` of the
    epoch's inputs).

    w: (L_i, L_{i-1}); b: (L_i,); a_prev: (m, L_{i-1}); a: (m, L_i), written.
    The batch is split into blocks of samples (_forward_blocks); what they
    leave is done one sample at a time.

    When the layer has enough work, each thread takes the neurons j whose
    weights it steps in layer_gradient (the same contiguous share of the
    rows), not a share of the samples: the rows of w a thread reads here
    are then the ones in its own cache, where the gradient step left them,
    instead of half of them being fetched from the other core. Each z[n, j]
    is summed by the same code whatever the share (shares start at
    multiples of every row block), so results do not depend on the thread count.
    """
    n_j = w.shape[0]
    n_parts = n_j // ROWS_PER_PART
    if a_prev.shape[0] * n_j * w.shape[1] >= PARALLEL_MIN_WORK and n_parts > 1:
        for part in prange(n_parts):
            j_end = n_j if part == n_parts - 1 else ROWS_PER_PART * (part + 1)
            forward_rows(w, b, a_prev, a, ROWS_PER_PART * part, j_end, rule, rows)
    else:
        forward_rows(w, b, a_prev, a, np.int64(0), n_j, rule, rows)
    complete_rows(a, 0, a.shape[0], rule)


# Without reassociation: the cost's sum then stays a scalar loop wherever
# the kernel is inlined, so that np.log (the cross-entropy's) is the same
# scalar call in every driver and the cost is bitwise the same in all of
# them (vectorized, LLVM may call a vector log that rounds differently).
@jit(reassociate=False)
def output_delta(a, y, delta, rule, sample_weights, rows):
    """§5 and §3 (§10 for the other rules): dC/dz_j^(l) for every sample;
    returns sum_n s_n C_n.

    a, y, delta: (m, L_l); delta is written. rule: ``objective``'s output
    rule; for the quadratic cost and sigmoid output, C_n = 1/2 sum_j
    (y_j - a_j)^2 and dC/dz_j = (a_j - y_j) a_j (1 - a_j). Sample n's
    delta and cost are multiplied by its weight s_n =
    sample_weights[rows[n]] (rows: (m,) the batch's rows of the training
    set), or by 1 when sample_weights is empty.
    """
    m, n_j = a.shape
    cost = cast_like(0.0, a)
    for n in range(m):
        s = sample_weight(sample_weights, rows[n], a)
        for j in range(n_j):
            a_nj = a[n, j]
            cost += s * output_cost(a_nj, y[n, j], rule)
            delta[n, j] = s * output_delta_value(a_nj, y[n, j], rule)
    return cost


@jit(parallel=True)
def backward_delta(w, delta, a_prev, delta_prev, rule, rows):
    """§6: the backward recursion from layer i to layer i-1.

    dC/dz_k^(i-1) = f'(z_k^(i-1)) sum_j dC/dz_j^(i) w_jk^(i)

    with f'(z_k^(i-1)) from the activation a_k^(i-1): a (1 - a) for the
    logistic (§4), the others' of §11 (``neurons.scale_by_derivative``,
    by layer i-1's ``rule``; with its dropout, §12, times D_k). The sum runs
    over the neurons j of layer i, the layer *after* k (the document's
    version sums over the wrong layer; docs/theory.md, erratum 2).

    w: (L_i, L_{i-1}); delta: (m, L_i); a_prev: (m, L_{i-1});
    delta_prev: (m, L_{i-1}), written; rows: the batch's rows of the
    epoch's inputs (read with dropout only). Blocks of BACKWARD_BLOCK
    samples go to the threads.
    """
    m = delta.shape[0]
    if m * w.shape[0] * w.shape[1] >= PARALLEL_MIN_WORK:
        n_blocks = m // BACKWARD_BLOCK
        for block in prange(n_blocks):
            n0 = block * BACKWARD_BLOCK
            backward_sums_block(w, delta, delta_prev, n0)
            scale_by_derivative(a_prev, delta_prev, n0, n0 + BACKWARD_BLOCK, rule, rows)
        backward_delta_samples(w, delta, a_prev, delta_prev, n_blocks * BACKWARD_BLOCK, rule,
                               rows)
    else:
        backward_delta_samples(w, delta, a_prev, delta_prev, np.int64(0), rule, rows)


@jit(inline=True)
def backward_delta_samples(w, delta, a_prev, delta_prev, n_begin, rule, rows):
    """§6 in one thread (backward_delta) for the samples n_begin..m-1 (n_begin a
    multiple of BACKWARD_BLOCK): blocks of BACKWARD_BLOCK, then single samples."""
    m = delta.shape[0]
    n0 = n_begin
    while n0 + BACKWARD_BLOCK <= m:
        backward_sums_block(w, delta, delta_prev, n0)
        scale_by_derivative(a_prev, delta_prev, n0, n0 + BACKWARD_BLOCK, rule, rows)
        n0 += BACKWARD_BLOCK
    for n in range(n0, m):
        backward_sums_one(w, delta, delta_prev, n)
        scale_by_derivative(a_prev, delta_prev, n, n + 1, rule, rows)


@jit(parallel=True)
def layer_gradient(delta, a_prev, w, b, grad_w, grad_b, scale, eta, decay):
    """§7: gradient of layer i, scaled, and optionally the descent step.

    dC/dw_jk^(i) = scale * sum_n dC/dz_j^(i)[n] a_k^(i-1)[n]
    dC/db_j^(i)  = scale * sum_n dC/dz_j^(i)[n]

    (the document writes dC/dw_j and a_j; the weight has two indices and the
    activation is that of neuron k of layer i-1: docs/theory.md, erratum 3).
    With ``scale = 1/m`` this is the mean over the batch. If ``eta != 0`` the
    step w <- decay w - eta * dC/dw, b <- b - eta * dC/db follows (decay
    = 1 - eta lmbda / n with L2, §10; exactly 1 without).

    delta: (m, L_i); a_prev: (m, L_{i-1}); w, grad_w: (L_i, L_{i-1});
    b, grad_b: (L_i,). grad_w and grad_b are written; w and b when eta != 0.
    Threads split the rows j (in groups of GRADIENT_ROW_BLOCK), so no two
    threads write the same element and no sum is split between threads.
    Rows past the last group go GRADIENT_SMALL_ROWS, then one, at a time.
    """
    scale = cast_like(scale, w)
    eta = cast_like(eta, w)
    decay = cast_like(decay, w)
    one = cast_like(1.0, w)
    n_j, n_k = w.shape
    n_groups = n_j // GRADIENT_ROW_BLOCK
    if a_prev.shape[0] * n_j * n_k >= PARALLEL_MIN_WORK:
        if eta != 0 and decay != 1:
            decay_rows(w, decay, np.int64(0), n_j)
        for group in prange(n_groups):
            gradient_rows_block(delta, a_prev, w, b, grad_w, grad_b, scale, eta,
                                GRADIENT_ROW_BLOCK * group)
        gradient_rows(delta, a_prev, w, b, grad_w, grad_b, scale, eta, one,
                      GRADIENT_ROW_BLOCK * n_groups, n_j)
    else:
        gradient_rows(delta, a_prev, w, b, grad_w, grad_b, scale, eta, decay, np.int64(0), n_j)


@jit
def decay_rows(w, decay, j_begin, j_end):
    """§10, the L2 part of the step for rows j_begin..j_end-1: w_jk <- decay w_jk.

    A pass of its own before the gradient kernels take the plain step
    w <- w - eta dC/dw (the gradient does not read w), so that those keep
    one step loop each and compile as before."""
    for j in range(j_begin, j_end):
        row = w[j]
        for k in range(row.shape[0]):
            row[k] *= decay


@jit(inline=True)
def gradient_rows(delta, a_prev, w, b, grad_w, grad_b, scale, eta, decay, j_begin, j_end):
    """§7 in one thread (layer_gradient) for the rows j_begin..j_end-1 (j_begin a
    multiple of GRADIENT_ROW_BLOCK; scale, eta and decay already of w's dtype):
    GRADIENT_ROW_BLOCK rows at a time, then GRADIENT_SMALL_ROWS, then one.
    Each row is summed the same way whichever rows share the call. With L2
    (§10: decay != 1) the rows' weights are scaled by decay first
    (decay_rows), then stepped as without it."""
    if eta != 0 and decay != 1:
        decay_rows(w, decay, j_begin, j_end)
    j = j_begin
    while j + GRADIENT_ROW_BLOCK <= j_end:
        gradient_rows_block(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j)
        j += GRADIENT_ROW_BLOCK
    while j + GRADIENT_SMALL_ROWS <= j_end:
        gradient_rows_small(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j)
        j += GRADIENT_SMALL_ROWS
    while j < j_end:
        gradient_row_one(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j)
        j += 1
