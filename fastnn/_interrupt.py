"""Ctrl-C during training: the epoch stops at its next batch, nothing is lost.

A compiled epoch runs without the GIL and does not return to Python until
it ends, and Python runs a signal handler only in the main thread between
bytecodes: a Ctrl-C pressed during an epoch used to take effect only when
the epoch returned (minutes, on a large data set). ``EpochRunner`` runs
each epoch in a helper thread while the main thread waits, so that the
main thread can take the signal at once. The handler (``CtrlC``, one per
training run) only asks the epoch to stop (``EpochPlan.request_stop``: a
flag the compiled loop reads before each batch,
fastnn/kernels/control.py); the epoch then returns at the next unit
boundary, with every step before it taken, and the training loop
(``fastnn.training``) raises ``KeyboardInterrupt`` with the history so far. A stop takes one
batch (per-sample SGD: a block of eight samples) at most: microseconds to
milliseconds.

The same wait reads the epoch's progress counter for ``progress=``
callbacks (a progress bar that moves within long epochs).

Only the main thread can take signals. From any other thread (a GridSearchCV
worker, a thread of the user's), the epoch runs in the calling thread as
before, unless a progress callback asks for the helper thread; Ctrl-C then
reaches the main thread, which is not inside fastnn.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout

__all__ = ["CtrlC", "EpochRunner", "ctrl_c_survives_compiling"]

# How often the waiting main thread calls the progress callback.
PROGRESS_SECONDS = 0.1
# An epoch that took less than this runs the next one in the calling thread:
# Ctrl-C then waits for the epoch's end (at most this long), and the hand-off
# to the helper thread, about 1% of a 25 ms epoch here, is saved.
INLINE_SECONDS = 0.25

_EXECUTOR = None
_EXECUTOR_LOCK = threading.Lock()


def _executor():
    """One helper thread for the epochs of the main thread (only the main
    thread hands epochs to it, one at a time)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastnn-epoch")
        return _EXECUTOR


def _after_fork_in_child():
    """A forked child (multiprocessing's default on Linux) has only the
    thread that forked: the executor's thread is gone, and an epoch handed
    to it would wait forever. Start afresh there."""
    global _EXECUTOR, _EXECUTOR_LOCK
    _EXECUTOR = None
    _EXECUTOR_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _can_take_ctrl_c() -> bool:
    """Whether this thread may install a SIGINT handler and Python's own
    (raise KeyboardInterrupt) is the one in place: a program that handles
    SIGINT itself keeps its handler."""
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)


class CtrlC:
    """Ctrl-C taken as a request to stop (a context manager; one per run).

    In the main thread, while Python's own handler is in place, entering it
    installs a handler that sets ``interrupted`` and calls every function
    given to ``on_stop`` (an ``EpochPlan.request_stop``: the running epoch
    ends at its next unit boundary); nothing is raised there, the training
    loop raises ``KeyboardInterrupt`` once the epoch has returned. Elsewhere
    (another thread, a program with a SIGINT handler of its own) it does
    nothing and ``taken`` is False.
    """

    def __init__(self):
        self.interrupted = False
        self._stops = []
        self._previous_handler = None

    @property
    def taken(self) -> bool:
        """Whether Ctrl-C reaches this watcher (its handler is installed)."""
        return self._previous_handler is not None

    def on_stop(self, request_stop) -> None:
        self._stops.append(request_stop)

    def __enter__(self):
        if _can_take_ctrl_c():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_ctrl_c)
        return self

    def __exit__(self, *exc_info):
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None
        return False

    def _on_ctrl_c(self, signum, frame):
        # Nothing is raised here: an epoch thread would go on stepping the
        # parameters after train had returned. It stops at its next batch
        # and the loop raises KeyboardInterrupt then.
        self.interrupted = True
        for request_stop in self._stops:
            request_stop()


class EpochRunner:
    """Runs the epochs of one plan (a context manager).

    plan : the run's ``EpochPlan``; progress : None or a function of the
    samples of the running epoch whose steps are taken, called from the
    calling thread about every PROGRESS_SECONDS while an epoch runs;
    ctrl_c : the run's :class:`CtrlC` (None: the runner watches Ctrl-C
    itself while it is entered).

    ``interrupted`` tells whether Ctrl-C was pressed since the runner was
    entered (the epoch that was running stopped at a unit boundary).
    """

    def __init__(self, plan, progress=None, ctrl_c=None):
        self.plan = plan
        self.progress = progress
        self._own_ctrl_c = ctrl_c is None
        self.ctrl_c = CtrlC() if ctrl_c is None else ctrl_c
        self.ctrl_c.on_stop(plan.request_stop)
        self._short_epochs = False

    @property
    def interrupted(self) -> bool:
        return self.ctrl_c.interrupted

    def __enter__(self):
        self.plan.clear_stop()
        if self._own_ctrl_c:
            self.ctrl_c.__enter__()
        return self

    def __exit__(self, *exc_info):
        if self._own_ctrl_c:
            self.ctrl_c.__exit__(*exc_info)
        return False

    def run(self, params, inputs, targets, order, eta, **objective) -> float:
        """``plan.run(...)``: in a helper thread while this one waits (and
        takes Ctrl-C, and reports progress), or here: when nothing needs
        the wait, or the last epoch was shorter than INLINE_SECONDS (a
        Ctrl-C then sets the stop flag when the epoch returns, and train
        stops before the next one)."""
        if (not self.ctrl_c.taken and self.progress is None) or self._short_epochs:
            return self.plan.run(params, inputs, targets, order, eta, **objective)
        started = time.perf_counter()
        future = _executor().submit(self.plan.run, params, inputs, targets, order, eta,
                                    **objective)
        n_samples = inputs.shape[0]
        while True:
            try:
                cost = future.result(timeout=PROGRESS_SECONDS)
                break
            except FutureTimeout:
                if self.progress is not None:
                    self.progress(self.plan.samples_done(n_samples))
        self._short_epochs = time.perf_counter() - started < INLINE_SECONDS
        return cost


@contextlib.contextmanager
def ctrl_c_survives_compiling():
    """Ctrl-C while numba compiles stops the call, at the latest when the
    compile ends.

    llvmlite calls back into Python while LLVM emits code, and a
    KeyboardInterrupt raised in that callback is printed as "Exception
    ignored" and dropped: the compile, and the training after it, went on
    as if nothing was pressed. The interrupt is noted here too, and raised
    again once the compile returns if it was dropped. (Signal handlers can
    only be set in the main thread; elsewhere nothing changes.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []

    def on_interrupt(signum, frame):
        pressed.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt
