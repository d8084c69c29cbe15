"""Mini-batch gradient descent (docs/theory.md §9): the passes through
every layer, and the epoch, in one thread, with numba's threads for big
layers, or with layer 1 shared between threads kept for the epoch.

For each batch of m samples taken in ``order``: the forward pass (§1) for
i = 1..l, the output delta (§5), then for i = l..1 the recursion down to
layer i-1 (§6, for i > 1) and the gradient and step of layer i (§7):
w <- w - (eta / m) sum_n dC_n/dw (likewise b). The ``objective``
(``fastnn.kernels.objective``, §10) sets the output layer and cost, the L2
decay w <- decay w - ..., and the sample weights.

The buffers (``layout``): activations and deltas are flat, of
``workspace_size(sizes, batch_size)``, slot i holding layer i's rows;
batch_targets is (batch_size, L_l). ``fastnn.plan.EpochPlan`` allocates
them and picks the driver.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit
from .layers import (PARALLEL_MIN_WORK, backward_delta, backward_delta_samples, forward_layer,
                     forward_rows, gradient_rows, layer_gradient, output_delta)
from .layout import layer_biases, layer_rows, layer_weights
from .control import report_progress, stop_requested
from .scheduler import part_rows, register_epoch, run_shared_epoch
from .activation import cast_like
from .neurons import complete_rows, layer_rule
from .objective import Objective
from .optimizer import keeps_state, step_eta, step_layer_rows

__all__ = ["forward_pass", "forward_pass_threaded", "backward_pass", "train_epoch",
           "train_epoch_threaded", "train_epoch_shared", "uses_layer_threads",
           "shuffle_order", "is_identity"]


@jit
def forward_pass(params, sizes, activations, m, capacity, objective):
    """Feed the m samples in activation slot 0 through every layer, in one
    thread (forward_pass_threaded splits big layers between threads), as
    feedforward does: the full network, never dropping a unit (§12).

    activations: flat buffer of ``workspace_size(sizes, capacity)``; slot i
    holds a^(i) of shape (m, L_i). Slot 0 must hold the inputs. objective:
    the network's output rule and hidden activations (§10, §11).
    """
    forward_pass_from(params, sizes, layer_rows(activations, sizes, 0, m, capacity),
                      activations, m, capacity, objective, objective.dropout.rows, False)


@jit(inline=True)
def forward_pass_from(params, sizes, x, activations, m, capacity, objective, rows, drop):
    """forward_pass with the inputs in x, (m, L_0), instead of slot 0; with
    the objective's dropout if ``drop`` (training; the samples are rows
    ``rows`` of the epoch's inputs)."""
    n_layers = len(sizes) - 1
    for i in range(1, n_layers + 1):
        w = layer_weights(params, sizes, i)
        a = layer_rows(activations, sizes, i, m, capacity)
        rule = layer_rule(objective, sizes, i, params, drop)
        forward_rows(w, layer_biases(params, sizes, i),
                     x if i == 1 else layer_rows(activations, sizes, i - 1, m, capacity), a,
                     np.int64(0), w.shape[0], rule, rows)
        complete_rows(a, 0, m, rule)


@jit
def backward_pass(params, grad, sizes, activations, deltas, targets, m, capacity, eta, objective,
                  rows):
    """Backpropagation for the m samples whose forward pass is in activations.

    Writes the mean gradient over the m samples into ``grad`` (laid out like
    ``params``); if ``eta != 0`` also takes the step params <- decay params
    - eta * grad (weights decayed, biases not: ``objective``).
    targets: (capacity, L_l), the first m rows used; rows: (m,) the rows of
    ``objective.sample_weights`` of the m samples (unused without weights).
    The full network's, as forward_pass (no dropout).
    Returns sum_n s_n C_n. One thread; the threaded twin is
    _backward_pass_threaded_from.
    """
    return backward_pass_from(params, grad, sizes, layer_rows(activations, sizes, 0, m, capacity),
                              activations, deltas, targets, m, capacity, eta, objective, rows,
                              False, np.int64(0))


@jit(inline=True)
def _step_rows(params, grad, sizes, i, j_begin, j_end, objective, eta, batch):
    """§13: a rule with state steps rows j_begin..j_end-1 of layer i after
    their gradient (the gradient kernels took eta = 0); plain SGD took its
    step inside them."""
    optimizer = objective.optimizer
    if keeps_state(optimizer) and eta != 0:
        step_layer_rows(params, grad, sizes, i, j_begin, j_end, optimizer, eta, batch)


@jit(inline=True)
def backward_pass_from(params, grad, sizes, x, activations, deltas, targets, m, capacity, eta,
                       objective, rows, drop, batch):
    """backward_pass with the inputs in x, (m, L_0), instead of slot 0; with
    the objective's dropout if ``drop`` (as the forward pass had it);
    ``batch``: the batch's number in the epoch (Adam's t, §13)."""
    n_layers = len(sizes) - 1
    cost = output_delta(layer_rows(activations, sizes, n_layers, m, capacity), targets[:m],
                        layer_rows(deltas, sizes, n_layers, m, capacity), objective.rule,
                        objective.sample_weights, rows)
    scale = cast_like(1.0 / m, params)
    eta = cast_like(eta, params)
    decay = cast_like(objective.decay, params)
    for i in range(n_layers, 0, -1):
        w = layer_weights(params, sizes, i)
        a_prev = x if i == 1 else layer_rows(activations, sizes, i - 1, m, capacity)
        delta = layer_rows(deltas, sizes, i, m, capacity)
        if i > 1:
            # delta^(i-1) needs w^(i) before its step, so it comes first.
            backward_delta_samples(w, delta, a_prev,
                                   layer_rows(deltas, sizes, i - 1, m, capacity), np.int64(0),
                                   layer_rule(objective, sizes, i - 1, params, drop), rows)
        gradient_rows(delta, a_prev, w, layer_biases(params, sizes, i),
                      layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                      scale, step_eta(objective.optimizer, eta), decay, np.int64(0), w.shape[0])
        _step_rows(params, grad, sizes, i, np.int64(0), np.int64(w.shape[0]), objective, eta,
                   batch)
    return cost


@jit(calls_parallel=True)
def forward_pass_threaded(params, sizes, activations, m, capacity, objective):
    """forward_pass with every layer of at least PARALLEL_MIN_WORK
    multiply-adds split between numba's threads (forward_layer); bitwise
    the same outputs."""
    _forward_pass_threaded_from(params, sizes, layer_rows(activations, sizes, 0, m, capacity),
                                activations, m, capacity, objective, objective.dropout.rows,
                                False)


@jit(calls_parallel=True, inline=True)
def _forward_pass_threaded_from(params, sizes, x, activations, m, capacity, objective, rows,
                                drop):
    """forward_pass_from through forward_layer (threads for big layers)."""
    n_layers = len(sizes) - 1
    for i in range(1, n_layers + 1):
        forward_layer(
            layer_weights(params, sizes, i),
            layer_biases(params, sizes, i),
            x if i == 1 else layer_rows(activations, sizes, i - 1, m, capacity),
            layer_rows(activations, sizes, i, m, capacity),
            layer_rule(objective, sizes, i, params, drop), rows,
        )


@jit(calls_parallel=True, inline=True)
def _backward_pass_threaded_from(params, grad, sizes, x, activations, deltas, targets, m,
                                 capacity, eta, objective, rows, drop, batch):
    """backward_pass_from through backward_delta and layer_gradient
    (threads for big layers): bitwise the same gradient, step and cost."""
    n_layers = len(sizes) - 1
    cost = output_delta(layer_rows(activations, sizes, n_layers, m, capacity), targets[:m],
                        layer_rows(deltas, sizes, n_layers, m, capacity), objective.rule,
                        objective.sample_weights, rows)
    for i in range(n_layers, 0, -1):
        w = layer_weights(params, sizes, i)
        a_prev = x if i == 1 else layer_rows(activations, sizes, i - 1, m, capacity)
        delta = layer_rows(deltas, sizes, i, m, capacity)
        if i > 1:
            backward_delta(w, delta, a_prev, layer_rows(deltas, sizes, i - 1, m, capacity),
                           layer_rule(objective, sizes, i - 1, params, drop), rows)
        layer_gradient(delta, a_prev, w, layer_biases(params, sizes, i),
                       layer_weights(grad, sizes, i), layer_biases(grad, sizes, i), 1.0 / m,
                       step_eta(objective.optimizer, eta), objective.decay)
        _step_rows(params, grad, sizes, i, np.int64(0), np.int64(w.shape[0]), objective, eta,
                   batch)
    return cost


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
def is_identity(order):
    """Whether order[n] == n for every n."""
    for n in range(order.shape[0]):
        if order[n] != n:
            return False
    return True


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
    x = layer_rows(activations, sizes, 0, m, batch_size)
    y = batch_targets[:m]
    _gather_batch(inputs, targets, order[start:start + m], x, y)
    return x, y


def _epoch_through(forward_pass_from, backward_pass_from, name, doc):
    """The loop of train_epoch, over the batches, through the given passes
    (written once for train_epoch and train_epoch_threaded, which differ
    in their passes and their JIT flags only)."""

    def epoch(params, grad, sizes, inputs, targets, order, batch_size, eta, activations,
              deltas, batch_targets, control, objective):
        # (np.float64, not 0.0: in plain Python, NUMBA_DISABLE_JIT=1, 0.0 plus
        # a float32 cost is a float32; compiled, the sum is float64 either way.)
        cost = np.float64(0.0)
        in_order = is_identity(order)
        for batch, start in enumerate(range(0, inputs.shape[0], batch_size)):
            if stop_requested(control):
                break
            m = min(batch_size, inputs.shape[0] - start)
            x, y = _batch_rows(inputs, targets, order, in_order, start, m, sizes, activations,
                               batch_size, batch_targets)
            rows = order[start:start + m]
            forward_pass_from(params, sizes, x, activations, m, batch_size, objective, rows, True)
            cost += backward_pass_from(params, grad, sizes, x, activations, deltas, y, m,
                                       batch_size, eta, objective, rows, True,
                                       np.int64(batch))
            report_progress(control, batch + 1)
        return cost

    epoch.__name__ = epoch.__qualname__ = name
    epoch.__doc__ = doc
    return epoch


train_epoch = jit(_epoch_through(forward_pass_from, backward_pass_from, "train_epoch", """\
§9: one epoch of mini-batch gradient descent, entirely in compiled code,
in one thread.

For each batch of ``batch_size`` samples taken in ``order``:
w <- w - (eta / m) sum_n dC_n/dw (likewise b); with an ``objective``
(§10) of decay d and sample weights s_n,
w <- d w - (eta / m) sum_n s_n dC_n/dw.

inputs: (N, L_0); targets: (N, L_l); order: (N,) int64 sample indices.
activations, deltas: flat buffers of ``workspace_size(sizes, batch_size)``;
batch_targets: (batch_size, L_l). control: ``control.new_control()``; the
epoch stops before the next batch once a stop is requested there, and
counts the batches it finished. objective: ``objective.Objective``.
Returns sum_n s_n C_n over those batches, each C_n measured in the forward
pass that produced its gradient.
"""))

train_epoch_threaded = jit(calls_parallel=True)(_epoch_through(
    _forward_pass_threaded_from, _backward_pass_threaded_from, "train_epoch_threaded", """\
§9: train_epoch with the layers of at least PARALLEL_MIN_WORK multiply-adds
per batch split between numba's threads (forward_layer, backward_delta,
layer_gradient): bitwise the same steps and cost. Same arguments.
"""))


def uses_layer_threads(sizes, batch_size):
    """Whether some layer has at least PARALLEL_MIN_WORK multiply-adds per
    batch, so that train_epoch_threaded / forward_pass_threaded would split
    it between threads (else they do what the one-thread kernels do)."""
    return any(int(batch_size) * int(sizes[i]) * int(sizes[i - 1]) >= PARALLEL_MIN_WORK
               for i in range(1, len(sizes)))


@jit(inline=True)
def _batch_inputs(inputs, x_ring, in_order, batch, capacity, m):
    """The inputs of batch ``batch``: its rows of ``inputs`` themselves when
    the epoch takes the samples in order, else its copy in the ring of three
    batches (x_ring)."""
    if in_order:
        return inputs[batch * capacity:batch * capacity + m]
    first = (batch % 3) * capacity
    return x_ring[first:first + m]


class MiniBatchEpoch(NamedTuple):
    """What the threads of ``train_epoch_shared`` share: train_epoch's
    arguments, ``eta`` of the network's dtype, whether the samples are taken
    in order, and x_ring, (3 batch_size, L_0): the inputs of the previous,
    current and next batch when they are copies (shuffled)."""
    params: np.ndarray
    grad: np.ndarray
    sizes: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    order: np.ndarray
    in_order: bool
    batch_size: int
    eta: float
    activations: np.ndarray
    deltas: np.ndarray
    batch_targets: np.ndarray
    x_ring: np.ndarray
    objective: Objective


@jit
def _shared_batch_inputs(epoch, batch):
    """The inputs of batch ``batch`` of a shared epoch, (m, L_0)."""
    n_samples = epoch.inputs.shape[0]
    m = min(epoch.batch_size, n_samples - batch * epoch.batch_size)
    return _batch_inputs(epoch.inputs, epoch.x_ring, epoch.in_order, batch, epoch.batch_size, m)


@jit(inline=True)
def _layer1_part(epoch, batch, part, n_parts):
    """Part ``part`` of layer 1's work between batch-1's tail and batch's.

    For the rows of the part (part_rows): the gradient and step of batch-1
    (§7; its deltas are in ``deltas``), then the forward pass of batch (§1)
    with the stepped rows; and, unless the samples are taken in order, a
    share of the samples of batch+1 copied into the ring.
    """
    params, grad, sizes, inputs, order = (epoch.params, epoch.grad, epoch.sizes, epoch.inputs,
                                          epoch.order)
    in_order, batch_size, x_ring = epoch.in_order, epoch.batch_size, epoch.x_ring
    n_samples = inputs.shape[0]
    n_batches = (n_samples + batch_size - 1) // batch_size
    w = layer_weights(params, sizes, 1)
    b = layer_biases(params, sizes, 1)
    j_begin, j_end = part_rows(sizes[1], part, n_parts)
    if batch > 0:
        m = min(batch_size, n_samples - (batch - 1) * batch_size)
        gradient_rows(layer_rows(epoch.deltas, sizes, 1, m, batch_size),
                      _batch_inputs(inputs, x_ring, in_order, batch - 1, batch_size, m), w, b,
                      layer_weights(grad, sizes, 1), layer_biases(grad, sizes, 1),
                      cast_like(1.0 / m, w), step_eta(epoch.objective.optimizer, epoch.eta),
                      epoch.objective.decay, j_begin, j_end)
        _step_rows(params, grad, sizes, 1, np.int64(j_begin), np.int64(j_end), epoch.objective,
                   epoch.eta, np.int64(batch - 1))
    if batch < n_batches:
        start = batch * batch_size
        m = min(batch_size, n_samples - start)
        forward_rows(w, b, _batch_inputs(inputs, x_ring, in_order, batch, batch_size, m),
                     layer_rows(epoch.activations, sizes, 1, m, batch_size), j_begin, j_end,
                     layer_rule(epoch.objective, sizes, 1, params, True),
                     order[start:start + m])
    if batch + 1 < n_batches and not in_order:
        start = (batch + 1) * batch_size
        m = min(batch_size, n_samples - start)
        x = _batch_inputs(inputs, x_ring, in_order, batch + 1, batch_size, m)
        for n in range(part * m // n_parts, (part + 1) * m // n_parts):
            source = order[start + n]
            for k in range(inputs.shape[1]):
                x[n, k] = inputs[source, k]


@jit(inline=True)
def _batch_tail(epoch, batch, cost):
    """Everything of batch ``batch`` after layer 1's forward pass, in one
    thread: layers 2..l forward, the output delta, and backward through
    layers l..2 with their steps, leaving delta^(1) for layer 1's gradient.
    The same kernels as train_epoch's. Returns cost + sum_n C_n.
    """
    params, grad, sizes, targets, order = (epoch.params, epoch.grad, epoch.sizes, epoch.targets,
                                           epoch.order)
    activations, deltas, batch_size = epoch.activations, epoch.deltas, epoch.batch_size
    batch_targets = epoch.batch_targets
    start = batch * batch_size
    m = min(batch_size, epoch.inputs.shape[0] - start)
    n_layers = len(sizes) - 1
    for n in range(m):
        source = order[start + n]
        for j in range(targets.shape[1]):
            batch_targets[n, j] = targets[source, j]
    objective = epoch.objective
    rows = order[start:start + m]
    # layer 1 was computed in parts (_layer1_part): a softmax output needs whole rows
    complete_rows(layer_rows(activations, sizes, 1, m, batch_size), 0, m,
                  layer_rule(objective, sizes, 1, params, True))
    for i in range(2, n_layers + 1):
        w = layer_weights(params, sizes, i)
        a = layer_rows(activations, sizes, i, m, batch_size)
        rule = layer_rule(objective, sizes, i, params, True)
        forward_rows(w, layer_biases(params, sizes, i),
                     layer_rows(activations, sizes, i - 1, m, batch_size), a, np.int64(0),
                     w.shape[0], rule, rows)
        complete_rows(a, 0, m, rule)
    batch_cost = output_delta(layer_rows(activations, sizes, n_layers, m, batch_size),
                              batch_targets[:m], layer_rows(deltas, sizes, n_layers, m, batch_size),
                              objective.rule, objective.sample_weights, rows)
    scale = cast_like(1.0 / m, params)
    for i in range(n_layers, 1, -1):
        w = layer_weights(params, sizes, i)
        a_prev = layer_rows(activations, sizes, i - 1, m, batch_size)
        delta = layer_rows(deltas, sizes, i, m, batch_size)
        backward_delta_samples(w, delta, a_prev, layer_rows(deltas, sizes, i - 1, m, batch_size),
                               np.int64(0), layer_rule(objective, sizes, i - 1, params, True), rows)
        gradient_rows(delta, a_prev, w, layer_biases(params, sizes, i),
                      layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                      scale, step_eta(objective.optimizer, epoch.eta), objective.decay,
                      np.int64(0), w.shape[0])
        _step_rows(params, grad, sizes, i, np.int64(0), np.int64(w.shape[0]), objective,
                   epoch.eta, np.int64(batch))
    return cost + batch_cost


register_epoch(MiniBatchEpoch, unit_inputs=_shared_batch_inputs, run_part=_layer1_part,
               run_tail=_batch_tail)


@jit
def _begin_shared_epoch(inputs, order, batch_size, x_ring):
    """Copy the first batch into the ring unless the samples are taken in
    order (then every batch is read where it is); returns that in_order."""
    in_order = is_identity(order)
    if not in_order:
        m = min(batch_size, inputs.shape[0])
        x = _batch_inputs(inputs, x_ring, in_order, 0, batch_size, m)
        for n in range(m):
            for k in range(inputs.shape[1]):
                x[n, k] = inputs[order[n], k]
    return in_order


def train_epoch_shared(params, grad, sizes, inputs, targets, order, batch_size, eta,
                       activations, deltas, batch_targets, control, objective, x_ring,
                       n_threads):
    """§9: ``train_epoch`` with layer 1 shared between threads kept for the whole
    epoch (``fastnn.kernels.scheduler``): the same steps, bitwise the same
    results, for networks whose layer 1 holds most of the work
    (``use_shared_epoch``).

    Each batch is a unit of the scheduler: part p of layer 1 (ROWS_PER_PART
    rows j) takes the gradient and step of the previous batch, then this
    batch's forward pass through the same rows (still in that thread's
    cache), and copies in a share of the next batch's samples
    (``_layer1_part``); the tail (``_batch_tail``: layers 2..l forward and
    backward) is taken by the thread that finishes the last part.

    x_ring: (3 batch_size, L_0). n_threads: how many threads to use (the
    results do not depend on it). The other arguments are those of
    train_epoch (the input slot of ``activations`` is not used).
    Returns sum_n C_n.
    """
    in_order = bool(_begin_shared_epoch(inputs, order, batch_size, x_ring))
    epoch = MiniBatchEpoch(params, grad, sizes, inputs, targets, order, in_order,
                           int(batch_size), params.dtype.type(eta), activations, deltas,
                           batch_targets, x_ring, objective)
    n_batches = (inputs.shape[0] + batch_size - 1) // batch_size
    return run_shared_epoch(epoch, n_batches, n_threads, control)
