"""Where an optimizer's step goes in a mini-batch epoch, measured: what Adam,
momentum and Nesterov cost over plain SGD's fused step (issue 24).

    python scripts/bench_optimizer_step.py                   # W3, one thread
    python scripts/bench_optimizer_step.py --workload W2 --rounds 15

Every variant is a compiled epoch of the same loop (the batches in order:
forward pass, output delta, then for i = l..1 the delta passed down and
layer i's gradient), differing only in where the step is taken:

* ``fused``: plain SGD as the drivers take it, inside the gradient
  kernels (``layers.gradient_rows`` with eta != 0): the baseline;
* ``flat``: the gradient of every layer first (eta = 0), then one pass of
  ``optimizer.step_flat`` over the flat vector;
* ``layer``: each layer's gradient, then ``optimizer.step_layer_rows``
  over all its rows at once, before the next layer's delta;
* ``rows``: within each layer, every group of GRADIENT_ROW_BLOCK rows
  stepped right after its gradient (still in L1), as the plain step is.

Rounds alternate the variants; each round times each variant's best of
--calls epochs, and the report is the median, over rounds, of each
variant's time over ``fused``'s of the same round. One thread (the
step is elementwise: every variant splits between threads as its
gradient does). Prints the CPU.
"""
from __future__ import annotations

import argparse
import pathlib
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from workloads import WORKLOADS  # noqa: E402

from fastnn.kernels import blocked, optimizer as opt  # noqa: E402
from fastnn.kernels._jit import jit  # noqa: E402
from fastnn.kernels.activation import cast_like  # noqa: E402
from fastnn.kernels.layers import (backward_delta_samples, gradient_rows,  # noqa: E402
                                   output_delta)
from fastnn.kernels.layout import layer_biases, layer_rows, layer_weights  # noqa: E402
from fastnn.kernels.minibatch import backward_pass_from, forward_pass_from  # noqa: E402
from fastnn.kernels.objective import QUADRATIC_SIGMOID, plain_objective  # noqa: E402

FUSED, FLAT, LAYER, ROWS = 0, 1, 2, 3
VARIANTS = {"fused": FUSED, "flat": FLAT, "layer": LAYER, "rows": ROWS}


@jit
def _rows_stepped(delta, a_prev, w, b, grad_w, grad_b, scale, params, grad, sizes, i,
                  optimizer, eta, batch):
    """gradient_rows with eta = 0, each group of rows stepped by the optimizer
    right after its gradient."""
    n_j = w.shape[0]
    zero = cast_like(0.0, w)
    j = 0
    while j + blocked.GRADIENT_ROW_BLOCK <= n_j:
        blocked.gradient_rows_block(delta, a_prev, w, b, grad_w, grad_b, scale, zero, j)
        opt.step_layer_rows(params, grad, sizes, i, np.int64(j),
                            np.int64(j + blocked.GRADIENT_ROW_BLOCK), optimizer, eta, batch)
        j += blocked.GRADIENT_ROW_BLOCK
    while j < n_j:
        blocked.gradient_row_one(delta, a_prev, w, b, grad_w, grad_b, scale, zero, j)
        opt.step_layer_rows(params, grad, sizes, i, np.int64(j), np.int64(j + 1), optimizer,
                            eta, batch)
        j += 1


@jit
def epoch(variant, params, grad, sizes, inputs, targets, batch_size, eta, activations, deltas,
          objective, optimizer):
    n_layers = len(sizes) - 1
    rows = np.arange(batch_size)
    cost = 0.0
    batch = 0
    for start in range(0, inputs.shape[0] - batch_size + 1, batch_size):
        m = batch_size
        x = inputs[start:start + m]
        y = targets[start:start + m]
        forward_pass_from(params, sizes, x, activations, m, batch_size, objective.rule)
        if variant == FUSED:
            cost += backward_pass_from(params, grad, sizes, x, activations, deltas, y, m,
                                       batch_size, eta, objective, rows)
        elif variant == FLAT:
            cost += backward_pass_from(params, grad, sizes, x, activations, deltas, y, m,
                                       batch_size, 0.0, objective, rows)
            opt.step_flat(params, grad, sizes, optimizer, eta, np.int64(batch))
        else:
            cost += output_delta(layer_rows(activations, sizes, n_layers, m, batch_size), y,
                                 layer_rows(deltas, sizes, n_layers, m, batch_size),
                                 objective.rule, objective.sample_weights, rows)
            scale = cast_like(1.0 / m, params)
            for i in range(n_layers, 0, -1):
                w = layer_weights(params, sizes, i)
                a_prev = x if i == 1 else layer_rows(activations, sizes, i - 1, m, batch_size)
                delta = layer_rows(deltas, sizes, i, m, batch_size)
                if i > 1:
                    backward_delta_samples(w, delta, a_prev,
                                           layer_rows(deltas, sizes, i - 1, m, batch_size),
                                           np.int64(0))
                if variant == LAYER:
                    gradient_rows(delta, a_prev, w, layer_biases(params, sizes, i),
                                  layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                                  scale, cast_like(0.0, params), cast_like(1.0, params),
                                  np.int64(0), w.shape[0])
                    opt.step_layer_rows(params, grad, sizes, i, np.int64(0),
                                        np.int64(w.shape[0]), optimizer, eta, np.int64(batch))
                else:
                    _rows_stepped(delta, a_prev, w, layer_biases(params, sizes, i),
                                  layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                                  scale, params, grad, sizes, i, optimizer, eta,
                                  np.int64(batch))
        batch += 1
    return cost


def optimizer_state(code, n_params, dtype):
    zeros = np.zeros(n_params, dtype)
    return opt.Optimizer(np.int64(code), 0.9, 0.999, 1e-8, 1e-5,
                         zeros.copy() if code != opt.SGD else np.empty(0, dtype),
                         zeros.copy() if code == opt.ADAM else np.empty(0, dtype),
                         np.zeros(1, np.int64))


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="W3", choices=sorted(WORKLOADS))
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()

    import numba
    from fastnn.kernels import HOST_ISA

    numba.set_num_threads(1)
    workload = WORKLOADS[args.workload].with_samples(args.samples)
    dtype = np.dtype(workload.dtype)
    sizes = np.asarray(workload.sizes, np.int64)
    rng = np.random.default_rng(0)
    inputs = rng.random((workload.n_samples, sizes[0])).astype(dtype)
    targets = np.zeros((workload.n_samples, sizes[-1]), dtype)
    targets[np.arange(workload.n_samples), rng.integers(0, sizes[-1], workload.n_samples)] = 1
    from fastnn import kernels
    n_params = kernels.parameter_count(sizes)
    start = (rng.standard_normal(n_params) * 0.05).astype(dtype)
    params = start.copy()
    grad = np.empty(n_params, dtype)
    activations = np.empty(kernels.workspace_size(sizes, workload.batch_size), dtype)
    deltas = np.empty_like(activations)
    objective = plain_objective(dtype, QUADRATIC_SIGMOID)
    eta = dtype.type(0.01)

    cases = [("sgd fused", FUSED, opt.SGD)]
    for name, code in (("momentum", opt.MOMENTUM), ("nesterov", opt.NESTEROV),
                       ("adam", opt.ADAM)):
        for variant in ("flat", "layer", "rows"):
            cases.append((f"{name} {variant}", VARIANTS[variant], code))
    states = {name: optimizer_state(code, n_params, dtype) for name, _, code in cases}
    for name, variant, code in cases:  # compile
        params[...] = start
        epoch(variant, params, grad, sizes, inputs[:64], targets[:64], workload.batch_size, eta,
              activations, deltas, objective, states[name])

    ratios = {name: [] for name, _, _ in cases}
    for round_ in range(args.rounds):
        order = cases if round_ % 2 == 0 else cases[::-1]
        times = {}
        for name, variant, code in order:
            best = np.inf
            for _ in range(args.calls):
                params[...] = start
                began = time.perf_counter()
                epoch(variant, params, grad, sizes, inputs, targets, workload.batch_size, eta,
                      activations, deltas, objective, states[name])
                best = min(best, time.perf_counter() - began)
            times[name] = best
        for name in times:
            ratios[name].append(times[name] / times["sgd fused"])
        if round_ == 0:
            base = times["sgd fused"]
    print(f"{args.workload}: {workload.description}, one thread; {cpu_name()} "
          f"({HOST_ISA}), numba {numba.__version__}")
    print(f"sgd fused epoch: {base * 1e3:.1f} ms (first round)")
    print(f"{'case':18s} {'median':>7s} {'q1':>6s} {'q3':>6s}  (time / sgd fused)")
    for name, _, _ in cases:
        q1, median, q3 = np.percentile(ratios[name], [25, 50, 75])
        print(f"{name:18s} {median:7.3f} {q1:6.3f} {q3:6.3f}")


if __name__ == "__main__":
    main()
