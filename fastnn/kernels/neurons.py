"""A layer's activation, its derivative and its dropout, for the fast
kernels (docs/theory.md §2, §4, §11, §12): what happens to a layer's
weighted sums once the blocked loops have computed them, and to its
deltas once the backward sums have.

``layer_rule`` reads what layer i does from the epoch's ``Objective``
(its activation code and slope, its dropout) into a ``LayerRule``, which
the kernels hand down instead of the older flag ``activate``. Every
function here branches on the rule once, outside its loops: each loop is
one activation's, and vectorizes as the logistic's did. Without dropout
and with the logistic, the loops are those of before, number for number.

Softmax (an output layer) needs a sample's whole row: ``activate_rows``
(which may be given a part of the neurons j) leaves z + b, and whoever
completes the layer calls ``complete_rows``; the one-sample functions
have the whole row and apply it at once.

Dropout's masks are drawn again in the backward pass from the generator
(``fastnn.kernels.dropout``) rather than stored: the thinned activation
a~ = D a that the kernels keep is 0 for a dropped unit, which some f' rules
would read as a kept value (§12).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit
from .activation import (EXP, LEAKY_RELU, LOGISTIC, RELU, SOFTMAX, TANH, activate_row,
                         cast_like, exp_row, leaky_relu, relu, sigmoid_in_loop, softmax_row,
                         tanh_in_loop)
from .dropout import sample_key, unit_bits
from .objective import layer_activation, layer_dropout, layer_slope

__all__ = ["LayerRule", "layer_rule", "plain_rule", "NO_ROWS", "row_key", "sample_key_of",
           "activate_rows", "complete_rows", "scale_by_derivative", "activate_sample",
           "scale_sample_by_derivative", "thinned_derivative"]


class LayerRule(NamedTuple):
    """What layer i does with its weighted sums and deltas (``layer_rule``).

    code, slope: its activation (``activation``'s code; leaky ReLU's slope,
    of the network's dtype). threshold, scale, keep: its dropout
    (``dropout.dropout_threshold`` of the rate p, 0 for none; 1 / (1 - p);
    1 - p, of the network's dtype). first_unit: u of its neuron 0 among the
    hidden units. key, first_row, row_map: the epoch's dropout key, and how
    a row n of the epoch's inputs maps to the row of the whole training set
    that draws its masks: first_row + row_map[n], or first_row + n when
    row_map is empty (``objective.Dropout``).
    """
    code: int
    slope: float
    threshold: np.uint64
    scale: float
    keep: float
    first_unit: int
    key: np.uint64
    first_row: int
    row_map: np.ndarray


@jit(inline=True)
def layer_rule(objective, sizes, i, like, drop):
    """The LayerRule of layer i (1..l) of an epoch's objective, its floats
    of ``like``'s dtype; without dropout unless ``drop`` (training: the
    forward and backward passes of feedforward, predict and gradient never
    drop, §12)."""
    n_layers = len(sizes) - 1
    rate, threshold = layer_dropout(objective, i, n_layers)
    if not drop:
        rate, threshold = 0.0, np.uint64(0)
    first_unit = 0
    for h in range(1, i):
        first_unit += sizes[h]
    dropout = objective.dropout
    return LayerRule(layer_activation(objective, i, n_layers), layer_slope(objective, i, like),
                     threshold, cast_like(1.0 / (1.0 - rate), like), cast_like(1.0 - rate, like),
                     first_unit, dropout.key, dropout.first_row, dropout.rows)


# The rows argument of a call without dropout (never read).
NO_ROWS = np.empty(0, np.int64)


def plain_rule(code, dtype, slope=0.0) -> LayerRule:
    """A LayerRule without dropout, for calls of the layer kernels outside
    an epoch (tests, benchmarks): activation ``code`` (True and False read
    as LOGISTIC and IDENTITY), leaky slope ``slope``, in ``dtype``."""
    dtype = np.dtype(dtype)
    return LayerRule(np.int64(code), dtype.type(slope), np.uint64(0), dtype.type(1),
                     dtype.type(1), np.int64(0), np.uint64(0), np.int64(0), NO_ROWS)


@jit(inline=True)
def row_key(rule, row):
    """The dropout generator's key of the sample in row ``row`` of the
    epoch's inputs (§12): key(s, e, n) for its row n of the training set."""
    mapped = rule.row_map[row] if rule.row_map.shape[0] > 0 else row
    return sample_key(rule.key, rule.first_row + mapped)


@jit(inline=True)
def sample_key_of(objective, rule, row):
    """row_key of a sample when the epoch has dropout (else 0, not drawn):
    the per-sample loops compute it once per sample for every layer."""
    if objective.dropout.rates.shape[0] == 0:
        return np.uint64(0)
    return row_key(rule, row)


@jit(inline=True)
def _drop(row, key, first_unit, threshold, scale):
    """row[k] <- D_k row[k] (§12), D_k = scale for a kept unit, else 0."""
    zero = cast_like(0.0, row)
    for k in range(row.shape[0]):
        row[k] = row[k] * scale if unit_bits(key, first_unit + k) >= threshold else zero


@jit
def activate_rows(b, a, n_begin, n_end, j_begin, j_end, rule, rows):
    """§1's bias and f, and §12's dropout, for the samples n_begin..n_end-1
    and the neurons j_begin..j_end-1, which hold weighted sums:
    a[n, j] <- D_nj f(z[n, j] + b[j]).

    f is the rule's activation (§2, §11); for SOFTMAX the bare z + b, which
    ``complete_rows`` turns into the softmax once every neuron of the row
    is done. D: dropout's factor of the sample in row rows[n] of the
    epoch's inputs (no dropout: D = 1, and rows is not read).
    """
    # (Slices, so that the loop index starts at 0: see deferred_step.)
    bias = b[j_begin:j_end]
    code = rule.code
    if code == LOGISTIC:
        for n in range(n_begin, n_end):
            row = a[n, j_begin:j_end]
            for j in range(row.shape[0]):
                row[j] = sigmoid_in_loop(row[j] + bias[j])
    elif code == TANH:
        for n in range(n_begin, n_end):
            row = a[n, j_begin:j_end]
            for j in range(row.shape[0]):
                row[j] = tanh_in_loop(row[j] + bias[j])
    elif code == RELU:
        for n in range(n_begin, n_end):
            row = a[n, j_begin:j_end]
            for j in range(row.shape[0]):
                row[j] = relu(row[j] + bias[j])
    elif code == LEAKY_RELU:
        slope = rule.slope
        for n in range(n_begin, n_end):
            row = a[n, j_begin:j_end]
            for j in range(row.shape[0]):
                row[j] = leaky_relu(row[j] + bias[j], slope)
    else:
        for n in range(n_begin, n_end):
            row = a[n, j_begin:j_end]
            for j in range(row.shape[0]):
                row[j] += bias[j]
    if rule.threshold != 0:
        for n in range(n_begin, n_end):
            _drop(a[n, j_begin:j_end], row_key(rule, rows[n]), rule.first_unit + j_begin,
                  rule.threshold, rule.scale)


@jit
def complete_rows(a, n_begin, n_end, rule):
    """§11: the softmax of rows n_begin..n_end-1 of a SOFTMAX layer whose
    weighted sums (bias added) are all computed; nothing for other
    activations."""
    if rule.code == SOFTMAX:
        for n in range(n_begin, n_end):
            softmax_row(a[n])
    elif rule.code == EXP:
        for n in range(n_begin, n_end):
            exp_row(a[n])


@jit(inline=True)
def thinned_derivative(a, code, slope, keep, scale):
    """§12: D f'(z) of a kept unit from its thinned activation a~ = D a
    (D = scale = 1 / (1 - p), keep = 1 - p, so that a = keep a~):
    logistic a~ (1 - keep a~); tanh scale (1 - keep a~)(1 + keep a~); relu
    scale if a~ > 0, else 0; leaky relu scale if a~ > 0, else scale slope;
    identity scale."""
    one = cast_like(1.0, a)
    if code == LOGISTIC:
        return a * (one - keep * a)
    if code == TANH:
        return scale * (one - keep * a) * (one + keep * a)
    if code == RELU:
        return scale if a > 0 else cast_like(0.0, a)
    if code == LEAKY_RELU:
        return scale if a > 0 else scale * slope
    return scale


@jit
def scale_by_derivative(a_prev, delta_prev, n_begin, n_end, rule, rows):
    """§6's factor f'(z_k^(i-1)) (§4, §11), and §12's D_k with dropout, for
    rows n_begin..n_end-1: delta_prev[n, k] holds sum_j dC/dz_j^(i) w_jk and
    becomes D_k f'(z_k) times it, f' taken from the kept activation
    a_prev[n, k] (``activation.activation_derivative``; with dropout
    ``thinned_derivative`` of a~). rule: layer i-1's."""
    code = rule.code
    one = cast_like(1.0, a_prev)
    zero = cast_like(0.0, a_prev)
    if rule.threshold == 0:
        if code == LOGISTIC:
            for n in range(n_begin, n_end):
                for k in range(a_prev.shape[1]):
                    a_nk = a_prev[n, k]
                    delta_prev[n, k] *= a_nk * (one - a_nk)
        elif code == TANH:
            for n in range(n_begin, n_end):
                for k in range(a_prev.shape[1]):
                    a_nk = a_prev[n, k]
                    delta_prev[n, k] *= (one - a_nk) * (one + a_nk)
        elif code == RELU:
            for n in range(n_begin, n_end):
                for k in range(a_prev.shape[1]):
                    delta_prev[n, k] = delta_prev[n, k] if a_prev[n, k] > 0 else zero
        elif code == LEAKY_RELU:
            slope = rule.slope
            for n in range(n_begin, n_end):
                for k in range(a_prev.shape[1]):
                    delta_prev[n, k] *= one if a_prev[n, k] > 0 else slope
        return
    for n in range(n_begin, n_end):
        _scale_thinned(a_prev[n], delta_prev[n], rule, row_key(rule, rows[n]))


@jit(inline=True)
def _scale_thinned(a, delta, rule, key):
    """delta[k] *= D_k f'(z_k) from the thinned a~ = a[k] (§12), D drawn
    again from the generator: 0 for a dropped unit."""
    code, slope, keep, scale = rule.code, rule.slope, rule.keep, rule.scale
    threshold, first_unit = rule.threshold, rule.first_unit
    zero = cast_like(0.0, a)
    for k in range(a.shape[0]):
        factor = thinned_derivative(a[k], code, slope, keep, scale)
        delta[k] = delta[k] * factor if unit_bits(key, first_unit + k) >= threshold else zero


@jit(inline=True)
def activate_sample(row, rule, key):
    """§1's f (§2, §11: the softmax for SOFTMAX, exp for EXP, §15) and
    §12's dropout for one sample's layer: row holds z + b and becomes
    D f(z + b), one loop per activation (``activation.activate_row``).
    key: the sample's ``row_key`` (read only with dropout)."""
    activate_row(row, rule.code, rule.slope)
    if rule.threshold != 0:
        _drop(row, key, rule.first_unit, rule.threshold, rule.scale)


@jit(inline=True)
def scale_sample_by_derivative(a_prev, delta_prev, rule, key):
    """§6's factor for one sample (§4, §11; §12 with dropout):
    delta_prev[k] *= D_k f'(z_k) from the kept a_prev[k], as
    scale_by_derivative. rule: layer i-1's; key: the sample's
    ``row_key``."""
    code = rule.code
    one = cast_like(1.0, a_prev)
    zero = cast_like(0.0, a_prev)
    if rule.threshold != 0:
        _scale_thinned(a_prev, delta_prev, rule, key)
    elif code == LOGISTIC:
        for k in range(a_prev.shape[0]):
            delta_prev[k] *= a_prev[k] * (one - a_prev[k])
    elif code == TANH:
        for k in range(a_prev.shape[0]):
            delta_prev[k] *= (one - a_prev[k]) * (one + a_prev[k])
    elif code == RELU:
        for k in range(a_prev.shape[0]):
            delta_prev[k] = delta_prev[k] if a_prev[k] > 0 else zero
    elif code == LEAKY_RELU:
        slope = rule.slope
        for k in range(a_prev.shape[0]):
            delta_prev[k] *= one if a_prev[k] > 0 else slope
