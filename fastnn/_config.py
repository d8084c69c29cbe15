"""Every JIT flag of fastnn in one place.

Kernels are decorated with :func:`jit` and never spell out flags of their own
(``tests/test_config.py`` fails any kernel module that calls ``numba.njit``
directly), so that one edit here changes the whole library.

Environment switches, read once at import:

``FASTNN_CACHE=0``
    Do not write compiled kernels to disk (``cache=False``). When caching is on
    but neither the package directory nor numba's user-wide cache directory is
    writable, fastnn falls back to no caching instead of failing to import.
``FASTNN_PARALLEL=0``
    Never use the threaded (``prange``) kernels.
"""
from __future__ import annotations

import os
import warnings

import numba
from numba.core.errors import NumbaPerformanceWarning

# Reassociation and contraction let LLVM vectorise the k-sums and fuse
# multiply-adds; "nnan" and "ninf" are deliberately absent so that NaN and inf
# still propagate (a diverging model must show it, not return garbage).
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

# "numpy": a division by zero gives inf/NaN like NumPy instead of raising,
# which also removes the zero check from the inner loops.
ERROR_MODEL = "numpy"


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in {"0", "false", "no", "off", ""}


CACHE = _env_flag("FASTNN_CACHE", True)
PARALLEL = _env_flag("FASTNN_PARALLEL", True)

# A layer is handed to the threaded kernel only when it has at least this many
# multiply-adds per mini-batch (m * L_i * L_{i-1}); below it, starting the
# threads costs more than it saves. Measured with scripts/bench_threshold.py.
PARALLEL_MIN_WORK = 1_000_000

# The samples n of a batch are processed in blocks of this many, so that each
# weight w_jk loaded from memory is used for several samples.
SAMPLE_BLOCK = 4


# Rule: a compiled function that calls a parallel (prange) kernel is itself
# compiled with parallel=True. numba can crash when it loads from its disk
# cache a non-parallel function that calls a parallel one (numba issue #8578;
# seen here as a segfault of a cached benchmark loop calling forward_layer).
# numba then warns that such a caller has no prange of its own; that warning
# is expected for fastnn's kernels and silenced for them alone.
warnings.filterwarnings(
    "ignore",
    message=r"(?s).*no transformation for parallel execution was possible.*fastnn.kernels\.py",
    category=NumbaPerformanceWarning,
)


def jit(function=None, *, parallel: bool = False):
    """Compile ``function`` with fastnn's flags (usable bare or with arguments).

    ``parallel=True`` is honoured only when ``FASTNN_PARALLEL`` is on.
    """

    def decorate(func):
        options = dict(
            fastmath=set(FASTMATH),
            error_model=ERROR_MODEL,
            parallel=parallel and PARALLEL,
            nogil=True,
        )
        if CACHE:
            try:
                return numba.njit(cache=True, **options)(func)
            except RuntimeError:
                # numba found no writable cache directory (read-only install
                # and home); compiling each session is slower but correct.
                pass
        return numba.njit(cache=False, **options)(func)

    if function is not None:
        return decorate(function)
    return decorate
