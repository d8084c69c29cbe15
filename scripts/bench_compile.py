"""Time from a fresh interpreter to a first trained epoch, cold and warm cache.

    python scripts/bench_compile.py

Each measurement is a new Python process that imports fastnn and trains one
epoch of 784-30-10 on 1,000 synthetic samples (batch 10, float32, and batch 1,
float64). "cold": an empty numba cache directory, so every kernel is
compiled; "warm": the same directory again, so every kernel is loaded.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = """
import time
started = time.perf_counter()
import numpy as np
import fastnn
rng = np.random.default_rng(0)
X = rng.random((1000, 784))
labels = rng.integers(0, 10, 1000)
fastnn.Network([784, 30, 10], seed=0, dtype=np.float32).train(X, labels, epochs=1, batch_size=10, eta=3.0)
fastnn.Network([784, 30, 10], seed=0).train(X, labels, epochs=1, batch_size=1, eta=3.0)
print(time.perf_counter() - started)
"""


def run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, FASTNN_CACHE="1")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                            text=True, check=True)
    return float(result.stdout.strip()), time.perf_counter() - started


def main():
    cold, warm = [], []
    for _ in range(2):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold.append(run(cache_dir))
            warm.extend(run(cache_dir) for _ in range(3))
    for name, runs in (("cold cache", cold), ("warm cache", warm)):
        inside = statistics.median(r[0] for r in runs)
        whole = statistics.median(r[1] for r in runs)
        print(f"{name}: import fastnn -> first trained epochs {inside:6.2f} s "
              f"(whole process {whole:6.2f} s, median of {len(runs)})")


if __name__ == "__main__":
    main()
