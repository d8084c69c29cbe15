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
# f' is taken of z; the dropout masks come from a NumPy transcription of the
# generator's definition (its docstring), not from the kernels.
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


def general_forward(weights, biases, x, hidden, output, slope=SLOPE, masks=None):
    """(zs, activations, thinned): z and a of every layer, and the
    activations passed on (a times the dropout factors masks[i] of hidden
    layer i+1, or a itself). hidden: one name per hidden layer."""
    a = np.asarray(x, dtype=np.float64)
    zs, activations, thinned = [], [a], [a]
    n_layers = len(weights)
    for i, (w, b) in enumerate(zip(weights, biases)):
        z = w @ thinned[-1] + b
        zs.append(z)
        if i < n_layers - 1:
            a = activate(z, hidden[i], slope)
        elif output == "softmax":
            a = softmax(z)
        else:
            a = activate(z, output)
        activations.append(a)
        thinned.append(a * masks[i] if masks is not None and i < n_layers - 1 else a)
    return zs, activations, thinned


def general_cost_one(a, y, cost, output):
    if cost == "quadratic":
        return 0.5 * np.sum((y - a) ** 2)
    if output == "softmax":
        return -np.sum(np.where(y != 0, y * np.log(np.where(y != 0, a, 1.0)), 0.0))
    return -np.sum(np.where(y != 0, y * np.log(a), 0.0)
                   + np.where(y != 1, (1 - y) * np.log(1 - a), 0.0))


def general_backprop(weights, biases, x, y, hidden, output, cost, slope=SLOPE, masks=None):
    """(cost, nabla_w, nabla_b) of one sample, by the chain rule from z."""
    zs, activations, thinned = general_forward(weights, biases, x, hidden, output, slope, masks)
    a = activations[-1]
    if cost == "quadratic" and output == "sigmoid":
        delta = (a - y) * sigmoid_prime(zs[-1])
    elif cost == "quadratic" and output == "softmax":
        raise ValueError("refused pair")
    else:  # cross-entropy of sigmoid or softmax, quadratic of identity
        delta = a - y
    n_layers = len(weights)
    nabla_w = [None] * n_layers
    nabla_b = [None] * n_layers
    nabla_w[-1] = np.outer(delta, thinned[-2])
    nabla_b[-1] = delta
    for i in range(n_layers - 2, -1, -1):
        factor = activate_prime(zs[i], hidden[i], slope)
        if masks is not None:
            factor = factor * masks[i]
        delta = (weights[i + 1].T @ delta) * factor
        nabla_w[i] = np.outer(delta, thinned[i])
        nabla_b[i] = delta
    return general_cost_one(a, y, cost, output), nabla_w, nabla_b


def general_flat_gradient(weights, biases, X, Y, hidden, output, cost, slope=SLOPE,
                          masks=None):
    """(mean cost, mean flat gradient) over the rows of X; masks[n] are the
    dropout factors of sample n (a list per hidden layer) or None."""
    total = 0.0
    sum_w = [np.zeros(w.shape) for w in weights]
    sum_b = [np.zeros(b.shape) for b in biases]
    for n, (x, y) in enumerate(zip(X, Y)):
        c, nabla_w, nabla_b = general_backprop(weights, biases, x, y, hidden, output, cost, slope,
                                               None if masks is None else masks[n])
        total += c
        sum_w = [s + d for s, d in zip(sum_w, nabla_w)]
        sum_b = [s + d for s, d in zip(sum_b, nabla_b)]
    parts = [s.ravel() / len(X) for s in sum_w] + [s / len(X) for s in sum_b]
    return total / len(X), np.concatenate(parts)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x):
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _next(key, counter):
    with np.errstate(over="ignore"):
        return _mix(key + (np.asarray(counter, dtype=np.uint64) + np.uint64(1)) * _GOLDEN)


def dropout_bits(seed, epoch, rows, units):
    """The generator of docs/theory.md §12 in NumPy uint64 arithmetic:
    bits[n, u] for the rows n and hidden units u given (1-D arrays)."""
    with np.errstate(over="ignore"):
        seed_key = _mix(np.uint64(seed) + _GOLDEN)
    key = _next(seed_key, epoch)
    row_keys = _next(key, np.asarray(rows, dtype=np.uint64))
    return _next(row_keys[:, None], np.asarray(units, dtype=np.uint64)[None, :])


def dropout_masks(seed, epoch, rows, sizes, rates):
    """masks[n][i]: the factors D (0 or 1/(1-p)) of hidden layer i+1 for the
    sample in row rows[n]; rates: one per hidden layer."""
    hidden = list(sizes[1:-1])
    bits = dropout_bits(seed, epoch, rows, np.arange(sum(hidden)))
    masks = []
    for n in range(len(rows)):
        layers, start = [], 0
        for size, rate in zip(hidden, rates):
            threshold = np.uint64(min(round(rate * 2.0 ** 64), 2 ** 64 - 1))
            keep = bits[n, start:start + size] >= threshold
            layers.append(np.where(keep, 1.0 / (1.0 - rate), 0.0))
            start += size
        masks.append(layers)
    return masks
