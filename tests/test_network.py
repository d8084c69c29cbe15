"""The Network wrapper: shapes, training against the reference, bad input, files."""
import os
import pickle

import numba
import numpy as np
import pytest

import fastnn
from fastnn import kernels

import naive


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.random((23, 5))
    labels = rng.integers(0, 3, size=23)
    return X, labels


def test_parameters_are_views_in_the_documents_order():
    net = fastnn.Network([3, 4, 2], seed=0)
    assert net.sizes == (3, 4, 2)
    assert [w.shape for w in net.weights] == [(4, 3), (2, 4)]
    assert [b.shape for b in net.biases] == [(4,), (2,)]
    assert net.n_params == 3 * 4 + 4 * 2 + 4 + 2
    for array in net.weights + net.biases:
        assert np.shares_memory(array, net.params)
    net.weights[1][1, 3] = 123.0
    assert net.params[12 + 7] == 123.0
    net.biases[0][0] = -7.0
    assert net.params[20] == -7.0


def test_initialisation_is_seeded_and_scaled():
    a = fastnn.Network([100, 50, 10], seed=3)
    b = fastnn.Network([100, 50, 10], seed=3)
    c = fastnn.Network([100, 50, 10], seed=4)
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    # w ~ N(0, 1/fan_in): the sample standard deviation is near 1/sqrt(100)
    assert np.std(a.weights[0]) == pytest.approx(0.1, rel=0.1)
    assert np.std(a.weights[1]) == pytest.approx(1 / np.sqrt(50), rel=0.2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_feedforward_shapes_and_values(dtype):
    rng = np.random.default_rng(1)
    net = fastnn.Network([6, 5, 4, 3], seed=1, dtype=dtype)
    X = rng.random((2500, 6))  # more than one internal chunk of 1024
    out = net.feedforward(X)
    assert out.shape == (2500, 3) and out.dtype == dtype
    expected = np.array([naive.feedforward(net.weights, net.biases, x) for x in X[:50]])
    np.testing.assert_allclose(out[:50], expected, rtol=1e-5 if dtype == np.float32 else 1e-13)
    single = net.feedforward(X[7])
    assert single.shape == (3,)
    # Alone or in a block of four or six, a sample's sums are vectorized
    # differently: equal to the last bit or two, not bitwise (the docstring).
    last_bits = dict(rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(single, out[7], **last_bits)
    np.testing.assert_allclose(net.feedforward(X[-3:]), out[-3:], **last_bits)
    # Fortran order and int inputs are converted, not rejected
    np.testing.assert_array_equal(net.feedforward(np.asfortranarray(X[:9])),
                                  net.feedforward(X[:9]))
    assert net.feedforward(np.ones((2, 6), dtype=np.int32)).shape == (2, 3)


def test_cost_matches_reference(data):
    X, labels = data
    net = fastnn.Network([5, 4, 3], seed=2)
    Y = np.eye(3)[labels]
    expected = naive.cost(net.weights, net.biases, X, Y)
    assert net.cost(X, Y) == pytest.approx(expected, rel=1e-13)
    assert net.cost(X, labels) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("batch_size", [1, 4, 5, 23, 100])
def test_training_matches_reference(data, batch_size):
    X, labels = data
    net = fastnn.Network([5, 6, 3], seed=3)
    Y = np.eye(3)[labels]
    orders = [np.arange(len(X))] * 3
    expected_w, expected_b = naive.train(net.weights, net.biases, X, Y, 3, batch_size, 2.5, orders)
    history = net.train(X, labels, epochs=3, batch_size=batch_size, eta=2.5, shuffle=False)
    for got, want in zip(net.weights + net.biases, expected_w + expected_b):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert history.epochs == 3 and len(history.seconds) == 3
    assert history.test_accuracy == []


def test_shuffled_training_matches_reference_in_the_same_order(data):
    """The order comes from kernels.shuffle_order with the per-epoch seeds
    train() derives from its seed; the reference visits the same order."""
    X, labels = data
    net = fastnn.Network([5, 6, 3], seed=3)
    epoch_seeds = np.random.SeedSequence(11).generate_state(2)
    orders = []
    for seed in epoch_seeds:
        order = np.empty(len(X), dtype=np.int64)
        kernels.shuffle_order(order, seed)
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])
    expected_w, expected_b = naive.train(net.weights, net.biases, X, np.eye(3)[labels],
                                         2, 4, 1.5, orders)
    net.train(X, labels, epochs=2, batch_size=4, eta=1.5, seed=11)
    for got, want in zip(net.weights + net.biases, expected_w + expected_b):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [(7, 3), (7, 6, 3), (7, 9, 5, 3)])
@pytest.mark.parametrize("n_samples", [1, kernels.LOOKAHEAD - 1, kernels.LOOKAHEAD,
                                       kernels.LOOKAHEAD + 1, 3 * kernels.LOOKAHEAD + 5])
def test_per_sample_training_matches_reference_across_blocks(dtype, sizes, n_samples):
    """Batch 1 defers layer 1's steps over blocks of LOOKAHEAD samples
    (train_epoch_per_sample); the reference takes every step at once. Sample
    counts around the block size exercise full, short and single blocks;
    (7, 3) has layer 1 as its output layer, (7, 9, 5, 3) two layers after it.
    Inputs up to 2 and eta 4 make the steps large, so that a correction
    applied to the wrong samples could not hide in the tolerance."""
    rng = np.random.default_rng(n_samples)
    X = 2 * rng.random((n_samples, sizes[0]))
    labels = rng.integers(0, sizes[-1], n_samples)
    net = fastnn.Network(list(sizes), seed=1, dtype=dtype)
    order = rng.permutation(n_samples)
    orders = [order, order[::-1]]
    expected_w, expected_b = naive.train(net.weights, net.biases, X.astype(dtype),
                                         np.eye(sizes[-1])[labels], 2, 1, 4.0, orders)
    # Epoch 1 visits `order`, epoch 2 its reverse: train on the samples laid
    # out in those orders, one epoch each, without shuffling.
    net.train(X[order], labels[order], epochs=1, batch_size=1, eta=4.0, shuffle=False)
    net.train(X[order[::-1]], labels[order[::-1]], epochs=1, batch_size=1, eta=4.0,
              shuffle=False)
    # float32 rounding, amplified by two epochs of large steps, reaches 3e-4
    # (without JIT); a misapplied correction is off by more than 1e-2.
    tolerance = dict(rtol=1e-11, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-3, atol=2e-3)
    for got, want in zip(net.weights + net.biases, expected_w + expected_b):
        np.testing.assert_allclose(got, want, **tolerance)


def test_training_is_reproducible_and_seed_dependent(data):
    X, labels = data
    runs = []
    for seed in (5, 5, 6):
        net = fastnn.Network([5, 6, 3], seed=0)
        net.train(X, labels, epochs=2, batch_size=4, eta=1.0, seed=seed)
        runs.append(net.params.copy())
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_history_records_cost_and_test_accuracy(data):
    X, labels = data
    net = fastnn.Network([5, 8, 3], seed=0)
    calls = []
    history = net.train(X, labels, epochs=4, batch_size=3, eta=3.0, test_data=(X, labels),
                        callback=lambda epoch, h: calls.append(epoch))
    assert calls == [1, 2, 3, 4]
    assert len(history.cost) == 4 and len(history.test_accuracy) == 4
    assert history.test_accuracy[-1] == net.evaluate(X, labels)
    assert all(0 <= value <= 1 for value in history.test_accuracy)
    assert history.cost[-1] < history.cost[0]


def test_callback_returning_true_stops_training(data):
    X, labels = data
    net = fastnn.Network([5, 3], seed=0)
    history = net.train(X, labels, epochs=10, batch_size=5, eta=1.0,
                        callback=lambda epoch, h: epoch == 2)
    assert history.epochs == 2


def test_evaluate_counts_argmax_matches():
    net = fastnn.Network([2, 3], seed=0)
    net.weights[0][...] = 0
    net.biases[0][...] = [0.0, 5.0, -5.0]   # always predicts class 1
    X = np.zeros((4, 2))
    assert net.evaluate(X, [1, 1, 0, 2]) == 0.5
    assert np.array_equal(net.predict(X), [1, 1, 1, 1])


# (sizes, batch size): threaded kernels per layer (train_epoch), and
# threads kept for the epoch with layer 1 split between them
# (train_epoch_shared).
THREADED_TRAINING = [([200, 128, 64, 10], 64), ([200, 40, 10], 10), ([200, 40, 10], 1)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sizes, batch_size", THREADED_TRAINING, ids=str)
def test_training_is_bitwise_identical_with_one_and_two_threads(threads, sizes, batch_size):
    """The threaded kernels split samples or rows j, never a sum: the result
    cannot depend on how many threads there are."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba sees a single core")
    rng = np.random.default_rng(9)
    X = rng.random((300, 200), dtype=np.float32)
    labels = rng.integers(0, 10, size=300)
    results = {}
    previous = numba.get_num_threads()
    try:
        for count in (threads, 3 - threads):
            numba.set_num_threads(count)
            net = fastnn.Network(sizes, seed=1, dtype=np.float32)
            net.train(X, labels, epochs=2, batch_size=batch_size, eta=0.5, seed=2)
            results[count] = net.params.copy()
    finally:
        numba.set_num_threads(previous)
    # threads really used
    if fastnn.kernels.use_shared_epoch(sizes, batch_size):
        assert sizes[1] >= 16  # two parts of layer 1's rows
    else:
        assert batch_size * sizes[1] * sizes[0] >= fastnn.kernels.PARALLEL_MIN_WORK
    assert np.array_equal(results[1], results[2])


# -- bad input: a clear error, and the network as it was -----------------------
BAD_TRAIN_CALLS = {
    "X wrong width": (dict(X=np.zeros((4, 4))), ValueError, "features"),
    "X 3-D": (dict(X=np.zeros((4, 5, 1))), ValueError, "shape"),
    "X empty": (dict(X=np.zeros((0, 5)), Y=np.zeros(0, dtype=int)), ValueError, "empty"),
    "X NaN": (dict(X=np.where(np.eye(4, 5) > 0, np.nan, 0.5)), ValueError, "NaN"),
    "X inf": (dict(X=np.full((4, 5), np.inf)), ValueError, "inf"),
    "X strings": (dict(X=np.array([["a"] * 5] * 4)), TypeError, "real numbers"),
    "Y wrong length": (dict(Y=np.array([0, 1, 2])), ValueError, "4 samples"),
    "Y wrong width": (dict(Y=np.zeros((4, 2))), ValueError, "shape"),
    "Y NaN": (dict(Y=np.full((4, 3), np.nan)), ValueError, "NaN"),
    "label too large": (dict(Y=np.array([0, 1, 3, 0])), ValueError, "[0, 3)"),
    "label negative": (dict(Y=np.array([0, -1, 2, 0])), ValueError, "[0, 3)"),
    "label not whole": (dict(Y=np.array([0, 1.5, 2, 0])), ValueError, "whole"),
    "batch_size 0": (dict(batch_size=0), ValueError, "batch_size"),
    "batch_size float": (dict(batch_size=2.0), TypeError, "batch_size"),
    "eta 0": (dict(eta=0.0), ValueError, "eta"),
    "eta negative": (dict(eta=-1.0), ValueError, "eta"),
    "eta NaN": (dict(eta=float("nan")), ValueError, "eta"),
    "epochs 0": (dict(epochs=0), ValueError, "epochs"),
    "test labels out of range": (dict(test_data=(np.zeros((2, 5)), [0, 9])), ValueError, "[0, 3)"),
    "test X wrong width": (dict(test_data=(np.zeros((2, 4)), [0, 1])), ValueError, "features"),
    "test_data not a pair": (dict(test_data=np.zeros((2, 5))), TypeError, "pair"),
    "shuffle str": (dict(shuffle="no"), TypeError, "shuffle"),
    "epochs huge": (dict(epochs=10**11), ValueError, "at most"),
    "seed negative": (dict(seed=-1), TypeError, "seed"),
    "seed str": (dict(seed="a"), TypeError, "seed"),
    "checkpoint_every 0": (dict(checkpoint_every=0), ValueError, "checkpoint_every"),
    "on_divergence unknown": (dict(on_divergence="ignore"), ValueError, "on_divergence"),
    "progress not callable": (dict(progress=3), TypeError, "progress"),
    "eta beyond float32": (dict(eta=1e300, dtype=np.float32), ValueError, "float32"),
    "lmbda negative": (dict(lmbda=-0.1), ValueError, "lmbda"),
    "lmbda NaN": (dict(lmbda=float("nan")), ValueError, "lmbda"),
    "lmbda str": (dict(lmbda="1"), TypeError, "lmbda"),
    "lmbda decays to zero": (dict(lmbda=4.0), ValueError, "1 - eta lmbda / n"),
    "sample_weight short": (dict(sample_weight=[1, 1, 1]), ValueError, "one weight per sample"),
    "sample_weight negative": (dict(sample_weight=[1, -1, 1, 1]), ValueError, ">= 0"),
    "sample_weight NaN": (dict(sample_weight=[1, np.nan, 1, 1]), ValueError, "NaN"),
    "sample_weight all zero": (dict(sample_weight=np.zeros(4)), ValueError, "0 for every"),
    "sample_weight str": (dict(sample_weight=["a"] * 4), TypeError, "real numbers"),
}


@pytest.mark.parametrize("case", list(BAD_TRAIN_CALLS), ids=str)
def test_bad_training_input_raises_and_leaves_network_unchanged(case):
    overrides, error, message = BAD_TRAIN_CALLS[case]
    arguments = dict(X=np.full((4, 5), 0.5), Y=np.array([0, 1, 2, 0]), epochs=1,
                     batch_size=2, eta=1.0)
    arguments.update(overrides)
    net = fastnn.Network([5, 4, 3], seed=0, dtype=arguments.pop("dtype", np.float64))
    before = net.params.copy()
    with pytest.raises(error, match=message.replace("[", r"\[").replace(")", r"\)")):
        net.train(arguments.pop("X"), arguments.pop("Y"), **arguments)
    assert np.array_equal(net.params, before)


@pytest.mark.parametrize(
    "sizes, error",
    [([3], ValueError), ([3, 0, 2], ValueError), ([3, -1], ValueError),
     ([3, 2.5], TypeError), ([3, 2.0], TypeError), ([3, True], TypeError),
     ("32", TypeError), (5, TypeError)],
    ids=str,
)
def test_bad_sizes_are_rejected(sizes, error):
    with pytest.raises(error, match="sizes"):
        fastnn.Network(sizes)


def test_numpy_integer_sizes_are_accepted():
    assert fastnn.Network(np.array([4, 3, 2]), seed=0).sizes == (4, 3, 2)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, "complex128", "nonsense"])
def test_bad_dtype_is_rejected(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        fastnn.Network([2, 2], dtype=dtype)


def test_other_methods_reject_bad_input_without_side_effects():
    net = fastnn.Network([3, 2], seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="features"):
        net.feedforward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        net.gradient(np.array([0.0, np.nan, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="one sample"):
        net.backprop(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        net.evaluate(np.zeros((2, 3)), [0, 2])
    with pytest.raises(ValueError, match="shape"):
        net.cost(np.zeros((2, 3)), np.zeros((2, 5)))
    assert np.array_equal(net.params, before)


# -- the objective (docs/theory.md §10) -------------------------------------------
OTHER_RULES = [("cross_entropy", "sigmoid"), ("quadratic", "identity")]


@pytest.mark.parametrize("cost, output", OTHER_RULES)
def test_the_objective_survives_save_load_pickle_copy_and_checkpoints(tmp_path, cost, output):
    import pickle

    net = fastnn.Network([5, 4, 3], cost=cost, output=output, seed=0)
    X = np.random.default_rng(0).random((8, 5))
    assert repr(net) == f"Network(sizes=[5, 4, 3], cost={cost!r}, output={output!r}, dtype=float64)"
    for twin in (fastnn.load(net.save(tmp_path / "model")), pickle.loads(pickle.dumps(net)),
                 net.copy()):
        assert (twin.cost_name, twin.output) == (cost, output)
        assert np.array_equal(twin.feedforward(X), net.feedforward(X))
    path = tmp_path / "run.npz"
    net.train(X, np.arange(8) % 3, epochs=2, batch_size=3, lmbda=0.5, seed=4, checkpoint=path)
    resumed, history = fastnn.resume(path, X, np.arange(8) % 3, epochs=3)
    assert (resumed.cost_name, resumed.output) == (cost, output)
    again = fastnn.Network([5, 4, 3], cost=cost, output=output, seed=0)
    again.train(X, np.arange(8) % 3, epochs=3, batch_size=3, lmbda=0.5, seed=4)
    assert np.array_equal(resumed.params, again.params)  # lmbda came back too


def test_files_of_a_quadratic_sigmoid_network_are_as_before(tmp_path):
    """No cost/output entries for the default (so older fastnn still reads
    the file), and a file without them loads as quadratic/sigmoid."""
    import zipfile

    path = fastnn.Network([3, 2], seed=0).save(tmp_path / "plain")
    assert sorted(zipfile.ZipFile(path).namelist()) == [
        "biases_0.npy", "dtype.npy", "format_version.npy", "sizes.npy", "weights_0.npy"]
    loaded = fastnn.load(path)
    assert (loaded.cost_name, loaded.output) == ("quadratic", "sigmoid")
    other = fastnn.Network([3, 2], cost="cross_entropy", seed=0).save(tmp_path / "ce")
    assert {"cost.npy", "output.npy"} <= set(zipfile.ZipFile(other).namelist())


def test_a_file_with_an_impossible_objective_is_refused(tmp_path):
    arrays = dict(np.load(fastnn.Network([3, 2], output="identity", seed=0).save(
        tmp_path / "model")))
    arrays["cost"] = np.array("cross_entropy")
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="not a valid fastnn model.*needs output='sigmoid'"):
        fastnn.load(tmp_path / "bad.npz")


def test_identity_output_regresses_beyond_the_unit_interval():
    """A regression target of 50 is out of reach of a sigmoid output; the
    identity output fits it (the reason the regressor uses it)."""
    rng = np.random.default_rng(1)
    X = rng.random((200, 3))
    y = (40 * X[:, :1] - 20 * X[:, 1:2] + 10).astype(np.float64)
    net = fastnn.Network([3, 8, 1], output="identity", seed=0)
    net.train(X, y, epochs=200, batch_size=10, eta=0.02, seed=0)
    residual = net.feedforward(X) - y
    assert np.sqrt(np.mean(residual ** 2)) < 0.05 * np.std(y)


def test_l2_shrinks_the_weights_and_leaves_lmbda_zero_as_before():
    rng = np.random.default_rng(2)
    X, labels = rng.random((60, 5)), rng.integers(0, 3, 60)
    plain = fastnn.Network([5, 6, 3], seed=0)
    zero = plain.copy()
    decayed = plain.copy()
    plain.train(X, labels, epochs=5, seed=1)
    zero.train(X, labels, epochs=5, seed=1, lmbda=0.0)
    decayed.train(X, labels, epochs=5, seed=1, lmbda=5.0)
    assert np.array_equal(zero.params, plain.params)
    norm = lambda net: sum(float(np.sum(w ** 2)) for w in net.weights)  # noqa: E731
    assert norm(decayed) < 0.8 * norm(plain)


def test_cross_entropy_escapes_the_saturation_that_stalls_the_quadratic_cost():
    """Outputs pinned at the wrong end by huge weights: the quadratic cost's
    delta (a - y) a (1 - a) is ~0 and training stalls; the cross-entropy's
    a - y is not."""
    X = np.eye(4)
    labels = np.array([0, 1, 0, 1])
    results = {}
    for cost in ("quadratic", "cross_entropy"):
        net = fastnn.Network([4, 2], cost=cost, seed=0)
        net.weights[0][...] = 0
        net.biases[0][...] = [-30.0, 30.0]  # every output says class 1, pinned
        net.train(X, labels, epochs=50, batch_size=4, eta=3.0, shuffle=False,
                  on_divergence="stop")
        results[cost] = net.evaluate(X, labels)
    assert results == {"quadratic": 0.5, "cross_entropy": 1.0}


# -- files -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_save_load_roundtrip_is_bitwise(tmp_path, dtype):
    rng = np.random.default_rng(4)
    net = fastnn.Network([7, 5, 4, 2], seed=4, dtype=dtype)
    net.train(rng.random((30, 7)), rng.integers(0, 2, 30), epochs=1, batch_size=4, eta=1.0)
    written = net.save(tmp_path / "model")
    assert written == str(tmp_path / "model.npz")
    loaded = fastnn.load(written)
    assert loaded.sizes == net.sizes and loaded.dtype == net.dtype
    assert np.array_equal(loaded.params, net.params)
    X = rng.random((9, 7))
    assert np.array_equal(loaded.feedforward(X), net.feedforward(X))


def test_save_replaces_an_existing_file_whole(tmp_path):
    path = tmp_path / "model.npz"
    first = fastnn.Network([3, 2], seed=1)
    first.save(path)
    second = fastnn.Network([4, 3, 2], seed=2)
    second.save(path)
    assert fastnn.load(path).sizes == (4, 3, 2)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary left behind


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    fastnn.Network([3, 2], seed=1).save(path)
    original = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        fastnn.Network([4, 2], seed=2).save(path)
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


@pytest.mark.parametrize("damage", ["garbage", "missing biases", "wrong shape", "not npz",
                                    "flipped byte"])
def test_load_rejects_damaged_files(tmp_path, damage):
    path = tmp_path / "model.npz"
    net = fastnn.Network([3, 4, 2], seed=0)
    arrays = {"format_version": np.array(1), "sizes": np.array([3, 4, 2]),
              "dtype": np.array("float64"),
              "weights_0": net.weights[0], "biases_0": net.biases[0],
              "weights_1": net.weights[1], "biases_1": net.biases[1]}
    if damage == "garbage":
        path.write_bytes(b"this is not a model")
    elif damage == "flipped byte":
        # the zip directory stays valid; one array's data fails its CRC
        net.save(path)
        data = bytearray(path.read_bytes())
        position = data.index(b"\x93NUMPY", data.index(b"weights_1")) + 136
        data[position] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "not npz":
        np.save(tmp_path / "model.npy", np.zeros(3))
        path = tmp_path / "model.npy"
    else:
        if damage == "missing biases":
            del arrays["biases_1"]
        else:
            arrays["weights_1"] = np.zeros((4, 2))
        np.savez(path, **arrays)
    reason = {"garbage": "not a .npz", "missing biases": "no 'biases_1' entry",
              "wrong shape": "'weights_1' has shape", "not npz": "a single array",
              "flipped byte": "CRC"}[damage]
    with pytest.raises(ValueError, match=f"not a (valid )?fastnn model.*{reason}"):
        fastnn.load(path)


def test_load_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "nothing.npz")


def test_copy_is_independent():
    net = fastnn.Network([3, 2], seed=0)
    twin = net.copy()
    twin.weights[0][0, 0] += 1
    assert net.weights[0][0, 0] != twin.weights[0][0, 0]
    assert np.shares_memory(twin.weights[0], twin.params)


def test_network_pickles():
    net = fastnn.Network([3, 4, 2], seed=0, dtype=np.float32)
    clone = pickle.loads(pickle.dumps(net))
    assert np.array_equal(clone.params, net.params)
    clone.weights[0][0, 0] = 42.0
    assert clone.params[0] == 42.0  # views still point into the clone's params


KERNELS_ONLY_SCRIPT = """
import numpy as np
from fastnn import kernels
w, b = np.ones((30, 784)), np.ones(30)
a_prev, a, d = np.ones((10, 784)), np.empty((10, 30)), np.ones((10, 30))
kernels.forward_layer(w, b, a_prev, a, kernels.plain_rule(1, w.dtype), kernels.NO_ROWS)
kernels.backward_delta(w, d, a_prev, np.empty_like(a_prev), kernels.plain_rule(1, w.dtype),
                       kernels.NO_ROWS)
kernels.layer_gradient(d, a_prev, w, b, np.empty_like(w), np.empty_like(b), 0.1, 0.0, 1.0)
"""

TRAINING_SCRIPT = """
import numpy as np
import fastnn
rng = np.random.default_rng(0)
X = rng.random((300, 784))
for batch_size in (1, 10, 128):
    net = fastnn.Network([784, 30, 10], seed=0)
    net.train(X, rng.integers(0, 10, 300), epochs=1, batch_size=batch_size, eta=3.0, seed=0)
print(repr(net.feedforward(X[:3]).sum()))
"""


@pytest.mark.slow
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="exercises numba's disk cache")
def test_kernels_reload_from_the_cache_in_new_processes(tmp_path):
    """Three processes share one cache: the first calls the layer kernels
    directly, the second trains (compiling the callers), the third loads
    everything from the cache and trains again. Before the rule in _config.py
    (callers of threaded kernels are parallel themselves; numba#8578) the
    third process died with a segmentation fault."""
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), FASTNN_CACHE="1", FASTNN_PARALLEL="1")
    env.pop("FASTNN_CACHE_DIR", None)  # it would win over NUMBA_CACHE_DIR
    outputs = []
    for script in (KERNELS_ONLY_SCRIPT, TRAINING_SCRIPT, TRAINING_SCRIPT):
        result = subprocess.run([sys.executable, "-c", script], env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
        outputs.append(result.stdout)
    assert any(tmp_path.rglob("*.nbc"))
    assert outputs[1] == outputs[2]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_epochs_on_checked_data_equal_train_bitwise(optimizer):
    """The estimators' path (data checked once, later epochs without a
    warm-up batch: Network._train_checked) steps exactly as train does."""
    rng = np.random.default_rng(5)
    X = rng.random((57, 12))
    Y = rng.integers(0, 3, 57)
    by_train = fastnn.Network([12, 7, 3], seed=2)
    checked = by_train.copy()
    inputs, targets = checked.check_pair(X, Y)
    options = dict(epochs=1, batch_size=8, eta=0.5, lmbda=0.1, n_threads=2)
    state_train = state_checked = optimizer
    for epoch in range(3):
        history = by_train.train(X, Y, seed=epoch, optimizer=state_train, **options)
        state_train = history.optimizer or "sgd"
        history = checked._train_checked(inputs, targets, None, shuffle=True, seed=epoch,
                                         optimizer=state_checked, warm=epoch > 0, **options)
        state_checked = history.optimizer or "sgd"
        np.testing.assert_array_equal(checked.params, by_train.params)
    assert not np.array_equal(checked.params, fastnn.Network([12, 7, 3], seed=2).params)
