"""The bundled digits, MNIST's IDX files, and a seeded train/test split."""
from __future__ import annotations

import gzip
import math
import numbers
import os
import struct
import zlib

import numpy as np

from .._files import check_regular_file
from .._validation import check_dtype, check_memory

__all__ = ["load_digits", "load_mnist", "read_idx", "split", "LABEL_DTYPE"]

# Labels are stored as int64 whatever the file held, so that they index arrays
# and compare equal across loaders.
LABEL_DTYPE = np.int64


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
    y = table[:, -1].astype(LABEL_DTYPE)
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
        with open(check_regular_file(path, "an IDX file"), "rb") as raw:
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
        result += [X, labels.astype(LABEL_DTYPE)]
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

