"""Two versions of fastnn's kernels timed against each other on the same arrays.

    python scripts/bench_kernels_ab.py HEAD~1 WORKTREE
    python scripts/bench_kernels_ab.py main WORKTREE --cases "W4 L1" W1 --rounds 20

Each case times one kernel call (forward_layer, backward_delta or
layer_gradient at one layer of a workload of scripts/workloads.py); for
``W1``, one per-sample epoch of 2,000 samples in one thread
(train_epoch_per_sample); for ``epoch W1`` .. ``epoch W4``, one whole epoch
of that workload (4,000 samples for W1, 10,000 for the others; samples in
order, as in bench_peers.py) through the driver Network.train would pick in
that version with numba's thread count (``fastnn.plan.EpochPlan``: the
shared-epoch kernels where use_shared_epoch says so, train_epoch_threaded
where uses_layer_threads does). The epochs run through each version's own
EpochPlan, so this script knows no driver's buffers; versions older than
EpochPlan (commit 8dedc36) can only run the layer cases. An epoch gets the
threads its plan asks for even on a busy machine (fastnn would give it
fewer: _threads._other_runnable_threads is made to report an idle
machine), so that A and B run the same threads; a threaded epoch that ran
one-thread anyway is reported. Both versions are imported into this process
under their own package names (as scripts/bench_ab.py does) and run in
alternating rounds (A B, B A, ...); a round times each version's best of
several calls, and the report is the median over rounds of A's time over
B's, with the quartiles.

Both versions work on *the same arrays*. Where each version had arrays of
its own, the ratio of two identical kernels moved between 0.8x and 1.2x
from one run to the next on this machine: where an array lands in memory
(its offset from the others modulo 4 KiB, which decides whether loads and
stores alias in the store buffer) changes a kernel's time by that much.
With shared arrays, an A/A control (``HEAD HEAD``) gave medians of
0.93-1.04 per kernel in a noisy half hour (most within 0.98-1.01), and
1.00 for W1. For the epochs, B's plan is given A's work buffers (every
array attribute of the same name, shape and dtype; a note is printed when
the versions' buffers differ and so cannot be shared).
"""
from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
import tempfile
import time

import numba
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_ab import extract  # noqa: E402
from workloads import WORKLOADS  # noqa: E402  (scripts/workloads.py)

# (name, batch m, L_i, L_{i-1}): every layer of W4, W3 and W2
LAYERS = [(f"{name} L{i}", WORKLOADS[name].batch_size, WORKLOADS[name].sizes[i],
           WORKLOADS[name].sizes[i - 1])
          for name in ("W4", "W3", "W2") for i in range(1, len(WORKLOADS[name].sizes))]
KERNELS = ("forward", "backward", "gradient")
ETA = 3.0

# The epoch cases: name -> (workload with this script's sample count, one
# thread only). "W1" is the per-sample kernel alone; "epoch W1".."epoch W4"
# use as many threads as numba has.
EPOCHS = {
    "W1": (WORKLOADS["W1"].with_samples(2_000), True),
    "epoch W1": (WORKLOADS["W1"].with_samples(4_000), False),
    "epoch W2": (WORKLOADS["W2"].with_samples(10_000), False),
    "epoch W3": (WORKLOADS["W3"].with_samples(10_000), False),
    "epoch W4": (WORKLOADS["W4"].with_samples(10_000), False),
}


def layer_calls(kernels, arrays):
    """The three kernels of one layer as argument-free calls on ``arrays``."""
    w, b, x, a, delta, delta_prev, grad_w, grad_b = (
        arrays[key] for key in ("w", "b", "x", "a", "delta", "delta_prev", "grad_w", "grad_b"))
    m = x.shape[0]
    # Since the output rules and L2 (issue 15) forward_layer takes whether
    # to apply f and layer_gradient the decay factor (1: no L2).
    # Since the activations (issue 23) forward_layer and backward_delta take
    # the layer's rule (fastnn.kernels.neurons.LayerRule) and the batch's rows.
    takes_rule = _parameter_count(kernels.forward_layer) == 6
    if takes_rule:
        rule, rows = kernels.plain_rule(1, w.dtype), kernels.NO_ROWS
        forward = lambda: kernels.forward_layer(w, b, x, a, rule, rows)  # noqa: E731
    elif _parameter_count(kernels.forward_layer) == 5:
        forward = lambda: kernels.forward_layer(w, b, x, a, True)  # noqa: E731
    else:
        forward = lambda: kernels.forward_layer(w, b, x, a)  # noqa: E731
    if _parameter_count(kernels.layer_gradient) == 9:
        gradient = lambda: kernels.layer_gradient(  # noqa: E731
            delta, x, w, b, grad_w, grad_b, 1.0 / m, ETA, 1.0)
    else:
        gradient = lambda: kernels.layer_gradient(  # noqa: E731
            delta, x, w, b, grad_w, grad_b, 1.0 / m, ETA)
    return {
        "forward": forward,
        "backward": (lambda: kernels.backward_delta(w, delta, x, delta_prev, rule, rows))
        if takes_rule else (lambda: kernels.backward_delta(w, delta, x, delta_prev)),
        "gradient": gradient,
    }


def _parameter_count(kernel):
    import inspect

    return len(inspect.signature(getattr(kernel, "py_func", kernel)).parameters)


def layer_arrays(m, n_out, n_in, rng):
    f = np.float32
    return {
        "w": (rng.standard_normal((n_out, n_in)) * 0.05).astype(f),
        "b": np.zeros(n_out, f),
        "x": rng.random((m, n_in)).astype(f),
        "a": np.zeros((m, n_out), f),
        "delta": (rng.standard_normal((m, n_out)) * 0.01).astype(f),
        "delta_prev": np.zeros((m, n_in), f),
        "grad_w": np.zeros((n_out, n_in), f),
        "grad_b": np.zeros(n_out, f),
    }


def plan_module(package):
    """The version's fastnn.plan, after making its epochs take every thread
    they ask for (see the module docstring); None before EpochPlan existed."""
    try:
        plan = importlib.import_module(f"{package.__name__}.plan")
    except ModuleNotFoundError:
        return None
    threads = importlib.import_module(f"{package.__name__}._threads")
    if hasattr(threads, "_other_runnable_threads"):
        threads._other_runnable_threads = lambda: 0
    return plan


def share_buffers(plan_a, plan_b):
    """Give plan_b plan_a's arrays wherever both have one of the same name,
    shape and dtype; returns the names of the arrays left apart."""
    apart = []
    arrays_a = {k: v for k, v in vars(plan_a).items() if isinstance(v, np.ndarray)}
    arrays_b = {k: v for k, v in vars(plan_b).items() if isinstance(v, np.ndarray)}
    for name in sorted(arrays_a.keys() | arrays_b.keys()):
        a, b = arrays_a.get(name), arrays_b.get(name)
        if a is not None and b is not None and a.shape == b.shape and a.dtype == b.dtype:
            setattr(plan_b, name, a)
        else:
            apart.append(name)
    return apart


def epoch_plans(plan_modules, workload, n_threads):
    """Each version's EpochPlan for ``workload``, B's on A's work buffers."""
    plans = [module.EpochPlan(workload.sizes, workload.batch_size, workload.dtype,
                              workload.n_samples, n_threads) for module in plan_modules]
    if plans[0].n_params != plans[1].n_params:
        raise RuntimeError(f"the versions count {plans[0].n_params} and {plans[1].n_params} "
                           f"parameters for sizes {workload.sizes}")
    return plans, share_buffers(*plans)


def epoch_arrays(workload, n_params, rng):
    """Seeded data of one epoch (samples in order) and starting parameters."""
    sizes, n, dtype = workload.sizes, workload.n_samples, workload.dtype
    Y = np.zeros((n, sizes[-1]), dtype)
    Y[np.arange(n), rng.integers(0, sizes[-1], n)] = 1
    return {
        "X": rng.random((n, sizes[0])).astype(dtype), "Y": Y,
        "order": np.arange(n, dtype=np.int64),
        "start": (rng.standard_normal(n_params) * 0.05).astype(dtype),
        "params": np.zeros(n_params, dtype),
    }


def epoch_call(plan, arrays, fallbacks):
    """One epoch from the starting parameters through ``plan``; counts in
    fallbacks[0] the epochs that ran another kernel than the plan's driver."""
    params, start = arrays["params"], arrays["start"]
    X, Y, order = arrays["X"], arrays["Y"], arrays["order"]

    def call():
        params[:] = start
        plan.run(params, X, Y, order, ETA)
        if getattr(plan, "last_run", plan.driver) != plan.driver:
            fallbacks[0] += 1
    return call


def best_of(call, repeats):
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def compare(call_a, call_b, rounds, repeats):
    """Median and quartiles over rounds of time(A) / time(B), and B's median time."""
    ratios, times_b = [], []
    for round_index in range(rounds):
        if round_index % 2 == 0:
            time_a, time_b = best_of(call_a, repeats), best_of(call_b, repeats)
        else:
            time_b, time_a = best_of(call_b, repeats), best_of(call_a, repeats)
        ratios.append(time_a / time_b)
        times_b.append(time_b)
    return np.median(ratios), np.percentile(ratios, 25), np.percentile(ratios, 75), np.median(times_b)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="git revision (or WORKTREE) of version A")
    parser.add_argument("b", help="git revision (or WORKTREE) of version B")
    names = [name for name, *_ in LAYERS] + list(EPOCHS)
    parser.add_argument("--cases", nargs="+", default=names, choices=names)
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=KERNELS)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        destination = pathlib.Path(temporary)
        packages = [extract(args.a, destination, "fastnn_kernels_a"),
                    extract(args.b, destination, "fastnn_kernels_b")]
        version_a, version_b = (package.kernels for package in packages)
        try:
            machine = importlib.import_module(f"{packages[1].__name__}._machine").describe()
        except ImportError:  # a version without fastnn/_machine.py
            machine = None
        if machine:
            print(machine)
        print(f"A = {args.a}, B = {args.b}; median over {args.rounds} alternating rounds "
              "of A's time / B's time (quartiles), same arrays for both\n")
        rng = np.random.default_rng(0)
        for name, m, n_out, n_in in LAYERS:
            if name not in args.cases:
                continue
            arrays = layer_arrays(m, n_out, n_in, rng)
            calls_a, calls_b = layer_calls(version_a, arrays), layer_calls(version_b, arrays)
            for kernel in args.kernels:
                calls_a[kernel](), calls_b[kernel]()  # compile
                ratio, low, high, seconds = compare(calls_a[kernel], calls_b[kernel],
                                                    args.rounds, repeats=20)
                print(f"{name:6s} {m:4d}x{n_out:4d}x{n_in:4d} {kernel:9s} B {seconds * 1e6:8.1f} us"
                      f"   A/B {ratio:.3f} ({low:.3f}-{high:.3f})")
        epoch_cases = [name for name in EPOCHS if name in args.cases]
        plan_modules = [plan_module(package) for package in packages] if epoch_cases else []
        for revision, module in zip((args.a, args.b), plan_modules):
            if module is None:
                print(f"epoch cases skipped: {revision} has no fastnn/plan.py (EpochPlan)")
                epoch_cases = []
        for name in epoch_cases:
            workload, one_thread = EPOCHS[name]
            n_threads = 1 if one_thread else numba.get_num_threads()
            plans, apart = epoch_plans(plan_modules, workload, n_threads)
            arrays = epoch_arrays(workload, plans[0].n_params, rng)
            fallbacks = ([0], [0])
            call_a, call_b = (epoch_call(plan, arrays, count)
                              for plan, count in zip(plans, fallbacks))
            call_a(), call_b()  # compile
            ratio, low, high, seconds = compare(call_a, call_b, args.rounds, repeats=3)
            drivers = {plan.driver for plan in plans}
            driver = plans[0].driver if len(drivers) == 1 else \
                f"A {plans[0].driver}, B {plans[1].driver}"
            what = (f"per-sample epoch of {workload.n_samples:,}" if name == "W1"
                    else f"of {workload.n_samples:,} samples")
            print(f"{name:9s} {what:25s}  B {seconds * 1e3:8.2f} ms"
                  f"   A/B {ratio:.3f} ({low:.3f}-{high:.3f})   {driver}, {n_threads} thread"
                  + ("s" if n_threads > 1 else ""))
            if apart:
                print(f"{'':9s} note: work buffers {', '.join(apart)} differ between the versions "
                      "(each used its own)")
            for version, plan, (count,) in zip("AB", plans, fallbacks):
                if count:
                    print(f"{'':9s} note: {count} of {version}'s {args.rounds * 3 + 1} epochs ran "
                          f"{plan.last_run}, not {plan.driver}")


if __name__ == "__main__":
    main()
