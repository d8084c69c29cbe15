"""What an epoch minimises and how its layers act (docs/theory.md §3, §5,
§10, §11 and §12): the output layer and the cost, the hidden layers'
activations, dropout, L2 weight decay, and per-sample weights.

Five output rules, each a pair (cost, output activation) with its own
output delta dC/dz_j^(l) (§5, §10, §11, §15):

=========================  ===============================  ====================
rule                       C for one sample                 dC/dz_j^(l)
=========================  ===============================  ====================
``QUADRATIC_SIGMOID``      1/2 sum_j (y_j - a_j)^2          (a_j - y_j) a_j (1 - a_j)
``CROSS_ENTROPY_SIGMOID``  -sum_j [y_j ln a_j + (1 - y_j)   a_j - y_j
                           ln(1 - a_j)]
``QUADRATIC_IDENTITY``     1/2 sum_j (y_j - a_j)^2,         a_j - y_j
                           a_j = z_j
``CROSS_ENTROPY_SOFTMAX``  -sum_j y_j ln a_j, a = softmax(z)  a_j - y_j  (sum_j y_j = 1)
``POISSON_EXP``            sum_j [y_j ln(y_j / a_j) - y_j    a_j - y_j  (y_j >= 0)
                           + a_j], a_j = exp(z_j)
=========================  ===============================  ====================

The other pairs are refused, each for its reason (``PAIRS``): the
cross-entropy of an identity output (ln of a z that can be negative), the
quadratic cost of a softmax output, the Poisson deviance of any output
but exp and exp with any other cost.

An epoch's ``Objective`` carries the rule, the decay factor of L2
regularisation, the sample weights, the hidden layers' activations
(``HiddenActivations``, §11) and dropout (``Dropout``, §12). The defaults
of the last two are the design document's network: logistic hidden
layers, no dropout.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit
from .activation import EXP, IDENTITY, LOGISTIC, SOFTMAX, cast_like
from .optimizer import PLAIN_SGD, Optimizer

__all__ = ["QUADRATIC_SIGMOID", "CROSS_ENTROPY_SIGMOID", "QUADRATIC_IDENTITY",
           "CROSS_ENTROPY_SOFTMAX", "POISSON_EXP", "COSTS", "OUTPUTS", "PAIRS", "Objective",
           "HiddenActivations", "Dropout", "DOCUMENT_HIDDEN", "NO_DROPOUT", "output_rule",
           "plain_objective", "activates_output", "output_activation", "layer_activation",
           "layer_slope", "layer_dropout", "output_cost", "output_delta_value",
           "sample_weight", "LOG_FLOOR"]

QUADRATIC_SIGMOID = 0
CROSS_ENTROPY_SIGMOID = 1
QUADRATIC_IDENTITY = 2
CROSS_ENTROPY_SOFTMAX = 3
POISSON_EXP = 4

COSTS = ("quadratic", "cross_entropy", "poisson")
OUTPUTS = ("sigmoid", "identity", "softmax", "exp")

_NEEDS_SIGMOID = (
    "cost='cross_entropy' needs output='sigmoid' or 'softmax': the cross-entropy "
    "-[y ln a + (1 - y) ln(1 - a)] is defined for outputs a in (0, 1) only, "
    "and an identity output a = z can be any number; use cost='quadratic' "
    "with output='identity' for regression")
_SOFTMAX_NEEDS_CROSS_ENTROPY = (
    "output='softmax' needs cost='cross_entropy' (read for softmax as the log-likelihood "
    "-sum_j y_j ln a_j): the quadratic cost of a softmax output has no delta a - y, every "
    "output's delta would depend on every other's through the softmax, and it learns slowly "
    "where the output saturates")

_POISSON_NEEDS_EXP = (
    "cost='poisson' needs output='exp': the Poisson deviance is defined for a positive "
    "mean a = exp(z), whose delta is then a - y (docs/theory.md §15)")
_EXP_NEEDS_POISSON = (
    "output='exp' needs cost='poisson' (the half Poisson deviance): it is the output of "
    "Poisson regression (docs/theory.md §15)")

# (cost, output) -> the rule, or the reason the pair is refused
# (docs/theory.md §11, the table of pairs).
PAIRS = {
    ("quadratic", "sigmoid"): QUADRATIC_SIGMOID,
    ("cross_entropy", "sigmoid"): CROSS_ENTROPY_SIGMOID,
    ("quadratic", "identity"): QUADRATIC_IDENTITY,
    ("cross_entropy", "identity"): _NEEDS_SIGMOID,
    ("cross_entropy", "softmax"): CROSS_ENTROPY_SOFTMAX,
    ("quadratic", "softmax"): _SOFTMAX_NEEDS_CROSS_ENTROPY,
    ("poisson", "exp"): POISSON_EXP,
    ("poisson", "sigmoid"): _POISSON_NEEDS_EXP,
    ("poisson", "identity"): _POISSON_NEEDS_EXP,
    ("poisson", "softmax"): _POISSON_NEEDS_EXP,
    ("quadratic", "exp"): _EXP_NEEDS_POISSON,
    ("cross_entropy", "exp"): _EXP_NEEDS_POISSON,
}

# The cross-entropy takes ln of max(a, LOG_FLOOR) and of max(1 - a,
# LOG_FLOOR), so that an output pinned at exactly 0 or 1 (float32 rounds
# f(z) to 1 from z = 17) costs at most -ln(1e-37) = 85.2 per term instead of
# inf, which would read as divergence (the book's network2 uses
# np.nan_to_num, which makes it 1.8e308). 1e-37 is a normal float32.
# The delta a - y does not use the logarithm and is exact.
LOG_FLOOR = 1e-37


def output_rule(cost, output, *, outputs=OUTPUTS) -> int:
    """The rule constant of a (cost, output) pair (``PAIRS``); ValueError
    that says why for a refused pair, or an unknown name. ``outputs``: the
    output layers accepted."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(map(repr, COSTS))}; got {cost!r}")
    if output not in outputs:
        raise ValueError(f"output must be one of {', '.join(map(repr, outputs))}; got {output!r}")
    rule = PAIRS[cost, output]
    if isinstance(rule, str):
        raise ValueError(rule)
    return rule


class HiddenActivations(NamedTuple):
    """The activations of hidden layers 1..l-1 (§11).

    codes: (l-1,) int64, ``activation``'s codes, codes[i-1] for layer i;
    or (0,): every hidden layer logistic, the design document's.
    slopes: float64, leaky ReLU's slope of each layer (read for LEAKY_RELU
    only), as long as codes.
    """
    codes: np.ndarray
    slopes: np.ndarray


class Dropout(NamedTuple):
    """Inverted dropout on hidden layers (§12, ``fastnn.kernels.dropout``).

    rates: (l-1,) float64, the rate p of layers 1..l-1 (0: none), or (0,):
    no dropout. thresholds: (l-1,) uint64, ``dropout.dropout_threshold`` of
    each rate. key: ``dropout.epoch_key(seed, epoch)`` of the epoch.
    first_row, rows: which row of the whole training set row n of the
    epoch's inputs is, to draw its masks: first_row + rows[n], or
    first_row + n when rows is empty (a chunk of a stream starts at
    first_row; the rest of an epoch that Ctrl-C stopped is the rows
    ``rows`` of the data, copied).
    """
    rates: np.ndarray
    thresholds: np.ndarray
    key: np.uint64
    first_row: np.int64
    rows: np.ndarray


DOCUMENT_HIDDEN = HiddenActivations(np.empty(0, np.int64), np.empty(0, np.float64))
NO_DROPOUT = Dropout(np.empty(0, np.float64), np.empty(0, np.uint64), np.uint64(0), np.int64(0),
                     np.empty(0, np.int64))


class Objective(NamedTuple):
    """What the epoch drivers minimise, and how the hidden layers act.

    rule: one of the four rules above. decay: the factor 1 - eta lmbda / n
    of the L2 step w <- decay w - (eta / m) sum_n dC_n/dw (biases are not
    decayed), of the network's dtype; exactly 1 without L2, and then the
    step is the plain one. sample_weights: (N,) of the network's dtype, the
    weight s_n that multiplies sample n's cost and gradient, or (0,) for
    none (every s_n = 1). hidden: the hidden layers' activations; dropout:
    their dropout (both default to the design document's network).
    optimizer: the step rule and its state (§13, ``optimizer.Optimizer``;
    plain SGD by default, whose step the gradient kernels take with the
    decay above; a rule with state steps each layer's rows after their
    gradient, with L2 coupled in and decay 1).
    """
    rule: int
    decay: float
    sample_weights: np.ndarray
    hidden: HiddenActivations = DOCUMENT_HIDDEN
    dropout: Dropout = NO_DROPOUT
    optimizer: Optimizer = PLAIN_SGD


def plain_objective(dtype, rule=QUADRATIC_SIGMOID, hidden=DOCUMENT_HIDDEN) -> Objective:
    """An Objective without decay, weights or dropout (the hidden layers'
    activations ``hidden``): the full network's, as feedforward runs it."""
    dtype = np.dtype(dtype)
    return Objective(np.int64(rule), dtype.type(1.0), np.empty(0, dtype), hidden)


@jit(inline=True)
def activates_output(rule):
    """Whether the output layer applies f (else a^(l) = z^(l))."""
    return rule != QUADRATIC_IDENTITY


@jit(inline=True)
def output_activation(rule):
    """The activation code of the output layer of a rule (§10, §11)."""
    if rule == QUADRATIC_IDENTITY:
        return IDENTITY
    if rule == CROSS_ENTROPY_SOFTMAX:
        return SOFTMAX
    if rule == POISSON_EXP:
        return EXP
    return LOGISTIC


@jit(inline=True)
def layer_activation(objective, i, n_layers):
    """The activation code of layer i (1..n_layers): the output rule's for
    layer l, the hidden layer's otherwise (logistic if none is given)."""
    if i == n_layers:
        return output_activation(objective.rule)
    codes = objective.hidden.codes
    return codes[i - 1] if i <= codes.shape[0] else LOGISTIC


@jit(inline=True)
def layer_slope(objective, i, like):
    """Leaky ReLU's slope of hidden layer i, of ``like``'s dtype (0 for
    the output layer, and without slopes)."""
    slopes = objective.hidden.slopes
    return cast_like(slopes[i - 1] if i <= slopes.shape[0] else 0.0, like)


@jit(inline=True)
def layer_dropout(objective, i, n_layers):
    """The dropout rate p of layer i (0 for the output layer and without
    dropout) and its threshold."""
    rates = objective.dropout.rates
    if i >= n_layers or i > rates.shape[0]:
        return 0.0, np.uint64(0)
    return rates[i - 1], objective.dropout.thresholds[i - 1]


@jit(inline=True)
def output_cost(a, y, rule):
    """§3, §10, §11, §15: the cost term of one output neuron, in a's dtype."""
    if rule == POISSON_EXP:
        # §15, the half Poisson deviance y ln(y / a) - y + a (0 ln 0 = 0)
        if y != 0:
            return y * (np.log(y) - np.log(max(a, cast_like(LOG_FLOOR, a)))) - y + a
        return a
    if rule == CROSS_ENTROPY_SOFTMAX:
        # -y ln a, taken only where y is nonzero (0 ln 0 = 0)
        if y != 0:
            return -y * np.log(max(a, cast_like(LOG_FLOOR, a)))
        return cast_like(0.0, a)
    if rule == CROSS_ENTROPY_SIGMOID:
        floor = cast_like(LOG_FLOOR, a)
        one = cast_like(1.0, a)
        cost = cast_like(0.0, a)
        # Each term only where its factor is nonzero: 0 ln 0 is 0 here, as
        # the limit, not NaN.
        if y != 0:
            cost -= y * np.log(max(a, floor))
        if y != one:
            cost -= (one - y) * np.log(max(one - a, floor))
        return cost
    diff = a - y
    return cast_like(0.5, a) * diff * diff


@jit(inline=True)
def output_delta_value(a, y, rule):
    """§5, §10, §11, §15: dC/dz_j^(l) of one output neuron (a_j already the
    softmax of the row for CROSS_ENTROPY_SOFTMAX)."""
    diff = a - y
    if rule == QUADRATIC_SIGMOID:
        return diff * a * (cast_like(1.0, a) - a)
    return diff


@jit(inline=True)
def sample_weight(sample_weights, source, like):
    """s_n of sample ``source`` (row of the training set): 1 when the
    epoch has no weights."""
    if sample_weights.shape[0] == 0:
        return cast_like(1.0, like)
    return sample_weights[source]
