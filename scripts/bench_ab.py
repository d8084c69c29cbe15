"""Two versions of fastnn timed side by side, epoch for epoch, in one process.

    python scripts/bench_ab.py HEAD~1 WORKTREE             # every workload
    python scripts/bench_ab.py main WORKTREE --workloads W1 --pairs 15

On a shared machine the speed drifts by tens of percent between runs, so two
separate runs of bench_peers.py cannot show a 10% change. Here each version
is extracted into a temporary directory under its own package name, both are
imported into this process, and their epochs alternate in pairs (A B, B A,
A B, ...): drift hits both alike, the order within a pair cancels, and the
median of the per-pair ratios B/A is what is reported. ``WORKTREE`` means
the files as they are now, uncommitted edits included. The workloads are
those of scripts/workloads.py (the epochs of bench_peers.py).

Both versions' epochs take every thread they ask for: each version's
``_threads._other_runnable_threads`` is made to report an idle machine (as
scripts/bench_kernels_ab.py does). Otherwise an epoch that starts while
another process is runnable runs in one thread, about twice as long, and a
pair holding one such epoch says nothing about the versions.

Run the control ``bench_ab.py HEAD HEAD`` beside any comparison: two copies
of the same code, compiled separately, have differed here by up to 9% per
workload (0.956x-1.085x over 6 pairs), so only a larger ratio says anything.
"""
from __future__ import annotations

import argparse
import importlib
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from workloads import WORKLOADS  # scripts/workloads.py

ROOT = pathlib.Path(__file__).resolve().parents[1]


def extract(revision: str, destination: pathlib.Path, package: str):
    """Put fastnn/ of ``revision`` at destination/package and import it."""
    target = destination / package
    if revision == "WORKTREE":
        shutil.copytree(ROOT / "fastnn", target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "fastnn"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
        (destination / "fastnn").rename(target)
    sys.path.insert(0, str(destination))
    version = importlib.import_module(package)
    try:
        threads = importlib.import_module(f"{package}._threads")
    except ModuleNotFoundError:  # a version older than fastnn/_threads.py
        return version
    if hasattr(threads, "_other_runnable_threads"):
        threads._other_runnable_threads = lambda: 0  # see the module docstring
    return version


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="git revision (or WORKTREE) of version A")
    parser.add_argument("b", help="git revision (or WORKTREE) of version B")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--pairs", type=int, default=9, help="timed epochs of each version")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        destination = pathlib.Path(temporary)
        version_a = extract(args.a, destination, "fastnn_version_a")
        version_b = extract(args.b, destination, "fastnn_version_b")
        try:
            print(importlib.import_module("fastnn_version_b._machine").describe())
        except ImportError:  # a version without fastnn/_machine.py
            pass
        print(f"A = {args.a}, B = {args.b}; {args.pairs} alternating epochs each\n")
        print(f"{'workload':8s} {'A samples/s':>12s} {'B samples/s':>12s} {'B/A (median of pairs)':>22s}"
              f" {'pairs B faster':>15s}")
        rng = np.random.default_rng(0)
        for name in args.workloads:
            workload = WORKLOADS[name]
            sizes, batch, dtype = workload.sizes, workload.batch_size, workload.dtype
            n_samples = workload.n_samples
            X = rng.random((n_samples, sizes[0])).astype(dtype)
            labels = rng.integers(0, sizes[-1], n_samples)
            nets = [version.Network(list(sizes), seed=0, dtype=dtype)
                    for version in (version_a, version_b)]
            for net in nets:  # compile and warm up
                net.train(X, labels, epochs=1, batch_size=batch, eta=3.0, seed=0)
            seconds = np.empty((args.pairs, 2))
            for pair in range(args.pairs):
                # The version that goes first in a pair ran 4-9% faster here
                # whichever it was, so the order alternates from pair to pair.
                for index in ((0, 1) if pair % 2 == 0 else (1, 0)):
                    history = nets[index].train(X, labels, epochs=1, batch_size=batch,
                                                eta=3.0, seed=pair)
                    seconds[pair, index] = history.seconds[0]
            rate = n_samples / np.median(seconds, axis=0)
            ratios = seconds[:, 0] / seconds[:, 1]
            print(f"{name:8s} {rate[0]:12,.0f} {rate[1]:12,.0f} {np.median(ratios):21.3f}x"
                  f" {int(np.sum(ratios > 1)):>10d}/{args.pairs}")


if __name__ == "__main__":
    main()
