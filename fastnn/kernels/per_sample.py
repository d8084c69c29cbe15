"""Per-sample SGD, the document's own algorithm (docs/theory.md §9): one
step per sample, with layer 1's steps deferred over blocks of LOOKAHEAD
samples; in one thread, or with layer 1 shared between threads kept for
the epoch.

For each sample t in ``order``: w <- w - eta dC_t/dw, b <- b - eta dC_t/db
(with an objective of decay d and sample weights s_t, §10:
w <- d w - eta s_t dC_t/dw). The same steps as ``train_epoch`` with
batch_size 1 (equal up to rounding), computed in another order: see
``train_epoch_per_sample``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit
from .layers import weighted_sums_rows
from .layout import flat_weights, layer_biases, layer_rows, layer_weights, sample_row
from .minibatch import is_identity
from .sample_loops import (LOOKAHEAD, activate_deferred, backward_one, decay_deferred,
                           decay_weights, deferred_step, forward_one, output_delta_one,
                           pair_products, step_and_forward, step_one)
from .control import report_progress, stop_requested
from .scheduler import part_rows, register_epoch, run_shared_epoch
from .activation import cast_like
from .neurons import layer_rule, sample_key_of
from .objective import Objective, sample_weight

__all__ = ["train_epoch_per_sample", "train_epoch_per_sample_shared"]


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
    x = layer_rows(activations, sizes, 0, LOOKAHEAD, LOOKAHEAD)
    z = layer_rows(activations, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    _load_block_rows(inputs, order, start, x, 0, LOOKAHEAD)
    w = layer_weights(params, sizes, 1)
    weighted_sums_rows(w, x, z, np.int64(0), w.shape[0])
    pair_products(x, gram, m, 1, 1)
    return m


@jit(inline=True)
def _block_tail(params, sizes, targets, order, start, m, eta, activations, deltas, gram, cost,
                objective):
    """The m samples of the block at ``start``, one after another, once
    layer 1's weighted sums (with the block's first weights) and the pair
    products are known: each sample's activations (the deferred-step
    correction), layers 2..l forward, backward, and the steps of every layer
    but layer 1's weights (those steps are left in the deltas' layer-1
    slot, and rows past m zeroed). eta is of the network's dtype.
    Returns ``cost`` + sum_r C_r (added one by one, as the epoch's sum).
    """
    n_layers = len(sizes) - 1
    rule, decay = objective.rule, objective.decay
    # (each layer's LayerRule, §11 and §12; a sample's dropout key is the
    # same in every layer)
    rule_1 = layer_rule(objective, sizes, 1, params, True)
    key = sample_key_of(objective, rule_1, order[start])
    b1 = layer_biases(params, sizes, 1)
    z1 = layer_rows(activations, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    steps = layer_rows(deltas, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    for r in range(m, LOOKAHEAD):
        for j in range(sizes[1]):
            steps[r, j] = 0
    activate_deferred(z1, b1, steps, gram, 0, rule_1, key, decay)
    for i in range(2, n_layers + 1):
        forward_one(flat_weights(params, sizes, i), layer_biases(params, sizes, i),
                    sample_row(activations, sizes, i - 1, LOOKAHEAD, 0),
                    sample_row(activations, sizes, i, LOOKAHEAD, 0),
                    layer_rule(objective, sizes, i, params, True), key)
    for r in range(m):
        source = order[start + r]
        key = sample_key_of(objective, rule_1, source)
        cost += output_delta_one(
            sample_row(activations, sizes, n_layers, LOOKAHEAD, r),
            targets[source],
            sample_row(deltas, sizes, n_layers, LOOKAHEAD, r), rule,
            sample_weight(objective.sample_weights, source, params))
        for i in range(n_layers, 1, -1):
            backward_one(flat_weights(params, sizes, i),
                         sample_row(deltas, sizes, i, LOOKAHEAD, r),
                         sample_row(activations, sizes, i - 1, LOOKAHEAD, r),
                         sample_row(deltas, sizes, i - 1, LOOKAHEAD, r),
                         layer_rule(objective, sizes, i - 1, params, True), key)
        step = steps[r]
        for j in range(step.shape[0]):
            step[j] *= eta
            b1[j] -= step[j]
        if decay != 1:  # §10: the L2 part of the steps of layers 2..l
            for i in range(2, n_layers + 1):
                decay_weights(flat_weights(params, sizes, i), decay)
        if r + 1 < m:
            next_key = sample_key_of(objective, rule_1, order[start + r + 1])
            activate_deferred(z1, b1, steps, gram, r + 1, rule_1, next_key, decay)
            for i in range(2, n_layers + 1):
                step_and_forward(flat_weights(params, sizes, i),
                                 layer_biases(params, sizes, i),
                                 sample_row(deltas, sizes, i, LOOKAHEAD, r),
                                 sample_row(activations, sizes, i - 1, LOOKAHEAD, r),
                                 sample_row(activations, sizes, i - 1, LOOKAHEAD, r + 1),
                                 sample_row(activations, sizes, i, LOOKAHEAD, r + 1),
                                 eta, layer_rule(objective, sizes, i, params, True), next_key)
        else:
            for i in range(2, n_layers + 1):
                step_one(flat_weights(params, sizes, i), layer_biases(params, sizes, i),
                         sample_row(deltas, sizes, i, LOOKAHEAD, r),
                         sample_row(activations, sizes, i - 1, LOOKAHEAD, r), eta)
    return cost


@jit
def train_epoch_per_sample(params, sizes, inputs, targets, order, eta, activations, deltas,
                           gram, control, objective):
    """§9: one epoch of per-sample SGD (batch size 1), the document's algorithm.

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
      (``deferred_step``): layer 1's weights are read three times and
      written once per block instead of read and written once per sample.
    * Layers 2..l take each step at once, fused with the next sample's
      forward pass (``step_and_forward``); the gradient is never stored.

    activations, deltas: flat buffers of ``workspace_size(sizes, LOOKAHEAD)``
    (row r of each slot for sample r of the block; layer 1's slot of deltas
    holds the steps s(q)); gram: (LOOKAHEAD, LOOKAHEAD), scratch.
    control: ``control.new_control()``; the epoch stops before the next block
    once a stop is requested there, and counts the blocks it finished.
    objective: ``objective.Objective`` (§10; with L2, see activate_deferred
    and decay_deferred for layer 1's block). Returns sum_t s_t C_t over
    those blocks, each C_t measured in the forward pass of its step.
    """
    n_samples = inputs.shape[0]
    eta = cast_like(eta, params)
    cost = np.float64(0.0)
    x_flat = activations[:LOOKAHEAD * sizes[0]]
    steps = layer_rows(deltas, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    for block, start in enumerate(range(0, n_samples, LOOKAHEAD)):
        if stop_requested(control):
            break
        m = _begin_block(params, sizes, inputs, order, start, activations, deltas, gram)
        cost = _block_tail(params, sizes, targets, order, start, m, eta, activations, deltas,
                           gram, cost, objective)
        if objective.decay != 1:
            decay_deferred(flat_weights(params, sizes, 1), steps, m, objective.decay)
        deferred_step(flat_weights(params, sizes, 1), steps, x_flat)
        report_progress(control, block + 1)
    return cost


@jit(inline=True)
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


class PerSampleEpoch(NamedTuple):
    """What the threads of ``train_epoch_per_sample_shared`` share:
    train_epoch_per_sample's arguments (``eta`` of the network's dtype),
    whether the samples are taken in order, and x_ring, (3 LOOKAHEAD L_0,):
    the inputs of three blocks when they are not read in place."""
    params: np.ndarray
    sizes: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    order: np.ndarray
    in_order: bool
    eta: float
    activations: np.ndarray
    deltas: np.ndarray
    gram: np.ndarray
    x_ring: np.ndarray
    objective: Objective


@jit
def _shared_block_inputs(epoch, block):
    """The inputs of block ``block`` of a shared epoch, (LOOKAHEAD, L_0)."""
    return _lookahead_block(epoch.inputs, epoch.x_ring, epoch.in_order, block).reshape(
        (LOOKAHEAD, epoch.inputs.shape[1]))


@jit(inline=True)
def _per_sample_part(epoch, block, part, n_parts):
    """Part ``part`` of layer 1's work between the tails of block-1 and
    block: for the rows of the part (part_rows), the deferred step of
    block-1, then the weighted sums of block with the stepped rows; a share
    of the pair products of block; and a share of the samples of block+1
    copied into the ring when it is not read in place.
    """
    params, sizes, inputs, order = epoch.params, epoch.sizes, epoch.inputs, epoch.order
    in_order, x_ring = epoch.in_order, epoch.x_ring
    n_samples, n_k = inputs.shape
    n_blocks = (n_samples + LOOKAHEAD - 1) // LOOKAHEAD
    j_begin, j_end = part_rows(sizes[1], part, n_parts)
    steps = layer_rows(epoch.deltas, sizes, 1, LOOKAHEAD, LOOKAHEAD)
    if block > 0:
        if epoch.objective.decay != 1:
            decay_deferred(flat_weights(params, sizes, 1)[j_begin * n_k:j_end * n_k],
                           steps[:, j_begin:j_end],
                           min(LOOKAHEAD, n_samples - (block - 1) * LOOKAHEAD),
                           epoch.objective.decay)
        deferred_step(flat_weights(params, sizes, 1)[j_begin * n_k:j_end * n_k],
                      steps[:, j_begin:j_end],
                      _lookahead_block(inputs, x_ring, in_order, block - 1))
    if block < n_blocks:
        x = _lookahead_block(inputs, x_ring, in_order, block).reshape((LOOKAHEAD, n_k))
        z = layer_rows(epoch.activations, sizes, 1, LOOKAHEAD, LOOKAHEAD)
        weighted_sums_rows(layer_weights(params, sizes, 1), x, z, j_begin, j_end)
        m = min(LOOKAHEAD, n_samples - block * LOOKAHEAD)
        pair_products(x, epoch.gram, m, 1 + part, n_parts)
    start = (block + 1) * LOOKAHEAD
    if start < n_samples and not (in_order and start + LOOKAHEAD <= n_samples):
        _load_block_rows(inputs, order, start,
                         _lookahead_block(inputs, x_ring, in_order, block + 1).reshape(
                             (LOOKAHEAD, n_k)),
                         part * LOOKAHEAD // n_parts, (part + 1) * LOOKAHEAD // n_parts)


@jit(inline=True)
def _per_sample_tail(epoch, block, cost):
    """The samples of block ``block`` one after another (_block_tail)."""
    start = block * LOOKAHEAD
    return _block_tail(epoch.params, epoch.sizes, epoch.targets, epoch.order, start,
                       min(LOOKAHEAD, epoch.inputs.shape[0] - start), epoch.eta,
                       epoch.activations, epoch.deltas, epoch.gram, cost, epoch.objective)


register_epoch(PerSampleEpoch, unit_inputs=_shared_block_inputs, run_part=_per_sample_part,
               run_tail=_per_sample_tail)


@jit
def _begin_per_sample_shared_epoch(inputs, order, x_ring):
    """Copy the first block into the ring unless it is read in place;
    returns whether the samples are taken in order."""
    n_samples, n_k = inputs.shape
    in_order = is_identity(order)
    if not (in_order and LOOKAHEAD <= n_samples):
        _load_block_rows(inputs, order, 0,
                         _lookahead_block(inputs, x_ring, in_order, 0).reshape((LOOKAHEAD, n_k)),
                         0, LOOKAHEAD)
    return in_order


def train_epoch_per_sample_shared(params, sizes, inputs, targets, order, eta, activations,
                                  deltas, gram, control, objective, x_ring, n_threads):
    """§9: ``train_epoch_per_sample`` with layer 1's rows split between threads
    kept for the whole epoch (``fastnn.kernels.scheduler``): the same steps,
    bitwise the same results.

    Each block of LOOKAHEAD samples is a unit of the scheduler: the parts of
    layer 1 (``_per_sample_part``: the previous block's deferred step and
    this block's weighted sums, for a share of the rows j each; the pair
    products and the next block's copy, shared out too), then the block's
    samples one after another (``_block_tail``) in the thread that
    finished the last part.

    x_ring: (3 LOOKAHEAD L_0,). inputs must be C-contiguous. n_threads: how
    many threads to use (the results do not depend on it). The other
    arguments are those of train_epoch_per_sample.
    """
    in_order = bool(_begin_per_sample_shared_epoch(inputs, order, x_ring))
    epoch = PerSampleEpoch(params, sizes, inputs, targets, order, in_order,
                           params.dtype.type(eta), activations, deltas, gram, x_ring, objective)
    n_blocks = (inputs.shape[0] + LOOKAHEAD - 1) // LOOKAHEAD
    return run_shared_epoch(epoch, n_blocks, n_threads, control)
