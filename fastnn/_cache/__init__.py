"""Where fastnn's compiled kernels live on disk, keyed by their sources.

Two concerns, one module each:

* ``key``: which directory a build's kernels go to, and the key that
  names it (fastnn's version, the kernel sources by rule, numba, the CPU,
  ``FASTNN_PARALLEL``); ``fastnn info``'s housekeeping of those directories.
* ``store``: numba's index and data files in that directory, checked on
  load, written under a lock, whose faults never stop training.

Kernels get the store through ``fastnn.kernels._jit.jit``. The names below
are what the command line and the tests use.
"""
from __future__ import annotations

from .key import (ENV_DIR, PACKAGE_DIR, cache_key, cache_root, clear_cache, compute_key,
                  directory_usage, kernel_source_files, kernels_dir, key_directories,
                  user_cache_dir)
from .store import CacheWarning, KernelCache, KernelCacheFile, session_stats

__all__ = ["CacheWarning", "ENV_DIR", "PACKAGE_DIR", "KernelCache", "KernelCacheFile",
           "cache_root", "user_cache_dir", "cache_key", "compute_key", "kernels_dir",
           "kernel_source_files", "key_directories", "directory_usage", "clear_cache",
           "session_stats"]
