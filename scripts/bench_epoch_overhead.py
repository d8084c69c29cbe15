"""What Network.train adds to each epoch beside the kernels, in microseconds.

    python scripts/bench_epoch_overhead.py

* the hand-off of an epoch to the helper thread that lets Ctrl-C through
  (fastnn/_interrupt.py): a one-batch epoch run in this thread against the
  same epoch run through EpochRunner's helper thread;
* the per-epoch divergence checks: the finiteness scan of the parameters and
  the copy of the last finite ones.

Each is the best of five runs of 2,000 calls (784-30-10, float32), then
shown as a share of the W1-W4 epochs at the rates of docs/performance.md.
"""
import time

import numpy as np

import fastnn
from fastnn._interrupt import EpochRunner
from fastnn._validation import all_finite
from fastnn.plan import EpochPlan

from workloads import WORKLOADS

# samples/s of each workload's epoch in the last peer benchmark
RATES = {"W1": 420e3, "W2": 570e3, "W3": 385e3, "W4": 105e3}


def best_microseconds(call, n=2000, repeats=5):
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter() - started) / n)
    return best * 1e6


def main():
    sizes, dtype = (784, 30, 10), np.float32
    X = np.random.default_rng(0).random((10, sizes[0])).astype(dtype)
    T = np.zeros((10, sizes[-1]), dtype)
    plan = EpochPlan(sizes, 10, dtype, 10, 1)
    params = fastnn.Network(list(sizes), dtype=dtype).params.copy()
    order = np.arange(10)
    plan.run(params, X, T, order, 0.1)
    inline = best_microseconds(lambda: plan.run(params, X, T, order, 0.1))
    with EpochRunner(plan) as runner:
        def through_the_helper_thread():
            runner._short_epochs = False  # (what a long epoch leaves)
            runner.run(params, X, T, order, 0.1)
        threaded = best_microseconds(through_the_helper_thread)
    last_finite = params.copy()
    checks = best_microseconds(lambda: (all_finite(params), np.copyto(last_finite, params)))
    hop = threaded - inline
    print(f"one-batch epoch: {inline:.1f} us here, {threaded:.1f} us through the helper thread "
          f"(hand-off {hop:.1f} us); divergence checks {checks:.1f} us per epoch")
    for name, workload in WORKLOADS.items():
        epoch = workload.n_samples / RATES[name] * 1e6
        print(f"{name}: epoch {epoch / 1000:.1f} ms; hand-off {100 * hop / epoch:.2f}%, "
              f"checks {100 * checks / epoch:.3f}%")


if __name__ == "__main__":
    main()
