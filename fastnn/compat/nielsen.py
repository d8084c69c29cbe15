"""The ``Network`` of the textbook's ``network.py``, trained by fastnn's kernels.

(The improved network of its chapter 3, ``network2.py``, is
``fastnn.compat.network2``; its names are importable from here as well:
``Network2``, ``CrossEntropyCost``, ``QuadraticCost``, ``load``,
``vectorized_result``.)

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

``weights`` and ``biases`` behave as the book's: lists of standalone arrays
that a script may keep, rebind (``net.weights = [...]``, ``net.weights[i] =
w``) or write into in place; whatever they hold when ``SGD``,
``update_mini_batch``, ``backprop``, ``feedforward`` or ``evaluate`` is
called is what computes. They are copied into a :class:`fastnn.Network`
(``fastnn_network``, float64), and training binds NEW lists of NEW arrays
(after each epoch of ``SGD`` and each ``update_mini_batch``), so a reference
taken before training keeps its values, as in the book.

``eta`` may be any finite number, as in the book: 0 takes no step, a
negative eta climbs the cost (NaN and inf are refused).

Speed and memory: ``SGD`` converts the training list to one (n, sizes[0])
float64 array once, then every epoch runs in fastnn's compiled epoch over
that array in ``random.shuffle``'s order (no per-epoch copy). When each x is
a row view of one float64 (n, sizes[0]) matrix (a loader that reshapes the
rows of its data matrix), that matrix is used as is, without a copy. The
converted arrays (training and test) are kept on the network for the next
``SGD`` call on the same list object holding the same ``(x, y)`` tuples (SGD's
own in-place shuffle is followed); a new list, another length or a replaced
element converts again. Writing into the arrays in place after a call is
not detected: pass a new list then (``list(data)``). Measured by
``scripts/bench_compat.py``.

A subclass that overrides ``cost_derivative``, ``backprop`` or
``update_mini_batch`` (a common exercise) is honoured: training then goes
through the overridden methods in NumPy, at NumPy speed.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_positive_int
from ..plan import EpochPlan
from ._book import (BookEpochs, BookNetwork, check_eta, Converted, non_negative_int,
                    run_book_epochs, sigmoid, sigmoid_prime)
# Pickles made before the shared machinery moved to _book name these here.
from ._book import Layers as _Layers, checked_array as _checked  # noqa: F401
# The book's network2.py, for `from fastnn.compat.nielsen import Network2, ...`.
from .network2 import CrossEntropyCost, Network2, QuadraticCost, load, vectorized_result

__all__ = ["Network", "sigmoid", "sigmoid_prime",
           "Network2", "CrossEntropyCost", "QuadraticCost", "load", "vectorized_result"]


class Network(BookNetwork):
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
    fastnn_network : fastnn.Network that computes (float64), holding a copy
        of ``weights`` and ``biases`` made when the attribute is read.
    """

    def __init__(self, sizes):
        super().__init__(sizes)
        # Drawn from NumPy's global generator in the book's order, so a
        # script that seeds numpy.random starts from the book's parameters.
        initial_biases = [np.random.randn(*shape) for shape in self._bias_shapes]
        initial_weights = [np.random.randn(*shape) for shape in self._weight_shapes]
        self._fast = self._new_fast()
        self.biases = initial_biases
        self.weights = initial_weights

    def __repr__(self):
        return f"nielsen.Network({self.sizes})"

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
        eta : any finite real number, as in the book: 0 takes no step, a
            negative eta climbs the cost.

        Each epoch: ``random.shuffle`` of the samples, then mini-batches of
        ``mini_batch_size`` in that order, each a step
        w <- w - (eta / m) sum_x dC_x/dw in fastnn's kernels. The samples
        are converted to one (n, sizes[0]) float64 array once (and kept for
        the next call with the same list: see ``_converted``); each epoch
        then runs in compiled code over that array in the shuffled order,
        without copying it.
        """
        epochs = non_negative_int(epochs, "epochs")
        mini_batch_size = check_positive_int(mini_batch_size, "mini_batch_size")
        eta = check_eta(eta)
        given_list = isinstance(training_data, list)
        samples = training_data if given_list else list(training_data)
        if not samples:
            raise ValueError("training_data is empty")
        literal = self._customised("update_mini_batch", "backprop", "cost_derivative")
        training = None if literal else self._converted(samples, "training_data",
                                                        keep=given_list, as_labels=False)
        if test_data is not None and not isinstance(test_data, list):
            test_data = list(test_data)
        test = self._converted(test_data, "test_data", keep=True, as_labels=True) if test_data else None
        self._pull()

        # random.shuffle's permutation depends only on the length and the
        # state of `random`, so shuffling positions orders the samples exactly
        # as shuffling the list itself would, epoch after epoch.
        order = list(range(len(samples)))

        def step(positions):
            self.update_mini_batch([samples[i] for i in positions], eta)

        def after_epoch(j):
            if test:
                correct = self._count_correct(test)
                print(f"Epoch {j}: {correct} / {len(test_data)}")
            else:
                print(f"Epoch {j} complete")
            return False

        try:
            if epochs:
                run_book_epochs(self, BookEpochs(self, order, mini_batch_size, eta, training,
                                                 step), epochs, after_epoch)
        finally:
            if given_list and epochs:
                training_data[:] = [samples[i] for i in order]
                if training is not None and training is self._training_cache:
                    training.reordered(training_data, order)

    def update_mini_batch(self, mini_batch, eta):
        """One gradient step on ``mini_batch`` (a list of ``(x, y)`` pairs).

        w <- w - (eta / m) sum_x dC_x/dw, likewise for b, with m the batch
        size; binds new lists of new arrays to ``weights`` and ``biases``.
        """
        eta = check_eta(eta)
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
        converted = Converted.build(batch, self.sizes, "mini_batch", as_labels=False)
        self._pull()
        plan = EpochPlan(self.sizes, len(batch), np.float64, len(batch), 1)
        plan.run(self._fast.params, converted.inputs, converted.targets, converted.rows, eta)
        self._push()

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
        self._pull()
        return self._count_correct(Converted.build(list(test_data), self.sizes, "test_data",
                                                   as_labels=True))

    def cost_derivative(self, output_activations, y):
        """dC_x/da for the quadratic cost: ``output_activations - y``."""
        return output_activations - y

    # -- helpers ---------------------------------------------------------------
    def _customised(self, *names):
        cls = type(self)
        return any(getattr(cls, name) is not getattr(Network, name) for name in names)
