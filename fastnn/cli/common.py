"""What the commands share: the one-line error, loading models and data,
checking output paths."""
from __future__ import annotations

import os
import zipfile

import numpy as np

from .. import datasets
from .._files import check_regular_file
from ..network import Network
from ..persistence import load

__all__ = ["CommandError", "CLI_EXTRA", "load_model", "load_data", "label_max", "check_fits",
           "dashed", "regular_file", "check_writable", "one_line"]

CLI_EXTRA = 'pip install "fastnn[cli]"'


class CommandError(Exception):
    """An error the user can fix; shown as one line, exit status 2."""


def load_model(path) -> Network:
    if not os.path.exists(path):
        raise CommandError(f"model file {path} does not exist")
    if os.path.isdir(path):
        raise CommandError(f"model {path} is a directory, not a file written by train --out")
    regular_file(path, "model")
    if not zipfile.is_zipfile(path):
        raise CommandError(
            f"model file {path} is not a .npz archive (corrupt, or not written by fastnn train --out)"
        )
    try:
        return load(path)
    except ValueError as error:
        # load's messages start with the path: "X is not a valid fastnn model
        # (corrupt, ...)", "X has format_version 99 ...", "X holds a network
        # of sizes ... that needs 1.68 GiB of memory ..."
        raise CommandError(f"model file {one_line(error)}") from None


def load_data(spec, dtype, *, whole_npz=False):
    """(X_train, y_train, X_test, y_test, description) for a --data value."""
    if spec == "digits":
        return (*datasets.load_digits(dtype=dtype), "digits")
    if os.path.isdir(spec):
        if datasets.is_chunked_store(spec):
            return _load_chunked(spec, dtype)
        return (*datasets.load_mnist(spec, dtype=dtype), f"MNIST in {spec}")
    if os.path.exists(spec):
        regular_file(spec, "--data")
        if whole_npz:
            X_train, y_train, X_test, y_test = _load_npz_for_evaluation(spec, dtype)
        else:
            X_train, y_train, X_test, y_test = datasets.load_npz(spec, dtype=dtype)
        return X_train, y_train, X_test, y_test, spec
    raise CommandError(
        f"--data {spec}: no such file or directory (give 'digits', a .npz file, a "
        "directory of MNIST IDX files or a chunked store)"
    )


def _load_chunked(spec, dtype):
    """A chunked store: its training part lazy (ChunkedArray, streamed by
    train), its test part (else its last chunk, held out) in memory."""
    X, y = datasets.open_chunked(spec)
    if len(y.shape) != 1:
        raise CommandError(f"--data {spec}: its y holds targets of shape {y.shape}; the "
                           "command line trains on class labels of shape (n,)")
    if "test" in X.parts:
        X_test, y_test = datasets.open_chunked(spec, part="test")
    elif X.n_chunks > 1:
        X_test, y_test = X.subset(-1, None), y.subset(-1, None)
        X, y = X.subset(0, -1), y.subset(0, -1)
    else:
        raise CommandError(f"--data {spec}: the store has one chunk and no test part; write "
                           "it with X_test and y_test, or in several chunks (the last one is "
                           "then held out as the test set)")
    X_test = np.asarray(X_test).reshape(X_test.shape[0], -1).astype(dtype, copy=False)
    return X, y, X_test, np.asarray(y_test), f"chunked store {spec}"


def label_max(labels):
    """Largest label, read chunk by chunk from a chunked store."""
    if isinstance(labels, datasets.ChunkedArray):
        return max(labels.read_chunk(i).max() for i in range(labels.n_chunks))
    return labels.max()


def _load_npz_for_evaluation(path, dtype):
    # A file with its own test arrays is evaluated on them; one with only X
    # and y is taken whole as the evaluation set.
    X, y, X_test, y_test = datasets.read_npz(path, dtype=dtype)
    if X_test is None:
        return X, y, X, y
    return X, y, X_test, y_test


def check_fits(net: Network, X, labels, what):
    if X.shape[1] != net.sizes[0]:
        raise CommandError(
            f"{what} has {X.shape[1]} features per sample but the model's input layer has "
            f"{net.sizes[0]} (model sizes {dashed(net.sizes)})"
        )
    if labels is not None and labels.size and labels.max() >= net.sizes[-1]:
        raise CommandError(
            f"{what} has labels up to {labels.max()} but the model has only "
            f"{net.sizes[-1]} outputs (classes 0..{net.sizes[-1] - 1})"
        )


def dashed(sizes):
    return "-".join(str(s) for s in sizes)


def regular_file(path, what):
    """CommandError unless ``path`` is a regular file (a device such as
    /dev/zero would be read forever, a FIFO without a writer waited on)."""
    try:
        check_regular_file(path, "it")
    except ValueError as error:
        raise CommandError(f"{what} {one_line(error)}") from None


def check_writable(path, option):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CommandError(f"{option} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise CommandError(f"{option} {path}: directory {directory} is not writable")
    if os.path.isdir(path):
        raise CommandError(f"{option} {path} is a directory")


def one_line(error) -> str:
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"{error.filename}: no such file"
    text = str(error) or type(error).__name__
    return " ".join(text.split())
