"""Training on data larger than memory: chunks streamed through the compiled epoch.

``fastnn.streaming.train(network, X, Y, epochs=...)`` (also
``train_streaming``, ``Network.train_streaming``) trains like
``Network.train``, through the same training loop (``fastnn.training``: this
module supplies the chunks and one epoch over them), on X and Y that are
never loaded whole: ``np.load(..., mmap_mode="r")``
arrays, a chunked store (``fastnn.datasets.open_chunked``), ``dask.array``
arrays, or anything with ``shape``, ``dtype`` and row slicing (a zarr or h5py
array). Each epoch visits the chunks in a seeded random order; each chunk is
read into a buffer of the network's dtype, checked, shuffled within itself
(seeded) and trained through one ``EpochPlan`` whose buffers are allocated
once. A background thread reads the next chunk while the current one
trains. Memory: two chunks of the network's dtype, plus what reading one
chunk takes (a dask chunk's computed array, one chunk's labels one-hot).

What the chunk-wise shuffle does and does not match of a full shuffle:
docs/streaming.md. This module does not import dask: a dask array is
recognised by its type's module and dask is imported when one is read.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import kernels, training
from ._interrupt import EpochRunner
from ._validation import (all_finite_array, check_bool, check_memory, check_positive_int,
                          check_targets, check_thread_count)
from .datasets import ChunkedArray, release_pages
from .run_state import epoch_seed

__all__ = ["train", "train_streaming", "DEFAULT_CHUNK_BYTES"]

# In-memory arrays (NumPy, memmaps, sliceable arrays without chunks of
# their own) are read in chunks of about this many bytes of the network's
# dtype, a whole number of batches.
DEFAULT_CHUNK_BYTES = 32 << 20
# The spawn key of the chunk order's generator: two numbers, so it never
# meets the one-number keys of fastnn.run_state.epoch_seed.
_CHUNK_ORDER_KEY = 0x5354524D  # "STRM"


def train(network, X, Y, *, epochs, batch_size=10, eta=3.0, lmbda=0.0, seed=None,
          shuffle=True, chunk_rows=None, test_data=None, callback=None, progress=None,
          n_threads=None, prefetch=True, on_divergence="raise", optimizer="sgd"):
    """Mini-batch gradient descent over X and Y streamed chunk by chunk.

    X : (n, sizes[0]) (or (n, ...) flattening to sizes[0]) numbers; Y :
        (n, sizes[-1]) targets or (n,) integer labels. Either may be a
        NumPy array or memmap, a ``fastnn.datasets.ChunkedArray``, a
        ``dask.array`` or another array with shape, dtype and row slicing.
    chunk_rows : rows per chunk. Default: the chunks of a chunked store or
        a dask array (X's), else about DEFAULT_CHUNK_BYTES of the network's
        dtype (a whole number of batches). Given, it overrides them (rows
        are then sliced across the stored chunks).
    epochs, batch_size, eta, lmbda, seed, shuffle, test_data, callback,
    n_threads, on_divergence, optimizer : as in ``Network.train``; lmbda's
        n is the whole data's row count. An optimizer with state
        (momentum, Nesterov, Adam: docs/theory.md §13) keeps it from chunk
        to chunk and epoch to epoch, and its learning-rate schedule moves
        after each epoch, as in ``Network.train``; ``history.optimizer``
        is its state at the end.
    progress : optional ``progress(epoch, samples_done, n_samples)``,
        called after each chunk.
    prefetch : read the next chunk in a background thread while the
        current one trains.

    Each epoch visits every chunk once, in a random order drawn from
    ``seed`` and the epoch's number, and every row of a chunk once, in a
    random order within the chunk (``shuffle=False``: chunks and rows in
    their order). Mini-batches never span two chunks: a chunk whose rows
    are not a multiple of batch_size ends in a smaller batch. With one
    chunk holding all the data this is ``Network.train``'s epoch, bitwise.
    The same seed gives bitwise the same parameters, run after run, with or
    without prefetch and whatever the thread count.

    The epochs run through fastnn's one training loop (``fastnn.training``):
    divergence, history, test accuracy, the callback's stop and Ctrl-C
    behave as in ``Network.train``.

    Every chunk is checked as it is read (NaN or inf inputs, labels out of
    range, targets of the wrong shape, ...): a bad chunk raises ValueError
    naming the chunk and the row, and the network gets back the parameters
    it had before the call (even after epochs of training). Shapes and
    dtypes are checked before the first step. Ctrl-C stops at the next
    mini-batch (or, for chunks that train in under 0.25 s, at the chunk's
    end) and raises KeyboardInterrupt carrying ``history``, the steps taken
    kept, as ``Network.train`` does (no checkpoints here).

    Returns a ``TrainingHistory`` (also ``network.history``); its ``cost``
    is the sum over the epoch's chunks of each sample's cost at its step,
    divided by n. ``progress`` is called after each chunk (the epoch's
    last: after the epoch's bookkeeping, as in ``Network.train``).
    """
    state = training.new_state(epochs=epochs, batch_size=batch_size, eta=eta, lmbda=lmbda,
                               shuffle=shuffle, seed=seed)
    training.set_optimizer(state, optimizer, network.n_params, network.dtype)
    prefetch = check_bool(prefetch, "prefetch")
    n_threads = check_thread_count(n_threads)
    data = _Source(network, X, Y, chunk_rows, state.batch_size)
    return training.run(network, _Chunks(network, data, state, n_threads, prefetch), state,
                        test_data=test_data, callback=callback, progress=progress,
                        on_divergence=on_divergence)


# The name before fastnn.streaming.train (Network.train_streaming calls it too).
train_streaming = train


# ---------------------------------------------------------------------------
# Where the chunks come from
# ---------------------------------------------------------------------------
def _is_dask(array) -> bool:
    module = type(array).__module__ or ""
    return module.split(".")[0] == "dask" and hasattr(array, "chunks")


def _as_array_like(array, name):
    if not (hasattr(array, "shape") and hasattr(array, "dtype") and hasattr(array, "__getitem__")):
        array = np.asarray(array)
    try:
        kind = np.dtype(array.dtype).kind
    except TypeError:
        kind = "O"
    if kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


class _Source:
    """X and Y, their chunk bounds, and how to read chunk c into buffers."""

    def __init__(self, network, X, Y, chunk_rows, batch_size):
        X = _as_array_like(X, "X")
        Y = _as_array_like(Y, "Y")
        self.sizes, self.dtype = network.sizes, network.dtype
        self.softmax = network.output == "softmax"
        shape = tuple(int(s) for s in X.shape)
        if len(shape) < 2:
            raise ValueError(f"X must have shape (n_samples, {self.sizes[0]}), got {shape}")
        if shape[0] == 0:
            raise ValueError("X is empty: it has 0 samples")
        if math.prod(shape[1:]) != self.sizes[0]:
            raise ValueError(f"X has {math.prod(shape[1:])} features per sample but the "
                             f"network's input layer has {self.sizes[0]} (shape {shape})")
        y_shape = tuple(int(s) for s in Y.shape)
        if len(y_shape) not in (1, 2) or (len(y_shape) == 2 and y_shape[1] != self.sizes[-1]):
            raise ValueError(f"Y must be labels of shape ({shape[0]},) or targets of shape "
                             f"({shape[0]}, {self.sizes[-1]}), got {y_shape}")
        if y_shape[0] != shape[0]:
            raise ValueError(f"X has {shape[0]} samples but Y has {y_shape[0]}")
        self.X, self.Y = X, Y
        self.n_rows = shape[0]
        native = None
        if isinstance(X, ChunkedArray):
            native = X.chunk_rows
        elif _is_dask(X):
            native = tuple(int(r) for r in X.chunks[0])
        elif not isinstance(X, np.ndarray):
            chunks = getattr(X, "chunks", None)  # zarr, h5py: rows per chunk
            if isinstance(chunks, tuple) and chunks and isinstance(chunks[0], int) \
                    and chunks[0] > 0:
                native = _uniform(self.n_rows, chunks[0])
        if chunk_rows is not None:
            rows = _uniform(self.n_rows, check_positive_int(chunk_rows, "chunk_rows"))
        elif native is not None:
            rows = native
        else:
            row_bytes = self.sizes[0] * self.dtype.itemsize
            per_chunk = max(batch_size, DEFAULT_CHUNK_BYTES // row_bytes // batch_size * batch_size)
            rows = _uniform(self.n_rows, per_chunk)
        self.starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
        self.n_chunks = len(rows)
        self.max_rows = max(rows)
        # Chunk c of X (and of Y) read whole from its own file when the
        # bounds are the store's.
        self.x_native = isinstance(X, ChunkedArray) and tuple(rows) == X.chunk_rows
        self.y_native = isinstance(Y, ChunkedArray) and tuple(rows) == Y.chunk_rows

    def bounds(self, c):
        return int(self.starts[c]), int(self.starts[c + 1])

    def _where(self, c):
        start, stop = self.bounds(c)
        return f"chunk {c} (of {self.n_chunks}; rows {start:,} to {stop - 1:,})"

    def load(self, c, x_buffer, t_buffer) -> int:
        """Read chunk c into x_buffer[:rows] and its targets into
        t_buffer[:rows], checked; returns rows. ValueError/TypeError name
        the chunk and the row."""
        start, stop = self.bounds(c)
        rows = stop - start
        inputs = x_buffer[:rows]
        labels = None
        if _is_dask(self.X):
            import dask

            if _is_dask(self.Y):
                x_part, labels = dask.compute(self.X[start:stop], self.Y[start:stop])
            else:
                (x_part,) = dask.compute(self.X[start:stop])
            self._copy(x_part, inputs, c)
        elif self.x_native:
            self.X.read_chunk(c, out=inputs)
        else:
            part = self.X[start:stop]
            self._copy(part, inputs, c)
            release_pages(part)
        if not all_finite_array(inputs):
            bad = np.argwhere(~np.isfinite(inputs))[0]
            kind = "NaN" if np.isnan(inputs[tuple(bad)]) else "inf"
            raise ValueError(f"X contains {kind} at row {start + int(bad[0]):,} (feature "
                             f"{int(bad[1])}), in {self._where(c)}; remove or impute "
                             "non-finite values first")
        if labels is None:
            if self.y_native:
                labels = self.Y.read_chunk(c)
            elif _is_dask(self.Y):
                import dask

                (labels,) = dask.compute(self.Y[start:stop])
            else:
                labels = self.Y[start:stop]
        try:
            targets = check_targets(np.asarray(labels), rows, self.sizes[-1], self.dtype, "Y",
                                    softmax=self.softmax)
        except (ValueError, TypeError) as error:
            row = _first_bad_row(np.asarray(labels), self.sizes[-1])
            where = f"row {start + row:,}, " if row is not None else ""
            raise type(error)(f"{error} (at {where}in {self._where(c)})") from None
        t_buffer[:rows] = targets
        release_pages(labels)
        return rows

    def _copy(self, part, out, c):
        part = np.asarray(part)
        if part.dtype.kind not in "biuf":
            raise TypeError(f"X must hold real numbers, got dtype {part.dtype} in {self._where(c)}")
        if part.shape[0] != out.shape[0] or part.size != out.size:
            raise ValueError(f"X's {self._where(c)} has shape {part.shape}, expected "
                             f"({out.shape[0]}, {out.shape[1]})")
        with np.errstate(over="ignore", invalid="ignore"):
            np.copyto(out, part.reshape(out.shape), casting="unsafe")


def _first_bad_row(labels, n_outputs):
    """The first row (within the chunk) of labels or targets that check_targets
    refuses for its value (not finite, not a class index), or None."""
    if labels.dtype.kind not in "biuf" or labels.ndim not in (1, 2):
        return None
    with np.errstate(invalid="ignore"):
        if labels.ndim == 2 or (labels.dtype.kind == "f" and n_outputs == 1):
            bad = ~np.isfinite(labels.reshape(labels.shape[0], -1)).all(axis=1)
        elif labels.dtype.kind == "f":
            bad = ~np.isfinite(labels) | (labels != np.round(labels)) | (labels < 0) | (
                labels >= n_outputs)
        else:
            bad = (labels < 0) | (labels >= n_outputs)
    rows = np.flatnonzero(bad)
    return int(rows[0]) if rows.size else None


def _uniform(n_rows, rows):
    return [rows] * (n_rows // rows) + ([n_rows % rows] if n_rows % rows else [])


# ---------------------------------------------------------------------------
# One epoch: the chunks in their seeded order
# ---------------------------------------------------------------------------
class _Chunks(training.EpochSource):
    """The epochs of a streamed run for the training loop: each visits the
    chunks in an order drawn from the seed and the epoch, each chunk read
    into a buffer (the next one read in the background meanwhile),
    shuffled within itself and trained through one EpochPlan."""

    def __init__(self, network, source, state, n_threads, prefetch):
        self.network, self.source, self.state = network, source, state
        self.n_threads = n_threads
        self.n_samples = source.n_rows
        self.prefetch = prefetch and source.n_chunks > 1
        self.plan = self.pool = self.pending = None

    @property
    def driver(self):
        return self.plan.last_run or self.plan.driver

    def prepare(self):
        network, source = self.network, self.source
        n_buffers = 2 if self.prefetch else 1
        rows, dtype = source.max_rows, network.dtype
        check_memory(n_buffers * rows * (network.sizes[0] + network.sizes[-1]) * dtype.itemsize,
                     f"{n_buffers} chunk buffer(s) of {rows:,} rows (give a smaller chunk_rows)")
        self.plan = training.plan_for(network, self.state.batch_size, source.n_rows,
                                      self.n_threads, self.state.plan,
                                      stateful=self.state.optimizer != "sgd")
        self.state.plan = self.plan.layer_plan.record()  # the run's plan, for a resume
        self.x_buffers = [np.empty((rows, network.sizes[0]), dtype) for _ in range(n_buffers)]
        self.t_buffers = [np.empty((rows, network.sizes[-1]), dtype) for _ in range(n_buffers)]
        self.loaded = [-1] * n_buffers  # the chunk each buffer holds
        self.order = np.empty(rows, np.int64)
        warm = min(self.plan.batch_size, rows)
        self.x_buffers[0][:warm] = 0
        self.t_buffers[0][:warm] = 0
        training.warm_up(network, self.plan, self.x_buffers[0][:warm],
                         self.t_buffers[0][:warm])
        self.runner = EpochRunner(self.plan, None, self.ctrl_c).__enter__()
        if self.prefetch:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastnn-prefetch")
        self.visits = self.schedule()
        self.visit, self.buffer = next(self.visits), 0
        self.ready = False  # whether the visit's chunk is in its buffer

    def schedule(self):
        """(epoch, position in the epoch, chunk) of every chunk visit."""
        n_chunks = self.source.n_chunks
        for epoch in range(self.state.epochs):
            if self.state.shuffle:
                generator = np.random.default_rng(np.random.SeedSequence(
                    self.state.seed_entropy, spawn_key=(_CHUNK_ORDER_KEY, epoch)))
                chunks = generator.permutation(n_chunks)
            else:
                chunks = range(n_chunks)
            for position, c in enumerate(chunks):
                yield epoch, position, int(c)

    def _load(self, c, b):
        if self.loaded[b] != c:
            self.loaded[b] = -1
            try:
                self.source.load(c, self.x_buffers[b], self.t_buffers[b])
            except Exception as error:
                # a bad (or unreadable) chunk leaves the network as it was
                # before the call
                raise training.SourceFailed(error, restore="start") from None
            self.loaded[b] = c

    def run_epoch(self, epoch, first):
        source, plan, runner, state = self.source, self.plan, self.runner, self.state
        eta = training.epoch_eta(state)  # the schedule's, moved after each epoch
        step = training.step_options(state, self.network.dtype)
        cost, samples = 0.0, 0
        while True:
            if not self.ready:
                self._ready()
            _, position, c = self.visit
            following = next(self.visits, None)
            following_buffer = (self.buffer + 1) % len(self.x_buffers)
            if self.pool is not None and following is not None:
                self.pending = self.pool.submit(self._load, following[2], following_buffer)
            start, stop = source.bounds(c)
            rows = stop - start
            order = self.order[:rows]
            if self.state.shuffle:
                kernels.shuffle_order(order, epoch_seed(self.state.seed_entropy,
                                                        epoch * source.n_chunks + position))
            else:
                order[:] = np.arange(rows)
            chunk_cost, done = 0.0, 0
            if not runner.interrupted:  # (Ctrl-C while the chunk was read)
                # dropout's masks are keyed by the row of the whole data set
                # (docs/theory.md §12): the chunk passes its first row
                chunk_cost = runner.run(self.network.params, self.x_buffers[self.buffer][:rows],
                                        self.t_buffers[self.buffer][:rows], order,
                                        eta, n_train=source.n_rows,
                                        dropout_key=training.dropout_key(self.network,
                                                                         self.state, epoch),
                                        first_row=start, **step)
                done = plan.samples_done(rows)
            if runner.interrupted:
                return cost + float(chunk_cost), samples + done
            cost += float(chunk_cost)
            samples += rows
            # the next visit (the next epoch's first, after the last chunk)
            self.visit, self.buffer, self.ready = following, following_buffer, False
            if position == source.n_chunks - 1:
                return cost, samples
            if self.report_progress is not None:
                self.report_progress(samples)

    def _ready(self):
        """The visit's chunk in its buffer: prefetched, or read now."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()  # a bad chunk raises here
        else:
            self._load(self.visit[2], self.buffer)
        self.ready = True

    def close(self):
        if self.pending is not None:
            self.pending.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        if self.plan is not None:
            self.runner.__exit__(None, None, None)
