"""The checkpoint file format: a training run saved between epochs, or where
Ctrl-C stopped it.

``Network.train(..., checkpoint="run.ckpt")`` writes one after every
``checkpoint_every``-th epoch, after the last, and when Ctrl-C stops an
epoch (``fastnn.training``); ``fastnn.resume("run.ckpt", X, Y)``
(``fastnn.persistence``) continues the run. This module knows the file
only: :func:`write_checkpoint` and :func:`read_checkpoint`.

A checkpoint holds the network (sizes, dtype, cost, output, the flat
parameter vector), the run's :class:`~fastnn.run_state.TrainingState`
(arguments, epochs done, the samples of the next epoch whose steps are
taken and their cost, the seed of the shuffle stream, the optimizer's
state, the kernel plan), a checksum of the training data, and the history
so far. Training 2 epochs and resuming for 2 more gives bitwise the
parameters of 4 epochs in one call, for every epoch driver and dtype
(tests/test_interrupt.py).

Entries added after format 1 was first written are optional: a file
without them reads as the run they describe by default (quadratic cost,
sigmoid output, no L2, plain SGD, no recorded plan). A network whose
hidden layers are not the design document's (docs/theory.md §11, §12)
adds the model file's ``activation``, ``leaky_slope`` and ``dropout``
entries (``fastnn.model_file.neurons_entries``) and is written as format
2, which fastnn versions without activations refuse instead of resuming
the run with sigmoid neurons.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ._files import (DAMAGE, atomic_write, npz_headers, open_npz, read_npz_member,
                     read_npz_scalar)
from ._validation import check_dtype, check_memory, check_sizes
from .kernels.layout import parameter_count
from .kernels.objective import output_rule
from .model_file import SavedNetwork, neurons_entries, read_neurons
from .run_state import TrainingHistory, TrainingState

__all__ = ["Checkpoint", "write_checkpoint", "read_checkpoint", "CHECKPOINT_FORMAT",
           "CHECKPOINT_KIND"]

# 2: with the entries of the hidden layers' activations and dropout
CHECKPOINT_FORMAT = 2
CHECKPOINT_FORMATS_READ = (1, 2)
CHECKPOINT_KIND = "fastnn-checkpoint"
# The optimizer's arrays are stored as "optimizer_array_<name>"; the
# optimizer's settings and the plan as UTF-8 JSON in a uint8 array of at
# most RECORD_BYTES.
OPTIMIZER_ARRAY_PREFIX = "optimizer_array_"
RECORD_BYTES = 1 << 20
# Who wrote a checkpoint: its "writer" entry (files of fastnn.dask written
# before the entry existed are known by their "dask_" entries).
WRITER = "Network.train"
DASK_WRITER = "fastnn.dask.train"


@dataclass
class Checkpoint:
    """What :func:`read_checkpoint` returns; unpacks as ``network, state,
    history, data_checksum, n_samples``. ``writer``: who wrote the file
    ("Network.train", or "fastnn.dask.train", whose runs only
    ``fastnn.dask.resume`` continues)."""

    network: SavedNetwork
    state: TrainingState
    history: TrainingHistory
    data_checksum: int
    n_samples: int
    writer: str = WRITER

    def __iter__(self):
        return iter((self.network, self.state, self.history, self.data_checksum,
                     self.n_samples))


def write_checkpoint(path, network, state, history, checksum, n_samples, extra=None,
                     writer=WRITER) -> str:
    """Write the run to ``path`` whole or not at all; returns the path.

    network: anything with ``sizes``, ``dtype``, ``params``, ``cost_name``
    and ``output``, and ``neurons`` (a ``fastnn.Network``). extra: entries
    of the caller's own (``fastnn.dask``'s), added to the file;
    read_checkpoint ignores them. writer: the run's kind, which
    ``read_checkpoint`` reports; only written when not "Network.train"."""
    layers = neurons_entries(getattr(network, "neurons", None))
    arrays = {
        # format 2 only where format 1 cannot say it (older fastnn refuse it)
        "format_version": np.array(CHECKPOINT_FORMAT if layers else 1),
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
    }
    arrays.update(layers)
    # The optional entries, only where they are not the default, so that a
    # plain run's file is what it always was.
    if state.optimizer != "sgd" or state.optimizer_options or state.optimizer_arrays:
        arrays["optimizer"] = np.array(state.optimizer)
        arrays["optimizer_options"] = _record(state.optimizer_options)
        for name, array in state.optimizer_arrays.items():
            arrays[OPTIMIZER_ARRAY_PREFIX + name] = np.asarray(array)
    if state.plan:
        arrays["plan"] = _record(state.plan)
    if writer != WRITER:
        arrays["writer"] = np.array(writer)
    arrays.update(extra or {})
    return atomic_write(os.fspath(path), lambda stream: np.savez(stream, **arrays))


def _record(values: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(values, sort_keys=True).encode("utf-8"), dtype=np.uint8)


_SCALARS = {"format_version": "iu", "kind": "U", "dtype": "U", "epochs": "iu",
            "batch_size": "iu", "eta": "f", "shuffle": "b", "seed_entropy": "U",
            "checkpoint_every": "iu", "epochs_done": "iu", "samples_done": "iu",
            "partial_cost": "f", "n_samples": "iu", "data_checksum": "iu"}
# Entries added after format 1 was first written, and what a checkpoint
# without them meant.
_OPTIONAL_SCALARS = {"cost": ("U", "quadratic"), "output": ("U", "sigmoid"),
                     "lmbda": ("f", 0.0), "optimizer": ("U", "sgd"),
                     "writer": ("U", WRITER)}


def read_checkpoint(path) -> Checkpoint:
    """The :class:`Checkpoint` (network, state, history, data checksum,
    n_samples) written by ``write_checkpoint`` at ``path``.

    As ``fastnn.load`` does for models, everything is checked from the zip
    directory and the ``.npy`` headers before any array is allocated or
    decompressed (a small file that claims a huge array is refused at
    once); ValueError names what is wrong.
    """
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
            if values["format_version"] not in CHECKPOINT_FORMATS_READ:
                raise ValueError(f"it is of format {values['format_version']}; this fastnn "
                                 f"reads formats {CHECKPOINT_FORMATS_READ[0]} to "
                                 f"{CHECKPOINT_FORMATS_READ[-1]} (was it written by a newer "
                                 "fastnn?)")
            sizes = check_sizes(_array(archive, headers, "sizes", "iu", None, 1024).tolist())
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
            optimizer_options = _read_record(archive, headers, "optimizer_options")
            plan = _read_record(archive, headers, "plan")
            optimizer_arrays = {}
            for key, header in headers.items():
                if key.startswith(OPTIMIZER_ARRAY_PREFIX):
                    check_memory(header.nbytes, f"{path}'s '{key}'")
                    optimizer_arrays[key[len(OPTIMIZER_ARRAY_PREFIX):]] = read_npz_member(
                        archive, key, header)
            cost, output = str(values["cost"]), str(values["output"])
            output_rule(cost, output)
            seed_entropy = int(values["seed_entropy"])
            neurons = read_neurons(archive, headers, sizes, cost, output)
            network = SavedNetwork(sizes=sizes, dtype=check_dtype(dtype.name),
                                   params=np.ascontiguousarray(params, dtype=dtype),
                                   cost=cost, output=output, neurons=neurons)
        except _NotACheckpoint:
            raise ValueError(f"{path} is not a fastnn checkpoint (a model file? load it "
                             "with fastnn.load)") from None
        except DAMAGE as error:
            raise ValueError(f"{path} is not a valid fastnn checkpoint: {error}") from None
        writer = str(values["writer"])
        if writer == WRITER and any(key.startswith("dask_") for key in headers):
            writer = DASK_WRITER
    state = TrainingState(
        epochs=values["epochs"], batch_size=values["batch_size"], eta=values["eta"],
        shuffle=bool(values["shuffle"]), seed_entropy=seed_entropy,
        checkpoint_every=values["checkpoint_every"], epochs_done=values["epochs_done"],
        samples_done=values["samples_done"], partial_cost=values["partial_cost"],
        lmbda=float(values["lmbda"]), optimizer=str(values["optimizer"]),
        optimizer_options=optimizer_options, optimizer_arrays=optimizer_arrays, plan=plan)
    n_samples = values["n_samples"]
    test_accuracy = history[1].tolist()
    if not (0 <= state.epochs_done <= state.epochs and 0 <= state.samples_done < n_samples
            and state.batch_size >= 1 and state.checkpoint_every >= 1 and state.eta > 0
            and np.isfinite(state.eta) and np.isfinite(state.lmbda) and state.lmbda >= 0):
        raise ValueError(f"{path} is not a valid fastnn checkpoint: its counts disagree")
    if not np.isfinite(state.partial_cost) or (state.samples_done == 0
                                               and state.partial_cost != 0):
        # (a resumed run would blame eta for a NaN it read from the file)
        raise ValueError(f"{path} is not a valid fastnn checkpoint: its partial_cost (the "
                         f"cost of the {state.samples_done} samples done of a stopped epoch) "
                         f"is {state.partial_cost!r}")
    if not np.isfinite(network.params).all():
        raise ValueError(f"{path} is not a valid fastnn checkpoint: NaN or inf parameters")
    history = TrainingHistory(cost=history[0].tolist(), test_accuracy=test_accuracy,
                              seconds=history[2].tolist(), plan=dict(plan))
    return Checkpoint(network, state, history, values["data_checksum"], n_samples, writer)


class _NotACheckpoint(Exception):
    pass


def _read_record(archive, headers, key) -> dict:
    """The JSON object stored by ``_record`` as ``key``; {} if absent."""
    if key not in headers:
        return {}
    raw = _array(archive, headers, key, "u", None, RECORD_BYTES)
    if raw.dtype != np.uint8:
        raise ValueError(f"'{key}' has dtype {raw.dtype}, not uint8")
    record = json.loads(raw.tobytes().decode("utf-8"))
    if not isinstance(record, dict):
        raise ValueError(f"'{key}' is not a JSON object")
    return record


def _array(archive, headers, key, kinds, shape, max_length):
    """The 1-D entry ``key`` of a dtype kind in ``kinds``, of ``shape`` (or of
    at most max_length elements), checked from its header before it is read."""
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
