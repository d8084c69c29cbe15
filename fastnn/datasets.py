"""Data sets for training and evaluating fastnn networks; nothing is downloaded.

Every loader returns ``(X_train, y_train, X_test, y_test)``:

* ``X_*``: float array of shape (n_samples, n_features),
* ``y_*``: int64 class labels of shape (n_samples,).

``load_digits`` uses the copy of the 8x8 digits that ships inside
scikit-learn (``pip install "fastnn[data]"``); ``load_mnist`` reads the four
MNIST files in the IDX format from a directory the user already has;
``load_npz`` reads arrays the user saved with ``numpy.savez``.

Data larger than memory: ``write_chunked`` writes a data set as a directory
of ``.npy`` chunks and a JSON manifest, and ``open_chunked`` reads it back
lazily (:class:`ChunkedArray`), for ``fastnn.streaming.train_streaming``
(docs/streaming.md).
"""
from __future__ import annotations

import gzip
import json
import math
import mmap
import numbers
import os
import secrets
import shutil
import struct
import zipfile
import zlib

import numpy as np

from ._files import (fsync_directory, atomic_write, npz_headers, read_npy_header,
                     read_npz_member)
from ._validation import check_dtype, check_memory, label_text

__all__ = ["load_digits", "load_mnist", "load_npz", "read_npz", "read_idx", "split",
           "write_chunked", "open_chunked", "is_chunked_store", "ChunkedArray",
           "release_pages"]

# Labels are stored as int64 whatever the file held, so that they index arrays
# and compare equal across loaders.
_LABEL_DTYPE = np.int64


def load_digits(test_size=450, seed=0, *, dtype=np.float64):
    """scikit-learn's bundled 8x8 digits (1,797 samples), split train/test.

    Pixels (0..16) are divided by 16, so inputs lie in [0, 1].
    The split is that of ``sklearn.model_selection.train_test_split(X, y,
    test_size=test_size, random_state=seed)``: with the defaults 1,347
    training and 450 test samples, the same every time.

    The file is read from scikit-learn's installed package data without
    importing scikit-learn (whose import took 0.8 s of the command line's
    1.8 s warm start); tests/test_datasets.py checks that the arrays equal
    what scikit-learn's own functions return.

    Returns X_train (1347, 64), y_train (1347,), X_test (450, 64), y_test (450,).
    """
    dtype = check_dtype(dtype)
    table = np.loadtxt(_digits_file(), delimiter=",")
    X = (table[:, :-1] / 16.0).astype(dtype)
    y = table[:, -1].astype(_LABEL_DTYPE)
    # train_test_split's ShuffleSplit: a permutation from RandomState(seed),
    # test samples first, then the training samples.
    n_test = int(test_size) if not isinstance(test_size, float) else int(
        np.ceil(test_size * X.shape[0]))
    permutation = np.random.RandomState(seed).permutation(X.shape[0])
    test, train = permutation[:n_test], permutation[n_test:]
    return X[train], y[train], X[test], y[test]


def _digits_file():
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the digits data set ships with scikit-learn, which is not installed; "
            'install it with: pip install "fastnn[data]" (or "fastnn[cli]")'
        )
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data",
                        "digits.csv.gz")
    if not os.path.isfile(path):
        raise ImportError(f"scikit-learn is installed but its digits file {path} is missing")
    return path


# ---------------------------------------------------------------------------
# MNIST in the IDX format
# ---------------------------------------------------------------------------
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into an array.

    The format: two zero bytes, a type code (0x08 = unsigned byte, ...), the
    number of dimensions d, then d big-endian uint32 sizes, then the data in
    C order. A file whose name ends in ``.gz`` is decompressed as it is read.

    The header is checked before the data is read or memory allocated: the
    magic number (from the first 4 decompressed bytes), the size the
    dimensions imply (exact integers) against the file's size (for a
    ``.gz``: against the most its compressed size can hold) and against the
    available memory. The data is then read in chunks into the array, and
    must be exactly as long as declared.

    Raises ValueError naming the file and what is wrong.
    """
    path = os.fspath(path)
    gz = path.endswith(".gz")
    try:
        with open(path, "rb") as raw:
            on_disk = os.fstat(raw.fileno()).st_size
            if not gz:
                return _read_idx_stream(raw, path, on_disk, gz)
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_idx_stream(stream, path, on_disk, gz)
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot be read as an IDX file: {error}") from error


# deflate cannot shrink data more than 1032 to 1
_MAX_DEFLATE_RATIO = 1032
_CHUNK_BYTES = 1 << 22


def _read_exactly(stream, n):
    data = b""
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            break
        data += more
    return data


def _read_idx_stream(stream, path, on_disk, gz):
    magic = _read_exactly(stream, 4)
    if len(magic) < 4:
        raise ValueError(f"{path}: too short for an IDX file ({len(magic)} bytes)")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
        raise ValueError(
            f"{path}: not an IDX file (magic number 0x{magic.hex()}; expected "
            "0x0000TTDD with a known type TT such as 08 and DD dimensions)"
        )
    item_type = _IDX_TYPES[magic[2]]
    n_dims = magic[3]
    dims = _read_exactly(stream, 4 * n_dims)
    if n_dims == 0 or len(dims) < 4 * n_dims:
        raise ValueError(f"{path}: IDX header is truncated or declares 0 dimensions")
    shape = struct.unpack(f">{n_dims}I", dims)
    header_size = 4 + 4 * n_dims
    # Python ints: 2**22 * 2**21 * 2**21 is 2**64, not 0.
    expected = math.prod(shape) * item_type.itemsize
    if not gz and on_disk - header_size != expected:
        raise ValueError(
            f"{path}: header declares shape {shape} ({expected:,} bytes of data) "
            f"but the file holds {on_disk - header_size:,} bytes of data"
        )
    if gz and expected + header_size > _MAX_DEFLATE_RATIO * on_disk + 1024:
        raise ValueError(
            f"{path}: header declares shape {shape} ({expected:,} bytes of data) but "
            f"a .gz file of {on_disk:,} bytes cannot hold that much"
        )
    check_memory(expected, f"{path}: its array of shape {shape}")
    array = np.empty(math.prod(shape), dtype=item_type)
    view = memoryview(array.view(np.uint8))
    filled = 0
    while filled < expected:
        got = stream.readinto(view[filled:filled + _CHUNK_BYTES])
        if not got:
            raise ValueError(
                f"{path}: header declares shape {shape} ({expected:,} bytes of data) "
                f"but the file holds {filled:,} bytes of data"
            )
        filled += got
    if stream.read(1):
        raise ValueError(
            f"{path}: header declares shape {shape} ({expected:,} bytes of data) "
            f"but the file holds more data than that"
        )
    return array.reshape(shape)


def _find_idx(directory: str, stem: str) -> str:
    # Some mirrors name the files "train-images.idx3-ubyte"; accept both.
    dotted = stem.replace("-idx", ".idx")
    candidates = [name + suffix for name in (stem, dotted) for suffix in ("", ".gz")]
    for name in candidates:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{directory} has no MNIST file {stem} (looked for {', '.join(candidates)})"
    )


def load_mnist(directory, *, dtype=np.float64):
    """The four MNIST IDX files in ``directory``, gzipped or not.

    Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally
    with ``.gz``). Images of r x c pixels (0..255) become rows of r*c inputs
    divided by 255, so inputs lie in [0, 1].

    Returns X_train (n_train, r*c), y_train (n_train,), X_test (n_test, r*c),
    y_test (n_test,); for MNIST itself 60,000 and 10,000 samples of 784.
    Raises FileNotFoundError for a missing file and ValueError for a file
    that is not the expected IDX content.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"MNIST directory {directory} does not exist")
    dtype = check_dtype(dtype)
    arrays = {}
    for key, stem in _MNIST_FILES.items():
        path = _find_idx(directory, stem)
        array = read_idx(path)
        wanted_dims = 3 if key.endswith("images") else 1
        if array.dtype != np.uint8 or array.ndim != wanted_dims:
            raise ValueError(
                f"{path}: expected unsigned bytes in {wanted_dims} dimension(s) "
                f"(magic 0x0000080{wanted_dims}), got {array.dtype} of shape {array.shape}"
            )
        arrays[key] = (path, array)
    result = []
    for part in ("train", "test"):
        image_path, images = arrays[f"{part}_images"]
        label_path, labels = arrays[f"{part}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{image_path} holds {images.shape[0]} images but {label_path} "
                f"holds {labels.shape[0]} labels"
            )
        if images.shape[0] == 0:
            raise ValueError(f"{image_path} holds no images")
        if arrays["train_images"][1].shape[1:] != images.shape[1:]:
            raise ValueError(
                f"training images are {arrays['train_images'][1].shape[1:]} pixels "
                f"but test images are {images.shape[1:]}"
            )
        check_memory(images.size * dtype.itemsize,
                     f"{image_path}: {images.shape[0]:,} images as {dtype.name}")
        X = images.reshape(images.shape[0], -1).astype(dtype)
        X /= dtype.type(255)
        result += [X, labels.astype(_LABEL_DTYPE)]
    return tuple(result)


# ---------------------------------------------------------------------------
# Arrays saved by the user
# ---------------------------------------------------------------------------
def split(X, y, test_size=0.2, seed=0):
    """A seeded random train/test split (no scikit-learn needed).

    X : (n, ...), y : (n,). ``test_size`` is a fraction in (0, 1) or a
    number of samples. Returns X_train, y_train, X_test, y_test.
    """
    n_samples = len(X)
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, numbers.Real) and 0 < test_size < 1:
        n_test = int(np.ceil(test_size * n_samples))
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a count, got {test_size!r}")
    if not 0 < n_test < n_samples:
        raise ValueError(
            f"cannot split {n_samples} samples into a training and a test set of {n_test}"
        )
    order = np.random.default_rng(seed).permutation(n_samples)
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


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
        + y_header.nbytes + n_samples * np.dtype(_LABEL_DTYPE).itemsize,
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
        if high > np.iinfo(_LABEL_DTYPE).max or (y.dtype.kind == "f" and high >= 2.0**63):
            raise ValueError(
                f"{path}: '{y_key}' holds the label {label_text(high)}, too large for a "
                "class index (labels are 0, 1, ..., one per class)"
            )
    return X, y.astype(_LABEL_DTYPE)


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
    path = os.fspath(path)
    dtype = check_dtype(dtype)
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
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


# ---------------------------------------------------------------------------
# Chunked stores: data sets larger than memory
# ---------------------------------------------------------------------------
#
# A store is a directory:
#
#     manifest.json          written last: its presence means the write finished
#     train-X-000000.npy     rows 0 .. r0-1 of X, shape (r0, *X's other dims)
#     train-y-000000.npy     the same rows of y, shape (r0,) or (r0, n_outputs)
#     train-X-000001.npy ...
#     test-X-000000.npy ...  (optional) a test part, chunked the same way
#
# manifest.json: {"format": "fastnn.chunked", "format_version": 1,
#   "arrays": {"X": {"dtype": "<f4", "shape": [784]}, "y": {"dtype": "<i8", "shape": []}},
#   "chunk_rows": 10000,
#   "parts": {"train": {"rows": [10000, ...], "crc32": {"X": [...], "y": [...]}}, "test": ...}}
# ("shape" is an array's shape without its first, row, dimension; "crc32"
# the CRC-32 of each chunk file's data bytes, checked by open_chunked(verify=True)).
CHUNKED_FORMAT = "fastnn.chunked"
CHUNKED_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_MAX_MANIFEST_BYTES = 64 << 20
_STORE_PARTS = ("train", "test")
_STORE_ARRAYS = ("X", "y")
_TEMPORARY_SUFFIX = ".fastnn-tmp"


def _chunk_name(part, name, index):
    return f"{part}-{name}-{index:06d}.npy"


def release_pages(view) -> None:
    """Best effort: drop this process's mapping of the pages of ``view``, a
    slice of a read-only ``numpy.memmap`` (``np.load(..., mmap_mode="r")``),
    once its data has been copied elsewhere.

    The pages stay in the operating system's file cache; only this
    process's resident set shrinks (a read-only mapping has nothing to
    lose: a later access reads them again). Without this, reading a large
    memory-mapped file chunk by chunk leaves every page read in the
    process's RSS. Anything else (an ordinary array, a writable or
    copy-on-write memmap) is left alone.
    """
    mapping = getattr(view, "_mmap", None)
    if (mapping is None or getattr(view, "mode", None) != "r" or view.size == 0
            or not hasattr(mapping, "madvise") or not hasattr(mmap, "MADV_DONTNEED")):
        return
    try:
        base = np.frombuffer(mapping, np.uint8)
        start = base.ctypes.data
        low, high = np.lib.array_utils.byte_bounds(view) if hasattr(
            np.lib, "array_utils") else np.byte_bounds(view)
        low -= start
        high -= start
        length = base.size
        del base
        if not 0 <= low < high <= length:
            return
        low -= low % mmap.PAGESIZE
        mapping.madvise(mmap.MADV_DONTNEED, low, high - low)
    except (AttributeError, ValueError, OSError, BufferError, TypeError):
        pass


def is_chunked_store(path) -> bool:
    """Whether ``path`` is a directory holding a chunked store's manifest
    (or the chunk files of one whose write did not finish)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    return (os.path.isfile(os.path.join(path, MANIFEST_NAME))
            or os.path.isfile(os.path.join(path, _chunk_name("train", "X", 0))))


def _array_like(array, name):
    """``array`` if it has a shape, a dtype and row slicing (ndarray, memmap,
    dask or zarr array, ChunkedArray), else ``numpy.asarray(array)``."""
    if not (hasattr(array, "shape") and hasattr(array, "dtype")
            and hasattr(array, "__getitem__")):
        array = np.asarray(array)
    try:
        dtype = np.dtype(array.dtype)
    except TypeError:
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype!r}") from None
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")
    return array


def write_chunked(path, X, y, *, chunk_rows, X_test=None, y_test=None) -> str:
    """Write ``X`` and ``y`` (and optionally a test part) as a chunked store.

    path : a directory that does not exist yet (or is empty).
    X : (n, ...) numbers; y : (n,) labels or (n, n_outputs) targets. Either
        may be a NumPy array, a ``np.load(..., mmap_mode="r")`` memmap, a
        ``dask.array`` or anything with ``shape``, ``dtype`` and row slicing
        (``X[a:b]``): only ``chunk_rows`` rows are in memory at a time.
    chunk_rows : rows per chunk file (the last chunk holds the rest). It is
        the unit ``fastnn.streaming`` loads and shuffles within: a chunk of
        the network's dtype should fit in memory a few times over.
    X_test, y_test : optional test part (``fastnn train --data`` evaluates
        on it), stored in X's and y's dtypes.

    Each array is stored in its own dtype. The store is written in a hidden
    temporary directory beside ``path`` (``.<name>.<hex>.fastnn-tmp``),
    every chunk file fsynced, the manifest written last, and then renamed
    to ``path``: a write that fails or is killed never leaves a store at
    ``path`` (a kill -9 leaves the hidden temporary directory behind).
    Returns ``path``.
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, numbers.Integral) \
            or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    chunk_rows = int(chunk_rows)
    parts = {"train": _store_pair(X, y, "X", "y")}
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    if X_test is not None:
        X_test, y_test = _store_pair(X_test, y_test, "X_test", "y_test")
        X, y = parts["train"]
        for train, test, name in ((X, X_test, "X"), (y, y_test, "y")):
            if tuple(test.shape[1:]) != tuple(X.shape[1:] if name == "X" else y.shape[1:]):
                raise ValueError(f"{name}_test has shape {tuple(test.shape)} but {name} has "
                                 f"{tuple(train.shape)}: they must agree beyond the rows")
            if not np.can_cast(np.dtype(test.dtype), np.dtype(train.dtype), "same_kind"):
                raise ValueError(f"{name}_test's dtype {np.dtype(test.dtype)} cannot be stored "
                                 f"as {name}'s {np.dtype(train.dtype)}")
        parts["test"] = (X_test, y_test)
    if os.path.lexists(path) and not (os.path.isdir(path) and not os.path.islink(path)
                                      and not os.listdir(path)):
        raise FileExistsError(f"{path} exists; write_chunked writes a new directory and "
                              "never overwrites (remove it first)")
    parent, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"{path}: directory {parent} does not exist")
    X, y = parts["train"]
    arrays = {"X": {"dtype": np.dtype(X.dtype).str, "shape": [int(s) for s in X.shape[1:]]},
              "y": {"dtype": np.dtype(y.dtype).str, "shape": [int(s) for s in y.shape[1:]]}}
    temporary = os.path.join(parent, f".{name[:200]}.{secrets.token_hex(8)}{_TEMPORARY_SUFFIX}")
    os.mkdir(temporary)
    try:
        manifest_parts = {}
        for part, (part_X, part_y) in parts.items():
            n_rows = int(part_X.shape[0])
            rows, crcs = [], {"X": [], "y": []}
            for index, start in enumerate(range(0, n_rows, chunk_rows)):
                stop = min(start + chunk_rows, n_rows)
                for key, source in (("X", part_X), ("y", part_y)):
                    dtype = np.dtype(arrays[key]["dtype"])
                    crcs[key].append(_write_chunk_file(
                        os.path.join(temporary, _chunk_name(part, key, index)),
                        source, start, stop, dtype))
                rows.append(stop - start)
            manifest_parts[part] = {"rows": rows, "crc32": crcs}
        manifest = {"format": CHUNKED_FORMAT, "format_version": CHUNKED_FORMAT_VERSION,
                    "arrays": arrays, "chunk_rows": chunk_rows, "parts": manifest_parts}
        text = json.dumps(manifest).encode()
        atomic_write(os.path.join(temporary, MANIFEST_NAME), lambda stream: stream.write(text))
        os.rename(temporary, path)  # (replaces an empty directory on POSIX)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    fsync_directory(parent)
    return path


def _store_pair(X, y, x_name, y_name):
    X = _array_like(X, x_name)
    y = _array_like(y, y_name)
    if len(X.shape) < 2:
        raise ValueError(f"{x_name} must have shape (n_samples, n_features), got {tuple(X.shape)}")
    if X.shape[0] < 1 or math.prod(X.shape[1:]) < 1:
        raise ValueError(f"{x_name} is empty: shape {tuple(X.shape)}")
    if len(y.shape) not in (1, 2):
        raise ValueError(f"{y_name} must be labels (n,) or targets (n, n_outputs), got shape "
                         f"{tuple(y.shape)}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{x_name} has {X.shape[0]} samples but {y_name} has {y.shape[0]}")
    return X, y


def _write_chunk_file(file_path, source, start, stop, dtype):
    """Rows start..stop-1 of ``source`` as a .npy file of ``dtype``, fsynced;
    returns the CRC-32 of its data bytes."""
    rows = source[start:stop]
    block = np.ascontiguousarray(np.asarray(rows), dtype=dtype)
    release_pages(rows)
    with open(file_path, "xb") as stream:
        np.lib.format.write_array(stream, block, allow_pickle=False)
        stream.flush()
        os.fsync(stream.fileno())
    return zlib.crc32(block.reshape(-1).view(np.uint8))


def open_chunked(path, *, part="train", verify=False):
    """The arrays ``(X, y)`` of a store written by :func:`write_chunked`,
    as lazy :class:`ChunkedArray` objects (nothing but headers is read).

    part : "train", or "test" for the test part (``X.parts`` lists the
        parts the store holds).
    verify : also read every chunk file of every part and check its CRC-32
        against the manifest (reads the whole store once).

    Checked before anything is returned: the manifest (format, version,
    dtypes, shapes, rows per chunk) and every chunk file's ``.npy`` header
    against the manifest and against the file's size, so that a file
    claiming more data than it holds, a chunk missing or of the wrong
    shape or dtype, and a store whose write did not finish (no manifest)
    raise ValueError naming the file, before any data is read.
    """
    directory = os.fspath(path)
    if isinstance(directory, bytes):
        directory = os.fsdecode(directory)
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise ValueError(f"{directory} is not a directory, so not a chunked store")
        raise FileNotFoundError(f"chunked store {directory} does not exist")
    manifest = _read_manifest(directory)
    if part not in manifest["parts"]:
        raise ValueError(f"{directory}: the store has no {part!r} part (it has "
                         f"{', '.join(manifest['parts'])})")
    parts = tuple(manifest["parts"])
    arrays = {}
    for part_name, entry in manifest["parts"].items():
        for name in _STORE_ARRAYS:
            spec = manifest["arrays"][name]
            array = ChunkedArray(directory, part_name, name, spec["dtype"], spec["shape"],
                                 entry["rows"], entry["crc32"][name], parts)
            for index in range(array.n_chunks):
                array._header(index)  # every file's header, before use
            arrays[part_name, name] = array
    if verify:
        for array in arrays.values():
            array.verify()
    return arrays[part, "X"], arrays[part, "y"]


def _not_a_store(directory, detail):
    return ValueError(f"{directory} is not a valid chunked store: {detail}")


def _read_manifest(directory):
    manifest_path = os.path.join(directory, MANIFEST_NAME)
    if not os.path.isfile(manifest_path):
        if os.path.isfile(os.path.join(directory, _chunk_name("train", "X", 0))):
            raise _not_a_store(directory, f"it has chunk files but no {MANIFEST_NAME}, which "
                               "is written last: its write did not finish (killed?); "
                               "write it again")
        raise _not_a_store(directory, f"it has no {MANIFEST_NAME} (write one with "
                           "fastnn.datasets.write_chunked)")
    size = os.path.getsize(manifest_path)
    if size > _MAX_MANIFEST_BYTES:
        raise _not_a_store(directory, f"{MANIFEST_NAME} is {size:,} bytes, more than a "
                           f"manifest's {_MAX_MANIFEST_BYTES:,}")
    try:
        with open(manifest_path, "rb") as stream:
            manifest = json.loads(stream.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise _not_a_store(directory, f"{MANIFEST_NAME} is not valid JSON ({error})") from None
    try:
        _check_manifest(manifest)
    except (ValueError, TypeError, KeyError) as error:
        raise _not_a_store(directory, f"{MANIFEST_NAME}: {error}") from None
    return manifest


def _count(value, what, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_manifest(manifest):
    if not isinstance(manifest, dict) or manifest.get("format") != CHUNKED_FORMAT:
        raise ValueError(f"'format' is not {CHUNKED_FORMAT!r}")
    version = _count(manifest.get("format_version"), "'format_version'", 1)
    if version != CHUNKED_FORMAT_VERSION:
        raise ValueError(f"format_version {version}; this fastnn reads version "
                         f"{CHUNKED_FORMAT_VERSION} only (written by a newer fastnn?)")
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict) or sorted(arrays) != sorted(_STORE_ARRAYS):
        raise ValueError("'arrays' must describe X and y")
    for name, spec in arrays.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("dtype"), str) \
                or not isinstance(spec.get("shape"), list):
            raise ValueError(f"'arrays.{name}' must have a 'dtype' string and a 'shape' list")
        try:
            dtype = np.dtype(spec["dtype"])
        except (TypeError, ValueError, SyntaxError):
            raise ValueError(f"{name} has an unknown dtype {spec['dtype']!r}") from None
        if dtype.kind not in "biuf" or dtype.itemsize > 16:
            raise ValueError(f"{name} has dtype {dtype}; a store holds real numbers")
        for width in spec["shape"]:
            _count(width, f"a dimension of {name}", 1)
        if name == "X" and not 1 <= len(spec["shape"]) <= 8:
            raise ValueError(f"X's shape beyond the rows must have 1 to 8 dimensions, "
                             f"got {spec['shape']}")
        if name == "y" and len(spec["shape"]) > 1:
            raise ValueError(f"y must be labels or 2-D targets, got shape beyond the rows "
                             f"{spec['shape']}")
    parts = manifest.get("parts")
    if not isinstance(parts, dict) or "train" not in parts \
            or not set(parts) <= set(_STORE_PARTS):
        raise ValueError("'parts' must hold 'train' (and optionally 'test') only")
    for part, entry in parts.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("rows"), list) \
                or not entry["rows"] or not isinstance(entry.get("crc32"), dict):
            raise ValueError(f"part {part!r} must list its chunks' 'rows' and 'crc32'")
        for rows in entry["rows"]:
            _count(rows, f"{part}'s rows per chunk", 1)
        if len(entry["rows"]) > 1_000_000:
            raise ValueError(f"part {part!r} lists {len(entry['rows']):,} chunks")
        for name in _STORE_ARRAYS:
            crcs = entry["crc32"].get(name)
            if not isinstance(crcs, list) or len(crcs) != len(entry["rows"]):
                raise ValueError(f"part {part!r} must give one CRC-32 of {name} per chunk")
            for crc in crcs:
                _count(crc, "a CRC-32")


class ChunkedArray:
    """One array of a chunked store (:func:`open_chunked`), read lazily.

    Attributes: ``shape``, ``dtype``, ``ndim``, ``chunk_rows`` (rows of each
    chunk, a tuple), ``n_chunks``, ``parts`` (the parts of its store),
    ``path``, ``part`` and ``name``.

    ``chunk(i)`` is chunk i as a read-only ``numpy.memmap``;
    ``read_chunk(i, out=None)`` reads it into memory (into ``out``,
    converted to its dtype, without a temporary copy of the chunk);
    ``X[a:b]`` and ``X[i]`` read rows into a new array; ``numpy.asarray(X)``
    reads all of it (refused when it would not fit in memory). Each chunk
    file's header is checked again whenever it is read.
    """

    def __init__(self, directory, part, name, dtype, shape, rows, crcs, parts, first=0):
        self.path = directory
        self._first = int(first)  # the file number of chunk 0 (a subset's)
        self.part = part
        self.name = name
        self.dtype = np.dtype(dtype)
        self.chunk_rows = tuple(int(r) for r in rows)
        self._starts = np.concatenate([[0], np.cumsum(self.chunk_rows, dtype=np.int64)])
        self.shape = (int(self._starts[-1]), *(int(s) for s in shape))
        self._crcs = tuple(crcs)
        self.parts = tuple(parts)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_rows)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self):
        return (f"ChunkedArray({self.path!r}, part={self.part!r}, name={self.name!r}, "
                f"shape={self.shape}, dtype={self.dtype}, n_chunks={self.n_chunks})")

    def chunk_path(self, index) -> str:
        return os.path.join(self.path, _chunk_name(self.part, self.name, self._first + index))

    def chunk_bounds(self, index):
        """(first row, one past the last row) of chunk ``index``."""
        return int(self._starts[index]), int(self._starts[index + 1])

    def _header(self, index):
        """Chunk ``index``'s .npy header, checked against the manifest and
        the file's size (ValueError naming the file otherwise)."""
        file_path = self.chunk_path(index)
        expected = (self.chunk_rows[index], *self.shape[1:])
        try:
            with open(file_path, "rb") as stream:
                header = read_npy_header(stream, os.fstat(stream.fileno()).st_size)
        except FileNotFoundError:
            raise _not_a_store(self.path, f"chunk file {os.path.basename(file_path)} is "
                               "missing") from None
        except (ValueError, OSError) as error:
            raise _not_a_store(self.path, f"{os.path.basename(file_path)}: {error}") from None
        if header.shape != expected or header.dtype != self.dtype or (
                header.fortran_order and len(expected) > 1):
            raise _not_a_store(
                self.path, f"{os.path.basename(file_path)} holds an array of shape "
                f"{header.shape} and dtype {header.dtype}"
                f"{' (Fortran order)' if header.fortran_order else ''}; the manifest says "
                f"{expected} of {self.dtype} in C order")
        return header

    def chunk(self, index) -> np.memmap:
        """Chunk ``index`` as a read-only memory map (nothing read yet)."""
        index = _index(index, self.n_chunks)
        header = self._header(index)
        return np.memmap(self.chunk_path(index), dtype=self.dtype, mode="r",
                         offset=header.data_offset, shape=header.shape)

    def read_chunk(self, index, out=None) -> np.ndarray:
        """Chunk ``index`` read into memory: a new array of the store's
        dtype, or into ``out`` (C-contiguous, of any float or int dtype,
        with the chunk's rows and as many elements), converted as
        ``numpy.copyto(casting="unsafe")`` would. The file is read with
        plain reads (no memory map), in blocks of 4 MiB when converting."""
        index = _index(index, self.n_chunks)
        header = self._header(index)
        if out is None:
            out = np.empty(header.shape, self.dtype)
        if not (isinstance(out, np.ndarray) and out.flags.c_contiguous
                and out.size == math.prod(header.shape) and out.shape[:1] == header.shape[:1]):
            raise ValueError(f"out must be a C-contiguous array of {header.shape[0]} rows and "
                             f"{math.prod(header.shape):,} elements")
        flat = out.reshape(-1)
        with open(self.chunk_path(index), "rb") as stream:
            stream.seek(header.data_offset)
            if out.dtype == self.dtype:
                _read_into(stream, memoryview(flat.view(np.uint8)), self.chunk_path(index))
            else:
                step = max(1, (1 << 22) // self.dtype.itemsize)
                staging = np.empty(min(step, flat.size), self.dtype)
                for start in range(0, flat.size, step):
                    part = staging[:min(step, flat.size - start)]
                    _read_into(stream, memoryview(part.view(np.uint8)), self.chunk_path(index))
                    np.copyto(flat[start:start + part.size], part, casting="unsafe")
        return out

    def verify(self) -> None:
        """Read every chunk file and check its data's CRC-32 against the
        manifest; ValueError naming the first that differs."""
        for index in range(self.n_chunks):
            header = self._header(index)
            checksum = 0
            with open(self.chunk_path(index), "rb") as stream:
                stream.seek(header.data_offset)
                while True:
                    block = stream.read(1 << 22)
                    if not block:
                        break
                    checksum = zlib.crc32(block, checksum)
            if checksum != self._crcs[index]:
                raise _not_a_store(self.path, f"{os.path.basename(self.chunk_path(index))} "
                                   "fails its CRC-32 check: its data changed since it was "
                                   "written")

    def __getitem__(self, key):
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            row = _index(key, self.shape[0])
            return self[row:row + 1][0]
        if not isinstance(key, slice):
            raise TypeError("a ChunkedArray takes a row index or a slice of rows "
                            f"(X[a:b]); got {key!r}")
        start, stop, step = key.indices(self.shape[0])
        if step != 1:
            raise TypeError("a ChunkedArray takes slices of consecutive rows (step 1)")
        stop = max(start, stop)
        check_memory((stop - start) * math.prod(self.shape[1:]) * self.dtype.itemsize,
                     f"rows {start}..{stop - 1} of {self!r}")
        out = np.empty((stop - start, *self.shape[1:]), self.dtype)
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        row = start
        index = first
        while row < stop:
            chunk_start, chunk_stop = self.chunk_bounds(index)
            take = min(stop, chunk_stop) - row
            mapped = self.chunk(index)
            out[row - start:row - start + take] = mapped[row - chunk_start:row - chunk_start + take]
            del mapped
            row += take
            index += 1
        return out

    def __array__(self, dtype=None, copy=None):
        array = self[:]
        return array if dtype is None else array.astype(dtype, copy=False)

    def subset(self, first, stop) -> "ChunkedArray":
        """The chunks first..stop-1 as a ChunkedArray of their rows."""
        first, stop, _ = slice(first, stop).indices(self.n_chunks)
        if stop <= first:
            raise ValueError("a subset needs at least one chunk")
        return ChunkedArray(self.path, self.part, self.name, self.dtype, self.shape[1:],
                            self.chunk_rows[first:stop], self._crcs[first:stop], self.parts,
                            self._first + first)


def _index(index, length):
    """``index`` as an int in [0, length), negative counting from the end."""
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"expected an integer index, got {index!r}")
    index = int(index)
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index} is out of range for {length}")
    return index


def _read_into(stream, view, path):
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:filled + (1 << 24)])
        if not got:
            raise ValueError(f"{path} ends after {filled:,} of {len(view):,} bytes of data "
                             "(changed since the store was opened?)")
        filled += got
