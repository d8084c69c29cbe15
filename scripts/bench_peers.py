"""fastnn against the peers a user would pick instead, side by side in one run.

    python scripts/bench_peers.py                 # every workload, every peer
    python scripts/bench_peers.py --workloads W1 W2 --epochs 5
    python scripts/bench_peers.py --busy          # also under load: one core kept busy
    python scripts/bench_peers.py --no-pause      # also back to back, as in a notebook

Each system trains the same network (sigmoid layers, quadratic cost, plain
mini-batch SGD, eta 3.0, no shuffling; the workloads W1-W4 of
scripts/workloads.py) on the same synthetic data (inputs in [0, 1), one-hot
targets of 10 classes) for one epoch at a time: a warm-up epoch, then
--epochs rounds, each of which times one epoch of every system (in an order
rotated from round to round) and one 2048x2048 matmul for the peak. The
per-sample "nielsen" peer and scikit-learn train on the first --slow-samples
samples only (their rate is what is compared). A ratio is the median over
the rounds of fastnn's samples/s over the peer's in the same round, so that
the drift of a shared machine's speed (tens of percent within a minute
here) hits both sides of it alike.

--busy and --no-pause add conditions to every round rather than runs of
their own, for the same reason: a round then holds one pass over the systems
per condition (in an order rotated from round to round), quiet and with the
pause as always, plus loaded (a child process spinning a Python loop, resumed
with SIGCONT for the pass and stopped with SIGSTOP after it) and/or without
the pause before each system. Each condition is compared, round by round,
with the one that differs from it in one flag.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

import fastnn

from workloads import WORKLOADS, flops_per_sample  # scripts/workloads.py

ETA = 3.0


def make_data(sizes, dtype, n_samples, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, sizes[0]), dtype=np.float64).astype(dtype)
    labels = rng.integers(0, sizes[-1], size=n_samples)
    Y = np.zeros((n_samples, sizes[-1]), dtype=dtype)
    Y[np.arange(n_samples), labels] = 1
    return X, Y, labels


def initial_parameters(sizes, dtype, seed=0):
    net = fastnn.Network(sizes, seed=seed, dtype=dtype)
    return [w.copy() for w in net.weights], [b.copy() for b in net.biases]


# --------------------------------------------------------------------------- peers
class FastnnPeer:
    name = "fastnn"

    def __init__(self, sizes, batch, dtype, X, Y):
        self.net = fastnn.Network(sizes, seed=0, dtype=dtype)
        self.batch, self.X, self.Y = batch, X, Y

    def epoch(self):
        self.net.train(self.X, self.Y, epochs=1, batch_size=self.batch, eta=ETA, shuffle=False)
        return len(self.X)


class NumpyPeer:
    """The vectorised matrix form: X @ W.T per batch, BLAS underneath."""

    name = "numpy"

    def __init__(self, sizes, batch, dtype, X, Y):
        self.weights, self.biases = initial_parameters(sizes, dtype)
        self.batch, self.X, self.Y = batch, X, Y
        self.eta = dtype(ETA)

    def epoch(self):
        weights, biases, eta = self.weights, self.biases, self.eta
        for start in range(0, len(self.X), self.batch):
            a = self.X[start:start + self.batch]
            y = self.Y[start:start + self.batch]
            activations = [a]
            for w, b in zip(weights, biases):
                a = 1 / (1 + np.exp(-(a @ w.T + b)))
                activations.append(a)
            delta = (a - y) * a * (1 - a)
            scale = eta / len(y)
            for i in range(len(weights) - 1, -1, -1):
                a_prev = activations[i]
                grad_w = delta.T @ a_prev
                grad_b = delta.sum(axis=0)
                if i > 0:
                    delta = (delta @ weights[i]) * a_prev * (1 - a_prev)
                weights[i] -= scale * grad_w
                biases[i] -= scale * grad_b
        return len(self.X)


class NielsenPeer:
    """The textbook loop: column vectors, backprop one sample at a time."""

    name = "nielsen"

    def __init__(self, sizes, batch, dtype, X, Y, limit):
        weights, biases = initial_parameters(sizes, dtype)
        self.weights = weights
        self.biases = [b.reshape(-1, 1) for b in biases]
        self.batch = batch
        self.X = [x.reshape(-1, 1) for x in X[:limit]]
        self.Y = [y.reshape(-1, 1) for y in Y[:limit]]
        self.eta = dtype(ETA)

    def backprop(self, x, y):
        activation, activations, zs = x, [x], []
        for w, b in zip(self.weights, self.biases):
            z = w @ activation + b
            zs.append(z)
            activation = 1 / (1 + np.exp(-z))
            activations.append(activation)
        nabla_w = [None] * len(self.weights)
        nabla_b = [None] * len(self.biases)
        delta = (activations[-1] - y) * activation * (1 - activation)
        nabla_b[-1] = delta
        nabla_w[-1] = delta @ activations[-2].T
        for layer in range(2, len(self.weights) + 1):
            a = activations[-layer]
            delta = (self.weights[-layer + 1].T @ delta) * a * (1 - a)
            nabla_b[-layer] = delta
            nabla_w[-layer] = delta @ activations[-layer - 1].T
        return nabla_w, nabla_b

    def epoch(self):
        for start in range(0, len(self.X), self.batch):
            batch = range(start, min(start + self.batch, len(self.X)))
            nabla_w = [np.zeros_like(w) for w in self.weights]
            nabla_b = [np.zeros_like(b) for b in self.biases]
            for n in batch:
                delta_w, delta_b = self.backprop(self.X[n], self.Y[n])
                nabla_w = [s + d for s, d in zip(nabla_w, delta_w)]
                nabla_b = [s + d for s, d in zip(nabla_b, delta_b)]
            scale = self.eta / len(batch)
            self.weights = [w - scale * g for w, g in zip(self.weights, nabla_w)]
            self.biases = [b - scale * g for b, g in zip(self.biases, nabla_b)]
        return len(self.X)


class TorchPeer:
    """nn.Linear + nn.Sigmoid, optim.SGD, two threads, on the CPU."""

    name = "torch"

    def __init__(self, sizes, batch, dtype, X, Y):
        import torch

        torch.set_num_threads(2)
        self.torch = torch
        torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
        layers = []
        weights, biases = initial_parameters(sizes, dtype)
        for w, b in zip(weights, biases):
            linear = torch.nn.Linear(w.shape[1], w.shape[0]).to(torch_dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w))
                linear.bias.copy_(torch.from_numpy(b))
            layers += [linear, torch.nn.Sigmoid()]
        self.model = torch.nn.Sequential(*layers)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=ETA)
        self.X, self.Y = torch.from_numpy(X), torch.from_numpy(Y)
        self.batch = batch

    def epoch(self):
        model, optimizer = self.model, self.optimizer
        for start in range(0, len(self.X), self.batch):
            x = self.X[start:start + self.batch]
            y = self.Y[start:start + self.batch]
            optimizer.zero_grad()
            # the quadratic cost C = 1/2 sum_j (y_j - a_j)^2, mean over the batch
            loss = 0.5 * ((model(x) - y) ** 2).sum(dim=1).mean()
            loss.backward()
            optimizer.step()
        return len(self.X)


class SklearnPeer:
    name = "sklearn"

    def __init__(self, sizes, batch, dtype, X, Y, limit):
        from sklearn.neural_network import MLPRegressor

        # learning rate 0.1: with sklearn's linear output layer eta 3.0
        # diverges to NaN; the time of an epoch does not depend on it.
        self.model = MLPRegressor(
            hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic", solver="sgd",
            momentum=0, alpha=0, shuffle=False, max_iter=1, batch_size=batch,
            learning_rate_init=0.1, warm_start=True, random_state=0,
        )
        self.X, self.Y = X[:limit], Y[:limit]

    def epoch(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(self.X, self.Y)
        return len(self.X)


def make_peers(names, sizes, batch, dtype, X, Y, slow_samples):
    for name in names:
        try:
            if name == "fastnn":
                yield FastnnPeer(sizes, batch, dtype, X, Y)
            elif name == "numpy":
                yield NumpyPeer(sizes, batch, dtype, X, Y)
            elif name == "nielsen":
                yield NielsenPeer(sizes, batch, dtype, X, Y, slow_samples)
            elif name == "torch":
                yield TorchPeer(sizes, batch, dtype, X, Y)
            elif name == "sklearn":
                yield SklearnPeer(sizes, batch, dtype, X, Y, slow_samples)
        except ImportError as error:
            print(f"  {name:8s} skipped: {error}")


SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class Condition:
    """How one pass over the systems runs: with the pause before each system
    or back to back, with the busy process stopped or running."""

    pause: bool = True
    loaded: bool = False

    @property
    def label(self):
        if self.pause:
            return "loaded" if self.loaded else "quiet, with the pause"
        return "no pause, loaded" if self.loaded else "no pause"

    @property
    def reference(self):
        """The condition differing in one flag: loaded -> quiet, else no pause -> pause."""
        return Condition(self.pause, False) if self.loaded else Condition(True, False)


QUIET = Condition()

# The busy process: a pure-Python spin on one core. It dies with the bench
# (PR_SET_PDEATHSIG, Linux) even if the bench is killed while it is stopped.
BUSY_LOOP = """
import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 9)
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit()
while True:
    pass
"""


class BusyProcess:
    """One extra process keeping a core busy, stopped except while resumed."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())])
        self.suspend()

    def resume(self):
        os.kill(self.process.pid, signal.SIGCONT)

    def suspend(self):
        os.kill(self.process.pid, signal.SIGSTOP)

    def cpu_seconds(self):
        """CPU time the process has used: /proc/<pid>/schedstat (ns), else /proc/<pid>/stat (ticks)."""
        try:
            with open(f"/proc/{self.process.pid}/schedstat") as file:
                return int(file.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            with open(f"/proc/{self.process.pid}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.process.kill()  # SIGKILL ends a stopped process too
        self.process.wait()


def interleaved_rates(peers, rounds, dtype, conditions=(QUIET,), busy=None):
    """Samples/s of each peer and the matmul peak, measured round-robin.

    Each round runs, for each condition (in an order rotated from round to
    round), one epoch of every peer (in an order rotated from round to
    round) and one 2048x2048 matmul. The speed of this shared machine
    drifts by tens of percent within a minute; measured peer after peer, or
    condition after condition, that drift would land in the ratios. Returns
    {condition: {name: [rate per round]}}, {condition: [peak GFLOP/s per
    round]} and, for the loaded conditions, {condition: {name: [CPU seconds
    of the busy process, wall seconds]}} summed over the timed epochs.
    """
    for peer in peers:
        peer.epoch()  # warm-up: JIT compilation, caches, allocator
    rates = {condition: {peer.name: [] for peer in peers} for condition in conditions}
    peaks = {condition: [] for condition in conditions}
    busy_cpu = {condition: {peer.name: [0.0, 0.0] for peer in peers}
                for condition in conditions if condition.loaded}
    for round_index in range(rounds):
        shift = round_index % len(peers)
        turn = round_index % len(conditions)
        for condition in conditions[turn:] + conditions[:turn]:
            if condition.loaded:
                busy.resume()
            try:
                for peer in peers[shift:] + peers[:shift]:
                    if condition.pause:
                        # Let the previous system's thread pool go idle:
                        # OpenBLAS's and torch's OpenMP threads spin for a
                        # while after their last call and would take a core
                        # from the next system's first batches.
                        time.sleep(SETTLE_SECONDS)
                    cpu = busy.cpu_seconds() if condition.loaded else 0.0
                    started = time.perf_counter()
                    n = peer.epoch()
                    elapsed = time.perf_counter() - started
                    rates[condition][peer.name].append(n / elapsed)
                    if condition.loaded:
                        totals = busy_cpu[condition][peer.name]
                        totals[0] += busy.cpu_seconds() - cpu
                        totals[1] += elapsed
                if condition.pause:
                    time.sleep(SETTLE_SECONDS)
                peaks[condition].append(matmul_peak(dtype, repeats=1))
            finally:
                if condition.loaded:
                    busy.suspend()
    return rates, peaks, busy_cpu


def matmul_peak(dtype, n=2048, repeats=5):
    rng = np.random.default_rng(0)
    a = rng.random((n, n)).astype(dtype)
    b = rng.random((n, n)).astype(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def describe_machine():
    lines = [f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"python {platform.python_version()}, numpy {np.__version__}, fastnn {fastnn.__version__}"]
    try:
        from fastnn import _machine

        import numpy.linalg  # noqa: F401 - NumPy's BLAS, loaded so that its core type shows
        import scipy.linalg.cython_blas  # noqa: F401 - SciPy's, fastnn's BLAS engine
        lines.append(_machine.describe())
    except ImportError:  # an older fastnn, or no SciPy
        pass
    try:
        import numba

        lines.append(f"numba {numba.__version__}, {numba.get_num_threads()} threads")
    except ImportError:  # pragma: no cover - numba is a dependency
        pass
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                         f"{pool.get('architecture')} threads={pool.get('num_threads')}")
    except ImportError:
        pass
    for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if variable in os.environ:
            lines.append(f"{variable}={os.environ[variable]}")
    return lines


def report_condition(condition, per_round, busy_cpu):
    """Print a workload's figures under a condition other than QUIET; return
    fastnn's for the summary (None without fastnn)."""
    rounds = per_round[condition]
    rates = {name: statistics.median(values) for name, values in rounds.items()}

    def load(name):  # the busy process's share of a core during name's timed epochs
        cpu, wall = busy_cpu[condition][name] if condition.loaded else (0.0, 0.0)
        return f"  busy {cpu / wall:4.2f}" if condition.loaded else ""

    title = f"\n  {condition.label}"
    if condition.loaded:
        cpu, wall = (sum(column) for column in zip(*busy_cpu[condition].values()))
        title += (f": the busy process used {cpu / wall:.2f} of a core (CPU s / wall s) during "
                  "the timed epochs;\n  'busy' is that figure during each system's epochs")
    print(title)
    if "fastnn" not in rates:
        for name, rate in rates.items():
            print(f"  {name:8s} {rate:12,.0f} samples/s{load(name)}")
        return None
    ours = np.array(rounds["fastnn"])
    own = statistics.median(ours / np.array(per_round[condition.reference]["fastnn"]))
    print(f"  {'fastnn':8s} {rates['fastnn']:12,.0f} samples/s{load('fastnn')}  "
          f"{own:.2f}x its rate {condition.reference.label}")
    ratios = {name: statistics.median(ours / np.array(values))
              for name, values in rounds.items() if name != "fastnn"}
    for name, ratio in ratios.items():
        print(f"  {name:8s} {rates[name]:12,.0f} samples/s{load(name)}  "
              f"fastnn/{name} = {ratio:6.2f}x")
    fastest = max(ratios, key=rates.get) if ratios else None
    return rates["fastnn"], own, fastest, ratios.get(fastest)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--peers", nargs="+", default=["fastnn", "numpy", "nielsen", "torch", "sklearn"])
    parser.add_argument("--epochs", type=int, default=5,
                        help="timed rounds: epochs of each peer (median taken)")
    parser.add_argument("--slow-samples", type=int, default=2000,
                        help="samples per epoch for the nielsen and sklearn peers")
    parser.add_argument("--busy", action="store_true",
                        help="also time every round under load: one extra process spinning on a core")
    parser.add_argument("--no-pause", action="store_true",
                        help=f"also time every round without the {SETTLE_SECONDS} s pause before each "
                             "system (back to back, as a notebook runs cells)")
    args = parser.parse_args(argv)
    conditions = [Condition(pause, loaded)
                  for pause in ([True, False] if args.no_pause else [True])
                  for loaded in ([False, True] if args.busy else [False])]

    for line in describe_machine():
        print(line)
    print(f"numpy matmul 2048x2048 peak at the start: float32 {matmul_peak(np.float32):.1f} GFLOP/s, "
          f"float64 {matmul_peak(np.float64):.1f} GFLOP/s")
    print(f"{args.epochs} rounds per workload; each round times one epoch of every peer and one "
          "matmul,\nand every figure below is a median over the rounds (a ratio: of the ratios "
          "within each round).")
    if len(conditions) > 1:
        print(f"Each round does that once per condition ({'; '.join(c.label for c in conditions)}), "
              "in an order rotated\nfrom round to round; a condition's 'x its rate' compares "
              "fastnn with itself in the same round.")

    summary, condition_summary = [], []
    with BusyProcess() if args.busy else contextlib.nullcontext() as busy:
        for name in args.workloads:
            workload = WORKLOADS[name]
            sizes, batch, dtype = workload.sizes, workload.batch_size, workload.dtype
            X, Y, _ = make_data(sizes, dtype, workload.n_samples)
            print(f"\n{name}: sizes {'-'.join(map(str, sizes))}, batch {batch}, "
                  f"{np.dtype(dtype).name}, {workload.n_samples} samples")
            peers = list(make_peers(args.peers, sizes, batch, dtype, X, Y, args.slow_samples))
            if not peers:
                continue
            per_condition, peaks_per_condition, busy_cpu = interleaved_rates(
                peers, args.epochs, dtype, conditions, busy)
            del peers
            per_round, peaks = per_condition[QUIET], peaks_per_condition[QUIET]
            rates = {peer_name: statistics.median(values) for peer_name, values in per_round.items()}
            if "fastnn" not in rates:
                for peer_name, rate in rates.items():
                    print(f"  {peer_name:8s} {rate:12,.0f} samples/s")
            else:
                ours = rates["fastnn"]
                ours_per_round = np.array(per_round["fastnn"])
                gflops = ours * flops_per_sample(sizes) / 1e9
                share_of_peak = statistics.median(ours_per_round * flops_per_sample(sizes) / 1e9
                                                  / np.array(peaks))
                print(f"  {'fastnn':8s} {ours:12,.0f} samples/s  {gflops:7.1f} GFLOP/s "
                      f"= {100 * share_of_peak:.0f}% of the {np.dtype(dtype).name} matmul peak "
                      f"({statistics.median(peaks):.0f} GFLOP/s)")
                ratios = {peer_name: statistics.median(ours_per_round / np.array(values))
                          for peer_name, values in per_round.items() if peer_name != "fastnn"}
                for peer_name, ratio in ratios.items():
                    print(f"  {peer_name:8s} {rates[peer_name]:12,.0f} samples/s  "
                          f"fastnn/{peer_name} = {ratio:6.2f}x")
                if ratios:
                    fastest = max(ratios, key=lambda p: rates[p])
                    summary.append((name, ours, fastest, ratios[fastest], share_of_peak, ratios))
            for condition in conditions[1:]:
                figures = report_condition(condition, per_condition, busy_cpu)
                if figures:
                    condition_summary.append((name, condition, *figures))

    if summary:
        print("\nsummary (ratio = fastnn samples/s / peer samples/s)")
        peers = sorted({p for row in summary for p in row[5]})
        print(f"  {'workload':8s} {'fastnn/s':>10s} " + " ".join(f"{p:>8s}" for p in peers)
              + f" {'vs fastest':>11s} {'% peak':>7s}")
        for name, ours, fastest, ratio, share_of_peak, ratios in summary:
            cells = " ".join(f"{ratios[p]:7.2f}x" if p in ratios else f"{'-':>8s}" for p in peers)
            print(f"  {name:8s} {ours:10,.0f} {cells} {ratio:6.2f}x {fastest:>4s} "
                  f"{100 * share_of_peak:6.0f}%")
    if condition_summary:
        print("\nfastnn under each condition: x its own rate in the condition that differs in one "
              "flag,\nand fastnn / the fastest peer in the same condition")
        print(f"  {'workload':8s} {'condition':18s} {'fastnn/s':>10s}  {'x own rate':28s} "
              f"{'vs fastest':>11s}")
        for name, condition, ours, own, fastest, ratio in condition_summary:
            versus = f"{ratio:6.2f}x {fastest}" if fastest else "-"
            print(f"  {name:8s} {condition.label:18s} {ours:10,.0f}  "
                  f"{f'{own:.2f}x {condition.reference.label}':28s} {versus}")

if __name__ == "__main__":
    main()
