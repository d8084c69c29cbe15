"""A network's neurons as a user names them: the hidden layers'
activations, the output layer and the cost, dropout, and the initial
weights (docs/theory.md §10, §11, §12).

:class:`Neurons` checks the names and numbers once, with an error that
says what was wrong, and hands the kernels their arrays
(``fastnn.kernels.objective.HiddenActivations``, the dropout rates and
thresholds). :func:`initialize` draws initial weights by one of the
schemes of §11. The model file, checkpoints, the command line and the
estimators all read and write a network's neurons through here.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .kernels.activation import DEFAULT_LEAKY_SLOPE, HIDDEN_ACTIVATIONS, hidden_activation
from .kernels.dropout import MAX_RATE, dropout_threshold
from .kernels.objective import (DOCUMENT_HIDDEN, HiddenActivations, output_rule)

__all__ = ["Neurons", "INITS", "initialize", "DEFAULT_ACTIVATION"]

DEFAULT_ACTIVATION = "logistic"
# Initial weights (docs/theory.md §11): Network's default is the design
# document's, whatever the activation; "sklearn" is scikit-learn's, which
# the estimators use.
INITS = ("document", "glorot", "he", "sklearn")


def _per_layer(value, n_hidden, name, check):
    """A value for every hidden layer: one value for all, or a sequence
    of exactly n_hidden, each passed through ``check``."""
    if isinstance(value, (str, bytes, numbers.Number)) or not hasattr(value, "__iter__"):
        return tuple(check(value) for _ in range(n_hidden))
    values = list(value)
    if len(values) != n_hidden:
        raise ValueError(
            f"{name} takes one value for every hidden layer or one for each of them; "
            f"this network has {n_hidden} hidden layer{'s' if n_hidden != 1 else ''}, "
            f"got {len(values)} values: {values!r}")
    return tuple(check(v) for v in values)


def _check_name(name):
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name (str) or a list of names, got {name!r}")
    hidden_activation(name)  # ValueError naming the choices
    return "logistic" if name == "sigmoid" else name


def _check_slope(slope):
    if isinstance(slope, (bool, np.bool_)) or not isinstance(slope, numbers.Real):
        raise TypeError(f"leaky_slope must be a number, got {slope!r}")
    slope = float(slope)
    if not (math.isfinite(slope) and slope >= 0):
        raise ValueError(
            f"leaky_slope must be a finite number >= 0, got {slope!r}: leaky ReLU's f' is read "
            "from the sign of its activation, which a negative slope would flip "
            "(docs/theory.md §11)")
    return slope


def _check_rate(rate):
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise TypeError(f"dropout must be a rate (a number) or a list of rates, got {rate!r}")
    rate = float(rate)
    if not (0.0 <= rate <= MAX_RATE):
        raise ValueError(f"a dropout rate must be in [0, {MAX_RATE}], got {rate!r}")
    return rate


@dataclass(frozen=True)
class Neurons:
    """What every layer of a network does (docs/theory.md §10-§12).

    activation: the hidden layers' activations, one name per hidden layer
    (``HIDDEN_ACTIVATIONS``: logistic, tanh, relu, leaky_relu, identity).
    leaky_slope: leaky ReLU's slope per hidden layer (read for leaky_relu).
    dropout: the dropout rate per hidden layer (0: none).
    cost, output: the output layer and cost, a pair of ``objective.PAIRS``.
    """

    activation: tuple
    leaky_slope: tuple
    dropout: tuple
    cost: str = "quadratic"
    output: str = "sigmoid"

    @classmethod
    def of(cls, sizes, *, activation=DEFAULT_ACTIVATION, output="sigmoid", cost="quadratic",
           dropout=0.0, leaky_slope=DEFAULT_LEAKY_SLOPE) -> "Neurons":
        """The neurons of a network of ``sizes`` from Network's arguments:
        each of activation, dropout and leaky_slope one value for every
        hidden layer or a sequence of one per hidden layer. ValueError (or
        TypeError) naming what is wrong."""
        n_hidden = len(sizes) - 2
        output_rule(cost, output)
        names = _per_layer(activation, n_hidden, "activation", _check_name)
        rates = _per_layer(dropout, n_hidden, "dropout", _check_rate)
        if n_hidden == 0 and isinstance(dropout, numbers.Real) and float(dropout) != 0:
            raise ValueError(
                f"dropout={dropout!r}: dropout drops units of hidden layers, and this network "
                f"of sizes {list(sizes)} has none")
        slopes = _per_layer(leaky_slope, n_hidden, "leaky_slope", _check_slope)
        if output == "softmax" and sizes[-1] < 2:
            raise ValueError(
                "output='softmax' needs at least 2 output neurons: the softmax of one is 1 "
                "whatever its input (use output='sigmoid' for one output)")
        return cls(names, slopes, rates, cost, output)

    @property
    def rule(self) -> int:
        return output_rule(self.cost, self.output)

    @property
    def is_document(self) -> bool:
        """Logistic hidden layers without dropout: the design document's."""
        return all(name == "logistic" for name in self.activation) and not self.has_dropout

    @property
    def softmax(self) -> bool:
        """A softmax output (its targets must be distributions)."""
        return self.output == "softmax"

    @property
    def has_dropout(self) -> bool:
        return any(rate > 0 for rate in self.dropout)

    def hidden_activations(self) -> HiddenActivations:
        """The kernels' hidden activations (``objective.HiddenActivations``)."""
        if all(name == "logistic" for name in self.activation):
            return DOCUMENT_HIDDEN
        return HiddenActivations(
            np.array([HIDDEN_ACTIVATIONS[name] for name in self.activation], np.int64),
            np.array(self.leaky_slope, np.float64))

    def dropout_arrays(self):
        """(rates, thresholds) for ``objective.Dropout``; empty without dropout."""
        if not self.has_dropout:
            return np.empty(0, np.float64), np.empty(0, np.uint64)
        return (np.array(self.dropout, np.float64),
                np.array([dropout_threshold(rate) for rate in self.dropout], np.uint64))

    def arguments(self) -> dict:
        """Network's arguments that differ from the defaults, as a user would
        write them (one value when every hidden layer has the same)."""
        shown = {}
        if any(name != DEFAULT_ACTIVATION for name in self.activation):
            shown["activation"] = _compact(self.activation)
        if "leaky_relu" in self.activation and any(
                slope != DEFAULT_LEAKY_SLOPE for name, slope in
                zip(self.activation, self.leaky_slope) if name == "leaky_relu"):
            shown["leaky_slope"] = _compact(self.leaky_slope)
        if self.has_dropout:
            shown["dropout"] = _compact(self.dropout)
        if self.output != "sigmoid":
            shown["output"] = self.output
        if self.cost != "quadratic":
            shown["cost"] = self.cost
        return shown


def _compact(values):
    return values[0] if len(set(values)) == 1 else list(values)


def initialize(weights, biases, scheme, seed, activation=(), default_activation=None):
    """Draw initial weights and biases in place (docs/theory.md §11).

    weights[i]: (L_(i+1), L_i), biases[i]: (L_(i+1),), of the network's
    dtype (drawn in float64, then rounded). scheme: one of ``INITS``.
    seed: None or a non-negative int. activation: the hidden layers'
    names, for scikit-learn's factor (2 for logistic, else 6: the output
    layer takes the last hidden layer's, as scikit-learn's one activation
    covers every layer; a network without hidden layers takes
    ``default_activation``'s).

    "document" and "glorot"/"he" draw from numpy.random.default_rng(seed),
    "document" exactly as Network always has (every weight, then every
    bias). "sklearn" draws as scikit-learn's MLP does, from
    RandomState(seed) layer by layer (its coefs_[i] of shape (L_i,
    L_(i+1)), then its intercepts), so that an int seed gives scikit-learn's
    own initial weights for the same random_state.
    """
    if scheme not in INITS:
        raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}; got {scheme!r}")
    if scheme == "sklearn":
        random_state = np.random.RandomState(seed)
        for i, (w, b) in enumerate(zip(weights, biases)):
            fan_out, fan_in = w.shape
            name = (activation[min(i, len(activation) - 1)] if activation
                    else (default_activation or DEFAULT_ACTIVATION))
            factor = 2.0 if name in ("logistic", "sigmoid") else 6.0
            bound = np.sqrt(factor / (fan_in + fan_out))
            w[...] = random_state.uniform(-bound, bound, (fan_in, fan_out)).T
            b[...] = random_state.uniform(-bound, bound, fan_out)
        return
    rng = np.random.default_rng(seed)
    if scheme == "document":
        for w in weights:
            w[...] = rng.standard_normal(w.shape) / np.sqrt(w.shape[1])
        for b in biases:
            b[...] = rng.standard_normal(b.shape)
        return
    for w in weights:
        fan_out, fan_in = w.shape
        if scheme == "glorot":
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            w[...] = rng.uniform(-bound, bound, w.shape)
        else:  # he
            w[...] = rng.standard_normal(w.shape) * np.sqrt(2.0 / fan_in)
    for b in biases:
        b[...] = 0
