"""Bitwise the same results as another commit: Network.train, resume,
streaming with one chunk, and fastnn.dask in both modes, on the same seeds.

    python scripts/bitwise_floor.py                 # against 7c5498a (issue 22's start)
    python scripts/bitwise_floor.py --against REV   # against any commit

Checks REV out into a temporary ``git worktree``, runs the scenarios below
there and here, each in a fresh process importing its own fastnn
(PYTHONPATH), and compares every parameter vector bit for bit (and the
histories' costs). Exit status 0 when all are equal, 1 otherwise.

The scenarios use only API that both sides have (``Network.train``,
``fastnn.resume``, ``Network.train_streaming``, ``fastnn.dask.train``), so
the same file drives both. Each compiles its kernels on first use (a cold
cache per side costs a few minutes).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
START = "7c5498a"


def scenarios(out):
    """Run every scenario with the fastnn on sys.path; save the results to out (.npz)."""
    import fastnn

    results = {}
    rng = np.random.default_rng(0)
    X = rng.random((600, 20))
    y = rng.integers(0, 4, 600)
    X_test, y_test = rng.random((100, 20)), rng.integers(0, 4, 100)
    weights = rng.random(600) + 0.5
    targets = rng.random((600, 3))

    plain = [
        ("sgd_float64", dict(sizes=[20, 12, 4], dtype=np.float64),
         dict(epochs=4, batch_size=10, eta=2.0, seed=1)),
        ("sgd_float32", dict(sizes=[20, 12, 4], dtype=np.float32),
         dict(epochs=4, batch_size=10, eta=2.0, seed=1)),
        ("per_sample", dict(sizes=[20, 12, 4]), dict(epochs=3, batch_size=1, eta=0.5, seed=2)),
        ("cross_entropy_l2", dict(sizes=[20, 12, 8, 4], cost="cross_entropy"),
         dict(epochs=3, batch_size=16, eta=0.5, lmbda=2.0, seed=3)),
        ("weighted", dict(sizes=[20, 12, 4]),
         dict(epochs=3, batch_size=7, eta=1.0, seed=4, sample_weight=weights)),
        ("no_shuffle_full_batch", dict(sizes=[20, 12, 4]),
         dict(epochs=5, batch_size=600, eta=3.0, shuffle=False)),
        ("with_test_data", dict(sizes=[20, 12, 4]),
         dict(epochs=3, batch_size=10, eta=2.0, seed=5, test_data=(X_test, y_test))),
    ]
    for name, network_options, train_options in plain:
        net = fastnn.Network(network_options.pop("sizes"), seed=7, **network_options)
        history = net.train(X, y, **train_options)
        results[name] = net.params
        results[name + "_cost"] = np.asarray(history.cost)
        if history.test_accuracy:
            results[name + "_accuracy"] = np.asarray(history.test_accuracy)
    net = fastnn.Network([20, 12, 3], output="identity", seed=7)
    net.train(X, targets, epochs=3, batch_size=10, eta=0.1, seed=6)
    results["identity_regression"] = net.params
    net = fastnn.Network([20, 60, 40, 4], seed=7)
    net.train(X, y, epochs=2, batch_size=10, eta=2.0, seed=8, n_threads=2)
    results["two_threads"] = net.params

    # resume: 2 epochs, then 2 more from the checkpoint
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "run.ckpt")
        net = fastnn.Network([20, 12, 4], seed=7)
        net.train(X, y, epochs=4, batch_size=10, eta=2.0, seed=9, checkpoint=path,
                  callback=lambda epoch, history: epoch == 2)
        resumed, history = fastnn.resume(path, X, y)
        results["resumed"] = resumed.params
        results["resumed_cost"] = np.asarray(history.cost)

    # streaming with one chunk (and with several: its own order)
    for name, rows in (("streaming_one_chunk", 600), ("streaming_chunks", 150)):
        net = fastnn.Network([20, 12, 4], seed=7)
        history = net.train_streaming(X, y, epochs=3, batch_size=10, eta=2.0, seed=10,
                                      chunk_rows=rows)
        results[name] = net.params
        results[name + "_cost"] = np.asarray(history.cost)

    try:
        import dask.array as da
        import fastnn.dask as fd
        from distributed import Client, LocalCluster
    except ImportError:
        print("dask is not installed: its scenarios are left out", file=sys.stderr)
    else:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            dX, dY = da.from_array(X, chunks=150), da.from_array(y, chunks=150)
            for mode, options in (("gradient", dict(batch_size=200)),
                                  ("average", dict(batch_size=10, seed=11))):
                net = fastnn.Network([20, 12, 4], seed=7)
                history = fd.train(net, dX, dY, client=client, mode=mode, epochs=3, eta=2.0,
                                   **options)
                results["dask_" + mode] = net.params
                results["dask_" + mode + "_cost"] = np.asarray(history.cost)
    np.savez(out, **results)


def run_side(source, out):
    env = dict(os.environ, PYTHONPATH=str(source))
    code = (f"import sys; sys.path.insert(0, {str(source)!r}); "
            f"sys.path.insert(0, {str(ROOT / 'scripts')!r}); "
            f"import bitwise_floor; bitwise_floor.scenarios({str(out)!r})")
    subprocess.run([sys.executable, "-c", code], cwd=source, env=env, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default=START, help=f"the commit (default {START})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        other = Path(directory) / "other"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(other), args.against], check=True)
        try:
            run_side(other, Path(directory) / "other.npz")
            run_side(ROOT, Path(directory) / "here.npz")
            with np.load(Path(directory) / "other.npz") as a, \
                    np.load(Path(directory) / "here.npz") as b:
                names = sorted(set(a.files) | set(b.files))
                unequal = []
                for name in names:
                    same = (name in a.files and name in b.files and a[name].shape == b[name].shape
                            and a[name].dtype == b[name].dtype
                            and np.array_equal(a[name].view(np.uint8), b[name].view(np.uint8)))
                    print(f"{'bitwise equal' if same else 'DIFFERENT':14s} {name}")
                    if not same:
                        unequal.append(name)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(other)], check=False)
    print(f"{len(names) - len(unequal)} of {len(names)} results bitwise equal to "
          f"{args.against}")
    return 1 if unequal else 0


if __name__ == "__main__":
    sys.exit(main())
