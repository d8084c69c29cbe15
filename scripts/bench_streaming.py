"""Samples/s of fastnn.streaming.train_streaming against Network.train on
in-memory data, for W2 (784-30-10, float32, batch 10) in chunks of 10,000 rows.

    python scripts/bench_streaming.py [--rows 120000] [--repeats 9] [--threads N] [--only cold]

Modes, each one epoch over the same synthetic data from the same network:

* ``train``: Network.train on the arrays in memory (the reference);
* ``memory``: train_streaming on the same arrays, chunk_rows=10,000;
* ``store``: train_streaming on a chunked store (write_chunked) in a
  temporary directory, its files in the OS cache after the first read;
* ``mmap``: train_streaming on ``np.load(..., mmap_mode="r")`` of .npy files;
* ``store, cold``: the store again, its files dropped from the OS cache
  before each epoch (``posix_fadvise(DONTNEED)`` on those files only), so
  that every chunk comes from the disk, as it must for data larger than
  memory;
* each streaming mode with and without ``prefetch``.

The modes run interleaved, ``--repeats`` rounds, so that a shared
machine's drift reaches them alike; the median epoch of each is printed
with its ratio to ``train``.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import fastnn  # noqa: E402
from fastnn import datasets  # noqa: E402
from fastnn.streaming import train_streaming  # noqa: E402

from workloads import WORKLOADS  # noqa: E402

CHUNK_ROWS = 10_000


def evict(directory):
    """Drop the files of ``directory`` from the OS cache (theirs only)."""
    for name in os.listdir(directory):
        fd = os.open(os.path.join(directory, name), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=120_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default="",
                        help="run the modes whose name contains this (and train)")
    args = parser.parse_args()
    workload = WORKLOADS["W2"]
    sizes, dtype, batch = workload.sizes, workload.dtype, workload.batch_size
    rng = np.random.default_rng(0)
    X = rng.random((args.rows, sizes[0]), dtype=np.float32).astype(dtype)
    y = rng.integers(0, sizes[-1], args.rows)
    net = fastnn.Network(list(sizes), seed=0, dtype=dtype)
    directory = tempfile.mkdtemp(prefix="fastnn-bench-streaming-")
    try:
        store = datasets.write_chunked(os.path.join(directory, "store"), X, y,
                                       chunk_rows=CHUNK_ROWS)
        X_store, y_store = datasets.open_chunked(store)
        np.save(os.path.join(directory, "X.npy"), X)
        np.save(os.path.join(directory, "y.npy"), y)
        X_mmap = np.load(os.path.join(directory, "X.npy"), mmap_mode="r")
        y_mmap = np.load(os.path.join(directory, "y.npy"), mmap_mode="r")
        common = dict(epochs=1, batch_size=batch, eta=0.5, seed=0, n_threads=args.threads)

        def train():
            return net.copy().train(X, y, **common)

        def streaming(data_X, data_y, prefetch, cold=False):
            def run():
                if cold:
                    evict(store)
                return train_streaming(net.copy(), data_X, data_y, chunk_rows=CHUNK_ROWS,
                                       prefetch=prefetch, **common)
            return run

        modes = {"train": train}
        for name, (data_X, data_y) in {"memory": (X, y), "store": (X_store, y_store),
                                       "mmap": (X_mmap, y_mmap)}.items():
            modes[f"{name}, prefetch"] = streaming(data_X, data_y, True)
            modes[f"{name}, no prefetch"] = streaming(data_X, data_y, False)
        modes["store cold, prefetch"] = streaming(X_store, y_store, True, cold=True)
        modes["store cold, no prefetch"] = streaming(X_store, y_store, False, cold=True)
        modes = {name: run for name, run in modes.items()
                 if name == "train" or args.only in name}
        for run in modes.values():  # compile, and bring the files into the OS cache
            run()
        seconds = {name: [] for name in modes}
        for _ in range(args.repeats):
            for name, run in modes.items():
                history = run()
                seconds[name].append(sum(history.seconds))
        print(f"W2 ({workload.description.split(',')[0]}, float32, batch {batch}), "
              f"{args.rows:,} rows, chunks of {CHUNK_ROWS:,}; median of {args.repeats} epochs; "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        reference = np.median(seconds["train"])
        for name, values in seconds.items():
            median = np.median(values)
            print(f"  {name:24s} {args.rows / median:12,.0f} samples/s   "
                  f"{reference / median:5.3f}x train")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
