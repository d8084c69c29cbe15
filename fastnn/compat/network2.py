"""The ``Network`` of the textbook's ``network2.py``, trained by fastnn's kernels.

Chapter 3 of Michael Nielsen's *Neural Networks and Deep Learning* improves
``network.py`` into ``network2.py``: the cross-entropy cost, L2
regularisation (``lmbda``), weights initialised with standard deviation
1/sqrt(n_in), monitoring of cost and accuracy, early stopping and JSON
save/load. This module offers the same names, so that the book's scripts run
after their import becomes::

    import fastnn.compat.network2 as network2
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    net.SGD(training_data, 30, 10, 0.5, lmbda=5.0, evaluation_data=validation_data,
            monitor_evaluation_accuracy=True)

(``fastnn.compat.nielsen`` names the class ``Network2``.) The book's
conventions are kept: samples ``x`` are (sizes[0], 1) columns; training
targets ``y`` are one-hot (sizes[-1], 1) columns and evaluation data has
int labels; ``accuracy(data, convert=True)`` is for training data and
``total_cost(data, lmbda, convert=True)`` for evaluation data, as in the book;
``weights``/``biases`` behave as in ``fastnn.compat.nielsen`` (standalone
arrays, rebound by training, so references taken before keep their
values); initial parameters come from ``numpy.random`` in the book's order;
SGD shuffles with ``random.shuffle`` and prints the book's lines. The
epochs of ``SGD`` run in fastnn's compiled kernels (cross-entropy or
quadratic cost, the decay w <- (1 - eta*lmbda/n) w of L2), over the lists
converted to arrays once, as ``nielsen.Network`` does.

Where this differs from the book's code, on purpose:

* As in the book's Python 3 port, ``SGD`` copies the training list before
  shuffling it: the caller's list keeps its order.
* ``total_cost`` adds the regularisation term 0.5*(lmbda/len(data))*sum ||w||^2
  once, as the book's network2.py (its Python 3 port adds it once per
  sample, an indentation slip).
* Early stopping prints nothing more, as the book's final version (its
  early-stopping messages are commented out there). It stops on the last
  accuracy monitored (evaluation, else training), as the book does; asking
  for it while monitoring no accuracy is refused before training (the
  book fails after the first epoch), and so is monitoring evaluation data
  that was not given.
* ``total_cost(..., convert=True)`` one-hot encodes labels with sizes[-1]
  entries (the book's ``vectorized_result`` always has 10).
* ``save`` replaces its file whole or not at all; ``load`` checks the file
  and refuses (``ValueError``) anything the book's ``save`` could not have
  written: a cost other than QuadraticCost or CrossEntropyCost (the name is
  looked up in that table, never as an attribute), wrong shapes, NaN or
  infinite numbers, invalid or truncated JSON.
* A cost class of one's own (with ``fn`` and ``delta``) or a subclass
  overriding ``update_mini_batch`` or ``backprop`` is honoured: training
  then runs through them in NumPy, at NumPy speed.
"""
from __future__ import annotations

import json

import numpy as np

from .._files import atomic_write, check_regular_file
from .._validation import check_positive_int, check_sizes
from ..network import Network as _FastNetwork
from ..plan import EpochPlan
from ._book import (BookEpochs, BookNetwork, check_eta, Converted, non_negative_int,
                    run_book_epochs, sigmoid, sigmoid_prime)

__all__ = ["Network", "Network2", "QuadraticCost", "CrossEntropyCost", "load",
           "vectorized_result", "sigmoid", "sigmoid_prime"]


class QuadraticCost(object):
    """C = |a - y|^2 / 2 per sample."""

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` for the desired output ``y``."""
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        """The output layer's error delta^L = (a - y) * sigmoid'(z)."""
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost(object):
    """C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] per sample."""

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` for the desired output ``y``; ``nan_to_num``
        makes 0 * ln 0 count as 0 (and ln 0 as the largest float), as in the book."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        """The output layer's error delta^L = a - y (``z`` is not used)."""
        return a - y


# The costs the kernels compute, and the names a saved file may give.
_KERNEL_COSTS = ((QuadraticCost, "quadratic"), (CrossEntropyCost, "cross_entropy"))
_COSTS_BY_NAME = {"QuadraticCost": QuadraticCost, "CrossEntropyCost": CrossEntropyCost}


def vectorized_result(j):
    """A (10, 1) column with 1.0 at row ``j`` and zeros elsewhere (digit j's target)."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


class Network2(BookNetwork):
    """A sigmoid network as in the textbook's ``network2.py`` (there: ``Network``).

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, input first, e.g. ``[784, 30, 10]``.
    cost : CrossEntropyCost (default) or QuadraticCost, or a class of one's
        own with static ``fn(a, y)`` and ``delta(z, a, y)`` (trained in NumPy).

    Attributes
    ----------
    num_layers, sizes, cost
    biases : list of ndarray, ``biases[i]`` of shape (sizes[i+1], 1)
    weights : list of ndarray, ``weights[i]`` of shape (sizes[i+1], sizes[i])
    fastnn_network : fastnn.Network that computes (float64), holding a copy
        of ``weights`` and ``biases`` made when the attribute is read.
    """

    def __init__(self, sizes, cost=CrossEntropyCost):
        super().__init__(sizes)
        self.cost = cost
        self.default_weight_initializer()
        self._fast = self._new_fast()

    def __repr__(self):
        return f"network2.Network({self.sizes}, cost={_cost_name(self.cost)})"

    # -- the cost ----------------------------------------------------------------
    @property
    def cost(self):
        """The cost class: CrossEntropyCost, QuadraticCost or one of one's own."""
        return self._cost

    @cost.setter
    def cost(self, cost):
        if not (callable(getattr(cost, "fn", None)) and callable(getattr(cost, "delta", None))):
            raise TypeError(
                "cost must be a cost class such as network2.CrossEntropyCost or "
                f"network2.QuadraticCost (with fn(a, y) and delta(z, a, y)), got {cost!r}")
        self._cost = cost

    def _kernel_cost(self):
        """The kernels' name of ``cost`` ("cross_entropy", "quadratic"), or
        None for a cost class of one's own."""
        return next((name for known, name in _KERNEL_COSTS if self._cost is known), None)

    def _new_fast(self):
        return _FastNetwork(self.sizes, seed=0, dtype=np.float64,
                            cost=self._kernel_cost() or "quadratic", output="sigmoid")

    def _pull(self):
        wanted = self._kernel_cost()
        if wanted is not None and self._fast.cost_name != wanted:  # cost was reassigned
            self._fast = self._new_fast()
        super()._pull()

    # -- initial parameters --------------------------------------------------------
    def default_weight_initializer(self):
        """Biases ~ N(0, 1), then weights ~ N(0, 1) / sqrt(n_in), drawn from
        ``numpy.random`` in the book's order (so its seed gives the book's)."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x) / np.sqrt(x)
                        for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def large_weight_initializer(self):
        """Biases and weights ~ N(0, 1), as ``network.py`` draws them."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    # -- training ------------------------------------------------------------------
    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0,  # noqa: N802
            evaluation_data=None, monitor_evaluation_cost=False,
            monitor_evaluation_accuracy=False, monitor_training_cost=False,
            monitor_training_accuracy=False, early_stopping_n=0):
        """Mini-batch SGD with L2 regularisation, monitoring and early stopping.

        training_data : list or iterable of ``(x, y)``, x (sizes[0], 1), y
            one-hot (sizes[-1], 1); copied, not shuffled in place.
        evaluation_data : optional list or iterable of ``(x, label)``.
        eta : any finite real number; lmbda : any finite real number.
        early_stopping_n : stop after this many epochs in a row without a
            better accuracy (the last one monitored); 0: never.

        Each epoch: ``random.shuffle`` of the samples, then mini-batches in
        that order, each a step w <- (1 - eta*lmbda/n) w - (eta/m) sum_x
        dC_x/dw, b <- b - (eta/m) sum_x dC_x/db (n: len(training_data), m:
        the batch's size) in fastnn's kernels; then the book's lines are
        printed. Returns the book's four lists: (evaluation_cost,
        evaluation_accuracy, training_cost, training_accuracy), one entry
        per epoch for each monitored quantity.
        """
        epochs = non_negative_int(epochs, "epochs")
        mini_batch_size = check_positive_int(mini_batch_size, "mini_batch_size")
        eta = check_eta(eta)
        lmbda = _check_lmbda(lmbda)
        early_stopping_n = 0 if not early_stopping_n else non_negative_int(
            early_stopping_n, "early_stopping_n")
        given_list = isinstance(training_data, list)
        samples = training_data if given_list else list(training_data)
        if not samples:
            raise ValueError("training_data is empty")
        n = len(samples)
        if evaluation_data is not None and not isinstance(evaluation_data, list):
            evaluation_data = list(evaluation_data)
        if (monitor_evaluation_cost or monitor_evaluation_accuracy) and not evaluation_data:
            raise ValueError("monitor_evaluation_cost and monitor_evaluation_accuracy need "
                             "evaluation_data: a non-empty list of (x, label) pairs")
        if early_stopping_n and not (monitor_evaluation_accuracy or monitor_training_accuracy):
            raise ValueError("early_stopping_n stops on the accuracy monitored: set "
                             "monitor_evaluation_accuracy (or monitor_training_accuracy)")

        kernel_cost = self._kernel_cost()
        literal = kernel_cost is None or self._customised("update_mini_batch", "backprop")
        by_list = self._customised("accuracy", "total_cost")
        training = evaluation = None
        if not literal or ((monitor_training_cost or monitor_training_accuracy) and not by_list):
            training = self._converted(samples, "training_data", keep=given_list, as_labels=False)
        if (monitor_evaluation_cost or monitor_evaluation_accuracy) and not by_list:
            evaluation = self._converted(evaluation_data, "evaluation_data", keep=True,
                                         as_labels=True)
        self._pull()

        evaluation_cost, evaluation_accuracy = [], []
        training_cost, training_accuracy = [], []
        early = {"best": 0, "no_change": 0}
        # Positions shuffled by random.shuffle are in the order the book's
        # shuffle of (a copy of) the list gives, epoch after epoch.
        order = list(range(n))

        def step(positions):
            self.update_mini_batch([samples[i] for i in positions], eta, lmbda, n)

        def after_epoch(j):
            shuffled = [samples[i] for i in order] if literal or by_list else None
            print("Epoch %s training complete" % j)

            if monitor_training_cost:
                cost = (self.total_cost(shuffled, lmbda) if by_list
                        else self._total_cost(training, lmbda))
                training_cost.append(cost)
                print("Cost on training data: {}".format(cost))
            if monitor_training_accuracy:
                accuracy = (self.accuracy(shuffled, convert=True) if by_list
                            else self._accuracy(training))
                training_accuracy.append(accuracy)
                print("Accuracy on training data: {} / {}".format(accuracy, n))
            if monitor_evaluation_cost:
                cost = (self.total_cost(evaluation_data, lmbda, convert=True) if by_list
                        else self._total_cost(evaluation, lmbda))
                evaluation_cost.append(cost)
                print("Cost on evaluation data: {}".format(cost))
            if monitor_evaluation_accuracy:
                accuracy = (self.accuracy(evaluation_data) if by_list
                            else self._accuracy(evaluation))
                evaluation_accuracy.append(accuracy)
                print("Accuracy on evaluation data: {} / {}".format(
                    accuracy, len(evaluation_data)))

            if early_stopping_n:
                if accuracy > early["best"]:
                    early["best"] = accuracy
                    early["no_change"] = 0
                else:
                    early["no_change"] += 1
                return early["no_change"] == early_stopping_n
            return False

        if epochs:
            source = BookEpochs(self, order, mini_batch_size, eta,
                                None if literal else training, step,
                                plan_options=dict(cost=kernel_cost, output="sigmoid"),
                                lmbda=lmbda, n_train=n)
            run_book_epochs(self, source, epochs, after_epoch)
        return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One step on ``mini_batch`` (a list of ``(x, y)``):
        w <- (1 - eta*lmbda/n) w - (eta/m) sum_x dC_x/dw, b <- b - (eta/m)
        sum_x dC_x/db, with n the size of the whole training set and m the
        batch's. Binds new lists of new arrays to ``weights`` and ``biases``.
        """
        eta = check_eta(eta)
        lmbda = _check_lmbda(lmbda)
        n = check_positive_int(n, "n")
        batch = list(mini_batch)
        if not batch:
            raise ValueError("mini_batch is empty")
        kernel_cost = self._kernel_cost()
        if kernel_cost is None or self._customised("backprop"):
            nabla_b = [np.zeros(b.shape) for b in self.biases]
            nabla_w = [np.zeros(w.shape) for w in self.weights]
            for x, y in batch:
                delta_b, delta_w = self.backprop(x, y)
                nabla_b = [total + part for total, part in zip(nabla_b, delta_b)]
                nabla_w = [total + part for total, part in zip(nabla_w, delta_w)]
            self.weights = [(1 - eta * (lmbda / n)) * w - (eta / len(batch)) * nw
                            for w, nw in zip(self.weights, nabla_w)]
            self.biases = [b - (eta / len(batch)) * nb for b, nb in zip(self.biases, nabla_b)]
            return
        converted = Converted.build(batch, self.sizes, "mini_batch", as_labels=False)
        self._pull()
        plan = EpochPlan(self.sizes, len(batch), np.float64, len(batch), 1, cost=kernel_cost,
                         output="sigmoid")
        plan.run(self._fast.params, converted.inputs, converted.targets, converted.rows, eta,
                 lmbda=lmbda, n_train=n)
        self._push()

    def backprop(self, x, y):
        """Gradient of C_x for one sample, ``(nabla_b, nabla_w)`` (biases
        first, as in the book), lists shaped like ``biases`` and ``weights``.

        x : (sizes[0], 1); y : (sizes[-1], 1) (or an int label).
        """
        x_column = self._column(x, self.sizes[0], "x")
        y_column = self._target_column(y)
        if self._kernel_cost() is None:
            return self._numpy_backprop(x_column, y_column)
        nabla_w, nabla_b = self.fastnn_network.backprop(x_column.ravel(), y_column.ravel())
        return [b.reshape(-1, 1).copy() for b in nabla_b], [w.copy() for w in nabla_w]

    def _numpy_backprop(self, x, y):
        # The book's backward pass in NumPy, with the cost's own delta: for
        # cost classes the kernels do not know.
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(np.dot(w, activations[-1]) + b)
            activations.append(sigmoid(zs[-1]))
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        delta = self.cost.delta(zs[-1], activations[-1], y)
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_b[layer] = delta
            nabla_w[layer] = np.dot(delta, activations[layer].T)
            if layer:
                delta = np.dot(self.weights[layer].T, delta) * sigmoid_prime(zs[layer - 1])
        return nabla_b, nabla_w

    # -- monitoring ----------------------------------------------------------------
    def accuracy(self, data, convert=False):
        """How many ``(x, y)`` in ``data`` the network classifies right (its
        most active output is the answer). convert=False: y are int labels
        (evaluation data); convert=True: y are one-hot columns (training data).
        """
        pairs = data if isinstance(data, list) else list(data)
        if not pairs:
            return 0
        return self._accuracy(Converted.build(pairs, self.sizes, "data", as_labels=not convert))

    def total_cost(self, data, lmbda, convert=False):
        """The mean cost over ``data`` plus 0.5*(lmbda/len(data))*sum ||w||^2.

        convert=False: y are one-hot columns (training data); convert=True:
        y are int labels (evaluation data), one-hot encoded here.
        """
        lmbda = _check_lmbda(lmbda)
        pairs = data if isinstance(data, list) else list(data)
        if not pairs:
            raise ValueError("total_cost needs at least one (x, y) pair")
        return self._total_cost(Converted.build(pairs, self.sizes, "data", as_labels=convert),
                                lmbda)

    def _accuracy(self, converted):
        self._pull()
        predicted = self._fast.predict(converted.inputs)
        truth = (converted.labels if converted.targets is None
                 else np.argmax(converted.targets, axis=1))
        return int(np.sum(predicted == truth))

    def _total_cost(self, converted, lmbda):
        self._pull()
        n_data = converted.inputs.shape[0]
        targets = converted.targets
        if targets is None:  # labels: one-hot, as the book's vectorized_result
            labels, n_out = converted.labels, self.sizes[-1]
            if labels.size and (labels.min() < 0 or labels.max() >= n_out):
                raise ValueError(f"labels must be integers in [0, {n_out}) for the cost")
            targets = np.zeros((n_data, n_out))
            targets[np.arange(n_data), labels] = 1.0
        outputs = self._fast.feedforward(converted.inputs)
        if self._cost is QuadraticCost:
            per_sample = 0.5 * np.linalg.norm(outputs - targets, axis=1) ** 2
        elif self._cost is CrossEntropyCost:
            with np.errstate(divide="ignore", invalid="ignore"):
                per_sample = np.sum(np.nan_to_num(
                    -targets * np.log(outputs) - (1 - targets) * np.log(1 - outputs)), axis=1)
        else:
            per_sample = np.array([self._cost.fn(a.reshape(-1, 1), y.reshape(-1, 1))
                                   for a, y in zip(outputs, targets)])
        cost = np.sum(per_sample / n_data)
        return cost + 0.5 * (lmbda / n_data) * sum(np.linalg.norm(w) ** 2 for w in self.weights)

    # -- files -----------------------------------------------------------------------
    def save(self, filename):
        """Write the network to ``filename`` as the book's JSON: {"sizes",
        "weights", "biases", "cost": the cost class's name}. The file is
        replaced whole or not at all. Raises ValueError, and writes nothing,
        if a weight or bias is NaN or inf (``load`` refuses such a file)."""
        if not all(np.isfinite(a).all() for a in list(self.weights) + list(self.biases)):
            raise ValueError(
                f"not saved to {filename}: this network's weights or biases are not all "
                "finite (NaN or inf), and load refuses such a file; training diverged "
                "(retrain with a smaller eta) or they were set so")
        data = {"sizes": [int(size) for size in self.sizes],
                "weights": [w.tolist() for w in self.weights],
                "biases": [b.tolist() for b in self.biases],
                "cost": _cost_name(self.cost)}
        text = json.dumps(data).encode("utf-8")
        atomic_write(filename, lambda stream: stream.write(text))

    # -- helpers -----------------------------------------------------------------------
    def _customised(self, *names):
        cls = type(self)
        return any(getattr(cls, name) is not getattr(Network2, name) for name in names)


Network = Network2  # the book's name for it in network2.py


def load(filename):
    """The network saved in ``filename`` by ``save`` (this module's or the book's).

    Checked before anything is built: ValueError if the file is not valid
    JSON (truncated, for one), names a cost other than QuadraticCost or
    CrossEntropyCost, or holds sizes, weights or biases of the wrong types
    or shapes or numbers that are NaN or infinite. As the book's ``load``,
    it draws a network's initial parameters from ``numpy.random`` (then
    replaced by the file's).
    """
    with open(check_regular_file(filename, "a saved network2 network"), "rb") as stream:
        raw = stream.read()
    where = f"{filename!s}"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{where} is not a saved network2 network: invalid JSON "
                         f"({type(error).__name__}: {error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where} is not a saved network2 network: it holds a JSON "
                         f"{type(data).__name__}, not an object with sizes, weights, biases, cost")
    missing = [key for key in ("sizes", "weights", "biases", "cost") if key not in data]
    if missing:
        raise ValueError(f"{where} is not a saved network2 network: no {', '.join(missing)}")
    cost_name = data["cost"]
    if not isinstance(cost_name, str) or cost_name not in _COSTS_BY_NAME:
        raise ValueError(f"{where}: unknown cost {cost_name!r}; a saved network2 network "
                         f"names one of {', '.join(sorted(_COSTS_BY_NAME))}")
    if not isinstance(data["sizes"], list):
        raise ValueError(f"{where}: sizes must be a list of layer widths, got {data['sizes']!r:.80}")
    try:
        sizes = check_sizes(data["sizes"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    weight_shapes = [(fan_out, fan_in) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
    bias_shapes = [(fan_out, 1) for fan_out in sizes[1:]]
    weights = _saved_arrays(data["weights"], weight_shapes, "weights", where)
    biases = _saved_arrays(data["biases"], bias_shapes, "biases", where)
    net = Network2(list(sizes), cost=_COSTS_BY_NAME[cost_name])
    net.weights = weights
    net.biases = biases
    return net


def _saved_arrays(values, shapes, name, where):
    """The arrays of one kind in a saved file, each checked (type, shape, finite)."""
    if not isinstance(values, list) or len(values) != len(shapes):
        raise ValueError(f"{where}: {name} must be a list of {len(shapes)} arrays, one per "
                         "layer, as the sizes say")
    arrays = []
    for position, (value, shape) in enumerate(zip(values, shapes)):
        label = f"{where}: {name}[{position}]"
        try:
            array = np.array(value)
        except (ValueError, TypeError, OverflowError):
            array = None  # ragged nesting
        if array is None or array.dtype.kind not in "iuf":
            raise ValueError(f"{label} must be a {shape[0]} x {shape[1]} array of numbers")
        if array.shape != shape:
            raise ValueError(f"{label} must have shape {shape} (from sizes), got {array.shape}")
        array = array.astype(np.float64)
        if not np.isfinite(array).all():
            raise ValueError(f"{label} contains NaN or infinite numbers")
        arrays.append(array)
    return arrays


def _check_lmbda(lmbda):
    """Any finite real number, as in the book (0: no regularisation)."""
    if isinstance(lmbda, bool) or not isinstance(lmbda, (int, float, np.integer, np.floating)):
        raise TypeError(f"lmbda must be a real number, got {type(lmbda).__name__}")
    lmbda = float(lmbda)
    if not np.isfinite(lmbda):
        raise ValueError(f"lmbda must be finite, got {lmbda}")
    return lmbda


def _cost_name(cost):
    name = getattr(cost, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"the cost {cost!r} has no __name__ to save (pass a cost class)")
    return name
