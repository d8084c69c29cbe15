"""The key of fastnn's compiled-kernel cache, and the directories it names.

* **Where.** ``cache_root()``: ``$FASTNN_CACHE_DIR`` if set, else
  ``$NUMBA_CACHE_DIR/fastnn`` if numba's cache is redirected, else the user's
  cache directory (``~/.cache/fastnn`` on Linux, ``~/Library/Caches/fastnn``
  on macOS, ``%LOCALAPPDATA%\\fastnn\\Cache`` on Windows). Never inside the
  package. The kernels of one build live in ``kernels-<16 hex digits of the
  key>/`` below it; other builds' directories are left alone (``fastnn info``
  shows their size, ``fastnn info --clear-cache`` removes them).
* **Key.** ``cache_key()``: a SHA-256 over fastnn's version, the contents of
  every kernel source file (by rule: every ``.py`` file below
  ``fastnn/kernels/``, and ``fastnn/_config.py``), numba's and llvmlite's
  versions, the Python build, the CPU (name and features, as numba's codegen
  sees them, ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` honoured), numba's
  code-generation settings and fastnn's ``PARALLEL`` flag. An edit anywhere
  in the kernels therefore recompiles every kernel; a reinstall of the same
  sources (non-editable, then editable) reuses the cache.

numba's store of the compiled code in that directory: ``store.py``.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm
import numba
from numba.core import config as numba_config

from .._config import PARALLEL

__all__ = ["ENV_DIR", "PACKAGE_DIR", "cache_root", "user_cache_dir", "kernels_dir",
           "kernel_source_files", "kernel_source_set", "compute_key", "cache_key",
           "key_directories", "directory_usage", "clear_cache"]

# fastnn/ (this file is fastnn/_cache/key.py)
PACKAGE_DIR = Path(__file__).resolve().parent.parent
ENV_DIR = "FASTNN_CACHE_DIR"
KEY_DIR_PREFIX = "kernels-"
# Relative to the package: the subpackage holding every compiled function,
# and the flags they are compiled with.
KERNELS_PACKAGE = "kernels"
CONFIG_MODULE = "_config.py"


# ---------------------------------------------------------------------------
# Where
# ---------------------------------------------------------------------------
def user_cache_dir() -> Path:
    """The user's cache directory for fastnn (as platformdirs.user_cache_dir("fastnn"))."""
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no HOME and no password entry
        home = None
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or (home and str(home / "AppData" / "Local"))
        if base:
            return Path(base) / "fastnn" / "Cache"
    elif sys.platform == "darwin" and home is not None:
        return home / "Library" / "Caches" / "fastnn"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        if os.path.isabs(xdg):  # the XDG spec ignores relative paths
            return Path(xdg) / "fastnn"
        if home is not None:
            return home / ".cache" / "fastnn"
    return Path(tempfile.gettempdir()) / "fastnn-cache"


def cache_root() -> Path:
    """The directory holding fastnn's compiled kernels (one subdirectory per key)."""
    configured = os.environ.get(ENV_DIR, "").strip()
    if configured:
        return Path(configured).expanduser().absolute()
    # Whoever redirected numba's cache (a read-only home, a container, the
    # benchmarks) wants fastnn's redirected too.
    if numba_config.CACHE_DIR:
        return Path(numba_config.CACHE_DIR).expanduser().absolute() / "fastnn"
    return user_cache_dir()


def kernels_dir() -> Path:
    """This build's directory: ``cache_root()/kernels-<first 16 hex digits of the key>``."""
    return cache_root() / (KEY_DIR_PREFIX + cache_key()[:16])


# ---------------------------------------------------------------------------
# Key
# ---------------------------------------------------------------------------
def kernel_source_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The files whose contents enter the key: every ``.py`` file below
    ``fastnn/kernels/`` (subpackages too) and ``fastnn/_config.py``.

    By rule, not by list: compiled code lives in ``fastnn/kernels/`` only
    (``tests/test_cache.py`` fails any other module that defines some), so
    a new kernel module is covered the moment it is written.
    """
    package_dir = Path(package_dir)
    files = sorted((package_dir / KERNELS_PACKAGE).rglob("*.py"))
    config = package_dir / CONFIG_MODULE
    if config.exists():
        files.append(config)
    return files


def _package_version(package_dir: Path) -> str:
    # Read, not imported: the kernels are decorated (and the key computed)
    # while fastnn/__init__.py is still importing them.
    try:
        text = (Path(package_dir) / "__init__.py").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return match.group(1) if match else "unknown"


def _cpu() -> tuple[str, str]:
    """The CPU name and features numba's codegen compiles for (its own rules)."""
    from numba.core.codegen import get_host_cpu_features

    name = numba_config.CPU_NAME or llvm.get_host_cpu_name()
    features = numba_config.CPU_FEATURES
    if features is None:
        features = get_host_cpu_features()
    return name, features


def compute_key(parallel: bool, package_dir: Path = PACKAGE_DIR) -> str:
    """The cache key (64 hex digits) of the kernels in ``package_dir``."""
    package_dir = Path(package_dir)
    parts = [("fastnn", _package_version(package_dir))]
    sources = kernel_source_files(package_dir)
    if not sources:
        raise OSError(f"no kernel sources found in {package_dir}")
    for path in sources:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        parts.append(("source " + path.relative_to(package_dir).as_posix(), digest))
    cpu_name, cpu_features = _cpu()
    parts += [
        ("numba", numba.__version__),
        ("llvmlite", llvmlite.__version__),
        ("python", sys.version),
        ("cache tag", sys.implementation.cache_tag),
        ("abiflags", getattr(sys, "abiflags", "")),
        ("platform", f"{sys.platform} {platform.machine()}"),
        ("cpu", cpu_name),
        ("cpu features", cpu_features),
        ("parallel", bool(parallel)),
    ]
    # numba settings that change the generated code without entering its
    # own index key.
    for name in ("OPT", "LOOP_VECTORIZE", "SLP_VECTORIZE", "ENABLE_AVX", "BOUNDSCHECK",
                 "DEBUGINFO_DEFAULT"):
        parts.append(("numba." + name, str(getattr(numba_config, name, None))))
    hasher = hashlib.sha256()
    for label, value in parts:
        hasher.update(f"{label}\0{value}\n".encode())
    return hasher.hexdigest()


@functools.lru_cache(maxsize=None)
def cache_key() -> str:
    """This process's key: the package's sources as first read, fastnn's PARALLEL."""
    return compute_key(PARALLEL)


@functools.lru_cache(maxsize=None)
def kernel_source_set() -> frozenset:
    """kernel_source_files() of the installed package, resolved (read once)."""
    return frozenset(path.resolve() for path in kernel_source_files())


# ---------------------------------------------------------------------------
# Housekeeping (fastnn info)
# ---------------------------------------------------------------------------
def key_directories(root: Path | None = None) -> list[Path]:
    """The ``kernels-*`` directories below ``root`` (default: ``cache_root()``)."""
    root = cache_root() if root is None else Path(root)
    try:
        return sorted(path for path in root.iterdir()
                      if path.name.startswith(KEY_DIR_PREFIX) and path.is_dir())
    except OSError:
        return []


def directory_usage(path: Path) -> tuple[int, int]:
    """(bytes, files) below ``path``; (0, 0) if it does not exist."""
    total = files = 0
    for directory, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
            files += 1
    return total, files


def clear_cache(root: Path | None = None) -> tuple[int, int]:
    """Remove every ``kernels-*`` directory below ``root``; returns (directories, bytes).

    Only those: ``FASTNN_CACHE_DIR`` may point at a directory holding other
    files too. A process loading from a removed directory compiles instead.
    """
    removed = freed = 0
    for directory in key_directories(root):
        size, _ = directory_usage(directory)
        shutil.rmtree(directory, ignore_errors=True)
        if not directory.exists():
            removed += 1
            freed += size
    return removed, freed
