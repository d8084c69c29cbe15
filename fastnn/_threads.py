"""Threads for fastnn's kernels: how many a call may use, and the workers
of the shared epochs.

Two kinds of threaded kernels exist (docs/runtime.md, "Threads and
processes"):

* the shared epochs (``kernels.train_epoch_shared`` and its per-sample
  twin) run one worker kernel per thread. The threads are Python threads
  from one process-wide pool, each running a compiled kernel without the
  GIL; they share work through atomic counters, and the calling thread
  alone can finish the epoch, so a worker that starts late (or never)
  costs nothing but its share of the speed-up;
* ``kernels.train_epoch_threaded`` and ``kernels.forward_pass_threaded``
  split big layers with numba's ``prange``. numba's "workqueue" threading
  layer aborts the process when two threads enter a parallel region at
  once, so one region at a time runs in this process: a call that finds
  another region running uses the one-thread kernels instead (bitwise the
  same results).

The threads a call uses come out of one budget of the process's cores
(``borrow_threads``), so that two networks trained in two Python threads
do not start four spinning workers on two cores.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
from numba.core import config as numba_config

from . import _config

__all__ = ["available_cores", "default_thread_count", "borrow_threads", "run_workers",
           "parallel_region"]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_thread_count() -> int:
    """Threads a call uses when the caller does not say: numba's count
    (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``), capped by the cores
    of the process's affinity and by ``OMP_NUM_THREADS`` when it is set,
    which is how joblib's worker processes (``GridSearchCV(n_jobs=...)``)
    and threadpoolctl-minded launchers say how many threads each may use.
    1 under ``FASTNN_PARALLEL=0``."""
    if not _config.PARALLEL:
        return 1
    threads = min(numba.get_num_threads(), available_cores())
    # OpenMP's nested form "4,2" gives the outer level first.
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        threads = min(threads, int(omp))
    return max(1, threads)



class _CoreBudget:
    """The cores beyond the calling thread's own that fastnn's calls may
    use at once in this process."""

    def __init__(self, spare):
        self._spare = spare
        self._lock = threading.Lock()

    def take(self, wanted):
        with self._lock:
            taken = max(0, min(wanted, self._spare))
            self._spare -= taken
            return taken

    def give_back(self, count):
        with self._lock:
            self._spare += count


_BUDGET = _CoreBudget(available_cores() - 1)


def _runnable_threads_of_this_process() -> int:
    """Threads of this process in state R (running or runnable), the
    caller included (Linux: /proc/self/task/*/stat)."""
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat", "rb") as stream:
                stat = stream.read()
        except OSError:  # the thread ended meanwhile
            continue
        # "tid (name) S ...": the name may hold spaces and parentheses
        if stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] == b"R":
            count += 1
    return max(1, count)


def _other_runnable_threads() -> int:
    """Threads of other processes that are runnable right now, on the cores
    this process may use (Linux: /proc/loadavg's running count, which is
    the whole machine's, less this process's own, scaled by the share of
    the machine's cores in this process's affinity; 0 where it is missing).

    This process's own threads are left out: numba's OpenMP workers spin
    for a while after each parallel region, and counting them made every
    epoch after the first of train_epoch_threaded run in one thread. The
    process's other calls are in the budget already. They are counted
    before and after the machine's count, and the larger taken: a worker of
    the epoch that just ended is still runnable for a moment on its way
    back to the pool's queue, and a single count after the machine's
    missed it and charged it to another process.
    """
    before = _runnable_threads_of_this_process()
    try:
        with open("/proc/loadavg", "rb") as stream:
            running = int(stream.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    own = max(before, _runnable_threads_of_this_process())
    others = max(0, running - own)
    machine = os.cpu_count() or 1
    return others * available_cores() // machine


# A thread of another process seen runnable is looked for again this many
# times, LOAD_RECHECK_SECONDS apart, and the fewest seen are what counts: a
# kernel thread or a shell that runs for a moment would otherwise send the
# whole epoch to one thread (on an idle 2-core machine, 2% of single looks
# saw one); a process that keeps a core busy is seen every time.
LOAD_RECHECKS = 2
LOAD_RECHECK_SECONDS = 100e-6


def _busy_cores_of_others() -> int:
    """``_other_runnable_threads``, looked at up to 1 + LOAD_RECHECKS
    times while it is above 0; the fewest seen."""
    others = _other_runnable_threads()
    for _ in range(LOAD_RECHECKS):
        if others == 0:
            break
        time.sleep(LOAD_RECHECK_SECONDS)
        others = min(others, _other_runnable_threads())
    return others


@contextmanager
def borrow_threads(n_threads):
    """Yields how many threads (1..n_threads) the caller may use now: its
    own, plus as many of the process's spare cores as are free, and as are
    idle on the machine. Never waits: when other calls hold the spare
    cores, or other processes (or thread pools still spinning after their
    last call) keep them busy, the caller gets 1.

    Why the machine's load: on a core that another runnable thread shares,
    a worker runs half the time, and every hand-off between the workers
    waits for it. Measured on two cores with another process running
    (W1-W4 of scripts/bench_peers.py), two threads ran 0.88, 0.95, 0.96 and
    0.06 times as fast as one (docs/runtime.md).
    """
    wanted = int(n_threads) - 1
    if wanted > 0:
        wanted = min(wanted, available_cores() - 1 - _busy_cores_of_others())
    extra = _BUDGET.take(wanted)
    try:
        yield 1 + extra
    finally:
        _BUDGET.give_back(extra)


_REGION_LOCK = threading.Lock()


@contextmanager
def parallel_region(n_threads):
    """Yields whether the caller may enter a numba parallel region (prange)
    now, with numba's thread count set to n_threads for it. At most one
    such caller at a time in this process (see the module docstring); a
    caller that gets False runs the one-thread kernels instead."""
    if n_threads < 2 or not _REGION_LOCK.acquire(blocking=False):
        yield False
        return
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
        yield True
    finally:
        numba.set_num_threads(previous)
        _REGION_LOCK.release()


_POOL = None
_POOL_LOCK = threading.Lock()


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # Threads are started only when a task needs one, and wait on
            # a queue (no spinning) between epochs.
            _POOL = ThreadPoolExecutor(max_workers=max(2, available_cores()),
                                       thread_name_prefix="fastnn-worker")
        return _POOL


def run_workers(kernel, n_workers, args):
    """kernel(worker, n_workers, *args) for worker = 0..n_workers-1: worker 0
    in the calling thread, the others in the pool.

    The kernels are written so that worker 0 alone finishes the job (the
    others only take parts of it), so a worker still queued when worker 0
    is done is cancelled, and one that started late finds nothing left.
    Under NUMBA_DISABLE_JIT=1 the kernels are Python holding the GIL, and
    their spinning would only wait for the switch interval: the workers run
    one after another there (the first does everything).
    """
    if n_workers == 1 or numba_config.DISABLE_JIT:
        for worker in range(n_workers):
            kernel(worker, n_workers, *args)
        return
    futures = [_pool().submit(kernel, worker, n_workers, *args)
               for worker in range(1, n_workers)]
    try:
        kernel(0, n_workers, *args)
    finally:
        for future in futures:
            if not future.cancel():
                future.result()


def _after_fork_in_child():
    """A forked child (multiprocessing's default on Linux) has only the
    thread that forked: the pool's threads are gone and a lock another
    thread held stays locked. Start afresh there."""
    global _BUDGET, _REGION_LOCK, _POOL, _POOL_LOCK
    _BUDGET = _CoreBudget(available_cores() - 1)
    _REGION_LOCK = threading.Lock()
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
