"""Every activation, the softmax output and dropout in the compiled epochs
and everywhere a network goes (docs/theory.md §11, §12): Network's
gradient against central differences of its cost, every epoch driver
against the reference epoch and bitwise across thread counts, networks
worked by hand, dropout's reproducibility, the initial weights, and
save, load, pickles and checkpoints."""
import pickle
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import kernels
from fastnn.activations import Neurons, initialize
from fastnn.plan import EpochPlan

from test_activations import HAND, HIDDEN, SLOPE
from test_gradient import ARCHITECTURES, central_differences, relative_error

PAIRS = [("quadratic", "sigmoid"), ("cross_entropy", "sigmoid"), ("quadratic", "identity"),
         ("cross_entropy", "softmax")]


def targets_for(output, rng, m, n_outputs):
    if output == "softmax":
        return np.eye(n_outputs)[rng.integers(n_outputs, size=m)]
    if output == "identity":
        return rng.normal(0, 2, (m, n_outputs))
    return rng.random((m, n_outputs))


# -- Network's gradient ---------------------------------------------------------------
@pytest.mark.parametrize("sizes", ARCHITECTURES, ids=str)
@pytest.mark.parametrize("cost, output", PAIRS, ids=str)
@pytest.mark.parametrize("activation", HIDDEN)
def test_gradient_matches_central_differences_of_the_cost(sizes, cost, output, activation):
    """The floor of issue 23: central differences of Network.cost for every
    activation x output x cost on test_gradient's five architectures, in
    float64 (softmax: one-hot targets and >= 2 outputs, so the
    single-output architecture gets two)."""
    if output == "softmax" and sizes[-1] == 1:
        sizes = sizes[:-1] + [2]
    rng = np.random.default_rng(len(sizes) * 7 + len(cost) + len(output))
    net = fastnn.Network(sizes, activation=activation, cost=cost, output=output, seed=3)
    x = rng.random((3, sizes[0]))
    y = targets_for(output, rng, 3, sizes[-1])
    assert relative_error(net.gradient(x, y), central_differences(net, x, y)) < 1e-6


def test_gradient_with_one_activation_per_layer():
    sizes = [2, 9, 8, 7, 6, 5]
    rng = np.random.default_rng(5)
    net = fastnn.Network(sizes, activation=["tanh", "relu", "leaky_relu", "identity"],
                         leaky_slope=[0.01, 0.01, 0.3, 0.01], output="softmax",
                         cost="cross_entropy", seed=2)
    x, y = rng.random((4, 2)), rng.integers(0, 5, 4)
    assert relative_error(net.gradient(x, y), central_differences(net, x, y)) < 1e-6


@pytest.mark.parametrize("hidden", HAND)
def test_hand_worked_networks_through_the_fast_kernels(hidden):
    """test_activations.py's 2-2-1 network worked by hand, per activation,
    through Network (the fast kernels)."""
    a_hidden, f_prime, z_out = HAND[hidden]
    net = fastnn.Network([2, 2, 1], activation=hidden)
    net.params[...] = [0.1, 0.2, 0.3, -0.4, 0.5, -0.5, 0.1, -0.1, 0.2]
    z_out = 0.5 * a_hidden[0] - 0.5 * a_hidden[1] + 0.2
    a_out = 1 / (1 + np.exp(-z_out))
    delta_out = (a_out - 1) * a_out * (1 - a_out)
    delta_hidden = [0.5 * delta_out * f_prime[0], -0.5 * delta_out * f_prime[1]]
    expected = [delta_hidden[0], 2 * delta_hidden[0], delta_hidden[1], 2 * delta_hidden[1],
                delta_out * a_hidden[0], delta_out * a_hidden[1], delta_hidden[0],
                delta_hidden[1], delta_out]
    np.testing.assert_allclose(net.feedforward([1.0, 2.0]), [a_out], rtol=1e-14)
    np.testing.assert_allclose(net.gradient([1.0, 2.0], [1.0]), expected, rtol=1e-12,
                               atol=1e-17)


def test_hand_worked_softmax_through_the_fast_kernels():
    """z = [ln 2, ln 3]: a = [2/5, 3/5]; y = label 0: C = -ln(2/5), delta
    = a - y = [-3/5, 3/5] (test_activations.py's case)."""
    net = fastnn.Network([2, 2], output="softmax", cost="cross_entropy")
    net.params[...] = [1.0, 0.0, 0.0, 1.0, 0.0, np.log(3)]
    x = np.array([np.log(2), 0.0])
    np.testing.assert_allclose(net.feedforward(x), [0.4, 0.6], rtol=1e-15)
    assert net.cost(x, 0) == pytest.approx(-np.log(0.4), rel=1e-14)
    np.testing.assert_allclose(net.gradient(x, 0), [-0.6 * np.log(2), 0, 0.6 * np.log(2), 0,
                                                    -0.6, 0.6], rtol=1e-14, atol=1e-16)


def test_softmax_outputs_are_distributions_and_stay_finite():
    net = fastnn.Network([3, 4, 5], activation="relu", output="softmax", cost="cross_entropy",
                         seed=0)
    rng = np.random.default_rng(0)
    a = net.feedforward(rng.random((20, 3)))
    np.testing.assert_allclose(a.sum(axis=1), 1, rtol=1e-14)
    net.params *= 1e4  # z of about 1e4: exp would overflow without the max subtracted
    a = net.feedforward(rng.random((20, 3)))
    assert np.all(np.isfinite(a)) and np.allclose(a.sum(axis=1), 1)


# -- the epochs ----------------------------------------------------------------------
EPOCH_CASES = [
    # sizes, batch size, samples: a short last batch; two parts of layer 1
    # and a tail in the shared epoch; three hidden layers; per-sample SGD
    # across blocks of eight and a short last one
    ((20, 17, 5), 6, 41),
    ((40, 30, 10), 10, 53),
    ((9, 7, 6, 3), 4, 22),
    ((40, 30, 10), 1, 29),
    ((9, 7, 6, 3), 1, 19),
]
# (activation, cost, output) with every activation and every output
SETTINGS = [("logistic", "cross_entropy", "softmax"), ("tanh", "quadratic", "sigmoid"),
            ("relu", "cross_entropy", "softmax"), ("leaky_relu", "cross_entropy", "sigmoid"),
            ("identity", "quadratic", "identity"), ("tanh", "cross_entropy", "softmax")]


def run_epochs(driver, sizes, batch_size, n_samples, dtype, setting, dropout, n_threads=2,
               epochs=2, eta=0.3, layer_plan=None):
    activation, cost, output = setting
    rng = np.random.default_rng(n_samples)
    neurons = Neurons.of(sizes, activation=activation, cost=cost, output=output,
                         dropout=dropout if len(sizes) > 2 else 0.0, leaky_slope=0.1)
    net = fastnn.Network(sizes, activation=activation, cost=cost, output=output, seed=1,
                         init="glorot")
    params = net.params.astype(dtype)
    inputs = rng.random((n_samples, sizes[0])).astype(dtype)
    targets = targets_for(output, rng, n_samples, sizes[-1]).astype(dtype)
    if output == "identity":  # a linear network: a small step, or it diverges
        targets *= 0.2
        eta = min(eta, 0.02)
    plan = EpochPlan(sizes, batch_size, dtype, n_samples, n_threads, driver=driver,
                     borrow_cores=False, neurons=neurons, layer_plan=layer_plan)
    order = np.arange(n_samples, dtype=np.int64)
    costs = []
    for epoch in range(epochs):
        kernels.shuffle_order(order, epoch)
        costs.append(plan.run(params, inputs, targets, order, eta,
                              dropout_key=kernels.dropout.epoch_key(11, epoch)))
    return params, costs


@pytest.mark.parametrize("case", EPOCH_CASES, ids=str)
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_every_driver_matches_the_reference_epoch(case, setting, dropout):
    """The floor of issue 23: every fast epoch equal to the reference epoch
    for every activation, output and dropout (float64, rtol 1e-10)."""
    sizes, batch_size, n_samples = case
    expected, expected_costs = run_epochs("train_epoch_reference", sizes, batch_size,
                                          n_samples, np.float64, setting, dropout)
    assert np.all(np.isfinite(expected))
    drivers = (["train_epoch_per_sample", "train_epoch_per_sample_shared"] if batch_size == 1
               else ["train_epoch", "train_epoch_threaded", "train_epoch_shared",
                     "train_epoch_staged"])
    for driver in drivers:
        params, costs = run_epochs(driver, sizes, batch_size, n_samples, np.float64, setting,
                                   dropout)
        # (per-sample SGD takes its steps in another order, docs/theory.md §9:
        # an element near 0 is held to 1e-10 of the parameters' scale)
        np.testing.assert_allclose(params, expected, rtol=1e-10,
                                   atol=1e-10 * np.abs(expected).max(), err_msg=driver)
        np.testing.assert_allclose(costs, expected_costs, rtol=1e-10, err_msg=driver)


@pytest.mark.parametrize("setting", SETTINGS[:3], ids=str)
def test_float32_epochs_match_the_reference(setting):
    sizes, batch_size, n_samples = EPOCH_CASES[1]
    expected, _ = run_epochs("train_epoch_reference", sizes, batch_size, n_samples,
                             np.float32, setting, 0.3)
    for driver in ("train_epoch", "train_epoch_shared"):
        params, _ = run_epochs(driver, sizes, batch_size, n_samples, np.float32, setting, 0.3)
        np.testing.assert_allclose(params, expected, rtol=1e-3, atol=1e-4, err_msg=driver)


BITWISE_CASES = [((40, 30, 10), 10, 103), ((40, 17, 6, 3), 6, 50), ((16, 16, 3), 1, 29)]


@pytest.mark.parametrize("case", BITWISE_CASES, ids=str)
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_every_driver_is_bitwise_across_thread_counts(case, setting, dropout):
    """The floor of issue 23: the epochs that share layer 1 between threads
    (two threads) bitwise the one-thread epochs, for every activation, with
    and without dropout."""
    sizes, batch_size, n_samples = case
    one = "train_epoch_per_sample" if batch_size == 1 else "train_epoch"
    shared = one + "_shared"
    expected, expected_costs = run_epochs(one, sizes, batch_size, n_samples, np.float64,
                                          setting, dropout, n_threads=1)
    params, costs = run_epochs(shared, sizes, batch_size, n_samples, np.float64, setting,
                               dropout, n_threads=2)
    assert np.array_equal(params, expected) and costs == expected_costs


@pytest.mark.parametrize("setting", SETTINGS[:3], ids=str)
def test_layer_threads_are_bitwise_one_thread(setting):
    """train_epoch_threaded on layers big enough for numba's threads (130 x
    101 x 80 multiply-adds per batch), with dropout, against train_epoch."""
    sizes, batch_size, n_samples = (80, 101, 6), 130, 260
    assert batch_size * 101 * 80 >= kernels.PARALLEL_MIN_WORK
    expected, expected_costs = run_epochs("train_epoch", sizes, batch_size, n_samples,
                                          np.float64, setting, 0.25, n_threads=1, eta=0.05)
    params, costs = run_epochs("train_epoch_threaded", sizes, batch_size, n_samples,
                               np.float64, setting, 0.25, n_threads=2, eta=0.05)
    assert np.array_equal(params, expected) and costs == expected_costs
    # the staged epoch on the blocked kernels (this shape is below the BLAS
    # rule's crossover), on two threads, computes what train_epoch does
    params, costs = run_epochs("train_epoch_staged", sizes, batch_size, n_samples,
                               np.float64, setting, 0.25, n_threads=2, eta=0.05)
    assert np.array_equal(params, expected) and costs == expected_costs


@pytest.mark.skipif(not __import__("fastnn._blas")._blas.available(),
                    reason="SciPy's OpenBLAS is not available")
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_the_blas_engine_runs_every_rule_as_the_reference(setting, dropout):
    """The staged epoch with every layer's §1, §6, §7 on BLAS (layers in
    three parts): every activation, output and dropout as the reference
    epoch, and bitwise the same on one and two threads."""
    from fastnn import engine
    from fastnn.kernels import staged

    sizes, batch_size, n_samples = (20, 17, 9, 5), 6, 41
    plan = engine.default_plan(sizes, batch_size, 3, blas=True)
    plan.array[1:, :3] = staged.BLAS
    expected, expected_costs = run_epochs("train_epoch_reference", sizes, batch_size,
                                          n_samples, np.float64, setting, dropout)
    runs = [run_epochs("train_epoch_staged", sizes, batch_size, n_samples, np.float64,
                       setting, dropout, n_threads=threads, layer_plan=plan)
            for threads in (1, 2)]
    for params, costs in runs:
        np.testing.assert_allclose(params, expected, rtol=1e-10,
                                   atol=1e-10 * np.abs(expected).max())
        np.testing.assert_allclose(costs, expected_costs, rtol=1e-10)
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]


@pytest.mark.parametrize("batch_size", [1, 8])
def test_an_epoch_split_in_two_draws_the_same_masks(batch_size):
    """An epoch run as its first samples, then the rest copied (as after
    Ctrl-C, ``rows`` naming their rows of the data), or as two chunks of a
    stream (``first_row``), is bitwise the epoch in one piece: a sample's
    masks depend on its row of the training set, not on where it lands."""
    sizes, n = (12, 9, 7, 3), 48
    neurons = Neurons.of(sizes, activation="relu", dropout=0.5, output="softmax",
                         cost="cross_entropy")
    rng = np.random.default_rng(0)
    X, Y = rng.random((n, 12)), np.eye(3)[rng.integers(0, 3, n)]
    start = fastnn.Network(sizes, seed=0).params
    key = kernels.dropout.epoch_key(5, 2)
    order = np.arange(n, dtype=np.int64)
    kernels.shuffle_order(order, 1)

    def plan(count):
        return EpochPlan(sizes, batch_size, np.float64, count, 1, neurons=neurons)

    whole = start.copy()
    plan(n).run(whole, X, Y, order, 0.5, dropout_key=key)
    split = start.copy()
    done = 24
    plan(done).run(split, np.ascontiguousarray(X[order[:done]]),
                   np.ascontiguousarray(Y[order[:done]]), np.arange(done), 0.5,
                   dropout_key=key, rows=order[:done])
    plan(n - done).run(split, np.ascontiguousarray(X[order[done:]]),
                       np.ascontiguousarray(Y[order[done:]]), np.arange(n - done), 0.5,
                       dropout_key=key, rows=order[done:])
    assert np.array_equal(split, whole)
    in_order, chunks = start.copy(), start.copy()
    plan(n).run(in_order, X, Y, np.arange(n), 0.5, dropout_key=key)
    for first in (0, done):
        plan(done).run(chunks, X[first:first + done], Y[first:first + done], np.arange(done),
                       0.5, dropout_key=key, first_row=first)
    assert np.array_equal(chunks, in_order)


# -- dropout in training ----------------------------------------------------------------
def test_dropout_is_reproducible_and_changes_with_the_seed():
    rng = np.random.default_rng(1)
    X, y = rng.random((60, 10)), rng.integers(0, 4, 60)
    runs = {}
    for seed in (3, 3, 4):
        net = fastnn.Network([10, 12, 4], activation="relu", dropout=0.5, output="softmax",
                             cost="cross_entropy", seed=0)
        net.train(X, y, epochs=2, batch_size=6, eta=0.2, seed=seed)
        runs.setdefault(seed, []).append(net.params)
    assert np.array_equal(*runs[3]) and not np.array_equal(runs[3][0], runs[4][0])
    plain = fastnn.Network([10, 12, 4], activation="relu", output="softmax",
                           cost="cross_entropy", seed=0)
    zero = fastnn.Network([10, 12, 4], activation="relu", dropout=0.0, output="softmax",
                          cost="cross_entropy", seed=0)
    for net in (plain, zero):
        net.train(X, y, epochs=2, batch_size=6, eta=0.2, seed=3)
    assert np.array_equal(plain.params, zero.params)
    assert not np.array_equal(plain.params, runs[3][0])


def test_feedforward_cost_and_gradient_never_drop():
    rng = np.random.default_rng(2)
    X, y = rng.random((7, 5)), rng.integers(0, 3, 7)
    dropped = fastnn.Network([5, 8, 3], activation="tanh", dropout=0.9, seed=1)
    whole = fastnn.Network([5, 8, 3], activation="tanh", seed=1)
    assert np.array_equal(dropped.feedforward(X), whole.feedforward(X))
    assert dropped.cost(X, y) == whole.cost(X, y)
    assert np.array_equal(dropped.gradient(X, y), whole.gradient(X, y))


# -- choices and their errors -------------------------------------------------------------
def test_repr_shows_what_is_not_the_default():
    assert repr(fastnn.Network([4, 3])) == "Network(sizes=[4, 3], dtype=float64)"
    assert repr(fastnn.Network([4, 5, 3], activation="relu", dropout=0.5, output="softmax",
                               cost="cross_entropy")) == (
        "Network(sizes=[4, 5, 3], activation='relu', dropout=0.5, cost='cross_entropy', "
        "output='softmax', dtype=float64)")
    net = fastnn.Network([4, 5, 6, 3], activation=["tanh", "leaky_relu"], leaky_slope=0.2,
                         dropout=[0.1, 0.0])
    assert repr(net) == ("Network(sizes=[4, 5, 6, 3], activation=['tanh', 'leaky_relu'], "
                         "leaky_slope=0.2, dropout=[0.1, 0.0], dtype=float64)")
    assert net.activation == ("tanh", "leaky_relu") and net.dropout == (0.1, 0.0)
    assert fastnn.Network([4, 5, 3], activation="sigmoid").activation == "logistic"


@pytest.mark.parametrize("arguments, error, message", [
    (dict(activation="gelu"), ValueError, "activation must be one of 'logistic', 'tanh'"),
    (dict(activation="softmax"), ValueError, "softmax is an output layer"),
    (dict(activation=["relu"]), ValueError, "one for each of them; this network has 2"),
    (dict(activation=3), TypeError, "activation must be a name"),
    (dict(leaky_slope=-0.1), ValueError, "leaky_slope must be a finite number >= 0"),
    (dict(leaky_slope=float("nan")), ValueError, "leaky_slope must be a finite number"),
    (dict(dropout=1.0), ValueError, r"dropout rate must be in \[0, 0.99\]"),
    (dict(dropout=-0.2), ValueError, "dropout rate must be in"),
    (dict(dropout="0.5"), TypeError, "dropout must be a rate"),
    (dict(dropout=[0.1, 0.2, 0.3]), ValueError, "this network has 2 hidden layers"),
    (dict(output="softmax"), ValueError, "needs cost='cross_entropy'.*log-likelihood"),
    (dict(cost="cross_entropy", output="identity"), ValueError,
     "needs output='sigmoid' or 'softmax'"),
    (dict(init="xavier"), ValueError, "init must be one of 'document', 'glorot', 'he'"),
])
def test_bad_choices_are_refused_with_a_reason(arguments, error, message):
    with pytest.raises(error, match=message):
        fastnn.Network([4, 5, 6, 3], **arguments)


def test_dropout_and_softmax_need_what_they_act_on():
    with pytest.raises(ValueError, match="has none"):
        fastnn.Network([4, 3], dropout=0.5)
    with pytest.raises(ValueError, match="at least 2 output neurons"):
        fastnn.Network([4, 3, 1], output="softmax", cost="cross_entropy")


def test_softmax_targets_must_be_distributions():
    """§11: delta = a - y is the log-likelihood's gradient only for targets
    summing to 1; others are refused, and the network is left as it was."""
    net = fastnn.Network([3, 4, 3], output="softmax", cost="cross_entropy", seed=0)
    before = net.params.copy()
    X = np.random.default_rng(0).random((4, 3))
    for bad, message in ((np.full((4, 3), 0.5), "row 0 sums to 1.5, not 1"),
                         (np.array([[1.5, -0.5, 0]] * 4), "negative target")):
        for call in (lambda: net.train(X, bad, epochs=1), lambda: net.cost(X, bad),
                     lambda: net.gradient(X, bad)):
            with pytest.raises(ValueError, match=message):
                call()
    assert np.array_equal(net.params, before)
    net.train(X, np.array([[0.2, 0.3, 0.5]] * 4), epochs=1)  # probabilities: fine
    net.train(X, [0, 1, 2, 0], epochs=1)  # labels: one-hot rows


# -- initial weights ---------------------------------------------------------------------
def test_document_init_is_the_one_network_always_drew():
    net = fastnn.Network([6, 5, 3], activation="relu", seed=8)
    rng = np.random.default_rng(8)
    expected = [rng.standard_normal((5, 6)) / np.sqrt(6), rng.standard_normal((3, 5)) / np.sqrt(5)]
    expected_b = [rng.standard_normal(5), rng.standard_normal(3)]
    for got, want in zip(net.weights + net.biases, expected + expected_b):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("activation", ["logistic", "relu", "tanh"])
def test_sklearn_init_is_scikit_learns_own(activation):
    """init="sklearn" draws what scikit-learn's MLP draws for the same
    random_state (its own _init_coef, called here), transposed."""
    mlp = pytest.importorskip("sklearn.neural_network")
    estimator = mlp.MLPClassifier(activation=activation)
    estimator._random_state = np.random.RandomState(4)
    sizes = [7, 6, 5, 3]
    expected = [estimator._init_coef(sizes[i], sizes[i + 1], np.float64)
                for i in range(len(sizes) - 1)]
    net = fastnn.Network(sizes, activation=activation, init="sklearn", seed=4)
    for (coef, intercept), w, b in zip(expected, net.weights, net.biases):
        assert np.array_equal(w, coef.T) and np.array_equal(b, intercept)


def test_glorot_and_he_draw_their_variances():
    fan_in, fan_out = 400, 300
    weights = [np.empty((fan_out, fan_in))]
    biases = [np.empty(fan_out)]
    initialize(weights, biases, "glorot", 0)
    bound = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(weights[0]).max() <= bound and np.all(biases[0] == 0)
    assert np.var(weights[0]) == pytest.approx(2 / (fan_in + fan_out), rel=0.02)
    initialize(weights, biases, "he", 0)
    assert np.var(weights[0]) == pytest.approx(2 / fan_in, rel=0.02)
    assert abs(np.mean(weights[0])) < 3 * np.sqrt(2 / fan_in / weights[0].size)


# -- save, load, pickles, checkpoints ------------------------------------------------------
NON_DEFAULT = dict(activation=["relu", "leaky_relu"], leaky_slope=[0.01, 0.2], dropout=[0.2, 0.0],
                   output="softmax", cost="cross_entropy")


def test_save_load_and_pickle_keep_every_layer(tmp_path):
    net = fastnn.Network([5, 6, 4, 3], seed=1, **NON_DEFAULT)
    X = np.random.default_rng(0).random((9, 5))
    path = net.save(tmp_path / "model")
    with zipfile.ZipFile(path) as archive:
        assert {"activation.npy", "leaky_slope.npy", "dropout.npy"} <= set(archive.namelist())
    assert int(np.load(path)["format_version"]) == 2
    for copy in (fastnn.load(path), pickle.loads(pickle.dumps(net)), net.copy()):
        assert repr(copy) == repr(net) and copy.neurons == net.neurons
        assert np.array_equal(copy.feedforward(X), net.feedforward(X))
    plain = fastnn.Network([5, 6, 3], seed=1, output="identity")
    path = plain.save(tmp_path / "plain")
    assert int(np.load(path)["format_version"]) == 1  # older fastnn still read it
    assert "activation.npy" not in zipfile.ZipFile(path).namelist()
    assert "activation" not in plain.__getstate__()


def test_a_damaged_neurons_entry_is_refused(tmp_path):
    net = fastnn.Network([5, 6, 3], seed=1, activation="tanh")
    path = net.save(tmp_path / "model")
    entries = dict(np.load(path))
    for key, value, message in (("activation", np.array(["swish"]), "activation must be one of"),
                                ("dropout", np.array([0.1, 0.2]), "not one value per hidden"),
                                ("leaky_slope", np.array([-1.0]), "leaky_slope must be")):
        damaged = dict(entries, **{key: value})
        np.savez(tmp_path / "damaged.npz", **damaged)
        with pytest.raises(ValueError, match=message):
            fastnn.load(tmp_path / "damaged.npz")
    entries["format_version"] = np.array(3)
    np.savez(tmp_path / "newer.npz", **entries)
    with pytest.raises(ValueError, match="format_version 3; this fastnn reads format_version 1 "
                                         "and 2 only"):
        fastnn.load(tmp_path / "newer.npz")


@pytest.mark.parametrize("batch_size", [1, 5])
def test_two_epochs_and_two_more_from_a_checkpoint_equal_four_with_dropout(tmp_path,
                                                                           batch_size):
    rng = np.random.default_rng(3)
    X, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    whole = fastnn.Network([6, 9, 7, 3], seed=2, **NON_DEFAULT)
    part = whole.copy()
    whole.train(X, y, epochs=4, batch_size=batch_size, eta=0.05, seed=5)
    checkpoint = tmp_path / "run.ckpt"
    part.train(X, y, epochs=2, batch_size=batch_size, eta=0.05, seed=5, checkpoint=checkpoint)
    assert int(np.load(checkpoint)["format_version"]) == 2
    resumed, history = fastnn.resume(checkpoint, X, y, epochs=4)
    assert resumed.neurons == whole.neurons
    assert np.array_equal(resumed.params, whole.params)
    assert history.cost == whole.history.cost
