"""The ``Network`` of the textbook's ``network.py``, trained by fastnn's kernels.

Michael Nielsen's *Neural Networks and Deep Learning* builds a ``Network``
class whose API many learners' scripts use. This module offers the same
names with the same shapes, so that such a script runs unchanged after its
import becomes::

    from fastnn.compat import nielsen as network

Conventions of that API (kept here):

* a sample ``x`` is a column vector of shape (sizes[0], 1); a training target
  ``y`` is a one-hot column vector of shape (sizes[-1], 1); a test label is
  an ``int``;
* ``biases[i]`` has shape (sizes[i+1], 1), ``weights[i]`` (sizes[i+1], sizes[i]);
* ``SGD`` shuffles the training data with Python's ``random.shuffle`` at the
  start of every epoch, cuts it into mini-batches in that order and prints
  ``Epoch j: correct / n`` (with test data) or ``Epoch j complete``;
* initial parameters are drawn with ``numpy.random.randn`` (biases first, then
  weights, N(0, 1)), so ``numpy.random.seed(s)`` gives the book's start.

The parameters live in a :class:`fastnn.Network` (``fastnn_network``):
``weights`` and ``biases`` are views into its parameter vector, so writing
into them, or assigning new lists to them, changes the network that trains.
Each epoch runs in fastnn's compiled kernels, in float64.

A subclass that overrides ``cost_derivative``, ``backprop`` or
``update_mini_batch`` (a common exercise) is honoured: training then goes
through the overridden methods in NumPy, at NumPy speed.
"""
from __future__ import annotations

import random

import numpy as np

from .._validation import check_positive_float, check_positive_int, check_sizes
from ..network import Network as _FastNetwork

__all__ = ["Network", "sigmoid", "sigmoid_prime"]


def sigmoid(z):
    """The logistic function 1 / (1 + e^-z), elementwise, without overflow."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def sigmoid_prime(z):
    """Derivative of :func:`sigmoid`: sigmoid(z) * (1 - sigmoid(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


class _LinkedLayers(list):
    """The per-layer views of one kind of parameter (weights or biases).

    A learner may write ``net.weights[0] = new_matrix``; on a plain list that
    would only rebind the list slot and the fastnn network would never see
    it, so item assignment copies into the view instead. The number of
    layers is fixed, so the list cannot grow or shrink.
    """

    def __init__(self, views, kind):
        super().__init__(views)
        self._kind = kind

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            positions = range(len(self))[index]
            targets = list.__getitem__(self, index)
            values = list(value)
            if len(values) != len(targets):
                raise ValueError(
                    f"cannot assign {len(values)} arrays to {len(targets)} layers of {self._kind}"
                )
            checked = [_checked_like(t, v, f"{self._kind}[{p}]")
                       for p, t, v in zip(positions, targets, values)]
            for target, array in zip(targets, checked):
                target[...] = array
            return
        target = list.__getitem__(self, index)
        target[...] = _checked_like(target, value, f"{self._kind}[{index}]")

    def _fixed(self, *args, **kwargs):
        raise TypeError(f"the network's {self._kind} have one entry per layer; the list cannot change length")

    append = extend = insert = pop = remove = clear = __delitem__ = __iadd__ = _fixed


def _checked_like(target, value, name):
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.shape != target.shape:
        raise ValueError(f"{name} must have shape {target.shape}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf")
    return array


class Network:
    """A sigmoid network with quadratic cost, as in the textbook's ``network.py``.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, input first, e.g. ``[784, 30, 10]``.

    Attributes
    ----------
    num_layers : int
    sizes : list of int
    biases : list of ndarray, ``biases[i]`` of shape (sizes[i+1], 1)
    weights : list of ndarray, ``weights[i]`` of shape (sizes[i+1], sizes[i])
    fastnn_network : fastnn.Network holding the parameters (float64).
    """

    def __init__(self, sizes):
        checked = check_sizes(sizes)
        self.num_layers = len(checked)
        self.sizes = list(checked)
        # Drawn from NumPy's global generator in the book's order, so a
        # script that seeds numpy.random starts from the book's parameters.
        initial_biases = [np.random.randn(fan_out, 1) for fan_out in checked[1:]]
        initial_weights = [
            np.random.randn(fan_out, fan_in) for fan_in, fan_out in zip(checked[:-1], checked[1:])
        ]
        self._attach(_FastNetwork(checked, seed=0, dtype=np.float64))
        self.biases = initial_biases
        self.weights = initial_weights

    def _attach(self, fast_network):
        self.fastnn_network = fast_network
        self._weights = _LinkedLayers(fast_network.weights, "weights")
        self._biases = _LinkedLayers([b.reshape(-1, 1) for b in fast_network.biases], "biases")

    # -- parameters ------------------------------------------------------------
    @property
    def weights(self):
        """``weights[i]``: (sizes[i+1], sizes[i]) views into the fastnn parameters."""
        return self._weights

    @weights.setter
    def weights(self, new_weights):
        self._weights[:] = new_weights

    @property
    def biases(self):
        """``biases[i]``: (sizes[i+1], 1) views into the fastnn parameters."""
        return self._biases

    @biases.setter
    def biases(self, new_biases):
        self._biases[:] = new_biases

    def __getstate__(self):
        # Views do not survive pickling (each would become its own array), so
        # only the flat parameter vector is stored and the views are rebuilt.
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_weights", "_biases", "fastnn_network")}
        state["_params"] = self.fastnn_network.params.copy()
        return state

    def __setstate__(self, state):
        params = state.pop("_params")
        self.__dict__.update(state)
        fast_network = _FastNetwork(self.sizes, seed=0, dtype=np.float64)
        fast_network.params[...] = params
        self._attach(fast_network)

    def __repr__(self):
        return f"nielsen.Network({self.sizes})"

    # -- the forward direction -------------------------------------------------
    def feedforward(self, a):
        """Output activations for input ``a``.

        a : column vector (sizes[0], 1) -> returns (sizes[-1], 1); a matrix
        (sizes[0], m) of m column samples -> (sizes[-1], m); a flat vector
        (sizes[0],) -> (sizes[-1],).
        """
        array = np.asarray(a)
        n_inputs = self.sizes[0]
        if array.ndim == 1:
            return self.fastnn_network.feedforward(array)
        if array.ndim != 2 or array.shape[0] != n_inputs:
            raise ValueError(
                f"feedforward takes a column vector of shape ({n_inputs}, 1) "
                f"(or {n_inputs} rows of column samples), got shape {array.shape}"
            )
        return np.ascontiguousarray(self.fastnn_network.feedforward(array.T).T)

    # -- training --------------------------------------------------------------
    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None):  # noqa: N802
        """Mini-batch stochastic gradient descent, printing progress per epoch.

        training_data : list or iterable (e.g. ``zip``) of ``(x, y)`` with x
            of shape (sizes[0], 1) and y one-hot of shape (sizes[-1], 1)
            (an int label is accepted as well). Like the book's version, a
            list is shuffled in place.
        test_data : optional list or iterable of ``(x, label)`` with an int
            label; if given (and non-empty) each epoch prints
            ``Epoch j: correct / n``, else ``Epoch j complete``.

        Each epoch: ``random.shuffle`` of the samples, then mini-batches of
        ``mini_batch_size`` in that order, each a step
        w <- w - (eta / m) sum_x dC_x/dw in fastnn's kernels.
        """
        epochs = _non_negative_int(epochs, "epochs")
        mini_batch_size = check_positive_int(mini_batch_size, "mini_batch_size")
        eta = check_positive_float(eta, "eta")
        samples = training_data if isinstance(training_data, list) else list(training_data)
        if not samples:
            raise ValueError("training_data is empty")
        inputs, targets = self._stack_training(samples, "training_data")
        if test_data is not None and not isinstance(test_data, list):
            test_data = list(test_data)
        if test_data:
            test_inputs, test_labels = self._stack_test(test_data)

        literal = self._customised("update_mini_batch", "backprop", "cost_derivative")
        # random.shuffle's permutation depends only on the length and the
        # state of `random`, so shuffling indices orders the samples exactly
        # as shuffling the list itself would, epoch after epoch.
        order = list(range(len(samples)))
        for j in range(epochs):
            random.shuffle(order)
            if literal:
                shuffled = [samples[i] for i in order]
                for start in range(0, len(shuffled), mini_batch_size):
                    self.update_mini_batch(shuffled[start:start + mini_batch_size], eta)
            else:
                index = np.asarray(order, dtype=np.int64)
                self.fastnn_network.train(
                    inputs[index], targets[index], epochs=1, batch_size=mini_batch_size,
                    eta=eta, shuffle=False,
                )
            if test_data:
                correct = self._count_correct(test_inputs, test_labels)
                print(f"Epoch {j}: {correct} / {len(test_data)}")
            else:
                print(f"Epoch {j} complete")
        if samples is training_data:
            training_data[:] = [samples[i] for i in order]

    def update_mini_batch(self, mini_batch, eta):
        """One gradient step on ``mini_batch`` (a list of ``(x, y)`` pairs).

        w <- w - (eta / m) sum_x dC_x/dw, likewise for b, with m the batch size.
        """
        eta = check_positive_float(eta, "eta")
        batch = list(mini_batch)
        if not batch:
            raise ValueError("mini_batch is empty")
        if self._customised("backprop", "cost_derivative"):
            sums_b = [np.zeros(b.shape) for b in self.biases]
            sums_w = [np.zeros(w.shape) for w in self.weights]
            for x, y in batch:
                nabla_b, nabla_w = self.backprop(x, y)
                for total, part in zip(sums_b + sums_w, list(nabla_b) + list(nabla_w)):
                    total += part
            step = eta / len(batch)
            self.weights = [w - step * s for w, s in zip(self.weights, sums_w)]
            self.biases = [b - step * s for b, s in zip(self.biases, sums_b)]
            return
        inputs, targets = self._stack_training(batch, "mini_batch")
        self.fastnn_network.train(inputs, targets, epochs=1, batch_size=len(batch), eta=eta,
                                  shuffle=False)

    def backprop(self, x, y):
        """Gradient of C_x = |a - y|^2 / 2 for one sample.

        x : (sizes[0], 1); y : (sizes[-1], 1) one-hot (or an int label).
        Returns ``(nabla_b, nabla_w)``: lists shaped like ``biases`` and
        ``weights`` (note: biases first, as in the book).
        """
        x_column = self._column(x, self.sizes[0], "x")
        if self._customised("cost_derivative"):
            return self._numpy_backprop(x_column, y)
        target = np.asarray(y)
        target = target if target.ndim == 0 else self._column(target, self.sizes[-1], "y").ravel()
        nabla_w, nabla_b = self.fastnn_network.backprop(x_column.ravel(), target)
        return [b.reshape(-1, 1).copy() for b in nabla_b], [w.copy() for w in nabla_w]

    def _numpy_backprop(self, x, y):
        # The same chain rule, in NumPy, so that an overridden
        # cost_derivative takes part; used only by subclasses.
        activations = [x]
        for w, b in zip(self.weights, self.biases):
            activations.append(sigmoid(w @ activations[-1] + b))
        y = self._target_column(y)
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        a_out = activations[-1]
        delta = self.cost_derivative(a_out, y) * a_out * (1.0 - a_out)
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_b[layer] = delta
            nabla_w[layer] = delta @ activations[layer].T
            if layer:
                a = activations[layer]
                delta = (self.weights[layer].T @ delta) * a * (1.0 - a)
        return nabla_b, nabla_w

    def evaluate(self, test_data):
        """Number of ``(x, label)`` pairs whose most active output is ``label``."""
        inputs, labels = self._stack_test(list(test_data))
        return self._count_correct(inputs, labels)

    def cost_derivative(self, output_activations, y):
        """dC_x/da for the quadratic cost: ``output_activations - y``."""
        return output_activations - y

    # -- helpers ---------------------------------------------------------------
    def _customised(self, *names):
        cls = type(self)
        return any(getattr(cls, name) is not getattr(Network, name) for name in names)

    def _count_correct(self, inputs, labels):
        predicted = self.fastnn_network.predict(inputs)
        return int(np.sum(predicted == labels))

    @staticmethod
    def _column(value, length, name):
        array = np.asarray(value, dtype=np.float64)
        if array.size != length or array.ndim > 2 or (array.ndim == 2 and array.shape[1] != 1):
            raise ValueError(
                f"{name} must be a column vector of shape ({length}, 1), got shape {array.shape}"
            )
        return array.reshape(length, 1)

    def _target_column(self, y):
        array = np.asarray(y)
        if array.ndim == 0:
            one_hot = np.zeros((self.sizes[-1], 1))
            one_hot[int(array)] = 1.0
            return one_hot
        return self._column(array, self.sizes[-1], "y")

    def _stack_training(self, pairs, name):
        """(n, sizes[0]) inputs and (n, sizes[-1]) targets (or (n,) labels)."""
        xs, ys = _unzip(pairs, name)
        inputs = _stack_columns(xs, self.sizes[0], f"{name} inputs")
        if all(np.ndim(y) == 0 for y in ys):
            return inputs, np.asarray(ys)
        targets = _stack_columns(ys, self.sizes[-1], f"{name} targets")
        return inputs, targets

    def _stack_test(self, pairs):
        """(n, sizes[0]) inputs and (n,) int labels."""
        xs, labels = _unzip(pairs, "test_data")
        inputs = _stack_columns(xs, self.sizes[0], "test_data inputs")
        for position, label in enumerate(labels):
            if np.ndim(label) != 0:
                raise ValueError(
                    f"test_data labels must be integers (as the book's test data), but "
                    f"sample {position} has a label of shape {np.shape(label)}; for "
                    "one-hot vectors pass int(np.argmax(y))"
                )
        return inputs, np.asarray(labels)


def _non_negative_int(value, name):
    if value == 0 and not isinstance(value, bool):
        return 0
    return check_positive_int(value, name)


def _unzip(pairs, name):
    try:
        xs, ys = zip(*pairs)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must hold (x, y) pairs") from error
    return xs, ys


def _stack_columns(vectors, length, name):
    rows = np.empty((len(vectors), length), dtype=np.float64)
    for position, vector in enumerate(vectors):
        array = np.asarray(vector)
        if array.size != length or array.ndim > 2 or (array.ndim == 2 and array.shape[1] != 1):
            raise ValueError(
                f"{name}: sample {position} has shape {array.shape}, expected a column "
                f"vector of shape ({length}, 1)"
            )
        rows[position] = array.ravel()
    return rows
