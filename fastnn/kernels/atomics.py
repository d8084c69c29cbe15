"""Atomic operations on int64 array elements, for threads that share the
work of an epoch (``kernels.train_epoch_shared``), and ways for a waiting
thread to give up its core.

numba has no atomics of its own on the CPU; these are LLVM's, emitted by
intrinsics. Each takes an int64 array and an index (not checked: the
callers use constant indices into an array they allocated). Under
``NUMBA_DISABLE_JIT=1`` they are plain Python, which is correct because
nothing then runs in parallel.

Why atomics instead of one numba parallel region per phase: a region costs
7.5-10 us on this machine (``scripts/bench_prange_launch.py``), about the
whole work of a mini-batch of 10 on 784-30-10; handing work between two
spinning threads through these costs 0.2 us.
"""
from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core import config as numba_config
from numba.extending import intrinsic

_X86 = platform.machine().lower() in {"x86_64", "amd64", "i686", "i386"}


def _element_pointer(context, builder, array_type, array, index):
    array_struct = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, array_struct, [index],
                                    wraparound=False)


def _check_int64_array(array):
    return isinstance(array, types.Array) and array.dtype == types.int64 and array.ndim == 1


@intrinsic
def _fetch_add(typingctx, array, index, value):
    if not _check_int64_array(array):
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        amount = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", pointer, amount, "seq_cst")

    return types.int64(array, index, value), codegen


@intrinsic
def _compare_exchange(typingctx, array, index, expected, new):
    if not _check_int64_array(array):
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        old = context.cast(builder, args[2], signature.args[2], types.int64)
        replacement = context.cast(builder, args[3], signature.args[3], types.int64)
        outcome = builder.cmpxchg(pointer, old, replacement, "seq_cst", "seq_cst")
        return builder.extract_value(outcome, 1)  # i1, numba's boolean value

    return types.boolean(array, index, expected, new), codegen


@intrinsic
def _load_acquire(typingctx, array, index):
    if not _check_int64_array(array):
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def _store_release(typingctx, array, index, value):
    if not _check_int64_array(array):
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        stored = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(stored, pointer, "release", 8)
        return context.get_dummy_value()

    return types.void(array, index, value), codegen


def _emit_pause(builder):
    """x86's PAUSE, through LLVM's intrinsic (numba's JIT cannot assemble
    inline asm)."""
    function_type = ir.FunctionType(ir.VoidType(), [])
    pause = cgutils.get_or_insert_function(builder.module, function_type, "llvm.x86.sse2.pause")
    builder.call(pause, [])


@intrinsic
def _spin_pause(typingctx):
    def codegen(context, builder, signature, args):
        # x86's PAUSE: tells the core this is a spin-wait loop (saves power,
        # and avoids a memory-order flush when the awaited store arrives).
        if _X86:
            _emit_pause(builder)
        return context.get_dummy_value()

    return types.void(), codegen


_POSIX = platform.system() != "Windows"


@intrinsic
def _yield_core(typingctx):
    def codegen(context, builder, signature, args):
        # sched_yield(2): let another runnable thread have this core. The
        # JIT linker finds it in the C library the process has loaded
        # (libc); Windows has no such symbol, and gets a PAUSE instead.
        if _POSIX:
            function_type = ir.FunctionType(ir.IntType(32), [])
            sched_yield = cgutils.get_or_insert_function(builder.module, function_type,
                                                         "sched_yield")
            builder.call(sched_yield, [])
        elif _X86:
            _emit_pause(builder)
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def _sleep_microseconds(typingctx, microseconds):
    if not isinstance(microseconds, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        # usleep(3): give the core up for a while, for a thread that has
        # waited long enough that the one it waits for has no core (a busy
        # machine): sched_yield gives the core back at once when nothing
        # else is runnable on it, so a yielding waiter still burns it.
        # Windows has no usleep in its C library, and yields (PAUSE) instead.
        if _POSIX:
            function_type = ir.FunctionType(ir.IntType(32), [ir.IntType(32)])
            usleep = cgutils.get_or_insert_function(builder.module, function_type, "usleep")
            duration = context.cast(builder, args[0], signature.args[0], types.uint32)
            builder.call(usleep, [duration])
        elif _X86:
            _emit_pause(builder)
        return context.get_dummy_value()

    return types.void(microseconds), codegen


# Plain Python versions for NUMBA_DISABLE_JIT=1 (one thread: no race).
def _fetch_add_python(array, index, value):  # pragma: no cover - no-JIT runs only
    old = array[index]
    array[index] = old + value
    return old


def _compare_exchange_python(array, index, expected, new):  # pragma: no cover
    if array[index] != expected:
        return False
    array[index] = new
    return True


def _load_acquire_python(array, index):  # pragma: no cover - no-JIT runs only
    return array[index]


def _store_release_python(array, index, value):  # pragma: no cover - no-JIT runs only
    array[index] = value


def _spin_pause_python():  # pragma: no cover - no-JIT runs only
    """Nothing to wait for in one thread."""


def _yield_core_python():  # pragma: no cover - no-JIT runs only
    """Nothing to wait for in one thread."""


def _sleep_microseconds_python(microseconds):  # pragma: no cover - no-JIT runs only
    """Nothing to wait for in one thread."""


if numba_config.DISABLE_JIT:
    fetch_add = _fetch_add_python
    compare_exchange = _compare_exchange_python
    load_acquire = _load_acquire_python
    store_release = _store_release_python
    spin_pause = _spin_pause_python
    yield_core = _yield_core_python
    sleep_microseconds = _sleep_microseconds_python
else:
    fetch_add = _fetch_add  # array[index] += value; returns the old value
    compare_exchange = _compare_exchange  # if array[index] == expected: set new; True
    load_acquire = _load_acquire  # array[index], ordered before later loads
    store_release = _store_release  # array[index] = value, after earlier stores
    spin_pause = _spin_pause
    yield_core = _yield_core  # give the core to another thread (sched_yield)
    sleep_microseconds = _sleep_microseconds  # give the core up for a while (usleep)
