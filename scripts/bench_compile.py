"""Cold and warm start: compile seconds per kernel, and time to a first epoch.

    python scripts/bench_compile.py                  # the CLI default and W1-W4
    python scripts/bench_compile.py --targets cli W2 --repeats 2

Each measurement is a new Python process with its own FASTNN_CACHE_DIR:
"cold" starts from an empty directory, so every kernel the run needs is
compiled (and written to the cache), as on a user's first run; "warm" is a
second process on the directory the cold one filled.

* ``cli``: ``fastnn train --epochs 1 --quiet`` (64-30-10 on the digits,
  float64, batch 10), timed whole, from the process's start to its exit.
* ``W1``-``W4``: the workloads of scripts/workloads.py (their sizes,
  batch size and dtype) on 1,000 synthetic samples: ``import fastnn`` to the
  end of the first epoch, and inside it the seconds numba spent compiling
  each top-level kernel (numba's "numba:compile" events; nested compiles are
  counted in their caller), with the dtype it was compiled for.

Floors of issue 12 on this machine: cold ``fastnn train`` <= 12 s, cold
W2 (784-30-10 float32 batch 10) first epoch <= 20 s, warm ``fastnn train``
<= 1.5 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from workloads import WORKLOADS  # scripts/workloads.py

CHILD = """
import json, sys, time
started = time.perf_counter()
from numba.core import event

compiles = []


class TopLevelCompiles(event.Listener):
    def __init__(self):
        self.stack = []

    def on_start(self, ev):
        self.stack.append(time.perf_counter())

    def on_end(self, ev):
        began = self.stack.pop()
        if not self.stack:
            args = ev.data["args"]
            dtypes = sorted({str(a.dtype) for a in args if hasattr(a, "dtype")
                             and str(a.dtype).startswith("float")})
            compiles.append((ev.data["dispatcher"].py_func.__name__, ",".join(dtypes),
                             time.perf_counter() - began))


event.register("numba:compile", TopLevelCompiles())
import numpy as np
import fastnn

sizes, batch_size, dtype = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.random((1000, sizes[0])).astype(dtype)
labels = rng.integers(0, sizes[-1], 1000)
history = fastnn.Network(sizes, seed=0, dtype=dtype).train(
    X, labels, epochs=1, batch_size=batch_size, eta=3.0)
print(json.dumps({"total": time.perf_counter() - started, "compiles": compiles,
                  "compile_seconds": history.compile_seconds, "driver": history.driver}))
"""


def run_workload(spec, cache_dir):
    env = dict(os.environ, FASTNN_CACHE_DIR=cache_dir)
    env.pop("FASTNN_CACHE", None)
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], env=env,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_cli(cache_dir):
    env = dict(os.environ, FASTNN_CACHE_DIR=cache_dir)
    env.pop("FASTNN_CACHE", None)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fastnn", "train", "--epochs", "1", "--quiet"],
                   env=env, capture_output=True, text=True, check=True)
    return {"total": time.perf_counter() - started, "compiles": []}


def measure(target, repeats):
    """[(cold, warm)] results, each cold in a fresh cache directory."""
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="fastnn-bench-compile-") as cache_dir:
            if target == "cli":
                runs.append((run_cli(cache_dir), run_cli(cache_dir)))
            else:
                workload = WORKLOADS[target]
                # what the child reads: sizes, batch size, dtype (it makes 1,000 samples)
                spec = [list(workload.sizes), workload.batch_size, np.dtype(workload.dtype).name]
                runs.append((run_workload(spec, cache_dir), run_workload(spec, cache_dir)))
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["cli", *WORKLOADS],
                        choices=["cli", *WORKLOADS])
    parser.add_argument("--repeats", type=int, default=1,
                        help="cold/warm pairs per target (medians are printed)")
    args = parser.parse_args(argv)
    try:
        from fastnn import _machine

        print(_machine.describe())
    except ImportError:  # an older fastnn
        pass
    print(f"{'target':8s} {'cold s':>8s} {'warm s':>8s}  compiled kernels (cold, first run)")
    for target in args.targets:
        runs = measure(target, args.repeats)
        cold = statistics.median(r[0]["total"] for r in runs)
        warm = statistics.median(r[1]["total"] for r in runs)
        label = target if target == "cli" else f"{target} {runs[0][0]['driver']}"
        print(f"{target:8s} {cold:8.2f} {warm:8.2f}  "
              + ("(fastnn train --epochs 1, whole process)" if target == "cli"
                 else f"(import to first epoch; {label})"))
        for name, dtypes, seconds in sorted(runs[0][0]["compiles"], key=lambda c: -c[2]):
            if seconds >= 0.05:
                print(f"{'':8s} {seconds:8.2f} {'':8s}  {name} [{dtypes or '-'}]")
        if target != "cli":
            warm_compiles = sum(c[2] for r in runs for c in r[1]["compiles"])
            if warm_compiles:
                print(f"{'':8s} warning: the warm runs compiled for {warm_compiles:.1f} s")


if __name__ == "__main__":
    main()
