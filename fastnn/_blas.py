"""SciPy's BLAS, as the big-layer engine uses it: found, and kept to one
thread while an epoch runs (docs/performance.md, "The big-layer engine").

fastnn's BLAS kernels (``fastnn.kernels.blas``) call SciPy's ``gemm`` once
per part of a layer, each part on one of fastnn's own threads (which obey
``n_threads`` and the idle-core budget of ``fastnn._threads``). BLAS must
then not start threads of its own: they would take cores the budget did
not give, and a product split by BLAS's threads could round differently
from one computed whole. ``one_thread()`` sets SciPy's OpenBLAS to one
thread for the duration of an epoch and restores the user's setting
afterwards (a process-wide count: two epochs running at once share it).
NumPy's own BLAS, a separate library, is not touched.

``available()`` says whether the engine can be used at all: SciPy
installed, its BLAS an OpenBLAS whose thread count can be set. Where it
cannot, the plan keeps every layer on the register-blocked kernels.
Importing this module imports neither SciPy nor NumPy's BLAS.
"""
from __future__ import annotations

import ctypes
import functools
import os
import threading
from contextlib import contextmanager

__all__ = ["available", "one_thread", "describe", "blas_library"]

_SET_NAMES = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
              "openblas_set_num_threads64_", "openblas_set_num_threads")
_GET_NAMES = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
              "openblas_get_num_threads64_", "openblas_get_num_threads")
_CORE_NAMES = ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
               "openblas_get_corename64_", "openblas_get_corename")


def _scipy_blas_paths() -> list[str]:
    """Shared libraries mapped into this process that look like SciPy's
    BLAS (Linux: /proc/self/maps), SciPy's own bundled one first."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as stream:
            paths = {line.split(None, 5)[5].strip() for line in stream
                     if len(line.split(None, 5)) == 6}
    except OSError:
        return []
    candidates = [p for p in paths if "blas" in os.path.basename(p).lower()
                  and ".so" in os.path.basename(p)]
    return sorted(candidates, key=lambda p: ("scipy" not in p, "numpy" in p, p))


class _Library:
    def __init__(self, path, handle):
        self.path = path
        self.handle = handle
        self.set_threads = self._function(_SET_NAMES, None, [ctypes.c_int])
        self.get_threads = self._function(_GET_NAMES, ctypes.c_int, [])
        self.core_name = self._function(_CORE_NAMES, ctypes.c_char_p, [])

    def _function(self, names, restype, argtypes):
        for name in names:
            function = getattr(self.handle, name, None)
            if function is not None:
                function.restype, function.argtypes = restype, argtypes
                return function
        return None


@functools.lru_cache(maxsize=None)
def blas_library():
    """SciPy's OpenBLAS as a ctypes handle with set_threads/get_threads, or
    None (no SciPy, another BLAS, or one whose threads cannot be set)."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401 - maps SciPy's BLAS into the process
    except ImportError:
        return None
    for path in _scipy_blas_paths():
        if "numpy" in path:  # NumPy's own copy: not the one SciPy calls
            continue
        try:
            library = _Library(path, ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0)))
        except OSError:
            continue
        if library.set_threads is not None and library.get_threads is not None:
            return library
    return None


def available() -> bool:
    """Whether the BLAS engine can run here (SciPy's OpenBLAS found, its
    thread count settable). FASTNN_BLAS=0 switches the engine off."""
    if os.environ.get("FASTNN_BLAS", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return blas_library() is not None


def describe() -> str:
    """e.g. "scipy openblas (Haswell), libscipy_openblas-6cdc3b4a.so"; or why not."""
    if os.environ.get("FASTNN_BLAS", "1").strip().lower() in ("0", "false", "no", "off"):
        return "off (FASTNN_BLAS=0)"
    library = blas_library()
    if library is None:
        return "not available (no SciPy OpenBLAS whose threads can be set)"
    core = library.core_name().decode() if library.core_name is not None else "?"
    return f"SciPy's OpenBLAS ({core} kernels), {os.path.basename(library.path)}"


_lock = threading.Lock()
_users = 0
_saved = None


@contextmanager
def one_thread():
    """SciPy's BLAS in one thread while the block runs (nested and
    concurrent uses share one setting; the last one out restores the
    user's)."""
    global _users, _saved
    library = blas_library()
    if library is None:
        yield
        return
    with _lock:
        if _users == 0:
            _saved = library.get_threads()
            if _saved != 1:
                library.set_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None and _saved != 1:
                library.set_threads(_saved)
