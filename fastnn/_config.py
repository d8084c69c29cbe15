"""Every JIT flag of fastnn in one place (a leaf: it imports nothing of fastnn).

Kernels are decorated with ``fastnn.kernels._jit.jit``, which reads these
flags, and never spell out flags of their own
(``tests/test_kernels.py::test_no_kernel_sets_its_own_jit_flags`` fails any
module of the package that calls numba's njit itself), so that one edit
here changes the whole library.

Environment switches, read once at import:

``FASTNN_CACHE=0``
    Do not write compiled kernels to disk. Otherwise every kernel is cached
    in fastnn's own directory (``FASTNN_CACHE_DIR``, else the user's cache
    directory; never inside the package), keyed on fastnn's version, the
    kernel sources, numba's version, the CPU and ``FASTNN_PARALLEL``. A
    damaged cache file or an unwritable directory gives one warning and a
    compile, never an error: see ``fastnn/_cache/`` and docs/runtime.md.
``FASTNN_PARALLEL=0``
    Never use the threaded (``prange``) kernels. Cached separately from the
    threaded build (the flag is part of the cache key).

Tuning constants of the kernels (block sizes, the work at which threads
start) live in the modules of ``fastnn/kernels/``: numba freezes globals
into the compiled code. The cache key covers every file below
``fastnn/kernels/`` and this one (``fastnn/_cache/key.py``), so any edit of
them compiles every kernel again; no module outside ``fastnn/kernels/``
defines compiled code (``tests/test_cache.py`` checks it).
"""
from __future__ import annotations

import os

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


PARALLEL = _env_flag("FASTNN_PARALLEL", True)
CACHE = _env_flag("FASTNN_CACHE", True)

# LLVM vectorizes for 256-bit registers on Intel's AVX-512 cores unless told
# otherwise (its "prefer-256-bit" tuning). The kernels that call
# prefer_wide_vectors() measured 1.03-1.5x faster with 512-bit ones there
# (the forward and gradient blocks most, sized for them); the small kernels
# measured no faster or slower and do not ask (docs/performance.md).
# Without AVX-512 the preference is ignored.
VECTOR_WIDTH_BITS = 512
