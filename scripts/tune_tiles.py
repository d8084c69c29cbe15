"""Candidate register tiles of the blocked kernels, timed on this machine.

    python scripts/tune_tiles.py                         # every equation
    python scripts/tune_tiles.py --equations forward --shapes "W3 L1"
    NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=... python scripts/tune_tiles.py   # AVX2 code

Builds each candidate block size of ``fastnn.kernels.blocked``'s factories
(``weighted_sums_for``, ``backward_sums_for``, ``gradient_rows_for``) for
the CPU numba targets here, and times it, in one thread, on the layers of
the workloads (scripts/workloads.py): each call covers as many whole blocks
of samples (or rows) as the layer has, so that the figure is the block's
own rate (G multiply-adds per second), leaving out the remainders. Rounds
alternate over the candidates (best of several calls each round, median
over rounds), so that the drift of a shared machine hits them alike. The
rule of ``fastnn.kernels.isa.tiles_for`` was written from these figures
(docs/performance.md, "Tiles from the machine").
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from fastnn import _machine  # noqa: E402
from fastnn.kernels import blocked, isa  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

CANDIDATES = {
    # (samples, rows)
    "forward": [(6, 4), (4, 4), (3, 4), (4, 3), (2, 4), (2, 6), (6, 2), (8, 2), (3, 3), (4, 2),
                (5, 2), (2, 8)],
    # (samples, rows)
    "backward": [(4, 4), (2, 4), (4, 2), (3, 4), (2, 8), (4, 3), (8, 2), (2, 2), (1, 8)],
    # (rows, samples)
    "gradient": [(8, 4), (4, 4), (4, 2), (2, 4), (8, 2), (6, 2), (2, 8), (3, 4), (4, 3), (2, 2)],
}

SHAPES = {f"{name} L{i}": (WORKLOADS[name].batch_size, WORKLOADS[name].sizes[i],
                           WORKLOADS[name].sizes[i - 1])
          for name in ("W4", "W3", "W2") for i in range(1, len(WORKLOADS[name].sizes) - 1)}


def call_for(equation, tile, m, n_j, n_k, arrays):
    """An argument-free call of the candidate over the whole blocks of the
    layer, and the multiply-adds it does."""
    w, x, out, delta, delta_prev, grad_w, grad_b, b = arrays
    if equation == "forward":
        samples, rows = tile
        kernel = blocked.weighted_sums_for(samples, rows)
        starts = np.arange(0, m - samples + 1, samples, dtype=np.int64)
        j_end = n_j - n_j % rows
        zero = np.int64(0)

        def call():
            for n0 in starts:
                kernel(w, x, out, n0, zero, j_end)
        return call, len(starts) * samples * j_end * n_k
    if equation == "backward":
        samples, rows = tile
        kernel = blocked.backward_sums_for(samples, rows)
        starts = np.arange(0, m - samples + 1, samples, dtype=np.int64)
        wb = w[:n_j - n_j % rows]

        def call():
            for n0 in starts:
                kernel(wb, delta, delta_prev, n0)
        return call, len(starts) * samples * wb.shape[0] * n_k
    rows, samples = tile
    kernel = blocked.gradient_rows_for(rows, samples)
    m_used = m - m % samples
    xs, ds = x[:m_used], delta[:m_used]
    groups = np.arange(0, n_j - rows + 1, rows, dtype=np.int64)
    scale, eta = w.dtype.type(1.0 / m), w.dtype.type(0.0)

    def call():
        for j in groups:
            kernel(ds, xs, w, b, grad_w, grad_b, scale, eta, j)
    return call, len(groups) * rows * m_used * n_k


def best_of(call, repeats):
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equations", nargs="+", default=list(CANDIDATES),
                        choices=list(CANDIDATES))
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    host = isa.host_isa()
    print(_machine.describe())
    print(f"kernels built for: {host.describe()}; the rule picks {isa.tiles_for(host).label()}")
    print(f"median over {args.rounds} rounds of the best of {args.repeats} calls, one thread; "
          "G multiply-adds/s, and each candidate / the best\n")
    rng = np.random.default_rng(0)
    for shape in args.shapes:
        m, n_j, n_k = SHAPES[shape]
        f = np.float32
        arrays = ((rng.standard_normal((n_j, n_k)) * 0.05).astype(f),
                  rng.random((m, n_k)).astype(f), np.zeros((m, n_j), f),
                  (rng.standard_normal((m, n_j)) * 0.01).astype(f), np.zeros((m, n_k), f),
                  np.zeros((n_j, n_k), f), np.zeros(n_j, f), np.zeros(n_j, f))
        for equation in args.equations:
            calls = {}
            for tile in CANDIDATES[equation]:
                call, work = call_for(equation, tile, m, n_j, n_k, arrays)
                if work:
                    call()  # compile
                    calls[tile] = (call, work)
            rates = {tile: [] for tile in calls}
            order = list(calls)
            for round_index in range(args.rounds):
                shift = round_index % len(order)
                for tile in order[shift:] + order[:shift]:
                    call, work = calls[tile]
                    rates[tile].append(work / best_of(call, args.repeats) / 1e9)
            medians = {tile: statistics.median(values) for tile, values in rates.items()}
            top = max(medians.values())
            label = "samples x rows" if equation != "gradient" else "rows x samples"
            print(f"{shape} ({m}x{n_j}x{n_k}) {equation} ({label}):")
            for tile, rate in sorted(medians.items(), key=lambda item: -item[1]):
                print(f"    {tile[0]}x{tile[1]:<3d} {rate:7.1f} G MAC/s  {rate / top:5.2f}")
        print()


if __name__ == "__main__":
    main()
