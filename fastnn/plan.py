"""How an epoch runs: the driver kernel, its buffers, its threads.

``EpochPlan`` is the one place that knows which epoch driver of
``fastnn.kernels`` suits a network and batch size, how big each driver's
work buffers are, and how many threads it may use. ``Network.train`` makes
one per call; tests and benchmarks use it to run the same drivers.
"""
from __future__ import annotations

import contextlib

import numpy as np

from . import kernels
from .kernels import control, reference
from .kernels.objective import Objective, output_rule
from ._threads import borrow_threads, parallel_region

__all__ = ["EpochPlan"]


class EpochPlan:
    """The driver, buffers and threads of one ``Network.train`` call.

    sizes : layer sizes; batch_size, n_samples : of the training set (the
    batch is capped at n_samples); dtype : the network's; n_threads : the
    most threads an epoch may use (it uses fewer when other calls in this
    process hold the cores: ``fastnn._threads.borrow_threads``).

    Drivers (``driver``), all bitwise equal to the one-thread kernel of
    their batch size whatever the thread count:

    * ``train_epoch_per_sample`` / ``train_epoch``: one thread;
    * ``train_epoch_per_sample_shared`` / ``train_epoch_shared``: layer 1
      shared between worker threads kept for the epoch, for networks whose
      layer 1 holds most of the work (``kernels.use_shared_epoch``);
    * ``train_epoch_threaded``: big layers split by numba's prange
      (``kernels.uses_layer_threads``); an epoch that gets one thread (a
      busy machine, another call holding the cores) runs ``train_epoch``.

    ``driver`` (one of ``DRIVERS``) forces a driver instead of the choice
    above, for tests and benchmarks that compare drivers; it must suit the
    batch size (the per-sample ones need batch size 1; the others take any).
    ``train_epoch_reference`` is the epoch of the reference kernels
    (``fastnn.kernels.reference``, docs/theory.md §9), for any batch size.
    ``borrow_cores=False`` runs the threaded drivers with n_threads threads
    exactly, whatever the cores other calls hold (for tests).

    cost, output : the network's cost and output layer
    (``fastnn.kernels.objective``); ``run`` adds the L2 decay and sample
    weights of each call.

    ``last_run`` names the kernel the last ``run`` called.
    """

    DRIVERS = ("train_epoch", "train_epoch_threaded", "train_epoch_shared",
               "train_epoch_per_sample", "train_epoch_per_sample_shared",
               "train_epoch_reference")

    def __init__(self, sizes, batch_size, dtype, n_samples, n_threads, *, driver=None,
                 borrow_cores=True, cost="quadratic", output="sigmoid"):
        self.sizes = tuple(int(s) for s in sizes)
        self.sizes_array = np.asarray(self.sizes, dtype=np.int64)
        self.dtype = np.dtype(dtype)
        self.batch_size = min(int(batch_size), int(n_samples))
        self.n_threads = int(n_threads)
        self.borrow_cores = bool(borrow_cores)
        self.rule = output_rule(cost, output)
        self.last_run = None
        per_sample = self.batch_size == 1
        if driver is None:
            driver = self._pick_driver(per_sample)
        elif driver not in self.DRIVERS:
            raise ValueError(f"driver must be one of {', '.join(self.DRIVERS)}; got {driver!r}")
        elif driver.startswith("train_epoch_per_sample") and not per_sample:
            raise ValueError(f"{driver} trains with batch_size=1, not {self.batch_size}")
        self.driver = driver
        shared = driver.endswith("_shared")
        # per-sample SGD works on blocks of LOOKAHEAD samples (its docstring)
        rows = kernels.LOOKAHEAD if driver.startswith("train_epoch_per_sample") else self.batch_size
        self.activations = np.empty(kernels.workspace_size(self.sizes, rows), self.dtype)
        self.deltas = np.empty_like(self.activations)
        self.gram = np.empty((kernels.LOOKAHEAD, kernels.LOOKAHEAD), self.dtype)
        self.grad = np.empty(self.n_params, self.dtype)
        self.batch_targets = np.empty((self.batch_size, self.sizes[-1]), self.dtype)
        # The inputs of three batches (blocks), for the shared epochs' copies.
        self.x_ring = np.empty((3 * rows if shared else 0, self.sizes[0]), self.dtype)
        # Stop requests in, progress out (fastnn/kernels/control.py).
        self.control = control.new_control()
        self._no_weights = np.empty(0, self.dtype)

    def _pick_driver(self, per_sample):
        threaded = self.n_threads > 1
        shared = threaded and kernels.use_shared_epoch(self.sizes, self.batch_size)
        if per_sample:
            return "train_epoch_per_sample_shared" if shared else "train_epoch_per_sample"
        if shared:
            return "train_epoch_shared"
        if threaded and kernels.uses_layer_threads(self.sizes, self.batch_size):
            return "train_epoch_threaded"
        return "train_epoch"

    @property
    def n_params(self) -> int:
        return kernels.parameter_count(self.sizes)

    def __repr__(self):
        return (f"EpochPlan(sizes={list(self.sizes)}, batch_size={self.batch_size}, "
                f"dtype={self.dtype.name}, driver={self.driver}, n_threads={self.n_threads})")

    @property
    def unit_size(self) -> int:
        """Samples per unit of the driver's loop: a batch, or a block of
        LOOKAHEAD samples for per-sample SGD (where it can stop)."""
        if self.driver.startswith("train_epoch_per_sample"):
            return kernels.LOOKAHEAD
        return self.batch_size

    def request_stop(self) -> None:
        """Ask the running epoch to stop at its next unit boundary (safe to
        call from a signal handler or another thread)."""
        self.control[control.STOP] = 1

    def clear_stop(self) -> None:
        self.control[control.STOP] = 0

    def samples_done(self, n_samples) -> int:
        """Samples of the running (or last) epoch whose steps are taken, as
        far as its progress counter tells: a multiple of ``unit_size``, or
        n_samples."""
        return min(int(self.control[control.PROGRESS]) * self.unit_size, int(n_samples))

    def objective(self, eta, *, lmbda=0.0, n_train, sample_weight=None) -> Objective:
        """The Objective of an epoch (docs/theory.md §10): this plan's output
        rule, the L2 decay 1 - eta lmbda / n_train (exactly 1 when lmbda is
        0), and the sample weights as given (or none)."""
        decay = 1.0 - float(eta) * float(lmbda) / int(n_train) if lmbda else 1.0
        weights = self._no_weights if sample_weight is None else sample_weight
        return Objective(np.int64(self.rule), self.dtype.type(decay), weights)

    def run(self, params, inputs, targets, order, eta, *, lmbda=0.0, n_train=None,
            sample_weight=None) -> float:
        """One epoch over ``inputs`` (N, L_0) and ``targets`` (N, L_l) in
        ``order`` (N,) int64, stepping ``params`` in place; returns
        sum_n s_n C_n. Every array must be C-contiguous and of the plan's
        dtype (``order`` int64); ``Network.train`` checks that.

        lmbda, n_train: L2 as in Nielsen's network2, w <- (1 - eta lmbda /
        n_train) w - (eta / m) sum_n dC_n/dw, biases not decayed; n_train
        defaults to N. sample_weight: (N,) weights s_n of the plan's dtype
        multiplying each sample's gradient and cost, as given (the caller
        normalises them), or None.

        After ``request_stop`` the epoch ends at the next unit boundary, with
        the steps of every unit before it taken (``samples_done``), and
        returns the cost of those units."""
        self.last_run = self.driver
        self.control[control.PROGRESS] = 0
        sizes = self.sizes_array
        objective = self.objective(eta, lmbda=lmbda, sample_weight=sample_weight,
                                   n_train=inputs.shape[0] if n_train is None else n_train)
        if self.driver == "train_epoch_per_sample":
            return kernels.train_epoch_per_sample(params, sizes, inputs, targets, order, eta,
                                                  self.activations, self.deltas, self.gram,
                                                  self.control, objective)
        if self.driver == "train_epoch":
            return self._train_epoch(kernels.train_epoch, params, inputs, targets, order, eta,
                                     objective)
        if self.driver == "train_epoch_reference":
            cost = reference.train_epoch_reference(
                params, self.grad, sizes, inputs, targets, order, self.batch_size, eta,
                self.activations, self.deltas, self.batch_targets, objective)
            self.control[control.PROGRESS] = -(-inputs.shape[0] // self.batch_size)
            return cost
        with self._threads() as threads:
            if self.driver == "train_epoch_per_sample_shared":
                return kernels.train_epoch_per_sample_shared(
                    params, sizes, inputs, targets, order, eta, self.activations, self.deltas,
                    self.gram, self.control, objective, self.x_ring.reshape(-1), threads)
            if self.driver == "train_epoch_shared":
                return kernels.train_epoch_shared(
                    params, self.grad, sizes, inputs, targets, order, self.batch_size, eta,
                    self.activations, self.deltas, self.batch_targets, self.control, objective,
                    self.x_ring, threads)
            with parallel_region(threads) as may_use_threads:
                if not may_use_threads:
                    self.last_run = "train_epoch"
                driver = kernels.train_epoch_threaded if may_use_threads else kernels.train_epoch
                return self._train_epoch(driver, params, inputs, targets, order, eta, objective)

    def _threads(self):
        if self.borrow_cores:
            return borrow_threads(self.n_threads)
        return contextlib.nullcontext(self.n_threads)

    def _train_epoch(self, driver, params, inputs, targets, order, eta, objective):
        return driver(params, self.grad, self.sizes_array, inputs, targets, order,
                      self.batch_size, eta, self.activations, self.deltas, self.batch_targets,
                      self.control, objective)

    def warm_up(self, params, inputs, targets, eta) -> None:
        """Run the driver once on the first batch and a copy of ``params``,
        so that numba compiles (or loads from its cache) every kernel the
        epochs will call, for these very argument types, before the first
        epoch's clock starts. (Sample weights and L2 need no warm-up of
        their own: the Objective has the same types with and without them.)"""
        n = min(inputs.shape[0], self.batch_size)
        self.run(params.copy(), inputs[:n], targets[:n], np.arange(n, dtype=np.int64), eta)
