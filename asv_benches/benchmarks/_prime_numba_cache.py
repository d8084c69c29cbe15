"""Compile, in one process, every kernel specialisation the suite uses.

asv runs this right after installing a commit (``install_command`` in
asv.conf.json), so that no benchmark process compiles anything.

Why: fastnn caches its compiled kernels on disk, and numba segfaults when it
loads a cached function that was compiled in a process where the threaded
(``parallel=True``) kernels it calls had themselves been loaded from the
cache (numba issues #8578 and #4807, both open). The suite runs each
benchmark in its own process, so without this step a kernel benchmark
caches ``forward_layer`` first, the next process compiles ``train_epoch`` on
top of it, and every later training benchmark crashes on load. Compiling
everything in one fresh process gives cache entries that load safely. The
numba cache of the startup benchmark (bench_startup) is separate and is not
affected.

Run as ``python -m benchmarks._prime_numba_cache`` from asv_benches/.
"""
import numpy as np

from . import bench_kernels, bench_training
from ._common import WORKLOADS, check_training


def prime():
    for spec in WORKLOADS.values():
        check_training(spec.sizes, spec.batch_size, spec.dtype)
    # Also compiles forward_pass, through Network.evaluate.
    bench_training.DigitsAccuracy().setup()
    check_training(bench_training.PeakMemoryTraining.sizes,
                   bench_training.PeakMemoryTraining.batch_size, np.float32)
    for dtype in bench_kernels.DTYPES:
        bench_kernels.LayerKernels().setup(bench_kernels.LAYERS[0], 1, dtype)
        bench_kernels.OutputDelta().setup(10, 1, dtype)


if __name__ == "__main__":
    prime()
