"""How an epoch runs: the driver kernel, its buffers, its threads.

``DRIVERS`` is the one table of fastnn's epoch drivers: for each, when
``EpochPlan`` picks it, how ``EpochPlan.run`` calls it, and the small
network ``fastnn compile`` reaches it through (``fastnn._precompile``).
``EpochPlan`` is the one place that knows which driver suits a network and
batch size, how big each driver's work buffers are, and how many threads it
may use. The training loop (``fastnn.training``) makes one per run; tests
and benchmarks use it to run the same drivers.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _blas, engine, kernels
from .kernels import control, reference, staged
from .kernels.objective import DOCUMENT_HIDDEN, NO_DROPOUT, Dropout, Objective, output_rule
from .kernels.optimizer import SGD as SGD_CODE, plain_optimizer
from ._threads import borrow_threads, parallel_region

__all__ = ["EpochPlan", "Driver", "DRIVERS", "choose_driver"]


@dataclass(frozen=True)
class Driver:
    """An epoch driver of ``fastnn.kernels``, as ``EpochPlan`` uses it.

    per_sample: trains with batch_size 1 (per-sample SGD, on blocks of
        ``kernels.LOOKAHEAD`` samples); the others take any batch size.
    shared: keeps worker threads for the epoch, sharing layer 1
        (``kernels.use_shared_epoch``); its plan holds their input ring.
    picks(sizes, batch_size, layer_plan): whether ``EpochPlan`` chooses it
        (the first driver of ``DRIVERS`` that says so wins); None: only when
        asked for by name. layer_plan: the run's ``fastnn.engine.LayerPlan``.
        Not the thread count: every driver runs on any number of threads.
    run(plan, params, inputs, targets, order, eta, objective): one epoch.
    example: (sizes, batch_size) of the smallest network that picks it,
        which ``fastnn compile`` trains to compile it; None: not compiled
        ahead of time.
    """

    name: str
    per_sample: bool
    shared: bool
    picks: Callable | None
    run: Callable
    example: tuple | None


def _run_per_sample(plan, params, inputs, targets, order, eta, objective):
    return kernels.train_epoch_per_sample(params, plan.sizes_array, inputs, targets, order, eta,
                                          plan.activations, plan.deltas, plan.gram, plan.control,
                                          objective)


def _run_per_sample_shared(plan, params, inputs, targets, order, eta, objective):
    with plan.threads() as threads:
        return kernels.train_epoch_per_sample_shared(
            params, plan.sizes_array, inputs, targets, order, eta, plan.activations,
            plan.deltas, plan.gram, plan.control, objective, plan.x_ring.reshape(-1), threads)


def _run_minibatch(driver, plan, params, inputs, targets, order, eta, objective):
    return driver(params, plan.grad, plan.sizes_array, inputs, targets, order, plan.batch_size,
                  eta, plan.activations, plan.deltas, plan.batch_targets, plan.control,
                  objective)


def _run_train_epoch(plan, params, inputs, targets, order, eta, objective):
    return _run_minibatch(kernels.train_epoch, plan, params, inputs, targets, order, eta,
                          objective)


def _run_shared(plan, params, inputs, targets, order, eta, objective):
    with plan.threads() as threads:
        return kernels.train_epoch_shared(
            params, plan.grad, plan.sizes_array, inputs, targets, order, plan.batch_size, eta,
            plan.activations, plan.deltas, plan.batch_targets, plan.control, objective,
            plan.x_ring, threads)


def _run_threaded(plan, params, inputs, targets, order, eta, objective):
    # An epoch that gets one thread (a busy machine, another call holding
    # the cores or the parallel region) runs train_epoch: bitwise the same.
    with plan.threads() as threads, parallel_region(threads) as may_use_threads:
        if not may_use_threads:
            plan.last_run = "train_epoch"
        driver = kernels.train_epoch_threaded if may_use_threads else kernels.train_epoch
        return _run_minibatch(driver, plan, params, inputs, targets, order, eta, objective)


def _run_staged(plan, params, inputs, targets, order, eta, objective):
    blas_threads = _blas.one_thread() if plan.layer_plan.uses_blas else contextlib.nullcontext()
    with plan.threads() as threads, blas_threads:
        return staged.train_epoch_staged(
            params, plan.grad, plan.sizes_array, inputs, targets, order, plan.batch_size, eta,
            plan.activations, plan.deltas, plan.batch_targets, plan.control, objective,
            plan.layer_plan.array, plan.stages, threads)


def _run_reference(plan, params, inputs, targets, order, eta, objective):
    cost = reference.train_epoch_reference(
        params, plan.grad, plan.sizes_array, inputs, targets, order, plan.batch_size, eta,
        plan.activations, plan.deltas, plan.batch_targets, objective)
    plan.control[control.PROGRESS] = -(-inputs.shape[0] // plan.batch_size)
    return cost


# In the order of preference: the first whose ``picks`` holds is chosen.
# The choice depends on the network and batch size only, never on the
# thread count: a driver that shares work between threads runs as well in
# one (its calling thread alone takes every part, bitwise the same results),
# so one network and batch size always compile and run the same driver, and
# a cache warmed on two cores serves a run on one (``taskset -c 0``, a
# one-thread container, NUMBA_NUM_THREADS=1) with nothing to compile.
DRIVERS = {driver.name: driver for driver in (
    Driver("train_epoch_per_sample_shared", per_sample=True, shared=True,
           picks=lambda sizes, batch_size, layer_plan: (
               batch_size == 1 and kernels.use_shared_epoch(sizes, batch_size)),
           run=_run_per_sample_shared, example=([784, 30, 10], 1)),
    Driver("train_epoch_per_sample", per_sample=True, shared=False,
           picks=lambda sizes, batch_size, layer_plan: batch_size == 1,
           run=_run_per_sample, example=([4, 3, 2], 1)),
    # A plan with BLAS layers runs the staged epoch: it alone has the BLAS
    # kernels. Big layers run it too, unless layer 1 holds most of the
    # work (then the shared epoch below).
    Driver("train_epoch_staged", per_sample=False, shared=False,
           picks=lambda sizes, batch_size, layer_plan: (
               layer_plan.uses_blas or kernels.uses_layer_threads(sizes, batch_size)
               and not kernels.use_shared_epoch(sizes, batch_size)),
           run=_run_staged, example=([512, 512, 512, 2], 4)),
    Driver("train_epoch_shared", per_sample=False, shared=True,
           picks=lambda sizes, batch_size, layer_plan: kernels.use_shared_epoch(sizes,
                                                                                batch_size),
           run=_run_shared, example=([784, 30, 10], 10)),
    # Networks whose layer 1 is not most of the work (64-30-10, say).
    Driver("train_epoch", per_sample=False, shared=False,
           picks=lambda sizes, batch_size, layer_plan: True,
           run=_run_train_epoch, example=([4, 3, 2], 2)),
    # Big layers split by numba's prange; the staged epoch replaced it in
    # training (one compiled loop for any thread count, no parallel
    # region per layer), kept for comparisons.
    Driver("train_epoch_threaded", per_sample=False, shared=False, picks=None,
           run=_run_threaded, example=None),
    Driver("train_epoch_reference", per_sample=False, shared=False, picks=None,
           run=_run_reference, example=None),
)}


def choose_driver(sizes, batch_size, layer_plan=None, *, stateful=False) -> str:
    """The name of the driver ``EpochPlan`` runs for these layer sizes,
    batch size (capped at the sample count) and layer plan
    (``fastnn.engine.plan_for``'s when None), whatever the thread count
    (``DRIVERS``). ``stateful``: the optimizer keeps state (docs/theory.md
    §13), and steps on the mini-batch path also with batch 1 (per-sample
    SGD's deferred step is plain SGD's)."""
    if layer_plan is None:
        layer_plan = engine.default_plan(sizes, batch_size)
    return next(name for name, driver in DRIVERS.items()
                if driver.picks is not None and not (stateful and driver.per_sample)
                and driver.picks(sizes, batch_size, layer_plan))


class EpochPlan:
    """The driver, buffers and threads of one ``Network.train`` call.

    sizes : layer sizes; batch_size, n_samples : of the training set (the
    batch is capped at n_samples); dtype : the network's; n_threads : the
    most threads an epoch may use (it uses fewer when other calls in this
    process hold the cores: ``fastnn._threads.borrow_threads``).

    Drivers (``driver``), all bitwise equal to the one-thread kernel of
    their batch size whatever the thread count, and chosen by the network
    and batch size alone (``DRIVERS``; n_threads only says how many threads
    the chosen driver may use, so a one-core run compiles what a two-core
    run compiled):

    * ``train_epoch_per_sample`` / ``train_epoch``: one thread, for the
      networks none of the others suit (64-30-10, say);
    * ``train_epoch_per_sample_shared`` / ``train_epoch_shared``: layer 1
      shared between worker threads kept for the epoch, for networks whose
      layer 1 holds most of the work (``kernels.use_shared_epoch``); with
      one thread the calling thread takes every part;
    * ``train_epoch_staged``: every layer's work in parts that any thread
      takes (``kernels.staged``), through the register-blocked kernels or
      BLAS as the layer plan says; for networks with big layers
      (``kernels.uses_layer_threads``) and every plan that uses BLAS;
    * ``train_epoch_threaded``: big layers split by numba's prange (only
      when asked for by name).

    layer_plan : the per-layer plan (``fastnn.engine.LayerPlan``, or the
    dict a run recorded, ``LayerPlan.record()``); None: ``engine.plan_for``
    chooses it (wisdom of this cache, else the default rule).

    ``driver`` (one of ``DRIVERS``) forces a driver instead of the choice
    above, for tests and benchmarks that compare drivers; it must suit the
    batch size (the per-sample ones need batch size 1; the others take any).
    ``train_epoch_reference`` is the epoch of the reference kernels
    (``fastnn.kernels.reference``, docs/theory.md §9), for any batch size.
    ``borrow_cores=False`` runs the threaded drivers with n_threads threads
    exactly, whatever the cores other calls hold (for tests).

    cost, output : the network's cost and output layer
    (``fastnn.kernels.objective``); neurons : a ``fastnn.activations.Neurons``
    (its hidden activations and dropout; None: the design document's, and
    cost and output as given); ``run`` adds the L2 decay, sample weights
    and the dropout key of each call.

    ``last_run`` names the kernel the last ``run`` called.
    """

    def __init__(self, sizes, batch_size, dtype, n_samples, n_threads, *, driver=None,
                 borrow_cores=True, cost="quadratic", output="sigmoid", neurons=None,
                 stateful=False, layer_plan=None):
        self.sizes = tuple(int(s) for s in sizes)
        self.sizes_array = np.asarray(self.sizes, dtype=np.int64)
        self.dtype = np.dtype(dtype)
        self.batch_size = min(int(batch_size), int(n_samples))
        self.n_threads = int(n_threads)
        self.borrow_cores = bool(borrow_cores)
        if neurons is None:
            self.rule = output_rule(cost, output)
            self.hidden = DOCUMENT_HIDDEN
            self.dropout_rates = self.dropout_thresholds = None
        else:
            self.rule = neurons.rule
            self.hidden = neurons.hidden_activations()
            self.dropout_rates, self.dropout_thresholds = neurons.dropout_arrays()
            if not self.dropout_rates.size:
                self.dropout_rates = self.dropout_thresholds = None
        self.last_run = None
        self.stateful = bool(stateful)
        if isinstance(layer_plan, engine.LayerPlan):
            self.layer_plan = layer_plan
        else:
            self.layer_plan = engine.plan_for(self.sizes, self.batch_size, self.dtype,
                                              recorded=layer_plan)
        self.stages = staged.stage_table(self.layer_plan.array, self.sizes, self.batch_size,
                                         self.layer_plan.parts)
        if driver is None:
            driver = choose_driver(self.sizes, self.batch_size, self.layer_plan,
                                   stateful=self.stateful)
        elif driver not in DRIVERS:
            raise ValueError(f"driver must be one of {', '.join(DRIVERS)}; got {driver!r}")
        elif DRIVERS[driver].per_sample and self.batch_size != 1:
            raise ValueError(f"{driver} trains with batch_size=1, not {self.batch_size}")
        elif DRIVERS[driver].per_sample and self.stateful:
            raise ValueError(f"{driver} takes plain SGD's steps only; an optimizer with "
                             "state steps on the mini-batch drivers")
        self.driver = driver
        self._driver = DRIVERS[driver]
        # per-sample SGD works on blocks of LOOKAHEAD samples (its docstring)
        rows = kernels.LOOKAHEAD if self._driver.per_sample else self.batch_size
        self.activations = np.empty(kernels.workspace_size(self.sizes, rows), self.dtype)
        self.deltas = np.empty_like(self.activations)
        self.gram = np.empty((kernels.LOOKAHEAD, kernels.LOOKAHEAD), self.dtype)
        self.grad = np.empty(self.n_params, self.dtype)
        self.batch_targets = np.empty((self.batch_size, self.sizes[-1]), self.dtype)
        # The inputs of three batches (blocks), for the shared epochs' copies.
        self.x_ring = np.empty((3 * rows if self._driver.shared else 0, self.sizes[0]),
                               self.dtype)
        # Stop requests in, progress out (fastnn/kernels/control.py).
        self.control = control.new_control()
        self._no_weights = np.empty(0, self.dtype)
        self._plain_optimizer = plain_optimizer(self.dtype)

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
        return kernels.LOOKAHEAD if self._driver.per_sample else self.batch_size

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

    def objective(self, eta, *, lmbda=0.0, n_train, sample_weight=None, dropout_key=0,
                  first_row=0, rows=None, optimizer=None) -> Objective:
        """The Objective of an epoch (docs/theory.md §10-§13): this plan's
        output rule and hidden activations, the L2 decay 1 - eta lmbda /
        n_train (exactly 1 when lmbda is 0), the sample weights as given (or
        none), and dropout with the epoch's key
        (``kernels.dropout.epoch_key``), row n of the epoch's inputs being
        row first_row + rows[n] (or first_row + n) of the training set.
        ``optimizer``: a ``kernels.optimizer.Optimizer`` with state (§13),
        which takes L2 in its gradient instead (l2 = lmbda / n_train, decay
        1); None: plain SGD."""
        decay = 1.0 - float(eta) * float(lmbda) / int(n_train) if lmbda else 1.0
        weights = self._no_weights if sample_weight is None else sample_weight
        dropout = NO_DROPOUT
        if self.dropout_rates is not None:
            dropout = Dropout(self.dropout_rates, self.dropout_thresholds,
                              np.uint64(dropout_key), np.int64(first_row),
                              NO_DROPOUT.rows if rows is None
                              else np.ascontiguousarray(rows, dtype=np.int64))
        if optimizer is not None and optimizer.code != SGD_CODE:
            l2 = float(lmbda) / int(n_train) if lmbda else 0.0
            return Objective(np.int64(self.rule), self.dtype.type(1.0), weights, self.hidden,
                             dropout, optimizer._replace(l2=l2))
        return Objective(np.int64(self.rule), self.dtype.type(decay), weights, self.hidden,
                         dropout, self._plain_optimizer)

    def run(self, params, inputs, targets, order, eta, *, lmbda=0.0, n_train=None,
            sample_weight=None, dropout_key=0, first_row=0, rows=None,
            optimizer=None) -> float:
        """One epoch over ``inputs`` (N, L_0) and ``targets`` (N, L_l) in
        ``order`` (N,) int64, stepping ``params`` in place; returns
        sum_n s_n C_n. Every array must be C-contiguous and of the plan's
        dtype (``order`` int64); ``Network.train`` checks that.

        lmbda, n_train: L2 as in Nielsen's network2, w <- (1 - eta lmbda /
        n_train) w - (eta / m) sum_n dC_n/dw, biases not decayed; n_train
        defaults to N. sample_weight: (N,) weights s_n of the plan's dtype
        multiplying each sample's gradient and cost, as given (the caller
        normalises them), or None. dropout_key, first_row, rows: the
        epoch's dropout key, and the rows of the training set its inputs are
        (``objective``; read only when the network has dropout).

        After ``request_stop`` the epoch ends at the next unit boundary, with
        the steps of every unit before it taken (``samples_done``), and
        returns the cost of those units.

        optimizer: the step rule with its state (``kernels.optimizer.
        Optimizer``, docs/theory.md §13), stepped in place; its step count
        grows by the batches the epoch took. None: plain SGD."""
        self.last_run = self.driver
        self.control[control.PROGRESS] = 0
        if optimizer is not None and optimizer.code != SGD_CODE and not self.stateful:
            raise ValueError("this EpochPlan was made for plain SGD (stateful=False)")
        objective = self.objective(eta, lmbda=lmbda, sample_weight=sample_weight,
                                   n_train=inputs.shape[0] if n_train is None else n_train,
                                   dropout_key=dropout_key, first_row=first_row, rows=rows,
                                   optimizer=optimizer)
        try:
            return self._driver.run(self, params, inputs, targets, order, eta, objective)
        finally:
            if optimizer is not None:
                optimizer.steps[0] += int(self.control[control.PROGRESS])

    def threads(self):
        """A context giving the threads the epoch may use: n_threads
        borrowed from the process's budget (``fastnn._threads``), or
        exactly n_threads with ``borrow_cores=False``."""
        if self.borrow_cores:
            return borrow_threads(self.n_threads)
        return contextlib.nullcontext(self.n_threads)

    def warm_up(self, params, inputs, targets, eta) -> None:
        """Run the driver once on the first batch and a copy of ``params``,
        so that numba compiles (or loads from its cache) every kernel the
        epochs will call, for these very argument types, before the first
        epoch's clock starts. (Sample weights and L2 need no warm-up of
        their own: the Objective has the same types with and without them.)"""
        n = min(inputs.shape[0], self.batch_size)
        self.run(params.copy(), inputs[:n], targets[:n], np.arange(n, dtype=np.int64), eta)
