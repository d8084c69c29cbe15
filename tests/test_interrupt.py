"""Training that survives: stop requests, Ctrl-C, checkpoints and resume,
divergence (docs/reliability.md)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numba
import numpy as np
import pytest

import fastnn
from fastnn import kernels
from fastnn.kernels import control
from fastnn.plan import EpochPlan

JIT_DISABLED = numba.config.DISABLE_JIT
DTYPES = [np.float64, np.float32]
# 200-30-10 takes the shared epochs with two threads (batch 10, and batch 1
# in blocks of eight) and the one-thread epochs with one.
WIDE = (200, 30, 10)


def problem(n, n_inputs, n_outputs=10, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_inputs)).astype(dtype)
    y = rng.integers(0, n_outputs, n)
    return X, y


# ---------------------------------------------------------------------------
# A stop request ends an epoch at a unit boundary, with exactly those steps
# ---------------------------------------------------------------------------
DRIVERS = [("train_epoch", 10), ("train_epoch_threaded", 10), ("train_epoch_shared", 10),
           ("train_epoch_staged", 10), ("train_epoch_per_sample", 1),
           ("train_epoch_per_sample_shared", 1)]


def _one_hot(y, n_outputs, dtype):
    targets = np.zeros((y.size, n_outputs), dtype)
    targets[np.arange(y.size), y] = 1
    return targets


@pytest.mark.skipif(JIT_DISABLED, reason="needs the epoch to run without the GIL")
@pytest.mark.parametrize("driver, batch_size", DRIVERS, ids=[d for d, _ in DRIVERS])
def test_a_stopped_epoch_holds_exactly_the_steps_of_its_finished_units(driver, batch_size):
    """Stopped from another thread while it runs, an epoch returns at a unit
    boundary, and the parameters are bitwise those of an epoch over just
    the samples it finished (in the same order)."""
    n = 30000  # epochs of 10-60 ms: long enough to stop in the middle
    X, y = problem(n, WIDE[0], seed=1)
    targets = _one_hot(y, WIDE[-1], np.float64)
    start = fastnn.Network(WIDE, seed=2).params
    order = np.arange(n, dtype=np.int64)
    kernels.shuffle_order(order, 5)
    plan = EpochPlan(WIDE, batch_size, np.float64, n, 2, driver=driver, borrow_cores=False)
    plan.warm_up(start, X, targets, 0.5)

    params = start.copy()
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault(
        "cost", plan.run(params, X, targets, order, 0.5)))
    runner.start()
    while plan.control[control.PROGRESS] < 3 and runner.is_alive():
        pass
    plan.request_stop()
    runner.join()
    done = plan.samples_done(n)
    assert 3 * plan.unit_size <= done < n, "the epoch ended before the stop: make it longer"
    assert done % plan.unit_size == 0

    expected = start.copy()
    prefix = EpochPlan(WIDE, batch_size, np.float64, done, 2, driver=driver, borrow_cores=False)
    expected_cost = prefix.run(expected, np.ascontiguousarray(X[order[:done]]),
                               np.ascontiguousarray(targets[order[:done]]),
                               np.arange(done, dtype=np.int64), 0.5)
    assert np.array_equal(params, expected)
    np.testing.assert_allclose(result["cost"], expected_cost, rtol=1e-12)


def test_a_stop_requested_before_the_epoch_takes_no_step():
    X, y = problem(50, 8, 3)
    targets = _one_hot(y, 3, np.float64)
    net = fastnn.Network([8, 5, 3], seed=0)
    for batch_size in (1, 10):
        plan = EpochPlan(net.sizes, batch_size, np.float64, 50, 1)
        params = net.params.copy()
        plan.request_stop()
        assert plan.run(params, X, targets, np.arange(50), 1.0) == 0
        assert plan.samples_done(50) == 0 and np.array_equal(params, net.params)


# ---------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------
@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler, as in a terminal: a background job of a
    non-interactive shell (a CI script's ``cmd &``) starts with SIGINT
    ignored, and fastnn then leaves it ignored."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _take_ctrl_c_in_the_child():
    """preexec_fn of a child that must take SIGINT (see ctrl_c_raises): a
    Python started with SIGINT ignored never installs its handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _press_ctrl_c_when(condition, pressed):
    def watch():
        while not condition():
            time.sleep(0.002)
        pressed.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.skipif(JIT_DISABLED, reason="needs the epoch to run without the GIL")
@pytest.mark.parametrize("batch_size", [1, 10])
def test_ctrl_c_mid_epoch_stops_at_a_batch_keeps_the_history_and_resumes_bitwise(
        tmp_path, monkeypatch, ctrl_c_raises, batch_size):
    """A real SIGINT in the middle of epoch 2: KeyboardInterrupt reaches the
    caller at once, carrying the history; the network holds the steps of
    the finished batches and works; the checkpoint written then resumes to
    bitwise the parameters of the run never stopped."""
    # progress reported every 2 ms instead of 100, so that the callback
    # sees the middle of an epoch of about 0.1 s
    monkeypatch.setattr(fastnn._interrupt, "PROGRESS_SECONDS", 0.002)
    # and every epoch in the helper thread, however short (INLINE_SECONDS)
    monkeypatch.setattr(fastnn._interrupt, "INLINE_SECONDS", 0.0)
    sizes = (200, 1000, 10)
    X, y = problem(5000, sizes[0], seed=3)
    expected = fastnn.Network(sizes, seed=4)
    expected.train(X, y, epochs=3, batch_size=batch_size, eta=0.5, seed=6)

    net = fastnn.Network(sizes, seed=4)
    samples_seen = []
    pressed = []
    _press_ctrl_c_when(lambda: samples_seen and samples_seen[-1][0] == 2
                       and 0 < samples_seen[-1][1] < 2500, pressed)
    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt) as raised:
        net.train(X, y, epochs=3, batch_size=batch_size, eta=0.5, seed=6,
                  checkpoint=checkpoint,
                  progress=lambda epoch, done, n: samples_seen.append((epoch, done)))
    latency = time.perf_counter() - pressed[0]
    assert latency < 1.0
    history = raised.value.history
    assert history is net.history and history.epochs == 1
    epoch, samples = history.interrupted_at
    assert epoch == 2 and 0 < samples < 5000
    assert np.isfinite(net.feedforward(X[:5])).all()

    resumed, resumed_history = fastnn.resume(checkpoint, X, y)
    assert np.array_equal(resumed.params, expected.params)
    assert resumed_history.epochs == 3
    np.testing.assert_allclose(resumed_history.cost, expected.history.cost, rtol=1e-12)


CHILD_TRAINS = """
import sys, time, json
import numpy as np
import fastnn
rng = np.random.default_rng(0)
X = rng.random((30000, 100)); y = rng.integers(0, 10, 30000)
net = fastnn.Network([100, 1500, 10], seed=0)
net.prepare(X, y)
print("READY", flush=True)
try:
    net.train(X, y, epochs=50, eta=0.1)
except KeyboardInterrupt as interrupt:
    caught = time.time()
    print(json.dumps({"caught": caught, "at": interrupt.history.interrupted_at,
                      "finite": bool(np.isfinite(net.params).all())}), flush=True)
"""


@pytest.mark.skipif(JIT_DISABLED, reason="needs the epoch to run without the GIL")
def test_ctrl_c_reaches_a_training_process_within_a_second(tmp_path):
    """The process's own SIGINT, as a terminal sends it, during an epoch of
    about a second: KeyboardInterrupt in well under a second."""
    env = dict(os.environ, FASTNN_PARALLEL="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD_TRAINS], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env,
                             preexec_fn=_take_ctrl_c_in_the_child)
    try:
        assert child.stdout.readline().strip() == "READY"
        time.sleep(0.5)
        sent = time.time()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err[-2000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["caught"] - sent < 1.0
    assert report["finite"] and report["at"][1] > 0


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 10])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_two_epochs_and_two_more_from_the_checkpoint_equal_four(tmp_path, dtype, batch_size,
                                                                 n_threads):
    X, y = problem(300, WIDE[0], dtype=dtype, seed=7)
    test_data = problem(40, WIDE[0], dtype=dtype, seed=8)
    whole = fastnn.Network(WIDE, seed=1, dtype=dtype)
    history = whole.train(X, y, epochs=4, batch_size=batch_size, eta=0.7, seed=9,
                          test_data=test_data, n_threads=n_threads)

    checkpoint = tmp_path / "run.ckpt"
    first = fastnn.Network(WIDE, seed=1, dtype=dtype)
    first.train(X, y, epochs=2, batch_size=batch_size, eta=0.7, seed=9, test_data=test_data,
                n_threads=n_threads, checkpoint=checkpoint)
    resumed, resumed_history = fastnn.resume(checkpoint, X, y, epochs=4, test_data=test_data,
                                             n_threads=n_threads)
    assert np.array_equal(resumed.params, whole.params)
    assert resumed_history.cost == history.cost
    assert resumed_history.test_accuracy == history.test_accuracy
    assert resumed.dtype == dtype
    # the checkpoint now holds the whole run: resuming again does nothing
    again, again_history = fastnn.resume(checkpoint, X, y)
    assert np.array_equal(again.params, whole.params) and again_history.epochs == 4


def test_checkpoint_every_k_epochs_and_after_the_last(tmp_path):
    X, y = problem(100, 8, 3)
    checkpoint = tmp_path / "run.ckpt"
    written = []

    def note(epoch, history):
        written.append((epoch, checkpoint.stat().st_mtime_ns if checkpoint.exists() else None))

    fastnn.Network([8, 5, 3], seed=0).train(X, y, epochs=5, checkpoint=checkpoint,
                                           checkpoint_every=2, callback=note)
    network, state, history, _, _ = fastnn.checkpoint.read_checkpoint(checkpoint)
    assert state.epochs_done == 5 and history.epochs == 5
    # written after epochs 2 and 4 (seen by the callbacks of epochs 3 and 5) and 5
    assert written[0][1] is None and written[1][1] is None and written[2][1] is not None


def test_resume_refuses_other_data_other_files_and_fewer_epochs(tmp_path):
    X, y = problem(100, 8, 3)
    checkpoint = tmp_path / "run.ckpt"
    net = fastnn.Network([8, 5, 3], seed=0)
    net.train(X, y, epochs=2, checkpoint=checkpoint)
    other = X.copy()
    other[0, 0] += 1e-9
    with pytest.raises(ValueError, match="not the data"):
        fastnn.resume(checkpoint, other, y)
    with pytest.raises(ValueError, match="not the data"):
        fastnn.resume(checkpoint, X[:50], y[:50])
    with pytest.raises(ValueError, match="fewer than the 2"):
        fastnn.resume(checkpoint, X, y, epochs=1)
    model = net.save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="not a fastnn checkpoint"):
        fastnn.resume(model, X, y)
    (tmp_path / "garbage.ckpt").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match="not a fastnn checkpoint"):
        fastnn.resume(tmp_path / "garbage.ckpt", X, y)


@pytest.mark.skipif(JIT_DISABLED, reason="times compiled epochs")
def test_short_epochs_run_in_the_calling_thread_and_ctrl_c_stops_after_one(monkeypatch,
                                                                           ctrl_c_raises):
    """Epochs shorter than INLINE_SECONDS skip the helper thread; a Ctrl-C
    during one takes effect when it ends, before the next epoch."""
    X, y = problem(300, 8, 3)
    net = fastnn.Network([8, 5, 3], seed=0)
    threads = []
    run = EpochPlan.run

    def noting_run(self, *args, **objective):
        threads.append(threading.current_thread().name)
        if len(threads) == 4:  # the warm-up, then epochs 1, 2, 3
            os.kill(os.getpid(), signal.SIGINT)
        return run(self, *args, **objective)

    monkeypatch.setattr(EpochPlan, "run", noting_run)
    with pytest.raises(KeyboardInterrupt) as raised:
        net.train(X, y, epochs=50)
    assert threads[1].startswith("fastnn-epoch") and threads[2] == threads[0]
    # (the signal is taken before epoch 3's kernel starts: it stops at once)
    history = raised.value.history
    assert history.interrupted_at == (history.epochs + 1, 0) and history.epochs == 2


def test_ctrl_c_ignored_by_the_parent_stays_ignored(tmp_path):
    """A program started with SIGINT ignored (nohup, a background job)
    keeps it so: fastnn installs its handler only in place of Python's."""
    script = ("import signal, numpy as np, fastnn\n"
              "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              "X = np.random.default_rng(0).random((50, 4))\n"
              "net = fastnn.Network([4, 3, 2], seed=0)\n"
              "net.train(X, np.arange(50) % 2, epochs=2, progress=lambda *a: None)\n"
              "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN\n"
              "print('kept')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "kept" in result.stdout, result.stderr[-2000:]


def test_progress_reports_each_epoch_to_its_end():
    X, y = problem(500, 8, 3)
    calls = []
    fastnn.Network([8, 5, 3], seed=0).train(X, y, epochs=3, progress=lambda *a: calls.append(a))
    ends = [call for call in calls if call[1] == call[2]]
    assert [call[0] for call in ends] == [1, 2, 3] and all(call[2] == 500 for call in calls)
    assert all(0 <= done <= n for _, done, n in calls)


# ---------------------------------------------------------------------------
# Divergence and saturation
# ---------------------------------------------------------------------------
def _exploding_problem():
    """Targets of 1e200 (unscaled regression targets, say): (a - y)^2 is inf
    in the first batch, and the step that follows makes the weights inf."""
    X = np.random.default_rng(0).random((40, 6))
    return X, np.full((40, 2), 1e200)


def _exploding_network():
    return fastnn.Network([6, 4, 2], seed=0)


def test_divergence_restores_the_last_finite_parameters_and_raises():
    X, y = _exploding_problem()
    net = _exploding_network()
    before = net.params.copy()
    with pytest.raises(fastnn.DivergenceError, match="eta=0.3") as raised:
        net.train(X, y, epochs=3, eta=3.0)
    assert np.array_equal(net.params, before)
    assert raised.value.history.diverged_at == 1 and raised.value.history.epochs == 0


def test_divergence_warns_or_stops_when_asked():
    X, y = _exploding_problem()
    net = _exploding_network()
    before = net.params.copy()
    with pytest.warns(fastnn.DivergenceWarning, match="diverged in epoch 1"):
        history = net.train(X, y, epochs=3, on_divergence="warn")
    assert np.array_equal(net.params, before) and history.diverged_at == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = net.train(X, y, epochs=3, on_divergence="stop")
    assert history.diverged_at == 1
    with pytest.raises(ValueError, match="on_divergence"):
        net.train(X, y, on_divergence="ignore")


def test_a_network_with_nan_parameters_refuses_to_train():
    X, y = problem(20, 4, 2)
    net = fastnn.Network([4, 3, 2], seed=0)
    net.weights[0][0, 0] = np.nan
    before = net.params.copy()
    with pytest.raises(ValueError, match="not finite"):
        net.train(X, y)
    np.testing.assert_array_equal(net.params, before)


def test_saturated_outputs_warn_and_name_eta():
    X, y, _, _ = fastnn.datasets.load_digits()
    net = fastnn.Network([64, 30, 10], seed=0)
    with pytest.warns(fastnn.SaturationWarning, match="eta=1e\\+06"):
        history = net.train(X, y, epochs=4, eta=1e6, seed=0)
    assert history.saturated_at is not None
    # a healthy run is never reported
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = fastnn.Network([64, 30, 10], seed=0).train(X, y, epochs=4, seed=0)
    assert history.saturated_at is None


def test_estimators_give_a_convergence_warning_for_saturation():
    from sklearn.exceptions import ConvergenceWarning

    X, y, _, _ = fastnn.datasets.load_digits()
    with pytest.warns(ConvergenceWarning, match="pinned at 0 or 1"):
        fastnn.MLPClassifier(loss="squared_error", alpha=0.0, learning_rate_init=1e6,
                             solver="sgd", momentum=0.0, activation="logistic",
                             max_iter=20, random_state=0).fit(X, y)
    # a learning rate that float32 cannot hold is refused before any step
    clf = fastnn.MLPClassifier(learning_rate_init=1e300, alpha=0.0, dtype=np.float32,
                               max_iter=3)
    with pytest.raises(ValueError, match="does not fit in float32"):
        clf.fit(X, y)


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------
@pytest.mark.skipif(JIT_DISABLED, reason="needs the epoch to run without the GIL")
def test_ctrl_c_during_fastnn_train_saves_the_model_says_so_and_exits_130(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    np.savez(data, X=rng.random((20000, 100)), y=rng.integers(0, 10, 20000))
    model, checkpoint = tmp_path / "m.npz", tmp_path / "run.ckpt"
    child = subprocess.Popen(
        [sys.executable, "-m", "fastnn", "train", "--data", str(data), "--sizes", "100,800,10",
         "--epochs", "500", "--out", str(model), "--checkpoint", str(checkpoint)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_take_ctrl_c_in_the_child)
    try:
        # the progress bar writes to stderr once training runs
        deadline = time.time() + 120
        while not checkpoint.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert checkpoint.exists(), "no epoch finished"
        sent = time.time()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
        took = time.time() - sent
    finally:
        child.kill()
    assert child.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("fastnn: interrupted in epoch ") and "model saved to" in last, err
    assert "Traceback" not in err
    assert took < 5  # the stop itself takes < 1 s; the rest is saving and exiting
    # the model and the checkpoint written on Ctrl-C hold the same steps
    saved, state, _, _, _ = fastnn.checkpoint.read_checkpoint(checkpoint)
    assert np.array_equal(fastnn.load(model).params, saved.params)
    assert state.epochs_done >= 1
    resumed = subprocess.run(
        [sys.executable, "-m", "fastnn", "train", "--data", str(data), "--resume",
         str(checkpoint), "--epochs", str(state.epochs_done + 1), "--quiet"],
        capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"after {state.epochs_done + 1} epochs" in resumed.stdout


def test_a_small_checkpoint_that_claims_a_huge_network_is_refused_at_once(tmp_path):
    """As load does for models: the sizes are read from the file, the memory
    they need checked, and the parameters' header compared, before any
    array is allocated."""
    X, y = problem(30, 8, 3)
    checkpoint = tmp_path / "run.ckpt"
    fastnn.Network([8, 5, 3], seed=0).train(X, y, epochs=1, checkpoint=checkpoint)
    with np.load(checkpoint) as archive:
        entries = dict(archive)
    for sizes, message in (([100_000, 100_000, 10], "GiB"), ([20_000, 20_000, 10], "shape")):
        entries["sizes"] = np.array(sizes)
        bomb = tmp_path / f"bomb{sizes[0]}.ckpt"
        with open(bomb, "wb") as stream:
            np.savez_compressed(stream, **entries)
        assert bomb.stat().st_size < 10_000
        started = time.perf_counter()
        with pytest.raises(ValueError, match=message):
            fastnn.resume(bomb, X, y)
        assert time.perf_counter() - started < 1.0
