"""The ``jit`` decorator of every kernel, ``prefer_wide_vectors``, and the
hook that attaches fastnn's disk cache to each compiled function.

The flags themselves are in ``fastnn/_config.py``; this module turns them
into numba's options. Kernels import ``from ._jit import jit,
prefer_wide_vectors``.
"""
from __future__ import annotations

import warnings

import numba
from numba import types
from numba.core import config as numba_config
from numba.core.caching import NullCache
from numba.core.dispatcher import Dispatcher
from numba.core.errors import NumbaPerformanceWarning
from numba.extending import intrinsic

from .._cache.store import CacheWarning, KernelCache
from .._config import CACHE, ERROR_MODEL, FASTMATH, PARALLEL, VECTOR_WIDTH_BITS

__all__ = ["jit", "prefer_wide_vectors"]

# Rule: a compiled function that calls a parallel (prange) kernel is itself
# compiled with parallel=True. numba can crash when it loads from its disk
# cache a non-parallel function that calls a parallel one (numba issue #8578;
# tests/test_network.py::test_kernels_reload_from_the_cache_in_new_processes
# segfaults without this rule).
# numba then warns that such a caller has no prange of its own; that warning
# is expected for fastnn's kernels and silenced while they compile.
_NO_PRANGE_WARNING = r"(?s).*no transformation for parallel execution was possible"


def _compile_quietly(dispatcher):
    if not hasattr(dispatcher, "compile"):  # NUMBA_DISABLE_JIT=1: a plain function
        return dispatcher
    compile_signature = dispatcher.compile

    def compile(sig):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NO_PRANGE_WARNING,
                                    category=NumbaPerformanceWarning)
            return compile_signature(sig)

    dispatcher.compile = compile
    return dispatcher


_cache_failure = []


def _kernel_cache(py_func):
    if not _cache_failure:
        try:
            return KernelCache(py_func)
        except Exception as error:  # e.g. sources that cannot be read to key the cache
            _cache_failure.append(error)
            warnings.warn(CacheWarning(
                f"fastnn cannot cache its compiled kernels ({error}); they are compiled in "
                "memory for this process."), stacklevel=4)
    return NullCache()


def jit(function=None, *, parallel: bool = False, calls_parallel: bool = False,
        reassociate: bool = True, inline: bool = False):
    """Compile ``function`` with fastnn's flags (usable bare or with arguments).

    ``parallel=True``: the function has prange loops of its own.
    ``calls_parallel=True``: it has none but calls functions that do; it is
    compiled with parallel=True too (see the rule above), without numba's
    warning that there was nothing to parallelise.
    Both are honoured only when ``FASTNN_PARALLEL`` is on.
    ``reassociate=False`` drops "reassoc" from the fastmath set, for code whose
    rounding is part of its accuracy (a range reduction). The flags stay on
    its instructions where it is inlined into a caller compiled with them.
    ``inline=True``: numba inlines the function's IR into each caller
    (``inline="always"``), for functions that only call other kernels in
    order (no hot loop of their own). Each compiled function is an LLVM
    module that its callers link in, optimize and emit again, so every
    level of calls between an epoch and its loops costs seconds of compile
    time (docs/runtime.md, "Cold start"); an inlined level costs none.
    """

    def decorate(func):
        options = dict(
            fastmath=set(FASTMATH) if reassociate else set(FASTMATH) - {"reassoc"},
            error_model=ERROR_MODEL,
            parallel=(parallel or calls_parallel) and PARALLEL,
            nogil=True,
        )
        if inline:
            options["inline"] = "always"
        # Not numba's cache=True: that one writes into the package and keys
        # on one source file. fastnn's cache (fastnn/_cache/store.py) is
        # attached as numba's Dispatcher.enable_caching attaches its own.
        dispatcher = numba.njit(cache=False, **options)(func)
        if CACHE and isinstance(dispatcher, Dispatcher):  # not with NUMBA_DISABLE_JIT=1
            dispatcher._cache = _kernel_cache(dispatcher.py_func)
        return _compile_quietly(dispatcher) if calls_parallel and PARALLEL else dispatcher

    if function is not None:
        return decorate(function)
    return decorate


def _prefer_wide_vectors_python():  # pragma: no cover - NUMBA_DISABLE_JIT=1 only
    """Compiled code's vector width has no meaning for plain Python."""


@intrinsic
def _prefer_wide_vectors_intrinsic(typingctx):
    attribute = f'"prefer-vector-width"="{VECTOR_WIDTH_BITS}"'

    def codegen(context, builder, signature, args):
        # llvmlite only lets known attribute names through FunctionAttributes.add;
        # a string attribute is written into the IR as it is, and LLVM reads
        # this one per function. set.add bypasses the name check.
        set.add(builder.function.attributes, attribute)
        return context.get_dummy_value()

    return types.void(), codegen


# Called first in every kernel with a hot loop: asks LLVM to vectorize that
# function's loops VECTOR_WIDTH_BITS wide. Numba optimizes (and vectorizes)
# each function in its own module before inlining it into its callers, so
# the leaf kernels are the ones that need it.
prefer_wide_vectors = (_prefer_wide_vectors_python if numba_config.DISABLE_JIT
                       else _prefer_wide_vectors_intrinsic)
