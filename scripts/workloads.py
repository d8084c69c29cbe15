"""The benchmark workloads W1-W4: their one definition.

Every benchmark that trains "W1".."W4" takes the network, batch size and
dtype from ``WORKLOADS`` here: scripts/bench_peers.py, bench_ab.py,
bench_kernels_ab.py, bench_compile.py and the asv suite
(asv_benches/benchmarks/_common.py). A script run as ``python scripts/x.py``
finds this module because Python puts scripts/ on sys.path; the asv suite
adds scripts/ itself.

It lives outside the ``fastnn`` package on purpose: asv installs *old*
commits of fastnn and runs the benchmark files of the current checkout
against them, and an old commit's package would not have it. For the same
reason it must not import fastnn.

``n_samples`` is the epoch of bench_peers.py and bench_ab.py. Tools that
need shorter epochs keep the shape and take fewer samples
(``workload.with_samples(n)``), saying why where they do: the asv suite
(2,000-4,000, so that ``asv run --quick`` stays short; its saved results
measured those), bench_kernels_ab.py (2,000-10,000) and bench_compile.py
(1,000).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = ["Workload", "WORKLOADS", "flops_per_sample"]


@dataclass(frozen=True)
class Workload:
    """A network trained by plain mini-batch SGD: layer sizes (L_0, ..., L_l),
    batch size, dtype (``np.float32`` or ``np.float64``, a type: callable,
    as ``dtype(3.0)``) and samples per epoch."""

    sizes: tuple[int, ...]
    batch_size: int
    dtype: type
    n_samples: int

    def with_samples(self, n_samples: int) -> "Workload":
        """The same network, batch size and dtype with ``n_samples`` per epoch."""
        return dataclasses.replace(self, n_samples=int(n_samples))

    @property
    def description(self) -> str:
        """e.g. "784-30-10, batch 1, float64, 10,000 samples"."""
        return (f"{'-'.join(map(str, self.sizes))}, batch {self.batch_size}, "
                f"{np.dtype(self.dtype).name}, {self.n_samples:,} samples")


# The workloads of the speed issue: per-sample SGD on a small network (W1),
# then mini-batches on networks from small to one whose layers are big
# enough for threads (W4).
WORKLOADS = {
    "W1": Workload((784, 30, 10), 1, np.float64, 10_000),
    "W2": Workload((784, 30, 10), 10, np.float32, 10_000),
    "W3": Workload((784, 100, 10), 32, np.float32, 20_000),
    "W4": Workload((784, 256, 256, 10), 128, np.float32, 20_000),
}


def flops_per_sample(sizes) -> int:
    """Floating-point operations (2 per multiply-add) of one training sample.

    Forward: sum_i L_i L_{i-1} multiply-adds; weight gradient: the same;
    backward delta (layers i >= 2 only, layer 1 has no delta to pass back):
    sum_{i>=2} L_i L_{i-1}. Sigmoids, biases and the update step are left
    out: they are O(L_i) per sample or O(params) per batch.
    """
    layer_macs = [fan_out * fan_in for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
    return 2 * (2 * sum(layer_macs) + sum(layer_macs[1:]))
