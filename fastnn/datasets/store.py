"""Chunked stores: data sets larger than memory, as a directory of ``.npy`` chunks."""
from __future__ import annotations

import json
import math
import mmap
import numbers
import os
import secrets
import shutil
import zlib

import numpy as np

from .._files import atomic_write, check_regular_file, fsync_directory, read_npy_header
from .._validation import check_memory

__all__ = ["write_chunked", "open_chunked", "is_chunked_store", "ChunkedArray", "release_pages",
           "CHUNKED_FORMAT", "CHUNKED_FORMAT_VERSION", "MANIFEST_NAME"]


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


# The most rows (and the longest dimension) a manifest may claim: far more
# than any disk holds, and every sum and product of such counts stays an
# exact int64 (a claim of 2**64 rows used to overflow while the store's
# chunks were counted).
MAX_COUNT = 2**53


def _count(value, what, minimum=0, maximum=MAX_COUNT):
    if isinstance(value, bool) or not isinstance(value, int) or not (
            minimum <= value <= maximum):
        raise ValueError(f"{what} must be an integer from {minimum} to {maximum:,}, "
                         f"got {value!r}")
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
        if sum(entry["rows"]) > MAX_COUNT:
            raise ValueError(f"part {part!r} claims {sum(entry['rows']):,} rows, more than "
                             f"{MAX_COUNT:,}")
        for name in _STORE_ARRAYS:
            crcs = entry["crc32"].get(name)
            if not isinstance(crcs, list) or len(crcs) != len(entry["rows"]):
                raise ValueError(f"part {part!r} must give one CRC-32 of {name} per chunk")
            for crc in crcs:
                _count(crc, "a CRC-32", maximum=2**32 - 1)


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
            with open(check_regular_file(file_path, "a chunk"), "rb") as stream:
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

