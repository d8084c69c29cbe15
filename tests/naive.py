"""A deliberately plain NumPy MLP, written without looking at fastnn's kernels.

Column-vector, one sample at a time, in float64 unless told otherwise: the
textbook form of the design document, used as the reference the kernels are
tested against. Parameters are lists ``weights[i]`` of shape (L_{i+1}, L_i)
and ``biases[i]`` of shape (L_{i+1},).
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1.0 - sigmoid(z))


def feedforward(weights, biases, x):
    a = np.asarray(x, dtype=np.float64)
    for w, b in zip(weights, biases):
        a = sigmoid(w @ a + b)
    return a


def cost(weights, biases, X, Y):
    """Mean over samples of 1/2 sum_j (y_j - a_j)^2."""
    total = 0.0
    for x, y in zip(X, Y):
        a = feedforward(weights, biases, x)
        total += 0.5 * np.sum((y - a) ** 2)
    return total / len(X)


def backprop(weights, biases, x, y):
    """Per-sample (nabla_w, nabla_b) by the chain rule, storing every z."""
    activation = np.asarray(x, dtype=np.float64)
    activations = [activation]
    zs = []
    for w, b in zip(weights, biases):
        z = w @ activation + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    nabla_w = [np.zeros_like(w, dtype=np.float64) for w in weights]
    nabla_b = [np.zeros_like(b, dtype=np.float64) for b in biases]
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_w[-1] = np.outer(delta, activations[-2])
    nabla_b[-1] = delta
    for layer in range(2, len(weights) + 1):
        delta = (weights[-layer + 1].T @ delta) * sigmoid_prime(zs[-layer])
        nabla_w[-layer] = np.outer(delta, activations[-layer - 1])
        nabla_b[-layer] = delta
    return nabla_w, nabla_b


def flat_gradient(weights, biases, X, Y):
    """Mean gradient over the rows of X, flattened in the document's order."""
    sum_w = [np.zeros(w.shape) for w in weights]
    sum_b = [np.zeros(b.shape) for b in biases]
    for x, y in zip(X, Y):
        nabla_w, nabla_b = backprop(weights, biases, x, y)
        sum_w = [s + n for s, n in zip(sum_w, nabla_w)]
        sum_b = [s + n for s, n in zip(sum_b, nabla_b)]
    parts = [s.ravel() / len(X) for s in sum_w] + [s / len(X) for s in sum_b]
    return np.concatenate(parts)


def train(weights, biases, X, Y, epochs, batch_size, eta, orders):
    """Mini-batch gradient descent visiting samples in orders[epoch]."""
    weights = [w.astype(np.float64) for w in weights]
    biases = [b.astype(np.float64) for b in biases]
    for epoch in range(epochs):
        order = orders[epoch]
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            sum_w = [np.zeros(w.shape) for w in weights]
            sum_b = [np.zeros(b.shape) for b in biases]
            for n in batch:
                nabla_w, nabla_b = backprop(weights, biases, X[n], Y[n])
                sum_w = [s + d for s, d in zip(sum_w, nabla_w)]
                sum_b = [s + d for s, d in zip(sum_b, nabla_b)]
            weights = [w - (eta / len(batch)) * s for w, s in zip(weights, sum_w)]
            biases = [b - (eta / len(batch)) * s for b, s in zip(biases, sum_b)]
    return weights, biases


# -- other activations, softmax and dropout (docs/theory.md §11, §12) ----------------
# Written from the mathematics, not from fastnn's kernels: z is stored and
# f' is taken of z.
SLOPE = 0.01


def activate(z, name, slope=SLOPE):
    """f(z) of a hidden (or sigmoid/identity output) layer."""
    if name in ("logistic", "sigmoid"):
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "identity":
        return np.asarray(z, dtype=np.float64)
    raise ValueError(name)


def activate_prime(z, name, slope=SLOPE):
    """f'(z) from z; ReLU's at 0 is 0 and leaky ReLU's the slope."""
    if name in ("logistic", "sigmoid"):
        return sigmoid_prime(z)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if name == "identity":
        return np.ones_like(z, dtype=np.float64)
    raise ValueError(name)


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)
