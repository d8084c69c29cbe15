"""What the neurons of issue 23 cost, as ratios measured side by side.

    python scripts/bench_activations.py                      # every comparison
    python scripts/bench_activations.py --only relu --rounds 20

Each comparison times one whole epoch of a workload (scripts/workloads.py,
samples in order as in bench_kernels_ab.py) through the driver
Network.train would pick, for two networks of the same shape that differ
in one choice, on the same data and the same starting parameters, in
alternating rounds in this one process (A B, B A, ...); a round times the
best of several epochs of each, and the report is the median over rounds
of B's time over A's, with the quartiles:

* relu:    ReLU hidden layers (B) against logistic ones (A), W1-W4. Issue
           23's floor: B/A <= 1.0 (ReLU's f is cheaper).
* tanh:    tanh hidden layers against logistic ones, W1-W4 (reported).
* softmax: a softmax output with the log-likelihood (B) against the
           sigmoid output with the quadratic cost (A), W2. Floor: <= 1.05.
* dropout: dropout of 0.5 on the hidden layer (B) against none (A), W3.
           Floor: <= 1.15.

An epoch gets the threads its plan asks for even on a busy machine (as in
bench_kernels_ab.py). The CPU is named on the first line (and whether
numba targets another one: NUMBA_CPU_NAME, for AVX2 measured on an
AVX-512 machine).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from workloads import WORKLOADS  # noqa: E402  (scripts/workloads.py)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import fastnn  # noqa: E402
from fastnn import _threads, kernels  # noqa: E402
from fastnn.activations import Neurons  # noqa: E402
from fastnn.plan import EpochPlan  # noqa: E402

ETA = 0.1
# (name, workloads, A's Network arguments, B's, floor of B/A or None)
COMPARISONS = [
    ("relu", ["W1", "W2", "W3", "W4"], {}, dict(activation="relu"), 1.0),
    ("tanh", ["W1", "W2", "W3", "W4"], {}, dict(activation="tanh"), None),
    ("softmax", ["W2"], {}, dict(output="softmax", cost="cross_entropy"), 1.05),
    ("dropout", ["W3"], {}, dict(dropout=0.5), 1.15),
]
# samples per timed epoch (bench_kernels_ab.py's counts)
SAMPLES = {"W1": 4_000, "W2": 10_000, "W3": 10_000, "W4": 10_000}


def cpu_name() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import llvmlite.binding as llvm

    target = os.environ.get("NUMBA_CPU_NAME") or llvm.get_host_cpu_name()
    emulated = " (numba targets it on this CPU: NUMBA_CPU_NAME)" if "NUMBA_CPU_NAME" in \
        os.environ else ""
    return f"{model}, {os.cpu_count()} CPUs; kernels built for {target}{emulated}"


def epoch(plan, arrays, key):
    params, start = arrays["params"], arrays["start"]

    def call():
        params[:] = start
        plan.run(params, arrays["X"], arrays["Y"], arrays["order"], ETA, dropout_key=key)
    return call


def best_of(call, repeat):
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def compare(name, workload, a_arguments, b_arguments, rounds, n_threads):
    spec = WORKLOADS[workload].with_samples(SAMPLES[workload])
    rng = np.random.default_rng(0)
    n = spec.n_samples
    Y = np.zeros((n, spec.sizes[-1]), spec.dtype)
    Y[np.arange(n), rng.integers(0, spec.sizes[-1], n)] = 1
    arrays = {"X": rng.random((n, spec.sizes[0])).astype(spec.dtype), "Y": Y,
              "order": np.arange(n, dtype=np.int64)}
    calls, drivers = [], []
    for arguments in (a_arguments, b_arguments):
        neurons = Neurons.of(spec.sizes, **arguments)
        net = fastnn.Network(spec.sizes, seed=0, dtype=spec.dtype, init="glorot", **arguments)
        plan = EpochPlan(spec.sizes, spec.batch_size, spec.dtype, n, n_threads,
                         borrow_cores=False, neurons=neurons)
        own = dict(arrays, start=net.params.copy(), params=np.empty_like(net.params))
        call = epoch(plan, own, kernels.dropout.epoch_key(1, 0))
        call()  # compile or load, and check
        if not np.isfinite(own["params"]).all():
            raise AssertionError(f"{name} {workload}: an epoch gave NaN or inf parameters")
        calls.append(call)
        drivers.append(plan.driver)
    repeat = 3 if spec.n_samples * spec.sizes[1] < 2e7 else 1
    ratios, times = [], []
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        seconds = {}
        for which in order:
            seconds[which] = best_of(calls[which], repeat)
        ratios.append(seconds[1] / seconds[0])
        times.append(seconds)
    q1, median, q3 = np.percentile(ratios, [25, 50, 75])
    b_ms = np.median([t[1] for t in times]) * 1e3
    a_ms = np.median([t[0] for t in times]) * 1e3
    return median, q1, q3, a_ms, b_ms, drivers[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[c[0] for c in COMPARISONS])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    # as bench_kernels_ab.py: the plan's threads even when the machine is busy
    _threads._other_runnable_threads = lambda: 0
    n_threads = _threads.default_thread_count()
    print(f"CPU: {cpu_name()}")
    print(f"median over {args.rounds} alternating rounds of B's epoch time / A's "
          f"(quartiles); {n_threads} threads\n")
    failed = []
    for name, workloads, a_arguments, b_arguments, floor in COMPARISONS:
        if args.only and name not in args.only:
            continue
        for workload in workloads:
            if args.workloads and workload not in args.workloads:
                continue
            median, q1, q3, a_ms, b_ms, driver = compare(name, workload, a_arguments,
                                                         b_arguments, args.rounds, n_threads)
            verdict = ""
            if floor is not None:
                verdict = f"  floor <= {floor:.2f}: {'met' if median <= floor else 'NOT met'}"
                if median > floor:
                    failed.append(f"{name} {workload}")
            print(f"{name:8s} {workload}  A {a_ms:8.2f} ms  B {b_ms:8.2f} ms  "
                  f"B/A {median:.3f} ({q1:.3f}-{q3:.3f})  {driver}{verdict}", flush=True)
    if failed:
        print(f"\nfloors not met (on this run): {', '.join(failed)}")


if __name__ == "__main__":
    main()
