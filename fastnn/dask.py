"""Data-parallel training on dask.distributed (``pip install "fastnn[dask]"``).

``fastnn.dask.train(net, X, Y, client=..., mode=...)`` trains a
``fastnn.Network`` on dask arrays X (n, sizes[0]) and Y (n, sizes[-1]) or
(n,) labels, chunked along rows, whose chunks live on the workers of a
``dask.distributed`` cluster. Only Dask's own machinery is used: the
chunks' futures (``persist``/``futures_of``), ``Client.submit`` of tasks on
them (the scheduler runs each where its chunk is), one ``Client.scatter`` of
the parameter vector per round, ``Client.run`` to load the compiled kernels
on every worker once, and the scheduler's recomputation of lost chunks. No
data goes to the driver: it receives one reduced vector per round.

Two modes (the mathematics, the cost model and measurements:
docs/distributed.md):

``mode="gradient"``
    Synchronous gradient descent. Each round, each chunk's gradient *sum*
    over the rows of the current batch (full batch by default) is computed
    where the chunk lives, with fastnn's compiled forward and backward
    passes in sub-batches of ``sub_batch`` rows summed in order; the sums
    are added in a fixed binary tree over chunk index, and the driver takes
    the step ``w <- (1 - eta lmbda / n) w - (eta / m) sum``. The result is
    ``Network.train(X, Y, batch_size=m, shuffle=False)`` to rounding, and
    bitwise the same whatever the number of workers and wherever the
    chunks are (it depends on the chunking and ``sub_batch`` only).

``mode="average"``
    Local SGD with parameter averaging, once per epoch. Each chunk (a
    partition) runs fastnn's SGD epoch (``EpochPlan``, mini-batches of
    ``batch_size``, one thread) from the shared parameters, where it
    lives, in an order shuffled by a seed of (run, epoch, chunk); the
    driver averages the chunks' parameters weighted by their sample counts.
    ``average_every=k`` averages every k mini-batches instead. ``replicas=R``
    instead splits the chunks into R runs of consecutive
    chunks, each trained one chunk after another in a seeded order. The
    result is deterministic for a seed and a chunking (and R), whatever the
    workers and wherever the chunks are.

A worker that dies is survived: the scheduler recomputes the chunks it
held from their source (the dask graph X and Y were built from) and any
task it was running; a round whose scattered parameters were lost is run
again from the start. In gradient mode the final parameters are bitwise
those of an undisturbed run.

``import fastnn`` does not import this module (nor dask).
"""
from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

try:  # absolute imports: this module's own name is "dask"
    import dask.array as da
    import distributed
    from distributed import futures_of
except ImportError as error:  # pragma: no cover - exercised without dask
    raise ImportError(
        "fastnn.dask needs dask[array] and distributed: pip install \"fastnn[dask]\" "
        f"({error})") from error

from fastnn import engine, training
from fastnn.checkpoint import DASK_WRITER, read_checkpoint
from fastnn.kernels.optimizer import step_flat
from fastnn.network import Network
from fastnn.persistence import network_from
from fastnn.plan import choose_driver
from fastnn.run_state import TrainingHistory, dropout_seed, set_total_epochs
from fastnn._validation import check_epochs, check_positive_int
from fastnn._dask_tasks import (Spec, add, check_chunk, chunk_gradient, chunk_sgd,
                                prepare_worker)

__all__ = ["train", "resume", "DaskTrainingHistory", "WorkerLostError", "MODES"]

MODES = ("gradient", "average")
# Rows per forward/backward call in gradient mode: the workspace of 784-100-10
# at 256 rows is about 1 MB (in L2), and a call costs ~1 ms, so its ~us of
# call overhead does not show.
DEFAULT_SUB_BATCH = 256
# Errors of the cluster, not of the computation: a round that raises one of
# these is run again (its result does not depend on where it runs).
_CLUSTER_ERRORS = (distributed.client.FutureCancelledError, distributed.scheduler.KilledWorker,
                   distributed.comm.CommClosedError, OSError, TimeoutError)
try:  # where the futures' cancellation error lives moved between versions
    from concurrent.futures import CancelledError as _FuturesCancelled
    _CLUSTER_ERRORS += (_FuturesCancelled,)
except ImportError:  # pragma: no cover
    pass


@dataclass
class DaskTrainingHistory(TrainingHistory):
    """``TrainingHistory`` (cost, seconds, ... one entry per epoch) and
    what each round of a ``fastnn.dask.train`` run cost.

    mode: "gradient" or "average".
    round_seconds: wall time of each round at the driver, from the
        scatter of the parameters to the reduced result.
    round_started: when each round started (``time.perf_counter()`` of
        the driver).
    compute_seconds: per round, the compute of the busiest worker: the sum
        of the time spent inside fastnn's kernels by the tasks that ran on
        it (measured in the tasks). ``round_seconds - compute_seconds`` is
        the overhead: scheduling, transfers of parameters and partial sums,
        the tree's additions, the driver's step.
    task_seconds: per round, that compute summed over every task.
    workers: per round, how many workers ran its tasks.
    rows: per round, the samples it trained on.
    retried_rounds: rounds run again after a worker was lost.
    """

    mode: str = ""
    round_seconds: list = field(default_factory=list)
    round_started: list = field(default_factory=list)
    compute_seconds: list = field(default_factory=list)
    task_seconds: list = field(default_factory=list)
    workers: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    retried_rounds: int = 0

    @property
    def rounds(self) -> int:
        return len(self.round_seconds)


# -- the driver ----------------------------------------------------------------------
def train(net, X, Y, *, client=None, mode="gradient", epochs, batch_size=None, eta,
          lmbda=0.0, seed=None, replicas=None, average_every=None, sub_batch=DEFAULT_SUB_BATCH,
          checkpoint=None, checkpoint_every=1, callback=None, retries=3, optimizer="sgd"):
    """Train ``net`` in place on the dask arrays X, Y across a dask cluster.

    net : a ``fastnn.Network`` (any sizes, cost, output, dtype).
    X : dask array (n, sizes[0]), chunked along rows only. Y : dask array of
        targets (n, sizes[-1]) or integer labels (n,), with X's row chunks.
        Persisted arrays are used where they are; others are persisted
        first (``Client.persist``). Chunks in the network's dtype save a
        conversion per round.
    client : a ``distributed.Client`` (None: the current one).
    mode : "gradient" or "average" (module docstring, docs/distributed.md).
    epochs, eta, lmbda : as in ``Network.train`` (L2 with n = all samples).
    batch_size : gradient mode: samples per step, in row order (None: all
        n, full-batch gradient descent); average mode: the mini-batch of
        each replica's SGD (None: 10, ``Network.train``'s default).
    seed : average mode's shuffles (None: fresh entropy, as in train).
    replicas : average mode: None (each chunk trains its own copy of the
        parameters, where it lives), or R: R copies, each trained on a run
        of consecutive chunks one after the other (fewer copies average
        better, but a copy hops between the workers of its chunks and R
        caps the parallelism; at most the number of chunks).
    average_every : average mode with one copy per chunk: average every k
        mini-batches of each chunk instead of once per epoch (a round per
        k batches: chunk c trains on positions [j k B, (j+1) k B) of its
        epoch's shuffled order in round j; the copies that trained are
        averaged weighted by the rows each trained in the round).
    sub_batch : gradient mode: rows per forward/backward call.
    checkpoint, checkpoint_every : write a checkpoint (fastnn's format,
        ``fastnn.checkpoint``; readable by ``read_checkpoint``) every
        ``checkpoint_every`` epochs and after the last; ``resume`` goes on.
    callback : ``callback(epoch, history)`` after each epoch, on the driver;
        training stops if it returns True.
    retries : how many times a round is run again after the cluster lost
        what it needed (a worker died), before the error is raised.
    optimizer : gradient mode: the driver's step, as in ``Network.train``
        ("sgd", "momentum", "nesterov", "adam", ``fastnn.SGD(...)``,
        ``fastnn.Adam(...)``; docs/theory.md §13), with L2 coupled into the
        gradient; its state is checkpointed and resumed with the run.
        Average mode averages copies trained by plain SGD ("sgd" only).

    Returns a ``DaskTrainingHistory``; ``net.params`` holds the result.
    Raises ``fastnn.DivergenceError`` (parameters of the last finite epoch
    restored) if the cost or the parameters become NaN or inf.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a fastnn.Network, got {type(net).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    # (batch_size None: all samples in gradient mode, known once the data is)
    state = training.new_state(epochs=epochs, batch_size=10 if batch_size is None else batch_size,
                               eta=eta, lmbda=lmbda, shuffle=mode == "average", seed=seed,
                               checkpoint_every=checkpoint_every)
    sub_batch = check_positive_int(sub_batch, "sub_batch")
    retries = _check_retries(retries)
    if replicas is not None:
        replicas = check_positive_int(replicas, "replicas")
    if average_every is not None:
        average_every = check_positive_int(average_every, "average_every")
        if mode != "average" or replicas is not None:
            raise ValueError("average_every applies to mode='average' with one copy per "
                             "chunk (replicas=None)")
    training.check_callable(callback, "callback")
    if mode != "gradient" and not (isinstance(optimizer, str) and optimizer == "sgd"):
        raise ValueError(f"optimizer={optimizer!r} needs mode='gradient': mode='average' "
                         "averages copies of the parameters trained by plain SGD, and an "
                         "optimizer's state (velocity, moments) has no average that means "
                         "the same step")
    training.set_optimizer(state, optimizer, net.n_params, net.dtype)
    if mode == "gradient" and net.neurons.has_dropout:  # (its passes never drop units)
        raise ValueError(f"{net!r} has dropout: train it with mode='average', not 'gradient'")
    client = _get_client(client)
    data = _Data(client, net, X, Y, checksum=checkpoint is not None)
    if mode == "gradient" and batch_size is None:
        state.batch_size = data.n
    # replicas 0: one per chunk (the default)
    options = _Options(mode, 0 if replicas is None else min(replicas, data.n_chunks), sub_batch,
                       average_every or 0)
    return training.run(net, _Rounds(client, net, data, state, options, retries), state,
                        DaskTrainingHistory(mode=mode), callback=callback,
                        checkpoint=checkpoint)


def resume(path, X, Y, *, client=None, epochs=None, checkpoint=None, callback=None,
           retries=3):
    """Continue the ``fastnn.dask.train`` run saved in the checkpoint ``path``
    on the same data (checked: row chunks and checksum). Returns
    ``(network, history)``; in gradient mode, and in average mode with the
    same chunking, the parameters are bitwise those of the uninterrupted
    run."""
    saved, state, history, checksum, n_samples = read_checkpoint(path)
    network = network_from(saved)
    extras = _read_extras(path)
    if extras is None:
        raise ValueError(f"{os.fspath(path)} was written by Network.train, not by "
                         "fastnn.dask.train: resume it with fastnn.resume")
    mode, replicas, sub_batch, average_every, chunks = extras
    client = _get_client(client)
    data = _Data(client, network, X, Y, checksum=True)
    if (data.n != n_samples or tuple(data.chunks) != tuple(chunks)
            or data.checksum != checksum):
        raise ValueError(
            f"X and Y are not the data {os.fspath(path)} was trained on ({n_samples} samples "
            f"in row chunks {_chunks_text(chunks)}, with its checksum); resume with the same "
            "X and Y, chunked the same way")
    if epochs is not None:
        set_total_epochs(state, check_epochs(epochs))
    history = DaskTrainingHistory(mode=mode, cost=history.cost,
                                  test_accuracy=history.test_accuracy, seconds=history.seconds)
    rounds = _Rounds(client, network, data, state,
                     _Options(mode, replicas, sub_batch, average_every), _check_retries(retries))
    training.run(network, rounds, state, history, callback=callback,
                 checkpoint=os.fspath(path) if checkpoint is None else checkpoint,
                 checksum=checksum)
    return network, history


@dataclass
class _Options:
    mode: str
    replicas: int  # 0: one copy per chunk
    sub_batch: int
    average_every: int = 0  # 0: once per epoch


def _check_retries(retries):
    if retries != 0:
        retries = check_positive_int(retries, "retries")
    return int(retries)


def _get_client(client):
    if client is None:
        try:
            return distributed.get_client()
        except ValueError:
            raise ValueError("fastnn.dask.train needs a dask.distributed cluster: pass "
                             "client=distributed.Client(...) or create one first") from None
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    return client


def _chunks_text(chunks):
    chunks = list(chunks)
    if len(chunks) > 6:
        return f"({', '.join(map(str, chunks[:3]))}, ... {len(chunks)} chunks)"
    return str(tuple(chunks))


class _Data:
    """X and Y on the cluster: their chunks' futures in row order, checked."""

    def __init__(self, client, net, X, Y, *, checksum):
        for name, array in (("X", X), ("Y", Y)):
            if not isinstance(array, da.Array):
                raise TypeError(
                    f"{name} must be a dask array (dask.array.from_array, from_zarr, "
                    f"map_blocks, ...), got {type(array).__name__}; for data in memory use "
                    "Network.train")
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n_samples, {net.sizes[0]}), got {X.shape}")
        if Y.ndim not in (1, 2):
            raise ValueError(f"Y must have shape (n_samples, {net.sizes[-1]}) or (n_samples,), "
                             f"got {Y.shape}")
        if any(np.isnan(c) for c in X.chunks[0]) or any(np.isnan(c) for c in Y.chunks[0]):
            raise ValueError("X and Y must have known chunk sizes (call compute_chunk_sizes() "
                             "on arrays built from dataframes or boolean indexing)")
        if X.shape[1] != net.sizes[0]:
            raise ValueError(f"X has {X.shape[1]} features per sample but the network's input "
                             f"layer has {net.sizes[0]}")
        for name, array in (("X", X), ("Y", Y)):
            if array.ndim == 2 and array.numblocks[1] != 1:
                raise ValueError(
                    f"{name} is chunked along its columns too ({array.numblocks[1]} column "
                    f"chunks {array.chunks[1]}); fastnn.dask trains on whole rows: rechunk it "
                    f"along rows only, e.g. {name}.rechunk({{1: -1}})")
        if Y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
        if tuple(Y.chunks[0]) != tuple(X.chunks[0]):
            raise ValueError(
                f"Y's row chunks {_chunks_text(Y.chunks[0])} differ from X's "
                f"{_chunks_text(X.chunks[0])}: rechunk Y like X, e.g. "
                "Y.rechunk({0: X.chunks[0]})")
        if X.shape[0] == 0:
            raise ValueError("X is empty: it has 0 samples")
        X, Y = client.persist([X, Y])
        futures = {f.key: f for f in futures_of(X) + futures_of(Y)}
        x_keys = [row[0] for row in X.__dask_keys__()]
        y_keys = [row[0] if Y.ndim == 2 else row for row in Y.__dask_keys__()]
        self.X, self.Y = X, Y  # kept: the futures live as long as the run
        self.x = [futures[k] for k in x_keys]
        self.y = [futures[k] for k in y_keys]
        self.chunks = [int(c) for c in X.chunks[0]]
        self.offsets = np.concatenate([[0], np.cumsum(self.chunks)]).astype(np.int64)
        self.n = int(self.offsets[-1])
        self.n_chunks = len(self.chunks)
        checks = client.map(check_chunk, self.x, self.y, n_inputs=net.sizes[0],
                            n_outputs=net.sizes[-1], dtype=net.dtype.name, checksum=checksum,
                            softmax=net.neurons.softmax, pure=False)
        crcs = client.gather(checks)
        # one number for the data and its chunking: the CRC of the chunks'
        # (rows, CRC-32) in row order
        self.checksum = zlib.crc32(np.asarray([(c, r) for c, r in zip(self.chunks, crcs)],
                                              dtype=np.int64).tobytes())


def _tree(client, parts):
    """Add ``parts`` (futures of (sum, cost, timings)) pairwise in a fixed
    binary tree over their order: ((0+1)+(2+3))+... ."""
    level = list(parts)
    while len(level) > 1:
        nxt = [client.submit(add, level[i], level[i + 1], pure=False)
               for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class WorkerLostError(RuntimeError):
    """The cluster lost what a round needed (a worker died) more times than
    ``retries`` allowed. The parameters of the epoch's start are restored;
    ``workers`` names the workers that left during the failed round."""

    def __init__(self, message, workers):
        super().__init__(message)
        self.workers = workers


class _Rounds(training.EpochSource):
    """The epochs of a fastnn.dask run for the training loop: each is one
    round (average mode) or a round per batch (gradient mode, average_every)
    on the cluster. Ctrl-C stops between rounds; a stopped epoch is undone
    (its checkpoint could not say where in the rounds it stopped)."""

    resumable_mid_epoch = False
    writer = DASK_WRITER

    def __init__(self, client, net, data, state, options, retries):
        self.client, self.net, self.data, self.state = client, net, data, state
        self.options, self.retries = options, retries
        self.n_samples = data.n
        self.spec = Spec(tuple(net.sizes), net.dtype.name, options.sub_batch, net.neurons,
                          dropout_seed(state.seed_entropy), engine.run_plan(state, net))
        n_weights = sum(a * b for a, b in zip(net.sizes[1:], net.sizes[:-1]))
        self.is_weight = np.zeros(net.n_params, bool)
        self.is_weight[:n_weights] = True
        average = options.mode == "average"
        plan = engine.LayerPlan.from_record(self.spec.plan, len(net.sizes) - 1)
        self.driver = (f"{choose_driver(net.sizes, state.batch_size, plan)} (one thread per task), "
                       "averaged" if average else "forward_pass + backward_pass, tree-reduced")

    def attach(self, ctrl_c, report_progress):
        super().attach(ctrl_c, report_progress)
        self.history = self.net.history  # the run's DaskTrainingHistory

    def prepare(self):
        # every worker loads (or compiles) the kernels once, before the clock
        seconds = self.client.run(prepare_worker, self.spec,
                                  self.state.batch_size if self.options.mode == "average"
                                  else None)
        return max(seconds.values(), default=0.0)

    def run_epoch(self, epoch, first):
        self.rows_done = 0
        if self.options.mode == "average":
            cost = self._average_epoch(epoch)
        else:
            cost = self._gradient_epoch()
        return cost, self.rows_done

    def data_checksum(self):
        return self.data.checksum

    def checkpoint_extra(self):
        """This run's own entries beside fastnn's checkpoint format: the
        mode, the replicas, the sub-batch and the row chunks."""
        return {
            "dask_mode": np.array(self.options.mode),
            "dask_replicas": np.array(self.options.replicas),
            "dask_sub_batch": np.array(self.options.sub_batch),
            "dask_average_every": np.array(self.options.average_every),
            "dask_chunks": np.asarray(self.data.chunks, dtype=np.int64),
        }

    # -- rounds -------------------------------------------------------------------
    def _round(self, submit):
        """Scatter the parameters, submit the round's tasks (``submit(params
        future)`` returns the future of its reduced (sum, cost, timings)),
        wait for it; again from the scatter if the cluster lost something."""
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            workers = self._workers()
            try:
                params = self.client.scatter(self.net.params, hash=False)
                root = submit(params)
                total, cost, timings = root.result()
            except _CLUSTER_ERRORS as error:
                if attempt == self.retries:
                    raise training.SourceFailed(self._lost(error, workers),
                                                restore="epoch") from error
                self.history.retried_rounds += 1
                continue
            wall = time.perf_counter() - started
            per_worker = {}
            for worker, seconds in timings:
                per_worker[worker] = per_worker.get(worker, 0.0) + seconds
            self.history.round_seconds.append(wall)
            self.history.round_started.append(started)
            self.history.compute_seconds.append(max(per_worker.values()))
            self.history.task_seconds.append(sum(per_worker.values()))
            self.history.workers.append(len(per_worker))
            return total, cost

    def _gradient_epoch(self):
        data, state = self.data, self.state
        cost = 0.0
        for start in range(0, data.n, state.batch_size):
            if self.ctrl_c.interrupted:
                break  # (the loop undoes the epoch)
            stop = min(start + state.batch_size, data.n)
            parts = []
            for c in range(data.n_chunks):
                lo = max(start, data.offsets[c]) - data.offsets[c]
                hi = min(stop, data.offsets[c + 1]) - data.offsets[c]
                if hi > lo:
                    parts.append((c, int(lo), int(hi)))

            def submit(params, parts=parts):
                return _tree(self.client, [
                    self.client.submit(chunk_gradient, params, data.x[c], data.y[c], lo, hi,
                                       self.spec, pure=False)
                    for c, lo, hi in parts])

            total, batch_cost = self._round(submit)
            self.history.rows.append(stop - start)
            self._step(total, stop - start)
            self.rows_done = stop
            cost += batch_cost
        return cost

    def _step(self, total, m):
        """params <- decay params - (eta / m) total (weights decayed by
        1 - eta lmbda / n; biases not), computed in float64; or, with an
        optimizer that keeps state, its step (docs/theory.md §13) on the
        mean gradient total / m, L2 coupled in as lmbda / n."""
        state = self.state
        optimizer = training.optimizer_of(state)
        if optimizer is not None:
            dtype = self.net.dtype
            rule = optimizer.kernel(state.lmbda / self.data.n, dtype)
            grad = (total / m).astype(dtype)
            # the step's t (Adam) is steps[0] + 1: one step per round
            step_flat(self.net.params, grad, np.asarray(self.net.sizes, np.int64), rule,
                      dtype.type(training.epoch_eta(state)), np.int64(0))
            rule.steps[0] += 1
            return
        params = self.net.params.astype(np.float64)
        if state.lmbda:
            decay = 1.0 - state.eta * state.lmbda / self.data.n
            params[self.is_weight] *= decay
        params -= (state.eta / m) * total
        self.net.params[...] = params

    def _groups(self):
        """The chunks of each replica: one each, or (replicas=R) chunks
        [bounds[r], bounds[r+1]) for replica r (about equal counts)."""
        n, r = self.data.n_chunks, self.options.replicas
        if r == 0:
            return [[c] for c in range(n)]
        bounds = [(i * n) // r for i in range(r + 1)]
        return [list(range(bounds[i], bounds[i + 1])) for i in range(r)]

    def _average_epoch(self, epoch):
        if self.options.average_every:
            return self._average_epoch_in_rounds(epoch)
        data, state, spec = self.data, self.state, self.spec
        groups = self._groups()
        entropy = state.seed_entropy

        def seed(*key):
            return np.random.SeedSequence(entropy, spawn_key=key).generate_state(1)[0]

        def submit(params):
            ends = []
            for r, group in enumerate(groups):
                visit = np.array(group)
                np.random.default_rng(seed(1, epoch, r)).shuffle(visit)
                rows = sum(data.chunks[c] for c in group)
                previous = params
                for i, c in enumerate(visit):
                    last = i == len(visit) - 1
                    previous = self.client.submit(
                        chunk_sgd, previous, data.x[c], data.y[c], spec, state.batch_size,
                        state.eta, state.lmbda, data.n, np.uint32(seed(0, epoch, int(c))),
                        float(rows) if last else None, first_row=int(data.offsets[c]),
                        epoch=epoch, pure=False)
                ends.append(previous)
            return _tree(self.client, ends)

        total, cost = self._round(submit)
        self.history.rows.append(data.n)
        self.net.params[...] = total / data.n
        self.rows_done = data.n
        return cost

    def _average_epoch_in_rounds(self, epoch):
        """average_every=k: a round per k mini-batches of every chunk."""
        data, state, spec = self.data, self.state, self.spec
        entropy = state.seed_entropy
        seeds = [np.uint32(np.random.SeedSequence(entropy, spawn_key=(0, epoch, c))
                           .generate_state(1)[0]) for c in range(data.n_chunks)]
        span = self.options.average_every * state.batch_size
        cost = 0.0
        for lo in range(0, max(data.chunks), span):
            if self.ctrl_c.interrupted:
                break  # (the loop undoes the epoch)
            parts = [(c, lo, min(lo + span, data.chunks[c])) for c in range(data.n_chunks)
                     if data.chunks[c] > lo]
            rows = sum(hi - lo for _, lo, hi in parts)

            def submit(params, parts=parts):
                return _tree(self.client, [
                    self.client.submit(chunk_sgd, params, data.x[c], data.y[c], spec,
                                       state.batch_size, state.eta, state.lmbda, data.n,
                                       seeds[c], float(hi - lo), (lo, hi),
                                       first_row=int(data.offsets[c]), epoch=epoch, pure=False)
                    for c, lo, hi in parts])

            total, round_cost = self._round(submit)
            self.history.rows.append(rows)
            self.net.params[...] = total / rows
            self.rows_done += rows
            cost += round_cost
        return cost

    def _workers(self):
        try:
            return set(self.client.scheduler_info()["workers"])
        except Exception:  # the scheduler itself is gone
            return set()

    def _lost(self, error, before):
        """The error to raise when a round failed for good: which workers
        left during it, the epoch, and what was restored."""
        gone = sorted(before - self._workers())
        who = (f"worker{'s' if len(gone) > 1 else ''} {', '.join(gone)} left the cluster"
               if gone else "the cluster lost what the round needed")
        epoch = self.state.epochs_done + 1
        restored = f"epoch {epoch - 1}" if epoch > 1 else "the start"
        tries = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
        return WorkerLostError(
            f"fastnn.dask.train: {who} during a round of epoch {epoch}, and the round failed "
            f"{tries} (retries={self.retries}; {type(error).__name__}: {error}). The "
            f"parameters of {restored} are restored; train again with more retries, or "
            "resume from the checkpoint", gone)


def _read_extras(path):
    """(mode, replicas, sub_batch, average_every, chunks) of a fastnn.dask checkpoint, or
    None for a checkpoint of Network.train."""
    from fastnn._files import npz_headers, open_npz, read_npz_member, read_npz_scalar

    archive = open_npz(os.fspath(path), "checkpoint")
    with archive:
        headers = npz_headers(archive)
        if "dask_mode" not in headers:
            return None
        mode = str(read_npz_scalar(archive, headers, "dask_mode", "U"))
        replicas = int(read_npz_scalar(archive, headers, "dask_replicas", "iu"))
        sub_batch = int(read_npz_scalar(archive, headers, "dask_sub_batch", "iu"))
        average_every = (int(read_npz_scalar(archive, headers, "dask_average_every", "iu"))
                         if "dask_average_every" in headers else 0)
        header = headers["dask_chunks"]
        if header.dtype.kind not in "iu" or len(header.shape) != 1 or header.shape[0] > 1 << 24:
            raise ValueError(f"{os.fspath(path)} is not a valid fastnn.dask checkpoint")
        chunks = read_npz_member(archive, "dask_chunks", header).tolist()
    if mode not in MODES or replicas < 0 or sub_batch < 1 or average_every < 0:
        raise ValueError(f"{os.fspath(path)} is not a valid fastnn.dask checkpoint")
    return mode, replicas, sub_batch, average_every, chunks
