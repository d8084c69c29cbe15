"""Data sets saved with ``numpy.savez``: ``X``, ``y`` (and ``X_test``, ``y_test``)."""
from __future__ import annotations

import math
import zipfile
import zlib

import numpy as np

from .._files import check_regular_file, npz_headers, read_npz_member
from .._validation import check_dtype, check_memory, label_text
from .loaders import LABEL_DTYPE, split

__all__ = ["load_npz", "read_npz"]


def _npz_pair(archive, headers, x_key, y_key, path, dtype):
    """Inputs and labels of an npz, their shapes and dtypes checked from the
    headers before either is read."""
    x_header, y_header = headers[x_key], headers[y_key]
    if len(x_header.shape) < 2:
        raise ValueError(
            f"{path}: '{x_key}' must have shape (n_samples, n_features), got {x_header.shape}"
        )
    if x_header.dtype.kind not in "biuf":
        raise ValueError(f"{path}: '{x_key}' must hold numbers, got dtype {x_header.dtype}")
    n_samples = x_header.shape[0]
    if len(y_header.shape) != 1:
        raise ValueError(
            f"{path}: '{y_key}' must be class labels of shape ({n_samples},), "
            f"got {y_header.shape}"
        )
    if y_header.shape[0] != n_samples:
        raise ValueError(
            f"{path}: '{x_key}' has {n_samples} samples but '{y_key}' has "
            f"{y_header.shape[0]} labels"
        )
    if y_header.dtype.kind not in "biuf":
        raise ValueError(
            f"{path}: '{y_key}' must be integer class labels 0, 1, ..., got dtype "
            f"{y_header.dtype}"
        )
    converted = math.prod(x_header.shape) * dtype.itemsize
    check_memory(
        x_header.nbytes + (converted if x_header.dtype != dtype else 0)
        + y_header.nbytes + n_samples * np.dtype(LABEL_DTYPE).itemsize,
        f"{path}: reading '{x_key}' of shape {x_header.shape} as {dtype.name} and "
        f"'{y_key}'",
    )
    X = _read_member(archive, x_key, x_header, path)
    # Images saved as (n, rows, cols) are flattened to rows of pixels.
    X = X.reshape(n_samples, -1).astype(dtype, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(f"{path}: '{x_key}' contains NaN or inf")
    y = _read_member(archive, y_key, y_header, path)
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and np.all(y == np.round(y))):
        raise ValueError(
            f"{path}: '{y_key}' must be integer class labels 0, 1, ..., got dtype {y.dtype} "
            "with values that are not whole numbers"
        )
    if y.size:
        # Checked before the conversion to int64, which would wrap 1e30 or 2**63.
        low, high = y.min(), y.max()
        if low < 0:
            raise ValueError(f"{path}: '{y_key}' holds a negative label ({label_text(low)})")
        if high > np.iinfo(LABEL_DTYPE).max or (y.dtype.kind == "f" and high >= 2.0**63):
            raise ValueError(
                f"{path}: '{y_key}' holds the label {label_text(high)}, too large for a "
                "class index (labels are 0, 1, ..., one per class)"
            )
    return X, y.astype(LABEL_DTYPE)


def _read_member(archive, key, header, path):
    try:
        return read_npz_member(archive, key, header)
    except ValueError as error:  # shorter than its header said
        raise ValueError(f"{path}: corrupt .npz file: {error}") from None


def load_npz(path, *, test_size=0.2, seed=0, dtype=np.float64):
    """Arrays ``X`` (n, n_features) and ``y`` (n,) from a ``.npz`` file.

    If the file also holds ``X_test`` and ``y_test`` these are the test set;
    otherwise ``X``/``y`` are split with :func:`split` (``test_size``,
    ``seed``). Inputs are used as stored (scale them to about [0, 1]
    yourself); ``X`` of shape (n, rows, cols) is flattened to (n, rows*cols).
    Labels must be non-negative integers.

    Returns X_train, y_train, X_test, y_test. Raises FileNotFoundError or
    ValueError saying what is missing or malformed.
    """
    X, y, X_test, y_test = read_npz(path, dtype=dtype)
    if X_test is not None:
        return X, y, X_test, y_test
    return split(X, y, test_size=test_size, seed=seed)


def read_npz(path, *, dtype=np.float64):
    """``X``, ``y``, ``X_test``, ``y_test`` of a ``.npz`` file, checked, unsplit.

    ``X_test`` and ``y_test`` are None when the file holds neither; the rules
    are those of :func:`load_npz`.
    """
    dtype = check_dtype(dtype)
    try:
        path = check_regular_file(path, "a .npz data set")
    except IsADirectoryError as error:
        raise ValueError(f"{path}: not a readable .npz file: {error}") from error
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a .npz archive (save data with numpy.savez(path, X=..., y=...))")
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as error:
        raise ValueError(f"{path}: not a readable .npz file: {error}") from error
    with archive:
        try:
            # every array's shape and dtype, before any array is read
            headers = npz_headers(archive)
        except _DAMAGE as error:
            raise ValueError(f"{path}: corrupt .npz file: {error}") from error
        missing = [key for key in ("X", "y") if key not in headers]
        if missing:
            raise ValueError(
                f"{path}: has no array {' or '.join(missing)} (it holds "
                f"{', '.join(headers) or 'nothing'}); save it with "
                "numpy.savez(path, X=inputs, y=labels)"
            )
        has_test = ("X_test" in headers, "y_test" in headers)
        if any(has_test) and not all(has_test):
            raise ValueError(f"{path}: holds only one of X_test and y_test; give both or neither")
        try:
            X, y = _npz_pair(archive, headers, "X", "y", path, dtype)
            if all(has_test):
                X_test, y_test = _npz_pair(archive, headers, "X_test", "y_test", path, dtype)
                if X_test.shape[1] != X.shape[1]:
                    raise ValueError(
                        f"{path}: X has {X.shape[1]} features but X_test has {X_test.shape[1]}"
                    )
                return X, y, X_test, y_test
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError) as error:
            raise ValueError(f"{path}: corrupt .npz file: {error}") from error
    return X, y, None, None


# What a damaged archive's directory or headers can raise (zipfile raises
# NotImplementedError for an unknown compression method, RuntimeError for an
# encrypted member).
_DAMAGE = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
           NotImplementedError, RuntimeError)

