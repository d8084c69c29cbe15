"""Cost of one numba parallel region on this machine, the floor under any
per-sample or per-layer use of threads.

    python scripts/bench_prange_launch.py
"""
import time

import numpy as np
from numba import njit, prange


@njit(parallel=True)
def _two_iterations(a):
    for t in prange(2):
        a[t] += 1.0


@njit(parallel=True)
def _launch(a, repeats):
    for _ in range(repeats):
        _two_iterations(a)


def main():
    a = np.zeros(2)
    _launch(a, 10)
    repeats = 100_000
    started = time.perf_counter()
    _launch(a, repeats)
    elapsed = time.perf_counter() - started
    assert a[0] == a[1] == repeats + 10
    print(f"one parallel region of 2 trivial iterations: {elapsed / repeats * 1e6:.1f} us")


if __name__ == "__main__":
    main()
