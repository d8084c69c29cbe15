"""A running epoch's line to Python: a stop request and its progress.

``control`` is an int64 array of ``CONTROL_SIZE`` (``new_control``) shared by
the compiled epoch and the Python thread that waits for it:

* ``control[STOP]`` != 0 asks the epoch to stop at the next boundary of a
  unit (a mini-batch, or a block of LOOKAHEAD samples of per-sample SGD),
  with every step of the units before it taken: Ctrl-C sets it
  (``fastnn._interrupt``);
* ``control[PROGRESS]`` is the number of units the epoch has finished,
  which a progress bar reads while the epoch runs.

The epoch reads and writes them with acquire and release atomics (plain
moves on x86), so that the compiler can neither hoist the read of the stop
request out of the loop nor sink the progress out of it. One read and one
write per unit: nothing measurable beside a unit's work.
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .atomics import load_acquire, store_release

__all__ = ["STOP", "PROGRESS", "CONTROL_SIZE", "new_control", "stop_requested",
           "report_progress"]

# A cache line apart: Python writes one, the epoch the other.
STOP = 0
PROGRESS = 8
CONTROL_SIZE = 16


def new_control():
    """A control array with no stop requested and no progress."""
    return np.zeros(CONTROL_SIZE, np.int64)


@jit(inline=True)
def stop_requested(control):
    """Whether Python asked the epoch to stop."""
    return load_acquire(control, STOP) != 0


@jit(inline=True)
def report_progress(control, units_done):
    """Tell Python that ``units_done`` units of the epoch are finished."""
    store_release(control, PROGRESS, units_done)
