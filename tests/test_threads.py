"""Threads and processes: one network per training thread, several networks
in several threads under numba's threading layers, feedforward during
training, n_threads, and the estimators inside joblib's worker processes
(docs/runtime.md, "Threads and processes").

numba picks its threading layer once per process (NUMBA_THREADING_LAYER), so
the tests that need a given layer, or a given OMP_NUM_THREADS at start-up,
run in child processes. Every test trains small networks for a few epochs;
with a warm kernel cache each takes a few seconds at most.
"""
import importlib.util
import json
import os
import subprocess
import sys
import threading
import warnings
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np
import pytest

import fastnn
from fastnn import _threads
from fastnn._threads import available_cores, default_thread_count

REPO_ROOT = Path(__file__).resolve().parents[1]

# The three kinds of threaded epoch driver, each with a problem that picks it
# (sizes, batch size, samples), on any thread count:
DRIVER_KINDS = {
    # layer 1 split between Python threads running nogil worker kernels
    "shared": ([784, 30, 10], 10, 300),
    "per_sample_shared": ([784, 30, 10], 1, 300),
    # big layers: 128 * 256 * 784 >= kernels.PARALLEL_MIN_WORK multiply-adds,
    # each layer's work in parts that Python threads running nogil worker
    # kernels take (the staged epoch, for any thread count)
    "staged": ([784, 256, 256, 10], 128, 512),
}
# The driver does not depend on the thread count (fastnn.plan.DRIVERS): with
# one thread it runs one worker, the calling thread, so that a kernel cache
# warmed on two cores has what a run on one core needs.
DRIVER = {
    "shared": "train_epoch_shared",
    "per_sample_shared": "train_epoch_per_sample_shared",
    "staged": "train_epoch_staged",
}

needs_two_cores = pytest.mark.skipif(
    available_cores() < 2 or numba.config.NUMBA_NUM_THREADS < 2,
    reason="threads need two cores",
)


def problem(kind, seed=7):
    sizes, batch_size, n_samples = DRIVER_KINDS[kind]
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], size=n_samples)
    return sizes, batch_size, X, labels


def child_env(**variables):
    """The environment of a child process: this one's, with the thread
    limits that would change its drivers removed, then ``variables``."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(variables)
    return env


def run_child(code, env, *args, timeout=600):
    """Runs ``code`` in a new interpreter; returns the JSON it printed last."""
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"child exited with {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n"
        f"stderr:\n{result.stderr[-3000:]}"
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def watch_threads(patch):
    """Records what really ran, through ``patch(module, name, value)``
    (monkeypatch.setattr, or setattr in a child process): the workers of
    each shared epoch, the threaded (prange) epochs, and every parallel
    region asked for, as (threads asked, entered). Also pretends that the
    machine is idle: ``borrow_threads`` gives only the cores that
    /proc/loadavg shows idle, and on a machine that others share that can
    be none, which would leave nothing threaded to test."""
    from contextlib import contextmanager

    from fastnn import _threads, kernels, network, plan
    from fastnn.kernels import scheduler, staged

    seen = {"workers": [], "threaded_epochs": [], "regions": []}
    run_workers = scheduler.run_workers
    train_epoch_threaded = kernels.train_epoch_threaded
    parallel_region = plan.parallel_region

    def counting_run_workers(kernel, n_workers, args):
        seen["workers"].append(n_workers)
        return run_workers(kernel, n_workers, args)

    def counting_train_epoch_threaded(*args):
        seen["threaded_epochs"].append(threading.current_thread().name)
        return train_epoch_threaded(*args)

    @contextmanager
    def recording_parallel_region(n_threads):
        with parallel_region(n_threads) as entered:
            seen["regions"].append((n_threads, entered))
            yield entered

    patch(_threads, "_other_runnable_threads", lambda: 0)
    patch(scheduler, "run_workers", counting_run_workers)
    patch(staged, "run_workers", counting_run_workers)
    patch(kernels, "train_epoch_threaded", counting_train_epoch_threaded)
    patch(plan, "parallel_region", recording_parallel_region)
    patch(network, "parallel_region", recording_parallel_region)
    return seen


# ---------------------------------------------------------------------------
# One network, two threads: the second train() raises
# ---------------------------------------------------------------------------
def test_training_one_network_from_two_threads_raises_in_the_second():
    """Thread A trains and is held inside its first epoch's callback (so it
    is certainly still in train()) while thread B calls train() on the same
    network: B raises RuntimeError at once, A completes, and the network is
    exactly what A's call alone would have made."""
    sizes, batch_size, X, labels = problem("shared")
    net = fastnn.Network(sizes, seed=3, dtype=np.float32)
    twin = net.copy()
    a_in_training, release_a = threading.Event(), threading.Event()
    outcomes = {}

    def hold_first_epoch(epoch, history):
        if epoch == 1:
            a_in_training.set()
            # B's call is made while A waits here; a B that blocked instead
            # of raising would time out below.
            assert release_a.wait(timeout=60), "thread B never finished"
        return False

    def call(name, **extra):
        try:
            outcomes[name] = net.train(X, labels, epochs=3, batch_size=batch_size, eta=0.5,
                                       seed=4, **extra)
        except BaseException as error:  # noqa: BLE001 - recorded for the asserts
            outcomes[name] = error

    thread_a = threading.Thread(target=call, args=("A",),
                                kwargs=dict(callback=hold_first_epoch))
    thread_b = threading.Thread(target=call, args=("B",))
    thread_a.start()
    try:
        assert a_in_training.wait(timeout=120), f"A never reached its first epoch: {outcomes}"
        thread_b.start()
        thread_b.join(timeout=60)
        assert not thread_b.is_alive(), "the second train() waited instead of raising"
    finally:
        release_a.set()
        thread_a.join(timeout=120)
    assert not thread_a.is_alive()

    assert isinstance(outcomes["B"], RuntimeError), outcomes["B"]
    assert "already training" in str(outcomes["B"])
    assert isinstance(outcomes["A"], fastnn.TrainingHistory), outcomes["A"]
    assert outcomes["A"].epochs == 3
    twin.train(X, labels, epochs=3, batch_size=batch_size, eta=0.5, seed=4)
    assert np.array_equal(net.params, twin.params)
    # the lock is free again
    net.train(X, labels, epochs=1, batch_size=batch_size, eta=0.5, seed=5)


def test_a_failing_callback_frees_the_network_for_the_next_train():
    sizes, batch_size, X, labels = problem("shared")
    net = fastnn.Network(sizes, seed=3, dtype=np.float32)

    def fail(epoch, history):
        raise KeyError("stop")

    with pytest.raises(KeyError):
        net.train(X, labels, epochs=2, batch_size=batch_size, callback=fail)
    assert net.train(X, labels, epochs=1, batch_size=batch_size).epochs == 1


# ---------------------------------------------------------------------------
# Two networks, two threads, under each threading layer
# ---------------------------------------------------------------------------
# Trains two networks alone, one after the other, then both at once in two
# threads (each epoch of one beside the same epoch of the other: the threads
# meet at a barrier after every epoch) while the main thread keeps calling
# feedforward on a third network and on the first; prints what it saw.
TWO_NETWORKS_CHILD = r"""
import json, sys, threading
import numba
import numpy as np

requested = sys.argv[1]

@numba.njit(parallel=True)
def probe(n):
    total = 0
    for i in numba.prange(n):
        total += i
    return total

try:
    probe(4)
except Exception as error:  # the layer cannot be loaded here
    print(json.dumps({"unavailable": f"{type(error).__name__}: {error}"}))
    sys.exit(0)
layer = numba.threading_layer()
if layer != requested:
    print(json.dumps({"unavailable": f"numba runs {layer}, not {requested}"}))
    sys.exit(0)

import fastnn

sys.path.insert(0, sys.argv[3])
from test_threads import watch_threads

seen = watch_threads(setattr)
KINDS = json.loads(sys.argv[2])
EPOCHS = 3
ROUNDS = 4


# Trains nets[0] and nets[1] in two threads, epoch by epoch in step, while
# this thread calls feedforward; returns what ran and what went wrong.
def side_by_side_round(nets, train, X_big):
    barrier = threading.Barrier(2, timeout=300)
    histories, errors = [None, None], []

    def side_by_side(epoch, history):
        barrier.wait()
        return False

    def run(index):
        try:
            barrier.wait()
            histories[index] = train(nets[index], index, side_by_side)
        except BaseException as error:
            barrier.abort()
            errors.append(f"network {index}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    onlooker = fastnn.Network(nets[0].sizes, seed=9, dtype=np.float32)
    calls, bad_outputs = 0, []
    while any(thread.is_alive() for thread in threads):
        for net in (onlooker, nets[0]):
            try:
                out = net.feedforward(X_big)
            except BaseException as error:
                bad_outputs.append(f"{type(error).__name__}: {error}")
                continue
            calls += 1
            if out.shape != (X_big.shape[0], nets[0].sizes[-1]) or not np.isfinite(out).all():
                bad_outputs.append(f"shape {out.shape}, finite {bool(np.isfinite(out).all())}")
    for thread in threads:
        thread.join()
    return {
        "errors": errors,
        "drivers_together": [h.driver if h else None for h in histories],
        "epochs_together": [h.epochs if h else None for h in histories],
        "feedforward_calls": calls,
        "bad_outputs": bad_outputs,
        "workers": list(seen["workers"]),
        "threaded_epochs": len(seen["threaded_epochs"]),
        "regions_entered": sum(1 for n, entered in seen["regions"] if entered),
        "regions_refused": sum(1 for n, entered in seen["regions"] if n > 1 and not entered),
    }


report = {"layer": layer, "kinds": {}}
for kind, (sizes, batch_size, n_samples) in KINDS.items():
    rng = np.random.default_rng(7)
    X = rng.random((n_samples, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], size=n_samples)
    # big enough for feedforward's threaded kernel on 784-256-256-10
    X_big = rng.random((1024, sizes[0]), dtype=np.float32)

    def train(net, index, callback=None):
        return net.train(X, labels, epochs=EPOCHS, batch_size=batch_size, eta=0.5,
                         seed=20 + index, callback=callback)

    alone, drivers_alone = [], []
    for index in range(2):
        net = fastnn.Network(sizes, seed=index, dtype=np.float32)
        drivers_alone.append(train(net, index).driver)
        alone.append(net.params.copy())

    # The two networks share the process's one spare core with each other and
    # with the onlooker's feedforward calls, so whether an epoch got a second
    # worker depends on timing (and on a shared machine's load). Rounds are
    # repeated until one did, and every round's results are checked.
    rounds = []
    for attempt in range(ROUNDS):
        nets = [fastnn.Network(sizes, seed=index, dtype=np.float32) for index in range(2)]
        for record in seen.values():
            record.clear()
        rounds.append(side_by_side_round(nets, train, X_big))
        rounds[-1]["equal"] = [bool(np.array_equal(alone[i], nets[i].params)) for i in range(2)]
        if max(rounds[-1]["workers"], default=0) == 2:
            break
    report["kinds"][kind] = {
        "rounds": len(rounds),
        "errors": [error for r in rounds for error in r["errors"]],
        "drivers_alone": drivers_alone,
        "drivers_together": [driver for r in rounds for driver in r["drivers_together"]],
        "epochs_together": [r["epochs_together"] for r in rounds],
        "equal": [r["equal"] for r in rounds],
        "feedforward_calls": [r["feedforward_calls"] for r in rounds],
        "bad_outputs": [bad for r in rounds for bad in r["bad_outputs"]][:5],
        "workers": [n for r in rounds for n in r["workers"]],
        "threaded_epochs": sum(r["threaded_epochs"] for r in rounds),
        "regions_entered": sum(r["regions_entered"] for r in rounds),
        "regions_refused": sum(r["regions_refused"] for r in rounds),
    }
print(json.dumps(report))
"""


@lru_cache(maxsize=None)
def two_networks_report(layer):
    return run_child(TWO_NETWORKS_CHILD, child_env(NUMBA_THREADING_LAYER=layer), layer,
                     json.dumps(DRIVER_KINDS), str(Path(__file__).parent))


@needs_two_cores
@pytest.mark.parametrize("kind", list(DRIVER_KINDS))
@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_two_networks_in_two_threads_train_as_each_alone(layer, kind):
    """Before the parallel-region guard, two threads each training a network
    under workqueue aborted the process ("Concurrent access has been
    detected", rc 134); run_child asserts rc 0."""
    report = two_networks_report(layer)
    if "unavailable" in report:
        if layer == "workqueue":  # numba's own layer, always built
            pytest.fail(f"workqueue unavailable: {report['unavailable']}")
        pytest.skip(f"threading layer {layer} unavailable: {report['unavailable']}")
    assert report["layer"] == layer
    seen = report["kinds"][kind]
    assert seen["errors"] == []
    assert seen["drivers_alone"] == [DRIVER[kind]] * 2
    assert set(seen["drivers_together"]) <= {DRIVER[kind]}, seen["drivers_together"]
    assert seen["epochs_together"] == [[3, 3]] * seen["rounds"]
    assert seen["equal"] == [[True, True]] * seen["rounds"]
    assert min(seen["feedforward_calls"]) > 0
    assert seen["bad_outputs"] == []
    # threads really ran while the two networks trained (in one of the rounds)
    assert max(seen["workers"]) == 2, seen


# ---------------------------------------------------------------------------
# feedforward / predict during training, in this process
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["shared", "staged"])
def test_feedforward_and_predict_from_another_thread_during_training(kind, monkeypatch):
    """The training thread keeps running epochs until the main thread has
    made CALLS feedforward and predict calls that started and ended inside
    train(); each must succeed with finite outputs of the right shape. On
    784-256-256-10 the 1024 samples are enough for feedforward's threaded
    kernel."""
    seen = watch_threads(monkeypatch.setattr)
    calls_needed = 6
    sizes, batch_size, X, labels = problem(kind)
    X_big = np.random.default_rng(1).random((1024, sizes[0]), dtype=np.float32)
    net = fastnn.Network(sizes, seed=3, dtype=np.float32)
    started, enough = threading.Event(), threading.Event()
    finished = threading.Event()
    outcome = {}

    def keep_going(epoch, history):
        started.set()
        return enough.is_set()

    def train():
        try:
            outcome["history"] = net.train(X, labels, epochs=10_000, batch_size=batch_size,
                                           eta=0.5, seed=4, callback=keep_going)
        except BaseException as error:  # noqa: BLE001
            outcome["error"] = error
        finally:
            started.set()
            finished.set()

    trainer = threading.Thread(target=train)
    trainer.start()
    during = 0
    try:
        assert started.wait(timeout=120)
        while not finished.is_set() and during < calls_needed:
            outputs = net.feedforward(X_big)
            predicted = net.predict(X_big[:7])
            single = net.feedforward(X_big[0])
            assert outputs.shape == (X_big.shape[0], sizes[-1])
            assert outputs.dtype == np.float32 and np.isfinite(outputs).all()
            assert predicted.shape == (7,) and predicted.min() >= 0
            assert predicted.max() < sizes[-1]
            assert single.shape == (sizes[-1],) and np.isfinite(single).all()
            if not finished.is_set():
                during += 1
    finally:
        enough.set()
        trainer.join(timeout=300)
    assert "error" not in outcome, outcome.get("error")
    assert during == calls_needed
    assert outcome["history"].driver == DRIVER[kind]
    assert np.isfinite(net.params).all()
    if kind == "staged" and available_cores() > 1:
        # the training's epochs ran on two workers
        assert 2 in seen["workers"], seen["workers"]


# ---------------------------------------------------------------------------
# n_threads
# ---------------------------------------------------------------------------
@needs_two_cores
@pytest.mark.parametrize("kind", list(DRIVER_KINDS))
def test_every_thread_count_gives_bitwise_the_same_parameters(kind, monkeypatch):
    seen = watch_threads(monkeypatch.setattr)
    sizes, batch_size, X, labels = problem(kind)
    results, drivers, used = {}, {}, {}
    for n_threads in (1, 2, 3):
        for record in seen.values():
            record.clear()
        net = fastnn.Network(sizes, seed=3, dtype=np.float32)
        history = net.train(X, labels, epochs=2, batch_size=batch_size, eta=0.5, seed=4,
                            n_threads=n_threads)
        results[n_threads], drivers[n_threads] = net.params, history.driver
        # the warm-up's run and two epochs
        used[n_threads] = list(seen["workers"])
    assert drivers == {1: DRIVER[kind], 2: DRIVER[kind], 3: DRIVER[kind]}
    if kind == "staged":
        # one worker, or as many as the plan's parts (this machine's cores)
        most = min(available_cores(), 3)
    else:
        # 784-30-10: layer 1's 30 rows make two parts, for two workers at most
        most = min(available_cores(), 2)
    assert used == {1: [1] * 3, 2: [2] * 3, 3: [most] * 3}
    assert np.array_equal(results[1], results[2])
    assert np.array_equal(results[1], results[3])


@pytest.mark.parametrize("n_threads, error", [
    (0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError),
    (2.0, TypeError),
])
def test_bad_n_threads_is_rejected_and_leaves_the_network_unchanged(n_threads, error):
    sizes, batch_size, X, labels = problem("shared")
    net = fastnn.Network(sizes, seed=3, dtype=np.float32)
    before = net.params.copy()
    with pytest.raises(error, match="n_threads"):
        net.train(X, labels, epochs=1, batch_size=batch_size, n_threads=n_threads)
    assert np.array_equal(net.params, before)
    # and the network is not left locked
    net.train(X[:20], labels[:20], epochs=1, batch_size=batch_size, n_threads=1)


@pytest.mark.parametrize("kind", list(DRIVER_KINDS))
def test_n_threads_1_runs_the_same_driver_with_one_worker(kind, monkeypatch):
    """n_threads=1 picks the driver any thread count picks (so the kernels a
    two-thread run compiled serve it), and runs it in the calling thread."""
    seen = watch_threads(monkeypatch.setattr)
    sizes, batch_size, X, labels = problem(kind)
    net = fastnn.Network(sizes, seed=3, dtype=np.float32)
    history = net.train(X[:128], labels[:128], epochs=1, batch_size=batch_size, n_threads=1)
    assert history.driver == DRIVER[kind]
    assert seen["workers"] == [1, 1]  # the warm-up's run and the epoch


def test_one_worker_runs_in_the_calling_thread_without_the_pool(monkeypatch):
    """run_workers with one worker starts no thread: it neither asks for the
    pool nor leaves the calling thread."""
    def no_pool():
        raise AssertionError("run_workers asked for the pool with one worker")

    monkeypatch.setattr(_threads, "_pool", no_pool)
    ran_in = []
    _threads.run_workers(lambda worker, n_workers, tag: ran_in.append(
        (worker, n_workers, tag, threading.current_thread())), 1, ("x",))
    assert ran_in == [(0, 1, "x", threading.current_thread())]


@needs_two_cores
def test_without_limits_the_default_uses_threads(monkeypatch):
    """The control of the tests below: with no OMP_NUM_THREADS and numba's
    full count, the default runs the drivers on two workers (on an idle
    machine: the load check is told so)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen = watch_threads(monkeypatch.setattr)
    assert default_thread_count() >= 2
    for kind in DRIVER_KINDS:
        sizes, batch_size, X, labels = problem(kind)
        net = fastnn.Network(sizes, seed=3, dtype=np.float32)
        seen["workers"].clear()
        history = net.train(X[:128], labels[:128], epochs=1, batch_size=batch_size)
        assert history.driver == DRIVER[kind], kind
        assert seen["workers"] == [2, 2], (kind, seen["workers"])


def test_numba_set_num_threads_1_is_honoured(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert default_thread_count() == 1
        sizes, batch_size, X, labels = problem("shared")
        net = fastnn.Network(sizes, seed=3, dtype=np.float32)
        seen = watch_threads(monkeypatch.setattr)
        assert net.train(X, labels, epochs=1, batch_size=batch_size).driver == DRIVER["shared"]
        assert seen["workers"] == [1, 1]  # the warm-up's run and the epoch, one worker each
    finally:
        numba.set_num_threads(previous)


THREAD_LIMIT_CHILD = r"""
import json, sys
import numpy as np
import fastnn
from fastnn._threads import default_thread_count

sys.path.insert(0, sys.argv[2])
from test_threads import watch_threads

seen = watch_threads(setattr)
drivers, workers = {}, {}
for kind, (sizes, batch_size, n_samples) in json.loads(sys.argv[1]).items():
    rng = np.random.default_rng(7)
    X = rng.random((n_samples, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], size=n_samples)
    net = fastnn.Network(sizes, seed=3, dtype=np.float32)
    seen["workers"].clear()
    drivers[kind] = net.train(X, labels, epochs=1, batch_size=batch_size).driver
    workers[kind] = sorted(set(seen["workers"]))
print(json.dumps({"default": default_thread_count(), "drivers": drivers, "workers": workers}))
"""


@pytest.mark.parametrize("variable", ["OMP_NUM_THREADS", "NUMBA_NUM_THREADS"])
def test_a_limit_of_one_thread_in_the_environment_is_honoured(variable):
    """joblib's workers get OMP_NUM_THREADS (and NUMBA_NUM_THREADS) this way."""
    report = run_child(THREAD_LIMIT_CHILD, child_env(**{variable: "1"}),
                       json.dumps(DRIVER_KINDS), str(Path(__file__).parent))
    assert report["default"] == 1
    assert report["drivers"] == DRIVER
    assert report["workers"] == {kind: [1] for kind in DRIVER_KINDS}


# ---------------------------------------------------------------------------
# The estimators' n_threads
# ---------------------------------------------------------------------------
needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                   reason="the estimators need scikit-learn")


@needs_sklearn
def test_estimators_store_n_threads_and_pass_it_to_train(monkeypatch):
    seen = []
    # the estimators' epochs enter the loop through Network._train_checked
    # (train after its checks of the data, which they make once per fit)
    original = fastnn.Network._train_checked

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("n_threads"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(fastnn.Network, "_train_checked", spy)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    X = np.random.default_rng(0).random((40, 5))
    y = np.arange(40) % 3
    for estimator_class, target in ((fastnn.MLPClassifier, y), (fastnn.MLPRegressor, X[:, 0])):
        assert estimator_class().get_params()["n_threads"] is None
        odd = estimator_class(n_threads="many")
        assert odd.n_threads == "many"  # stored untouched
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator_class(hidden_layer_sizes=(4,), max_iter=2, n_threads=1).fit(X, target)
            estimator_class(hidden_layer_sizes=(4,), max_iter=2, n_threads=3).partial_fit(
                X, target, **({"classes": [0, 1, 2]} if target is y else {}))
            estimator_class(hidden_layer_sizes=(4,), max_iter=2).fit(X, target)
    # one call per epoch (max_iter=2), one for partial_fit;
    # None (numba's count, capped as Network.train caps it) is passed as it is
    assert seen == [1, 1, 3, None, None] * 2


@needs_sklearn
@pytest.mark.parametrize("n_threads, error", [
    (0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError),
])
def test_estimators_reject_bad_n_threads_in_fit_and_keep_the_fitted_model(n_threads, error):
    X = np.random.default_rng(0).random((40, 5))
    y = np.arange(40) % 3
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    params, n_iter = clf._network.params.copy(), clf.n_iter_
    clf.set_params(n_threads=n_threads)
    with pytest.raises(error, match="n_threads"):
        clf.fit(X, y)
    with pytest.raises(error, match="n_threads"):
        clf.partial_fit(X, y)
    assert np.array_equal(clf._network.params, params) and clf.n_iter_ == n_iter


@needs_sklearn
@needs_two_cores
def test_estimator_fits_are_bitwise_the_same_for_every_n_threads():
    sizes, batch_size, X, labels = problem("shared")
    fitted = []
    for n_threads in (1, 2):
        clf = fastnn.MLPClassifier(hidden_layer_sizes=(30,), max_iter=2, random_state=0,
                                   dtype=np.float32, n_threads=n_threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, labels)
        fitted.append(clf._network.params)
    assert np.array_equal(fitted[0], fitted[1])


@needs_sklearn
def test_joblib_workers_get_one_share_of_the_cores_each(monkeypatch):
    """What GridSearchCV(n_jobs=2)'s workers see: joblib sets OMP_NUM_THREADS
    (and NUMBA_NUM_THREADS) to cpu_count // n_jobs in each worker process."""
    joblib = pytest.importorskip("joblib")
    if "OMP_NUM_THREADS" in os.environ or "NUMBA_NUM_THREADS" in os.environ:
        pytest.skip("joblib passes this process's own limit to its workers")
    counts = joblib.Parallel(n_jobs=2)(joblib.delayed(default_thread_count)() for _ in range(2))
    expected = min(max(1, joblib.cpu_count() // 2), available_cores())
    assert counts == [expected, expected]


@needs_sklearn
def test_grid_search_with_two_processes_matches_one_process():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16.0, y[:400]
    # scikit-learn's defaults since the drop-in (ReLU, Adam): rates of Adam's size
    grid = {"learning_rate_init": [0.01, 0.03], "batch_size": [10, 20]}
    results = {}
    for n_jobs in (1, 2):
        search = GridSearchCV(
            fastnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0),
            grid, cv=2, n_jobs=n_jobs, error_score="raise",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(X, y)
        results[n_jobs] = search
    assert results[2].cv_results_["mean_test_score"].tolist() == (
        results[1].cv_results_["mean_test_score"].tolist())
    assert results[2].best_params_ == results[1].best_params_
    assert np.array_equal(results[2].best_estimator_._network.params,
                          results[1].best_estimator_._network.params)
    assert results[2].best_score_ > 0.5


# ---------------------------------------------------------------------------
# The idle-core budget's look at the machine
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("looks, expected, n_looks", [
    ([0], 0, 1),          # idle: one look, no wait
    ([1, 0], 0, 2),       # a thread runnable for a moment: not counted
    ([1, 1, 0], 0, 3),
    ([1, 1, 1], 1, 3),    # busy at every look: counted
    ([2, 1, 1], 1, 3),    # the fewest seen
])
def test_the_budget_counts_only_threads_that_stay_runnable(monkeypatch, looks, expected, n_looks):
    from fastnn import _threads

    remaining = list(looks)
    monkeypatch.setattr(_threads, "_other_runnable_threads", lambda: remaining.pop(0))
    monkeypatch.setattr(_threads, "LOAD_RECHECK_SECONDS", 0.0)
    assert _threads._busy_cores_of_others() == expected
    assert len(looks) - len(remaining) == n_looks


@needs_two_cores
def test_a_busy_machine_gives_one_thread_and_an_idle_one_two(monkeypatch):
    from fastnn import _threads

    monkeypatch.setattr(_threads, "available_cores", lambda: 2)
    monkeypatch.setattr(_threads, "LOAD_RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(_threads, "_other_runnable_threads", lambda: 1)
    with _threads.borrow_threads(2) as n_threads:
        assert n_threads == 1
    monkeypatch.setattr(_threads, "_other_runnable_threads", lambda: 0)
    with _threads.borrow_threads(2) as n_threads:
        assert n_threads == 2
