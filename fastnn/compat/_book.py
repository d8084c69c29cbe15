"""What the textbook's network classes share in fastnn.compat.

Michael Nielsen's ``network.py`` and ``network2.py`` both keep their
parameters as lists of standalone column-vector arrays and train on lists
of ``(x, y)`` column-vector pairs. :class:`BookNetwork` gives both compat
classes (``nielsen.Network``, ``network2.Network``) those lists, copied into
a :class:`fastnn.Network` that computes (``_pull``) and bound anew from it
after each training step (``_push``), as the book rebinds them;
:class:`Converted` turns the book's lists into the arrays the kernels take,
once; :class:`BookEpochs` gives fastnn's training loop the epochs of one
``SGD`` call, in ``random.shuffle``'s order.
"""
from __future__ import annotations

import random

import numpy as np

from .. import training
from .._interrupt import EpochRunner
from .._threads import default_thread_count
from .._validation import all_finite, check_positive_int, check_sizes
from ..network import Network as _FastNetwork
from ..plan import EpochPlan
from ..run_state import TrainingState


def sigmoid(z):
    """The logistic function 1 / (1 + e^-z), elementwise, without overflow."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def sigmoid_prime(z):
    """Derivative of :func:`sigmoid`: sigmoid(z) * (1 - sigmoid(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


class BookNetwork:
    """The parameters of a book network and the fastnn network computing them.

    Subclasses draw the initial parameters (in their book's order) and
    assign ``weights`` and ``biases``; ``_new_fast`` makes the float64
    :class:`fastnn.Network` that computes (overridden to choose its cost).
    """

    def __init__(self, sizes):
        checked = check_sizes(sizes)
        self.num_layers = len(checked)
        self.sizes = list(checked)
        self._weight_shapes = [(fan_out, fan_in) for fan_in, fan_out in zip(checked[:-1], checked[1:])]
        self._bias_shapes = [(fan_out, 1) for fan_out in checked[1:]]
        self._training_cache = self._test_cache = None

    def _new_fast(self):
        return _FastNetwork(self.sizes, seed=0, dtype=np.float64)

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
        self._weights = Layers(new_weights, "weights", self._weight_shapes)

    @property
    def biases(self):
        """``biases[i]``: a (sizes[i+1], 1) column vector."""
        return self._biases

    @biases.setter
    def biases(self, new_biases):
        self._biases = Layers(new_biases, "biases", self._bias_shapes)

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
            # A list changed behind Layers' back (list.__setitem__ etc.).
            self.weights, self.biases = list(self._weights), list(self._biases)
        views = list(self._fast.weights) + [b.reshape(-1, 1) for b in self._fast.biases]
        for view, array in zip(views, arrays):
            view[...] = array

    def _push(self):
        fast = self._fast
        self._weights = Layers([w.copy() for w in fast.weights], "weights", self._weight_shapes)
        self._biases = Layers([b.reshape(-1, 1).copy() for b in fast.biases], "biases",
                               self._bias_shapes)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_fast", "_training_cache", "_test_cache")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._fast = self._new_fast()
        self._training_cache = self._test_cache = None
        self._pull()

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

    # -- the book's lists as arrays --------------------------------------------
    def _converted(self, pairs, name, keep, as_labels):
        """``pairs`` as a :class:`Converted` (integer labels or targets),
        reused from the last call when it is the same list holding the same
        (x, y) tuple objects (see ``Converted.matches``); kept for the next
        call if ``keep``."""
        slot = "_test_cache" if as_labels else "_training_cache"
        cached = getattr(self, slot)
        if cached is not None and cached.matches(pairs):
            return cached
        setattr(self, slot, None)  # let the old arrays go before the new ones are built
        converted = Converted.build(pairs, self.sizes, name, as_labels=as_labels)
        if keep:
            setattr(self, slot, converted)
        return converted

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


class BookEpochs(training.EpochSource):
    """The epochs of one ``SGD`` call for fastnn's training loop.

    Each epoch shuffles the list positions ``order`` in place with
    ``random.shuffle`` (so ``random.seed`` reproduces a run, as in the
    book), then either runs fastnn's compiled epoch over the converted
    training data (``training``, a :class:`Converted`) in that order,
    binding new ``weights`` and ``biases`` after it, or, for a subclass
    whose step is its own (``training=None``), calls ``step(positions)``
    for each mini-batch of positions, stopping at a batch boundary on
    Ctrl-C. run_options go to the kernels (``EpochPlan.run``),
    plan_options to :class:`EpochPlan`.
    """

    def __init__(self, network, order, batch_size, eta, training=None, step=None,
                 plan_options=None, **run_options):
        self.network, self.order, self.batch_size, self.eta = network, order, batch_size, eta
        self.training, self.step = training, step
        self.plan_options, self.run_options = plan_options or {}, run_options
        self.n_samples = len(order)
        self.plan = None
        self.driver = "the book's update_mini_batch" if training is None else ""

    def prepare(self):
        if self.training is not None:
            self.plan = EpochPlan(self.network.sizes, self.batch_size, np.float64,
                                  self.n_samples, default_thread_count(), **self.plan_options)
            self.runner = EpochRunner(self.plan, None, self.ctrl_c).__enter__()
            self.driver = self.plan.driver

    def run_epoch(self, epoch, first):
        random.shuffle(self.order)
        if self.training is None:
            for start in range(0, self.n_samples, self.batch_size):
                if self.ctrl_c.interrupted:
                    return float("nan"), start
                self.step(self.order[start:start + self.batch_size])
            return float("nan"), self.n_samples
        network, training = self.network, self.training
        network._pull()
        rows = training.rows[np.asarray(self.order, dtype=np.int64)]
        cost = self.runner.run(network._fast.params, training.inputs, training.targets, rows,
                               self.eta, **self.run_options)
        network._push()
        self.driver = self.plan.last_run
        return float(cost), self.plan.samples_done(self.n_samples)

    def close(self):
        if self.plan is not None:
            self.runner.__exit__(None, None, None)


def run_book_epochs(network, source, epochs, after_epoch):
    """The epochs of ``source`` (a :class:`BookEpochs`) through fastnn's
    training loop, as the book runs them: any eta, no divergence check;
    ``after_epoch(epoch)`` (from 0) prints the book's lines and returns True
    to stop early. KeyboardInterrupt on Ctrl-C, the steps taken kept."""
    state = TrainingState(epochs=epochs, batch_size=source.batch_size, eta=source.eta,
                          shuffle=True, seed_entropy=0)
    training.run_epochs(network._fast, source, state,
                        callback=lambda epoch, history: after_epoch(epoch - 1),
                        on_divergence=None)


class Layers(list):
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
        return checked_array(value, self._shapes[position], f"{self._kind}[{position}]")

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
        return (Layers, (list(self), self._kind, self._shapes))

    def _fixed(self, *args, **kwargs):
        raise TypeError(f"the network's {self._kind} have one entry per layer; the list cannot change length")

    append = extend = insert = pop = remove = clear = __delitem__ = __iadd__ = _fixed


# The names pickles made before the renaming refer to.
_Layers = Layers


def checked_array(value, shape, name):
    array = value if isinstance(value, np.ndarray) else np.asarray(value, dtype=np.float64)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf")
    return array


class Converted:
    """A list of ``(x, y)`` column-vector pairs as the arrays the kernels take.

    inputs : (n, sizes[0]) float64, C-contiguous; targets : (n, sizes[-1])
    float64 (training data) or None; labels : (n,) int64 (test data, or
    training data given int labels) or None; rows : (n,) int64, the row of
    ``inputs`` (and ``targets``, ``labels``) holding the sample at each
    position of the list.

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
    def build(cls, pairs, sizes, name, *, as_labels):
        """ys as integer ``labels`` if ``as_labels`` (test data), else as
        ``targets`` (training data)."""
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
        if as_labels:
            for row, label in enumerate(ys):
                if np.ndim(label) != 0:
                    raise ValueError(
                        f"{name} labels must be integers (as the book's test data), but "
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


def check_eta(eta):
    """Any finite real number, as in the book (0: no step; negative: ascent)."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float, np.integer, np.floating)):
        raise TypeError(f"eta must be a real number, got {type(eta).__name__}")
    eta = float(eta)
    if not np.isfinite(eta):
        raise ValueError(f"eta must be finite, got {eta}")
    return eta


def non_negative_int(value, name):
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
