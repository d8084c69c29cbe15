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
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .layout import layer_biases, layer_rows, layer_weights
from .activation import sigmoid
from .objective import CROSS_ENTROPY_SIGMOID, LOG_FLOOR, QUADRATIC_IDENTITY, QUADRATIC_SIGMOID

__all__ = ["weighted_sum", "forward_layer_reference", "cost_reference",
           "output_delta_reference", "backward_delta_reference", "layer_gradient_reference",
           "step_reference", "train_epoch_reference"]


@jit
def weighted_sum(w, b, a_prev, n, j):
    """§1: z_j^(i) = sum_k w_jk^(i) a_k^(i-1) + b_j^(i), for sample n."""
    z = 0.0
    for k in range(w.shape[1]):
        z += w[j, k] * a_prev[n, k]
    return z + b[j]


@jit
def forward_layer_reference(w, b, a_prev, a, activate):
    """§1 and §2: a_j^(i) = f(z_j^(i)) for every sample n and neuron j;
    a_j^(l) = z_j^(l) for an identity output layer (§10: not ``activate``)."""
    for n in range(a_prev.shape[0]):
        for j in range(w.shape[0]):
            z = weighted_sum(w, b, a_prev, n, j)
            a[n, j] = sigmoid(z) if activate else z


@jit
def cost_reference(a, y, n, rule):
    """§3: C_n = 1/2 sum_j (y_j - a_j^(l))^2 for sample n; §10 for the
    cross-entropy: C_n = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)], each
    term 0 where its factor is 0 and ln taken of at least LOG_FLOOR."""
    cost = 0.0
    for j in range(a.shape[1]):
        if rule == CROSS_ENTROPY_SIGMOID:
            if y[n, j] != 0:
                cost -= y[n, j] * np.log(max(a[n, j], LOG_FLOOR))
            if y[n, j] != 1:
                cost -= (1.0 - y[n, j]) * np.log(max(1.0 - a[n, j], LOG_FLOOR))
        else:
            cost += 0.5 * (y[n, j] - a[n, j]) ** 2
    return cost


@jit
def output_delta_reference(a, y, delta, rule):
    """§5: dC/dz_j^(l) = (a_j^(l) - y_j) f'(z_j^(l)), with f'(z) = a (1 - a) (§4);
    §10: dC/dz_j^(l) = a_j^(l) - y_j for the cross-entropy of a sigmoid
    output and for the quadratic cost of an identity output."""
    for n in range(a.shape[0]):
        for j in range(a.shape[1]):
            if rule == QUADRATIC_SIGMOID:
                delta[n, j] = (a[n, j] - y[n, j]) * a[n, j] * (1.0 - a[n, j])
            else:
                delta[n, j] = a[n, j] - y[n, j]


@jit
def backward_delta_reference(w, delta, a_prev, delta_prev):
    """§6 (erratum 2): dC/dz_k^(i-1) = f'(z_k^(i-1)) sum_j dC/dz_j^(i) w_jk^(i)."""
    for n in range(delta.shape[0]):
        for k in range(w.shape[1]):
            total = 0.0
            for j in range(w.shape[0]):
                total += delta[n, j] * w[j, k]
            delta_prev[n, k] = a_prev[n, k] * (1.0 - a_prev[n, k]) * total


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
def train_epoch_reference(params, grad, sizes, inputs, targets, order, batch_size, eta,
                          activations, deltas, batch_targets, objective):
    """§9: one epoch of mini-batch gradient descent from the equations above,
    in the textbook's order: for each batch, the forward pass for i = 1..l,
    the output delta, the recursion for i = l..2, every layer's gradient,
    then one step. With an objective (§10): the output rule, sample n's
    delta^(l) and cost multiplied by its weight s_n, and the decayed step.
    Arguments and buffers as ``train_epoch``'s (layout kernels); returns
    sum_n s_n C_n."""
    n_layers = len(sizes) - 1
    rule = objective.rule
    weighted = objective.sample_weights.shape[0] > 0
    n_weights = 0
    for i in range(1, n_layers + 1):
        n_weights += sizes[i] * sizes[i - 1]
    cost = 0.0
    for start in range(0, inputs.shape[0], batch_size):
        m = min(batch_size, inputs.shape[0] - start)
        x = layer_rows(activations, sizes, 0, m, batch_size)
        y = batch_targets[:m]
        for n in range(m):
            for k in range(sizes[0]):
                x[n, k] = inputs[order[start + n], k]
            for j in range(sizes[n_layers]):
                y[n, j] = targets[order[start + n], j]
        for i in range(1, n_layers + 1):
            forward_layer_reference(layer_weights(params, sizes, i), layer_biases(params, sizes, i),
                                    layer_rows(activations, sizes, i - 1, m, batch_size),
                                    layer_rows(activations, sizes, i, m, batch_size),
                                    i < n_layers or rule != QUADRATIC_IDENTITY)
        a_out = layer_rows(activations, sizes, n_layers, m, batch_size)
        delta_out = layer_rows(deltas, sizes, n_layers, m, batch_size)
        output_delta_reference(a_out, y, delta_out, rule)
        for n in range(m):
            s = objective.sample_weights[order[start + n]] if weighted else 1.0
            cost += s * cost_reference(a_out, y, n, rule)
            for j in range(sizes[n_layers]):
                delta_out[n, j] *= s
        for i in range(n_layers, 1, -1):
            backward_delta_reference(layer_weights(params, sizes, i),
                                     layer_rows(deltas, sizes, i, m, batch_size),
                                     layer_rows(activations, sizes, i - 1, m, batch_size),
                                     layer_rows(deltas, sizes, i - 1, m, batch_size))
        for i in range(1, n_layers + 1):
            layer_gradient_reference(layer_rows(deltas, sizes, i, m, batch_size),
                                     layer_rows(activations, sizes, i - 1, m, batch_size),
                                     layer_weights(grad, sizes, i), layer_biases(grad, sizes, i),
                                     1.0 / m)
        step_reference(params, grad, eta, objective.decay, n_weights)
    return cost
