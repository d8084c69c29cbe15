"""Training on data larger than memory: chunks streamed through the compiled epoch.

``train_streaming(network, X, Y, epochs=...)`` trains like ``Network.train``
on X and Y that are never loaded whole: ``np.load(..., mmap_mode="r")``
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
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import kernels
from ._interrupt import EpochRunner
from ._validation import (all_finite_array, all_finite, check_bool, check_epochs, check_inputs,
                          check_labels, check_memory, check_non_negative_float,
                          check_positive_float, check_positive_int, check_targets,
                          check_thread_count)
from .datasets import ChunkedArray, release_pages
from .exceptions import DivergenceError, DivergenceWarning
from .plan import EpochPlan
from .run_state import TrainingHistory, epoch_seed
from .training import warm_up

__all__ = ["train_streaming", "DEFAULT_CHUNK_BYTES"]

# In-memory arrays (NumPy, memmaps, sliceable arrays without chunks of
# their own) are read in chunks of about this many bytes of the network's
# dtype, a whole number of batches.
DEFAULT_CHUNK_BYTES = 32 << 20
# The spawn key of the chunk order's generator: two numbers, so it never
# meets the one-number keys of fastnn.run_state.epoch_seed.
_CHUNK_ORDER_KEY = 0x5354524D  # "STRM"
_ON_DIVERGENCE = ("raise", "warn", "stop")


def train_streaming(network, X, Y, *, epochs, batch_size=10, eta=3.0, lmbda=0.0, seed=None,
                    shuffle=True, chunk_rows=None, test_data=None, callback=None,
                    progress=None, n_threads=None, prefetch=True, on_divergence="raise"):
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
    n_threads, on_divergence : as in ``Network.train``; lmbda's n is the
        whole data's row count.
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
    divided by n.
    """
    epochs = check_epochs(epochs)
    batch_size = check_positive_int(batch_size, "batch_size")
    eta = check_positive_float(eta, "eta")
    lmbda = check_non_negative_float(lmbda, "lmbda")
    shuffle = check_bool(shuffle, "shuffle")
    prefetch = check_bool(prefetch, "prefetch")
    n_threads = check_thread_count(n_threads)
    source = _Source(network, X, Y, chunk_rows, batch_size)
    n_samples = source.n_rows
    if lmbda and not eta * lmbda / n_samples < 1:
        raise ValueError(
            f"eta * lmbda / n = {eta:g} * {lmbda:g} / {n_samples} is "
            f"{eta * lmbda / n_samples:g}: L2's factor 1 - eta lmbda / n would be 0 or "
            "negative; use a smaller lmbda (or eta)")
    try:
        entropy = np.random.SeedSequence(seed).entropy
    except (TypeError, ValueError) as error:
        raise TypeError(f"seed must be None or a non-negative int, got {seed!r}") from error
    test_inputs = test_labels = None
    if test_data is not None:
        if not isinstance(test_data, (tuple, list)) or len(test_data) != 2:
            raise TypeError("test_data must be a pair (X_test, labels_test), "
                            f"got {type(test_data).__name__}")
        test_inputs, _ = check_inputs(np.asarray(test_data[0]), network.sizes[0],
                                      network.dtype, "test X")
        test_labels = check_labels(np.asarray(test_data[1]), test_inputs.shape[0],
                                   network.sizes[-1], "test labels")
    for function, name in ((callback, "callback"), (progress, "progress")):
        if function is not None and not callable(function):
            raise TypeError(f"{name} must be callable")
    if on_divergence not in _ON_DIVERGENCE:
        raise ValueError(f"on_divergence must be one of {', '.join(map(repr, _ON_DIVERGENCE))}, "
                         f"got {on_divergence!r}")
    with np.errstate(over="ignore"):
        if not np.isfinite(network.dtype.type(eta)):
            raise ValueError(f"eta={eta:g} does not fit in {network.dtype.name}")
    if not all_finite_array(network.params):
        raise ValueError("the network's parameters are not finite (NaN or inf): training "
                         "cannot recover them; start from a new network or load a saved one")
    if not network.training_lock.acquire(blocking=False):
        raise RuntimeError("this Network is already training (in another thread, or this is "
                           "a call from its own callback); train a copy (Network.copy())")
    try:
        run = _Run(network, source, epochs=epochs, batch_size=batch_size, eta=eta, lmbda=lmbda,
                   entropy=entropy, shuffle=shuffle, n_threads=n_threads, prefetch=prefetch,
                   test_inputs=test_inputs, test_labels=test_labels, callback=callback,
                   progress=progress, on_divergence=on_divergence)
        return run.train()
    finally:
        network.training_lock.release()


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
            targets = check_targets(np.asarray(labels), rows, self.sizes[-1], self.dtype, "Y")
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


class _ChunkFailed(Exception):
    """Reading or checking a chunk failed (``original``): the run restores
    the parameters of its start and raises ``original``."""

    def __init__(self, original):
        super().__init__(str(original))
        self.original = original


def _uniform(n_rows, rows):
    return [rows] * (n_rows // rows) + ([n_rows % rows] if n_rows % rows else [])


# ---------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------
class _Run:
    def __init__(self, network, source, *, epochs, batch_size, eta, lmbda, entropy, shuffle,
                 n_threads, prefetch, test_inputs, test_labels, callback, progress,
                 on_divergence):
        self.network, self.source = network, source
        self.epochs, self.eta, self.lmbda = epochs, eta, lmbda
        self.entropy, self.shuffle = entropy, shuffle
        self.test_inputs, self.test_labels = test_inputs, test_labels
        self.callback, self.progress, self.on_divergence = callback, progress, on_divergence
        self.plan = EpochPlan(network.sizes, batch_size, network.dtype, source.n_rows, n_threads,
                              cost=network.cost_name, output=network.output)
        self.prefetch = prefetch and source.n_chunks > 1
        n_buffers = 2 if self.prefetch else 1
        rows, dtype = source.max_rows, network.dtype
        check_memory(n_buffers * rows * (network.sizes[0] + network.sizes[-1]) * dtype.itemsize,
                     f"{n_buffers} chunk buffer(s) of {rows:,} rows (give a smaller chunk_rows)")
        self.x_buffers = [np.empty((rows, network.sizes[0]), dtype) for _ in range(n_buffers)]
        self.t_buffers = [np.empty((rows, network.sizes[-1]), dtype) for _ in range(n_buffers)]
        self.loaded = [-1] * n_buffers  # the chunk each buffer holds
        self.order = np.empty(rows, np.int64)

    def schedule(self):
        """(epoch, position in the epoch, chunk) of every chunk visit."""
        n_chunks = self.source.n_chunks
        for epoch in range(self.epochs):
            if self.shuffle:
                generator = np.random.default_rng(
                    np.random.SeedSequence(self.entropy, spawn_key=(_CHUNK_ORDER_KEY, epoch)))
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
                raise _ChunkFailed(error) from None
            self.loaded[b] = c

    def train(self):
        network, plan, source = self.network, self.plan, self.source
        history = TrainingHistory()
        history.driver = plan.driver
        warm = min(plan.batch_size, source.max_rows)
        self.x_buffers[0][:warm] = 0
        self.t_buffers[0][:warm] = 0
        history.compile_seconds = warm_up(
            network, plan, self.x_buffers[0][:warm], self.t_buffers[0][:warm], self.test_inputs)
        initial = network.params.copy()
        last_finite = initial.copy()
        n_samples, n_chunks = source.n_rows, source.n_chunks
        visits = self.schedule()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastnn-prefetch") \
            if self.prefetch else None
        pending = None
        try:
            with EpochRunner(plan) as runner:
                visit, b = next(visits), 0
                self._load(visit[2], b)
                epoch_cost = samples = 0.0
                started = time.perf_counter()
                while visit is not None:
                    epoch, position, c = visit
                    following = next(visits, None)
                    nb = (b + 1) % len(self.x_buffers)
                    if pool is not None and following is not None:
                        pending = pool.submit(self._load, following[2], nb)
                    if position == 0:
                        epoch_cost, samples, started = 0.0, 0, time.perf_counter()
                    start, stop = source.bounds(c)
                    rows = stop - start
                    order = self.order[:rows]
                    if self.shuffle:
                        kernels.shuffle_order(order, epoch_seed(self.entropy,
                                                                epoch * n_chunks + position))
                    else:
                        order[:] = np.arange(rows)
                    cost, done = 0.0, 0
                    if not runner.interrupted:  # (Ctrl-C while the chunk was read)
                        cost = runner.run(network.params, self.x_buffers[b][:rows],
                                          self.t_buffers[b][:rows], order, self.eta,
                                          lmbda=self.lmbda, n_train=n_samples)
                        done = plan.samples_done(rows)
                    if runner.interrupted:
                        history.interrupted_at = (epoch + 1, samples + done)
                        network.history = history
                        error = KeyboardInterrupt(
                            f"training stopped by Ctrl-C in epoch {epoch + 1} after "
                            f"{samples + done} of {n_samples} samples")
                        error.history = history
                        raise error
                    epoch_cost += float(cost)
                    samples += rows
                    if self.progress is not None:
                        self.progress(epoch + 1, samples, n_samples)
                    stop_now = False
                    if position == n_chunks - 1:
                        stop_now = self._end_epoch(history, epoch, epoch_cost / n_samples,
                                                   started, last_finite)
                    if stop_now or following is None:
                        break
                    if pending is not None:
                        pending.result()  # a bad chunk raises here
                        pending = None
                    else:
                        self._load(following[2], nb)
                    visit, b = following, nb
        except _ChunkFailed as failed:
            # A bad (or unreadable) chunk leaves the network as it was
            # before the call. (An error of the callback does not: it
            # propagates with the steps taken, as from Network.train.)
            network.params[...] = initial
            raise failed.original.with_traceback(failed.original.__traceback__) from None
        finally:
            if pending is not None:
                pending.cancel()
            if pool is not None:
                pool.shutdown(wait=True)
        network.history = history
        return history

    def _end_epoch(self, history, epoch, epoch_cost, started, last_finite) -> bool:
        """The epoch's bookkeeping; True when training stops here."""
        network = self.network
        if not (np.isfinite(epoch_cost) and all_finite(network.params)):
            network.params[...] = last_finite
            history.diverged_at = epoch + 1
            network.history = history
            what = "parameters" if np.isfinite(epoch_cost) else "cost"
            restored = f"epoch {epoch}" if epoch else "the start"
            message = (f"training diverged in epoch {epoch + 1}: the {what} became NaN or inf "
                       f"at eta={self.eta:g}. The parameters of {restored} are restored; try "
                       f"a smaller step, e.g. eta={self.eta / 10:g}, or scale the inputs")
            if self.on_divergence == "raise":
                raise DivergenceError(message, history)
            if self.on_divergence == "warn":
                warnings.warn(message, DivergenceWarning, stacklevel=4)
            return True
        np.copyto(last_finite, network.params)
        history.seconds.append(time.perf_counter() - started)
        history.driver = self.plan.last_run
        history.cost.append(epoch_cost)
        if self.test_inputs is not None:
            predicted = np.argmax(network.forward(self.test_inputs), axis=1)
            history.test_accuracy.append(float(np.mean(predicted == self.test_labels)))
        if self.callback is not None and bool(self.callback(epoch + 1, history)):
            return True
        return False
