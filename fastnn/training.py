"""The training run: the checks of a run's arguments, and its epoch loop.

``run`` is the way in of ``Network.train`` and ``fastnn.resume``: it
checks what the state and the call leave to check (the eta lmbda / n
rule, test data, callbacks, the eta's fit in the dtype, finite
parameters), takes the network's training lock, then runs the epochs of
``state`` from where it stands: divergence (restore and report), history,
test accuracy, the callback's stop, checkpoint cadence and Ctrl-C.
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np

from . import kernels
from ._interrupt import EpochRunner, ctrl_c_survives_compiling
from ._validation import (all_finite, check_inputs, check_labels, check_thread_count)
from .checkpoint import write_checkpoint
from .exceptions import DivergenceError, DivergenceWarning, SaturationWarning
from .plan import EpochPlan
from .run_state import EPOCH_SEED_TYPE, data_checksum, epoch_seed

__all__ = ["run", "warm_up", "plan_for", "ON_DIVERGENCE"]

ON_DIVERGENCE = ("raise", "warn", "stop")
_ON_DIVERGENCE = ON_DIVERGENCE
# Saturation (_check_saturation): the cost moved by at most this fraction
# in an epoch, and every output of the first _SATURATION_PROBE training
# samples has a (1 - a) below _SATURATED_SLOPE.
_SATURATED_COST_CHANGE = 1e-9
_SATURATION_PROBE = 256
_SATURATED_SLOPE = 1e-6


def plan_for(network, batch_size, n_samples, n_threads) -> EpochPlan:
    """The EpochPlan of ``network`` (its sizes, dtype, cost and output)."""
    return EpochPlan(network.sizes, batch_size, network.dtype, n_samples, n_threads,
                     cost=network.cost_name, output=network.output)


def run(network, inputs, targets, state, history, *, test_data, callback, progress,
        n_threads, checkpoint, on_divergence, checksum=None, sample_weight=None):
    """The rest of train's checks, then the run from ``state`` on (also
    ``fastnn.resume``'s way in)."""
    n_threads = check_thread_count(n_threads)
    if state.lmbda and not state.eta * state.lmbda / inputs.shape[0] < 1:
        raise ValueError(
            f"eta * lmbda / n = {state.eta:g} * {state.lmbda:g} / {inputs.shape[0]} is "
            f"{state.eta * state.lmbda / inputs.shape[0]:g}: L2's factor 1 - eta lmbda / n "
            "would be 0 or negative, flipping or zeroing every weight at each step; "
            "use a smaller lmbda (or eta)")
    test_inputs = test_labels = None
    if test_data is not None:
        if not isinstance(test_data, (tuple, list)) or len(test_data) != 2:
            raise TypeError(
                "test_data must be a pair (X_test, labels_test), "
                f"got {type(test_data).__name__}"
            )
        test_X, test_labels = test_data
        test_inputs, _ = check_inputs(test_X, network.sizes[0], network.dtype, "test X")
        test_labels = check_labels(test_labels, test_inputs.shape[0], network.sizes[-1],
                                   "test labels")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable")
    if on_divergence not in _ON_DIVERGENCE:
        choices = ", ".join(map(repr, _ON_DIVERGENCE))
        raise ValueError(f"on_divergence must be one of {choices}, got {on_divergence!r}")
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        if checksum is None:
            checksum = data_checksum(inputs, targets, sample_weight)
    with np.errstate(over="ignore"):
        if not np.isfinite(network.dtype.type(state.eta)):
            raise ValueError(f"eta={state.eta:g} does not fit in {network.dtype.name} (largest "
                             f"{np.finfo(network.dtype).max:.3g}): every step would be inf")
    if not all_finite(network.params):
        raise ValueError(
            "the network's parameters are not finite (NaN or inf): training cannot "
            "recover them; start from a new network or load a saved one")
    if not network.training_lock.acquire(blocking=False):
        raise RuntimeError(
            "this Network is already training (in another thread, or this is a call "
            "from its own callback); train one network from one thread at a time, "
            "or train a copy (Network.copy())"
        )
    try:
        return _train_checked(network, inputs, targets, state, history, test_inputs,
                              test_labels, callback, progress, n_threads,
                              checkpoint, checksum, on_divergence, sample_weight)
    finally:
        network.training_lock.release()


def warm_up(network, plan, inputs, targets, test_inputs):
    """Compile (or load) every kernel a run of ``plan`` calls, on a copy of
    the parameters; returns the seconds it took."""
    started = time.perf_counter()
    with ctrl_c_survives_compiling():
        plan.warm_up(network.params, inputs, targets, 1.0)
        kernels.shuffle_order(np.arange(2, dtype=np.int64), EPOCH_SEED_TYPE(0))
        if test_inputs is not None:
            network.forward(test_inputs, warm_up=True)
    return time.perf_counter() - started


def _train_checked(network, inputs, targets, state, history, test_inputs, test_labels,
                   callback, progress, n_threads, checkpoint, checksum, on_divergence,
                   sample_weight):
    n_samples = inputs.shape[0]
    plan = plan_for(network, state.batch_size, n_samples, n_threads)
    order = np.arange(n_samples, dtype=np.int64)
    history.driver = plan.driver
    history.compile_seconds = warm_up(network, plan, inputs, targets, test_inputs)
    network.history = history
    last_finite = network.params.copy()

    def save_checkpoint():
        write_checkpoint(checkpoint, network, state, history, checksum, n_samples)

    def interrupted():
        history.interrupted_at = (state.epochs_done + 1, state.samples_done)
        if checkpoint is not None:
            save_checkpoint()
        error = KeyboardInterrupt(
            f"training stopped by Ctrl-C in epoch {state.epochs_done + 1} after "
            f"{state.samples_done} of {n_samples} samples")
        error.history = history
        return error

    epoch_progress = None
    if progress is not None:
        def epoch_progress(samples):
            progress(state.epochs_done + 1, first + samples, n_samples)

    with EpochRunner(plan, epoch_progress) as runner:
        while state.epochs_done < state.epochs:
            epoch = state.epochs_done
            started = time.perf_counter()
            if state.shuffle:
                kernels.shuffle_order(order, epoch_seed(state.seed_entropy, epoch))
            first = state.samples_done
            if first:
                # The rest of an epoch Ctrl-C stopped: its samples in their
                # order, copied once, run through the same kernels.
                rest = order[first:]
                cost = runner.run(network.params, np.ascontiguousarray(inputs[rest]),
                                  np.ascontiguousarray(targets[rest]),
                                  np.arange(rest.size, dtype=np.int64), state.eta,
                                  lmbda=state.lmbda, n_train=n_samples,
                                  sample_weight=None if sample_weight is None
                                  else sample_weight[rest])
                done = first + plan.samples_done(rest.size)
            else:
                cost = runner.run(network.params, inputs, targets, order, state.eta,
                                  lmbda=state.lmbda, sample_weight=sample_weight)
                done = plan.samples_done(n_samples)
            if done < n_samples:  # stopped by Ctrl-C (the only stop)
                state.samples_done = done
                state.partial_cost += float(cost)
                raise interrupted()
            epoch_cost = (state.partial_cost + float(cost)) / n_samples
            state.samples_done, state.partial_cost = 0, 0.0
            if not (np.isfinite(epoch_cost) and all_finite(network.params)):
                network.params[...] = last_finite
                history.diverged_at = epoch + 1
                _report_divergence(history, state, on_divergence, epoch_cost)
                break
            np.copyto(last_finite, network.params)
            state.epochs_done += 1
            history.seconds.append(time.perf_counter() - started)
            history.driver = plan.last_run
            history.cost.append(epoch_cost)
            _check_saturation(network, history, inputs, state, on_divergence)
            if test_inputs is not None:
                predicted = np.argmax(network.forward(test_inputs), axis=1)
                history.test_accuracy.append(float(np.mean(predicted == test_labels)))
            if progress is not None:
                progress(epoch + 1, n_samples, n_samples)
            last = state.epochs_done == state.epochs
            stop = callback is not None and bool(callback(epoch + 1, history))
            if checkpoint is not None and (
                    last or stop or runner.interrupted
                    or state.epochs_done % state.checkpoint_every == 0):
                save_checkpoint()
            if runner.interrupted and not last:
                raise interrupted()
            if stop:
                break
    return history


def _report_divergence(history, state, on_divergence, epoch_cost):
    """Raise or warn, per on_divergence, about a non-finite epoch whose
    parameters were restored; training stops there either way."""
    epoch = history.diverged_at
    what = "parameters" if np.isfinite(epoch_cost) else "cost"
    restored = f"epoch {epoch - 1}" if epoch > 1 else "the start"
    message = (
        f"training diverged in epoch {epoch}: the {what} became NaN or inf at "
        f"eta={state.eta:g}. The parameters of {restored} are restored; try a smaller "
        f"step, e.g. eta={state.eta / 10:g}, or scale the inputs and targets")
    if on_divergence == "raise":
        raise DivergenceError(message, history)
    if on_divergence == "warn":
        # (stacklevel: here, _train_checked, run, Network.train or
        # resume, then the caller's line)
        warnings.warn(message, DivergenceWarning, stacklevel=5)


def _check_saturation(network, history, inputs, state, on_divergence):
    """Note (and warn once) when the cost stopped moving because the
    outputs are pinned at 0 or 1, where f'(z) ~ 0 passes no gradient.
    Only the quadratic cost of a sigmoid output has that trap: the
    other rules' output delta is a - y (§10)."""
    if ((network.cost_name, network.output) != ("quadratic", "sigmoid") or history.saturated_at is not None
            or len(history.cost) < 2):
        return
    previous, current = history.cost[-2], history.cost[-1]
    if abs(current - previous) > _SATURATED_COST_CHANGE * max(abs(previous), 1e-300):
        return
    outputs = network.forward(inputs[:_SATURATION_PROBE]).astype(np.float64)
    if np.all(outputs * (1.0 - outputs) < _SATURATED_SLOPE):
        history.saturated_at = len(history.cost)
        if on_divergence != "stop":
            warnings.warn(
                f"the output neurons are pinned at 0 or 1 and the cost has stopped moving "
                f"(C = {current:.6g} in epochs {len(history.cost) - 1} and "
                f"{len(history.cost)}): f'(z) ~ 0 passes no gradient. eta={state.eta:g} "
                f"is probably too large; try eta={state.eta / 100:g} from a new network",
                SaturationWarning, stacklevel=5)
