"""numba's store of fastnn's compiled kernels: a cache that never stops training.

numba's own cache (``cache=True``) writes next to the source, into the
installed package's ``__pycache__``, and keys each file on that one source
file's contents: a kernel whose callee changed in another file is loaded
stale, a reinstall leaves files pip does not know about, and a damaged file
raises from inside ``train()`` in every later process. fastnn's kernels use
the cache defined here instead (``fastnn.kernels._jit.jit`` attaches it to
each dispatcher, as numba's ``Dispatcher.enable_caching`` attaches its own),
in the directory of the cache key (``key.py``: where, and what the key
covers):

* **Faults.** A truncated, zeroed, foreign or version-mismatched index or
  data file gives one ``CacheWarning`` naming it; the file is removed, the
  kernel compiled again and written anew. Every data file carries a digest
  of the function and signature it belongs to and a checksum of its
  contents. A cache directory that cannot be created or written gives one
  ``CacheWarning`` naming it and ``FASTNN_CACHE_DIR``; kernels then compile
  in memory (kernels already in a read-only cache are still loaded).
* **Concurrency.** Files are written to a temporary name and renamed into
  place; the read-modify-write of an index (and the data file it points to)
  happens under an exclusive ``fcntl.flock`` on ``<key dir>/.lock`` (where
  ``fcntl`` is missing, without the lock: renames keep the files whole, a
  lost index entry means one more compile).

Tests: ``tests/test_cache.py``.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import os
import pickle
import re
import sys
import tempfile
import warnings
import weakref
from pathlib import Path

import numba
from numba.core.caching import (CompileResultCacheImpl, FunctionCache, IndexDataCacheFile,
                                _CacheLocator)

from .key import ENV_DIR, PACKAGE_DIR, cache_key, kernel_source_set, kernels_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["CacheWarning", "KernelCache", "KernelCacheFile", "KernelCacheLocator",
           "session_stats"]

LOCK_NAME = ".lock"

# Formats of fastnn's index and data files (numba's layout, plus what the
# checks below need).
_INDEX_FORMAT = "fastnn-kernel-index-1"
_DATA_FORMAT = "fastnn-kernel-data-1"


class CacheWarning(UserWarning):
    """A problem with fastnn's compiled-kernel cache; training goes on."""


# ---------------------------------------------------------------------------
# numba's cache, with fastnn's locator and checks
# ---------------------------------------------------------------------------
class KernelCacheLocator(_CacheLocator):
    """Locates every kernel in ``kernels_dir()``, stamped with the cache key.

    The stamp is the key, not the source file's time and size, so that the
    same sources installed elsewhere (or again) find their kernels.
    """

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(kernels_dir())
        stamp = cache_key()
        try:
            in_key = Path(py_file).resolve() in kernel_source_set()
        except OSError:
            in_key = False
        if not in_key:
            # A function outside the kernel sources (jit used elsewhere):
            # its own file goes into its stamp.
            try:
                stamp = (stamp, hashlib.sha256(Path(py_file).read_bytes()).hexdigest())
            except OSError:
                stamp = (stamp, py_file)
        self._stamp = stamp

    def ensure_cache_path(self):
        os.makedirs(self._cache_path, exist_ok=True)
        tempfile.TemporaryFile(dir=self._cache_path).close()

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return self._stamp

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


class _KernelCacheImpl(CompileResultCacheImpl):
    _locator_classes = [KernelCacheLocator]

    def __init__(self, py_func):
        # numba's __init__, minus NUMBA_CACHE_LOCATOR_CLASSES (which would
        # swap the locator) and with the module's dotted name in the file
        # names, so that equally named modules of subpackages cannot collide.
        self._lineno = py_func.__code__.co_firstlineno
        qualname = getattr(py_func, "__qualname__", py_func.__name__)
        source_path = inspect.getfile(py_func)
        self._locator = KernelCacheLocator.from_function(py_func, source_path)
        module = getattr(py_func, "__module__", None) or Path(source_path).stem
        self._filename_base = self.get_filename_base(f"{module}.{qualname}",
                                                     getattr(sys, "abiflags", ""))


class _SessionState:
    """What this process learnt about the cache (one warning per problem)."""

    def __init__(self):
        self.can_read = True
        self.can_write = True
        self.directory_warned = False
        self.warned_files: set[str] = set()


_state = _SessionState()
_caches: "weakref.WeakSet[KernelCache]" = weakref.WeakSet()


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:200] + "..."


_NUMBA_DIR = os.path.dirname(numba.__file__)


def _warn(message: str):
    # Attributed to the first caller outside fastnn and numba (the user's
    # train() or feedforward() call), not to this module.
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(
            (str(PACKAGE_DIR), _NUMBA_DIR)):
        frame, level = frame.f_back, level + 1
    warnings.warn(CacheWarning(message), stacklevel=level - 1 if frame is None else level)


def _directory_unusable(directory: str, error: BaseException, *, reading: bool = False):
    """One warning per process; then no more writing (nor reading, if that failed)."""
    _state.can_write = False
    if reading:
        _state.can_read = False
    if _state.directory_warned:
        return
    _state.directory_warned = True
    _warn(f"fastnn cannot use {directory} for its compiled kernels ({_describe(error)}); "
          f"they are compiled in memory for this process, which costs that time again in "
          f"every new process. Set {ENV_DIR} to a writable directory (or FASTNN_CACHE=0 to "
          f"not cache).")


def _report_fault(path: str, problem: str, removed: bool):
    """One warning per damaged file and process."""
    if path in _state.warned_files:
        return
    _state.warned_files.add(path)
    action = "removed it" if removed else "could not remove it"
    _warn(f"fastnn's compiled-kernel cache file {path} is {problem}; {action}, the kernel "
          f"is compiled again.")


def _file_identity(stat_result) -> tuple:
    return (stat_result.st_dev, stat_result.st_ino, stat_result.st_size,
            stat_result.st_mtime_ns)


def _remove_if_unchanged(path: str, identity: tuple) -> bool:
    """Remove ``path`` if it is still the file that was read (not a newer one)."""
    try:
        if _file_identity(os.stat(path)) != identity:
            return False
        os.remove(path)
    except FileNotFoundError:
        return False
    return True


def _first_pickle(raw: bytes):
    """(stream after it, the first pickled object of raw, None), or
    (None, None, what is wrong): the header of an index or data file."""
    if not raw:
        return None, None, "empty"
    stream = io.BytesIO(raw)
    try:
        return stream, pickle.load(stream), None
    except Exception as error:
        return None, None, f"unreadable ({_describe(error)})"


class KernelCacheFile(IndexDataCacheFile):
    """numba's index and data files, checked on load and updated under a lock.

    Index file: numba's version (a pickle), then ``((format, function,
    stamp), {index key: data file name})``. Data file: a pickled header
    ``(format, numba version, digest of function and index key, SHA-256 of
    the payload)``, then the payload (numba's serialized compile result).
    """

    def __init__(self, cache_path, filename_base, source_stamp):
        super().__init__(cache_path, filename_base, source_stamp)
        self._function = filename_base
        self._lock_path = os.path.join(cache_path, LOCK_NAME)
        self._data_name_re = re.compile(re.escape(filename_base) + r"\.\d+\.nbc\Z")

    @property
    def index_path(self) -> str:
        return self._index_path

    def data_path(self, name: str) -> str:
        return self._data_path(name)

    # -- locking ---------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self):
        os.makedirs(self._cache_path, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except OSError:  # a file system without locks: renames still keep files whole
                    pass
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- index -----------------------------------------------------------------
    def _entry_digest(self, key) -> str:
        return hashlib.sha256(repr((self._function, key)).encode()).hexdigest()

    def _parse_index(self, raw: bytes):
        """(overloads, None), or (None, what is wrong with the file)."""
        stream, version, problem = _first_pickle(raw)
        if problem is not None:
            return None, problem
        if not isinstance(version, str):
            return None, "not a fastnn kernel index (foreign data)"
        if version != self._version:
            return None, f"written by numba {version[:40]!r}, not this numba {self._version}"
        try:
            content = pickle.loads(stream.read())
        except Exception as error:
            return None, f"truncated or damaged ({_describe(error)})"
        try:
            (index_format, function, stamp), overloads = content
            valid = (isinstance(index_format, str) and index_format == _INDEX_FORMAT
                     and isinstance(overloads, dict)
                     and all(isinstance(name, str) and self._data_name_re.match(name)
                             for name in overloads.values()))
        except Exception:
            valid = False
        if not valid:
            return None, "not a fastnn kernel index (foreign data)"
        if function != self._function:
            return None, f"the index of another kernel ({str(function)[:100]})"
        if stamp != self._source_stamp:
            return {}, None  # stale (another build): overwritten by the next save
        return overloads, None

    def _read_index(self):
        """(overloads, file identity, problem); empty when there is no index."""
        try:
            with open(self._index_path, "rb") as stream:
                identity = _file_identity(os.fstat(stream.fileno()))
                raw = stream.read()
        except FileNotFoundError:
            return {}, None, None
        overloads, problem = self._parse_index(raw)
        return overloads or {}, identity, problem

    def _load_index(self):
        overloads, identity, problem = self._read_index()
        if problem is not None:
            self._drop_index(identity, problem)
            return {}
        return overloads

    def _drop_index(self, identity, problem):
        removed = False
        try:
            with self._locked():
                removed = _remove_if_unchanged(self._index_path, identity)
        except OSError:
            pass
        _report_fault(self._index_path, problem, removed)

    def _save_index(self, overloads):
        content = self._dump(((_INDEX_FORMAT, self._function, self._source_stamp), overloads))
        with self._open_for_write(self._index_path) as stream:
            pickle.dump(self._version, stream, protocol=-1)
            stream.write(content)

    def flush(self):
        with self._locked():
            self._save_index({})

    # -- entries ---------------------------------------------------------------
    def save(self, key, data):
        payload = self._dump(data)
        header = pickle.dumps((_DATA_FORMAT, self._version, self._entry_digest(key),
                               hashlib.sha256(payload).hexdigest()), protocol=4)
        with self._locked():
            overloads, identity, problem = self._read_index()
            if problem is not None:
                _report_fault(self._index_path, problem, True)  # replaced below
                overloads = {}
            name = overloads.get(key)
            if name is None:
                taken = set(overloads.values())
                number = 1
                while self._data_name(number) in taken:
                    number += 1
                name = self._data_name(number)
            # The data first, then the index that points to it: a reader
            # never finds an entry without its file.
            with self._open_for_write(self._data_path(name)) as stream:
                stream.write(header)
                stream.write(payload)
            overloads[key] = name
            self._save_index(overloads)

    def load(self, key):
        entry = self.load_entry(key)
        return None if entry is None else entry[1]

    def load_entry(self, key):
        """(data file path, payload, undo) or None; a damaged entry is dropped."""
        name = self._load_index().get(key)
        if name is None:
            return None
        path = self._data_path(name)
        try:
            with open(path, "rb") as stream:
                identity = _file_identity(os.fstat(stream.fileno()))
                raw = stream.read()
        except FileNotFoundError:
            return None  # removed since (by hand, or --clear-cache): compiled again
        data, problem = self._parse_data(raw, key)
        if problem is not None:
            self.drop_entry(key, name, identity, problem)
            return None
        return path, data, (key, name, identity)

    def _parse_data(self, raw: bytes, key):
        stream, header, problem = _first_pickle(raw)
        if problem is not None:
            return None, problem
        if not (isinstance(header, tuple) and len(header) == 4
                and isinstance(header[0], str) and header[0] == _DATA_FORMAT
                and all(isinstance(field, str) for field in header)):
            return None, "not a fastnn kernel data file (foreign data)"
        _, version, digest, checksum = header
        if version != self._version:
            return None, f"written by numba {version[:40]!r}, not this numba {self._version}"
        if digest != self._entry_digest(key):
            return None, "the compiled code of another kernel or signature"
        payload = stream.read()
        if hashlib.sha256(payload).hexdigest() != checksum:
            return None, "truncated or damaged (its checksum does not match)"
        try:
            return pickle.loads(payload), None
        except Exception as error:
            return None, f"damaged ({_describe(error)})"

    def drop_entry(self, key, name, identity, problem):
        """Remove a damaged data file and its index entry, then warn once."""
        path = self._data_path(name)
        removed = False
        try:
            with self._locked():
                removed = _remove_if_unchanged(path, identity)
                if removed or not os.path.exists(path):
                    overloads, _, index_problem = self._read_index()
                    if index_problem is None and overloads.get(key) == name:
                        del overloads[key]
                        self._save_index(overloads)
        except OSError:
            pass
        _report_fault(path, problem, removed)


def _cell_name(value) -> str:
    """A closure cell of a kernel, by name: ``module.qualname`` for a
    function or kernel, repr for anything else."""
    function = getattr(value, "py_func", value)
    if callable(function) and hasattr(function, "__qualname__"):
        return f"{function.__module__}.{function.__qualname__}"
    return repr(value)


class KernelCache(FunctionCache):
    """numba's per-function cache in ``kernels_dir()``, whose faults never raise.

    Counts its loads (``hits``) and compiles (``misses``) for ``session_stats``.
    """

    _impl_class = _KernelCacheImpl

    def __init__(self, py_func):
        # numba's Cache.__init__ with fastnn's file class.
        self._name = repr(py_func)
        self._py_func = py_func
        self._impl = self._impl_class(py_func)
        self._cache_path = self._impl.locator.get_cache_path()
        self._cache_file = KernelCacheFile(cache_path=self._cache_path,
                                           filename_base=self._impl.filename_base,
                                           source_stamp=self._impl.locator.get_source_stamp())
        self.hits = 0
        self.misses = 0
        self.loaded_files: list[str] = []
        self.enable()
        _caches.add(self)

    @property
    def index_path(self) -> str:
        return self._cache_file.index_path

    def _index_key(self, sig, codegen):
        # numba keys a closure by pickling its cells, and a pickled dispatcher
        # carries an id of this process: a kernel built by a factory (the
        # scheduler's loop, kernels/scheduler.py) would never be found again
        # by the next process. Its cells are fastnn's kernels and names, whose
        # sources the cache key covers, so they are keyed by name.
        if self._py_func.__closure__ is None:
            return super()._index_key(sig, codegen)
        cells = repr(tuple(_cell_name(cell.cell_contents)
                           for cell in self._py_func.__closure__))
        return (sig, codegen.magic_tuple(),
                (hashlib.sha256(self._py_func.__code__.co_code).hexdigest(),
                 hashlib.sha256(cells.encode()).hexdigest()))

    def load_overload(self, sig, target_context):
        result = self._load_overload(sig, target_context)
        if result is None:
            self.misses += 1
        else:
            self.hits += 1
        return result

    def _load_overload(self, sig, target_context):
        if not (self._enabled and _state.can_read):
            return None
        target_context.refresh()
        try:
            key = self._index_key(sig, target_context.codegen())
            entry = self._cache_file.load_entry(key)
            if entry is None:
                return None
            path, data, undo = entry
            try:
                result = self._impl.rebuild(target_context, data)
            except Exception as error:
                self._cache_file.drop_entry(*undo, f"not loadable ({_describe(error)})")
                return None
        except OSError as error:  # e.g. a parent of the directory is a file
            _directory_unusable(self._cache_path, error, reading=True)
            return None
        except Exception as error:  # a fault of its own: never stop training
            _report_fault(self._cache_file.index_path, f"not loadable ({_describe(error)})",
                          False)
            return None
        self.loaded_files.append(path)
        return result

    def save_overload(self, sig, data):
        if not (self._enabled and _state.can_write):
            return
        try:
            if not self._impl.check_cachable(data):
                return
            key = self._index_key(sig, data.codegen)
            self._cache_file.save(key, self._impl.reduce(data))
        except OSError as error:
            _directory_unusable(self._cache_path, error)
        except Exception as error:
            if self._name not in _state.warned_files:
                _state.warned_files.add(self._name)
                _warn(f"fastnn could not cache the compiled {self._py_func.__qualname__} "
                      f"({_describe(error)}); it is compiled again in the next process.")

    def flush(self):
        try:
            self._cache_file.flush()
        except OSError:
            pass


def session_stats() -> dict:
    """Loads and compiles of fastnn's cached kernels in this process."""
    caches = list(_caches)
    return {
        "hits": sum(cache.hits for cache in caches),
        "misses": sum(cache.misses for cache in caches),
        "loaded": sorted(path for cache in caches for path in cache.loaded_files),
        "compiled": sorted(cache._impl.filename_base for cache in caches if cache.misses),
    }


