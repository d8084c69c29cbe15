"""Fill the compiled-kernel cache ahead of time (``fastnn compile``).

Each entry trains a tiny network whose shape makes ``EpochPlan`` pick one
epoch driver, so that every driver a user's ``train`` can reach, and the
forward kernels of ``feedforward``, are compiled for each dtype and land in
the disk cache (fastnn/_cache.py). For Docker images, CI and cluster
workers, whose first training should not wait for the compiler.
"""
from __future__ import annotations

import time

import numpy as np

from .network import Network

__all__ = ["DTYPES", "compile_kernels"]

DTYPES = ("float64", "float32")

# driver: (sizes, batch size, n_threads). The shapes are the smallest for
# which EpochPlan picks that driver (kernels.use_shared_epoch,
# kernels.uses_layer_threads); two threads are asked for even on one core,
# since the driver, not the threads, is what gets compiled.
_EXAMPLES = {
    "train_epoch": ([4, 3, 2], 2, 1),
    "train_epoch_per_sample": ([4, 3, 2], 1, 1),
    "train_epoch_shared": ([784, 30, 10], 10, 2),
    "train_epoch_per_sample_shared": ([784, 30, 10], 1, 2),
    "train_epoch_threaded": ([512, 512, 512, 2], 4, 2),
}


def compile_kernels(dtypes=DTYPES, report=None):
    """Compile every epoch driver and forward kernel for each dtype.

    report : optional ``report(dtype, name, seconds)`` called after each
    entry (seconds near 0 when it was already cached). Returns the total
    seconds.
    """
    total = 0.0
    for dtype in dtypes:
        for name, (sizes, batch_size, n_threads) in _EXAMPLES.items():
            seconds = _compile_driver(name, sizes, batch_size, n_threads, dtype)
            total += seconds
            if report is not None:
                report(dtype, name, seconds)
        started = time.perf_counter()
        net = Network([4, 3, 2], seed=0, dtype=dtype)
        net.feedforward(np.zeros((1, 4)))
        net.gradient(np.zeros(4), 0)
        seconds = time.perf_counter() - started
        total += seconds
        if report is not None:
            report(dtype, "forward_pass, backward_pass", seconds)
    return total


def _compile_driver(name, sizes, batch_size, n_threads, dtype):
    net = Network(sizes, seed=0, dtype=dtype)
    n_samples = max(batch_size, 2)
    X = np.zeros((n_samples, sizes[0]), dtype=dtype)
    labels = np.zeros(n_samples, dtype=np.int64)
    history_driver = net.train(X, labels, epochs=1, batch_size=batch_size, eta=1.0,
                               shuffle=False, n_threads=n_threads)
    if history_driver.driver != name:  # the shapes above no longer pick it
        raise RuntimeError(f"fastnn compile: {sizes} with batch {batch_size} ran "
                           f"{history_driver.driver}, not {name}")
    return history_driver.compile_seconds
