"""fastnn.compat.nielsen against plain fastnn and the book's own code, on MNIST's shape.

No data set is downloaded: the data are synthetic, shaped as the book's
``mnist_loader.load_data_wrapper()`` gives them: a training list of
(x, y) with x a (784, 1) float64 column vector and y a (10, 1) one-hot
vector, and a test list of (x, int label).

Speed: compat ``Network([784, 30, 10]).SGD(training_data, 1, 10, 3.0,
test_data=test_data)`` against plain ``fastnn.Network.train`` (one epoch,
test data evaluated) on the same data as arrays, alternating, one epoch per
call, after a warm-up of each; prints each one's median seconds per epoch
and the ratio compat / plain (the floor of issue 15: <= 1.25).

Memory: peak RSS (``ru_maxrss``) of a fresh process that builds the lists
and trains one epoch with (a) the book's algorithm (tests/nielsen_reference.py,
per sample, in NumPy) and (b) the compat Network; and the ratio (b) / (a).

    PYTHONPATH=. python scripts/bench_compat.py                 # 50k/10k, 5 epochs each
    PYTHONPATH=. python scripts/bench_compat.py --layout views  # xs are row views of one matrix
    PYTHONPATH=. python scripts/bench_compat.py --skip-memory --epochs 9

``--layout separate`` (default) allocates every x on its own, as a loader
that builds each vector does; ``--layout views`` reshapes the rows of one
(n, 784) float64 matrix, as ``mnist_loader`` does with its arrays (the
compat layer then trains on that matrix without copying it).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_lists(n_train, n_test, layout, seed=0):
    rng = np.random.default_rng(seed)
    eye = np.eye(10)

    def columns(n):
        if layout == "views":
            matrix = rng.random((n, 784))
            return [np.reshape(row, (784, 1)) for row in matrix]
        return [rng.random((784, 1)) for _ in range(n)]

    train_labels = rng.integers(0, 10, n_train)
    training = list(zip(columns(n_train), [eye[:, [j]].copy() for j in train_labels]))
    test = list(zip(columns(n_test), [int(j) for j in rng.integers(0, 10, n_test)]))
    return training, test


def as_arrays(pairs, one_hot):
    X = np.vstack([x.reshape(1, -1) for x, _ in pairs])
    Y = np.vstack([y.reshape(1, -1) for _, y in pairs]) if one_hot else np.array([y for _, y in pairs])
    return X, Y


def speed(args):
    import fastnn
    from fastnn.compat import nielsen

    training, test = make_lists(args.n_train, args.n_test, args.layout)
    X, Y = as_arrays(training, True)
    X_test, y_test = as_arrays(test, False)
    plain = fastnn.Network([784, 30, 10], seed=0)
    np.random.seed(0)
    random.seed(0)
    compat = nielsen.Network([784, 30, 10])
    quiet = io.StringIO()

    def compat_epoch():
        started = time.perf_counter()
        with contextlib.redirect_stdout(quiet):
            compat.SGD(training, 1, 10, 3.0, test_data=test)
        return time.perf_counter() - started

    def plain_epoch():
        started = time.perf_counter()
        plain.train(X, Y, epochs=1, batch_size=10, eta=3.0, test_data=(X_test, y_test),
                    seed=len(times["plain"]))
        return time.perf_counter() - started

    times = {"compat": [], "plain": []}
    started = time.perf_counter()
    compat_epoch()  # converts the lists (kept for the next calls), compiles
    first_compat = time.perf_counter() - started
    plain_epoch()
    times["plain"].clear()
    for _ in range(args.epochs):
        times["compat"].append(compat_epoch())
        times["plain"].append(plain_epoch())
    compat_median = statistics.median(times["compat"])
    plain_median = statistics.median(times["plain"])
    print(f"data: {args.n_train} training, {args.n_test} test samples, layout {args.layout}")
    print(f"first compat SGD call (converts the lists, loads kernels): {first_compat:.3f} s")
    print(f"{'epoch':>5} {'compat SGD s':>13} {'plain train s':>14}")
    for i, (c, p) in enumerate(zip(times["compat"], times["plain"])):
        print(f"{i:>5} {c:>13.3f} {p:>14.3f}")
    print(f"median: compat {compat_median:.3f} s, plain {plain_median:.3f} s, "
          f"ratio compat/plain {compat_median / plain_median:.3f} (floor 1.25)")
    if args.book_samples:
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        import nielsen_reference as book

        subset = training[:args.book_samples]
        weights = [w.copy() for w in compat.weights]
        biases = [b.copy() for b in compat.biases]
        started = time.perf_counter()
        book.sgd(weights, biases, subset, 1, 10, 3.0)
        seconds = (time.perf_counter() - started) * args.n_train / len(subset)
        print(f"book's per-sample NumPy code (tests/nielsen_reference.py): {seconds:.2f} s an "
              f"epoch of {args.n_train} (timed on {len(subset)}), "
              f"{seconds / compat_median:.1f}x compat")


CHILD = r"""
import random, resource, sys, io, contextlib
import numpy as np
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r}); sys.path.insert(0, {scripts!r})
from bench_compat import make_lists
which = {which!r}
if which == "compat":
    from fastnn.compat import nielsen
training, test = make_lists({n_train}, {n_test}, {layout!r})
np.random.seed(0); random.seed(0)
with contextlib.redirect_stdout(io.StringIO()):
    if which == "book":
        import nielsen_reference as book
        sizes = [784, 30, 10]
        biases = [np.random.randn(y, 1) for y in sizes[1:]]
        weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]
        weights, biases = book.sgd(weights, biases, training, 1, 10, 3.0)
        book.correct_count(weights, biases, test)
    else:
        net = nielsen.Network([784, 30, 10])
        net.SGD(training, 1, 10, 3.0, test_data=test)
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, *hwm)
"""


def peak_rss_mb(which, args, n_train, n_test):
    code = CHILD.format(root=ROOT, tests=os.path.join(ROOT, "tests"),
                        scripts=os.path.join(ROOT, "scripts"), which=which,
                        n_train=n_train, n_test=n_test, layout=args.layout)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # ru_maxrss (kB), and VmHWM (kB, Linux): the two agree unless the parent
    # was large when it forked (ru_maxrss survives exec), which main()
    # avoids by measuring memory first.
    return [int(v) / 1024 for v in out.stdout.split()[-2:]]


def memory(args):
    n_train, n_test = args.memory_n or args.n_train, args.n_test
    if args.memory_n:
        n_test = max(1, args.n_test * args.memory_n // args.n_train)
    book = peak_rss_mb("book", args, n_train, n_test)
    compat = peak_rss_mb("compat", args, n_train, n_test)
    print(f"peak RSS (ru_maxrss), one epoch on {n_train}/{n_test} samples "
          f"(layout {args.layout}): book {book[0]:.0f} MB, compat {compat[0]:.0f} MB, "
          f"ratio {compat[0] / book[0]:.2f} (floor 1.2)")
    if len(book) > 1 and len(compat) > 1:
        print(f"  VmHWM: book {book[1]:.0f} MB, compat {compat[1]:.0f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs of each")
    parser.add_argument("--layout", choices=["separate", "views"], default="separate")
    parser.add_argument("--book-samples", type=int, default=2000,
                        help="time the book's code on this many samples (0: skip)")
    parser.add_argument("--memory-n", type=int, default=0,
                        help="training samples of the memory runs (0: --n-train)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    # Memory first: a child forked from a parent that holds the data sets
    # would inherit the parent's size in its ru_maxrss.
    if not args.skip_memory:
        memory(args)
    if not args.skip_speed:
        speed(args)


if __name__ == "__main__":
    main()
