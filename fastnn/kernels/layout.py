"""Where each layer's numbers live (docs/theory.md §8).

The parameters are one flat vector in the order of the document's gradient
vector: every weight of layer 1 (row-major j, k), then of layer 2, ..., then
every bias of layer 1, 2, .... ``layer_weights`` and ``layer_biases`` are
views into it, so a gradient laid out the same way lines up with the
parameters element for element.

The work buffers (activations and deltas) are flat too: slot i holds the
rows of layer i, ``capacity`` rows of L_i each (``layer_rows``), so that
one allocation serves every layer and every batch of an epoch.

The views are inlined into their callers (``jit(inline=True)``): each is a
few integer operations, and compiled on its own each cost a third of a
second of every cold start (docs/runtime.md, "Cold start").
"""
from __future__ import annotations

import numpy as np

from ._jit import jit

__all__ = ["layer_weights", "flat_weights", "layer_biases", "layer_rows", "sample_row",
           "slot_start", "workspace_size", "parameter_count"]


@jit(inline=True)
def layer_weights(params, sizes, i):
    """§8: view of w^(i), shape (L_i, L_{i-1}), inside the flat parameter vector.

    The vector holds every weight of layer 1 (row-major j, k), then of layer
    2, ..., then every bias of layer 1, 2, ...: the order of the document's
    gradient vector.
    """
    return flat_weights(params, sizes, i).reshape((sizes[i], sizes[i - 1]))


@jit(inline=True)
def flat_weights(params, sizes, i):
    """§8: w^(i) as a flat slice, w_jk at [j * L_{i-1} + k]."""
    start = 0
    for h in range(1, i):
        start += sizes[h] * sizes[h - 1]
    return params[start:start + sizes[i] * sizes[i - 1]]


@jit(inline=True)
def layer_biases(params, sizes, i):
    """§8: view of b^(i), shape (L_i,), inside the flat parameter vector."""
    start = 0
    for h in range(1, len(sizes)):
        start += sizes[h] * sizes[h - 1]
    for h in range(1, i):
        start += sizes[h]
    return params[start:start + sizes[i]]


@jit(inline=True)
def slot_start(sizes, i, capacity):
    """Where layer i's rows begin in a buffer with capacity rows per layer."""
    start = 0
    for h in range(i):
        start += capacity * sizes[h]
    return start


@jit(inline=True)
def layer_rows(buffer, sizes, i, m, capacity):
    """Rows (m, L_i) of layer i in a buffer with capacity rows per layer."""
    start = slot_start(sizes, i, capacity)
    return buffer[start:start + m * sizes[i]].reshape((m, sizes[i]))


@jit(inline=True)
def sample_row(buffer, sizes, i, capacity, n):
    """Row of sample n in layer i's slot of a buffer with capacity rows per layer."""
    start = slot_start(sizes, i, capacity) + n * sizes[i]
    return buffer[start:start + sizes[i]]


def parameter_count(sizes) -> int:
    """Length of the flat parameter vector: sum_i L_i L_{i-1} + L_i (a Python
    int: exact for any sizes, where int64 arithmetic could wrap)."""
    sizes = [int(s) for s in sizes]
    return sum(a * b + a for a, b in zip(sizes[1:], sizes[:-1]))


def workspace_size(sizes, capacity):
    """Length of the activation buffer for ``capacity`` samples: sum_i m L_i.

    The delta buffer has the same length (its layer-0 slot is unused).
    """
    return int(capacity) * int(np.sum(sizes))
