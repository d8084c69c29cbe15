"""The staged epoch: mini-batch gradient descent for networks with big
layers, each layer's work cut into parts that any thread may take, through
the register-blocked kernels or BLAS as the layer's plan says
(docs/theory.md §9, "The big-layer engine"; docs/performance.md).

A batch is a sequence of stages, each a set of parts that may run at once:

    gather | forward 1 | ... | forward l | output | backward l | gradient l
           | backward l-1 | gradient l-1 | ... | gradient 1 | end

* gather: copies of the batch's samples (parts of samples), when the epoch
  does not take the samples in order;
* forward i (§1): parts of rows j of layer i;
* output (§5, §3, §10): the output delta and the batch's cost, one part;
* backward i (§6, i >= 2): parts of samples n;
* gradient i (§7 and the step): parts of rows j;
* end: the batch's progress, and a stop request seen (one part).

The parts of every batch of the epoch are numbered in that order, and a
thread takes the next number with one atomic add; it then waits until
every part numbered before its stage is done (one counter of finished
parts: a stage cannot finish before the one before it), and runs its part.
The last stage of a batch sets the epoch's limit when a stop was asked
for, before the next batch can start. One compiled loop serves any number
of threads, one included (Python threads from ``fastnn._threads``, each
running the loop without the GIL); no numba parallel region is opened.

Each part computes the same numbers whichever thread runs it: a part of
rows is a whole number of row blocks (``blocked.ROWS_PER_PART``) or one
BLAS product of a fixed shape, a part of samples a whole number of
sample blocks; so the results are bitwise the same for every thread count.

The layer plan (``layer_plan``, int64 (l + 1, PLAN_COLUMNS), row i for
layer i, row 0 unused) says per layer which engine computes each of §1,
§6, §7 (TILES or BLAS) and the part sizes. It is chosen by
``fastnn.engine`` (a default rule, or the winners measured by
``fastnn compile``), recorded in a run's history and checkpoints, and
passed in at run time: the compiled loop is the same for every plan.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit
from .activation import cast_like
from .atomics import fetch_add, load_acquire, store_release
from .blas import backward_samples_blas, forward_rows_blas, gradient_rows_blas
from .control import report_progress, stop_requested
from .layers import backward_delta_samples, forward_rows, gradient_rows, output_delta
from .layout import layer_biases, layer_rows, layer_weights
from .neurons import complete_rows, layer_rule
from .objective import Objective
from .optimizer import keeps_state, step_eta, step_layer_rows
from .scheduler import back_off
from .._threads import run_workers

__all__ = ["TILES", "BLAS", "FORWARD", "BACKWARD", "GRADIENT", "ROWS", "SAMPLES",
           "PLAN_COLUMNS", "GATHER", "OUTPUT", "END", "stage_table", "train_epoch_staged",
           "StagedEpoch"]

# Engines of an equation.
TILES = 0
BLAS = 1
# Columns of a layer's row of the plan: the engine of §1, §6, §7, then the
# rows j of a part of the forward and gradient stages and the samples n of
# a part of the backward stage.
FORWARD = 0
BACKWARD = 1
GRADIENT = 2
ROWS = 3
SAMPLES = 4
PLAN_COLUMNS = 5

# Stage kinds (column 0 of the stage table; the equations use the plan's
# column numbers above).
GATHER = 5
OUTPUT = 6
END = 7
# Columns of the stage table: kind, layer, parts, part size.
STAGE_COLUMNS = 4

# The counters of an epoch, a cache line apart: parts claimed, parts done,
# the limit (batches the epoch runs).
CLAIMED = 0
DONE = 8
LIMIT = 16
SYNC_SIZE = 24


def stage_table(layer_plan, sizes, batch_size, gather_parts):
    """The stages of one batch as an int64 array (stages, STAGE_COLUMNS):
    kind, layer, number of parts, part size (rows or samples)."""
    n_layers = len(sizes) - 1
    rows = []

    def add(kind, layer, size, extent):
        size = max(1, int(size))
        rows.append((kind, layer, -(-int(extent) // size), size))

    add(GATHER, 0, -(-batch_size // max(1, gather_parts)), batch_size)
    for i in range(1, n_layers + 1):
        add(FORWARD, i, layer_plan[i, ROWS], sizes[i])
    add(OUTPUT, n_layers, batch_size, batch_size)
    for i in range(n_layers, 0, -1):
        if i > 1:
            add(BACKWARD, i, layer_plan[i, SAMPLES], batch_size)
        add(GRADIENT, i, layer_plan[i, ROWS], sizes[i])
    add(END, 0, 1, 1)
    return np.asarray(rows, dtype=np.int64)


class StagedEpoch(NamedTuple):
    """What the threads of a staged epoch share: train_epoch's arguments
    (``eta`` of the network's dtype), whether the samples are taken in
    order, the layer plan, the stage table and its running part counts
    (``first_part[s]``: parts of a batch before stage s), and ``cost``,
    float64 (1,): the epoch's sum_n s_n C_n."""
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
    objective: Objective
    layer_plan: np.ndarray
    stages: np.ndarray
    first_part: np.ndarray
    cost: np.ndarray


@jit(inline=True)
def _batch_inputs(epoch, start, m):
    """The batch's inputs (m, L_0): in place when taken in order, else the
    copy in activation slot 0."""
    if epoch.in_order:
        return epoch.inputs[start:start + m]
    return layer_rows(epoch.activations, epoch.sizes, 0, m, epoch.batch_size)


@jit(inline=True)
def _run_part(epoch, batch, stage, part, control, sync):
    """Part ``part`` of stage ``stage`` of batch ``batch``."""
    params, grad, sizes, activations, deltas = (epoch.params, epoch.grad, epoch.sizes,
                                                epoch.activations, epoch.deltas)
    batch_size, plan = epoch.batch_size, epoch.layer_plan
    kind, i, size = epoch.stages[stage, 0], epoch.stages[stage, 1], epoch.stages[stage, 3]
    start = batch * batch_size
    m = min(batch_size, epoch.inputs.shape[0] - start)
    n_layers = len(sizes) - 1
    objective = epoch.objective
    rows = epoch.order[start:start + m]  # the batch's rows of the inputs (dropout's masks)
    if kind == GATHER:
        if not epoch.in_order:
            x = layer_rows(activations, sizes, 0, m, batch_size)
            for n in range(part * size, min((part + 1) * size, m)):
                source = epoch.order[start + n]
                for k in range(x.shape[1]):
                    x[n, k] = epoch.inputs[source, k]
    elif kind == FORWARD:
        w = layer_weights(params, sizes, i)
        b = layer_biases(params, sizes, i)
        a_prev = _batch_inputs(epoch, start, m) if i == 1 else layer_rows(
            activations, sizes, i - 1, m, batch_size)
        a = layer_rows(activations, sizes, i, m, batch_size)
        j_begin, j_end = part * size, min((part + 1) * size, sizes[i])
        rule = layer_rule(objective, sizes, i, params, True)
        if plan[i, FORWARD] == BLAS:
            forward_rows_blas(w, b, a_prev, a, j_begin, j_end, rule, rows)
        else:
            forward_rows(w, b, a_prev, a, j_begin, j_end, rule, rows)
    elif kind == OUTPUT:
        a = layer_rows(activations, sizes, n_layers, m, batch_size)
        # the output layer was computed in parts of rows j: a softmax needs
        # every row of a sample (§11)
        complete_rows(a, 0, m, layer_rule(objective, sizes, n_layers, params, True))
        y = epoch.batch_targets[:m]
        for n in range(m):
            source = epoch.order[start + n]
            for j in range(y.shape[1]):
                y[n, j] = epoch.targets[source, j]
        epoch.cost[0] += output_delta(a, y, layer_rows(deltas, sizes, n_layers, m, batch_size),
                                      objective.rule, objective.sample_weights, rows)
    elif kind == BACKWARD:
        n_begin, n_end = part * size, min((part + 1) * size, m)
        if n_begin < n_end:
            w = layer_weights(params, sizes, i)
            delta = layer_rows(deltas, sizes, i, m, batch_size)
            a_prev = layer_rows(activations, sizes, i - 1, m, batch_size)
            delta_prev = layer_rows(deltas, sizes, i - 1, m, batch_size)
            rule = layer_rule(objective, sizes, i - 1, params, True)  # f' of layer i-1
            if plan[i, BACKWARD] == BLAS:
                backward_samples_blas(w, delta, a_prev, delta_prev, n_begin, n_end, rule, rows)
            else:
                backward_delta_samples(w, delta[:n_end], a_prev, delta_prev, n_begin, rule,
                                       rows)
    elif kind == GRADIENT:
        w = layer_weights(params, sizes, i)
        a_prev = _batch_inputs(epoch, start, m) if i == 1 else layer_rows(
            activations, sizes, i - 1, m, batch_size)
        delta = layer_rows(deltas, sizes, i, m, batch_size)
        j_begin, j_end = part * size, min((part + 1) * size, sizes[i])
        scale = cast_like(1.0 / m, w)
        # plain SGD steps inside the gradient kernels; a rule with state
        # (§13) takes the gradient alone (eta 0) and steps the rows after it
        eta = step_eta(objective.optimizer, epoch.eta)
        if plan[i, GRADIENT] == BLAS:
            gradient_rows_blas(delta, a_prev, w, layer_biases(params, sizes, i),
                               layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                               scale, eta, objective.decay, j_begin, j_end)
        else:
            gradient_rows(delta, a_prev, w, layer_biases(params, sizes, i),
                          layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                          scale, eta, objective.decay, j_begin, j_end)
        if keeps_state(objective.optimizer) and epoch.eta != 0:
            step_layer_rows(params, grad, sizes, i, np.int64(j_begin), np.int64(j_end),
                            objective.optimizer, epoch.eta, np.int64(batch))
    else:  # END
        report_progress(control, batch + 1)
        if stop_requested(control):
            store_release(sync, LIMIT, batch + 1)


@jit
def _wait_until_done(sync, parts_done, batch):
    """Wait until ``parts_done`` parts of the epoch are done; False if the
    epoch's limit came down to ``batch`` or below meanwhile."""
    tries = 0
    while load_acquire(sync, DONE) < parts_done:
        if load_acquire(sync, LIMIT) <= batch:
            return False
        back_off(tries)
        tries += 1
    return load_acquire(sync, LIMIT) > batch


@jit
def _staged_worker(worker, n_workers, epoch, sync, control):
    """The loop of one thread of a staged epoch (see the module docstring)."""
    n_stages = epoch.stages.shape[0]
    per_batch = epoch.first_part[n_stages]
    while True:
        ticket = fetch_add(sync, CLAIMED, 1)
        batch = ticket // per_batch
        if batch >= load_acquire(sync, LIMIT):
            break
        offset = ticket - batch * per_batch
        stage = 0
        while epoch.first_part[stage + 1] <= offset:
            stage += 1
        if not _wait_until_done(sync, batch * per_batch + epoch.first_part[stage], batch):
            break
        _run_part(epoch, batch, stage, offset - epoch.first_part[stage], control, sync)
        fetch_add(sync, DONE, 1)


@jit
def _is_identity(order):
    for n in range(order.shape[0]):
        if order[n] != n:
            return False
    return True


def train_epoch_staged(params, grad, sizes, inputs, targets, order, batch_size, eta,
                       activations, deltas, batch_targets, control, objective, layer_plan,
                       stages, n_threads):
    """§9: one epoch of mini-batch gradient descent in stages of parts
    (module docstring), on up to ``n_threads`` threads (the results do not
    depend on how many).

    The arguments are train_epoch's, plus the layer plan (int64 (l + 1,
    PLAN_COLUMNS)) and its stage table (``stage_table``). Returns sum_n s_n
    C_n over the batches run (all, or those before a stop request).
    """
    first_part = np.zeros(stages.shape[0] + 1, np.int64)
    first_part[1:] = np.cumsum(stages[:, 2])
    n_batches = (inputs.shape[0] + batch_size - 1) // batch_size
    in_order = bool(_is_identity(order))
    epoch = StagedEpoch(params, grad, sizes, inputs, targets, order, in_order, int(batch_size),
                        params.dtype.type(eta), activations, deltas, batch_targets, objective,
                        layer_plan, stages, first_part, np.zeros(1))
    sync = np.zeros(SYNC_SIZE, np.int64)
    sync[LIMIT] = n_batches
    # No more threads than the parts of the widest stage can keep busy.
    n_workers = max(1, min(int(n_threads), int(stages[:, 2].max())))
    run_workers(_staged_worker, n_workers, (epoch, sync, control))
    return epoch.cost[0]
