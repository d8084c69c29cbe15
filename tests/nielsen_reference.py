"""Plain-NumPy statement of the textbook's SGD, independent of fastnn.

Written from the algorithm (not from fastnn) so that tests can compare
fastnn.compat.nielsen against it: per sample, a forward pass on column
vectors and backpropagation of the quadratic cost; per mini-batch, the sum of
the per-sample gradients scaled by eta / m; per epoch, ``random.shuffle`` of
the training list and consecutive mini-batches.
"""
import random

import numpy as np


def _logistic(z):
    return 1.0 / (1.0 + np.exp(-z))


def sample_gradient(weights, biases, x, y):
    """(grad_biases, grad_weights) of C = |a_out - y|^2 / 2 for one column sample."""
    outputs = [x]
    for w, b in zip(weights, biases):
        outputs.append(_logistic(np.dot(w, outputs[-1]) + b))
    grad_b = [np.zeros_like(b) for b in biases]
    grad_w = [np.zeros_like(w) for w in weights]
    error = (outputs[-1] - y) * outputs[-1] * (1.0 - outputs[-1])
    for layer in reversed(range(len(weights))):
        grad_b[layer] = error
        grad_w[layer] = np.dot(error, outputs[layer].T)
        if layer > 0:
            below = outputs[layer]
            error = np.dot(weights[layer].T, error) * below * (1.0 - below)
    return grad_b, grad_w


def sgd(weights, biases, training_data, epochs, batch_size, eta):
    """Train copies of weights/biases; returns them. Shuffles training_data in place."""
    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    for _ in range(epochs):
        random.shuffle(training_data)
        for start in range(0, len(training_data), batch_size):
            batch = training_data[start:start + batch_size]
            total_b = [np.zeros_like(b) for b in biases]
            total_w = [np.zeros_like(w) for w in weights]
            for x, y in batch:
                grad_b, grad_w = sample_gradient(weights, biases, x, y)
                total_b = [t + g for t, g in zip(total_b, grad_b)]
                total_w = [t + g for t, g in zip(total_w, grad_w)]
            weights = [w - (eta / len(batch)) * t for w, t in zip(weights, total_w)]
            biases = [b - (eta / len(batch)) * t for b, t in zip(biases, total_b)]
    return weights, biases


def correct_count(weights, biases, test_data):
    """How many (x, label) pairs the network classifies right."""
    hits = 0
    for x, label in test_data:
        a = x
        for w, b in zip(weights, biases):
            a = _logistic(np.dot(w, a) + b)
        hits += int(np.argmax(a) == label)
    return hits
