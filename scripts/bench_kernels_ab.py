"""Two versions of fastnn's kernels timed against each other on the same arrays.

    python scripts/bench_kernels_ab.py HEAD~1 WORKTREE
    python scripts/bench_kernels_ab.py main WORKTREE --cases "W4 L1" W1 --rounds 20

Each case times one kernel call (forward_layer, backward_delta or
layer_gradient at one layer of a workload of scripts/bench_peers.py); for
``W1``, one per-sample epoch of 2,000 samples; for ``epoch W1`` ..
``epoch W4``, one whole epoch of that workload (samples in order, as in
bench_peers.py) through the kernel Network.train would pick in that version
(the shared-epoch kernels where it has them and use_shared_epoch says so). Both versions are imported
into this process under their own package names (as scripts/bench_ab.py
does) and run in alternating rounds (A B, B A, ...); a round times each
version's best of several calls, and the report is the median over rounds of
A's time over B's, with the quartiles.

Both versions work on *the same arrays*. Where each version had arrays of
its own, the ratio of two identical kernels moved between 0.8x and 1.2x
from one run to the next on this machine: where an array lands in memory
(its offset from the others modulo 4 KiB, which decides whether loads and
stores alias in the store buffer) changes a kernel's time by that much.
With shared arrays, an A/A control (``HEAD HEAD``) gave medians of
0.93-1.04 per kernel in a noisy half hour (most within 0.98-1.01), and
1.00 for W1.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_ab import extract  # noqa: E402

# (name, batch m, L_i, L_{i-1}): the layers of W2-W4 in scripts/bench_peers.py
LAYERS = [
    ("W4 L1", 128, 256, 784),
    ("W4 L2", 128, 256, 256),
    ("W4 L3", 128, 10, 256),
    ("W3 L1", 32, 100, 784),
    ("W3 L2", 32, 10, 100),
    ("W2 L1", 10, 30, 784),
    ("W2 L2", 10, 10, 30),
]
KERNELS = ("forward", "backward", "gradient")
ETA = 3.0


def layer_calls(kernels, arrays):
    """The three kernels of one layer as argument-free calls on ``arrays``."""
    w, b, x, a, delta, delta_prev, grad_w, grad_b = (
        arrays[key] for key in ("w", "b", "x", "a", "delta", "delta_prev", "grad_w", "grad_b"))
    m = x.shape[0]
    return {
        "forward": lambda: kernels.forward_layer(w, b, x, a),
        "backward": lambda: kernels.backward_delta(w, delta, x, delta_prev),
        "gradient": lambda: kernels.layer_gradient(delta, x, w, b, grad_w, grad_b, 1.0 / m, ETA),
    }


def layer_arrays(m, n_out, n_in, rng):
    f = np.float32
    return {
        "w": (rng.standard_normal((n_out, n_in)) * 0.05).astype(f),
        "b": np.zeros(n_out, f),
        "x": rng.random((m, n_in)).astype(f),
        "a": np.zeros((m, n_out), f),
        "delta": (rng.standard_normal((m, n_out)) * 0.01).astype(f),
        "delta_prev": np.zeros((m, n_in), f),
        "grad_w": np.zeros((n_out, n_in), f),
        "grad_b": np.zeros(n_out, f),
    }


def w1_call(kernels, arrays):
    """One per-sample epoch (784-30-10, float64, 2,000 samples) from fixed
    starting weights."""
    sizes, params, start = arrays["sizes"], arrays["params"], arrays["start"]
    X, Y, order = arrays["X"], arrays["Y"], arrays["order"]
    activations, deltas, gram = arrays["activations"], arrays["deltas"], arrays["gram"]

    def call():
        params[:] = start
        kernels.train_epoch_per_sample(params, sizes, X, Y, order, ETA, activations, deltas, gram)
    return call


def w1_arrays(kernels, rng):
    f = np.float64
    sizes = np.array([784, 30, 10], np.int64)
    n = 2000
    n_params = sum(int(sizes[i] * sizes[i - 1] + sizes[i]) for i in range(1, len(sizes)))
    Y = np.zeros((n, 10), f)
    Y[np.arange(n), rng.integers(0, 10, n)] = 1
    rows = kernels.workspace_size(sizes, kernels.LOOKAHEAD)
    return {
        "sizes": sizes, "X": rng.random((n, 784)), "Y": Y,
        "order": np.arange(n, dtype=np.int64),
        "start": rng.standard_normal(n_params) * 0.05, "params": np.zeros(n_params, f),
        "activations": np.zeros(rows, f), "deltas": np.zeros(rows, f),
        "gram": np.zeros((kernels.LOOKAHEAD, kernels.LOOKAHEAD), f),
    }


# name: (sizes, batch size, dtype, samples), as in scripts/bench_peers.py
EPOCHS = {
    "epoch W1": ([784, 30, 10], 1, np.float64, 4_000),
    "epoch W2": ([784, 30, 10], 10, np.float32, 10_000),
    "epoch W3": ([784, 100, 10], 32, np.float32, 10_000),
    "epoch W4": ([784, 256, 256, 10], 128, np.float32, 10_000),
}


def epoch_arrays(kernels, name, rng):
    sizes, batch, dtype, n = EPOCHS[name]
    sizes = np.array(sizes, np.int64)
    n_params = sum(int(sizes[i] * sizes[i - 1] + sizes[i]) for i in range(1, len(sizes)))
    Y = np.zeros((n, sizes[-1]), dtype)
    Y[np.arange(n), rng.integers(0, sizes[-1], n)] = 1
    rows = kernels.LOOKAHEAD if batch == 1 else batch
    length = kernels.workspace_size(sizes, rows)
    return {
        "sizes": sizes, "batch": batch, "X": rng.random((n, sizes[0])).astype(dtype), "Y": Y,
        "order": np.arange(n, dtype=np.int64),
        "start": (rng.standard_normal(n_params) * 0.05).astype(dtype),
        "params": np.zeros(n_params, dtype), "grad": np.zeros(n_params, dtype),
        "activations": np.zeros(length, dtype), "deltas": np.zeros(length, dtype),
        "gram": np.zeros((kernels.LOOKAHEAD, kernels.LOOKAHEAD), dtype),
        "batch_targets": np.zeros((batch, sizes[-1]), dtype),
        "x_ring": np.zeros((3 * rows, sizes[0]), dtype),
    }


def epoch_call(kernels, a):
    """One epoch through the kernel that Network.train of this version uses."""
    import numba

    sizes, batch = a["sizes"], a["batch"]
    shared = hasattr(kernels, "use_shared_epoch") and kernels.use_shared_epoch(sizes, batch)

    def call():
        a["params"][:] = a["start"]
        if batch == 1 and shared:
            kernels.train_epoch_per_sample_shared(
                a["params"], sizes, a["X"], a["Y"], a["order"], ETA, a["activations"],
                a["deltas"], a["gram"], a["x_ring"].reshape(-1), numba.get_num_threads())
        elif batch == 1:
            kernels.train_epoch_per_sample(a["params"], sizes, a["X"], a["Y"], a["order"], ETA,
                                           a["activations"], a["deltas"], a["gram"])
        elif shared:
            kernels.train_epoch_shared(
                a["params"], a["grad"], sizes, a["X"], a["Y"], a["order"], batch, ETA,
                a["activations"], a["deltas"], a["batch_targets"], a["x_ring"],
                numba.get_num_threads())
        else:
            # Versions with one-thread and threaded mini-batch epochs pick
            # as EpochPlan does; older ones had the threads inside train_epoch.
            threaded = (hasattr(kernels, "train_epoch_threaded")
                        and kernels.uses_layer_threads(sizes, batch))
            driver = kernels.train_epoch_threaded if threaded else kernels.train_epoch
            driver(a["params"], a["grad"], sizes, a["X"], a["Y"], a["order"], batch,
                   ETA, a["activations"], a["deltas"], a["batch_targets"])
    return call


def best_of(call, repeats):
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def compare(call_a, call_b, rounds, repeats):
    """Median and quartiles over rounds of time(A) / time(B), and B's median time."""
    ratios, times_b = [], []
    for round_index in range(rounds):
        if round_index % 2 == 0:
            time_a, time_b = best_of(call_a, repeats), best_of(call_b, repeats)
        else:
            time_b, time_a = best_of(call_b, repeats), best_of(call_a, repeats)
        ratios.append(time_a / time_b)
        times_b.append(time_b)
    return np.median(ratios), np.percentile(ratios, 25), np.percentile(ratios, 75), np.median(times_b)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="git revision (or WORKTREE) of version A")
    parser.add_argument("b", help="git revision (or WORKTREE) of version B")
    names = [name for name, *_ in LAYERS] + ["W1"] + list(EPOCHS)
    parser.add_argument("--cases", nargs="+", default=names, choices=names)
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=KERNELS)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        destination = pathlib.Path(temporary)
        version_a = extract(args.a, destination, "fastnn_kernels_a").kernels
        version_b = extract(args.b, destination, "fastnn_kernels_b").kernels
        print(f"A = {args.a}, B = {args.b}; median over {args.rounds} alternating rounds "
              "of A's time / B's time (quartiles), same arrays for both\n")
        rng = np.random.default_rng(0)
        for name, m, n_out, n_in in LAYERS:
            if name not in args.cases:
                continue
            arrays = layer_arrays(m, n_out, n_in, rng)
            calls_a, calls_b = layer_calls(version_a, arrays), layer_calls(version_b, arrays)
            for kernel in args.kernels:
                calls_a[kernel](), calls_b[kernel]()  # compile
                ratio, low, high, seconds = compare(calls_a[kernel], calls_b[kernel],
                                                    args.rounds, repeats=20)
                print(f"{name:6s} {m:4d}x{n_out:4d}x{n_in:4d} {kernel:9s} B {seconds * 1e6:8.1f} us"
                      f"   A/B {ratio:.3f} ({low:.3f}-{high:.3f})")
        if "W1" in args.cases:
            arrays = w1_arrays(version_a, rng)
            call_a, call_b = w1_call(version_a, arrays), w1_call(version_b, arrays)
            call_a(), call_b()
            ratio, low, high, seconds = compare(call_a, call_b, args.rounds, repeats=3)
            print(f"W1     per-sample epoch of 2,000  B {seconds * 1e3:8.2f} ms"
                  f"   A/B {ratio:.3f} ({low:.3f}-{high:.3f})")
        for name in EPOCHS:
            if name not in args.cases:
                continue
            arrays = epoch_arrays(version_a, name, rng)
            call_a, call_b = epoch_call(version_a, arrays), epoch_call(version_b, arrays)
            call_a(), call_b()
            ratio, low, high, seconds = compare(call_a, call_b, args.rounds, repeats=3)
            print(f"{name:9s} of {len(arrays['X']):,} samples  B {seconds * 1e3:8.2f} ms"
                  f"   A/B {ratio:.3f} ({low:.3f}-{high:.3f})")


if __name__ == "__main__":
    main()
