"""The tasks of ``fastnn.dask`` that run on the workers: a chunk's gradient
sum (gradient mode), a chunk's SGD epoch (average mode), the reduction
tree's node, the data check, the kernels' warm-up. Each takes what it needs
as arguments (``Spec``: the network and the run, small) and returns its
result with the compute seconds it spent, by worker.

Apart from ``fastnn/dask.py`` (the driver), which imports them; neither is
imported by ``import fastnn``.
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from fastnn import kernels
from fastnn.kernels.dropout import epoch_key
from fastnn.kernels.objective import plain_objective
from fastnn.plan import EpochPlan
from fastnn._validation import check_inputs, check_targets

__all__ = ["Spec", "chunk_gradient", "chunk_sgd", "add", "check_chunk",
           "prepare_worker", "worker_name"]


@dataclass
class Spec:
    """What a task needs to know of the network and the run (small; sent
    with every task)."""

    sizes: tuple
    dtype: str
    sub_batch: int
    neurons: object  # fastnn.activations.Neurons: activations, output, cost, dropout
    dropout_seed: int = 0  # the run's (fastnn.run_state.dropout_seed)
    plan: dict = field(default_factory=dict)  # the driver's kernel plan, run by every worker


def chunk_gradient(params, x, y, lo, hi, spec):
    """sum_n dC_n/dparams and sum_n C_n over rows lo..hi-1 of one chunk,
    in sub-batches of spec.sub_batch rows added in order (float64).

    Returns (gradient sum, cost sum, [(worker, compute seconds)])."""
    started = time.perf_counter()
    dtype = np.dtype(spec.dtype)
    sizes = np.asarray(spec.sizes, dtype=np.int64)
    n_out = spec.sizes[-1]
    capacity = min(spec.sub_batch, hi - lo)
    activations = np.empty(kernels.workspace_size(spec.sizes, capacity), dtype)
    deltas = np.empty_like(activations)
    grad = np.empty(params.size, dtype)
    total = np.zeros(params.size, np.float64)
    objective = plain_objective(dtype, spec.neurons.rule, spec.neurons.hidden_activations())
    rows = np.arange(capacity, dtype=np.int64)
    cost = 0.0
    for start in range(lo, hi, capacity):
        m = min(capacity, hi - start)
        activations[: m * spec.sizes[0]] = np.asarray(x[start:start + m], dtype=dtype).ravel()
        targets = check_targets(y[start:start + m], m, n_out, dtype, softmax=spec.neurons.softmax)
        kernels.forward_pass(params, sizes, activations, m, m, objective)
        # backward_pass writes the batch's *mean* gradient (eta = 0: no step)
        cost += float(kernels.backward_pass(params, grad, sizes, activations, deltas, targets,
                                            m, m, 0.0, objective, rows[:m]))
        total += m * grad.astype(np.float64)
    return total, cost, [(worker_name(), time.perf_counter() - started)]


def chunk_sgd(start, x, y, spec, batch_size, eta, lmbda, n_train, shuffle_seed, weight,
               part=None, first_row=0, epoch=0):
    """fastnn's SGD epoch (EpochPlan, one thread) over one chunk in a seeded
    order, from ``start``: the scattered parameters, or the (params, cost,
    timings) of the chunk before it in its replica. ``weight`` not None:
    this chunk is its replica's last; return weight * params in float64,
    ready for the weighted average. ``part=(lo, hi)``: only positions
    lo..hi-1 of the chunk's shuffled order (a round of average_every)."""
    started = time.perf_counter()
    params, cost, timings = start if isinstance(start, tuple) else (start, 0.0, [])
    params = params.copy()
    dtype, neurons = np.dtype(spec.dtype), spec.neurons
    inputs = np.ascontiguousarray(x, dtype=dtype)
    targets = check_targets(y, inputs.shape[0], spec.sizes[-1], dtype, softmax=neurons.softmax)
    plan = EpochPlan(spec.sizes, batch_size, dtype, inputs.shape[0], 1, neurons=neurons,
                     layer_plan=spec.plan)
    order = np.arange(inputs.shape[0], dtype=np.int64)
    kernels.shuffle_order(order, shuffle_seed)
    rows = None if part in (None, (0, inputs.shape[0])) else order[part[0]:part[1]]
    if rows is not None:
        # the kernels run over whole arrays: copy this round's rows, in order
        inputs, targets = inputs[rows], targets[rows]
        order = np.arange(rows.size, dtype=np.int64)
    cost += float(plan.run(params, inputs, targets, order, eta, lmbda=lmbda, n_train=n_train,
                           dropout_key=epoch_key(spec.dropout_seed, epoch),
                           first_row=first_row, rows=rows))
    timings = timings + [(worker_name(), time.perf_counter() - started)]
    if weight is not None:
        params = params.astype(np.float64) * weight
    return params, cost, timings


def add(a, b):
    """One node of the reduction tree: (sum, cost, timings) of two subtrees."""
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def check_chunk(x, y, n_inputs, n_outputs, dtype, checksum, softmax=False):
    """The one pass over the data before training: shapes, finiteness and
    labels, as Network.train checks them; the chunk's CRC-32 if asked."""
    inputs, _ = check_inputs(x, n_inputs, np.dtype(dtype))
    targets = check_targets(y, inputs.shape[0], n_outputs, np.dtype(dtype), softmax=softmax)
    if not checksum:
        return 0
    crc = zlib.crc32(np.ascontiguousarray(inputs).view(np.uint8).reshape(-1))
    return zlib.crc32(np.ascontiguousarray(targets).view(np.uint8).reshape(-1), crc)


def prepare_worker(spec, batch_size):
    """Load (or compile, the first time on this machine) the kernels a run
    calls, through the same tasks on a tiny chunk; returns the seconds."""
    started = time.perf_counter()
    dtype = np.dtype(spec.dtype)
    n = 2
    x = np.zeros((n, spec.sizes[0]), dtype)
    y = np.eye(spec.sizes[-1], dtype=dtype)[np.zeros(n, np.int64)]  # one-hot (softmax's)
    params = np.zeros(kernels.parameter_count(spec.sizes), dtype)
    chunk_gradient(params, x, y, 0, n, spec)
    if batch_size is not None:
        chunk_sgd(params, x, y, spec, batch_size, 0.5, 0.0, n, np.uint32(0), 1.0)
    return time.perf_counter() - started


def worker_name():
    import distributed  # (present: these run on dask's workers)

    try:
        return distributed.get_worker().address
    except ValueError:  # run outside a worker (tests call the tasks directly)
        return "local"
