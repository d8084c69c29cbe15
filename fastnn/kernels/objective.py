"""What an epoch minimises (docs/theory.md §3, §5 and §10): the output
layer and the cost, L2 weight decay, and per-sample weights.

Three output rules, each a pair (cost, output activation) with its own
output delta dC/dz_j^(l) (§5, §10):

=========================  ===============================  ====================
rule                       C for one sample                 dC/dz_j^(l)
=========================  ===============================  ====================
``QUADRATIC_SIGMOID``      1/2 sum_j (y_j - a_j)^2          (a_j - y_j) a_j (1 - a_j)
``CROSS_ENTROPY_SIGMOID``  -sum_j [y_j ln a_j + (1 - y_j)   a_j - y_j
                           ln(1 - a_j)]
``QUADRATIC_IDENTITY``     1/2 sum_j (y_j - a_j)^2,         a_j - y_j
                           a_j = z_j
=========================  ===============================  ====================

The cross-entropy of an identity output is not defined (ln of a z that
can be negative): ``output_rule`` refuses it.

An epoch's ``Objective`` carries the rule, the decay factor of L2
regularisation and the sample weights. Layers 1..l-1 do not depend on it:
only the output layer's activation, its delta, and the step do.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit
from .activation import cast_like

__all__ = ["QUADRATIC_SIGMOID", "CROSS_ENTROPY_SIGMOID", "QUADRATIC_IDENTITY", "COSTS",
           "OUTPUTS", "Objective", "output_rule", "plain_objective", "activates_output",
           "output_cost", "output_delta_value", "sample_weight", "LOG_FLOOR"]

QUADRATIC_SIGMOID = 0
CROSS_ENTROPY_SIGMOID = 1
QUADRATIC_IDENTITY = 2

COSTS = ("quadratic", "cross_entropy")
OUTPUTS = ("sigmoid", "identity")

# The cross-entropy takes ln of max(a, LOG_FLOOR) and of max(1 - a,
# LOG_FLOOR), so that an output pinned at exactly 0 or 1 (float32 rounds
# f(z) to 1 from z = 17) costs at most -ln(1e-37) = 85.2 per term instead of
# inf, which would read as divergence (the book's network2 uses
# np.nan_to_num, which makes it 1.8e308). 1e-37 is a normal float32.
# The delta a - y does not use the logarithm and is exact.
LOG_FLOOR = 1e-37


def output_rule(cost, output) -> int:
    """The rule constant of a (cost, output) pair; ValueError for the
    cross-entropy of an identity output, or an unknown name."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(map(repr, COSTS))}; got {cost!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}; got {output!r}")
    if cost == "cross_entropy":
        if output == "identity":
            raise ValueError(
                "cost='cross_entropy' needs output='sigmoid': the cross-entropy "
                "-[y ln a + (1 - y) ln(1 - a)] is defined for outputs a in (0, 1) only, "
                "and an identity output a = z can be any number; use cost='quadratic' "
                "with output='identity' for regression")
        return CROSS_ENTROPY_SIGMOID
    return QUADRATIC_IDENTITY if output == "identity" else QUADRATIC_SIGMOID


class Objective(NamedTuple):
    """What the epoch drivers minimise besides the layers' equations.

    rule: one of the three rules above. decay: the factor 1 - eta lmbda / n
    of the L2 step w <- decay w - (eta / m) sum_n dC_n/dw (biases are not
    decayed), of the network's dtype; exactly 1 without L2, and then the
    step is the plain one. sample_weights: (N,) of the network's dtype, the
    weight s_n that multiplies sample n's cost and gradient, or (0,) for
    none (every s_n = 1).
    """
    rule: int
    decay: float
    sample_weights: np.ndarray


def plain_objective(dtype, rule=QUADRATIC_SIGMOID) -> Objective:
    """An Objective without decay or weights."""
    dtype = np.dtype(dtype)
    return Objective(np.int64(rule), dtype.type(1.0), np.empty(0, dtype))


@jit(inline=True)
def activates_output(rule):
    """Whether the output layer applies f (else a^(l) = z^(l))."""
    return rule != QUADRATIC_IDENTITY


@jit(inline=True)
def output_cost(a, y, rule):
    """§3, §10: the cost term of one output neuron, in a's dtype."""
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
    """§5, §10: dC/dz_j^(l) of one output neuron."""
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
