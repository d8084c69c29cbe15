"""The faults that live between the training loop's parts and the file
layers (issue 22, docs/reliability.md "Faults between the parts"): each
test failed on 7c5498a, the commit before the one training loop.

(The two of fastnn.dask, which need a cluster, are in tests/test_dask.py.)
"""
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastnn
from fastnn import datasets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def problem(n=300, n_inputs=8, n_outputs=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_inputs)), rng.integers(0, n_outputs, n)


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler, as in a terminal (see test_interrupt.py)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def run_python(code, timeout=60):
    """``code`` in a fresh interpreter importing this checkout's fastnn, its
    address space capped at 4 GiB (a reader that does not stop fails fast)."""
    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    env = dict(os.environ, PYTHONPATH=ROOT)
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limit)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still reading after {timeout} s")


def fastnn_command(capsys, *arguments):
    """``fastnn.cli.main`` in this process: (status, stdout, stderr)."""
    from fastnn.cli import main

    status = main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(result, *phrases):
    status, _, stderr = result
    assert status == 2, (status, stderr[-2000:])
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastnn: error: "), stderr
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


# ---------------------------------------------------------------------------
# A good checkpoint is never lost to a Ctrl-C taken after the parameters
# turned NaN
# ---------------------------------------------------------------------------
def _nan_then_ctrl_c(monkeypatch, net, epoch_to_spoil):
    """A progress callback that, in epoch ``epoch_to_spoil``, makes the
    parameters NaN (as a diverging step would) and presses Ctrl-C; and a
    callback keeping each finished epoch's parameters."""
    monkeypatch.setattr(fastnn._interrupt, "PROGRESS_SECONDS", 0.001)
    monkeypatch.setattr(fastnn._interrupt, "INLINE_SECONDS", 0.0)
    finished = {}
    spoiled = []

    def progress(epoch, samples, n_samples):
        if epoch == epoch_to_spoil and 0 < samples < n_samples and not spoiled:
            spoiled.append(samples)
            net.params[...] = np.nan
            os.kill(os.getpid(), signal.SIGINT)

    def callback(epoch, history):
        finished[epoch] = net.params.copy()

    return progress, callback, finished, spoiled


@pytest.mark.parametrize("checkpoint_every", [1, 3])
def test_ctrl_c_after_nan_restores_the_last_finite_epoch_and_keeps_the_checkpoint(
        tmp_path, monkeypatch, ctrl_c_raises, checkpoint_every):
    X, y = problem(n=40_000, n_inputs=60)
    net = fastnn.Network([60, 40, 3], seed=0)
    path = tmp_path / "run.ckpt"
    progress, callback, finished, spoiled = _nan_then_ctrl_c(monkeypatch, net, 2)
    with pytest.raises(KeyboardInterrupt, match="NaN or inf") as raised:
        net.train(X, y, epochs=5, batch_size=10, eta=0.5, seed=1, checkpoint=path,
                  checkpoint_every=checkpoint_every, progress=progress, callback=callback)
    assert spoiled, "the epoch ended before the progress callback could spoil it"
    # the parameters of epoch 1, finite, in the network and in the checkpoint
    assert np.array_equal(net.params, finished[1])
    assert raised.value.history.interrupted_at == (2, 0)
    assert raised.value.history.diverged_at == 2
    resumed, history = fastnn.resume(path, X, y, epochs=2)
    assert np.isfinite(resumed.params).all() and history.epochs == 2
    again = fastnn.Network([60, 40, 3], seed=0)
    again.train(X, y, epochs=2, batch_size=10, eta=0.5, seed=1)
    assert np.array_equal(resumed.params, again.params)


def test_streaming_restores_the_last_finite_epoch_after_ctrl_c_with_nan(monkeypatch,
                                                                      ctrl_c_raises):
    X, y = problem(n=600)
    net = fastnn.Network([8, 5, 3], seed=0)
    finished = {}

    def progress(epoch, samples, n_samples):  # after each chunk
        if epoch == 2 and samples == 200:
            net.params[...] = np.nan
            os.kill(os.getpid(), signal.SIGINT)

    def keep(epoch, history):
        finished[epoch] = net.params.copy()

    with pytest.raises(KeyboardInterrupt, match="NaN or inf"):
        net.train_streaming(X, y, epochs=4, chunk_rows=100, seed=0, progress=progress,
                            callback=keep)
    assert np.array_equal(net.params, finished[1])


# ---------------------------------------------------------------------------
# network2.save never writes a NaN network over a good file
# ---------------------------------------------------------------------------
def test_network2_save_refuses_nan_and_keeps_the_good_file(tmp_path):
    from fastnn.compat import network2

    np.random.seed(0)
    net = network2.Network([4, 3, 2])
    path = tmp_path / "net.json"
    net.save(path)
    good = path.read_bytes()
    net.weights[0][0, 0] = np.nan  # in place, as a diverging script would leave it
    with pytest.raises(ValueError, match="NaN or inf"):
        net.save(path)
    assert path.read_bytes() == good
    assert np.isfinite(network2.load(path).weights[0]).all()


# ---------------------------------------------------------------------------
# train(checkpoint=PATH) checks PATH before the first step
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["directory", "missing folder"])
def test_a_bad_checkpoint_path_is_refused_before_the_first_step(tmp_path, where):
    X, y = problem()
    net = fastnn.Network([8, 5, 3], seed=0)
    before = net.params.copy()
    path = tmp_path if where == "directory" else tmp_path / "missing" / "run.ckpt"
    with pytest.raises(ValueError, match="checkpoint"):
        net.train(X, y, epochs=2, checkpoint=path)
    assert np.array_equal(net.params, before)


# ---------------------------------------------------------------------------
# Two runs never write one checkpoint path in turn
# ---------------------------------------------------------------------------
def test_a_second_run_on_a_checkpoint_path_in_use_is_refused(tmp_path):
    X, y = problem()
    path = tmp_path / "run.ckpt"
    first = fastnn.Network([8, 5, 3], seed=0)
    inside, release = threading.Event(), threading.Event()
    outcome = {}

    def hold(epoch, history):
        inside.set()
        release.wait(60)

    def train_first():
        try:
            outcome["history"] = first.train(X, y, epochs=2, checkpoint=path, callback=hold)
        except BaseException as error:  # (reported below)
            outcome["error"] = error

    thread = threading.Thread(target=train_first)
    thread.start()
    try:
        assert inside.wait(60), "the first run never finished an epoch"
        second = fastnn.Network([8, 5, 3], seed=1)
        before = second.params.copy()
        with pytest.raises(RuntimeError, match="another training run"):
            second.train(X, y, epochs=2, checkpoint=path)
        assert np.array_equal(second.params, before)
    finally:
        release.set()
        thread.join(60)
    assert "error" not in outcome and outcome["history"].epochs == 2
    # the path is free again once the first run ended
    fastnn.Network([8, 5, 3], seed=1).train(X, y, epochs=1, checkpoint=path)


def test_a_checkpoint_path_in_use_by_another_process_is_refused(tmp_path):
    X, y = problem()
    path = tmp_path / "run.ckpt"
    data = tmp_path / "data.npz"
    np.savez(data, X=X, y=y)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time, numpy as np, fastnn
            with np.load({str(data)!r}) as d:
                X, y = d["X"], d["y"]
            def hold(epoch, history):
                print("holding", flush=True)
                time.sleep(30)
                return True
            fastnn.Network([8, 5, 3], seed=0).train(X, y, epochs=2,
                                                    checkpoint={str(path)!r}, callback=hold)
        """)], env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "holding"
        with pytest.raises(RuntimeError, match="another training run"):
            fastnn.Network([8, 5, 3], seed=1).train(X, y, epochs=1, checkpoint=path)
    finally:
        child.kill()
        child.wait()


# ---------------------------------------------------------------------------
# One-line errors instead of crashes
# ---------------------------------------------------------------------------
def _unknown_compression(path, out):
    """``path`` with every member's compression method set to 99."""
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (found := raw.find(signature, start)) >= 0:
            raw[found + offset:found + offset + 2] = struct.pack("<H", 99)
            start = found + 4
    out.write_bytes(bytes(raw))
    return out


def test_a_checkpoint_of_an_unknown_compression_method_is_one_error(tmp_path, capsys):
    X, y = problem()
    path = tmp_path / "run.ckpt"
    fastnn.Network([8, 5, 3], seed=0).train(X, y, epochs=1, checkpoint=path)
    bad = _unknown_compression(path, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match="not a valid fastnn checkpoint"):
        fastnn.resume(bad, X, y)
    data = tmp_path / "data.npz"
    np.savez(data, X=X, y=y, X_test=X[:20], y_test=y[:20])
    assert_one_line_error(fastnn_command(capsys, "train", "--data", data, "--resume", bad,
                                         "--quiet"), "not a valid fastnn checkpoint")


@pytest.mark.parametrize("claim", ["one chunk", "the last chunk", "a test chunk"])
def test_a_store_manifest_claiming_too_many_rows_is_one_error(tmp_path, claim, capsys):
    X, y = problem(n=30)
    model = tmp_path / "model.npz"
    fastnn.Network([8, 5, 3], seed=0).save(model)
    store = datasets.write_chunked(tmp_path / "store", X, y, chunk_rows=10, X_test=X[:10],
                                   y_test=y[:10])
    manifest_path = os.path.join(store, "manifest.json")
    with open(manifest_path) as stream:
        manifest = json.load(stream)
    rows = {"one chunk": ("train", 0), "the last chunk": ("train", 2),
            "a test chunk": ("test", 0)}[claim]
    manifest["parts"][rows[0]]["rows"][rows[1]] = 2**64
    with open(manifest_path, "w") as stream:
        json.dump(manifest, stream)
    with pytest.raises(ValueError, match="not a valid chunked store"):
        datasets.open_chunked(store)
    assert_one_line_error(fastnn_command(capsys, "train", "--data", store, "--quiet",
                                         "--epochs", "1"), "not a valid chunked store")
    assert_one_line_error(fastnn_command(capsys, "evaluate", model, "--data", store),
                          "not a valid chunked store")


# ---------------------------------------------------------------------------
# Files that are not regular files are refused before they are read
# ---------------------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    assert stat.S_ISFIFO(os.stat(path).st_mode)
    return path


NOT_REGULAR = textwrap.dedent("""
    import contextlib, io, json, sys
    import numpy as np, fastnn
    from fastnn import datasets
    from fastnn.cli import main
    from fastnn.compat import network2
    special, model = sys.argv[1], sys.argv[2]
    readers = {
        "fastnn.load": lambda: fastnn.load(special),
        "network2.load": lambda: network2.load(special),
        "fastnn.resume": lambda: fastnn.resume(special, np.zeros((2, 2)), [0, 1]),
        "datasets.load_npz": lambda: datasets.load_npz(special),
    }
    for name, read in readers.items():
        try:
            read()
            print(json.dumps([name, "read it"]), flush=True)
        except ValueError as error:
            print(json.dumps([name, str(error)]), flush=True)
    for command in (["evaluate", special], ["info", special], ["predict", model, special],
                    ["evaluate", model, "--data", special],
                    ["train", "--data", special, "--quiet"]):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = main(command)
        print(json.dumps([" ".join(command[:1] + command[2:3]), status, stderr.getvalue()]),
              flush=True)
""")


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_nothing_but_a_regular_file_is_read(tmp_path, fifo, special):
    """fastnn.load, network2.load, resume, the data loaders and the command
    line refuse a device or a FIFO at once, in one line (they read
    /dev/zero until memory ran out, and waited forever on a FIFO)."""
    model = tmp_path / "model.npz"
    fastnn.Network([64, 5, 10], seed=0).save(model)
    path = str(fifo) if special == "fifo" else special
    result = run_python(NOT_REGULAR.replace("sys.argv[1], sys.argv[2]",
                                            f"{path!r}, {str(model)!r}"), timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == 9, result.stdout
    for outcome in outcomes[:4]:
        assert "not a regular file" in outcome[1], outcome
    for command, status, stderr in outcomes[4:]:
        lines = stderr.strip().splitlines()
        assert status == 2 and len(lines) == 1, (command, status, stderr)
        assert lines[0].startswith("fastnn: error: ") and "not a regular file" in lines[0]


# ---------------------------------------------------------------------------
# Messages that say what is wrong
# ---------------------------------------------------------------------------
def test_a_checkpoint_with_a_nan_partial_cost_is_refused_as_damaged(tmp_path):
    X, y = problem()
    path = tmp_path / "run.ckpt"
    fastnn.Network([8, 5, 3], seed=0).train(X, y, epochs=1, checkpoint=path)
    with np.load(path) as archive:
        entries = dict(archive)
    entries.update(epochs=np.array(3), samples_done=np.array(30),
                   partial_cost=np.array(np.nan))
    bad = tmp_path / "bad.ckpt"
    with open(bad, "wb") as stream:
        np.savez(stream, **entries)
    with pytest.raises(ValueError, match="not a valid fastnn checkpoint.*partial_cost"):
        fastnn.resume(bad, X, y)


def test_the_command_line_blames_the_seed_not_the_cost_and_output(capsys):
    result = fastnn_command(capsys, "train", "--seed", "-1", "--epochs", "1", "--quiet")
    assert_one_line_error(result, "seed")
    assert "--cost" not in result[2]


def test_the_command_line_says_the_data_has_no_features(tmp_path, capsys):
    data = tmp_path / "empty_rows.npz"
    np.savez(data, X=np.zeros((20, 0)), y=np.arange(20) % 2)
    result = fastnn_command(capsys, "train", "--data", data, "--epochs", "1", "--quiet")
    assert_one_line_error(result, "0 features")
    assert "--cost" not in result[2]


def test_predict_says_a_device_is_not_a_regular_file_not_that_it_does_not_exist(tmp_path,
                                                                                  capsys):
    model = tmp_path / "model.npz"
    fastnn.Network([64, 5, 10], seed=0).save(model)
    result = fastnn_command(capsys, "predict", model, "/dev/zero")
    assert_one_line_error(result, "not a regular file")
    assert "does not exist" not in result[2]
