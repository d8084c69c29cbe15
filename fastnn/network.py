"""The Network wrapper: owns the parameters, validates, allocates, calls kernels."""
from __future__ import annotations

import os
import threading
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from ._files import atomic_write, npz_headers, open_npz, read_npz_member, read_npz_scalar
from ._interrupt import EpochRunner, ctrl_c_survives_compiling
from ._threads import borrow_threads, check_thread_count, default_thread_count, parallel_region
from .checkpoint import (EPOCH_SEED_TYPE, TrainingState, data_checksum, epoch_seed,
                         write_checkpoint)
from .exceptions import DivergenceError, DivergenceWarning, SaturationWarning
from .plan import EpochPlan
from ._validation import (
    _all_finite,
    all_finite,
    check_bool,
    check_dtype,
    check_epochs,
    check_inputs,
    check_labels,
    check_memory,
    check_non_negative_float,
    check_positive_float,
    check_positive_int,
    check_sample_weight,
    check_sizes,
    check_targets,
)
from .kernels.objective import LOG_FLOOR, QUADRATIC_SIGMOID, output_rule, plain_objective

__all__ = ["Network", "TrainingHistory", "load"]

# feedforward/cost/evaluate walk large inputs in chunks of this many samples,
# so their work buffers stay small whatever the data set's size.
_CHUNK = 1024
# feedforward splits layers between threads from this many multiply-adds
# per call (about 20-40 ms in one thread): below it, the threaded kernel's
# compile time (seconds, once) would outweigh what it saves.
_THREADED_FORWARD_WORK = 200_000_000
_FORMAT_VERSION = 1
_ON_DIVERGENCE = ("raise", "warn", "stop")
# Saturation (Network._check_saturation): the cost moved by at most this
# fraction in an epoch, and every output of the first _SATURATION_PROBE
# training samples has a (1 - a) below _SATURATED_SLOPE.
_SATURATED_COST_CHANGE = 1e-9
_SATURATION_PROBE = 256
_SATURATED_SLOPE = 1e-6


@dataclass
class TrainingHistory:
    """What ``Network.train`` measured, one entry per epoch.

    cost: mean C over the epoch's samples, each C taken in the forward pass
        that computed its gradient (before that mini-batch's step), as
        scikit-learn's ``loss_curve_`` does; it costs no extra pass.
    test_accuracy: ``evaluate(*test_data)`` after the epoch, if test data
        was given, else empty.
    seconds: wall time of the epoch's training (not of the evaluation).
    compile_seconds: time spent before the first epoch compiling the
        kernels this call runs, or loading them from the disk cache
        (milliseconds once they are cached); not part of ``seconds``.
    driver: the epoch kernel the last epoch ran (``fastnn.plan.EpochPlan``).
    diverged_at: the epoch (from 1) whose cost or parameters became NaN or
        inf, or None; it is not in ``cost`` (its parameters were undone).
    saturated_at: the epoch after which the outputs were found pinned at 0
        or 1 with the cost no longer moving, or None.
    interrupted_at: ``(epoch, samples)`` where Ctrl-C stopped the run (the
        steps of those samples of that epoch are taken), or None.
    """

    cost: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    compile_seconds: float = 0.0
    driver: str = ""
    diverged_at: int | None = None
    saturated_at: int | None = None
    interrupted_at: tuple | None = None

    @property
    def epochs(self) -> int:
        return len(self.cost)


class Network:
    """A multilayer perceptron of sigmoid neurons, trained by gradient descent.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first: ``[L_0, L_1, ..., L_l]``.
    cost : "quadratic" or "cross_entropy"
        C = 1/2 sum_j (y_j - a_j)^2 (the design document's), or
        C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] (Nielsen's network2;
        sigmoid output only). docs/theory.md §3, §10.
    output : "sigmoid" or "identity"
        The output layer's activation: a_j = f(z_j), or a_j = z_j (for
        regression; quadratic cost only). Hidden layers are sigmoid.
    seed : int or None
        Seed of the initialisation (``numpy.random.default_rng(seed)``).
    dtype : float32 or float64
        The dtype of the parameters and of every computation.

    Attributes
    ----------
    sizes : tuple of int
    params : ndarray of shape (n_params,)
        Every parameter in the order of the design document's gradient
        vector: the weights of layer 1 (row-major j, k), of layer 2, ...,
        then the biases of layer 1, 2, ....
    weights : list of ndarray
        ``weights[i]`` has shape ``(sizes[i+1], sizes[i])`` and is a view
        into ``params``: ``weights[i][j, k]`` is the document's w_jk of layer
        i+1. Writing into it changes the network.
    biases : list of ndarray
        ``biases[i]`` has shape ``(sizes[i+1],)``, also a view into ``params``.

    Initialisation: w_jk ~ N(0, 1) / sqrt(L_{i-1}) (so z starts with unit
    variance for inputs of unit scale), b_j ~ N(0, 1).

    Threads: one ``train`` at a time per network; a second call from
    another thread while one runs raises RuntimeError. ``feedforward``,
    ``predict``, ``evaluate`` and ``cost`` may run in other threads during
    training (they see the parameters as the running epoch leaves them).
    Different networks train in different threads at once.
    """

    def __init__(self, sizes, *, cost="quadratic", output="sigmoid", seed=None,
                 dtype=np.float64):
        self._training = threading.Lock()
        self.sizes = check_sizes(sizes)
        self.dtype = check_dtype(dtype)
        self._set_objective(cost, output)
        self._sizes_array = np.asarray(self.sizes, dtype=np.int64)
        n_params = kernels.parameter_count(self.sizes)
        check_memory(n_params * self.dtype.itemsize,
                     f"a network of sizes {_sizes_text(self.sizes)} ({n_params:,} parameters)")
        self.params = np.empty(n_params, dtype=self.dtype)
        self.weights, self.biases = _parameter_views(self.params, self.sizes)
        rng = np.random.default_rng(seed)
        for w in self.weights:
            w[...] = rng.standard_normal(w.shape) / np.sqrt(w.shape[1])
        for b in self.biases:
            b[...] = rng.standard_normal(b.shape)

    # -- basic facts -------------------------------------------------------
    @property
    def n_params(self) -> int:
        return self.params.size

    def _set_objective(self, cost, output):
        self._rule = output_rule(cost, output)
        self.cost_name = cost
        self.output = output

    def __repr__(self) -> str:
        objective = ""
        if self._rule != QUADRATIC_SIGMOID:
            objective = f", cost={self.cost_name!r}, output={self.output!r}"
        return f"Network(sizes={list(self.sizes)}{objective}, dtype={self.dtype.name})"

    def copy(self) -> "Network":
        """An independent network with the same parameters."""
        twin = Network.__new__(Network)
        twin.__setstate__(self.__getstate__())
        return twin

    # Pickle the flat vector only: pickled views would come back as copies,
    # cut off from params.
    def __getstate__(self):
        return {"sizes": self.sizes, "dtype": self.dtype.name, "params": self.params.copy(),
                "cost": self.cost_name, "output": self.output}

    def __setstate__(self, state):
        self._training = threading.Lock()
        self.sizes = check_sizes(state["sizes"])
        self.dtype = check_dtype(state["dtype"])
        # (pickles from before the cost and output choice are quadratic/sigmoid)
        self._set_objective(state.get("cost", "quadratic"), state.get("output", "sigmoid"))
        self._sizes_array = np.asarray(self.sizes, dtype=np.int64)
        self.params = np.ascontiguousarray(state["params"], dtype=self.dtype)
        self.weights, self.biases = _parameter_views(self.params, self.sizes)

    # -- the forward direction ---------------------------------------------
    def feedforward(self, X):
        """Output activations a^(l).

        X : array of shape (n, sizes[0]) or (sizes[0],)
        Returns shape (n, sizes[-1]), or (sizes[-1],) for a single sample.

        The samples are computed in blocks of six or four, or alone (see
        ``kernels.layers._forward_blocks``), with loops vectorized differently, so
        a sample's output can differ in the last bit with the other samples
        passed beside it. It never depends on the number of threads.
        """
        inputs, single = check_inputs(X, self.sizes[0], self.dtype)
        self._check_finite_parameters()
        outputs = self._feedforward_checked(inputs)
        return outputs[0] if single else outputs

    def _check_finite_parameters(self):
        """ValueError if a parameter is NaN or inf: such a network's outputs
        are meaningless (a NaN network "predicted" class 0 for everything)."""
        if not _all_finite(self.params):
            raise ValueError(
                "this network's parameters are not all finite (NaN or inf), so its "
                "outputs would be meaningless: training diverged (retrain with a "
                "smaller eta) or they were set so"
            )

    def _feedforward_checked(self, inputs, *, warm_up=False):
        """Outputs for checked inputs (n, L_0), in chunks of _CHUNK samples.

        Big layers are split between threads (forward_pass_threaded) only
        when the whole call has at least _THREADED_FORWARD_WORK
        multiply-adds, so that evaluating a small test set never pays the
        threaded kernel's compile time. warm_up: compute the first sample
        only, through the kernel the whole call would use.
        """
        n_samples = inputs.shape[0]
        capacity = min(n_samples, _CHUNK)
        work = n_samples * sum(a * b for a, b in zip(self.sizes[1:], self.sizes[:-1]))
        threaded = (work >= _THREADED_FORWARD_WORK
                    and kernels.uses_layer_threads(self.sizes, capacity))
        if warm_up:
            inputs = inputs[:1]
            n_samples = 1
        activations = np.empty(kernels.workspace_size(self.sizes, capacity), self.dtype)
        outputs = np.empty((n_samples, self.sizes[-1]), self.dtype)
        offset_out = capacity * sum(self.sizes[:-1])
        with borrow_threads(default_thread_count() if threaded else 1) as threads, \
                parallel_region(threads) as may_use_threads:
            forward = kernels.forward_pass_threaded if may_use_threads else kernels.forward_pass
            for start in range(0, n_samples, capacity):
                m = min(capacity, n_samples - start)
                activations[: m * self.sizes[0]] = inputs[start:start + m].ravel()
                forward(self.params, self._sizes_array, activations, m, capacity, self._rule)
                outputs[start:start + m] = activations[
                    offset_out:offset_out + m * self.sizes[-1]
                ].reshape(m, self.sizes[-1])
        return outputs

    def cost(self, X, Y):
        """The network's cost C averaged over the samples: the document's
        1/2 sum_j (y_j - a_j)^2, or the cross-entropy -sum_j [y_j ln a_j +
        (1 - y_j) ln(1 - a_j)] (each ln taken of at least 1e-37, as in
        training: ``fastnn.kernels.objective.LOG_FLOOR``). No L2 term.

        Y : targets of shape (n, sizes[-1]) or integer labels of shape (n,).
        """
        inputs, targets = self._check_pair(X, Y, "X", "Y")
        self._check_finite_parameters()
        outputs = self._feedforward_checked(inputs).astype(np.float64)
        targets = targets.astype(np.float64)
        if self.cost_name == "cross_entropy":
            with np.errstate(invalid="ignore"):
                terms = (np.where(targets != 0, targets * np.log(np.maximum(outputs, LOG_FLOOR)),
                                  0.0)
                         + np.where(targets != 1, (1 - targets)
                                    * np.log(np.maximum(1 - outputs, LOG_FLOOR)), 0.0))
            return float(-np.mean(np.sum(terms, axis=1)))
        diff = outputs - targets
        return float(0.5 * np.mean(np.sum(diff * diff, axis=1)))

    def predict(self, X):
        """Index of the most active output neuron: shape (n,) or a scalar."""
        outputs = self.feedforward(X)
        return np.argmax(outputs, axis=-1)

    def evaluate(self, X, labels) -> float:
        """Fraction of samples whose argmax output equals the label."""
        inputs, _ = check_inputs(X, self.sizes[0], self.dtype)
        labels = check_labels(labels, inputs.shape[0], self.sizes[-1])
        self._check_finite_parameters()
        predicted = np.argmax(self._feedforward_checked(inputs), axis=1)
        return float(np.mean(predicted == labels))

    # -- gradients -------------------------------------------------------------
    def gradient(self, x, y):
        """The document's flat gradient vector of C (shape (n_params,)).

        For one sample (x of shape (sizes[0],), y of shape (sizes[-1],) or an
        integer label): dC/dparams in the order of ``params``. For a batch
        (x of shape (m, sizes[0]), y of shape (m, sizes[-1]) or (m,) labels):
        the mean over the batch of the per-sample gradients.
        """
        inputs, targets = self._check_pair(x, y, "x", "y")
        return self._gradient_checked(inputs, targets)

    def _check_pair(self, x, y, x_name, y_name):
        """Inputs (m, L_0) and targets (m, L_l); a single sample becomes m = 1."""
        inputs, single = check_inputs(x, self.sizes[0], self.dtype, x_name)
        if single:
            y = np.asarray(y)
            if y.ndim == 0:
                y = y.reshape(1)
            elif y.ndim == 1 and y.shape[0] == self.sizes[-1] and (
                self.sizes[-1] > 1 or y.dtype.kind == "f"
            ):
                y = y.reshape(1, -1)
        targets = check_targets(y, inputs.shape[0], self.sizes[-1], self.dtype, y_name)
        return inputs, targets

    def _gradient_checked(self, inputs, targets):
        m = inputs.shape[0]
        activations = np.empty(kernels.workspace_size(self.sizes, m), self.dtype)
        deltas = np.empty_like(activations)
        grad = np.empty_like(self.params)
        activations[: inputs.size] = inputs.ravel()
        kernels.forward_pass(self.params, self._sizes_array, activations, m, m, self._rule)
        kernels.backward_pass(self.params, grad, self._sizes_array, activations, deltas,
                              targets, m, m, 0.0, plain_objective(self.dtype, self._rule),
                              np.arange(m, dtype=np.int64))
        return grad

    def backprop(self, x, y):
        """(nabla_w, nabla_b) for one sample: lists shaped like weights, biases."""
        inputs, targets = self._check_pair(x, y, "x", "y")
        if inputs.shape[0] != 1:
            raise ValueError(
                f"backprop takes one sample (x of shape ({self.sizes[0]},)), "
                f"got {inputs.shape[0]}; use gradient() for a batch"
            )
        grad = self._gradient_checked(inputs, targets)
        nabla_w, nabla_b = _parameter_views(grad, self.sizes)
        return nabla_w, nabla_b

    # -- training --------------------------------------------------------------
    def train(self, X, Y, *, epochs=30, batch_size=10, eta=3.0, lmbda=0.0, sample_weight=None,
              test_data=None, shuffle=True, seed=None, callback=None, n_threads=None,
              checkpoint=None, checkpoint_every=1, on_divergence="raise", progress=None):
        """Mini-batch gradient descent: w <- w - (eta/m) sum_n dC_n/dw.

        X : (n, sizes[0]); Y : (n, sizes[-1]) targets or (n,) integer labels.
        epochs, batch_size, eta : the command line's defaults (30, 10, 3.0).
        lmbda : L2 regularisation as in Nielsen's network2 (docs/theory.md
            §10): w <- (1 - eta lmbda / n) w - (eta/m) sum_n dC_n/dw, n the
            number of training samples; biases are not decayed. 0 (the
            default) is the plain step, at no extra cost.
        sample_weight : optional (n,) weights s_n >= 0 (not all 0): each
            sample's gradient and cost are multiplied by s_n, with the
            weights scaled to mean 1. A weight of 2 is the sample given
            twice: exactly for a full batch (batch_size >= n), in
            expectation over the shuffle for mini-batches.
        test_data : optional ``(X_test, labels_test)``, evaluated after each
            epoch.
        shuffle, seed : the samples are visited in a new random order each
            epoch, drawn from ``seed``; with ``shuffle=False`` in their order.
        callback : optional ``callback(epoch, history)`` called after each
            epoch (epoch counts from 1); training stops early if it returns
            True.
        n_threads : the most threads to use (None: numba's thread count,
            capped by this process's cores and by ``OMP_NUM_THREADS``). The
            results are bitwise the same for every thread count.
        checkpoint : optional path of a checkpoint written (atomically) after
            every ``checkpoint_every``-th epoch, after the last, and when
            Ctrl-C stops the run; ``fastnn.resume`` continues from it,
            bitwise as if never stopped (``fastnn.checkpoint``).
        on_divergence : what a NaN or inf cost or parameter does (after the
            parameters of the last finite epoch are restored): ``"raise"``
            ``fastnn.DivergenceError``; ``"warn"`` a ``DivergenceWarning``
            and stop; ``"stop"`` stop, silently (``history.diverged_at``
            says it). With "raise" and "warn", outputs pinned at 0 or 1 with
            a cost that stopped moving give one ``SaturationWarning``.
        progress : optional ``progress(epoch, samples_done, n_samples)``,
            called from this thread about ten times a second during each
            epoch and at its end (a progress bar within long epochs).

        Returns a :class:`TrainingHistory`, also kept as ``self.history``.
        Nothing is printed. All input is checked before the first step: a
        rejected call leaves the network as it was. Raises RuntimeError if
        this network is already training in another thread.

        Ctrl-C stops the running epoch at its next batch (per-sample SGD: at
        its next block of eight samples), with every step before it taken,
        and raises KeyboardInterrupt carrying ``history`` (docs/reliability.md).
        """
        epochs = check_epochs(epochs)
        batch_size = check_positive_int(batch_size, "batch_size")
        eta = check_positive_float(eta, "eta")
        lmbda = check_non_negative_float(lmbda, "lmbda")
        shuffle = check_bool(shuffle, "shuffle")
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
        inputs, targets = self._check_pair(X, Y, "X", "Y")
        weights = self._check_sample_weight(sample_weight, inputs.shape[0])
        try:
            entropy = np.random.SeedSequence(seed).entropy
        except (TypeError, ValueError) as error:
            raise TypeError(f"seed must be None or a non-negative int, got {seed!r}") from error
        state = TrainingState(epochs=epochs, batch_size=batch_size, eta=eta,
                              shuffle=shuffle, seed_entropy=entropy,
                              checkpoint_every=checkpoint_every, lmbda=lmbda)
        return self._run_training(inputs, targets, state, TrainingHistory(),
                                  test_data=test_data, callback=callback, progress=progress,
                                  n_threads=n_threads, checkpoint=checkpoint,
                                  on_divergence=on_divergence, sample_weight=weights)

    def train_streaming(self, X, Y, **options):
        """``train`` for data larger than memory (memmaps, a chunked store,
        dask arrays), streamed chunk by chunk: see
        :func:`fastnn.streaming.train_streaming` and docs/streaming.md."""
        from .streaming import train_streaming

        return train_streaming(self, X, Y, **options)

    def _check_sample_weight(self, sample_weight, n_samples):
        """check_sample_weight for this network's dtype."""
        return check_sample_weight(sample_weight, n_samples, self.dtype)

    def _run_training(self, inputs, targets, state, history, *, test_data, callback, progress,
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
            test_inputs, _ = check_inputs(test_X, self.sizes[0], self.dtype, "test X")
            test_labels = check_labels(test_labels, test_inputs.shape[0], self.sizes[-1],
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
            if not np.isfinite(self.dtype.type(state.eta)):
                raise ValueError(f"eta={state.eta:g} does not fit in {self.dtype.name} (largest "
                                 f"{np.finfo(self.dtype).max:.3g}): every step would be inf")
        if not all_finite(self.params):
            raise ValueError(
                "the network's parameters are not finite (NaN or inf): training cannot "
                "recover them; start from a new network or load a saved one")
        if not self._training.acquire(blocking=False):
            raise RuntimeError(
                "this Network is already training (in another thread, or this is a call "
                "from its own callback); train one network from one thread at a time, "
                "or train a copy (Network.copy())"
            )
        try:
            return self._train_checked(inputs, targets, state, history, test_inputs,
                                       test_labels, callback, progress, n_threads,
                                       checkpoint, checksum, on_divergence, sample_weight)
        finally:
            self._training.release()

    def prepare(self, X, Y, *, batch_size=10, test_data=None, n_threads=None) -> float:
        """Compile (or load from the disk cache) every kernel that ``train``
        with these arguments runs, without changing the network; returns
        the seconds it took.

        ``train`` does this itself before its first epoch (and reports the
        time as ``TrainingHistory.compile_seconds``); call it first to show
        a message while a first run compiles, or to time epochs alone.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        n_threads = check_thread_count(n_threads)
        inputs, targets = self._check_pair(X, Y, "X", "Y")
        test_inputs = None
        if test_data is not None:
            test_inputs, _ = check_inputs(test_data[0], self.sizes[0], self.dtype, "test X")
        plan = self._plan(batch_size, inputs.shape[0], n_threads)
        return self._warm_up(plan, inputs, targets, test_inputs)

    def _plan(self, batch_size, n_samples, n_threads):
        return EpochPlan(self.sizes, batch_size, self.dtype, n_samples, n_threads,
                         cost=self.cost_name, output=self.output)

    def _warm_up(self, plan, inputs, targets, test_inputs):
        started = time.perf_counter()
        with ctrl_c_survives_compiling():
            plan.warm_up(self.params, inputs, targets, 1.0)
            kernels.shuffle_order(np.arange(2, dtype=np.int64), EPOCH_SEED_TYPE(0))
            if test_inputs is not None:
                self._feedforward_checked(test_inputs, warm_up=True)
        return time.perf_counter() - started

    def _train_checked(self, inputs, targets, state, history, test_inputs, test_labels,
                       callback, progress, n_threads, checkpoint, checksum, on_divergence,
                       sample_weight):
        n_samples = inputs.shape[0]
        plan = self._plan(state.batch_size, n_samples, n_threads)
        order = np.arange(n_samples, dtype=np.int64)
        history.driver = plan.driver
        history.compile_seconds = self._warm_up(plan, inputs, targets, test_inputs)
        self.history = history
        last_finite = self.params.copy()

        def save_checkpoint():
            write_checkpoint(checkpoint, self, state, history, checksum, n_samples)

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
                    cost = runner.run(self.params, np.ascontiguousarray(inputs[rest]),
                                      np.ascontiguousarray(targets[rest]),
                                      np.arange(rest.size, dtype=np.int64), state.eta,
                                      lmbda=state.lmbda, n_train=n_samples,
                                      sample_weight=None if sample_weight is None
                                      else sample_weight[rest])
                    done = first + plan.samples_done(rest.size)
                else:
                    cost = runner.run(self.params, inputs, targets, order, state.eta,
                                      lmbda=state.lmbda, sample_weight=sample_weight)
                    done = plan.samples_done(n_samples)
                if done < n_samples:  # stopped by Ctrl-C (the only stop)
                    state.samples_done = done
                    state.partial_cost += float(cost)
                    raise interrupted()
                epoch_cost = (state.partial_cost + float(cost)) / n_samples
                state.samples_done, state.partial_cost = 0, 0.0
                if not (np.isfinite(epoch_cost) and all_finite(self.params)):
                    self.params[...] = last_finite
                    history.diverged_at = epoch + 1
                    self._report_divergence(history, state, on_divergence, epoch_cost)
                    break
                np.copyto(last_finite, self.params)
                state.epochs_done += 1
                history.seconds.append(time.perf_counter() - started)
                history.driver = plan.last_run
                history.cost.append(epoch_cost)
                self._check_saturation(history, inputs, state, on_divergence)
                if test_inputs is not None:
                    predicted = np.argmax(self._feedforward_checked(test_inputs), axis=1)
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

    def _report_divergence(self, history, state, on_divergence, epoch_cost):
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
            # (stacklevel: here, _train_checked, _run_training, train or
            # resume, then the caller's line)
            warnings.warn(message, DivergenceWarning, stacklevel=5)

    def _check_saturation(self, history, inputs, state, on_divergence):
        """Note (and warn once) when the cost stopped moving because the
        outputs are pinned at 0 or 1, where f'(z) ~ 0 passes no gradient.
        Only the quadratic cost of a sigmoid output has that trap: the
        other rules' output delta is a - y (§10)."""
        if (self._rule != QUADRATIC_SIGMOID or history.saturated_at is not None
                or len(history.cost) < 2):
            return
        previous, current = history.cost[-2], history.cost[-1]
        if abs(current - previous) > _SATURATED_COST_CHANGE * max(abs(previous), 1e-300):
            return
        outputs = self._feedforward_checked(inputs[:_SATURATION_PROBE]).astype(np.float64)
        if np.all(outputs * (1.0 - outputs) < _SATURATED_SLOPE):
            history.saturated_at = len(history.cost)
            if on_divergence != "stop":
                warnings.warn(
                    f"the output neurons are pinned at 0 or 1 and the cost has stopped moving "
                    f"(C = {current:.6g} in epochs {len(history.cost) - 1} and "
                    f"{len(history.cost)}): f'(z) ~ 0 passes no gradient. eta={state.eta:g} "
                    f"is probably too large; try eta={state.eta / 100:g} from a new network",
                    SaturationWarning, stacklevel=5)

    # -- persistence -----------------------------------------------------------
    def save(self, path) -> str:
        """Write sizes, dtype, weights and biases to a ``.npz`` file.

        ``.npz`` is appended to ``path`` if missing. Returns the path written.
        The file is replaced whole or not at all, also if the process is
        killed or the machine loses power: it is written beside its
        destination, fsynced and renamed over it (``fastnn._files.
        atomic_write``). It keeps the permissions of the file it replaces (a
        new file gets 0666 less the umask), and a symbolic link is written
        through to the file it points to.

        Raises ValueError, and writes nothing, if a parameter is NaN or inf
        (:func:`load` refuses such a file).
        """
        path = os.fspath(path)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not path.endswith(".npz"):
            path += ".npz"
        if not _all_finite(self.params):
            raise ValueError(
                f"not saved to {path}: this network's parameters are not all finite "
                "(NaN or inf), and fastnn.load refuses such a file; training diverged "
                "(retrain with a smaller eta) or they were set so"
            )
        arrays = {
            "format_version": np.array(_FORMAT_VERSION),
            "sizes": np.asarray(self.sizes, dtype=np.int64),
            "dtype": np.array(self.dtype.name),
        }
        if self._rule != QUADRATIC_SIGMOID:
            # Only when not the default, so that files of quadratic/sigmoid
            # networks still load in fastnn versions without the choice
            # (which refuse the unknown entries of the others, as they must).
            arrays["cost"] = np.array(self.cost_name)
            arrays["output"] = np.array(self.output)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"weights_{i}"] = w
            arrays[f"biases_{i}"] = b
        return atomic_write(path, lambda stream: np.savez(stream, **arrays))


# What damage inside an archive can raise while it is read: zipfile raises
# NotImplementedError for an unknown compression method, RuntimeError for
# an encrypted member, and OSError for a directory pointing before the
# file's start.
_DAMAGE = (ValueError, TypeError, KeyError, IndexError, OverflowError, EOFError, OSError,
           NotImplementedError, RuntimeError, zipfile.BadZipFile, zipfile.LargeZipFile,
           zlib.error)


def load(path) -> Network:
    """Read a network written by :meth:`Network.save`; outputs are bitwise equal.

    Everything is checked before memory is allocated or data decompressed:
    ``format_version`` (this fastnn reads version 1), the entries the layer
    sizes imply, and each array's shape and dtype from its ``.npy`` header.
    A network whose parameters would not fit in the memory available now is
    refused with the size it needs.

    Raises FileNotFoundError for a missing file, and ValueError naming what
    is wrong otherwise (not a fastnn model, damaged, a newer format, too
    big, NaN or inf parameters).
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    archive = open_npz(path, "model file")
    with archive:
        try:
            headers = npz_headers(archive)
            version = read_npz_scalar(archive, headers, "format_version", "iu")
        except _DAMAGE as error:
            raise _not_valid(path, error) from None
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"{path} has format_version {version}; this fastnn reads format_version "
                f"{_FORMAT_VERSION} only (was it written by a newer fastnn?)"
            )
        try:
            dtype = check_dtype(str(read_npz_scalar(archive, headers, "dtype", "U")))
            sizes = _sizes_entry(archive, headers)
            # Files written before the choice existed have neither entry.
            cost = (str(read_npz_scalar(archive, headers, "cost", "U"))
                    if "cost" in headers else "quadratic")
            output = (str(read_npz_scalar(archive, headers, "output", "U"))
                      if "output" in headers else "sigmoid")
            output_rule(cost, output)
        except _DAMAGE as error:
            raise _not_valid(path, error) from None
        n_params = kernels.parameter_count(sizes)
        check_memory(n_params * dtype.itemsize,
                     f"{path} holds a network of sizes {_sizes_text(sizes)} "
                     f"({n_params:,} {dtype.name} parameters) that")
        try:
            expected = {"format_version": (), "sizes": (len(sizes),), "dtype": ()}
            if "cost" in headers or "output" in headers:
                expected.update(cost=(), output=())
            for i, (fan_out, fan_in) in enumerate(zip(sizes[1:], sizes[:-1])):
                expected[f"weights_{i}"] = (fan_out, fan_in)
                expected[f"biases_{i}"] = (fan_out,)
            for key, shape in expected.items():
                if key not in headers:
                    raise ValueError(f"it has no '{key}' entry")
                if key.startswith(("weights_", "biases_")):
                    header = headers[key]
                    if header.shape != shape:
                        raise ValueError(f"'{key}' has shape {header.shape}, expected {shape} "
                                         f"for sizes {_sizes_text(sizes)}")
                    if header.dtype != dtype:
                        raise ValueError(f"'{key}' has dtype {header.dtype}, expected {dtype}")
            extra = sorted(set(headers) - set(expected))
            if extra:
                raise ValueError(
                    "it has entries a fastnn model of sizes "
                    f"{_sizes_text(sizes)} does not have: {', '.join(map(repr, extra[:5]))}"
                )
            net = Network.__new__(Network)
            net.__setstate__({"sizes": sizes, "dtype": dtype.name,
                              "params": np.empty(n_params, dtype), "cost": cost,
                              "output": output})
            for i, (w, b) in enumerate(zip(net.weights, net.biases)):
                read_npz_member(archive, f"weights_{i}", headers[f"weights_{i}"], out=w)
                read_npz_member(archive, f"biases_{i}", headers[f"biases_{i}"], out=b)
        except _DAMAGE as error:
            raise _not_valid(path, error) from None
    if not _all_finite(net.params):
        raise _not_valid(path, "it holds NaN or inf parameters")
    return net


def _not_valid(path, error):
    return ValueError(f"{path} is not a valid fastnn model (corrupt, or not written by "
                      f"Network.save): {error}")


def _sizes_entry(archive, headers):
    header = headers.get("sizes")
    if header is None:
        raise ValueError("it has no 'sizes' entry")
    if len(header.shape) != 1 or header.dtype.kind not in "iu":
        raise ValueError(f"'sizes' is an array of shape {header.shape} and dtype "
                         f"{header.dtype}, not a list of layer widths")
    check_memory(header.nbytes, f"its 'sizes' entry of {header.shape[0]:,} layers")
    return check_sizes(read_npz_member(archive, "sizes", header).tolist())


def _sizes_text(sizes) -> str:
    if len(sizes) > 8:
        return "[" + ", ".join(map(str, sizes[:4])) + f", ... ({len(sizes)} layers)]"
    return str(list(sizes))


def _parameter_views(params, sizes):
    """Weight and bias views into a flat vector laid out as kernels.layer_weights."""
    weights, biases = [], []
    offset = 0
    for fan_out, fan_in in zip(sizes[1:], sizes[:-1]):
        weights.append(params[offset:offset + fan_out * fan_in].reshape(fan_out, fan_in))
        offset += fan_out * fan_in
    for fan_out in sizes[1:]:
        biases.append(params[offset:offset + fan_out])
        offset += fan_out
    return weights, biases
