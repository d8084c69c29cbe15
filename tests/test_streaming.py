"""fastnn.streaming.train_streaming and the chunked store of fastnn.datasets
(docs/streaming.md)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import datasets
from fastnn.streaming import train_streaming

ROOT = Path(__file__).resolve().parents[1]
SIZES = [12, 7, 4]


def problem(n=230, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.random((n, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], n)
    return X, y


def network(dtype=np.float64, **options):
    return fastnn.Network(SIZES, seed=3, dtype=dtype, **options)


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# ---------------------------------------------------------------------------
# What an epoch is
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"lmbda": 2.0, "cost": "cross_entropy"},
                                     {"batch_size": 1}])
def test_one_chunk_of_all_the_data_is_network_train_bitwise(dtype, options):
    """Chunk order trivial, in-chunk order Network.train's own shuffle of
    the epoch: the same epochs, bitwise, costs included."""
    options = dict(options)
    cost = options.pop("cost", "quadratic")
    X, y = problem(dtype=dtype)
    reference, streamed = network(dtype, cost=cost), network(dtype, cost=cost)
    expected = reference.train(X, y, epochs=3, eta=0.5, seed=7, **options)
    got = streamed.train_streaming(X, y, epochs=3, eta=0.5, seed=7, chunk_rows=len(X),
                                   **options)
    np.testing.assert_array_equal(streamed.params, reference.params)
    assert got.cost == expected.cost
    assert streamed.history is got and got.epochs == 3


OPTIMIZERS = [
    fastnn.SGD(momentum=0.9),
    fastnn.SGD(momentum=0.8, nesterov=True),
    fastnn.Adam(),
    fastnn.SGD(schedule="invscaling", power_t=0.5),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_one_chunk_with_an_optimizer_is_network_train_bitwise(dtype, optimizer):
    """Issue 24's optimizers stream too: with one chunk, the same epochs as
    Network.train, bitwise, and the same optimizer state at the end."""
    X, y = problem(dtype=dtype)
    reference, streamed = network(dtype), network(dtype)
    expected = reference.train(X, y, epochs=3, eta=0.05, seed=7, lmbda=1.0,
                               optimizer=optimizer)
    got = streamed.train_streaming(X, y, epochs=3, eta=0.05, seed=7, lmbda=1.0,
                                   chunk_rows=len(X), optimizer=optimizer)
    np.testing.assert_array_equal(streamed.params, reference.params)
    assert got.cost == expected.cost
    assert got.optimizer.name == expected.optimizer.name
    assert got.optimizer.options == expected.optimizer.options
    for name, array in expected.optimizer.arrays.items():
        np.testing.assert_array_equal(got.optimizer.arrays[name], array)


@pytest.mark.parametrize("optimizer", OPTIMIZERS[:3], ids=repr)
def test_an_optimizers_state_goes_on_from_chunk_to_chunk(optimizer):
    """shuffle=False, chunks of 60 rows: the streamed run is one
    Network.train per chunk, each continuing the optimizer state the last
    one ended with (velocity, Adam's moments and step count)."""
    X, y = problem()
    streamed, by_hand = network(), network()
    streamed.train_streaming(X, y, epochs=2, eta=0.05, shuffle=False, chunk_rows=60,
                             optimizer=optimizer)
    state = optimizer
    for _ in range(2):
        for start in range(0, len(X), 60):
            part = slice(start, start + 60)
            state = by_hand.train(X[part], y[part], epochs=1, eta=0.05, shuffle=False,
                                  optimizer=state).optimizer
    np.testing.assert_array_equal(streamed.params, by_hand.params)
    for name, array in state.arrays.items():
        np.testing.assert_array_equal(streamed.history.optimizer.arrays[name], array)


def test_unshuffled_chunks_are_consecutive_trainings_on_each_chunk():
    """shuffle=False: chunks in order, rows in order, and no mini-batch
    spans two chunks (230 rows in chunks of 60: batches of 10, 10, ...,
    the last chunk of 50 rows; with batch 7 each chunk ends in a short one)."""
    X, y = problem()
    for batch_size in (10, 7):
        streamed, by_hand = network(), network()
        history = streamed.train_streaming(X, y, epochs=2, batch_size=batch_size, eta=0.5,
                                           shuffle=False, chunk_rows=60)
        total = []
        for _ in range(2):
            cost = 0.0
            for start in range(0, len(X), 60):
                part = slice(start, start + 60)
                rows = len(X[part])
                cost += rows * by_hand.train(X[part], y[part], epochs=1, batch_size=batch_size,
                                             eta=0.5, shuffle=False).cost[0]
            total.append(cost / len(X))
        np.testing.assert_array_equal(streamed.params, by_hand.params)
        np.testing.assert_allclose(history.cost, total, rtol=1e-12)


def test_every_chunk_once_per_epoch_in_seeded_orders(monkeypatch):
    """Each epoch visits each chunk once, every row of it once; the chunk
    orders differ between epochs and come back with the seed."""
    from fastnn import streaming

    X, y = problem(n=100)
    visits = []
    original = streaming._Source.load

    def spy(self, c, x_buffer, t_buffer):
        visits.append(c)
        return original(self, c, x_buffer, t_buffer)

    monkeypatch.setattr(streaming._Source, "load", spy)
    seen_rows = []
    from fastnn.plan import EpochPlan

    real_run = EpochPlan.run

    def run_spy(self, params, inputs, targets, order, eta, **kwargs):
        seen_rows.append(np.sort(inputs[order][:, 0]))
        return real_run(self, params, inputs, targets, order, eta, **kwargs)

    monkeypatch.setattr(EpochPlan, "run", run_spy)
    network().train_streaming(X, y, epochs=4, chunk_rows=10, seed=1, prefetch=False)
    epochs = [visits[i:i + 10] for i in range(0, 40, 10)]
    assert all(sorted(epoch) == list(range(10)) for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1
    # every sample once per epoch (the warm-up's run on the first batch aside)
    for epoch in range(4):
        rows = np.concatenate(seen_rows[1 + 10 * epoch:1 + 10 * (epoch + 1)])
        np.testing.assert_array_equal(np.sort(rows), np.sort(X[:, 0]))
    visits.clear()
    network().train_streaming(X, y, epochs=4, chunk_rows=10, seed=1, prefetch=False)
    assert [visits[i:i + 10] for i in range(0, 40, 10)] == epochs


def test_the_same_seed_gives_the_same_run_bitwise_with_or_without_prefetch_and_threads():
    X, y = problem(n=500)
    results = []
    for prefetch, n_threads in ((True, None), (False, 1), (True, 2), (True, None)):
        net = network()
        history = net.train_streaming(X, y, epochs=3, chunk_rows=64, seed=11,
                                      prefetch=prefetch, n_threads=n_threads)
        results.append((net.params.copy(), history.cost))
    for params, cost in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        assert cost == results[0][1]
    other = network()
    other.train_streaming(X, y, epochs=3, chunk_rows=64, seed=12)
    assert not np.array_equal(other.params, results[0][0])


def test_it_learns_and_reports_like_train():
    X, y, X_test, y_test = datasets.load_digits(dtype=np.float32)
    net = fastnn.Network([64, 30, 10], seed=0, dtype=np.float32)
    calls, progress = [], []
    history = net.train_streaming(
        X, y, epochs=6, chunk_rows=200, seed=0, test_data=(X_test, y_test),
        callback=lambda epoch, h: calls.append(epoch) or epoch == 5,
        progress=lambda *a: progress.append(a))
    assert calls == [1, 2, 3, 4, 5] and history.epochs == 5
    assert history.test_accuracy[-1] > 0.9 and history.cost[-1] < history.cost[0]
    assert len(history.seconds) == 5 and history.driver
    first = progress[:7]  # 7 chunks (6 of 200 rows, one of 147), in a random order
    assert [call[0] for call in first] == [1] * 7 and first[-1][1:] == (len(X), len(X))
    assert all(b[1] - a[1] in (200, 147) for a, b in zip(first, first[1:]))


# ---------------------------------------------------------------------------
# Inputs: memmaps, stores, dask
# ---------------------------------------------------------------------------
def test_mmapped_npy_and_a_chunked_store_train_as_the_arrays_in_memory(tmp_path):
    X, y = problem(n=300, dtype=np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    store = datasets.write_chunked(tmp_path / "store", X, y, chunk_rows=70)
    X_store, y_store = datasets.open_chunked(store)
    assert X_store.chunk_rows == (70, 70, 70, 70, 20)
    runs = {}
    for name, (data_X, data_y) in {
            "memory": (X, y),
            "mmap": (np.load(tmp_path / "X.npy", mmap_mode="r"),
                     np.load(tmp_path / "y.npy", mmap_mode="r")),
            "store": (X_store, y_store)}.items():
        net = network(np.float32)
        history = net.train_streaming(data_X, data_y, epochs=2, chunk_rows=70, seed=5)
        runs[name] = (net.params, history.cost)
    for name in ("mmap", "store"):
        np.testing.assert_array_equal(runs[name][0], runs["memory"][0])
        assert runs[name][1] == runs["memory"][1]
    # the store's own chunks are the default; float64 data converts as it is read
    net = network(np.float64)
    net.train_streaming(X_store, y_store, epochs=2, seed=5)
    twin = network(np.float64)
    twin.train_streaming(X.astype(np.float64), y, epochs=2, seed=5, chunk_rows=70)
    np.testing.assert_array_equal(net.params, twin.params)


def test_chunks_read_from_the_store_equal_the_arrays_written(tmp_path):
    X = np.random.default_rng(0).random((53, 3, 4)).astype(np.float32)
    y = np.arange(53) % 4
    store = datasets.write_chunked(tmp_path / "s", X, y, chunk_rows=20,
                                   X_test=X[:7], y_test=y[:7])
    X_store, y_store = datasets.open_chunked(store, verify=True)
    assert X_store.shape == X.shape and X_store.parts == ("train", "test")
    np.testing.assert_array_equal(np.asarray(X_store), X)
    np.testing.assert_array_equal(X_store[15:45], X[15:45])
    np.testing.assert_array_equal(X_store[-1], X[-1])
    np.testing.assert_array_equal(y_store.read_chunk(2), y[40:])
    out = np.empty((20, 12))
    np.testing.assert_array_equal(X_store.read_chunk(1, out=out), X[20:40].reshape(20, 12))
    X_test, y_test = datasets.open_chunked(store, part="test")
    np.testing.assert_array_equal(np.asarray(X_test), X[:7])
    # (n, 3, 4) inputs train a 12-input network: rows are flattened
    net = network(np.float32)
    net.train_streaming(X_store, y_store, epochs=1, seed=0)
    twin = network(np.float32)
    twin.train_streaming(X.reshape(53, 12), y, epochs=1, seed=0, chunk_rows=20)
    np.testing.assert_array_equal(net.params, twin.params)


def test_importing_fastnn_does_not_import_dask():
    code = ("import sys, fastnn, fastnn.streaming, fastnn.datasets, fastnn.cli\n"
            "assert 'dask' not in sys.modules, 'dask imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=child_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_dask_arrays_train_as_the_arrays_in_memory():
    da = pytest.importorskip("dask.array")
    X, y = problem(n=260)
    dask_X = da.from_array(X, chunks=(50, SIZES[0]))
    dask_y = da.from_array(y, chunks=50)
    streamed, reference = network(), network()
    history = streamed.train_streaming(dask_X, dask_y, epochs=2, seed=4)
    expected = reference.train_streaming(X, y, epochs=2, seed=4, chunk_rows=50)
    np.testing.assert_array_equal(streamed.params, reference.params)
    assert history.cost == expected.cost
    # labels as a NumPy array beside dask inputs, and a computed (lazy) X
    lazy = network()
    lazy.train_streaming(da.from_array(X, chunks=(50, SIZES[0])) * 1.0, y, epochs=2, seed=4)
    np.testing.assert_array_equal(lazy.params, reference.params)
    # write_chunked takes dask arrays too
    # (a store written from them trains the same)


def test_write_chunked_takes_dask_arrays(tmp_path):
    da = pytest.importorskip("dask.array")
    X, y = problem(n=90)
    store = datasets.write_chunked(tmp_path / "s", da.from_array(X, chunks=(40, SIZES[0])),
                                   da.from_array(y, chunks=40), chunk_rows=25)
    X_store, y_store = datasets.open_chunked(store)
    np.testing.assert_array_equal(np.asarray(X_store), X)
    np.testing.assert_array_equal(np.asarray(y_store), y)


# ---------------------------------------------------------------------------
# Bad input leaves the network as it was
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("prefetch", [True, False])
@pytest.mark.parametrize("fault", ["nan", "inf", "label"])
def test_a_bad_chunk_found_mid_run_restores_the_network_and_names_chunk_and_row(prefetch,
                                                                               fault):
    X, y = problem(n=200)
    row = 7 * 20 + 3  # in chunk 7 of 10
    if fault == "label":
        y = y.copy()
        y[row] = SIZES[-1]
        match = r"found 4 \(at row 143, in chunk 7 \(of 10; rows 140 to 159\)\)"
    else:
        X = X.copy()
        X[row, 5] = np.nan if fault == "nan" else np.inf
        match = (rf"X contains {'NaN' if fault == 'nan' else 'inf'} at row 143 \(feature 5\), "
                 r"in chunk 7 \(of 10; rows 140 to 159\)")
    net = network()
    before = net.params.copy()
    with pytest.raises(ValueError, match=match):
        net.train_streaming(X, y, epochs=3, chunk_rows=20, seed=0, prefetch=prefetch)
    np.testing.assert_array_equal(net.params, before)
    net.train_streaming(*problem(n=200), epochs=1, chunk_rows=20)  # not left locked


def test_a_chunk_changed_after_the_first_epoch_restores_the_parameters_of_the_start(tmp_path):
    X, y = problem(n=100, dtype=np.float32)
    store = datasets.write_chunked(tmp_path / "s", X, y, chunk_rows=25)
    X_store, y_store = datasets.open_chunked(store)
    net = network(np.float32)
    before = net.params.copy()
    path = X_store.chunk_path(2)

    def poison(epoch, history):
        bad = X[50:75].copy()
        bad[4, 1] = np.nan
        np.save(path, bad)

    with pytest.raises(ValueError, match=r"NaN at row 54 \(feature 1\), in chunk 2"):
        net.train_streaming(X_store, y_store, epochs=3, seed=0, callback=poison)
    np.testing.assert_array_equal(net.params, before)


def test_an_unreadable_chunk_restores_the_network_but_a_failing_callback_does_not(tmp_path):
    X, y = problem(n=100, dtype=np.float32)
    store = datasets.write_chunked(tmp_path / "s", X, y, chunk_rows=25)
    X_store, y_store = datasets.open_chunked(store)
    net = network(np.float32)
    before = net.params.copy()

    def remove_a_chunk(epoch, history):
        os.unlink(X_store.chunk_path(1))

    with pytest.raises(ValueError, match="train-X-000001.npy is missing"):
        net.train_streaming(X_store, y_store, epochs=2, seed=0, callback=remove_a_chunk)
    np.testing.assert_array_equal(net.params, before)

    def fail(epoch, history):
        raise RuntimeError("the callback's own error")

    with pytest.raises(RuntimeError, match="own error"):
        net.train_streaming(X, y, epochs=2, seed=0, chunk_rows=25, callback=fail)
    assert not np.array_equal(net.params, before)  # the epoch's steps are kept, as in train


def test_chunk_buffers_that_cannot_fit_in_memory_are_refused_before_allocating():
    class Huge:
        def __init__(self, *shape):
            self.shape, self.dtype = shape, np.dtype(np.float32)

        def __getitem__(self, rows):
            raise AssertionError("nothing may be read")

    net = network(np.float32)
    before = net.params.copy()
    with pytest.raises(ValueError, match="chunk buffer.*smaller chunk_rows"):
        net.train_streaming(Huge(10**11, SIZES[0]), Huge(10**11), epochs=1, chunk_rows=10**11)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("prefetch", [True, False])
def test_ctrl_c_stops_between_chunks_keeping_the_steps_and_the_history(prefetch):
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is handled by someone else here")
    X, y = problem(n=100)
    net = network()
    before = net.params.copy()

    def press_ctrl_c(epoch, samples, n_samples):
        if samples == 40:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt) as raised:
        net.train_streaming(X, y, epochs=2, chunk_rows=20, seed=0, progress=press_ctrl_c,
                            prefetch=prefetch)
    assert raised.value.history.interrupted_at == (1, 40) and net.history.epochs == 0
    assert not np.array_equal(net.params, before) and np.isfinite(net.params).all()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


BAD_CALLS = {
    "X 1-D": (lambda X, y: (X[:, 0], y), {}, ValueError, "shape"),
    "features": (lambda X, y: (X[:, :5], y), {}, ValueError, "5 features"),
    "empty": (lambda X, y: (X[:0], y[:0]), {}, ValueError, "empty"),
    "Y length": (lambda X, y: (X, y[:-1]), {}, ValueError, "samples but Y"),
    "Y targets": (lambda X, y: (X, np.zeros((len(y), 3))), {}, ValueError, "targets"),
    "X complex": (lambda X, y: (X.astype(complex), y), {}, TypeError, "real numbers"),
    "Y strings": (lambda X, y: (X, y.astype(str)), {}, TypeError, "real numbers"),
    "epochs": (lambda X, y: (X, y), {"epochs": 0}, ValueError, "epochs"),
    "eta": (lambda X, y: (X, y), {"eta": -1.0}, ValueError, "eta"),
    "chunk_rows": (lambda X, y: (X, y), {"chunk_rows": 0}, ValueError, "chunk_rows"),
    "seed": (lambda X, y: (X, y), {"seed": "x"}, TypeError, "seed"),
    "lmbda": (lambda X, y: (X, y), {"lmbda": 1e9}, ValueError, "lmbda"),
    "prefetch": (lambda X, y: (X, y), {"prefetch": "no"}, TypeError, "prefetch"),
    "test_data": (lambda X, y: (X, y), {"test_data": (np.zeros((3, 2)), [0, 1, 2])},
                  ValueError, "test X"),
    "callback": (lambda X, y: (X, y), {"callback": 3}, TypeError, "callback"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_raises_before_any_step_and_leaves_the_network_unchanged(case):
    make, options, error, match = BAD_CALLS[case]
    X, y = problem(n=40)
    net = network()
    before = net.params.copy()
    with pytest.raises(error, match=match):
        net.train_streaming(*make(X, y), **{"epochs": 1, **options})
    np.testing.assert_array_equal(net.params, before)


def test_divergence_restores_the_parameters_of_the_last_finite_epoch():
    """Targets of 1e200 (as in test_interrupt.py): inf in the first batch."""
    X, _ = problem(n=100)
    net = network()
    before = net.params.copy()
    with pytest.raises(fastnn.DivergenceError, match="eta=0.3") as raised:
        net.train_streaming(X, np.full((100, SIZES[-1]), 1e200), epochs=5, eta=0.3,
                            chunk_rows=30)
    assert raised.value.history.diverged_at == 1
    np.testing.assert_array_equal(net.params, before)
    with pytest.warns(fastnn.DivergenceWarning):
        history = net.train_streaming(X, np.full((100, SIZES[-1]), 1e200), epochs=5, eta=0.3,
                                      chunk_rows=30, on_divergence="warn")
    assert history.diverged_at == 1 and history.epochs == 0


# ---------------------------------------------------------------------------
# The store: damage and interrupted writes
# ---------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path):
    X, y = problem(n=50, dtype=np.float32)
    return Path(datasets.write_chunked(tmp_path / "store", X, y, chunk_rows=20))


def _edit_manifest(store, change):
    path = store / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


DAMAGE = {
    "manifest not JSON": (lambda s: (s / "manifest.json").write_text("{nope"),
                          "not valid JSON"),
    "newer format": (lambda s: _edit_manifest(s, lambda m: m.update(format_version=2)),
                     "format_version 2"),
    "not ours": (lambda s: _edit_manifest(s, lambda m: m.update(format="zarr")), "'format'"),
    "object dtype": (lambda s: _edit_manifest(
        s, lambda m: m["arrays"]["X"].update(dtype="|O")), "real numbers"),
    "rows disagree": (lambda s: _edit_manifest(
        s, lambda m: m["parts"]["train"].update(rows=[20, 20, 11])), "train-X-000002.npy"),
    "huge rows claimed": (lambda s: _edit_manifest(
        s, lambda m: m["parts"]["train"].update(rows=[20, 20, 10**12])), "the manifest says"),
    "a chunk missing": (lambda s: (s / "train-y-000001.npy").unlink(), "is missing"),
    "a chunk truncated": (lambda s: (s / "train-X-000001.npy").write_bytes(
        (s / "train-X-000001.npy").read_bytes()[:-4]), "holds"),
    "small file claiming a huge array": (lambda s: _huge_header(s / "train-X-000000.npy"),
                                         "declares shape"),
    "a chunk of another dtype": (lambda s: np.save(
        s / "train-X-000001.npy", np.zeros((20, SIZES[0]))), "float64"),
    "not .npy": (lambda s: (s / "train-X-000000.npy").write_bytes(b"hello" * 100), "npy"),
    "write killed before the manifest": (lambda s: (s / "manifest.json").unlink(),
                                         "did not finish"),
}


def _huge_header(path):
    with open(path, "wb") as stream:
        np.lib.format.write_array_header_1_0(
            stream, {"descr": "<f4", "fortran_order": False, "shape": (10**9, SIZES[0])})
        stream.write(b"\0" * 64)


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_store_is_refused_with_a_clear_value_error(store, case):
    damage, match = DAMAGE[case]
    damage(store)
    started = time.perf_counter()
    with pytest.raises(ValueError, match=match) as raised:
        datasets.open_chunked(store)
    assert str(store) in str(raised.value)
    assert time.perf_counter() - started < 1.0


def test_verify_finds_a_changed_byte(store):
    path = store / "train-X-000001.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40
    path.write_bytes(bytes(data))
    datasets.open_chunked(store)  # headers are fine
    with pytest.raises(ValueError, match="train-X-000001.npy fails its CRC-32"):
        datasets.open_chunked(store, verify=True)


def test_write_chunked_refuses_to_overwrite_and_leaves_nothing_when_it_fails(tmp_path):
    X, y = problem(n=50)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileExistsError):
        datasets.write_chunked(tmp_path, X, y, chunk_rows=10)
    datasets.write_chunked(tmp_path / "empty", X, y, chunk_rows=10)  # an empty one is fine

    class Failing:
        shape, dtype = X.shape, X.dtype

        def __getitem__(self, rows):
            if rows.start >= 30:
                raise OSError("disk gone")
            return X[rows]

    with pytest.raises(OSError, match="disk gone"):
        datasets.write_chunked(tmp_path / "failed", Failing(), y, chunk_rows=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    with pytest.raises(ValueError, match="chunk_rows"):
        datasets.write_chunked(tmp_path / "x", X, y, chunk_rows=0)
    with pytest.raises(ValueError, match="samples"):
        datasets.write_chunked(tmp_path / "x", X, y[:3], chunk_rows=10)


WRITER = """
import sys, time
import numpy as np
from fastnn import datasets

class Slow:
    shape, dtype = (400, 8), np.dtype(np.float32)
    def __getitem__(self, rows):
        if rows.start == 200:
            print("HALF", flush=True)
            time.sleep(60)
        return np.ones((rows.stop - rows.start, 8), np.float32)

datasets.write_chunked(sys.argv[1], Slow(), np.zeros(400, np.int64), chunk_rows=50)
"""


def test_a_write_killed_midway_leaves_no_store(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "store")],
                             stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        assert child.stdout.readline().strip() == "HALF"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
    with pytest.raises(FileNotFoundError):
        datasets.open_chunked(tmp_path / "store")
    # what the kill left: the hidden temporary directory, without a manifest
    (left,) = [p for p in tmp_path.iterdir()]
    assert left.name.startswith(".store.") and left.name.endswith(".fastnn-tmp")
    with pytest.raises(ValueError, match="did not finish"):
        datasets.open_chunked(left)


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------
def test_fastnn_train_and_evaluate_on_a_chunked_store(tmp_path):
    X, y, X_test, y_test = datasets.load_digits(dtype=np.float32)
    with_test = datasets.write_chunked(tmp_path / "with_test", X, y, chunk_rows=400,
                                       X_test=X_test, y_test=y_test)
    held_out = datasets.write_chunked(tmp_path / "held_out", X.reshape(-1, 8, 8), y,
                                      chunk_rows=400)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)

    def fastnn_cli(*args):
        return subprocess.run([sys.executable, "-m", "fastnn", *map(str, args)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)

    model = tmp_path / "m.npz"
    trained = fastnn_cli("train", "--data", with_test, "--epochs", "4", "--quiet",
                         "--dtype", "float32", "--out", model)
    assert trained.returncode == 0, trained.stderr
    assert "(4" in trained.stdout and "/450) after 4 epochs" in trained.stdout
    evaluated = fastnn_cli("evaluate", model, "--data", with_test)
    assert evaluated.returncode == 0 and "/450) on chunked store" in evaluated.stdout
    # no test part: the last chunk (147 rows) is the test set
    held = fastnn_cli("train", "--data", held_out, "--epochs", "2", "--quiet")
    assert held.returncode == 0 and "/147) after 2 epochs" in held.stdout, held.stderr
    for optimizer in (["adam", "--eta", "0.01"], ["nesterov", "--learning-rate", "adaptive"]):
        stepped = fastnn_cli("train", "--data", held_out, "--epochs", "2", "--quiet",
                             "--optimizer", *optimizer)
        assert stepped.returncode == 0 and "/147) after 2 epochs" in stepped.stdout, (
            stepped.stderr)
    refused = fastnn_cli("train", "--data", held_out, "--checkpoint", tmp_path / "c.ckpt")
    assert refused.returncode == 2 and "without checkpoints" in refused.stderr
    (Path(held_out) / "manifest.json").unlink()
    broken = fastnn_cli("train", "--data", held_out)
    assert broken.returncode == 2 and "did not finish" in broken.stderr
    assert "Traceback" not in broken.stderr


# ---------------------------------------------------------------------------
# Memory stays bounded by a few chunks
# ---------------------------------------------------------------------------
CHILD_STREAMS = """
import json, sys
import numpy as np
import fastnn
from fastnn import datasets

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

if sys.argv[2] == "store":
    X, y = datasets.open_chunked(sys.argv[1])
else:  # one .npy of X and one of y, memory-mapped
    X = np.load(sys.argv[1] + "/X.npy", mmap_mode="r")
    y = np.load(sys.argv[1] + "/y.npy", mmap_mode="r")
net = fastnn.Network([X.shape[1], 30, 10], seed=0, dtype=np.float32)
# load (or compile) every kernel the run calls, on a small copy
small_X, small_y = np.asarray(X[:2000]), np.asarray(y[:2000])
net.copy().train_streaming(small_X, small_y, epochs=1, chunk_rows=1000, seed=0)
del small_X, small_y
with open("/proc/self/clear_refs", "w") as stream:
    stream.write("5")  # VmHWM := VmRSS
baseline = status("VmRSS")
history = net.train_streaming(X, y, epochs=1, seed=0, chunk_rows=4000)
print(json.dumps({"baseline": baseline, "peak": status("VmHWM"), "rows": X.shape[0],
                  "data": X.nbytes, "finite": bool(np.isfinite(net.params).all()),
                  "cost": history.cost}))
"""


class _Synthetic:
    """Rows of float32 data made on demand, so that the test process never
    holds the data set either."""

    def __init__(self, n_rows, n_features):
        self.shape, self.dtype = (n_rows, n_features), np.dtype(np.float32)

    def __getitem__(self, rows):
        rng = np.random.default_rng(rows.start)
        return rng.random((rows.stop - rows.start, self.shape[1]), dtype=np.float32)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_training_on_data_4x_the_memory_budget_stays_within_it(tmp_path):
    """630 MB of float32 (201,000 rows of 784) in chunks of 4,000 rows
    (12.5 MB), one epoch in a fresh process: its peak RSS, less what it
    held after loading the kernels, stays under 150 MB."""
    budget = 150 * 2**20
    n_rows, n_features = 201_000, 784
    path = tmp_path / "big"
    try:
        labels = np.random.default_rng(0).integers(0, 10, n_rows)
        datasets.write_chunked(path, _Synthetic(n_rows, n_features), labels, chunk_rows=4000)
        assert sum(f.stat().st_size for f in path.iterdir()) >= 4 * budget
        report = _train_in_a_child(path, "store")
    finally:
        shutil.rmtree(path, ignore_errors=True)
    assert report["rows"] == n_rows and report["data"] >= 4 * budget and report["finite"]
    assert report["peak"] - report["baseline"] < budget


def _train_in_a_child(path, kind):
    result = subprocess.run([sys.executable, "-c", CHILD_STREAMS, str(path), kind],
                            capture_output=True, text=True, env=child_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"{kind}: peak RSS above the baseline: "
          f"{(report['peak'] - report['baseline']) / 2**20:.1f} MB for "
          f"{report['data'] / 2**20:.0f} MB of data")
    return report


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_a_memory_mapped_npy_4x_the_budget_stays_within_it(tmp_path):
    """The same with one memory-mapped .npy of 335 MB and a budget of 80 MB:
    the pages of each chunk read are released (datasets.release_pages),
    else the whole file would end up in the process's RSS."""
    budget = 80 * 2**20
    n_rows, n_features = 107_000, 784
    path = tmp_path / "npy"
    path.mkdir()
    try:
        X = np.lib.format.open_memmap(path / "X.npy", mode="w+", dtype=np.float32,
                                      shape=(n_rows, n_features))
        source = _Synthetic(n_rows, n_features)
        for start in range(0, n_rows, 10_000):
            X[start:start + 10_000] = source[start:min(start + 10_000, n_rows)]
        X.flush()
        del X
        np.save(path / "y.npy", np.random.default_rng(0).integers(0, 10, n_rows))
        report = _train_in_a_child(path, "npy")
    finally:
        shutil.rmtree(path, ignore_errors=True)
    assert report["data"] >= 4 * budget and report["finite"]
    assert report["peak"] - report["baseline"] < budget
