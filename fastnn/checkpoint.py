"""Checkpoints: a training run saved between epochs, or where Ctrl-C stopped
it, and resumed bitwise.

``Network.train(..., checkpoint="run.ckpt")`` writes one after every
``checkpoint_every``-th epoch, after the last, and when Ctrl-C stops an
epoch; ``fastnn.resume("run.ckpt", X, Y)`` continues the run. A checkpoint
holds the parameters, the training arguments, how far the run got (epochs
done, and the samples of the next epoch whose steps are taken), the seed
of the shuffle stream, a checksum of the training data, and the history so
far. Training 2 epochs and resuming for 2 more gives bitwise the parameters
of 4 epochs in one call, for every epoch driver and dtype
(tests/test_checkpoint.py).

Each epoch's order is drawn from its own seed, ``epoch_seed(entropy, e)``,
a function of the run's seed and the epoch's number only: an epoch resumed
in another process shuffles exactly as it would have.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["TrainingState", "epoch_seed", "data_checksum", "write_checkpoint",
           "read_checkpoint", "resume"]

CHECKPOINT_FORMAT = 1
CHECKPOINT_KIND = "fastnn-checkpoint"

# Epoch seeds are drawn this many at a time; the first block is the
# original stream of SeedSequence(seed).generate_state, so seeds (and
# results) of runs shorter than this did not change when checkpoints came.
_SEEDS_PER_BLOCK = 4096
# The type of the epochs' shuffle seeds (SeedSequence.generate_state).
EPOCH_SEED_TYPE = np.uint32


@dataclass
class TrainingState:
    """How a training run was asked to go, and how far it got."""

    epochs: int  # epochs the run trains in total
    batch_size: int
    eta: float
    shuffle: bool
    seed_entropy: int  # numpy.random.SeedSequence(seed).entropy
    checkpoint_every: int = 1
    epochs_done: int = 0
    samples_done: int = 0  # of epoch epochs_done, where Ctrl-C stopped it
    partial_cost: float = 0.0  # sum_n C_n over those samples
    lmbda: float = 0.0  # L2 (docs/theory.md §10)


_seed_block_cache = {}


def epoch_seed(entropy, epoch):
    """The shuffle seed of epoch ``epoch`` (from 0) of the run whose
    SeedSequence entropy is ``entropy``."""
    block, index = divmod(int(epoch), _SEEDS_PER_BLOCK)
    key = (entropy, block)
    seeds = _seed_block_cache.get(key)
    if seeds is None:
        spawn_key = () if block == 0 else (block,)
        seeds = np.random.SeedSequence(entropy, spawn_key=spawn_key).generate_state(
            _SEEDS_PER_BLOCK, dtype=EPOCH_SEED_TYPE)
        _seed_block_cache.clear()  # one run at a time needs one block
        _seed_block_cache[key] = seeds
    return seeds[index]


def data_checksum(inputs, targets, sample_weight=None) -> int:
    """CRC-32 of the training data's bytes (C-contiguous arrays; the sample
    weights too, when there are any), to tell a resume that it was handed
    other data. About 1 GB/s."""
    checksum = 0
    arrays = (inputs, targets) if sample_weight is None else (inputs, targets, sample_weight)
    for array in arrays:
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        for start in range(0, flat.size, 1 << 26):
            checksum = zlib.crc32(flat[start:start + (1 << 26)], checksum)
    return checksum


def write_checkpoint(path, network, state, history, checksum, n_samples, extra=None) -> str:
    """Write the run to ``path`` whole or not at all; returns the path.
    extra: entries of the caller's own (``fastnn.dask``'s), added to the
    file; read_checkpoint ignores them."""
    arrays = {
        "format_version": np.array(CHECKPOINT_FORMAT),
        "kind": np.array(CHECKPOINT_KIND),
        "sizes": np.asarray(network.sizes, dtype=np.int64),
        "dtype": np.array(network.dtype.name),
        "params": network.params,
        "cost": np.array(network.cost_name),
        "output": np.array(network.output),
        "lmbda": np.array(float(state.lmbda)),
        "epochs": np.array(state.epochs),
        "batch_size": np.array(state.batch_size),
        "eta": np.array(float(state.eta)),
        "shuffle": np.array(bool(state.shuffle)),
        "seed_entropy": np.array(str(state.seed_entropy)),
        "checkpoint_every": np.array(state.checkpoint_every),
        "epochs_done": np.array(state.epochs_done),
        "samples_done": np.array(state.samples_done),
        "partial_cost": np.array(float(state.partial_cost)),
        "n_samples": np.array(int(n_samples)),
        "data_checksum": np.array(int(checksum)),
        "history_cost": np.asarray(history.cost, dtype=np.float64),
        "history_test_accuracy": np.asarray(history.test_accuracy, dtype=np.float64),
        "history_seconds": np.asarray(history.seconds, dtype=np.float64),
        **(extra or {}),
    }
    return _write_npz_atomically(os.fspath(path), arrays)


def _write_npz_atomically(path, arrays) -> str:
    from ._files import atomic_write

    return atomic_write(path, lambda stream: np.savez(stream, **arrays))


_SCALARS = {"format_version": "iu", "kind": "U", "dtype": "U", "epochs": "iu",
            "batch_size": "iu", "eta": "f", "shuffle": "b", "seed_entropy": "U",
            "checkpoint_every": "iu", "epochs_done": "iu", "samples_done": "iu",
            "partial_cost": "f", "n_samples": "iu", "data_checksum": "iu"}
# Entries added after format 1 was first written, and what a checkpoint
# without them meant.
_OPTIONAL_SCALARS = {"cost": ("U", "quadratic"), "output": ("U", "sigmoid"),
                     "lmbda": ("f", 0.0)}


def read_checkpoint(path):
    """(network, state, history, data checksum, n_samples) of a checkpoint
    written by ``write_checkpoint``.

    As ``fastnn.load`` does for models, everything is checked from the zip
    directory and the ``.npy`` headers before any array is allocated or
    decompressed (a small file that claims a huge array is refused at
    once); ValueError names what is wrong.
    """
    from ._files import npz_headers, open_npz, read_npz_scalar
    from ._validation import check_memory
    from .kernels.layout import parameter_count
    from .network import Network, TrainingHistory

    path = os.fspath(path)
    archive = open_npz(path, "checkpoint")
    with archive:
        try:
            headers = npz_headers(archive)
            kind = read_npz_scalar(archive, headers, "kind", "U") if "kind" in headers else None
            if kind != CHECKPOINT_KIND:
                raise _NotACheckpoint
            values = {key: read_npz_scalar(archive, headers, key, kinds)
                      for key, kinds in _SCALARS.items()}
            for key, (kinds, default) in _OPTIONAL_SCALARS.items():
                values[key] = (read_npz_scalar(archive, headers, key, kinds)
                               if key in headers else default)
            if values["format_version"] != CHECKPOINT_FORMAT:
                raise ValueError(f"it is of format {values['format_version']}; this fastnn "
                                 f"reads format {CHECKPOINT_FORMAT}")
            sizes = _array(archive, headers, "sizes", "iu", None, 1024).tolist()
            dtype = np.dtype(values["dtype"])
            n_params = parameter_count(sizes)
            check_memory(n_params * dtype.itemsize,
                         f"{path} holds a network of {n_params:,} {dtype.name} parameters that")
            params = _array(archive, headers, "params", "f", (n_params,), None)
            done = values["epochs_done"]
            history = [_array(archive, headers, "history_cost", "f", (done,), None),
                       # empty when the run had no test data
                       _array(archive, headers, "history_test_accuracy", "f", None, done),
                       _array(archive, headers, "history_seconds", "f", (done,), None)]
            network = Network.__new__(Network)
            network.__setstate__({"sizes": sizes, "dtype": dtype.name, "params": params,
                                  "cost": str(values["cost"]),
                                  "output": str(values["output"])})
        except _NotACheckpoint:
            raise ValueError(f"{path} is not a fastnn checkpoint (a model file? load it "
                             "with fastnn.load)") from None
        except (ValueError, TypeError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"{path} is not a valid fastnn checkpoint: {error}") from None
    state = TrainingState(
        epochs=values["epochs"], batch_size=values["batch_size"], eta=values["eta"],
        shuffle=bool(values["shuffle"]), seed_entropy=int(values["seed_entropy"]),
        checkpoint_every=values["checkpoint_every"], epochs_done=values["epochs_done"],
        samples_done=values["samples_done"], partial_cost=values["partial_cost"],
        lmbda=float(values["lmbda"]))
    n_samples = values["n_samples"]
    test_accuracy = history[1].tolist()
    if not (0 <= state.epochs_done <= state.epochs and 0 <= state.samples_done < n_samples
            and state.batch_size >= 1 and state.checkpoint_every >= 1 and state.eta > 0
            and np.isfinite(state.lmbda) and state.lmbda >= 0):
        raise ValueError(f"{path} is not a valid fastnn checkpoint: its counts disagree")
    if not np.isfinite(network.params).all():
        raise ValueError(f"{path} is not a valid fastnn checkpoint: NaN or inf parameters")
    history = TrainingHistory(cost=history[0].tolist(), test_accuracy=test_accuracy,
                              seconds=history[2].tolist())
    return network, state, history, values["data_checksum"], n_samples


class _NotACheckpoint(Exception):
    pass


def _array(archive, headers, key, kinds, shape, max_length):
    """The 1-D entry ``key`` of a dtype kind in ``kinds``, of ``shape`` (or of
    at most max_length elements), checked from its header before it is read."""
    from ._files import read_npz_member

    header = headers.get(key)
    if header is None:
        raise ValueError(f"it has no '{key}' entry")
    if header.dtype.kind not in kinds or len(header.shape) != 1:
        raise ValueError(f"'{key}' has shape {header.shape} and dtype {header.dtype}")
    if shape is not None and header.shape != shape:
        raise ValueError(f"'{key}' has shape {header.shape}, expected {shape}")
    if max_length is not None and header.shape[0] > max_length:
        raise ValueError(f"'{key}' has {header.shape[0]:,} elements")
    return read_npz_member(archive, key, header)


def set_total_epochs(state, epochs) -> None:
    """A resumed run's new total of epochs (``resume(epochs=...)``):
    ValueError if fewer than the checkpoint has done already."""
    from ._validation import check_epochs

    epochs = check_epochs(epochs)
    if epochs < state.epochs_done:
        raise ValueError(f"epochs={epochs} is fewer than the {state.epochs_done} the "
                         "checkpoint has done already")
    state.epochs = epochs


def resume(path, X, Y, *, epochs=None, test_data=None, callback=None, progress=None,
           n_threads=None, checkpoint=None, on_divergence="raise", sample_weight=None):
    """Continue the training run saved in the checkpoint ``path``.

    X, Y (and sample_weight, if the run had weights) must be the data the
    run trained on (checked: shape and checksum).
    epochs : the run's total number of epochs (None: what the first call
        asked for); at least the epochs already done.
    checkpoint : where to keep writing checkpoints (None: ``path`` itself,
        every ``checkpoint_every`` epochs as before).
    test_data, callback, progress, n_threads, on_divergence : as in
        ``Network.train``.

    Returns ``(network, history)``: the network holds the parameters after
    the run, bitwise those of the uninterrupted run; history holds every
    epoch of the run, the resumed ones included.
    """
    network, state, history, checksum, n_samples = read_checkpoint(path)
    inputs, targets = network._check_pair(X, Y, "X", "Y")
    weights = network._check_sample_weight(sample_weight, inputs.shape[0])
    if inputs.shape[0] != n_samples or data_checksum(inputs, targets, weights) != checksum:
        raise ValueError(
            f"X and Y are not the data {os.fspath(path)} was trained on ({n_samples} samples "
            f"with another checksum); resume with the same X and Y (and sample_weight)")
    if epochs is not None:
        set_total_epochs(state, epochs)
    history = network._run_training(
        inputs, targets, state, history, test_data=test_data, callback=callback,
        progress=progress, n_threads=n_threads,
        checkpoint=os.fspath(path) if checkpoint is None else checkpoint,
        on_divergence=on_divergence, checksum=checksum, sample_weight=weights)
    return network, history
