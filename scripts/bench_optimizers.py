"""What an optimizer costs per epoch over plain SGD, in the drivers Network.train
runs (issue 24's floors: Adam adds at most 20% to a W3 epoch, momentum 10%).

    python scripts/bench_optimizers.py                        # W3, numba's threads
    python scripts/bench_optimizers.py --workload W2 --threads 1 --rounds 15

One EpochPlan per optimizer (the driver Network.train would pick for the
workload and the thread count: for W3 on two threads the shared epoch),
each on its own copy of the same parameters and the same data (random
inputs, one-hot targets, samples shuffled once); rounds alternate the
optimizers, each round times each optimizer's best of --calls epochs, and
the report is the median over rounds of each optimizer's time over plain
SGD's of the same round, with the quartiles. Prints the CPU.
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

from fastnn import kernels, optimizers  # noqa: E402
from fastnn._threads import default_thread_count  # noqa: E402
from fastnn.plan import EpochPlan  # noqa: E402

NAMES = ("sgd", "momentum", "nesterov", "adam")


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
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()

    workload = WORKLOADS[args.workload].with_samples(args.samples)
    dtype = np.dtype(workload.dtype)
    sizes = workload.sizes
    threads = args.threads or default_thread_count()
    rng = np.random.default_rng(0)
    inputs = rng.random((workload.n_samples, sizes[0])).astype(dtype)
    targets = np.zeros((workload.n_samples, sizes[-1]), dtype)
    targets[np.arange(workload.n_samples), rng.integers(0, sizes[-1], workload.n_samples)] = 1
    n_params = kernels.parameter_count(sizes)
    start = (rng.standard_normal(n_params) * 0.05).astype(dtype)
    order = rng.permutation(workload.n_samples).astype(np.int64)
    eta = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 1e-3}
    runs = {}
    for name in NAMES:
        plan = EpochPlan(sizes, workload.batch_size, dtype, workload.n_samples, threads,
                         borrow_cores=False, stateful=name != "sgd")
        state = optimizers.OptimizerState.new(name, eta[name], n_params, dtype)
        runs[name] = (plan, state, start.copy())
        plan.warm_up(start, inputs, targets, eta[name])

    def epoch(name):
        plan, state, params = runs[name]
        params[...] = start
        began = time.perf_counter()
        plan.run(params, inputs, targets, order, eta[name], lmbda=1e-4,
                 optimizer=None if name == "sgd" else state.kernel(0.0, dtype))
        return time.perf_counter() - began

    for name in NAMES:  # compile with the optimizer's own arrays
        epoch(name)
    ratios = {name: [] for name in NAMES}
    seconds = {name: [] for name in NAMES}
    for round_ in range(args.rounds):
        times = {}
        for name in (NAMES if round_ % 2 == 0 else NAMES[::-1]):
            times[name] = min(epoch(name) for _ in range(args.calls))
            seconds[name].append(times[name])
        for name in NAMES:
            ratios[name].append(times[name] / times["sgd"])
    print(f"{args.workload}: {workload.description}; {threads} thread(s), driver "
          f"{runs['adam'][0].driver} (sgd: {runs['sgd'][0].driver}); {cpu_name()} "
          f"({kernels.HOST_ISA.cpu_name}, {kernels.HOST_ISA.family})")
    print(f"{'optimizer':10s} {'epoch ms':>9s} {'/ sgd':>7s} {'q1':>6s} {'q3':>6s}")
    for name in NAMES:
        q1, median, q3 = np.percentile(ratios[name], [25, 50, 75])
        print(f"{name:10s} {1e3 * np.median(seconds[name]):9.1f} {median:7.3f} {q1:6.3f} "
              f"{q3:6.3f}")


if __name__ == "__main__":
    main()
