"""Checks of arrays that must be fast enough to run on every call."""
from __future__ import annotations

from ._jit import jit

__all__ = ["all_finite"]


@jit
def all_finite(values):
    """Whether every element of ``values`` (float, C-contiguous, any shape)
    is finite.

    x * 0 is 0 for a finite x and NaN for an infinite or NaN one, and the
    fastmath flags keep NaN semantics, so a sum of x * 0 is 0 exactly when
    every x is finite: one vectorized pass with no temporary array
    (np.isfinite(X).all() allocates one of X's length; for 784 x 10,000
    float64 it took 4.5-7.6 ms here, this 3.5 ms, against a 41 ms epoch).
    One thread: two took 1.4 ms, but a parallel function costs about 2 s
    of compiling per signature, and a region waits for a busy core.
    """
    flat = values.reshape(values.size)
    zero = flat.dtype.type(0)
    total = zero
    for i in range(flat.shape[0]):
        total += flat[i] * zero
    return total == 0
