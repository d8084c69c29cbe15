"""One reference kernel per equation of docs/theory.md, written as the
document's loops.

Indices as in the document: i a layer (1..l), j a neuron of layer i, k a
neuron of layer i-1, n a sample of the batch (m samples). Nothing here is
blocked, unrolled or threaded, and nothing is used for training: each fast
kernel names the equation (§N) it implements and is tested against the
reference kernel of that equation (tests/test_reference.py). The table at
the end of docs/theory.md lists them.

Shapes as in the fast kernels: a^(i) and dC/dz^(i) are (m, L_i), w^(i) is
(L_i, L_{i-1}) with w[j, k] = w_jk^(i), b^(i) is (L_i,).

A layer's activation is a code of ``fastnn.kernels.activation`` (§11);
the older flag ``activate`` reads as one (True: logistic, False:
identity).
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .layout import layer_biases, layer_rows, layer_weights
from .activation import LOGISTIC, SOFTMAX, activation_derivative, activation_value
from .dropout import sample_key, unit_bits
from .optimizer import ADAM as OPTIMIZER_ADAM, MOMENTUM as OPTIMIZER_MOMENTUM
from .optimizer import NESTEROV as OPTIMIZER_NESTEROV
from .objective import (CROSS_ENTROPY_SIGMOID, CROSS_ENTROPY_SOFTMAX, LOG_FLOOR, POISSON_EXP,
                        QUADRATIC_SIGMOID, layer_activation, layer_dropout, layer_slope)

__all__ = ["weighted_sum", "forward_layer_reference", "softmax_reference", "cost_reference",
           "output_delta_reference", "backward_delta_reference", "dropout_reference",
           "layer_gradient_reference", "step_reference", "unit_offset", "train_epoch_reference",
           "momentum_step_reference", "nesterov_step_reference", "adam_step_reference",
           "optimizer_step_reference"]


@jit
def weighted_sum(w, b, a_prev, n, j):
    """§1: z_j^(i) = sum_k w_jk^(i) a_k^(i-1) + b_j^(i), for sample n."""
    z = 0.0
    for k in range(w.shape[1]):
        z += w[j, k] * a_prev[n, k]
    return z + b[j]


@jit
def forward_layer_reference(w, b, a_prev, a, activation=LOGISTIC, slope=0.0):
    """§1, §2 and §11: a_j^(i) = f(z_j^(i)) for every sample n and neuron j,
    f the activation ``activation`` (a code; leaky ReLU's slope ``slope``);
    a_j^(l) = z_j^(l) for an identity output (§10); for a softmax output
    a_j^(l) = exp(z_j) / sum_k exp(z_k) over the sample's row (§11)."""
    for n in range(a_prev.shape[0]):
        for j in range(w.shape[0]):
            z = weighted_sum(w, b, a_prev, n, j)
            a[n, j] = z if activation == SOFTMAX else activation_value(z, activation, slope)
        if activation == SOFTMAX:
            softmax_reference(a, n)


@jit
def softmax_reference(a, n):
    """§11: row n of a holds z_j^(l); it becomes a_j = exp(z_j - z_max) /
    sum_k exp(z_k - z_max), z_max = max_k z_k (the same numbers as without
    z_max, which keeps exp from overflowing)."""
    z_max = a[n, 0]
    for j in range(1, a.shape[1]):
        z_max = max(z_max, a[n, j])
    total = 0.0
    for j in range(a.shape[1]):
        total += np.exp(a[n, j] - z_max)
    for j in range(a.shape[1]):
        a[n, j] = np.exp(a[n, j] - z_max) / total


@jit
def cost_reference(a, y, n, rule):
    """§3: C_n = 1/2 sum_j (y_j - a_j^(l))^2 for sample n; §10 for the
    cross-entropy: C_n = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)], each
    term 0 where its factor is 0 and ln taken of at least LOG_FLOOR; §11
    for a softmax output: C_n = -sum_j y_j ln a_j, likewise; §15 for the
    half Poisson deviance: C_n = sum_j [y_j ln(y_j / a_j) - y_j + a_j]
    (0 ln 0 = 0)."""
    cost = 0.0
    for j in range(a.shape[1]):
        if rule == POISSON_EXP:
            if y[n, j] != 0:
                cost += y[n, j] * np.log(y[n, j] / max(a[n, j], LOG_FLOOR))
            cost += a[n, j] - y[n, j]
        elif rule == CROSS_ENTROPY_SIGMOID or rule == CROSS_ENTROPY_SOFTMAX:
            if y[n, j] != 0:
                cost -= y[n, j] * np.log(max(a[n, j], LOG_FLOOR))
            if y[n, j] != 1 and rule == CROSS_ENTROPY_SIGMOID:
                cost -= (1.0 - y[n, j]) * np.log(max(1.0 - a[n, j], LOG_FLOOR))
        else:
            cost += 0.5 * (y[n, j] - a[n, j]) ** 2
    return cost


@jit
def output_delta_reference(a, y, delta, rule):
    """§5: dC/dz_j^(l) = (a_j^(l) - y_j) f'(z_j^(l)), with f'(z) = a (1 - a) (§4);
    §10: dC/dz_j^(l) = a_j^(l) - y_j for the cross-entropy of a sigmoid
    output and for the quadratic cost of an identity output; §11: the same
    for the log-likelihood of a softmax output (sum_j y_j = 1)."""
    for n in range(a.shape[0]):
        for j in range(a.shape[1]):
            if rule == QUADRATIC_SIGMOID:
                delta[n, j] = (a[n, j] - y[n, j]) * a[n, j] * (1.0 - a[n, j])
            else:
                delta[n, j] = a[n, j] - y[n, j]


@jit
def backward_delta_reference(w, delta, a_prev, delta_prev, activation=LOGISTIC, slope=0.0):
    """§6 (erratum 2): dC/dz_k^(i-1) = f'(z_k^(i-1)) sum_j dC/dz_j^(i) w_jk^(i),
    f' taken from the activation a_prev (§4, §11: of layer i-1's
    activation ``activation``). With dropout (§12) a_prev is a^(i-1)
    before it, and ``dropout_reference`` multiplies the result by D."""
    for n in range(delta.shape[0]):
        for k in range(w.shape[1]):
            total = 0.0
            for j in range(w.shape[0]):
                total += delta[n, j] * w[j, k]
            f_prime = activation_derivative(np.float64(a_prev[n, k]), activation, slope)
            delta_prev[n, k] = f_prime * total


@jit
def dropout_reference(values, rows, first_row, key, first_unit, threshold, scale):
    """§12: values[n, k] <- D_nk values[n, k], with D_nk = scale = 1 / (1 - p)
    if unit first_unit + k of the sample in row first_row + rows[n] of the
    training set is kept (``dropout``'s generator, epoch key ``key``), else
    0. Forward on a^(i) (a~ = D a), backward on dC/dz^(i) (the same D)."""
    for n in range(values.shape[0]):
        row_key = sample_key(key, first_row + rows[n])
        for k in range(values.shape[1]):
            if unit_bits(row_key, first_unit + k) >= threshold:
                values[n, k] = scale * values[n, k]
            else:
                values[n, k] = 0.0


@jit
def layer_gradient_reference(delta, a_prev, grad_w, grad_b, scale):
    """§7 (erratum 3), over a batch with ``scale`` = 1/m:
    dC/dw_jk^(i) = scale sum_n dC/dz_j^(i)[n] a_k^(i-1)[n],
    dC/db_j^(i) = scale sum_n dC/dz_j^(i)[n]."""
    for j in range(grad_w.shape[0]):
        for k in range(grad_w.shape[1]):
            total = 0.0
            for n in range(delta.shape[0]):
                total += delta[n, j] * a_prev[n, k]
            grad_w[j, k] = scale * total
        total = 0.0
        for n in range(delta.shape[0]):
            total += delta[n, j]
        grad_b[j] = scale * total


@jit
def step_reference(params, grad, eta, decay, n_weights):
    """§9, the step: every parameter p <- p - eta dC/dp (§8's flat order);
    §10, L2: the n_weights weights (which come first) p <- decay p - eta dC/dp."""
    for p in range(params.shape[0]):
        if p < n_weights:
            params[p] = decay * params[p] - eta * grad[p]
        else:
            params[p] -= eta * grad[p]


@jit
def unit_offset(sizes, i):
    """§12: the number u of hidden layer i's unit 0 among the network's
    hidden units, L_1 + ... + L_{i-1} (the dropout generator's counter)."""
    u = 0
    for h in range(1, i):
        u += sizes[h]
    return u


@jit
def train_epoch_reference(params, grad, sizes, inputs, targets, order, batch_size, eta,
                          activations, deltas, batch_targets, objective):
    """§9: one epoch of mini-batch gradient descent from the equations above,
    in the textbook's order: for each batch, the forward pass for i = 1..l,
    the output delta, the recursion for i = l..2, every layer's gradient,
    then one step. With an objective (§10): the output rule, sample n's
    delta^(l) and cost multiplied by its weight s_n, and the decayed step;
    each layer's activation (§11); dropout (§12): the thinned activations
    a~^(i) = D^(i) a^(i) feed layer i+1 and its gradient, and
    dC/dz^(i) is multiplied by the same D^(i).
    Arguments and buffers as ``train_epoch``'s (layout kernels); returns
    sum_n s_n C_n. With dropout, the thinned activations get a buffer of
    their own, allocated here (this kernel is a reference, not a driver)."""
    n_layers = len(sizes) - 1
    rule = objective.rule
    weighted = objective.sample_weights.shape[0] > 0
    dropout = objective.dropout
    any_dropout = False
    for i in range(1, n_layers):
        any_dropout = any_dropout or layer_dropout(objective, i, n_layers)[0] > 0
    thinned = np.empty_like(activations) if any_dropout else activations
    n_weights = 0
    for i in range(1, n_layers + 1):
        n_weights += sizes[i] * sizes[i - 1]
    cost = 0.0
    for start in range(0, inputs.shape[0], batch_size):
        m = min(batch_size, inputs.shape[0] - start)
        rows = order[start:start + m]
        if dropout.rows.shape[0] > 0:
            rows = dropout.rows[rows]
        x = layer_rows(activations, sizes, 0, m, batch_size)
        y = batch_targets[:m]
        for n in range(m):
            for k in range(sizes[0]):
                x[n, k] = inputs[order[start + n], k]
            for j in range(sizes[n_layers]):
                y[n, j] = targets[order[start + n], j]
        for i in range(1, n_layers + 1):
            a_prev = x if i == 1 else layer_rows(thinned, sizes, i - 1, m, batch_size)
            a = layer_rows(activations, sizes, i, m, batch_size)
            forward_layer_reference(layer_weights(params, sizes, i),
                                    layer_biases(params, sizes, i), a_prev, a,
                                    layer_activation(objective, i, n_layers),
                                    layer_slope(objective, i, 1.0))
            rate, threshold = layer_dropout(objective, i, n_layers)
            if i < n_layers and any_dropout:
                a_thinned = layer_rows(thinned, sizes, i, m, batch_size)
                a_thinned[:, :] = a
                if rate > 0:
                    dropout_reference(a_thinned, rows, dropout.first_row, dropout.key,
                                      unit_offset(sizes, i), threshold, 1.0 / (1.0 - rate))
        a_out = layer_rows(activations, sizes, n_layers, m, batch_size)
        delta_out = layer_rows(deltas, sizes, n_layers, m, batch_size)
        output_delta_reference(a_out, y, delta_out, rule)
        for n in range(m):
            s = objective.sample_weights[order[start + n]] if weighted else 1.0
            cost += s * cost_reference(a_out, y, n, rule)
            for j in range(sizes[n_layers]):
                delta_out[n, j] *= s
        for i in range(n_layers, 1, -1):
            delta_prev = layer_rows(deltas, sizes, i - 1, m, batch_size)
            backward_delta_reference(layer_weights(params, sizes, i),
                                     layer_rows(deltas, sizes, i, m, batch_size),
                                     layer_rows(activations, sizes, i - 1, m, batch_size),
                                     delta_prev, layer_activation(objective, i - 1, n_layers),
                                     layer_slope(objective, i - 1, 1.0))
            rate, threshold = layer_dropout(objective, i - 1, n_layers)
            if rate > 0:
                dropout_reference(delta_prev, rows, dropout.first_row, dropout.key,
                                  unit_offset(sizes, i - 1), threshold, 1.0 / (1.0 - rate))
        for i in range(1, n_layers + 1):
            layer_gradient_reference(layer_rows(deltas, sizes, i, m, batch_size),
                                     x if i == 1 else layer_rows(thinned, sizes, i - 1, m,
                                                                 batch_size),
                                     layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                                     1.0 / m)
        optimizer_step_reference(params, grad, eta, objective, n_weights, start // batch_size)
    return cost


@jit
def optimizer_step_reference(params, grad, eta, objective, n_weights, batch):
    """§9's step by the objective's optimizer (§13) at batch ``batch`` of
    the epoch: the plain step with §10's decay, or the reference step of
    momentum, Nesterov's momentum or Adam (t = steps + batch + 1)."""
    optimizer = objective.optimizer
    code = optimizer.code
    if code == OPTIMIZER_MOMENTUM:
        momentum_step_reference(params, grad, optimizer.first, eta, optimizer.momentum,
                                optimizer.l2, n_weights)
    elif code == OPTIMIZER_NESTEROV:
        nesterov_step_reference(params, grad, optimizer.first, eta, optimizer.momentum,
                                optimizer.l2, n_weights)
    elif code == OPTIMIZER_ADAM:
        adam_step_reference(params, grad, optimizer.first, optimizer.second,
                            optimizer.steps[0] + batch + 1, eta, optimizer.momentum,
                            optimizer.beta_2, optimizer.epsilon, optimizer.l2, n_weights)
    else:
        step_reference(params, grad, eta, objective.decay, n_weights)


@jit
def _coupled_gradient(params, grad, p, l2, n_weights):
    """§13: dC/dp with L2 coupled in, + c p for the n_weights weights (which
    come first, §8), none for the biases."""
    if p < n_weights:
        return grad[p] + l2 * params[p]
    return grad[p]


@jit
def momentum_step_reference(params, grad, velocity, eta, mu, l2, n_weights):
    """§13, SGD with momentum, for every parameter p (§8's order):
    g = dC/dp (+ c p for a weight, c = l2); v_p <- mu v_p - eta g; p <- p + v_p."""
    for p in range(params.shape[0]):
        g = _coupled_gradient(params, grad, p, l2, n_weights)
        velocity[p] = mu * velocity[p] - eta * g
        params[p] += velocity[p]


@jit
def nesterov_step_reference(params, grad, velocity, eta, mu, l2, n_weights):
    """§13, SGD with Nesterov's momentum, for every parameter p:
    g = dC/dp (+ c p for a weight); v_p <- mu v_p - eta g;
    p <- p + mu v_p - eta g (v_p the new velocity)."""
    for p in range(params.shape[0]):
        g = _coupled_gradient(params, grad, p, l2, n_weights)
        velocity[p] = mu * velocity[p] - eta * g
        params[p] += mu * velocity[p] - eta * g


@jit
def adam_step_reference(params, grad, first, second, t, eta, beta_1, beta_2, epsilon, l2,
                        n_weights):
    """§13, Adam's step t (t = 1 for the first), for every parameter p:
    g = dC/dp (+ c p for a weight); m_p <- b1 m_p + (1 - b1) g;
    s_p <- b2 s_p + (1 - b2) g^2; p <- p - eta_t m_p / (sqrt(s_p) + eps),
    eta_t = eta sqrt(1 - b2^t) / (1 - b1^t)."""
    eta_t = eta * np.sqrt(1.0 - beta_2 ** t) / (1.0 - beta_1 ** t)
    for p in range(params.shape[0]):
        g = _coupled_gradient(params, grad, p, l2, n_weights)
        first[p] = beta_1 * first[p] + (1.0 - beta_1) * g
        second[p] = beta_2 * second[p] + (1.0 - beta_2) * g * g
        params[p] -= eta_t * first[p] / (np.sqrt(second[p]) + epsilon)
