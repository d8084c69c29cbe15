"""fastnn.dask: data-parallel training on a real dask.distributed LocalCluster
(worker processes), its faults, checkpoints, and the estimators under
joblib's dask backend (issue 16 parts 2-6; docs/distributed.md).

Skipped as a whole without dask[array] and distributed (the extra
``fastnn[dask]``, also in ``fastnn[test]``)."""
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import fastnn  # noqa: E402
import fastnn.dask as fd  # noqa: E402
from fastnn import _dask_tasks as tasks  # noqa: E402
from fastnn.checkpoint import read_checkpoint  # noqa: E402

SIZES = [12, 16, 4]


@contextlib.contextmanager
def _cluster(n_workers):
    """A LocalCluster of worker processes. Its nannies run in this process
    and set OMP_NUM_THREADS=1 (distributed.nanny.pre-spawn-environ) in
    this process's environment for good, which would cap the threads of
    every later test's Network.train: the environment is restored. (The
    dashboard on a free port: dashboard_address=None still takes 8787, and
    a second cluster alive at once then warns that it is in use.)"""
    environ = dict(os.environ)
    try:
        with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                      processes=True, dashboard_address=":0",
                                      silence_logs=logging.ERROR) as cluster:
            yield cluster
    finally:
        os.environ.clear()
        os.environ.update(environ)


@pytest.fixture(scope="module")
def client():
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        yield client


def _block(block_id, chunk, n, d, n_classes, seed, what):
    """Rows of a deterministic synthetic task (a seeded generator per
    block): inputs in [0, 1), labels from a fixed linear teacher."""
    start = block_id[0] * chunk
    rows = min(chunk, n - start)
    x = np.random.default_rng([seed, block_id[0]]).random((rows, d))
    if what == "x":
        return x
    teacher = np.random.default_rng(seed).standard_normal((d, n_classes))
    return np.argmax((x - 0.5) @ teacher, axis=1).astype(np.int64)


def synthetic(n, d=SIZES[0], chunk=100, n_classes=SIZES[-1], seed=0):
    """(X, Y) dask arrays built from a seeded generator, so that a lost
    chunk is recomputed exactly, and the same data in numpy."""
    chunks = tuple(min(chunk, n - s) for s in range(0, n, chunk))
    X = da.map_blocks(_block, chunk=chunk, n=n, d=d, n_classes=n_classes, seed=seed, what="x",
                      chunks=(chunks, (d,)), dtype=np.float64, meta=np.empty((0, 0)))
    Y = da.map_blocks(_block, chunk=chunk, n=n, d=d, n_classes=n_classes, seed=seed, what="y",
                      chunks=(chunks,), dtype=np.int64, meta=np.empty(0, np.int64))
    Xn = np.concatenate([_block((b,), chunk, n, d, n_classes, seed, "x")
                         for b in range(len(chunks))])
    Yn = np.concatenate([_block((b,), chunk, n, d, n_classes, seed, "y")
                         for b in range(len(chunks))])
    return X, Y, Xn, Yn


def test_the_clusters_leave_the_environment_as_it_was():
    before = dict(os.environ)
    with _cluster(1) as cluster, distributed.Client(cluster):
        pass
    assert dict(os.environ) == before


def test_import_fastnn_imports_no_dask():
    code = ("import sys, numpy as np, fastnn\n"
            "net = fastnn.Network([4, 3, 2], seed=0)\n"
            "net.train(np.zeros((4, 4)), np.zeros(4, int), epochs=1)\n"
            "fastnn.MLPClassifier\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_chunk_gradient_is_the_sum_of_the_networks_gradients():
    """The task alone (no cluster): the sum over sub-batches is m times
    Network.gradient's mean, for labels and for targets."""
    net = fastnn.Network(SIZES, seed=3)
    _, _, Xn, Yn = synthetic(300)
    spec = tasks.Spec(tuple(net.sizes), "float64", 64, net.neurons)
    total, cost, timings = tasks.chunk_gradient(net.params, Xn, Yn, 10, 250, spec)
    np.testing.assert_allclose(total, 240 * net.gradient(Xn[10:250], Yn[10:250]), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(cost / 240, net.cost(Xn[10:250], Yn[10:250]), rtol=1e-12)
    assert timings[0][0] == "local"
    targets = np.eye(SIZES[-1])[Yn]
    assert np.array_equal(tasks.chunk_gradient(net.params, Xn, targets, 10, 250, spec)[0], total)


@pytest.mark.parametrize("options", [
    dict(),
    dict(lmbda=2.0),
    dict(batch_size=130),  # batches across chunk boundaries, the last one short
])
def test_gradient_mode_equals_single_process_training(client, options):
    X, Y, Xn, Yn = synthetic(470, chunk=100)
    net = fastnn.Network(SIZES, seed=1)
    reference = net.copy()
    history = fd.train(net, X, Y, client=client, epochs=3, eta=2.0, **options)
    batch_size = options.pop("batch_size", 470)
    reference.train(Xn, Yn, epochs=3, eta=2.0, batch_size=batch_size, shuffle=False, **options)
    np.testing.assert_allclose(net.params, reference.params, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(history.cost, reference.history.cost, rtol=1e-10)
    assert history.rounds == 3 * -(-470 // batch_size) and history.epochs == 3
    assert all(0 < c <= r for c, r in zip(history.compute_seconds, history.round_seconds))


@pytest.mark.parametrize("optimizer", [fastnn.Adam(), fastnn.SGD(momentum=0.9, nesterov=True),
                                       fastnn.SGD(schedule="invscaling")], ids=repr)
def test_gradient_mode_with_an_optimizer_equals_single_process_training(client, optimizer):
    """Issue 24's optimizers as the driver's step: Network.train with the
    same optimizer, L2 coupled in, batches in row order (to rounding: the
    gradient is summed in another order)."""
    X, Y, Xn, Yn = synthetic(470, chunk=100)
    net = fastnn.Network(SIZES, seed=1)
    reference = net.copy()
    history = fd.train(net, X, Y, client=client, epochs=3, eta=0.05, batch_size=130,
                       lmbda=2.0, optimizer=optimizer)
    reference.train(Xn, Yn, epochs=3, eta=0.05, batch_size=130, shuffle=False, lmbda=2.0,
                    optimizer=optimizer)
    np.testing.assert_allclose(net.params, reference.params, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(history.cost, reference.history.cost, rtol=1e-10)


def test_an_optimizers_state_is_checkpointed_and_resumed_bitwise(client, tmp_path):
    X, Y, _, _ = synthetic(300, chunk=100)
    start = fastnn.Network(SIZES, seed=8)
    whole, part = start.copy(), start.copy()
    history = fd.train(whole, X, Y, client=client, epochs=4, eta=0.05, batch_size=100,
                       optimizer="adam")
    path = tmp_path / "adam.ckpt"
    fd.train(part, X, Y, client=client, epochs=4, eta=0.05, batch_size=100, optimizer="adam",
             checkpoint=path, callback=lambda epoch, history: epoch == 2)
    _, state, _, _, _ = read_checkpoint(path)
    assert state.optimizer == "adam" and state.optimizer_arrays["steps"][0] == 2 * 3
    resumed, resumed_history = fd.resume(path, X, Y, client=client)
    assert np.array_equal(resumed.params, whole.params)
    assert resumed_history.cost == history.cost
    for name, array in history.optimizer.arrays.items():
        assert np.array_equal(resumed_history.optimizer.arrays[name], array)


def test_average_mode_refuses_an_optimizer_with_state(client):
    X, Y, _, _ = synthetic(100, chunk=50)
    net = fastnn.Network(SIZES, seed=1)
    before = net.params.copy()
    with pytest.raises(ValueError, match="needs mode='gradient'"):
        fd.train(net, X, Y, client=client, mode="average", epochs=1, eta=0.1, optimizer="adam")
    assert np.array_equal(net.params, before)


def test_gradient_mode_cross_entropy_float32(client):
    X, Y, Xn, Yn = synthetic(300, chunk=128)
    net = fastnn.Network(SIZES, seed=2, cost="cross_entropy", dtype=np.float32)
    reference = net.copy()
    fd.train(net, X.astype(np.float32), Y, client=client, epochs=2, eta=0.5)
    reference.train(Xn.astype(np.float32), Yn, epochs=2, eta=0.5, batch_size=300,
                    shuffle=False)
    np.testing.assert_allclose(net.params, reference.params, rtol=2e-5, atol=2e-6)


def test_average_mode_is_deterministic_and_learns(client):
    X, Y, Xn, Yn = synthetic(1200, chunk=300)
    start = fastnn.Network(SIZES, seed=4)
    runs = []
    for seed in (7, 7, 8):
        net = start.copy()
        history = fd.train(net, X, Y, client=client, mode="average", epochs=3, eta=3.0,
                           batch_size=10, seed=seed)
        runs.append(net.params.copy())
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    assert history.cost[-1] < history.cost[0] and history.rounds == 3
    assert net.evaluate(Xn, Yn) > start.evaluate(Xn, Yn) + 0.05


@pytest.mark.parametrize("average_every", [None, 4])
def test_average_mode_is_the_weighted_mean_of_the_chunks_sgd(client, average_every):
    """One epoch, computed here by hand: each chunk's EpochPlan SGD from the
    shared parameters, in its seeded order, the copies averaged weighted by
    rows; with average_every=k, in rounds of k batches of every chunk."""
    X, Y, Xn, Yn = synthetic(250, chunk=100)
    net = fastnn.Network(SIZES, seed=5)
    expected = net.params.copy()
    entropy = np.random.SeedSequence(3).entropy
    bounds = [(0, 100), (100, 200), (200, 250)]
    orders = []
    for c, (lo, hi) in enumerate(bounds):
        seed = np.random.SeedSequence(entropy, spawn_key=(0, 0, c)).generate_state(1)[0]
        order = np.arange(hi - lo, dtype=np.int64)
        fastnn.kernels.shuffle_order(order, np.uint32(seed))
        orders.append(order + lo)
    span = 100 if average_every is None else average_every * 10
    for start in range(0, 100, span):
        total, rows = np.zeros(net.n_params), 0
        for order in orders:
            part = order[start:start + span]
            if part.size == 0:
                continue
            params = expected.copy()
            plan = fastnn.plan.EpochPlan(SIZES, 10, np.float64, part.size, 1)
            plan.run(params, Xn[part], np.eye(4)[Yn[part]], np.arange(part.size), 3.0,
                     n_train=250)
            total += params * part.size
            rows += part.size
        expected = total / rows
    history = fd.train(net, X, Y, client=client, mode="average", epochs=1, eta=3.0,
                       batch_size=10, seed=3, average_every=average_every)
    np.testing.assert_array_equal(net.params, expected)
    assert history.rounds == (1 if average_every is None else 3)


def test_activations_softmax_and_dropout_in_both_modes(client):
    """Issue 23: the gradient mode trains any activation and a softmax
    output as Network.train's full batch does; the average mode drops units
    as Network's epoch does, each chunk drawing the masks of its rows of the
    whole data set (computed here by hand); the gradient mode refuses
    dropout, naming the mode that has it."""
    X, Y, Xn, Yn = synthetic(250, chunk=100)
    options = dict(activation="tanh", output="softmax", cost="cross_entropy")
    net = fastnn.Network(SIZES, seed=1, **options)
    reference = net.copy()
    fd.train(net, X, Y, client=client, epochs=2, eta=1.0)
    reference.train(Xn, Yn, epochs=2, eta=1.0, batch_size=250, shuffle=False)
    np.testing.assert_allclose(net.params, reference.params, rtol=1e-10, atol=1e-13)

    net = fastnn.Network(SIZES, seed=2, dropout=0.5, **options)
    with pytest.raises(ValueError, match="has dropout: train it with mode='average'"):
        fd.train(net, X, Y, client=client, epochs=1, eta=1.0)
    expected = net.params.copy()
    entropy = np.random.SeedSequence(3).entropy
    key = fastnn.kernels.dropout.epoch_key(fastnn.run_state.dropout_seed(entropy), 0)
    total = np.zeros(net.n_params)
    for c, (lo, hi) in enumerate([(0, 100), (100, 200), (200, 250)]):
        seed = np.random.SeedSequence(entropy, spawn_key=(0, 0, c)).generate_state(1)[0]
        order = np.arange(hi - lo, dtype=np.int64)
        fastnn.kernels.shuffle_order(order, np.uint32(seed))
        params = expected.copy()
        plan = fastnn.plan.EpochPlan(SIZES, 10, np.float64, hi - lo, 1, neurons=net.neurons)
        plan.run(params, Xn[lo:hi], np.eye(4)[Yn[lo:hi]], order, 3.0, n_train=250,
                 dropout_key=key, first_row=lo)
        total += params * (hi - lo)
    fd.train(net, X, Y, client=client, mode="average", epochs=1, eta=3.0, batch_size=10,
             seed=3)
    np.testing.assert_array_equal(net.params, total / 250)


def test_average_every_more_than_an_epoch_is_once_per_epoch(client):
    X, Y, _, _ = synthetic(250, chunk=100)
    start = fastnn.Network(SIZES, seed=5)
    results = []
    for every in (None, 10, 2):
        net = start.copy()
        fd.train(net, X, Y, client=client, mode="average", epochs=2, eta=3.0, batch_size=10,
                 seed=3, average_every=every)
        results.append(net.params)
    assert np.array_equal(results[0], results[1])
    assert not np.array_equal(results[0], results[2])
    with pytest.raises(ValueError, match="average_every"):
        fd.train(start, X, Y, client=client, epochs=1, eta=1.0, average_every=2)


@pytest.mark.slow
def test_average_mode_within_a_point_of_single_process_on_digits(client):
    X_train, y_train, X_test, y_test = fastnn.datasets.load_digits(dtype=np.float32)
    half = -(-len(X_train) // 2)
    X = da.from_array(X_train, chunks=(half, 64))
    Y = da.from_array(y_train, chunks=half)
    ours, theirs = [], []
    for seed in (0, 1, 2):
        net = fastnn.Network([64, 30, 10], seed=seed, dtype=np.float32)
        reference = net.copy()
        fd.train(net, X, Y, client=client, mode="average", epochs=30, batch_size=10, eta=3.0,
                 seed=seed)
        reference.train(X_train, y_train, epochs=30, batch_size=10, eta=3.0, seed=seed)
        ours.append(net.evaluate(X_test, y_test))
        theirs.append(reference.evaluate(X_test, y_test))
    assert np.mean(ours) >= np.mean(theirs) - 0.01, (ours, theirs)


def test_bad_data_is_refused_with_a_clear_error(client):
    X, Y, Xn, Yn = synthetic(200, chunk=100)
    net = fastnn.Network(SIZES, seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="chunked along its columns"):
        fd.train(net, X.rechunk((100, 6)), Y, client=client, epochs=1, eta=1.0)
    with pytest.raises(ValueError, match="row chunks"):
        fd.train(net, X, Y.rechunk(50), client=client, epochs=1, eta=1.0)
    with pytest.raises(TypeError, match="dask array"):
        fd.train(net, Xn, Y, client=client, epochs=1, eta=1.0)
    with pytest.raises(ValueError, match="mode"):
        fd.train(net, X, Y, client=client, mode="sync", epochs=1, eta=1.0)
    with pytest.raises(ValueError, match="features"):
        fd.train(fastnn.Network([5, 2]), X, Y, client=client, epochs=1, eta=1.0)
    # checked where the chunks live, before the first step
    with pytest.raises(ValueError, match=r"lie in \[0, 4\)"):
        fd.train(net, X, Y + 3, client=client, epochs=1, eta=1.0)
    with pytest.raises(ValueError, match="contains inf"):
        fd.train(net, X / (X > 0.5), Y, client=client, epochs=1, eta=1.0)
    assert np.array_equal(net.params, before)


@pytest.mark.slow
def test_bitwise_the_same_with_one_and_two_workers(client):
    X, Y, _, _ = synthetic(900, chunk=128)
    start = fastnn.Network(SIZES, seed=6)
    results = {}
    with _cluster(1) as cluster, distributed.Client(cluster) as one:
        for name, c in (("one", one), ("two", client)):
            for mode in fd.MODES:
                net = start.copy()
                fd.train(net, X, Y, client=c, mode=mode, epochs=3, eta=2.0, seed=1,
                         batch_size=None if mode == "gradient" else 10)
                results[name, mode] = net.params
            net = start.copy()
            fd.train(net, X, Y, client=c, mode="average", epochs=2, eta=2.0, seed=1,
                     replicas=2)
            results[name, "replicas"] = net.params
    for mode in fd.MODES + ("replicas",):
        assert np.array_equal(results["one", mode], results["two", mode]), mode


def _fault_data():
    # rounds of ~0.2-0.5 s on two workers: long enough to kill one inside
    return synthetic(40_000, d=100, chunk=5_000, n_classes=10, seed=11)[:2]


def _undisturbed(mode):
    X, Y = _fault_data()
    net = fastnn.Network([100, 200, 10], seed=1)
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        history = fd.train(net, X, Y, client=client, mode=mode, epochs=3, eta=1.0, seed=0)
    return net, history


@pytest.mark.slow
@pytest.mark.parametrize("mode", fd.MODES)
def test_a_worker_closed_between_rounds(mode):
    expected, _ = _undisturbed(mode)
    X, Y = _fault_data()
    net = fastnn.Network([100, 200, 10], seed=1)
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        def close_one(epoch, history):
            if epoch == 1:  # its chunks are lost: recomputed from the generator
                cluster.sync(cluster.workers[sorted(cluster.workers)[0]].close)

        history = fd.train(net, X, Y, client=client, mode=mode, epochs=3, eta=1.0, seed=0,
                           callback=close_one)
        assert len(client.scheduler_info()["workers"]) == 1
    assert history.workers[0] == 2 and history.workers[-1] == 1
    assert np.array_equal(net.params, expected.params)


@pytest.mark.slow
@pytest.mark.parametrize("mode", fd.MODES)
def test_a_worker_killed_in_the_middle_of_a_round(mode):
    expected, _ = _undisturbed(mode)
    X, Y = _fault_data()
    net = fastnn.Network([100, 200, 10], seed=1)
    killed = []
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        task = "chunk_gradient" if mode == "gradient" else "chunk_sgd"

        def kill_when_busy(victim):
            # wait until the victim runs one of the round's tasks, then exit
            # its process at once (its nanny starts a new one)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                busy = client.processing().get(victim, ())
                if any(str(key).startswith(task) for key in busy):
                    killed.append(time.perf_counter())
                    try:
                        client.run(os._exit, 1, workers=[victim])
                    except Exception:  # the worker's connection closes under the call
                        pass
                    return
                time.sleep(0.002)

        def start_killer(epoch, history):
            if epoch == 1:
                victim = sorted(client.scheduler_info()["workers"])[0]
                threading.Thread(target=kill_when_busy, args=(victim,), daemon=True).start()

        history = fd.train(net, X, Y, client=client, mode=mode, epochs=3, eta=1.0, seed=0,
                           callback=start_killer)
    assert killed, "the worker was never seen running a task of the round"
    inside = [s <= killed[0] <= s + d for s, d in zip(history.round_started,
                                                      history.round_seconds)]
    assert any(inside), "the kill did not fall inside a round"
    assert np.array_equal(net.params, expected.params)


@pytest.mark.slow
@pytest.mark.parametrize("mode", fd.MODES)
def test_checkpoint_and_resume_bitwise(client, tmp_path, mode):
    X, Y, _, _ = synthetic(600, chunk=150)
    start = fastnn.Network(SIZES, seed=8)
    whole = start.copy()
    history = fd.train(whole, X, Y, client=client, mode=mode, epochs=4, eta=2.0, seed=5,
                       batch_size=200)
    path = tmp_path / "run.ckpt"
    part = start.copy()
    fd.train(part, X, Y, client=client, mode=mode, epochs=4, eta=2.0, seed=5, batch_size=200,
             checkpoint=path, callback=lambda epoch, history: epoch == 2)
    network, state, _, _, n_samples = read_checkpoint(path)  # fastnn's own reader
    assert state.epochs_done == 2 and n_samples == 600
    assert np.array_equal(network.params, part.params)
    resumed, resumed_history = fd.resume(path, X, Y, client=client)
    assert np.array_equal(resumed.params, whole.params)
    assert resumed_history.cost == history.cost
    with pytest.raises(ValueError, match="not the data"):
        fd.resume(path, X.rechunk(200), Y.rechunk(200), client=client)
    with pytest.raises(ValueError, match="not the data"):
        fd.resume(path, X, (Y + 1) % 4, client=client)


def test_checkpoint_has_every_entry_of_fastnns_format(client, tmp_path):
    X, Y, Xn, Yn = synthetic(200, chunk=100)
    net = fastnn.Network(SIZES, seed=0)
    ours = tmp_path / "dask.ckpt"
    fd.train(net, X, Y, client=client, epochs=1, eta=1.0, checkpoint=ours)
    theirs = tmp_path / "plain.ckpt"
    net.copy().train(Xn, Yn, epochs=1, checkpoint=theirs)
    with np.load(ours) as a, np.load(theirs) as b:
        assert set(b.files) <= set(a.files)
    with pytest.raises(ValueError, match="Network.train"):
        fd.resume(theirs, X, Y, client=client)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*maximum number of iterations")
def test_estimators_under_joblib_dask_backend_in_grid_search(client):
    joblib = pytest.importorskip("joblib")
    model_selection = pytest.importorskip("sklearn.model_selection")
    from sklearn.base import is_classifier

    X_train, y_train, _, _ = fastnn.datasets.load_digits()
    X_train, y_train = X_train[:600], y_train[:600]
    for estimator, grid in (
            (fastnn.MLPClassifier(hidden_layer_sizes=(20,), max_iter=5, random_state=0),
             {"learning_rate_init": [1.0, 3.0], "batch_size": [10, 50]}),
            (fastnn.MLPRegressor(hidden_layer_sizes=(10,), max_iter=5, random_state=0),
             {"learning_rate_init": [0.5, 2.0]})):
        y = y_train if is_classifier(estimator) else X_train[:, 20]
        serial = model_selection.GridSearchCV(estimator, grid, cv=3).fit(X_train, y)
        with joblib.parallel_backend("dask"):
            search = model_selection.GridSearchCV(estimator, grid, cv=3, n_jobs=-1)
            search.fit(X_train, y)
        np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                                   serial.cv_results_["mean_test_score"], rtol=1e-6)
        assert search.best_params_ == serial.best_params_


@pytest.mark.slow
def test_classifier_under_dask_ml_incremental(client):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X_train, y_train, X_test, y_test = fastnn.datasets.load_digits()
    X = da.from_array(X_train, chunks=(300, 64))
    y = da.from_array(y_train, chunks=300)
    model = wrappers.Incremental(fastnn.MLPClassifier(hidden_layer_sizes=(30,), random_state=0),
                                 scoring="accuracy")
    for _ in range(10):
        model.partial_fit(X, y, classes=np.arange(10))
    assert model.score(da.from_array(X_test), da.from_array(y_test)) > 0.85


# ---------------------------------------------------------------------------
# The faults between the loop's parts (issue 22; docs/reliability.md)
# ---------------------------------------------------------------------------
def test_fastnn_resume_of_a_dask_checkpoint_names_fastnn_dask_resume(client, tmp_path):
    X, Y, Xn, Yn = synthetic(200, chunk=100)
    path = tmp_path / "dask.ckpt"
    fd.train(fastnn.Network(SIZES, seed=0), X, Y, client=client, epochs=1, eta=1.0,
             checkpoint=path)
    with pytest.raises(ValueError, match="fastnn.dask.resume"):
        fastnn.resume(path, Xn, Yn)


@pytest.mark.slow
def test_a_lost_worker_with_no_retries_restores_the_epoch_and_names_the_worker():
    """retries=0 and every worker killed in the middle of epoch 2's third
    round: WorkerLostError naming the workers, and the parameters of epoch 1
    (not those of the rounds epoch 2 had taken)."""
    X, Y = _fault_data()
    net = fastnn.Network([100, 200, 10], seed=1)
    after_epoch_1 = {}
    killed = []
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        def kill_in_epoch_2(history, rounds_before):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if len(history.round_started) >= rounds_before + 2 and client.processing():
                    workers = sorted(client.scheduler_info()["workers"])
                    killed.extend(workers)
                    try:
                        client.run(os._exit, 1, workers=workers)
                    except Exception:  # the connections close under the call
                        pass
                    return
                time.sleep(0.002)

        def start_killer(epoch, history):
            if epoch == 1:
                after_epoch_1["params"] = net.params.copy()
                threading.Thread(target=kill_in_epoch_2, daemon=True,
                                 args=(history, len(history.round_started))).start()

        with pytest.raises(Exception) as raised:
            fd.train(net, X, Y, client=client, mode="gradient", batch_size=10_000, epochs=3,
                     eta=1.0, retries=0, callback=start_killer)
    assert killed, "no round of epoch 2 was seen running"
    assert np.array_equal(net.params, after_epoch_1["params"])
    assert type(raised.value).__name__ == "WorkerLostError", repr(raised.value)
    assert "retries=0" in str(raised.value)
    assert any(worker in str(raised.value) for worker in killed), str(raised.value)
