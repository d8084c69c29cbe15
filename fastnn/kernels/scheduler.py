"""The shared epochs' scheduler: threads kept for a whole epoch, with layer
1's rows handed out in parts (docs/theory.md §9, "Two threads over one
epoch"). Written once for both shared drivers.

An epoch is a sequence of units: the mini-batches of ``train_epoch_shared``,
or the blocks of LOOKAHEAD samples of ``train_epoch_per_sample_shared``.
Between the tail of unit u-1 and the tail of unit u, layer 1's work (the
step of unit u-1 and the weighted sums of unit u, row by row: each touches
nothing but its row j) is cut into parts of ROWS_PER_PART rows, and any
thread may take any part. The tail (the rest of unit u, in one thread) is
run by the thread that finishes the last part of the unit.

A numba parallel region costs 7.5-10 us here, which is the whole of a
784-30-10 batch of ten; here each thread runs the epoch's loop itself
(``_worker``), on plain Python threads (``fastnn._threads.run_workers``)
running the compiled loop without the GIL. The worker compiles as an
ordinary function (no parfor passes, 10-15 s less on a cold start) and uses
none of numba's threading layers, so any number of these epochs may run at
once in one process.

A part is claimed with an atomic compare-and-swap, each thread trying its
own run of parts first, then the others' from the end (``_part_to_try``).
Nothing waits on a particular thread: the calling thread alone runs the
whole epoch when the others get no core (or n_threads is 1), and each piece
computes the same numbers whichever thread takes it, so the results are
bitwise those of the one-thread epoch.

An epoch kind tells the scheduler what its units are by registering three
kernels for the NamedTuple that carries its arrays (``register_epoch``);
the scheduler's loop, written once, is compiled for each kind with them.
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .._threads import run_workers
from .atomics import (compare_exchange, fetch_add, load_acquire, sleep_microseconds,
                      spin_pause, store_release, yield_core)
from .control import report_progress, stop_requested
from .layers import ROWS_PER_PART
from .sample_loops import LOOKAHEAD

__all__ = ["SHARED_MIN_WORK", "SHARED_MAX_TAIL_SHARE", "use_shared_epoch", "part_rows",
           "count_parts", "register_epoch", "run_shared_epoch"]

# Layer 1 goes to a shared epoch (instead of the one-thread epoch) when it
# has at least this many multiply-adds per unit (m * L_1 * L_0) and every
# later layer together at most 1/SHARED_MAX_TAIL_SHARE of them: the later
# layers run in one thread there.
SHARED_MIN_WORK = 20_000
SHARED_MAX_TAIL_SHARE = 8

# The counters of an epoch are int64, one 64-byte cache line apart, so that
# two threads updating two of them do not fight over one line.
SYNC_STRIDE = 8

# A thread waiting for another spins (PAUSE) SPINS_BEFORE_YIELD times
# (about 0.1 ms), then yields its core at each try (sched_yield) for
# YIELDS_BEFORE_SLEEP more, then sleeps SLEEP_MICROSECONDS at each try: the
# thread it waits for may have no core (more threads than cores, or a busy
# machine), and a spinning or yielding waiter keeps a core from it or from
# another process's work. The other worker claims every part meanwhile, so a
# late wake-up costs nothing but this thread's share.
SPINS_BEFORE_YIELD = 2048
YIELDS_BEFORE_SLEEP = 64
SLEEP_MICROSECONDS = 50


@jit(inline=True)
def back_off(tries):
    """Try ``tries`` (from 0) of a waiting thread: spin, yield or sleep, as
    the rule above says."""
    if tries < SPINS_BEFORE_YIELD:
        spin_pause()
    elif tries < SPINS_BEFORE_YIELD + YIELDS_BEFORE_SLEEP:
        yield_core()
    else:
        sleep_microseconds(SLEEP_MICROSECONDS)


def use_shared_epoch(sizes, batch_size):
    """Whether the shared epoch (``train_epoch_shared``, or for batch_size 1
    ``train_epoch_per_sample_shared``, whose units are LOOKAHEAD samples) is
    the faster path for these layers and this batch size (SHARED_MIN_WORK)."""
    products = [int(sizes[i]) * int(sizes[i - 1]) for i in range(1, len(sizes))]
    unit_size = LOOKAHEAD if batch_size == 1 else int(batch_size)
    return (len(products) > 1
            and unit_size * products[0] >= SHARED_MIN_WORK
            and SHARED_MAX_TAIL_SHARE * sum(products[1:]) <= products[0])


@jit(inline=True)
def part_rows(n_j, part, n_parts):
    """Rows j_begin, j_end of layer 1 in part ``part`` of ``n_parts``:
    ROWS_PER_PART rows a part (the last may have fewer), or all n_j rows
    when the epoch has one part (one worker: ``run_shared_epoch``)."""
    if n_parts == 1:
        return 0, n_j
    return ROWS_PER_PART * part, min(ROWS_PER_PART * (part + 1), n_j)


@jit(inline=True)
def count_parts(n_j):
    """How many parts layer 1's n_j rows make."""
    return (n_j + ROWS_PER_PART - 1) // ROWS_PER_PART


@jit(inline=True)
def _part_to_try(worker, n_workers, n_parts, attempt):
    """The part that ``worker`` tries to claim at its attempt-th try.

    Each worker first tries its own contiguous run of parts, so that in
    the usual case it steps and reads the same rows of w every unit (they
    stay in its core's cache); then every part from the last, so that a
    worker done early takes parts from the end of a slower worker's run.
    Returns -1 past the last try.
    """
    first = worker * n_parts // n_workers
    own = (worker + 1) * n_parts // n_workers - first
    if attempt < own:
        return first + attempt
    if attempt < own + n_parts:
        return n_parts - 1 - (attempt - own)
    return -1


@jit
def _new_sync(n_parts, n_units):
    """The counters of a shared epoch, SYNC_STRIDE int64 apart: claimed[p]
    at SYNC_STRIDE p (the last unit whose part p was claimed; -1 at the
    start), then the parts done, the tails done, and the limit: the number
    of units the epoch runs (n_units, less after a stop request)."""
    sync = np.zeros(SYNC_STRIDE * (n_parts + 3), np.int64)
    for part in range(n_parts):
        sync[SYNC_STRIDE * part] = -1
    sync[SYNC_STRIDE * (n_parts + 2)] = n_units
    return sync


@jit
def _wait_for_stage(sync, stage_index, stage):
    """Wait until sync[stage_index] >= stage: spin, then yield, then sleep."""
    tries = 0
    while load_acquire(sync, stage_index) < stage:
        back_off(tries)
        tries += 1


@jit
def _touch(x):
    """Read one element of every 64-byte line of x (2-D, C-contiguous
    rows) and return their sum, which the caller must keep (stored, so
    that the loads are not optimised away): brings x into this core's
    cache."""
    total = 0.0
    stride = max(1, 64 // x.itemsize)
    for n in range(x.shape[0]):
        row = x[n]
        for k in range(0, row.shape[0], stride):
            total += row[k]
    return total


_WORKERS = {}


def register_epoch(state_class, *, unit_inputs, run_part, run_tail):
    """Compile the scheduler's loop (``_worker``) for the epochs whose
    arrays and scalars travel in ``state_class``, a NamedTuple with a
    ``sizes`` field. Each function is a kernel taking the state first:

    * ``unit_inputs(state, unit)``: the inputs of the unit, (rows, L_0), which
      a waiting thread reads ahead into its cache;
    * ``run_part(state, unit, part, n_parts)``: part ``part`` of layer 1's
      work before the tail of ``unit`` (unit = n_units: the last step only);
    * ``run_tail(state, unit, cost)``: the rest of ``unit``, returning
      ``cost`` plus the unit's sum_n C_n.

    The loop is one source, compiled once per kind with these kernels as
    constants, so that numba inlines them (``jit(inline=True)``) into one
    function: calling them through an argument or an overload made them
    separate modules, which the loop's module then optimised again (a cold
    start 5-9 s longer).
    """
    _WORKERS[state_class] = jit(_worker_for(state_class.__name__, unit_inputs, run_part,
                                            run_tail))


def _worker_for(kind, unit_inputs, run_part, run_tail):
    def _worker(worker, n_workers, state, n_units, n_parts, sync, cost, control):
        """The loop of one of the n_workers threads of a shared epoch.

        sync: _new_sync(n_parts, n_units); cost: float64
        (SYNC_STRIDE (n_workers + 1),), cost[0] the epoch's sum_n C_n (added
        by whichever thread runs a tail, one at a time),
        cost[SYNC_STRIDE (worker + 1)] this worker's _touch sum (kept so that
        its loads are not optimised away). control: as in control.py.

        A stop request is seen by the thread that finishes a unit's tail:
        it makes that unit the last (sync's limit) before it lets the others
        on, so every thread agrees where the epoch ends. The parts after the
        last tail still run, for the step they hold (the one of the last
        unit's layer 1); what else they compute is never used.
        """
        done_index = SYNC_STRIDE * n_parts
        stage_index = done_index + SYNC_STRIDE
        limit_index = stage_index + SYNC_STRIDE
        touched = 0.0
        unit = 0
        while unit <= load_acquire(sync, limit_index):
            if unit < n_units and load_acquire(sync, stage_index) < unit:
                # While another thread runs the tail, fetch this unit's
                # inputs (read by every part) into this core's cache.
                touched += _touch(unit_inputs(state, unit))
            _wait_for_stage(sync, stage_index, unit)
            if unit > load_acquire(sync, limit_index):
                break
            attempt = 0
            part = _part_to_try(worker, n_workers, n_parts, attempt)
            while part >= 0:
                if compare_exchange(sync, SYNC_STRIDE * part, unit - 1, unit):
                    run_part(state, unit, part, n_parts)
                    if fetch_add(sync, done_index, 1) == n_parts * (unit + 1) - 1:
                        # The last part of the unit: its tail is this thread's.
                        if unit < load_acquire(sync, limit_index):
                            cost[0] = run_tail(state, unit, cost[0])
                            report_progress(control, unit + 1)
                            if stop_requested(control):
                                store_release(sync, limit_index, unit + 1)
                        store_release(sync, stage_index, unit + 1)
                attempt += 1
                part = _part_to_try(worker, n_workers, n_parts, attempt)
            unit += 1
        cost[SYNC_STRIDE * (worker + 1)] = touched

    # Each kind's loop gets its own name: the disk cache files are named by it.
    _worker.__name__ = f"_worker_{kind}"
    _worker.__qualname__ = f"_worker_{kind}"
    return _worker


def run_shared_epoch(state, n_units, n_threads, control):
    """Run the epoch ``state`` (an instance of a registered class) of
    ``n_units`` units on up to ``n_threads`` threads; returns its sum_n C_n.
    The first unit's inputs must be in place (the kind's ``begin``).
    control: as in control.py (an epoch stopped there returns the cost of
    the units it finished)."""
    n_parts = int(count_parts(state.sizes[1]))
    n_workers = max(1, min(int(n_threads), n_parts))
    if n_workers == 1:
        # One worker takes layer 1 whole, as the one-thread epochs do: its
        # kernels in one call per unit instead of one per part of 16 rows
        # (W2 on one core: 0.91x train_epoch's speed in parts; each row's
        # numbers are the same either way).
        n_parts = 1
    sync = _new_sync(n_parts, int(n_units))
    cost = np.zeros(SYNC_STRIDE * (n_workers + 1))
    run_workers(_WORKERS[type(state)], n_workers,
                (state, int(n_units), n_parts, sync, cost, control))
    return cost[0]
