"""Compile, in one process, every kernel specialisation the suite uses.

asv runs this right after installing a commit (``install_command`` in
asv.conf.json), so that no benchmark process compiles anything.

Why: each benchmark runs in its own process, and compiling once up front
keeps compile time out of them. It was added when fastnn segfaulted loading
a cached function compiled in a process where the threaded kernels it calls
had been loaded from the cache (numba issues #8578 and #4807); fastnn itself
now avoids that pattern (the rule in fastnn/_config.py, tested by
tests/test_network.py::test_kernels_reload_from_the_cache_in_new_processes),
and starting from an empty cache here keeps results from ever depending on
what an earlier commit left in it. The numba cache of the startup benchmark
(bench_startup) is separate.

Run as ``python -m benchmarks._prime_numba_cache`` from asv_benches/.
"""
import glob
import os

import numpy as np

from . import bench_kernels, bench_training
from ._common import WORKLOADS, check_training


def clear_fastnn_numba_cache():
    """Delete the cached kernels of the installed fastnn; returns how many files.

    pip's reinstall leaves numba's files in __pycache__, and they stay valid
    (same source size and time stamp) when two commits have the same kernels:
    entries written by an earlier, crashing sequence would be reused.
    """
    # numba's own record of where this dispatcher's cache lives (the
    # package's __pycache__, or under NUMBA_CACHE_DIR when that is set); a
    # directory holding fastnn's entries only. No path: caching is off.
    # (Found as the benchmarks find their kernels: by name, wherever the
    # commit defines it; none, nothing to clear.)
    train_epoch = bench_kernels._find_kernel("train_epoch")
    cache_dir = getattr(getattr(train_epoch, "_cache", None), "_cache_path", None)
    if cache_dir is None:
        return 0
    stale = glob.glob(os.path.join(cache_dir, "*.nbi")) + glob.glob(os.path.join(cache_dir, "*.nbc"))
    for path in stale:
        os.remove(path)
    return len(stale)


def prime():
    clear_fastnn_numba_cache()
    for spec in WORKLOADS.values():
        check_training(spec.sizes, spec.batch_size, spec.dtype)
    # Also compiles forward_pass, through Network.evaluate.
    bench_training.DigitsAccuracy().setup()
    check_training(bench_training.PeakMemoryTraining.sizes,
                   bench_training.PeakMemoryTraining.batch_size, np.float32)
    for dtype in bench_kernels.DTYPES:
        for benchmark, arguments in ((bench_kernels.LayerKernels(), (bench_kernels.LAYERS[0], 1)),
                                     (bench_kernels.OutputDelta(), (10, 1))):
            try:
                benchmark.setup(*arguments, dtype)
            except NotImplementedError:
                pass  # asv skips these benchmarks on this commit


if __name__ == "__main__":
    prime()
