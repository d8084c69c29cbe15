"""The step rules of docs/theory.md §13: momentum, Nesterov's momentum and
Adam, with L2 coupled into the gradient, as runtime rules.

An epoch's ``Optimizer`` carries a code (``SGD``, ``MOMENTUM``,
``NESTEROV``, ``ADAM``), its scalars and its state arrays, laid out like
the flat parameter vector (§8) so that element p of every array belongs to
parameter p. The kernels read the code at run time, like ``objective``'s
output rules and ``activation``'s codes: one compiled epoch serves every
optimizer.

With g = dC/dp, the batch's gradient (1/m) sum_n s_n dC_n/dp of §7 and §10,
L2 enters as scikit-learn adds it, coupled into the gradient of the
weights (biases have none): g <- g + c w, c = lmbda / n (``l2``). Then

    MOMENTUM   v <- mu v - eta g                       p <- p + v
    NESTEROV   v <- mu v - eta g                       p <- p + mu v - eta g
    ADAM       m <- b1 m + (1 - b1) g                   (t = 1, 2, ...: the step)
               s <- b2 s + (1 - b2) g^2
               eta_t = eta sqrt(1 - b2^t) / (1 - b1^t)  p <- p - eta_t m / (sqrt(s) + eps)

``SGD`` is the plain step of §7 (p <- p - eta g). The epoch drivers take
it as they always did, fused into the gradient kernels with L2 as the
decay factor of §10; ``step_range`` also knows it (with L2 coupled, the
same step: p - eta (g + c p) = (1 - eta c) p - eta g), for the passes that
take the step apart from the gradient.

Adam's t counts the steps since the optimizer began: ``steps[0]`` steps
were taken before the epoch, and batch b of the epoch (from 0) takes step
t = steps[0] + b + 1 (``adam_rate``), so that any part of an epoch (a
thread's rows, the layer-1 step that the shared epoch takes one batch
late) finds its t from the batch alone. The caller adds the epoch's
batches to steps[0] afterwards (``fastnn.plan.EpochPlan.run``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit
from .activation import cast_like

__all__ = ["SGD", "MOMENTUM", "NESTEROV", "ADAM", "OPTIMIZER_CODES", "Optimizer",
           "plain_optimizer", "PLAIN_SGD", "step_eta", "keeps_state", "adam_rate", "step_range", "step_flat",
           "step_layer_rows", "weight_count"]

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3

OPTIMIZER_CODES = {"sgd": SGD, "momentum": MOMENTUM, "nesterov": NESTEROV, "adam": ADAM}


class Optimizer(NamedTuple):
    """The step rule of an epoch and its state (docs/theory.md §13).

    code: SGD, MOMENTUM, NESTEROV or ADAM. momentum: mu (MOMENTUM,
    NESTEROV) or b1 (ADAM). beta_2, epsilon: Adam's b2 and eps. l2: the
    coefficient c = lmbda / n of L2 coupled into the weights' gradient,
    g <- g + c w (0: none). first: (n_params,) the velocity v, or Adam's
    first moment m; second: (n_params,) Adam's second moment s; (0,) where
    the rule has none. Both of the parameters' dtype. steps: (1,) int64,
    the steps taken before this epoch (Adam's t).
    """
    code: int
    momentum: float
    beta_2: float
    epsilon: float
    l2: float
    first: np.ndarray
    second: np.ndarray
    steps: np.ndarray


def plain_optimizer(dtype) -> Optimizer:
    """The plain SGD step of §7: no state (empty arrays of the parameters'
    dtype, so that an epoch compiled for it serves every rule)."""
    dtype = np.dtype(dtype)
    return Optimizer(np.int64(SGD), 0.0, 0.0, 0.0, 0.0, np.empty(0, dtype), np.empty(0, dtype),
                     np.zeros(1, np.int64))


# The Objective's default (float64 arrays; EpochPlan gives every epoch the
# optimizer of its network's dtype).
PLAIN_SGD = plain_optimizer(np.float64)


@jit(inline=True)
def keeps_state(optimizer):
    """Whether the rule keeps state between steps (takes its step apart
    from the gradient kernels)."""
    return optimizer.code != SGD


@jit(inline=True)
def step_eta(optimizer, eta):
    """The eta the gradient kernels take: the plain step's, or 0 (the
    gradient alone) when the rule steps apart (``step_layer_rows``)."""
    # (eta - eta, not eta * 0: of eta's own type, so that a float32 eta
    # stays float32 and the plain path compiles as it did)
    return eta - eta if keeps_state(optimizer) else eta


@jit
def adam_rate(eta, beta_1, beta_2, t):
    """§13: Adam's bias-corrected rate of step t, in float64 as scikit-learn
    computes it: eta sqrt(1 - b2^t) / (1 - b1^t)."""
    t = np.float64(t)
    return eta * np.sqrt(1.0 - beta_2 ** t) / (1.0 - beta_1 ** t)


@jit
def weight_count(sizes):
    """The number of weights, which come first in the flat vector (§8)."""
    n = 0
    for i in range(1, len(sizes)):
        n += sizes[i] * sizes[i - 1]
    return n


@jit
def step_range(params, grad, optimizer, eta, batch, begin, end, l2):
    """§13: the step of ``optimizer`` for the parameters begin..end-1 of
    the flat vector (their gradient in ``grad`` at the same places), at
    batch ``batch`` of the epoch (Adam's t = steps[0] + batch + 1), with
    the L2 coefficient ``l2`` (the optimizer's for weights, 0 for biases).

    Each element is stepped by the same arithmetic wherever the range
    begins or ends, so the result does not depend on how the vector is
    cut between calls or threads."""
    p = params[begin:end]
    g = grad[begin:end]
    code = optimizer.code
    c = cast_like(l2, params)
    rate = cast_like(eta, params)
    if code == ADAM:
        m = optimizer.first[begin:end]
        s = optimizer.second[begin:end]
        b1 = cast_like(optimizer.momentum, params)
        b2 = cast_like(optimizer.beta_2, params)
        one_minus_b1 = cast_like(1.0 - optimizer.momentum, params)
        one_minus_b2 = cast_like(1.0 - optimizer.beta_2, params)
        eps = cast_like(optimizer.epsilon, params)
        # eta as the drivers hold it (in the parameters' dtype; some pass it
        # so, some as float64), then eta_t in float64: the same in each
        rate_t = cast_like(adam_rate(np.float64(rate), optimizer.momentum, optimizer.beta_2,
                                     optimizer.steps[0] + batch + 1), params)
        for q in range(p.shape[0]):
            g_q = g[q] + c * p[q]
            m_q = b1 * m[q] + one_minus_b1 * g_q
            s_q = b2 * s[q] + one_minus_b2 * (g_q * g_q)
            m[q] = m_q
            s[q] = s_q
            p[q] += -rate_t * m_q / (np.sqrt(s_q) + eps)
    elif code == NESTEROV:
        v = optimizer.first[begin:end]
        mu = cast_like(optimizer.momentum, params)
        for q in range(p.shape[0]):
            g_q = g[q] + c * p[q]
            v_q = mu * v[q] - rate * g_q
            v[q] = v_q
            p[q] += mu * v_q - rate * g_q
    elif code == MOMENTUM:
        v = optimizer.first[begin:end]
        mu = cast_like(optimizer.momentum, params)
        for q in range(p.shape[0]):
            v_q = mu * v[q] - rate * (g[q] + c * p[q])
            v[q] = v_q
            p[q] += v_q
    else:
        for q in range(p.shape[0]):
            p[q] -= rate * (g[q] + c * p[q])


@jit
def step_flat(params, grad, sizes, optimizer, eta, batch):
    """§13: the step of every parameter, one pass over the flat vector after
    the whole gradient (weights with the L2 term, then biases without)."""
    n_weights = weight_count(sizes)
    step_range(params, grad, optimizer, eta, batch, np.int64(0), n_weights, optimizer.l2)
    step_range(params, grad, optimizer, eta, batch, n_weights, params.shape[0], 0.0)


@jit
def step_layer_rows(params, grad, sizes, i, j_begin, j_end, optimizer, eta, batch):
    """§13: the step of rows j_begin..j_end-1 of layer i (their weights
    w_jk for every k, and their biases b_j), right after their gradient
    (the rows are still in cache). The weights of a row range are one
    contiguous range of the flat vector, and so are their biases (§8)."""
    fan_in = sizes[i - 1]
    start = 0
    for h in range(1, i):
        start += sizes[h] * sizes[h - 1]
    step_range(params, grad, optimizer, eta, batch, start + j_begin * fan_in,
               start + j_end * fan_in, optimizer.l2)
    bias = weight_count(sizes)
    for h in range(1, i):
        bias += sizes[h]
    step_range(params, grad, optimizer, eta, batch, bias + j_begin, bias + j_end, 0.0)
