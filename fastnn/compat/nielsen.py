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

import random

import numpy as np

from .._interrupt import EpochRunner
from .._threads import default_thread_count
from .._validation import all_finite, check_positive_int, check_sizes
from ..network import Network as _FastNetwork
from ..plan import EpochPlan

__all__ = ["Network", "sigmoid", "sigmoid_prime"]


def sigmoid(z):
    """The logistic function 1 / (1 + e^-z), elementwise, without overflow."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def sigmoid_prime(z):
    """Derivative of :func:`sigmoid`: sigmoid(z) * (1 - sigmoid(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


class _Layers(list):
    """The per-layer arrays of one kind of parameter (weights or biases).

    A plain list of standalone arrays, as in the book, except that an array
    put in it is checked at once (shape, real and finite), and the number
    of layers is fixed. The arrays are not views of the fastnn network:
    they are copied into it before each computation (so assigning,
    rebinding or writing into them in place is seen by the next call), and
    training replaces the whole list by a new one holding new arrays.
    """

    def __init__(self, arrays, kind, shapes):
        self._kind = kind
        self._shapes = shapes
        super().__init__(self._check(position, array) for position, array in enumerate(arrays))
        if len(self) != len(shapes):
            raise ValueError(f"{kind} must hold {len(shapes)} arrays, one per layer, "
                             f"got {len(self)}")

    def _check(self, position, value):
        if not 0 <= position < len(self._shapes):
            raise ValueError(f"{self._kind} must hold {len(self._shapes)} arrays, one per layer")
        return _checked(value, self._shapes[position], f"{self._kind}[{position}]")

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            positions = range(len(self))[index]
            values = list(value)
            if len(values) != len(positions):
                raise ValueError(
                    f"cannot assign {len(values)} arrays to {len(positions)} layers of {self._kind}"
                )
            checked = [self._check(p, v) for p, v in zip(positions, values)]
            list.__setitem__(self, index, checked)
            return
        position = range(len(self))[index]
        list.__setitem__(self, position, self._check(position, value))

    def __reduce__(self):
        return (_Layers, (list(self), self._kind, self._shapes))

    def _fixed(self, *args, **kwargs):
        raise TypeError(f"the network's {self._kind} have one entry per layer; the list cannot change length")

    append = extend = insert = pop = remove = clear = __delitem__ = __iadd__ = _fixed


def _checked(value, shape, name):
    array = value if isinstance(value, np.ndarray) else np.asarray(value, dtype=np.float64)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
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
    fastnn_network : fastnn.Network that computes (float64), holding a copy
        of ``weights`` and ``biases`` made when the attribute is read.
    """

    def __init__(self, sizes):
        checked = check_sizes(sizes)
        self.num_layers = len(checked)
        self.sizes = list(checked)
        self._weight_shapes = [(fan_out, fan_in) for fan_in, fan_out in zip(checked[:-1], checked[1:])]
        self._bias_shapes = [(fan_out, 1) for fan_out in checked[1:]]
        # Drawn from NumPy's global generator in the book's order, so a
        # script that seeds numpy.random starts from the book's parameters.
        initial_biases = [np.random.randn(*shape) for shape in self._bias_shapes]
        initial_weights = [np.random.randn(*shape) for shape in self._weight_shapes]
        self._fast = _FastNetwork(checked, seed=0, dtype=np.float64)
        self._training_cache = self._test_cache = None
        self.biases = initial_biases
        self.weights = initial_weights

    # -- parameters ------------------------------------------------------------
    # The book's semantics: ``weights`` and ``biases`` are lists of
    # standalone arrays that the user may read, keep, rebind or write into,
    # and every training step binds NEW lists of NEW arrays to them (so a
    # reference taken before training keeps its values). fastnn computes on
    # its own flat parameter vector: ``_pull`` copies the lists into it
    # before each computation, ``_push`` binds new lists copied from it
    # after each training step.
    @property
    def weights(self):
        """``weights[i]``: a (sizes[i+1], sizes[i]) array."""
        return self._weights

    @weights.setter
    def weights(self, new_weights):
        self._weights = _Layers(new_weights, "weights", self._weight_shapes)

    @property
    def biases(self):
        """``biases[i]``: a (sizes[i+1], 1) column vector."""
        return self._biases

    @biases.setter
    def biases(self, new_biases):
        self._biases = _Layers(new_biases, "biases", self._bias_shapes)

    @property
    def fastnn_network(self):
        """The fastnn.Network that computes, holding the current weights and biases."""
        self._pull()
        return self._fast

    def _pull(self):
        arrays = list(self._weights) + list(self._biases)
        shapes = self._weight_shapes + self._bias_shapes
        if len(self._weights) != len(self._weight_shapes) or len(arrays) != len(shapes) or any(
                np.shape(a) != s for a, s in zip(arrays, shapes)):
            # A list changed behind _Layers' back (list.__setitem__ etc.).
            self.weights, self.biases = list(self._weights), list(self._biases)
        views = list(self._fast.weights) + [b.reshape(-1, 1) for b in self._fast.biases]
        for view, array in zip(views, arrays):
            view[...] = array

    def _push(self):
        fast = self._fast
        self._weights = _Layers([w.copy() for w in fast.weights], "weights", self._weight_shapes)
        self._biases = _Layers([b.reshape(-1, 1).copy() for b in fast.biases], "biases",
                               self._bias_shapes)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_fast", "_training_cache", "_test_cache")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._fast = _FastNetwork(self.sizes, seed=0, dtype=np.float64)
        self._training_cache = self._test_cache = None
        self._pull()

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
        epochs = _non_negative_int(epochs, "epochs")
        mini_batch_size = check_positive_int(mini_batch_size, "mini_batch_size")
        eta = _check_eta(eta)
        given_list = isinstance(training_data, list)
        samples = training_data if given_list else list(training_data)
        if not samples:
            raise ValueError("training_data is empty")
        literal = self._customised("update_mini_batch", "backprop", "cost_derivative")
        training = None if literal else self._converted(samples, "training_data",
                                                        keep=given_list)
        if test_data is not None and not isinstance(test_data, list):
            test_data = list(test_data)
        test = self._converted(test_data, "test_data", keep=True) if test_data else None
        self._pull()

        # random.shuffle's permutation depends only on the length and the
        # state of `random`, so shuffling positions orders the samples exactly
        # as shuffling the list itself would, epoch after epoch.
        order = list(range(len(samples)))
        runner = plan = None
        try:
            if not literal and epochs:
                plan = EpochPlan(self.sizes, mini_batch_size, np.float64, len(samples),
                                 default_thread_count())
                runner = EpochRunner(plan).__enter__()
            for j in range(epochs):
                random.shuffle(order)
                if literal:
                    shuffled = [samples[i] for i in order]
                    for start in range(0, len(shuffled), mini_batch_size):
                        self.update_mini_batch(shuffled[start:start + mini_batch_size], eta)
                else:
                    self._pull()
                    rows = training.rows[np.asarray(order, dtype=np.int64)]
                    runner.run(self._fast.params, training.inputs, training.targets, rows, eta)
                    self._push()
                    if runner.interrupted:
                        raise KeyboardInterrupt(
                            f"training stopped by Ctrl-C in epoch {j} (the steps of its "
                            "finished mini-batches are kept)")
                if test:
                    correct = self._count_correct(test)
                    print(f"Epoch {j}: {correct} / {len(test_data)}")
                else:
                    print(f"Epoch {j} complete")
        finally:
            if runner is not None:
                runner.__exit__(None, None, None)
            if given_list and epochs:
                training_data[:] = [samples[i] for i in order]
                if training is not None and training is self._training_cache:
                    training.reordered(training_data, order)

    def update_mini_batch(self, mini_batch, eta):
        """One gradient step on ``mini_batch`` (a list of ``(x, y)`` pairs).

        w <- w - (eta / m) sum_x dC_x/dw, likewise for b, with m the batch
        size; binds new lists of new arrays to ``weights`` and ``biases``.
        """
        eta = _check_eta(eta)
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
        converted = _Converted.build(batch, self.sizes, "mini_batch")
        self._pull()
        plan = EpochPlan(self.sizes, len(batch), np.float64, len(batch), 1)
        plan.run(self._fast.params, converted.inputs, converted.targets, converted.rows, eta)
        self._push()

    def _converted(self, pairs, name, keep):
        """``pairs`` as a :class:`_Converted`, reused from the last call when
        it is the same list holding the same (x, y) tuple objects (see
        ``_Converted.matches``); kept for the next call if ``keep``."""
        slot = "_training_cache" if name == "training_data" else "_test_cache"
        cached = getattr(self, slot)
        if cached is not None and cached.matches(pairs):
            return cached
        setattr(self, slot, None)  # let the old arrays go before the new ones are built
        converted = _Converted.build(pairs, self.sizes, name)
        if keep:
            setattr(self, slot, converted)
        return converted

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
        return self._count_correct(_Converted.build(list(test_data), self.sizes, "test_data"))

    def cost_derivative(self, output_activations, y):
        """dC_x/da for the quadratic cost: ``output_activations - y``."""
        return output_activations - y

    # -- helpers ---------------------------------------------------------------
    def _customised(self, *names):
        cls = type(self)
        return any(getattr(cls, name) is not getattr(Network, name) for name in names)

    def _count_correct(self, test):
        predicted = self._fast.predict(test.inputs)
        return int(np.sum(predicted == test.labels))

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



class _Converted:
    """A list of ``(x, y)`` column-vector pairs as the arrays the kernels take.

    inputs : (n, sizes[0]) float64, C-contiguous; targets : (n, sizes[-1])
    float64 (training data) or None; labels : (n,) int64 (test data) or
    None; rows : (n,) int64, the row of ``inputs`` (and ``targets``,
    ``labels``) holding the sample at each position of the list.

    No copy is made of the inputs when every x is a (sizes[0], 1) (or flat)
    view of a row of one writeable, C-contiguous float64 (n, sizes[0])
    array, each row once (what a loader that reshapes the rows of a data
    matrix gives): ``inputs`` is then that array. Otherwise the xs are
    copied into one new array, once.

    The cache (``matches``) recognises the same list object holding the
    same tuple objects at the same positions (compared by identity, a few
    milliseconds for 50,000 samples); SGD's own in-place shuffle is
    followed (``reordered``). A new list, a different length, or any
    element replaced (``data[i] = (x, y)``) invalidates it. Writing into
    the arrays in place is not detected: after ``x[...] = ...`` on a sample
    already trained on, pass a new list (e.g. ``list(data)``) to convert
    again.
    """

    def __init__(self, pairs, inputs, targets, labels, rows):
        self.list_id = id(pairs)
        self.element_ids = _element_ids(pairs)
        self.inputs, self.targets, self.labels, self.rows = inputs, targets, labels, rows

    def matches(self, pairs):
        return (id(pairs) == self.list_id and len(pairs) == self.element_ids.size
                and np.array_equal(_element_ids(pairs), self.element_ids))

    def reordered(self, pairs, order):
        """The list was permuted in place: ``pairs[i]`` is now the old ``pairs[order[i]]``."""
        order = np.asarray(order, dtype=np.int64)
        self.rows = self.rows[order]
        self.element_ids = self.element_ids[order]

    @classmethod
    def build(cls, pairs, sizes, name):
        xs, ys = _unzip(pairs, name)
        n_in, n_out = sizes[0], sizes[-1]
        base_rows = _row_views(xs, n_in)
        if base_rows is None:
            inputs = _stack_columns(xs, n_in, f"{name} inputs")
            rows = np.arange(len(xs), dtype=np.int64)
        else:
            inputs, rows = base_rows
        position_of_row = np.empty_like(rows)
        position_of_row[rows] = np.arange(rows.size, dtype=np.int64)
        ys = [ys[p] for p in position_of_row]  # in the order of inputs' rows
        targets = labels = None
        if name == "test_data":
            for row, label in enumerate(ys):
                if np.ndim(label) != 0:
                    raise ValueError(
                        f"test_data labels must be integers (as the book's test data), but "
                        f"sample {position_of_row[row]} has a label of shape {np.shape(label)}; "
                        "for one-hot vectors pass int(np.argmax(y))"
                    )
            labels = np.asarray(ys, dtype=np.int64)
        elif all(np.ndim(y) == 0 for y in ys):
            labels = np.asarray(ys)
            if labels.dtype.kind not in "iu" or labels.size and (
                    labels.min() < 0 or labels.max() >= n_out):
                raise ValueError(f"{name} labels must be integers in [0, {n_out})")
            targets = np.zeros((labels.size, n_out))
            targets[np.arange(labels.size), labels] = 1.0
        else:
            targets = _stack_columns(ys, n_out, f"{name} targets")
            if not np.isfinite(targets).all():
                raise ValueError(f"{name} targets contain NaN or inf")
        if not all_finite(inputs):
            raise ValueError(f"{name} inputs contain NaN or inf")
        return cls(pairs, inputs, targets, labels, rows)


def _element_ids(pairs):
    return np.fromiter(map(id, pairs), dtype=np.int64, count=len(pairs))


def _row_views(xs, length):
    """``(base, rows)`` if every x views row rows[i] of one float64 (n, length)
    array ``base``, each row once; else None."""
    first = xs[0]
    base = first.base if isinstance(first, np.ndarray) else None
    n = len(xs)
    if (not isinstance(base, np.ndarray) or base.dtype != np.float64 or base.shape != (n, length)
            or not base.flags.c_contiguous or not base.flags.writeable):
        return None
    start = base.__array_interface__["data"][0]
    row_bytes = length * base.itemsize
    rows = np.empty(n, dtype=np.int64)
    for position, x in enumerate(xs):
        if (type(x) is not np.ndarray or x.base is not base or x.size != length
                or not x.flags.c_contiguous or x.ndim > 2
                or (x.ndim == 2 and x.shape[1] != 1)):
            return None
        row, remainder = divmod(x.__array_interface__["data"][0] - start, row_bytes)
        if remainder or not 0 <= row < n:
            return None
        rows[position] = row
    if np.bincount(rows, minlength=n).max() != 1:
        return None
    return base, rows


def _check_eta(eta):
    """Any finite real number, as in the book (0: no step; negative: ascent)."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float, np.integer, np.floating)):
        raise TypeError(f"eta must be a real number, got {type(eta).__name__}")
    eta = float(eta)
    if not np.isfinite(eta):
        raise ValueError(f"eta must be finite, got {eta}")
    return eta


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
