"""fastnn.compat.network2 against a plain-NumPy transcription of the book's network2.py."""
import json
import pickle
import random
import re
import textwrap

import numpy as np
import pytest

import network2_reference as book
import fastnn.compat.network2 as network2
from fastnn.compat import nielsen

sklearn_datasets = pytest.importorskip("sklearn.datasets")

COSTS = {"cross_entropy": (network2.CrossEntropyCost, book.CrossEntropyCost),
         "quadratic": (network2.QuadraticCost, book.QuadraticCost)}


def digits_pairs(n_train, n_eval):
    """The book's conventions: training (x column, one-hot column), evaluation (x, int)."""
    digits = sklearn_datasets.load_digits()
    columns = [np.reshape(x / 16.0, (64, 1)) for x in digits.data]
    training = [(x, np.eye(10)[:, [label]])
                for x, label in zip(columns[:n_train], digits.target[:n_train])]
    evaluation = [(x, int(label)) for x, label in zip(columns[n_train:n_train + n_eval],
                                                      digits.target[n_train:n_train + n_eval])]
    return training, evaluation


def twins(sizes, cost, seed):
    """Our network and the book's, drawn from the same numpy.random seed."""
    ours_cost, book_cost = COSTS[cost]
    np.random.seed(seed)
    ours = network2.Network(sizes, cost=ours_cost)
    np.random.seed(seed)
    theirs = book.Network(sizes, cost=book_cost)
    return ours, theirs


def assert_same_parameters(ours, theirs):
    for a, b in zip(ours.weights + ours.biases, theirs.weights + theirs.biases):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


COST_LINE = re.compile(r"^(Cost on (?:training|evaluation) data: )(.*)$")


def assert_same_printout(ours, theirs):
    """Line for line equal; a cost's digits to rtol 1e-9 (the kernels round
    differently from NumPy in the last bits), its text as str(float) prints it."""
    ours, theirs = ours.splitlines(), theirs.splitlines()
    assert len(ours) == len(theirs)
    for mine, book_line in zip(ours, theirs):
        match, book_match = COST_LINE.match(mine), COST_LINE.match(book_line)
        if book_match is None:
            assert mine == book_line
            continue
        assert match is not None and match.group(1) == book_match.group(1)
        assert match.group(2) == str(float(match.group(2)))
        assert float(match.group(2)) == pytest.approx(float(book_match.group(2)), rel=1e-9)


# -- the book's script, run on both ----------------------------------------------------

BOOK_SCRIPT = textwrap.dedent(
    """
    import random
    import numpy as np
    import network2

    random.seed(12)
    np.random.seed(12)
    net = network2.Network([64, 20, 10], cost=network2.CrossEntropyCost)
    results = net.SGD(training_data, 3, 10, 0.5, lmbda=0.5, evaluation_data=validation_data,
                      monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
                      monitor_training_cost=True, monitor_training_accuracy=True)
    """
)


def test_the_books_script_runs_with_only_its_import_changed(capsys):
    training, validation = digits_pairs(300, 100)
    script = BOOK_SCRIPT.replace("import network2", "import fastnn.compat.network2 as network2")
    ours = {"training_data": list(training), "validation_data": list(validation)}
    exec(compile(script, "chapter3.py", "exec"), ours)
    ours_out = capsys.readouterr().out
    theirs = {"training_data": list(training), "validation_data": list(validation)}
    exec(compile(BOOK_SCRIPT.replace("import network2", "import network2_reference as network2"),
                 "chapter3_book.py", "exec"), theirs)
    theirs_out = capsys.readouterr().out

    results = ours["results"]  # (evaluation_cost, evaluation_accuracy, training_cost, ...)
    assert ours_out.splitlines()[:6] == [
        "Epoch 0 training complete",
        f"Cost on training data: {results[2][0]}",
        f"Accuracy on training data: {results[3][0]} / 300",
        f"Cost on evaluation data: {results[0][0]}",
        f"Accuracy on evaluation data: {results[1][0]} / 100",
        "Epoch 1 training complete",
    ]
    assert_same_printout(ours_out, theirs_out)
    assert_same_parameters(ours["net"], theirs["net"])
    assert ours["results"][1][-1] > 50  # it learned (chance is about 10)


def test_nielsen_and_network2_name_the_same_objects():
    assert network2.Network is nielsen.Network2
    for name in ("CrossEntropyCost", "QuadraticCost", "load", "vectorized_result"):
        assert getattr(nielsen, name) is getattr(network2, name)
    np.testing.assert_array_equal(network2.vectorized_result(3), book.vectorized_result(3))


@pytest.mark.parametrize("initializer", ["default_weight_initializer", "large_weight_initializer"])
def test_initializers_draw_the_books_parameters_from_numpy_random(initializer):
    ours, theirs = twins([7, 5, 3], "cross_entropy", 21)
    for net in (ours, theirs):
        np.random.seed(4)
        getattr(net, initializer)()
    for a, b in zip(ours.weights + ours.biases, theirs.weights + theirs.biases):
        np.testing.assert_array_equal(a, b)
    # Biases first; the default weights are scaled by 1/sqrt(n_in), the large ones not.
    np.random.seed(4)
    biases = [np.random.randn(5, 1), np.random.randn(3, 1)]
    scale = np.sqrt(7) if initializer == "default_weight_initializer" else 1.0
    np.testing.assert_array_equal(ours.biases[0], biases[0])
    np.testing.assert_array_equal(ours.weights[0], np.random.randn(5, 7) / scale)
    assert ours.cost is network2.CrossEntropyCost
    assert network2.Network([2, 1]).cost is network2.CrossEntropyCost  # the book's default


# -- training -------------------------------------------------------------------------

@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
@pytest.mark.parametrize("lmbda", [0.0, 2.5])
@pytest.mark.parametrize("batch_size", [10, 7])
def test_one_epoch_equals_the_books_update(cost, lmbda, batch_size):
    training, _ = digits_pairs(143, 0)
    ours, theirs = twins([64, 16, 12, 10], cost, 3)
    start = [w.copy() for w in ours.weights]
    random.seed(99)
    ours.SGD(training, 1, batch_size, 0.5, lmbda=lmbda)
    random.seed(99)
    theirs.SGD(training, 1, batch_size, 0.5, lmbda=lmbda)
    assert not np.allclose(ours.weights[0], start[0])
    assert_same_parameters(ours, theirs)


def test_several_epochs_and_iterables_train_as_the_book():
    training, evaluation = digits_pairs(120, 30)
    ours, theirs = twins([64, 9, 10], "cross_entropy", 8)
    random.seed(5)
    ours.SGD(zip(*zip(*training)), 3, 8, 0.3, lmbda=1.0, evaluation_data=iter(evaluation),
             monitor_evaluation_accuracy=True)
    random.seed(5)
    theirs.SGD(training, 3, 8, 0.3, lmbda=1.0, evaluation_data=evaluation,
               monitor_evaluation_accuracy=True)
    assert_same_parameters(ours, theirs)


def test_the_callers_training_list_keeps_its_order_as_in_the_python3_port():
    training, _ = digits_pairs(40, 0)
    data = list(training)
    ours, _ = twins([64, 5, 10], "quadratic", 1)
    ours.SGD(data, 2, 10, 1.0)
    assert [id(x) for x, _ in data] == [id(x) for x, _ in training]
    cached = ours._training_cache
    ours.SGD(data, 1, 10, 1.0)  # the same list: converted once, reused
    assert ours._training_cache is cached


@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_printed_lines_and_the_four_lists_are_the_books(cost, capsys):
    training, evaluation = digits_pairs(150, 60)
    ours, theirs = twins([64, 12, 10], cost, 6)
    flags = dict(lmbda=3.0, evaluation_data=evaluation, monitor_evaluation_cost=True,
                 monitor_evaluation_accuracy=True, monitor_training_cost=True,
                 monitor_training_accuracy=True)
    random.seed(1)
    ours_lists = ours.SGD(training, 4, 10, 0.5, **flags)
    ours_out = capsys.readouterr().out
    random.seed(1)
    book_lists = theirs.SGD(training, 4, 10, 0.5, **flags)
    book_out = capsys.readouterr().out

    assert_same_printout(ours_out, book_out)
    assert len(ours_out.splitlines()) == 4 * 5
    assert isinstance(ours_lists, tuple) and len(ours_lists) == 4
    for mine, theirs_list in zip(ours_lists, book_lists):
        assert len(mine) == len(theirs_list) == 4
    (eval_cost, eval_acc, train_cost, train_acc) = ours_lists
    assert eval_acc == book_lists[1] and train_acc == book_lists[3]
    assert all(type(a) is int for a in eval_acc + train_acc)
    np.testing.assert_allclose(eval_cost, book_lists[0], rtol=1e-9)
    np.testing.assert_allclose(train_cost, book_lists[2], rtol=1e-9)
    assert all(isinstance(c, np.float64) for c in eval_cost + train_cost)


def test_only_the_monitored_lists_fill(capsys):
    training, evaluation = digits_pairs(50, 20)
    ours, _ = twins([64, 6, 10], "cross_entropy", 2)
    lists = ours.SGD(training, 2, 10, 0.5, evaluation_data=evaluation,
                     monitor_evaluation_accuracy=True)
    assert [len(x) for x in lists] == [0, 2, 0, 0]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 0 training complete"
    assert re.fullmatch(r"Accuracy on evaluation data: \d+ / 20", lines[1])
    assert len(lines) == 4
    assert ours.SGD(training, 0, 10, 0.5) == ([], [], [], [])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("monitor", ["evaluation", "training"])
def test_early_stopping_stops_when_the_book_does(monitor, capsys):
    training, evaluation = digits_pairs(100, 50)
    flags = dict(lmbda=0.1, evaluation_data=evaluation, early_stopping_n=2,
                 monitor_evaluation_accuracy=monitor == "evaluation",
                 monitor_training_accuracy=monitor == "training")
    # eta = 0: the accuracy never improves after epoch 0, so epochs 1 and 2
    # make two without improvement and the book stops after epoch 2.
    ours, theirs = twins([64, 6, 10], "cross_entropy", 9)
    lists = ours.SGD(training, 30, 10, 0.0, **flags)
    ours_out = capsys.readouterr().out
    book_lists = theirs.SGD(training, 30, 10, 0.0, **flags)
    assert_same_printout(ours_out, capsys.readouterr().out)
    assert lists == book_lists
    assert sum(len(x) for x in lists) == 3
    assert ours_out.splitlines()[-2] == "Epoch 2 training complete"

    # Learning with a large eta on a small set: plateaus, stops where the book does.
    ours, theirs = twins([64, 6, 10], "cross_entropy", 9)
    random.seed(2)
    lists = ours.SGD(training, 40, 5, 4.0, **flags)
    random.seed(2)
    book_lists = theirs.SGD(training, 40, 5, 4.0, **flags)
    assert lists == book_lists
    assert sum(len(x) for x in lists) < 40
    assert_same_parameters(ours, theirs)
    out = capsys.readouterr().out
    assert "Early" not in out and "early" not in out  # the book's messages are commented out


def test_references_taken_before_sgd_keep_their_values():
    training, evaluation = digits_pairs(40, 10)
    net, _ = twins([64, 7, 10], "cross_entropy", 3)
    saved_w, saved_b = net.weights, net.biases
    w0, b0 = net.weights[0], net.biases[1]
    w0_values, b0_values = w0.copy(), b0.copy()
    net.SGD(training, 2, 10, 0.5, lmbda=1.0, evaluation_data=evaluation,
            monitor_evaluation_accuracy=True)
    assert net.weights is not saved_w and net.biases is not saved_b
    np.testing.assert_array_equal(w0, w0_values)
    np.testing.assert_array_equal(b0, b0_values)
    assert not np.allclose(net.weights[0], w0_values)
    after_w = net.weights
    after_w0 = net.weights[0].copy()
    net.update_mini_batch(training[:5], 0.5, 1.0, 40)
    assert net.weights is not after_w
    np.testing.assert_array_equal(after_w[0], after_w0)


@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_update_mini_batch_and_backprop_are_the_books(cost):
    training, _ = digits_pairs(12, 0)
    ours, theirs = twins([64, 8, 10], cost, 4)
    for x, y in training[:2]:
        mine_b, mine_w = ours.backprop(x, y)
        book_b, book_w = theirs.backprop(x, y)
        for a, b in zip(mine_b + mine_w, book_b + book_w):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)
    ours.update_mini_batch(training[:6], 0.7, 4.0, 1000)
    theirs.update_mini_batch(training[:6], 0.7, 4.0, 1000)
    assert_same_parameters(ours, theirs)
    x = training[0][0]
    np.testing.assert_allclose(ours.feedforward(x), theirs.feedforward(x), rtol=1e-12)
    # The cost may be changed afterwards, as in the book.
    ours.cost, theirs.cost = COSTS["quadratic" if cost == "cross_entropy" else "cross_entropy"]
    for a, b in zip(ours.backprop(*training[3])[1], theirs.backprop(*training[3])[1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_accuracy_and_total_cost_are_the_books(cost):
    training, evaluation = digits_pairs(60, 40)
    ours, theirs = twins([64, 10, 10], cost, 5)
    assert ours.accuracy(evaluation) == theirs.accuracy(evaluation)
    assert ours.accuracy(training, convert=True) == theirs.accuracy(training, convert=True)
    assert ours.accuracy(iter(evaluation)) == theirs.accuracy(evaluation)
    for lmbda in (0.0, 3.0):
        assert ours.total_cost(training, lmbda) == pytest.approx(
            theirs.total_cost(training, lmbda), rel=1e-9)
        assert ours.total_cost(evaluation, lmbda, convert=True) == pytest.approx(
            theirs.total_cost(evaluation, lmbda, convert=True), rel=1e-9)
    # The book's regularisation term, once: 0.5 * (lmbda / len(data)) * sum ||w||^2.
    term = 0.5 * (3.0 / len(evaluation)) * sum(np.sum(w * w) for w in ours.weights)
    difference = (ours.total_cost(evaluation, 3.0, convert=True)
                  - ours.total_cost(evaluation, 0.0, convert=True))
    assert difference == pytest.approx(term, rel=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the book's exp overflow, log(0)
def test_cross_entropy_counts_a_saturated_right_answer_as_zero_as_the_book():
    ours, theirs = twins([3, 2], "cross_entropy", 0)
    for net in (ours, theirs):
        net.weights = [np.zeros((2, 3))]
        net.biases = [np.array([[800.0], [-800.0]])]  # outputs exactly 1 and 0
    data = [(np.ones((3, 1)), np.array([[1.0], [0.0]]))]
    assert ours.total_cost(data, 0.0) == theirs.total_cost(data, 0.0) == 0.0
    assert network2.CrossEntropyCost.fn(np.array([[1.0]]), np.array([[1.0]])) == 0.0


def test_a_cost_class_of_ones_own_and_overridden_methods_are_honoured():
    class MyCrossEntropy:
        fn = staticmethod(book.CrossEntropyCost.fn)
        delta = staticmethod(book.CrossEntropyCost.delta)

    class Counting(network2.Network):
        calls = 0

        def update_mini_batch(self, mini_batch, eta, lmbda, n):
            Counting.calls += 1
            super().update_mini_batch(mini_batch, eta, lmbda, n)

    training, evaluation = digits_pairs(50, 20)
    _, theirs = twins([64, 6, 10], "cross_entropy", 7)
    np.random.seed(7)
    mine = network2.Network([64, 6, 10], cost=MyCrossEntropy)
    np.random.seed(7)
    counting = Counting([64, 6, 10])
    random.seed(3)
    theirs.SGD(training, 2, 10, 0.5, lmbda=2.0)
    for net in (mine, counting):
        random.seed(3)
        net.SGD(training, 2, 10, 0.5, lmbda=2.0)
        assert_same_parameters(net, theirs)
    assert Counting.calls == 2 * 5
    assert mine.total_cost(evaluation, 2.0, convert=True) == pytest.approx(
        theirs.total_cost(evaluation, 2.0, convert=True), rel=1e-9)


def test_pickled_network_computes_the_same():
    training, _ = digits_pairs(10, 0)
    net, _ = twins([64, 5, 10], "quadratic", 1)
    twin = pickle.loads(pickle.dumps(net))
    assert twin.cost is network2.QuadraticCost
    for a, b in zip(twin.backprop(*training[0]), net.backprop(*training[0])):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_bad_arguments_are_refused_before_training():
    training, evaluation = digits_pairs(20, 5)
    net, _ = twins([64, 5, 10], "cross_entropy", 1)
    before = [w.copy() for w in net.weights]
    with pytest.raises(ValueError, match="need evaluation_data"):
        net.SGD(training, 1, 10, 0.5, monitor_evaluation_accuracy=True)
    with pytest.raises(ValueError, match="early_stopping_n"):
        net.SGD(training, 1, 10, 0.5, evaluation_data=evaluation, early_stopping_n=2)
    with pytest.raises(ValueError, match="lmbda must be finite"):
        net.SGD(training, 1, 10, 0.5, lmbda=float("nan"))
    with pytest.raises(TypeError, match="lmbda must be a real number"):
        net.SGD(training, 1, 10, 0.5, lmbda="5")
    with pytest.raises(ValueError, match="labels must be integers"):
        net.SGD(training, 1, 10, 0.5, evaluation_data=training, monitor_evaluation_cost=True)
    with pytest.raises(ValueError, match="empty"):
        net.SGD([], 1, 10, 0.5)
    with pytest.raises(TypeError, match="cost must be a cost class"):
        network2.Network([2, 1], cost="CrossEntropyCost")
    for a, b in zip(net.weights, before):
        np.testing.assert_array_equal(a, b)


# -- save and load --------------------------------------------------------------------

@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_save_writes_the_books_json_and_load_reads_it_back(cost, tmp_path):
    training, _ = digits_pairs(30, 0)
    ours, theirs = twins([64, 6, 10], cost, 2)
    ours.SGD(training, 1, 10, 0.5, lmbda=1.0)
    path = tmp_path / "net.json"
    ours.save(str(path))

    data = json.loads(path.read_text())
    assert list(data) == ["sizes", "weights", "biases", "cost"]
    assert data["sizes"] == [64, 6, 10]
    assert data["cost"] == COSTS[cost][0].__name__
    # The book's load reads it, value for value.
    book_net = book.load(str(path))
    assert book_net.cost is COSTS[cost][1] and book_net.sizes == [64, 6, 10]
    for a, b in zip(book_net.weights + book_net.biases, ours.weights + ours.biases):
        np.testing.assert_array_equal(a, b)
    # Ours reads it back, and reads what the book's save writes.
    loaded = network2.load(path)
    assert loaded.cost is COSTS[cost][0] and loaded.sizes == [64, 6, 10]
    for a, b in zip(loaded.weights + loaded.biases, ours.weights + ours.biases):
        np.testing.assert_array_equal(a, b)
    theirs.save(str(tmp_path / "book.json"))
    from_book = nielsen.load(str(tmp_path / "book.json"))
    for a, b in zip(from_book.weights + from_book.biases, theirs.weights + theirs.biases):
        np.testing.assert_array_equal(a, b)
    x = training[0][0]
    np.testing.assert_array_equal(loaded.feedforward(x), ours.feedforward(x))


def good_file():
    return {"sizes": [3, 2], "weights": [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]],
            "biases": [[[0.1], [-0.1]]], "cost": "CrossEntropyCost"}


def edited(**changes):
    data = good_file()
    data.update(changes)
    return json.dumps(data)


HOSTILE_FILES = {
    "truncated": (json.dumps(good_file())[:40], "invalid JSON"),
    "empty": ("", "invalid JSON"),
    "binary": ("\x00\x01garbage", "invalid JSON"),
    "deeply nested": ("[" * 200000, "invalid JSON"),
    "a list": ("[1, 2]", "holds a JSON list"),
    "no cost": (json.dumps({k: v for k, v in good_file().items() if k != "cost"}), "no cost"),
    "unknown cost": (edited(cost="LogLikelihoodCost"), "unknown cost 'LogLikelihoodCost'"),
    "cost naming another attribute": (edited(cost="Network"), "unknown cost 'Network'"),
    "cost naming a builtin": (edited(cost="__import__"), "unknown cost '__import__'"),
    "cost not a string": (edited(cost=["CrossEntropyCost"]), "unknown cost"),
    "sizes of strings": (edited(sizes=[3, "2"]), r"sizes\[1\] must be an integer"),
    "sizes of floats": (edited(sizes=[3.0, 2]), r"sizes\[0\] must be an integer"),
    "sizes zero": (edited(sizes=[3, 0]), r"sizes\[1\] must be at least 1"),
    "sizes one layer": (edited(sizes=[3]), "at least an input and an output"),
    "sizes not a list": (edited(sizes="3,2"), "sizes must be a list"),
    "sizes enormous": (edited(sizes=[10 ** 12, 10 ** 12]), r"must have shape \(1000000000000"),
    "weights transposed": (edited(weights=[[[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]]),
                           r"weights\[0\] must have shape \(2, 3\)"),
    "weights ragged": (edited(weights=[[[0.1, 0.2, 0.3], [0.4, 0.5]]]), "array of numbers"),
    "weights of strings": (edited(weights=[[["0.1", "0.2", "0.3"], ["0", "0", "0"]]]),
                           "array of numbers"),
    "weights of nulls": (edited(weights=[[[None, 0.2, 0.3], [0.4, 0.5, 0.6]]]), "array of numbers"),
    "weights too many": (edited(weights=good_file()["weights"] * 2), "list of 1 arrays"),
    "weights NaN": (json.dumps(good_file()).replace("0.5", "NaN"), "NaN or infinite"),
    "weights Infinity": (json.dumps(good_file()).replace("0.5", "-Infinity"), "NaN or infinite"),
    "weights overflowing": (json.dumps(good_file()).replace("0.5", "1e999"), "NaN or infinite"),
    "biases flat": (edited(biases=[[0.1, -0.1]]), r"biases\[0\] must have shape \(2, 1\)"),
    "biases huge integers": (edited(biases=[[[10 ** 400], [0]]]), "array of numbers"),
}


@pytest.mark.parametrize("case", list(HOSTILE_FILES))
def test_a_corrupt_or_hostile_file_is_refused_with_a_clear_value_error(case, tmp_path):
    text, message = HOSTILE_FILES[case]
    path = tmp_path / "net.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        network2.load(str(path))
    assert str(path) in str(error.value)


def test_the_good_file_of_the_hostile_cases_loads(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(good_file()))
    net = network2.load(str(path))
    np.testing.assert_array_equal(net.weights[0], np.array(good_file()["weights"][0]))
    assert net.biases[0].shape == (2, 1)
    with pytest.raises(FileNotFoundError):
        network2.load(str(tmp_path / "missing.json"))
