"""fastnn.compat.nielsen against a plain-NumPy statement of the book's algorithm."""
import pickle
import random
import textwrap

import numpy as np
import pytest

import nielsen_reference as reference
from fastnn.compat import nielsen

sklearn_datasets = pytest.importorskip("sklearn.datasets")

# A learner's script written for the book's network.py and a loader that
# returns Python 3 zip objects, as ports of the book's mnist_loader do.
LEARNER_SCRIPT = textwrap.dedent(
    """
    import random
    import numpy as np
    import network
    import digits_loader

    random.seed(2024)
    np.random.seed(2024)
    training_data, test_data = digits_loader.load_data_wrapper()
    net = network.Network([64, 20, 10])
    net.SGD(training_data, 3, 10, 3.0, test_data=test_data)
    """
)

LOADER = textwrap.dedent(
    """
    import numpy as np
    from sklearn.datasets import load_digits

    def vectorized_result(j):
        e = np.zeros((10, 1))
        e[j] = 1.0
        return e

    def load_data_wrapper():
        digits = load_digits()
        inputs = [np.reshape(x / 16.0, (64, 1)) for x in digits.data]
        training = zip(inputs[:305], [vectorized_result(y) for y in digits.target[:305]])
        test = zip(inputs[305:405], [int(y) for y in digits.target[305:405]])
        return training, test
    """
)


def digits_pairs(n_train, n_test):
    digits = sklearn_datasets.load_digits()
    columns = [np.reshape(x / 16.0, (64, 1)) for x in digits.data]
    one_hot = [np.eye(10)[:, [label]] for label in digits.target]
    training = list(zip(columns[:n_train], one_hot[:n_train]))
    test = [(x, int(y)) for x, y in zip(columns[n_train:n_train + n_test],
                                        digits.target[n_train:n_train + n_test])]
    return training, test


def book_initial_parameters(sizes, seed):
    """The book's initialisation: N(0, 1) biases (y, 1), then weights (y, x)."""
    np.random.seed(seed)
    biases = [np.random.randn(y, 1) for y in sizes[1:]]
    weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]
    return weights, biases


def test_learner_script_runs_unchanged_but_for_its_import(tmp_path, monkeypatch, capsys):
    (tmp_path / "digits_loader.py").write_text(LOADER)
    monkeypatch.syspath_prepend(str(tmp_path))
    script = LEARNER_SCRIPT.replace("import network", "from fastnn.compat import nielsen as network")
    changed = [a for a, b in zip(LEARNER_SCRIPT.splitlines(), script.splitlines()) if a != b]
    assert changed == ["import network"]

    namespace = {"__name__": "__main__"}
    exec(compile(script, "learner.py", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()

    # The same run, stated in plain NumPy.
    weights, biases = book_initial_parameters([64, 20, 10], 2024)
    training, test = digits_pairs(305, 100)
    random.seed(2024)
    expected = []
    for epoch in range(3):
        weights, biases = reference.sgd(weights, biases, training, 1, 10, 3.0)
        expected.append(f"Epoch {epoch}: {reference.correct_count(weights, biases, test)} / 100")
    assert printed == expected
    net = namespace["net"]
    for ours, theirs in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert int(printed[-1].split()[2]) > 40  # it learned (chance is about 10)


def test_initial_parameters_are_the_books_for_the_same_numpy_seed():
    sizes = [5, 4, 3]
    weights, biases = book_initial_parameters(sizes, 7)
    np.random.seed(7)
    net = nielsen.Network(sizes)
    assert [b.shape for b in net.biases] == [(4, 1), (3, 1)]
    assert [w.shape for w in net.weights] == [(4, 5), (3, 4)]
    for ours, theirs in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("batch_size", [10, 7])
def test_one_epoch_equals_numpy_sgd_from_the_same_start_and_batch_order(batch_size):
    training, _ = digits_pairs(143, 0)
    net = nielsen.Network([64, 16, 12, 10])
    # A start of our own choosing, written through the compat attributes.
    rng = np.random.default_rng(3)
    start_w = [rng.standard_normal(w.shape) / np.sqrt(w.shape[1]) for w in net.weights]
    start_b = [rng.standard_normal(b.shape) for b in net.biases]
    net.weights, net.biases = start_w, start_b
    np.testing.assert_array_equal(net.fastnn_network.weights[0], start_w[0])

    ours_data, theirs_data = list(training), list(training)
    random.seed(99)
    net.SGD(ours_data, 1, batch_size, 3.0)
    random.seed(99)
    weights, biases = reference.sgd(start_w, start_b, theirs_data, 1, batch_size, 3.0)

    assert not np.allclose(net.weights[0], start_w[0])
    for ours, theirs in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    # Like the book's SGD, a list passed in is shuffled in place, identically.
    assert [id(x) for x, _ in ours_data] == [id(x) for x, _ in theirs_data]


def test_backprop_update_evaluate_and_feedforward_match_numpy():
    training, test = digits_pairs(20, 30)
    np.random.seed(0)
    net = nielsen.Network([64, 8, 10])
    w0 = [w.copy() for w in net.weights]
    b0 = [b.copy() for b in net.biases]

    grad_b, grad_w = net.backprop(*training[0])
    ref_b, ref_w = reference.sample_gradient(w0, b0, *training[0])
    for ours, theirs in zip(grad_b + grad_w, ref_b + ref_w):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-14)

    x = training[0][0]
    expected = x
    for w, b in zip(w0, b0):
        expected = nielsen.sigmoid(w @ expected + b)
    np.testing.assert_allclose(net.feedforward(x), expected, rtol=1e-12)
    assert net.feedforward(x).shape == (10, 1)
    batch = np.hstack([x for x, _ in training[:3]])
    assert net.feedforward(batch).shape == (10, 3)

    assert net.evaluate(test) == reference.correct_count(w0, b0, test)
    assert isinstance(net.evaluate(iter(test)), int)

    net.update_mini_batch(training[:6], 0.5)
    totals_b = [np.zeros_like(b) for b in b0]
    totals_w = [np.zeros_like(w) for w in w0]
    for pair in training[:6]:
        gb, gw = reference.sample_gradient(w0, b0, *pair)
        totals_b = [t + g for t, g in zip(totals_b, gb)]
        totals_w = [t + g for t, g in zip(totals_w, gw)]
    for ours, start, total in zip(net.weights + net.biases, w0 + b0, totals_w + totals_b):
        np.testing.assert_allclose(ours, start - 0.5 / 6 * total, rtol=1e-9, atol=1e-14)

    assert nielsen.Network([2, 1]).cost_derivative(np.array([[0.75]]), np.array([[1.0]]))[0, 0] == -0.25
    np.testing.assert_allclose(nielsen.sigmoid_prime(np.array([0.0, 800.0, -800.0])), [0.25, 0, 0])


def test_sgd_without_test_data_prints_epoch_complete(capsys):
    training, _ = digits_pairs(12, 0)
    net = nielsen.Network([64, 5, 10])
    net.SGD(iter(training), 2, 5, 1.0)
    assert capsys.readouterr().out == "Epoch 0 complete\nEpoch 1 complete\n"


def test_overridden_cost_derivative_is_honoured():
    class Doubled(nielsen.Network):
        def cost_derivative(self, output_activations, y):
            return 2.0 * (output_activations - y)

    class Same(nielsen.Network):
        def cost_derivative(self, output_activations, y):
            return output_activations - y

    training, _ = digits_pairs(25, 0)
    np.random.seed(5)
    plain = nielsen.Network([64, 6, 10])
    doubled, same = Doubled([64, 6, 10]), Same([64, 6, 10])
    for other in (doubled, same):
        other.weights, other.biases = plain.weights, plain.biases
    plain_b, plain_w = plain.backprop(*training[0])
    doubled_b, doubled_w = doubled.backprop(*training[0])
    for p, d in zip(plain_b + plain_w, doubled_b + doubled_w):
        np.testing.assert_allclose(d, 2 * p, rtol=1e-12)
    # The NumPy path taken by subclasses trains like the kernels do.
    random.seed(1)
    plain.SGD(list(training), 1, 4, 2.0)
    random.seed(1)
    same.SGD(list(training), 1, 4, 2.0)
    for p, s in zip(plain.weights + plain.biases, same.weights + same.biases):
        np.testing.assert_allclose(s, p, rtol=1e-9, atol=1e-12)


def test_parameters_are_copied_into_the_fastnn_network_before_each_use():
    net = nielsen.Network([3, 4, 2])
    params = net.fastnn_network.params
    assert not any(np.shares_memory(a, params) for a in net.weights + net.biases)
    net.weights[1][0, 0] = 42.0  # in place, as a learner may
    assert net.fastnn_network.weights[1][0, 0] == 42.0
    net.biases[0] = np.full((4, 1), 0.5)
    np.testing.assert_array_equal(net.fastnn_network.biases[0], 0.5)
    net.weights = [w * 0 for w in net.weights]
    assert not net.fastnn_network.weights[0].any()

    before = params.copy()
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(4, 3\)"):
        net.weights = [np.zeros((3, 4)), np.zeros((2, 4))]
    with pytest.raises(ValueError, match="NaN"):
        net.biases[1] = np.array([[np.nan], [0.0]])
    with pytest.raises(TypeError, match="cannot change length"):
        net.weights.append(np.zeros((1, 1)))
    np.testing.assert_array_equal(net.fastnn_network.params, before)

    twin = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(twin.fastnn_network.params, params)
    twin.weights[0][0, 0] = 7.0
    assert twin.fastnn_network.weights[0][0, 0] == 7.0 and net.weights[0][0, 0] == 0.0


def test_references_taken_before_training_keep_their_values_as_in_the_book():
    training, test = digits_pairs(40, 10)
    np.random.seed(3)
    net = nielsen.Network([64, 7, 10])
    saved_w, saved_b = net.weights, net.biases
    w0, b0 = net.weights[0], net.biases[0]
    w0_values, b0_values = w0.copy(), b0.copy()
    net.SGD(list(training), 2, 10, 3.0, test_data=test)
    # The book binds new lists of new arrays: the old ones are untouched.
    assert net.weights is not saved_w and net.biases is not saved_b
    assert all(new is not old for new, old in zip(net.weights + net.biases, saved_w + saved_b))
    np.testing.assert_array_equal(w0, w0_values)
    np.testing.assert_array_equal(b0, b0_values)
    assert not np.allclose(net.weights[0], w0_values)
    assert [w.shape for w in net.weights] == [(7, 64), (10, 7)]
    assert [b.shape for b in net.biases] == [(7, 1), (10, 1)]

    after_sgd_w, after_sgd_w0 = net.weights, net.weights[0].copy()
    net.update_mini_batch(training[:5], 1.0)
    assert net.weights is not after_sgd_w
    np.testing.assert_array_equal(after_sgd_w[0], after_sgd_w0)
    assert not np.array_equal(net.weights[0], after_sgd_w0)


@pytest.mark.parametrize("how", ["assign list", "assign element", "write in place"])
def test_parameters_set_by_the_user_before_sgd_are_what_trains(how):
    training, _ = digits_pairs(30, 0)
    net = nielsen.Network([64, 5, 10])
    rng = np.random.default_rng(11)
    start_w = [rng.standard_normal(w.shape) for w in net.weights]
    start_b = [b.copy() for b in net.biases]
    if how == "assign list":
        net.weights = [w.copy() for w in start_w]
    elif how == "assign element":
        for i, w in enumerate(start_w):
            net.weights[i] = w.copy()
    else:
        for mine, w in zip(net.weights, start_w):
            mine[...] = w
    ours, theirs = list(training), list(training)
    random.seed(4)
    net.SGD(ours, 1, 6, 2.0)
    random.seed(4)
    weights, biases = reference.sgd(start_w, start_b, theirs, 1, 6, 2.0)
    for a, b in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("eta", [0.0, -0.5, 0])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_eta_zero_or_negative_does_what_the_book_does(eta, batch_size):
    training, _ = digits_pairs(24, 0)
    np.random.seed(8)
    net = nielsen.Network([64, 6, 10])
    start_w = [w.copy() for w in net.weights]
    start_b = [b.copy() for b in net.biases]
    ours, theirs = list(training), list(training)
    random.seed(5)
    net.SGD(ours, 2, batch_size, eta)
    random.seed(5)
    weights, biases = reference.sgd(start_w, start_b, theirs, 2, batch_size, eta)
    for a, b in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    if eta == 0:
        for a, b in zip(net.weights + net.biases, start_w + start_b):
            np.testing.assert_array_equal(a, b)
    net.update_mini_batch(training[:3], eta)  # accepted there as well
    with pytest.raises(ValueError, match="finite"):
        net.SGD(ours, 1, batch_size, float("nan"))
    with pytest.raises(TypeError, match="real number"):
        net.SGD(ours, 1, batch_size, "3.0")


def test_converted_training_data_is_reused_for_the_same_list_only():
    training, test = digits_pairs(50, 20)
    np.random.seed(2)
    net = nielsen.Network([64, 5, 10])
    data = list(training)
    net.SGD(data, 1, 10, 1.0, test_data=test)
    cached = net._training_cache
    assert cached is not None and net._test_cache is not None
    # SGD shuffled the list in place; the cache follows that order.
    net.SGD(data, 1, 10, 1.0, test_data=test)
    assert net._training_cache is cached
    np.testing.assert_array_equal(cached.inputs[cached.rows], np.vstack([x.T for x, _ in data]))

    data[3] = (np.zeros((64, 1)), data[3][1])  # an element replaced: converted again
    net.SGD(data, 1, 10, 1.0)
    assert net._training_cache is not cached
    np.testing.assert_array_equal(net._training_cache.inputs[net._training_cache.rows],
                                  np.vstack([x.T for x, _ in data]))
    net.SGD(list(data), 1, 10, 1.0)  # another list object: converted again
    assert not net._training_cache.matches(data)

    # Trained from the cache, epochs match the book's algorithm exactly.
    mine = list(data)
    net.SGD(mine, 1, 10, 1.0)
    cached = net._training_cache
    start_w = [w.copy() for w in net.weights]
    start_b = [b.copy() for b in net.biases]
    theirs = list(mine)
    random.seed(6)
    net.SGD(mine, 2, 10, 1.0)
    assert net._training_cache is cached
    random.seed(6)
    weights, biases = reference.sgd(start_w, start_b, theirs, 2, 10, 1.0)
    for a, b in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert [id(x) for x, _ in mine] == [id(x) for x, _ in theirs]


def test_row_views_of_one_matrix_are_trained_on_without_a_copy():
    digits = sklearn_datasets.load_digits()
    matrix = digits.data[:60] / 16.0
    labels = digits.target[:60]
    views = [np.reshape(row, (64, 1)) for row in matrix]
    training = [(x, np.eye(10)[:, [j]]) for x, j in zip(views, labels)]
    test = [(x, int(j)) for x, j in zip(views, labels)]
    np.random.seed(4)
    net = nielsen.Network([64, 8, 10])
    start_w = [w.copy() for w in net.weights]
    start_b = [b.copy() for b in net.biases]
    ours, theirs = list(training), list(training)
    random.seed(12)
    net.SGD(ours, 2, 7, 3.0, test_data=test)
    assert net._training_cache.inputs is matrix and net._test_cache.inputs is matrix
    random.seed(12)
    weights, biases = reference.sgd(start_w, start_b, theirs, 2, 7, 3.0)
    for a, b in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert net.evaluate(test) == reference.correct_count(weights, biases, test)
    # Shuffled views (rows out of order) are still taken without a copy.
    random.seed(13)
    shuffled = list(theirs)
    random.shuffle(shuffled)
    net.SGD(shuffled, 1, 7, 3.0)
    assert net._training_cache.inputs is matrix


def test_bad_input_is_rejected_with_clear_errors_and_no_change():
    net = nielsen.Network([3, 2])
    before = net.fastnn_network.params.copy()
    with pytest.raises(ValueError, match=r"column vector of shape \(3, 1\)"):
        net.feedforward(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="sample 1 has shape"):
        net.SGD([(np.zeros((3, 1)), np.zeros((2, 1))), (np.zeros((4, 1)), np.zeros((2, 1)))], 1, 1, 1.0)
    with pytest.raises(TypeError, match=r"\(x, y\) pairs"):
        net.SGD([np.zeros((3, 1))], 1, 1, 1.0)
    with pytest.raises(ValueError, match="labels must be integers"):
        net.evaluate([(np.zeros((3, 1)), np.zeros((2, 1)))])
    with pytest.raises(ValueError, match="eta"):
        net.SGD([(np.zeros((3, 1)), np.zeros((2, 1)))], 1, 1, float("inf"))
    with pytest.raises(ValueError, match="NaN or inf"):
        net.SGD([(np.full((3, 1), np.nan), np.zeros((2, 1)))], 1, 1, 1.0)
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 2\)"):
        net.SGD([(np.zeros((3, 1)), 5)], 1, 1, 1.0)
    with pytest.raises(ValueError, match="empty"):
        net.SGD([], 1, 1, 1.0)
    np.testing.assert_array_equal(net.fastnn_network.params, before)
