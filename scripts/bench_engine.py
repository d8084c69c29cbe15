"""The crossover between the register-blocked kernels and BLAS, per layer
shape and equation, on this machine.

    python scripts/bench_engine.py                       # the workloads' layers and more
    python scripts/bench_engine.py --shapes 128x256x784 200x100x784 --parts 1 2

For each layer shape m x L_i x L_{i-1} (batch, neurons, inputs) and each of
§1 (forward), §6 (backward) and §7 (gradient and step), times one part of
the layer as the staged epoch cuts it (``--parts`` parts: 1 is the whole
layer, 2 what two cores take), in one thread, through the blocked kernels
(``fastnn.kernels.layers``) and through BLAS (``fastnn.kernels.blas``),
with ``fastnn.engine.measure``, the measurement ``fastnn compile --tune``
stores as wisdom. Prints microseconds and the ratio tiles / BLAS (> 1:
BLAS is faster). fastnn.engine.BLAS_MIN_WORK was set from these figures
(docs/performance.md, "The big-layer engine").
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from fastnn import _blas, _machine, engine  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

# the workloads' layers, scikit-learn's default batch of 200 on them, and
# sizes in between, from small to big
DEFAULT_SHAPES = sorted({(w.batch_size, w.sizes[i], w.sizes[i - 1])
                         for w in WORKLOADS.values() if w.batch_size > 1
                         for i in range(1, len(w.sizes))}
                        | {(200, 100, 784), (200, 256, 784), (200, 256, 256), (64, 128, 784),
                           (64, 64, 64), (128, 64, 256), (32, 256, 784), (256, 512, 512)})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=None,
                        help="m x L_i x L_(i-1), e.g. 128x256x784")
    parser.add_argument("--parts", nargs="+", type=int, default=[engine.default_parts()])
    parser.add_argument("--dtypes", nargs="+", default=["float32"])
    args = parser.parse_args(argv)
    shapes = DEFAULT_SHAPES if args.shapes is None else [
        tuple(int(v) for v in text.lower().split("x")) for text in args.shapes]
    print(_machine.describe())
    print(f"BLAS engine: {_blas.describe()}")
    print(f"default rule: BLAS from {engine.BLAS_MIN_WORK:,} multiply-adds per layer and "
          f"{engine.BLAS_MIN_ROWS} neurons\n")
    print(f"{'shape':>14s} {'MACs':>11s} {'parts':>5s} {'equation':9s} {'tiles us':>9s} "
          f"{'blas us':>9s} {'tiles/blas':>10s}")
    for parts in args.parts:
        for shape in shapes:
            _, timings = engine.measure([shape], args.dtypes, parts)
            for key, seconds in timings.items():
                equation = key.split()[0]
                ratio = seconds["tiles"] / seconds["blas"]
                m, n_j, n_k = shape
                print(f"{m:4d}x{n_j:4d}x{n_k:4d} {m * n_j * n_k:11,d} {parts:5d} {equation:9s} "
                      f"{seconds['tiles']:9.1f} {seconds['blas']:9.1f} {ratio:10.2f}", flush=True)


if __name__ == "__main__":
    main()
