"""Fill the compiled-kernel cache ahead of time (``fastnn compile``).

Each entry trains a tiny network whose shape makes ``EpochPlan`` pick one
epoch driver, so that every driver a user's ``train`` can reach, and the
forward kernels of ``feedforward``, are compiled for each dtype and land in
the disk cache (fastnn/_cache.py). For Docker images, CI and cluster
workers, whose first training should not wait for the compiler.
"""
from __future__ import annotations

import time
from functools import partial

import numpy as np
from numba.core import event as numba_event

from .network import Network
from .plan import DRIVERS, EpochPlan

__all__ = ["DTYPES", "EXAMPLES", "CompileCounter", "compile_kernels"]

DTYPES = ("float64", "float32")

# driver: (sizes, batch size), from the drivers' table (fastnn.plan.DRIVERS):
# the smallest network for which EpochPlan picks it. The choice does not
# depend on the thread count, and neither does what numba compiles (the
# workers' count is an argument of the compiled loops), so one thread
# compiles what any count runs.
EXAMPLES = {name: driver.example for name, driver in DRIVERS.items()
            if driver.example is not None}


def compile_kernels(dtypes=DTYPES, report=None):
    """Compile every epoch driver and forward kernel for each dtype.

    report : optional ``report(dtype, name, seconds, compiled)`` called
    after each entry; ``compiled`` is the number of kernels numba compiled
    for it (0: everything came from the cache). Returns the total seconds.
    """
    total = 0.0
    for dtype in dtypes:
        entries = [(name, partial(_compile_driver, name, *example, dtype))
                   for name, example in EXAMPLES.items()]
        entries.append(("forward_pass, backward_pass", partial(_compile_passes, dtype)))
        for name, compile_entry in entries:
            counter = CompileCounter()
            started = time.perf_counter()
            with numba_event.install_listener("numba:compile", counter):
                compile_entry()
            seconds = time.perf_counter() - started
            total += seconds
            if report is not None:
                report(dtype, name, seconds, counter.compiled)
    return total


class CompileCounter(numba_event.Listener):
    """Counts the kernels numba compiles while installed as a listener of
    "numba:compile" (a cache load is no compile; a kernel compiled for its
    caller counts in the caller). Subclasses may override
    ``on_first_compile``, called when the first one starts."""

    def __init__(self):
        self.compiled = 0
        self.depth = 0

    def on_first_compile(self):
        """Called once, as the first top-level compile starts."""

    def on_start(self, event):
        if self.depth == 0:
            self.compiled += 1
            if self.compiled == 1:
                self.on_first_compile()
        self.depth += 1

    def on_end(self, event):
        self.depth -= 1


def _compile_passes(dtype):
    net = Network([4, 3, 2], seed=0, dtype=dtype)
    net.feedforward(np.zeros((1, 4)))
    net.gradient(np.zeros(4), 0)


def _compile_driver(name, sizes, batch_size, dtype):
    net = Network(sizes, seed=0, dtype=dtype)
    n_samples = max(batch_size, 2)
    X = np.zeros((n_samples, sizes[0]), dtype=dtype)
    labels = np.zeros(n_samples, dtype=np.int64)
    plan = EpochPlan(sizes, batch_size, net.dtype, n_samples, 1)
    if plan.driver != name:  # the shapes above no longer pick it
        raise RuntimeError(f"fastnn compile: {sizes} with batch {batch_size} picks "
                           f"{plan.driver}, not {name}")
    net.prepare(X, labels, batch_size=batch_size, n_threads=1, test_data=(X, labels))
