"""The Network wrapper: owns the parameters, validates, allocates, calls kernels."""
from __future__ import annotations

import threading

import numpy as np

from . import kernels
from ._threads import borrow_threads, default_thread_count, parallel_region
from ._validation import (
    all_finite_array,
    check_distributions,
    check_dtype,
    check_inputs,
    check_labels,
    check_memory,
    check_pair,
    check_positive_int,
    check_sample_weight,
    check_sizes,
    check_thread_count,
    sizes_text,
)
from .activations import DEFAULT_ACTIVATION, Neurons, initialize
from .kernels.activation import DEFAULT_LEAKY_SLOPE
from .kernels.objective import LOG_FLOOR, plain_objective
from .model_file import write_model
from .run_state import TrainingHistory
from . import training

__all__ = ["Network", "TrainingHistory"]

# feedforward/cost/evaluate walk large inputs in chunks of this many samples,
# so their work buffers stay small whatever the data set's size.
_CHUNK = 1024
# feedforward splits layers between threads from this many multiply-adds
# per call (about 20-40 ms in one thread): below it, the threaded kernel's
# compile time (seconds, once) would outweigh what it saves.
_THREADED_FORWARD_WORK = 200_000_000


class Network:
    """A multilayer perceptron, trained by gradient descent: by default the
    design document's, of sigmoid neurons.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first: ``[L_0, L_1, ..., L_l]``.
    activation : str or sequence of str, default "logistic"
        The hidden layers' activation: "logistic" (the document's sigmoid),
        "tanh", "relu", "leaky_relu" or "identity" (scikit-learn's names,
        and leaky ReLU); one for every hidden layer, or a list of one per
        hidden layer. docs/theory.md §11.
    output : "sigmoid", "identity" or "softmax"
        The output layer's activation: a_j = f(z_j); a_j = z_j (for
        regression; quadratic cost only); or the softmax a_j = exp(z_j) /
        sum_k exp(z_k) (cross-entropy only; its targets are distributions:
        class labels, or rows >= 0 summing to 1).
    cost : "quadratic" or "cross_entropy"
        C = 1/2 sum_j (y_j - a_j)^2 (the design document's), or the
        cross-entropy: -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] for a
        sigmoid output (Nielsen's network2), the log-likelihood
        -sum_j y_j ln a_j for a softmax output. docs/theory.md §3, §10, §11.
    dropout : float or sequence of float, default 0
        Inverted dropout's rate p (0 <= p <= 0.99) of every hidden layer, or
        one per hidden layer: in training each unit is dropped with
        probability p for each sample, and the kept ones scaled by
        1 / (1 - p); ``feedforward``, ``predict``, ``cost`` and ``gradient``
        use the whole network. docs/theory.md §12.
    leaky_slope : float or sequence of float, default 0.01
        Leaky ReLU's slope for z < 0 (>= 0), of every hidden layer or one
        per hidden layer.
    init : "document", "glorot", "he" or "sklearn", default "document"
        The initial weights (docs/theory.md §11): the document's
        N(0, 1/L_in) weights and N(0, 1) biases whatever the activation;
        Glorot's uniform; He's normal (for ReLU); scikit-learn's (Glorot's
        uniform, factor 2 for logistic, biases drawn too, from
        ``RandomState(seed)`` as scikit-learn draws them).
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

    neurons : fastnn.activations.Neurons
        The activations, output, cost and dropout, one entry per layer.

    Initialisation (the default, "document"): w_jk ~ N(0, 1) /
    sqrt(L_{i-1}) (so z starts with unit variance for inputs of unit
    scale), b_j ~ N(0, 1).

    Threads: one ``train`` at a time per network; a second call from
    another thread while one runs raises RuntimeError. ``feedforward``,
    ``predict``, ``evaluate`` and ``cost`` may run in other threads during
    training (they see the parameters as the running epoch leaves them).
    Different networks train in different threads at once.
    """

    def __init__(self, sizes, *, cost="quadratic", output="sigmoid", seed=None,
                 dtype=np.float64, activation=DEFAULT_ACTIVATION, dropout=0.0,
                 leaky_slope=DEFAULT_LEAKY_SLOPE, init="document"):
        self.training_lock = threading.Lock()
        self.sizes = check_sizes(sizes)
        self.dtype = check_dtype(dtype)
        self._set_neurons(Neurons.of(self.sizes, activation=activation, output=output,
                                     cost=cost, dropout=dropout, leaky_slope=leaky_slope))
        self._sizes_array = np.asarray(self.sizes, dtype=np.int64)
        n_params = kernels.parameter_count(self.sizes)
        check_memory(n_params * self.dtype.itemsize,
                     f"a network of sizes {sizes_text(self.sizes)} ({n_params:,} parameters)")
        self.params = np.empty(n_params, dtype=self.dtype)
        self.weights, self.biases = _parameter_views(self.params, self.sizes)
        initialize(self.weights, self.biases, init, seed, self.neurons.activation,
                   activation if isinstance(activation, str) else None)

    # -- basic facts -------------------------------------------------------
    @property
    def n_params(self) -> int:
        return self.params.size

    def _set_neurons(self, neurons):
        self.neurons = neurons
        self._rule = neurons.rule
        self.cost_name = neurons.cost
        self.output = neurons.output
        self._hidden = neurons.hidden_activations()

    @property
    def activation(self):
        """The hidden layers' activation: one name, or a tuple of one per
        hidden layer where they differ."""
        names = self.neurons.activation
        return names[0] if len(set(names)) == 1 else names

    @property
    def dropout(self):
        """The hidden layers' dropout rate (a tuple where they differ)."""
        rates = self.neurons.dropout
        return (rates[0] if len(set(rates)) == 1 else rates) if rates else 0.0

    def __repr__(self) -> str:
        shown = self.neurons.arguments()
        objective = ""
        if "cost" in shown or "output" in shown:
            objective = f", cost={self.cost_name!r}, output={self.output!r}"
        layers = "".join(f", {key}={shown[key]!r}" for key in ("activation", "leaky_slope",
                                                               "dropout") if key in shown)
        return f"Network(sizes={list(self.sizes)}{layers}{objective}, dtype={self.dtype.name})"

    def copy(self) -> "Network":
        """An independent network with the same parameters."""
        return Network.from_params(self.sizes, self.params.copy(), neurons=self.neurons)

    @classmethod
    def from_params(cls, sizes, params, *, cost="quadratic", output="sigmoid",
                    neurons=None) -> "Network":
        """A network of ``sizes`` holding ``params`` (shape (n_params,), in
        the order of ``params``; its dtype, float32 or float64, is the
        network's), without drawing initial parameters. ``params`` is used
        as it is when C-contiguous (the network's ``params`` is that
        array), else copied. neurons: a ``fastnn.activations.Neurons`` (its
        cost and output then replace ``cost`` and ``output``), or None:
        logistic hidden layers without dropout."""
        network = cls.__new__(cls)
        state = {"sizes": sizes, "dtype": np.asarray(params).dtype.name, "params": params,
                 "cost": cost, "output": output}
        if neurons is not None:
            state.update(_neurons_state(neurons))
        network.__setstate__(state)
        return network

    # Pickle the flat vector only: pickled views would come back as copies,
    # cut off from params.
    def __getstate__(self):
        state = {"sizes": self.sizes, "dtype": self.dtype.name, "params": self.params.copy()}
        state.update(_neurons_state(self.neurons))
        return state

    def __setstate__(self, state):
        self.training_lock = threading.Lock()
        self.sizes = check_sizes(state["sizes"])
        self.dtype = check_dtype(state["dtype"])
        # (pickles from before the cost and output choice are quadratic/sigmoid;
        # those from before the activations have logistic hidden layers)
        self._set_neurons(Neurons.of(
            self.sizes, cost=state.get("cost", "quadratic"), output=state.get("output", "sigmoid"),
            activation=state.get("activation", DEFAULT_ACTIVATION),
            dropout=state.get("dropout", 0.0),
            leaky_slope=state.get("leaky_slope", DEFAULT_LEAKY_SLOPE)))
        self._sizes_array = np.asarray(self.sizes, dtype=np.int64)
        self.params = np.ascontiguousarray(state["params"], dtype=self.dtype)
        self.weights, self.biases = _parameter_views(self.params, self.sizes)

    def _objective(self):
        """The kernels' Objective of the full network (no decay, weights or
        dropout): feedforward's and gradient's."""
        return plain_objective(self.dtype, self._rule, self._hidden)

    def check_pair(self, x, y, x_name="X", y_name="Y"):
        """Inputs and targets for this network (``_validation.check_pair``),
        a softmax output's targets checked to be distributions."""
        inputs, targets = check_pair(x, y, self.sizes, self.dtype, x_name, y_name)
        if self.output == "softmax":
            check_distributions(targets, y_name)
        return inputs, targets

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
        outputs = self.forward(inputs)
        return outputs[0] if single else outputs

    def _check_finite_parameters(self):
        """ValueError if a parameter is NaN or inf: such a network's outputs
        are meaningless (a NaN network "predicted" class 0 for everything)."""
        if not all_finite_array(self.params):
            raise ValueError(
                "this network's parameters are not all finite (NaN or inf), so its "
                "outputs would be meaningless: training diverged (retrain with a "
                "smaller eta) or they were set so"
            )

    def forward(self, inputs, *, warm_up=False):
        """Outputs (n, L_l) for inputs already checked: a C-contiguous
        (n, L_0) array of the network's dtype, finite (as ``feedforward``
        makes them; nothing is checked here). In chunks of _CHUNK samples.

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
        objective = self._objective()
        with borrow_threads(default_thread_count() if threaded else 1) as threads, \
                parallel_region(threads) as may_use_threads:
            forward = kernels.forward_pass_threaded if may_use_threads else kernels.forward_pass
            for start in range(0, n_samples, capacity):
                m = min(capacity, n_samples - start)
                activations[: m * self.sizes[0]] = inputs[start:start + m].ravel()
                forward(self.params, self._sizes_array, activations, m, capacity, objective)
                outputs[start:start + m] = activations[
                    offset_out:offset_out + m * self.sizes[-1]
                ].reshape(m, self.sizes[-1])
        return outputs

    def cost(self, X, Y):
        """The network's cost C averaged over the samples: the document's
        1/2 sum_j (y_j - a_j)^2, the cross-entropy -sum_j [y_j ln a_j +
        (1 - y_j) ln(1 - a_j)], or a softmax output's log-likelihood
        -sum_j y_j ln a_j (each ln taken of at least 1e-37, as in training:
        ``fastnn.kernels.objective.LOG_FLOOR``). No L2 term; the whole
        network (no dropout).

        Y : targets of shape (n, sizes[-1]) or integer labels of shape (n,).
        """
        inputs, targets = self.check_pair(X, Y)
        self._check_finite_parameters()
        outputs = self.forward(inputs).astype(np.float64)
        targets = targets.astype(np.float64)
        if self.output == "softmax":
            with np.errstate(invalid="ignore"):
                terms = np.where(targets != 0,
                                 targets * np.log(np.maximum(outputs, LOG_FLOOR)), 0.0)
            return float(-np.mean(np.sum(terms, axis=1)))
        if self.cost_name == "poisson":  # the half Poisson deviance (docs/theory.md §15)
            with np.errstate(invalid="ignore", divide="ignore"):
                terms = np.where(targets != 0, targets * (np.log(np.where(
                    targets != 0, targets, 1.0)) - np.log(np.maximum(outputs, LOG_FLOOR))),
                    0.0) - targets + outputs
            return float(np.mean(np.sum(terms, axis=1)))
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
        predicted = np.argmax(self.forward(inputs), axis=1)
        return float(np.mean(predicted == labels))

    # -- gradients -------------------------------------------------------------
    def gradient(self, x, y):
        """The document's flat gradient vector of C (shape (n_params,)).

        For one sample (x of shape (sizes[0],), y of shape (sizes[-1],) or an
        integer label): dC/dparams in the order of ``params``. For a batch
        (x of shape (m, sizes[0]), y of shape (m, sizes[-1]) or (m,) labels):
        the mean over the batch of the per-sample gradients.
        """
        inputs, targets = self.check_pair(x, y, "x", "y")
        return self._gradient_checked(inputs, targets)

    def _gradient_checked(self, inputs, targets):
        m = inputs.shape[0]
        activations = np.empty(kernels.workspace_size(self.sizes, m), self.dtype)
        deltas = np.empty_like(activations)
        grad = np.empty_like(self.params)
        activations[: inputs.size] = inputs.ravel()
        objective = self._objective()
        kernels.forward_pass(self.params, self._sizes_array, activations, m, m, objective)
        kernels.backward_pass(self.params, grad, self._sizes_array, activations, deltas,
                              targets, m, m, 0.0, objective, np.arange(m, dtype=np.int64))
        return grad

    def backprop(self, x, y):
        """(nabla_w, nabla_b) for one sample: lists shaped like weights, biases."""
        inputs, targets = self.check_pair(x, y, "x", "y")
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
              checkpoint=None, checkpoint_every=1, on_divergence="raise", progress=None,
              optimizer="sgd"):
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
        optimizer : the step (docs/theory.md §13): "sgd" (the plain step
            above, the default), "momentum", "nesterov", "adam", a
            ``fastnn.SGD(momentum=..., nesterov=..., schedule=...)`` or
            ``fastnn.Adam(...)``, or the ``history.optimizer`` of an
            earlier run to continue with its state (velocities, moments,
            step count, learning rate). eta is the (initial) learning rate.
            With an optimizer that keeps state, L2 enters its gradient
            (g + (lmbda / n) w, as scikit-learn adds it) and batch 1 steps
            on the mini-batch path.

        Returns a :class:`TrainingHistory`, also kept as ``self.history``;
        ``history.optimizer`` is the optimizer's state at the end (None for
        plain SGD).
        Nothing is printed. All input is checked before the first step: a
        rejected call leaves the network as it was. Raises RuntimeError if
        this network is already training in another thread.

        Ctrl-C stops the running epoch at its next batch (per-sample SGD: at
        its next block of eight samples), with every step before it taken,
        and raises KeyboardInterrupt carrying ``history`` (docs/reliability.md).
        """
        inputs, targets = self.check_pair(X, Y)
        weights = check_sample_weight(sample_weight, inputs.shape[0], self.dtype)
        return self._train_checked(
            inputs, targets, weights, epochs=epochs, batch_size=batch_size, eta=eta,
            lmbda=lmbda, shuffle=shuffle, seed=seed, checkpoint_every=checkpoint_every,
            optimizer=optimizer, n_threads=n_threads, test_data=test_data, callback=callback,
            progress=progress, checkpoint=checkpoint, on_divergence=on_divergence)

    def _train_checked(self, inputs, targets, weights, *, epochs, batch_size, eta, lmbda,
                       shuffle, seed, optimizer, n_threads, checkpoint_every=1, warm=False,
                       **run_options):
        """``train`` on data already checked for this network: inputs and
        targets as ``check_pair`` returns them, weights as
        ``check_sample_weight`` does. For callers that train on one data set
        epoch by epoch (the estimators): they check it once per fit, not
        once per epoch (a pass over X each time, ~5% of an MNIST epoch at
        scikit-learn's defaults), and pass ``warm=True`` after the first
        epoch, whose kernels are then compiled (no warm-up batch)."""
        state = training.new_state(epochs=epochs, batch_size=batch_size, eta=eta, lmbda=lmbda,
                                   shuffle=shuffle, seed=seed,
                                   checkpoint_every=checkpoint_every)
        training.set_optimizer(state, optimizer, self.n_params, self.dtype)
        source = training.InMemory(self, inputs, targets, state, check_thread_count(n_threads),
                                   weights, warm=warm)
        return training.run(self, source, state, **run_options)

    def train_streaming(self, X, Y, **options):
        """``fastnn.streaming.train(self, X, Y, **options)``: ``train`` for
        data larger than memory (memmaps, a chunked store, dask arrays),
        streamed chunk by chunk (docs/streaming.md)."""
        from . import streaming

        return streaming.train(self, X, Y, **options)

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
        inputs, targets = self.check_pair(X, Y)
        test_inputs = None
        if test_data is not None:
            test_inputs, _ = check_inputs(test_data[0], self.sizes[0], self.dtype, "test X")
        plan = training.plan_for(self, batch_size, inputs.shape[0], n_threads)
        return training.warm_up(self, plan, inputs, targets, test_inputs)

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
        return write_model(path, self)


def _neurons_state(neurons):
    """A Neurons as the entries of Network's state (pickles, from_params):
    cost and output, and the hidden layers' entries only where they are
    not the document's (so that a default network pickles as before)."""
    state = {"cost": neurons.cost, "output": neurons.output}
    if any(name != DEFAULT_ACTIVATION for name in neurons.activation):
        state["activation"] = list(neurons.activation)
        state["leaky_slope"] = list(neurons.leaky_slope)
    if neurons.has_dropout:
        state["dropout"] = list(neurons.dropout)
    return state


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
