"""What a user saved, back as a network or a run: ``fastnn.load`` and ``fastnn.resume``.

``load`` reads a model file (``fastnn.model_file``, written by
``Network.save``); ``resume`` reads a checkpoint (``fastnn.checkpoint``,
written by ``Network.train(checkpoint=...)``) and continues its run
through the training loop (``fastnn.training``), bitwise as if it had
never stopped.
"""
from __future__ import annotations

import os

from . import training
from ._validation import check_epochs, check_pair, check_sample_weight, check_thread_count
from .checkpoint import WRITER, read_checkpoint
from .model_file import read_model
from .network import Network
from .run_state import data_checksum, set_total_epochs

__all__ = ["load", "resume", "network_from"]


def network_from(saved) -> Network:
    """The ``Network`` of a ``SavedNetwork`` (a model file's or a checkpoint's)."""
    return Network.from_params(saved.sizes, saved.params, cost=saved.cost, output=saved.output,
                               neurons=saved.neurons)


def load(path) -> Network:
    """Read a network written by :meth:`Network.save`; outputs are bitwise equal.

    The file is checked whole before anything is allocated (``fastnn.
    model_file.read_model``): FileNotFoundError for a missing file,
    ValueError naming what is wrong otherwise (not a regular file, not a
    fastnn model, damaged, a newer format, too big, NaN or inf parameters).
    """
    return network_from(read_model(path))


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
    checkpoint_file = read_checkpoint(path)
    if checkpoint_file.writer != WRITER:
        raise ValueError(f"{os.fspath(path)} was written by {checkpoint_file.writer}, not by "
                         "Network.train: resume it with fastnn.dask.resume (on a cluster)")
    saved, state, history, checksum, n_samples = checkpoint_file
    network = network_from(saved)
    inputs, targets = check_pair(X, Y, network.sizes, network.dtype, "X", "Y")
    weights = check_sample_weight(sample_weight, inputs.shape[0], network.dtype)
    if inputs.shape[0] != n_samples or data_checksum(inputs, targets, weights) != checksum:
        raise ValueError(
            f"X and Y are not the data {os.fspath(path)} was trained on ({n_samples} samples "
            f"with another checksum); resume with the same X and Y (and sample_weight)")
    if epochs is not None:
        set_total_epochs(state, check_epochs(epochs))
    source = training.InMemory(network, inputs, targets, state, check_thread_count(n_threads),
                               weights)
    history = training.run(
        network, source, state, history, test_data=test_data, callback=callback,
        progress=progress, checkpoint=os.fspath(path) if checkpoint is None else checkpoint,
        checksum=checksum, on_divergence=on_divergence)
    return network, history
