"""The training run: its arguments, checked once, and the one epoch loop.

Every way fastnn trains goes through :func:`run` (or, for the book's
networks of ``fastnn.compat``, :func:`run_epochs`): ``Network.train`` and
``fastnn.resume`` (:class:`InMemory`), ``fastnn.streaming.train``,
``fastnn.dask.train`` and the compat layers' ``SGD``. Each supplies an
:class:`EpochSource`, which knows its data and how to run one epoch over
it; the loop owns everything around the epochs:

* the argument checks (:func:`new_state`, :func:`check_l2` with its
  rule eta lmbda / n < 1, :func:`check_test_data`, ...), all before the
  first step, so that a refused call leaves the network as it was;
* the network's training lock (one run per network at a time);
* divergence: an epoch whose cost or parameters are NaN or inf is undone
  (parameters and optimizer state of the last finite epoch restored) and
  reported per ``on_divergence``;
* the history (cost, seconds, test accuracy, saturation), the callback
  and its stop, ``progress`` at each epoch's end;
* checkpoints: every ``checkpoint_every`` epochs, after the last, on a
  callback's stop and on Ctrl-C, never of non-finite parameters, to a
  path checked and locked before the first step;
* Ctrl-C (:class:`~fastnn._interrupt.CtrlC`): the epoch stops at its next
  unit, passes the same finiteness check as a finished one, and
  ``KeyboardInterrupt`` carries the history;
* a source's failure (:class:`SourceFailed`: a bad chunk, a lost worker)
  restores the parameters of the run's or the epoch's start.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from abc import ABC, abstractmethod

import numpy as np

from . import kernels, optimizers
from ._files import RunLock
from ._interrupt import CtrlC, EpochRunner, ctrl_c_survives_compiling
from ._validation import (all_finite, check_bool, check_epochs, check_inputs, check_labels,
                          check_non_negative_float, check_positive_float, check_positive_int)
from .checkpoint import write_checkpoint
from .exceptions import DivergenceError, DivergenceWarning, SaturationWarning
from .plan import EpochPlan
from .kernels.dropout import epoch_key
from .run_state import (EPOCH_SEED_TYPE, TrainingHistory, TrainingState, data_checksum,
                        dropout_seed, epoch_seed)

__all__ = ["run", "run_epochs", "new_state", "seed_entropy", "l2_decay_fails", "check_l2",
           "check_test_data", "check_callable", "check_on_divergence", "check_can_train",
           "EpochSource", "InMemory", "SourceFailed", "warm_up", "plan_for", "ON_DIVERGENCE"]

ON_DIVERGENCE = ("raise", "warn", "stop")
# Saturation (_Loop.check_saturation): the cost moved by at most this
# fraction in an epoch, and every output of the first SATURATION_PROBE
# training samples has a (1 - a) below SATURATED_SLOPE.
SATURATED_COST_CHANGE = 1e-9
SATURATION_PROBE = 256
SATURATED_SLOPE = 1e-6


# ---------------------------------------------------------------------------
# The arguments, checked once for every training path
# ---------------------------------------------------------------------------
def seed_entropy(seed) -> int:
    """The entropy of ``numpy.random.SeedSequence(seed)``: the run's seed as
    the epoch seeds are drawn from it (None: fresh entropy)."""
    try:
        return np.random.SeedSequence(seed).entropy
    except (TypeError, ValueError) as error:
        raise TypeError(f"seed must be None or a non-negative int, got {seed!r}") from error


def new_state(*, epochs, batch_size, eta, lmbda=0.0, shuffle=True, seed=None,
              checkpoint_every=1) -> TrainingState:
    """A run's TrainingState from the arguments of a ``train`` call, each
    checked (TypeError or ValueError naming it)."""
    epochs = check_epochs(epochs)
    batch_size = check_positive_int(batch_size, "batch_size")
    eta = check_positive_float(eta, "eta")
    lmbda = check_non_negative_float(lmbda, "lmbda")
    shuffle = check_bool(shuffle, "shuffle")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    return TrainingState(epochs=epochs, batch_size=batch_size, eta=eta, shuffle=shuffle,
                         seed_entropy=seed_entropy(seed), checkpoint_every=checkpoint_every,
                         lmbda=lmbda)


def l2_decay_fails(eta, lmbda, n_samples) -> bool:
    """Whether L2's factor 1 - eta lmbda / n (docs/theory.md §10) is 0 or
    negative: every step would zero or flip every weight."""
    return bool(lmbda) and not eta * lmbda / n_samples < 1


def check_l2(eta, lmbda, n_samples) -> None:
    """ValueError if ``l2_decay_fails``."""
    if l2_decay_fails(eta, lmbda, n_samples):
        raise ValueError(
            f"eta * lmbda / n = {eta:g} * {lmbda:g} / {n_samples} is "
            f"{eta * lmbda / n_samples:g}: L2's factor 1 - eta lmbda / n would be 0 or "
            "negative, flipping or zeroing every weight at each step; use a smaller lmbda "
            "(or eta)")


def check_test_data(network, test_data):
    """``(inputs, labels)`` checked for ``network``, or None."""
    if test_data is None:
        return None
    if not isinstance(test_data, (tuple, list)) or len(test_data) != 2:
        raise TypeError("test_data must be a pair (X_test, labels_test), "
                        f"got {type(test_data).__name__}")
    test_X, test_labels = test_data
    inputs, _ = check_inputs(test_X, network.sizes[0], network.dtype, "test X")
    labels = check_labels(test_labels, inputs.shape[0], network.sizes[-1], "test labels")
    return inputs, labels


def check_callable(function, name) -> None:
    if function is not None and not callable(function):
        raise TypeError(f"{name} must be callable")


def check_on_divergence(on_divergence) -> None:
    if on_divergence not in ON_DIVERGENCE:
        choices = ", ".join(map(repr, ON_DIVERGENCE))
        raise ValueError(f"on_divergence must be one of {choices}, got {on_divergence!r}")


def check_can_train(network, eta) -> None:
    """ValueError if ``eta`` overflows the network's dtype or the network's
    parameters are not finite (no run can recover them)."""
    with np.errstate(over="ignore"):
        if not np.isfinite(network.dtype.type(eta)):
            raise ValueError(f"eta={eta:g} does not fit in {network.dtype.name} (largest "
                             f"{np.finfo(network.dtype).max:.3g}): every step would be inf")
    if not all_finite(network.params):
        raise ValueError(
            "the network's parameters are not finite (NaN or inf): training cannot "
            "recover them; start from a new network or load a saved one")


# ---------------------------------------------------------------------------
# Where the epochs come from
# ---------------------------------------------------------------------------
class SourceFailed(Exception):
    """Raised by an EpochSource when its data or its workers fail
    (``original``); the loop restores the parameters of the run's start
    (``restore="start"``) or of the epoch's (``"epoch"``), then raises
    ``original``."""

    def __init__(self, original, restore="start"):
        super().__init__(str(original))
        self.original = original
        self.restore = restore


class EpochSource(ABC):
    """What a training path gives the loop: its data, and one epoch over it.

    n_samples: samples per epoch (the cost is divided by it).
    resumable_mid_epoch: a stopped epoch can continue from its
        ``state.samples_done``; otherwise the loop undoes a stopped epoch.
    driver: the kernel the last epoch ran (``TrainingHistory.driver``).
    writer: who writes the run's checkpoints (the function that resumes
        them is that writer's).
    """

    n_samples = 0
    resumable_mid_epoch = True
    driver = ""
    writer = "Network.train"  # the checkpoints' writer entry (fastnn.checkpoint)

    def attach(self, ctrl_c, report_progress) -> None:
        """Called once before ``prepare``: the run's CtrlC (``ctrl_c.
        interrupted``; an ``EpochRunner(plan, ..., ctrl_c)`` stops at it)
        and ``report_progress(samples)``, the samples of the running epoch
        whose steps are taken (None when nobody asked)."""
        self.ctrl_c, self.report_progress = ctrl_c, report_progress

    def prepare(self):
        """Compile (or load) the kernels the epochs run, and allocate.
        Returns None, or the seconds of compiling where they are known
        better than by the loop's clock around this call (on workers)."""

    @abstractmethod
    def run_epoch(self, epoch, first) -> tuple[float, int]:
        """Train epoch ``epoch`` (from 0) from its sample ``first`` on;
        returns (sum of the trained samples' costs, samples of the epoch
        whose steps are taken: ``n_samples`` unless Ctrl-C stopped it)."""

    def saturation_probe(self):
        """Training inputs to look for saturated outputs in, or None."""
        return None

    def checkpoint_extra(self):
        """Entries of the source's own for its checkpoints, or None."""
        return None

    def data_checksum(self) -> int:
        """The checksum a checkpoint records of the data (``run_state.
        data_checksum``, or the source's own), for a resume to compare."""
        raise NotImplementedError(f"{type(self).__name__} does not write checkpoints")

    def close(self) -> None:
        """Release what the run held (threads, buffers)."""


def plan_for(network, batch_size, n_samples, n_threads, layer_plan=None,
             stateful=False) -> EpochPlan:
    """The EpochPlan of ``network`` (its sizes, dtype and neurons);
    layer_plan: a run's recorded kernel plan (``TrainingState.plan``), or
    None (empty) to choose one (``fastnn.engine.plan_for``); ``stateful``:
    for an optimizer with state (docs/theory.md §13)."""
    return EpochPlan(network.sizes, batch_size, network.dtype, n_samples, n_threads,
                     neurons=network.neurons, layer_plan=layer_plan or None,
                     stateful=stateful)


def dropout_key(network, state, epoch):
    """The dropout key of ``epoch`` of a run (``kernels.dropout.epoch_key``
    of the run's dropout seed, docs/theory.md §12); 0 without dropout."""
    if not network.neurons.has_dropout:
        return 0
    return epoch_key(dropout_seed(state.seed_entropy), epoch)


# ---------------------------------------------------------------------------
# The optimizer a run steps with (docs/theory.md §13)
# ---------------------------------------------------------------------------
def set_optimizer(state, optimizer, n_params, dtype) -> None:
    """Give ``state`` the optimizer ``optimizer``: a name, an
    ``optimizers.SGD``/``Adam`` (fresh state, the learning rate starting
    at state.eta) or an ``optimizers.OptimizerState`` (its arrays and
    options are the run's, stepped in place, as ``partial_fit`` carries
    them from call to call). The name "sgd" leaves the state as it is: the
    plain step of §7, without options or arrays."""
    if isinstance(optimizer, str) and optimizer == "sgd":
        return
    if isinstance(optimizer, optimizers.OptimizerState):
        optimizer.check_fits(n_params, dtype)
        state.optimizer, state.optimizer_options = optimizer.name, optimizer.options
        state.optimizer_arrays = optimizer.arrays
        return
    name, options, arrays = optimizers.new_state(optimizer, state.eta, n_params, dtype)
    options["eta_0"] = float(state.eta)
    state.optimizer, state.optimizer_options, state.optimizer_arrays = name, options, arrays


def optimizer_of(state) -> optimizers.OptimizerState | None:
    """The run's optimizer state (shared with ``state``), or None for plain
    SGD without options."""
    if not state.optimizer_options:
        return None
    return optimizers.OptimizerState(state.optimizer, state.optimizer_options,
                                     state.optimizer_arrays)


def step_options(state, dtype) -> dict:
    """The step arguments of ``EpochPlan.run`` for the run's next epoch:
    lmbda, and the kernels' optimizer over the run's arrays (None for
    plain SGD)."""
    optimizer = optimizer_of(state)
    return dict(lmbda=state.lmbda,
                optimizer=None if optimizer is None else optimizer.kernel(0.0, dtype))


def epoch_eta(state) -> float:
    """The learning rate of the next epoch: the schedule's, else eta."""
    if state.optimizer_options and "learning_rate" in state.optimizer_options:
        return float(state.optimizer_options["learning_rate"])
    return state.eta


def schedule_after_epoch(state, n_samples, epoch_cost) -> bool:
    """The schedule's move after a finished epoch (invscaling from the
    samples this run has seen; adaptive on the training cost); True when
    the adaptive schedule stops the run (its rate reached 1e-6). Nothing
    for a state whose options say ``loop_schedule=False`` (the estimators
    move their schedule themselves, as scikit-learn does)."""
    options = state.optimizer_options
    if not options or not options.get("loop_schedule", True):
        return False
    options["samples_seen"] = options.get("samples_seen", 0) + int(n_samples)
    optimizers.epoch_ended(options, options.get("eta_0", state.eta), options["samples_seen"])
    if options.get("schedule") == "adaptive" and optimizers.cost_improved(options, epoch_cost):
        return optimizers.no_improvement(options)
    return False


def warm_up(network, plan, inputs, targets, test_inputs=None) -> float:
    """Compile (or load) every kernel a run of ``plan`` calls, on a copy of
    the parameters and the first batch; returns the seconds it took."""
    started = time.perf_counter()
    with ctrl_c_survives_compiling():
        plan.warm_up(network.params, inputs, targets, 1.0)
        kernels.shuffle_order(np.arange(2, dtype=np.int64), EPOCH_SEED_TYPE(0))
        if test_inputs is not None:
            network.forward(test_inputs, warm_up=True)
    return time.perf_counter() - started


class InMemory(EpochSource):
    """Arrays in memory (``Network.train``, ``fastnn.resume``): each epoch
    visits the samples in the order drawn from its epoch seed, through one
    EpochPlan; a stopped epoch's rest runs from a copy of its samples."""

    def __init__(self, network, inputs, targets, state, n_threads, sample_weight=None,
                 warm=False):
        # warm: the caller ran this plan's kernels in this process already
        # (an estimator's later epochs), so prepare() skips warm_up's batch.
        self.network, self.inputs, self.targets = network, inputs, targets
        self.state, self.n_threads, self.sample_weight = state, n_threads, sample_weight
        self.warm = warm
        self.n_samples = inputs.shape[0]
        self.plan = None

    @property
    def driver(self):
        return self.plan.last_run or self.plan.driver

    def prepare(self):
        self.plan = plan_for(self.network, self.state.batch_size, self.n_samples,
                             self.n_threads, self.state.plan,
                             stateful=self.state.optimizer != "sgd")
        # The kernel plan is part of the run: a resume takes it from the
        # checkpoint, so that it runs the same kernels (bitwise).
        self.state.plan = self.plan.layer_plan.record()
        self.order = np.arange(self.n_samples, dtype=np.int64)
        if not self.warm:
            warm_up(self.network, self.plan, self.inputs, self.targets)
        self.first = 0  # where the running epoch started (a stopped one's rest)
        progress = None if self.report_progress is None else (
            lambda samples: self.report_progress(self.first + samples))
        self.runner = EpochRunner(self.plan, progress, self.ctrl_c).__enter__()

    def run_epoch(self, epoch, first):
        state, plan, params, n = self.state, self.plan, self.network.params, self.n_samples
        eta = epoch_eta(state)
        step = step_options(state, self.network.dtype)
        if state.shuffle:
            kernels.shuffle_order(self.order, epoch_seed(state.seed_entropy, epoch))
        self.first = first
        key = dropout_key(self.network, state, epoch)
        if first:
            # The rest of an epoch Ctrl-C stopped: its samples in their
            # order, copied once, run through the same kernels (and drawing
            # the dropout masks of their rows of the data).
            rest = self.order[first:]
            weights = None if self.sample_weight is None else self.sample_weight[rest]
            cost = self.runner.run(params, np.ascontiguousarray(self.inputs[rest]),
                                   np.ascontiguousarray(self.targets[rest]),
                                   np.arange(rest.size, dtype=np.int64), eta,
                                   n_train=n, sample_weight=weights, dropout_key=key,
                                   rows=rest, **step)
            return float(cost), first + plan.samples_done(rest.size)
        cost = self.runner.run(params, self.inputs, self.targets, self.order, eta,
                               sample_weight=self.sample_weight, dropout_key=key, **step)
        return float(cost), plan.samples_done(n)

    def saturation_probe(self):
        return self.inputs[:SATURATION_PROBE]

    def data_checksum(self):
        return data_checksum(self.inputs, self.targets, self.sample_weight)

    def close(self):
        if self.plan is not None:
            self.runner.__exit__(None, None, None)


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------
def run(network, source, state, history=None, *, test_data=None, callback=None,
        progress=None, checkpoint=None, checksum=None, on_divergence="raise"):
    """Check the rest of a run's arguments, then train ``network`` with the
    epochs of ``source`` from ``state`` on. Returns the history (also
    ``network.history``).

    Checked here, before the first step: eta lmbda / n < 1, the test data,
    callback and progress, on_divergence, the checkpoint path (a writable
    place no other run is writing), eta's fit in the dtype and finite
    parameters. checksum: the training data's (``run_state.data_checksum``),
    which a checkpoint records; computed by the source's data if None.
    """
    if state.optimizer == "sgd":  # with state, L2 is in the gradient: no factor to flip
        check_l2(state.eta, state.lmbda, source.n_samples)
    test = check_test_data(network, test_data)
    check_callable(callback, "callback")
    check_callable(progress, "progress")
    check_on_divergence(on_divergence)
    lock = None
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        lock = RunLock(checkpoint, "checkpoint")
        if checksum is None:
            checksum = source.data_checksum()
    check_can_train(network, state.eta)
    with lock if lock is not None else contextlib.nullcontext():
        return run_epochs(network, source, state, history, test=test, callback=callback,
                          progress=progress, checkpoint=checkpoint, checksum=checksum,
                          on_divergence=on_divergence)


def run_epochs(network, source, state, history=None, *, test=None, callback=None,
               progress=None, checkpoint=None, checksum=None, on_divergence="raise"):
    """The loop without ``run``'s checks, for callers that made their own
    (the book's networks: any eta, no divergence check with
    ``on_divergence=None``). test: checked ``(inputs, labels)`` or None."""
    if not network.training_lock.acquire(blocking=False):
        raise RuntimeError(
            "this Network is already training (in another thread, or this is a call "
            "from its own callback); train one network from one thread at a time, "
            "or train a copy (Network.copy())")
    try:
        loop = _Loop(network, source, state, TrainingHistory() if history is None else history,
                     test, callback, progress, checkpoint, checksum, on_divergence)
        return loop.run()
    finally:
        source.close()
        network.training_lock.release()


class _Snapshot:
    """The parameters and the optimizer's arrays at one point of the run."""

    def __init__(self, network, state):
        self.params = network.params.copy()
        self.arrays = {name: np.array(array, copy=True)
                       for name, array in state.optimizer_arrays.items()}

    def take(self, network, state):
        np.copyto(self.params, network.params)
        for name, array in state.optimizer_arrays.items():
            np.copyto(self.arrays[name], array)

    def restore(self, network, state):
        network.params[...] = self.params
        for name, array in state.optimizer_arrays.items():
            array[...] = self.arrays[name]


class _Loop:
    def __init__(self, network, source, state, history, test, callback, progress, checkpoint,
                 checksum, on_divergence):
        self.network, self.source, self.state, self.history = network, source, state, history
        self.test, self.callback, self.progress = test, callback, progress
        self.checkpoint, self.checksum = checkpoint, checksum
        self.on_divergence = on_divergence
        self.n_samples = source.n_samples
        self.epoch = state.epochs_done

    def report_progress(self, samples):
        self.progress(self.epoch + 1, samples, self.n_samples)

    def run(self):
        network, source, state, history = self.network, self.source, self.state, self.history
        network.history = history
        history.plan = state.plan
        with CtrlC() as ctrl_c:
            self.ctrl_c = ctrl_c
            source.attach(ctrl_c, None if self.progress is None else self.report_progress)
            started = time.perf_counter()
            with ctrl_c_survives_compiling():
                seconds = source.prepare()
                if self.test is not None:
                    network.forward(self.test[0], warm_up=True)
            history.compile_seconds = (time.perf_counter() - started if seconds is None
                                       else seconds)
            history.driver = source.driver
            history.plan = state.plan  # as the source's prepare chose or took it
            self.start = _Snapshot(network, state)
            self.last_finite = _Snapshot(network, state)
            while state.epochs_done < state.epochs:
                if self.epoch_ends_the_run():
                    break
        history.optimizer = optimizer_of(state)
        return history

    def epoch_ends_the_run(self) -> bool:
        """One epoch and its bookkeeping; True when the run stops after it."""
        network, source, state, history = self.network, self.source, self.state, self.history
        self.epoch = epoch = state.epochs_done
        started = time.perf_counter()
        try:
            cost, done = source.run_epoch(epoch, state.samples_done)
        except SourceFailed as failed:
            (self.start if failed.restore == "start" else self.last_finite).restore(network,
                                                                                    state)
            raise failed.original.with_traceback(failed.original.__traceback__) from None
        if done < self.n_samples:  # stopped by Ctrl-C (the only stop)
            raise self.interrupted(cost, done)
        epoch_cost = (state.partial_cost + cost) / self.n_samples
        state.samples_done, state.partial_cost = 0, 0.0
        if self.on_divergence is not None and not self.finite(epoch_cost):
            self.last_finite.restore(network, state)
            history.diverged_at = epoch + 1
            self.report_divergence(epoch_cost)
            return True
        self.last_finite.take(network, state)
        state.epochs_done += 1
        history.seconds.append(time.perf_counter() - started)
        history.driver = source.driver
        history.cost.append(epoch_cost)
        schedule_stops = schedule_after_epoch(state, self.n_samples, epoch_cost)
        self.check_saturation()
        if self.test is not None:
            predicted = np.argmax(network.forward(self.test[0]), axis=1)
            history.test_accuracy.append(float(np.mean(predicted == self.test[1])))
        if self.progress is not None:
            self.progress(epoch + 1, self.n_samples, self.n_samples)
        last = state.epochs_done == state.epochs
        stop = self.callback is not None and bool(self.callback(epoch + 1, history))
        stop = stop or schedule_stops
        if self.checkpoint is not None and (
                last or stop or self.ctrl_c.interrupted
                or state.epochs_done % state.checkpoint_every == 0):
            self.save_checkpoint()
        if self.ctrl_c.interrupted and not last:
            raise self.interrupted(0.0, 0)
        return stop

    def finite(self, cost) -> bool:
        return bool(np.isfinite(cost)) and all_finite(self.network.params)

    def save_checkpoint(self):
        write_checkpoint(self.checkpoint, self.network, self.state, self.history,
                         self.checksum, self.n_samples, extra=self.source.checkpoint_extra(),
                         writer=self.source.writer)

    def interrupted(self, cost, done) -> KeyboardInterrupt:
        """Ctrl-C stopped epoch epochs_done + 1 after ``done`` samples whose
        costs sum to ``cost``: the state says so (or the stopped epoch is
        undone: parameters no longer finite, or a source that cannot resume
        mid-epoch), a checkpoint is written, and the KeyboardInterrupt to
        raise is returned."""
        network, state, history = self.network, self.state, self.history
        epoch, n_samples = state.epochs_done + 1, self.n_samples
        if done:
            state.samples_done = done
            state.partial_cost += float(cost)
        what = f"training stopped by Ctrl-C in epoch {epoch} after {state.samples_done} of " \
               f"{n_samples} samples"
        undo = None
        if self.on_divergence is not None and done and not self.finite(state.partial_cost):
            history.diverged_at = epoch
            undo = ("by then its cost or parameters had become NaN or inf (try a smaller "
                    f"eta than {state.eta:g})")
        elif done and not self.source.resumable_mid_epoch:
            undo = "an epoch of this run cannot be resumed in its middle"
        if undo is not None:
            self.last_finite.restore(network, state)
            state.samples_done, state.partial_cost = 0, 0.0
            restored = f"epoch {epoch - 1}" if epoch > 1 else "the start"
            what += f"; {undo}, so the parameters of {restored} are restored"
        history.interrupted_at = (epoch, state.samples_done)
        if self.checkpoint is not None:
            self.save_checkpoint()
            what += f"; checkpoint {self.checkpoint} written"
        error = KeyboardInterrupt(what)
        error.history = history
        return error

    def report_divergence(self, epoch_cost):
        """Raise or warn, per on_divergence, about a non-finite epoch whose
        parameters were restored; training stops there either way."""
        history, state = self.history, self.state
        epoch = history.diverged_at
        what = "parameters" if np.isfinite(epoch_cost) else "cost"
        restored = f"epoch {epoch - 1}" if epoch > 1 else "the start"
        message = (
            f"training diverged in epoch {epoch}: the {what} became NaN or inf at "
            f"eta={state.eta:g}. The parameters of {restored} are restored; try a smaller "
            f"step, e.g. eta={state.eta / 10:g}, or scale the inputs and targets")
        if self.on_divergence == "raise":
            raise DivergenceError(message, history)
        if self.on_divergence == "warn":
            warnings.warn(message, DivergenceWarning, stacklevel=_caller_level())

    def check_saturation(self):
        """Note (and warn once) when the cost stopped moving because the
        outputs are pinned at 0 or 1, where f'(z) ~ 0 passes no gradient.
        Only the quadratic cost of a sigmoid output has that trap: the
        other rules' output delta is a - y (§10)."""
        network, history, state = self.network, self.history, self.state
        if ((network.cost_name, network.output) != ("quadratic", "sigmoid")
                or history.saturated_at is not None or len(history.cost) < 2
                or self.on_divergence is None):
            return
        previous, current = history.cost[-2], history.cost[-1]
        if abs(current - previous) > SATURATED_COST_CHANGE * max(abs(previous), 1e-300):
            return
        probe = self.source.saturation_probe()
        if probe is None:
            return
        outputs = network.forward(probe).astype(np.float64)
        if np.all(outputs * (1.0 - outputs) < SATURATED_SLOPE):
            history.saturated_at = len(history.cost)
            if self.on_divergence != "stop":
                warnings.warn(
                    f"the output neurons are pinned at 0 or 1 and the cost has stopped moving "
                    f"(C = {current:.6g} in epochs {len(history.cost) - 1} and "
                    f"{len(history.cost)}): f'(z) ~ 0 passes no gradient. eta={state.eta:g} "
                    f"is probably too large; try eta={state.eta / 100:g} from a new network",
                    SaturationWarning, stacklevel=_caller_level())


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_level() -> int:
    """The stacklevel of the first frame outside fastnn (the user's train()
    call), counted from the function calling warnings.warn."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level
