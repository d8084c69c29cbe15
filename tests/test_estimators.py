"""fastnn.MLPClassifier / fastnn.MLPRegressor as scikit-learn estimators.

scikit-learn's own ``parametrize_with_checks`` suite runs on both estimators,
with their default parameters and with small networks, with no check marked
as an expected failure (``expected_failed_checks`` is not used). One check
runs with full batches (``FULL_BATCH``), as scikit-learn runs it on its own
MLPs: check_sample_weight_equivalence_on_dense_data compares a fit with
integer weights to a fit on the samples repeated, to 1e-7, which holds for
full-batch gradient descent but not for shuffled mini-batches (there the
equivalence holds in expectation). Three checks of the suite skip
themselves in this environment: the array-API checks (SCIPY_ARRAY_API is not
set) and the two pandas checks (pandas is not installed).
"""
import functools
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.estimators import MLPClassifier, MLPRegressor  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]

# Small networks keep every fit of the suites below in milliseconds.
SMALL = dict(hidden_layer_sizes=(5,), max_iter=100, random_state=0)

# A batch larger than any data set of the check suite: every epoch is one
# step of full-batch gradient descent (on all the data: no validation split).
FULL_BATCH = dict(batch_size=1000, early_stopping=False)


@pytest.fixture(scope="module")
def digits():
    """Digits scaled to [0, 1], split as in scripts/compare_sklearn.py."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=450, random_state=0)


@pytest.fixture(scope="module")
def blobs():
    """Three well separated Gaussian clusters in 4-D, 150 samples."""
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    y = np.repeat(np.arange(3), 50)
    X = centres[y] + 0.4 * rng.standard_normal((150, 4))
    return X, y


def sigmoid_forward(estimator, X, identity_output=False):
    """Output activations computed from coefs_/intercepts_ with plain NumPy."""
    a = np.asarray(X, dtype=np.float64)
    last = len(estimator.coefs_) - 1
    for layer, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        z = a @ W + b
        if identity_output and layer == last:
            return z
        with np.errstate(over="ignore"):  # exp(-z) = inf for z << 0 gives a = 0
            a = 1.0 / (1.0 + np.exp(-z))
    return a


def fitted_state(estimator):
    """Everything a failed call must leave untouched, copied."""
    return {
        "params": estimator._network.params.copy(),
        "coefs": [c.copy() for c in estimator.coefs_],
        "loss_curve": list(estimator.loss_curve_),
        "n_iter": estimator.n_iter_,
        "n_features_in": estimator.n_features_in_,
        "classes": getattr(estimator, "classes_", None),
        "keys": sorted(vars(estimator)),
    }


def assert_same_state(before, estimator):
    after = fitted_state(estimator)
    np.testing.assert_array_equal(after["params"], before["params"])
    for c_after, c_before in zip(after["coefs"], before["coefs"]):
        np.testing.assert_array_equal(c_after, c_before)
    assert after["loss_curve"] == before["loss_curve"]
    assert after["n_iter"] == before["n_iter"]
    assert after["n_features_in"] == before["n_features_in"]
    assert after["keys"] == before["keys"]
    if before["classes"] is not None:
        np.testing.assert_array_equal(after["classes"], before["classes"])


# ---------------------------------------------------------------------------
# scikit-learn's own compatibility suite
# ---------------------------------------------------------------------------
def _run_check(estimator, check):
    name = check
    while isinstance(name, functools.partial):
        name = name.func
    if name.__name__ == "check_sample_weight_equivalence_on_dense_data":
        # exact only for full batches (module docstring); scikit-learn runs
        # this check on its own MLPs with solver="lbfgs" or full-batch SGD
        estimator = clone(estimator).set_params(**FULL_BATCH)
    check(estimator)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([MLPClassifier(**SMALL), MLPRegressor(**SMALL)])
def test_sklearn_check_suite(estimator, check):
    _run_check(estimator, check)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_check_suite_with_default_parameters(estimator, check):
    _run_check(estimator, check)


# ---------------------------------------------------------------------------
# scikit-learn stays optional
# ---------------------------------------------------------------------------
def test_import_fastnn_does_not_import_sklearn():
    subprocess.run(
        [sys.executable, "-c", "import fastnn, sys; assert 'sklearn' not in sys.modules"],
        cwd=REPO_ROOT,
        check=True,
    )


def test_estimators_are_reachable_from_the_package():
    assert fastnn.MLPClassifier is MLPClassifier
    assert fastnn.MLPRegressor is MLPRegressor
    with pytest.raises(AttributeError, match="no attribute 'NotAThing'"):
        fastnn.NotAThing  # noqa: B018


# ---------------------------------------------------------------------------
# Defaults and the meaning of the fitted attributes
# ---------------------------------------------------------------------------
def test_init_stores_parameters_untouched():
    odd = dict(hidden_layer_sizes=[7, "x"], batch_size=-1, learning_rate_init="fast",
               dtype="int8", tol=None)
    estimator = MLPClassifier(**odd)
    for name, value in odd.items():
        assert getattr(estimator, name) is value
    # the tables of docs/estimators.md
    shared = dict(hidden_layer_sizes=(100,), alpha=1e-4, batch_size=10, max_iter=200)
    classifier = dict(shared, loss="log_loss", learning_rate_init=3.0, early_stopping=False)
    regressor = dict(shared, learning_rate_init=0.03, early_stopping=True)
    assert MLPClassifier().get_params() | classifier == MLPClassifier().get_params()
    assert MLPRegressor().get_params() | regressor == MLPRegressor().get_params()
    assert "loss" not in MLPRegressor().get_params()


def test_coefs_are_sklearn_shaped_transposed_views_of_the_network(blobs):
    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(6, 5), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(4, 6), (6, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(6,), (5,), (3,)]
    for coef, weights in zip(clf.coefs_, clf._network.weights):
        np.testing.assert_array_equal(coef, weights.T)
    np.testing.assert_allclose(sigmoid_forward(clf, X), clf._network.feedforward(X),
                               rtol=1e-12, atol=1e-14)
    # Writing into coefs_ changes the model, as with scikit-learn's MLP.
    before = clf.predict_proba(X)
    clf.coefs_[-1][...] = 0.0
    clf.intercepts_[-1][...] = 0.0
    np.testing.assert_allclose(clf.predict_proba(X), np.full_like(before, 1 / 3))
    # outputs that all underflow to 0 give a uniform row, not 0/0
    clf.intercepts_[-1][...] = -1e4
    np.testing.assert_array_equal(sigmoid_forward(clf, X), 0.0)
    np.testing.assert_allclose(clf.predict_proba(X), np.full_like(before, 1 / 3))


def test_predict_proba_normalises_the_sigmoid_outputs(blobs):
    X, y = blobs
    clf = MLPClassifier(**SMALL).fit(X, y)
    outputs = sigmoid_forward(clf, X)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, outputs / outputs.sum(axis=1, keepdims=True),
                               rtol=1e-10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(outputs, axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.score(X, y) > 0.95
    assert clf.out_activation_ == "logistic" and clf.n_layers_ == 3 and clf.n_outputs_ == 3


def test_binary_problem_has_one_output_and_two_probability_columns(blobs):
    X, y = blobs
    keep = y < 2
    names = np.array(["no", "yes"])[y[keep]]
    clf = MLPClassifier(**SMALL).fit(X[keep], names)
    assert clf.coefs_[-1].shape == (5, 1)
    output = sigmoid_forward(clf, X[keep])[:, 0]
    proba = clf.predict_proba(X[keep])
    np.testing.assert_allclose(proba, np.column_stack([1 - output, output]), rtol=1e-10)
    np.testing.assert_array_equal(clf.predict(X[keep]), np.where(output > 0.5, "yes", "no"))
    assert clf.score(X[keep], names) == 1.0


def test_string_labels_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"], dtype=object)
    clf = MLPClassifier(hidden_layer_sizes=(30,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, names[y_train])
    np.testing.assert_array_equal(clf.classes_, np.sort(names))
    predicted = clf.predict(X_test)
    assert set(predicted) <= set(names)
    assert np.mean(predicted == names[y_test]) > 0.9


# ---------------------------------------------------------------------------
# Regression: identity outputs on standardized targets
# ---------------------------------------------------------------------------
def test_regressor_trains_identity_outputs_on_standardized_targets():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(200, 2))
    y = 200.0 + 100.0 * np.sin(2 * X[:, 0]) + 30.0 * X[:, 1]
    reg = MLPRegressor(hidden_layer_sizes=(10,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    np.testing.assert_allclose(reg.target_mean_, [y.mean()], rtol=1e-12)
    np.testing.assert_allclose(reg.target_scale_, [y.std()], rtol=1e-12)
    assert reg.out_activation_ == "identity" and reg._network.output == "identity"
    outputs = sigmoid_forward(reg, X, identity_output=True)[:, 0]
    predicted = reg.predict(X)
    assert predicted.shape == (200,) and predicted.dtype == np.float64
    np.testing.assert_allclose(predicted, y.mean() + outputs * y.std(), rtol=1e-10)
    assert reg.score(X, y) > 0.95


def test_regressor_multioutput_and_constant_targets():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(60, 3))
    Y = np.column_stack([X[:, 0] * 5.0, np.full(60, 7.0)])
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y)
    # the constant column is centred, not divided by its zero deviation
    np.testing.assert_array_equal(reg.target_mean_[1], 7.0)
    np.testing.assert_array_equal(reg.target_scale_[1], 1.0)
    predicted = reg.predict(X)
    assert predicted.shape == (60, 2)
    # its outputs learn 0, in units of y (scale 1)
    np.testing.assert_allclose(predicted[:, 1], 7.0, atol=0.2)
    assert np.corrcoef(predicted[:, 0], Y[:, 0])[0, 1] > 0.9


def test_target_scaling_is_weighted_and_survives_huge_targets():
    from fastnn.estimators.regressor import target_scaling as _target_scaling

    y = np.array([[1.0, -3.0], [2.0, -3.0], [4.0, -3.0]])
    weights = np.array([1.0, 0.0, 3.0])
    mean, scale = _target_scaling(y, weights)
    repeated = np.array([1.0, 4.0, 4.0, 4.0])
    np.testing.assert_allclose(mean, [repeated.mean(), -3.0], rtol=1e-15)
    np.testing.assert_allclose(scale, [repeated.std(), 1.0], rtol=1e-15)
    # squares of 1e300 overflow; the scaling is computed without them
    mean, scale = _target_scaling(np.array([[-1e300], [1e300]]), None)
    np.testing.assert_array_equal(mean, [0.0])
    np.testing.assert_allclose(scale, [1e300], rtol=1e-15)


# ---------------------------------------------------------------------------
# loss, alpha and sample_weight: the steps of scikit-learn's plain SGD
# ---------------------------------------------------------------------------
def _regression_data(n=40, seed=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.column_stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 0]])
    return X, y


@pytest.mark.parametrize("kind", ["classifier log_loss", "regressor"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_steps_equal_sklearn_sgd_without_momentum(kind, weighted):
    """One epoch from the same parameters, no shuffling, alpha > 0.

    scikit-learn's SGD (momentum 0, constant step) on a batch B takes
    W <- W - eta (sum_B s_n dC_n/dW + alpha W) / sum_B s_n, with
    delta^L = a - y for a logistic output with log-loss and for an identity
    output with the squared error, as fastnn's. Unweighted: batches of 8 of
    40 samples. Weighted: one full batch (batch_size above the total weight,
    where alpha's decay eta alpha / b has b = the weight sum in both).
    """
    from sklearn.neural_network import MLPClassifier as SkClassifier
    from sklearn.neural_network import MLPRegressor as SkRegressor

    X, Y = _regression_data()
    batch_size = 1000 if weighted else 8
    weights = (np.random.default_rng(8).integers(0, 4, size=40).astype(float)
               if weighted else None)
    common = dict(hidden_layer_sizes=(4,), alpha=0.05, batch_size=batch_size,
                  learning_rate_init=0.3, shuffle=False, random_state=0)
    sgd = dict(activation="logistic", solver="sgd", momentum=0.0, learning_rate="constant")
    if kind == "regressor":
        ours, theirs, y, first = MLPRegressor(**common), SkRegressor(**common, **sgd), Y, {}
    else:
        y = (Y[:, 0] > 0).astype(int)
        ours = MLPClassifier(loss="log_loss", **common)
        theirs, first = SkClassifier(**common, **sgd), {"classes": [0, 1]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn clips batch_size with a warning
        ours.partial_fit(X, y, **first)
        y_theirs = y if kind != "regressor" else (y - ours.target_mean_) / ours.target_scale_
        theirs.partial_fit(X, y_theirs, **first)
        for mine, other in zip(ours.coefs_ + ours.intercepts_,
                               theirs.coefs_ + theirs.intercepts_):
            other[...] = mine
        ours.partial_fit(X, y, sample_weight=weights)
        theirs.partial_fit(X, y_theirs, sample_weight=weights)
    for mine, other in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, other, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss", ["squared_error", "log_loss"])
def test_loss_curve_is_the_chosen_cost_before_each_step(blobs, loss):
    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(5,), loss=loss, alpha=0.0, batch_size=1000,
                        learning_rate_init=0.5, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    a = sigmoid_forward(clf, X)  # the parameters the next (full-batch) step starts from
    t = np.eye(3)[y]
    if loss == "squared_error":
        expected = np.mean(0.5 * np.sum((t - a) ** 2, axis=1))
    else:
        expected = np.mean(-np.sum(t * np.log(a) + (1 - t) * np.log(1 - a), axis=1))
    clf.partial_fit(X, y)
    np.testing.assert_allclose(clf.loss_curve_[-1], expected, rtol=1e-10)
    assert clf._network.cost_name == ("quadratic" if loss == "squared_error"
                                      else "cross_entropy")


def test_log_loss_learns_the_digits(digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(30,), loss="log_loss", learning_rate_init=0.5,
                        max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.93
    np.testing.assert_allclose(clf.predict_proba(X_test).sum(axis=1), 1.0)


@pytest.mark.parametrize("make, target", [
    (lambda **kw: MLPClassifier(**kw), lambda X, Y: (Y[:, 0] > 0).astype(int)),
    (lambda **kw: MLPRegressor(**kw), lambda X, Y: Y),
], ids=["classifier", "regressor"])
def test_equal_weights_train_as_no_weights(make, target):
    X, Y = _regression_data()
    y = target(X, Y)
    params = dict(hidden_layer_sizes=(4,), max_iter=20, random_state=0, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = make(**params).fit(X, y)
        ones = make(**params).fit(X, y, sample_weight=np.ones(40))
        scalar = make(**params).fit(X, y, sample_weight=1.0)
        # other equal weights too, once alpha's penalty (which counts the
        # weights as samples) is off
        plain0 = make(alpha=0.0, **params).fit(X, y)
        threes = make(alpha=0.0, **params).fit(X, y, sample_weight=np.full(40, 3.0))
    for model in (ones, scalar):
        np.testing.assert_array_equal(model._network.params, plain._network.params)
    np.testing.assert_array_equal(threes._network.params, plain0._network.params)


def test_zero_weights_do_not_move_a_full_batch_fit():
    """A sample of weight 0 leaves every step as if it were absent."""
    X, Y = _regression_data()
    weights = np.ones(40)
    weights[::4] = 0.0
    keep = weights > 0
    params = dict(hidden_layer_sizes=(4,), max_iter=15, batch_size=1000, random_state=0,
                  tol=0.0, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPRegressor(**params).fit(X, Y, sample_weight=weights)
        removed = MLPRegressor(**params).fit(X[keep], Y[keep])
    np.testing.assert_allclose(weighted.target_mean_, removed.target_mean_, rtol=1e-14)
    np.testing.assert_allclose(weighted.predict(X), removed.predict(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, removed.loss_curve_, rtol=1e-9)


def test_early_stopping_splits_the_weights_and_weights_the_score():
    from sklearn.metrics import r2_score

    X, Y = _regression_data(n=200)
    weights = np.random.default_rng(9).uniform(0.5, 2.0, size=200)
    reg = MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=30,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y, sample_weight=weights)
    rng = np.random.RandomState(0)
    rng.randint(2**31 - 1)  # the initialisation seed
    _, X_val, _, Y_val, _, w_val = train_test_split(
        X, Y, weights, test_size=0.1, random_state=int(rng.randint(2**31 - 1)))
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    np.testing.assert_allclose(r2_score(Y_val, reg.predict(X_val), sample_weight=w_val),
                               reg.best_validation_score_, rtol=1e-12)
    assert r2_score(Y_val, reg.predict(X_val)) != reg.best_validation_score_


def test_early_stopping_falls_back_to_the_training_cost_where_it_cannot_score():
    X, Y = _regression_data(n=40)
    params = dict(hidden_layer_sizes=(4,), max_iter=30, random_state=0, early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # 10 samples: the held-out tenth would be 1 sample, and R^2 needs 2
        small = MLPRegressor(**params).fit(X[:10], Y[:10])
        # only 2 samples of non-zero weight: the random split leaves one side
        # without weight (here: the validation part)
        weights = np.zeros(40)
        weights[[3, 17]] = 1.0
        sparse = MLPRegressor(**params).fit(X, Y, sample_weight=weights)
        split = MLPRegressor(**params).fit(X, Y)
    for model in (small, sparse):
        assert model.validation_scores_ is None and model.best_validation_score_ is None
        assert model.best_loss_ == min(model.loss_curve_)
    assert len(split.validation_scores_) == split.n_iter_ and split.best_loss_ is None


# ---------------------------------------------------------------------------
# Stopping rules, mirroring scikit-learn's
# ---------------------------------------------------------------------------
def test_tol_and_n_iter_no_change_stop_training(blobs):
    X, y = blobs
    # No epoch can lower the cost by more than 10, so every epoch after the
    # first (which improves on best_loss_ = inf) counts as "no improvement",
    # and, as in scikit-learn, training stops when the count exceeds
    # n_iter_no_change: after 1 + (n_iter_no_change + 1) epochs.
    clf = MLPClassifier(hidden_layer_sizes=(5,), tol=10.0, n_iter_no_change=3,
                        max_iter=50, random_state=0).fit(X, y)
    assert clf.n_iter_ == 5 == len(clf.loss_curve_)
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_max_iter_reached_warns(blobs):
    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3


def test_early_stopping_scores_a_held_out_part(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(20,), early_stopping=True, n_iter_no_change=2,
                        max_iter=200, random_state=0).fit(X_train, y_train)
    assert clf.n_iter_ < 200
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    # the held-out 10% is recovered by the same split of the same seed chain
    rng = np.random.RandomState(0)
    rng.randint(2**31 - 1)  # the initialisation seed
    _, X_val, _, y_val = train_test_split(X_train, y_train, test_size=0.1,
                                          random_state=int(rng.randint(2**31 - 1)),
                                          stratify=y_train)
    assert clf.score(X_val, y_val) == clf.best_validation_score_
    # partial_fit continues without a validation split
    clf.partial_fit(X_train, y_train)
    assert clf.n_iter_ == len(clf.validation_scores_) + 1
    assert clf.best_loss_ == clf.loss_curve_[-1]


# ---------------------------------------------------------------------------
# partial_fit and warm_start
# ---------------------------------------------------------------------------
def test_partial_fit_with_classes_on_every_call(blobs):
    X, y = blobs
    labels = np.array(["a", "b", "c"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, labels)
    assert not hasattr(clf, "coefs_")
    # the first batch holds only "a" and "b": classes sizes the output layer
    first = labels != "c"
    clf.partial_fit(X[first], labels[first], classes=["c", "b", "a"])
    np.testing.assert_array_equal(clf.classes_, ["a", "b", "c"])
    assert clf.coefs_[-1].shape[1] == 3
    for _ in range(30):
        clf.partial_fit(X, labels, classes=["a", "b", "c"])
    assert clf.n_iter_ == 31 == len(clf.loss_curve_)
    assert clf.t_ == first.sum() + 30 * len(X)
    assert clf.loss_curve_[-1] < clf.loss_curve_[1] / 2
    assert clf.score(X, labels) > 0.95

    before = fitted_state(clf)
    with pytest.raises(ValueError, match="differs from the classes"):
        clf.partial_fit(X, labels, classes=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=r"labels the model was not set up for: \['z'\]"):
        clf.partial_fit(X[:2], ["a", "z"])
    assert_same_state(before, clf)


def test_partial_fit_regressor_keeps_the_first_scaling():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(80, 2))
    y = 10.0 * X[:, 0]
    reg = MLPRegressor(hidden_layer_sizes=(5,), random_state=0)
    reg.partial_fit(X, y)
    mean, scale = reg.target_mean_.copy(), reg.target_scale_.copy()
    reg.partial_fit(X[:10], y[:10] * 0.1)
    np.testing.assert_array_equal(reg.target_mean_, mean)
    np.testing.assert_array_equal(reg.target_scale_, scale)
    assert reg.n_iter_ == 2


def test_warm_start_continues_from_the_fitted_parameters(blobs):
    X, y = blobs
    params = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0,
                  learning_rate_init=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = MLPClassifier(warm_start=True, **params).fit(X, y)
        first_curve = list(warm.loss_curve_)
        warm.fit(X, y)
        cold = MLPClassifier(warm_start=False, **params).fit(X, y)
        cold.fit(X, y)
    assert warm.n_iter_ == 10 and warm.loss_curve_[:5] == first_curve
    # continuing: the 6th epoch starts below where the 1st epoch started
    assert warm.loss_curve_[5] < first_curve[0]
    assert warm.loss_curve_[5] < first_curve[-1] * 1.05
    # without warm_start each fit starts anew from the same seed
    assert cold.n_iter_ == 5 and cold.loss_curve_ == first_curve

    before = fitted_state(warm)
    warm.set_params(hidden_layer_sizes=(6,))
    with pytest.raises(ValueError, match="hidden_layer_sizes is now"):
        warm.fit(X, y)
    assert_same_state(before, warm)


# ---------------------------------------------------------------------------
# Bad input: a clear error, and a fitted model left as it was
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m, X, y: m.fit(np.where(X == X[3, 1], np.nan, X), y), ValueError, "NaN"),
        (lambda m, X, y: m.fit(X, y[:-1]), ValueError, "inconsistent numbers of samples"),
        (lambda m, X, y: m.fit(X[:, :3], np.zeros(len(X))), ValueError, "1 class"),
        (lambda m, X, y: m.fit(X, y + 0.5), ValueError, "Unknown label type"),
        (lambda m, X, y: m.fit(np.full(X.shape, "a"), y), ValueError, "could not convert"),
        (lambda m, X, y: m.set_params(learning_rate_init=-1.0).fit(X, y), ValueError,
         "learning_rate_init must be a finite number > 0"),
        (lambda m, X, y: m.set_params(hidden_layer_sizes=(0,)).fit(X, y), ValueError,
         r"hidden_layer_sizes\[0\] must be at least 1"),
        (lambda m, X, y: m.set_params(dtype="int32").fit(X, y), TypeError,
         "dtype must be float32 or float64"),
        (lambda m, X, y: m.partial_fit(X[:, :3], y), ValueError, "has 3 features"),
        (lambda m, X, y: m.partial_fit(X, y[:-1]), ValueError, "inconsistent"),
        (lambda m, X, y: m.predict(X[:, :3]), ValueError, "has 3 features"),
        (lambda m, X, y: m.predict_proba(X[0]), ValueError, "Expected 2D array"),
        (lambda m, X, y: m.set_params(loss="hinge").fit(X, y), ValueError,
         "loss must be one of 'squared_error', 'log_loss', got 'hinge'"),
        (lambda m, X, y: m.set_params(warm_start=True, loss="squared_error").fit(X, y),
         ValueError, "loss is now 'squared_error' but the model was fitted with 'log_loss'"),
        (lambda m, X, y: m.set_params(alpha=-1e-4).fit(X, y), ValueError,
         "alpha must be a finite number >= 0"),
        (lambda m, X, y: m.set_params(alpha="none").fit(X, y), TypeError, "alpha must be"),
        (lambda m, X, y: m.fit(X, y, sample_weight=np.where(y == 0, -1.0, 1.0)), ValueError,
         "Negative values in data passed to `sample_weight`"),
        (lambda m, X, y: m.fit(X, y, sample_weight=np.zeros(len(y))), ValueError,
         "at least one non-zero"),
        (lambda m, X, y: m.fit(X, y, sample_weight=np.ones(len(y) + 1)), ValueError,
         r"sample_weight.shape == \(151,\), expected \(150,\)"),
        (lambda m, X, y: m.fit(X, y, sample_weight=np.full(len(y), np.nan)), ValueError,
         "sample_weight"),
        (lambda m, X, y: m.set_params(alpha=0.5, learning_rate_init=20.0).fit(X, y),
         ValueError, r"learning_rate_init \* alpha / b = 20 \* 0.5 / 10 is at least 1"),
        (lambda m, X, y: m.set_params(alpha=0.5).fit(X, y, sample_weight=np.full(len(y), 0.01)),
         ValueError, r"3 \* 0.5 / 1.5 is at least 1"),
        (lambda m, X, y: m.fit(X, y, sample_weight=(y == 2).astype(float)), ValueError,
         r"only 1 class \(.*2\)+ has samples of non-zero sample_weight"),
        (lambda m, X, y: m.partial_fit(X, y, sample_weight=-np.ones(len(y))), ValueError,
         "Negative values"),
    ],
)
def test_bad_input_raises_and_leaves_the_model_unchanged(blobs, call, error, message):
    X, y = blobs
    clf = MLPClassifier(**SMALL).fit(X, y)
    before = fitted_state(clf)
    predictions = clf.predict_proba(X)
    with pytest.raises(error, match=message):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            call(clf, X, y)
    assert_same_state(before, clf)
    np.testing.assert_array_equal(clf.set_params(**SMALL, dtype=np.float64,
                                                 learning_rate_init=3.0).predict_proba(X),
                                  predictions)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regressor_bad_sample_weight_leaves_the_model_unchanged():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 3))
    y = X[:, 0] - X[:, 1]
    reg = MLPRegressor(**SMALL).fit(X, y)
    before = fitted_state(reg)
    scaling = (reg.target_mean_.copy(), reg.target_scale_.copy())
    for weights, message in ((-np.ones(40), "Negative"), (np.zeros(40), "non-zero"),
                             (np.ones(39), "sample_weight.shape")):
        for call in (reg.fit, reg.partial_fit):
            with pytest.raises(ValueError, match=message):
                call(X, y, sample_weight=weights)
    assert_same_state(before, reg)
    np.testing.assert_array_equal(reg.target_mean_, scaling[0])
    np.testing.assert_array_equal(reg.target_scale_, scaling[1])


def test_training_that_produces_nan_is_rejected(blobs):
    X, y = blobs
    clf = MLPClassifier(**SMALL).fit(X, y)
    # inf weights on inputs of both signs make z = inf - inf = NaN, which no
    # step can undo: the call must fail instead of storing a NaN model.
    clf.coefs_[0][...] = np.inf
    before = fitted_state(clf)
    with pytest.raises(ValueError, match="parameters are not finite"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            clf.partial_fit(X, y)
    assert_same_state(before, clf)


def test_unfitted_estimators_say_so(blobs):
    X, _ = blobs
    for estimator in (MLPClassifier(), MLPRegressor()):
        with pytest.raises(NotFittedError):
            estimator.predict(X)


# ---------------------------------------------------------------------------
# Composition: Pipeline, GridSearchCV, cross_val_score, clone, pickle
# ---------------------------------------------------------------------------
def test_pipeline_grid_search_and_cross_validation(digits):
    X_train, X_test, y_train, y_test = digits
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(20,),
                                                             max_iter=20, random_state=0,
                                                             learning_rate_init=0.5))
    search = GridSearchCV(pipeline, {"mlpclassifier__learning_rate_init": [1e-4, 0.5]},
                          cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, y_train)
        scores = cross_val_score(pipeline, X_train, y_train, cv=3)
    # a step of 1e-4 barely moves the weights in 20 epochs
    assert search.best_params_ == {"mlpclassifier__learning_rate_init": 0.5}
    assert search.score(X_test, y_test) > 0.9
    assert scores.shape == (3,) and scores.min() > 0.85


def test_regressor_in_a_pipeline_with_cross_validation():
    rng = np.random.default_rng(4)
    X = rng.normal(5.0, 3.0, size=(150, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(150)
    pipeline = make_pipeline(StandardScaler(),
                             MLPRegressor(hidden_layer_sizes=(10,), max_iter=200,
                                          random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.min() > 0.9


def test_clone_copies_parameters_not_the_fit(blobs):
    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(4,), batch_size=7, learning_rate_init=2.0,
                        max_iter=40, tol=1e-3, random_state=3, dtype=np.float32).fit(X, y)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert not hasattr(twin, "coefs_")
    np.testing.assert_array_equal(twin.fit(X, y).predict_proba(X), clf.predict_proba(X))
    assert clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float64


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("make", [
    lambda: MLPClassifier(**SMALL).fit(*_blob_data()),
    lambda: MLPRegressor(**SMALL).fit(_blob_data()[0], _blob_data()[0][:, :2]),
])
def test_pickle_roundtrip_keeps_predictions_and_training(make):
    X, y = _blob_data()
    model = make()
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    for coef, restored_coef in zip(model.coefs_, restored.coefs_):
        np.testing.assert_array_equal(coef, restored_coef)
    # coefs_ are again views into the restored network's parameters
    assert all(np.shares_memory(c, restored._network.params) for c in restored.coefs_)
    # and both continue identically
    targets = y if isinstance(model, MLPClassifier) else X[:, :2]
    model.partial_fit(X, targets)
    restored.partial_fit(X, targets)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def _blob_data():
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(3), 20)
    X = np.eye(3, 4)[y] * 2.0 + 0.3 * rng.standard_normal((60, 4))
    return X, y


# ---------------------------------------------------------------------------
# Against scikit-learn's MLPClassifier on the digits
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_digits_accuracy_within_two_points_of_sklearn(digits):
    """Both with one hidden layer of 30 and each library's default training.

    fastnn: sigmoid outputs, cross-entropy, SGD batch 10, eta 3.0, stopping
    by tol=1e-4 / n_iter_no_change=10. scikit-learn: ReLU, softmax, log-loss,
    Adam, batch 200, alpha=1e-4, max_iter=200. Timing is not tested here (see
    scripts/compare_sklearn.py).
    """
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

    X_train, X_test, y_train, y_test = digits
    ours = MLPClassifier(hidden_layer_sizes=(30,), random_state=0).fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SklearnMLPClassifier(hidden_layer_sizes=(30,), max_iter=200,
                                      random_state=0).fit(X_train, y_train)
    our_accuracy = ours.score(X_test, y_test)
    their_accuracy = theirs.score(X_test, y_test)
    assert our_accuracy >= their_accuracy - 0.02, (our_accuracy, their_accuracy)
    assert our_accuracy > 0.95


# ---------------------------------------------------------------------------
# Against scikit-learn's MLPRegressor (issue 15's floor)
# ---------------------------------------------------------------------------
def _compare_script():
    """scripts/compare_sklearn.py as a module: the test uses its data and floor."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "compare_sklearn", REPO_ROOT / "scripts" / "compare_sklearn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["diabetes", "friedman1"])
def test_regressor_defaults_meet_the_r2_floor_against_sklearn(name):
    """fastnn.MLPRegressor() against sklearn's MLPRegressor(max_iter=2000),
    standardized data, test R^2 averaged over random_state 0, 1, 2: fastnn's
    may be at most 0.03 below (scripts/compare_sklearn.py prints the table)."""
    compare = _compare_script()
    X_train, X_test, y_train, y_test = compare.regression_data()[name]
    results = compare.compare_regressors(X_train, X_test, y_train, y_test, seeds=3, repeats=1)
    ours, theirs = results["fastnn"][0], results["scikit-learn"][0]
    assert ours >= theirs - compare.R2_FLOOR_MARGIN, (ours, theirs)
    assert ours > {"diabetes": 0.3, "friedman1": 0.9}[name]


def test_estimators_pickled_before_the_objectives_predict_and_train_as_before():
    """Nothing the user saved is lost: estimators pickled by fastnn b89a905
    (no loss/alpha; a regressor with a sigmoid output and targets mapped
    onto [0.1, 0.9]) unpickle with their old behaviour, predict what they
    predicted then, and go on training. tests/data/estimators_b89a905.pickle
    was written by that commit (its fitted estimators and their outputs)."""
    import pathlib
    import pickle

    with open(pathlib.Path(__file__).parent / "data" / "estimators_b89a905.pickle", "rb") as f:
        fixture = pickle.load(f)
    X = fixture["X"]
    regressor = pickle.loads(fixture["regressor"])
    assert regressor.alpha == 0.0 and regressor._network.output == "sigmoid"
    np.testing.assert_allclose(regressor.predict(X), fixture["regressor_predict"], rtol=1e-12)
    classifier = pickle.loads(fixture["classifier"])
    assert (classifier.loss, classifier.alpha) == ("squared_error", 0.0)
    np.testing.assert_allclose(classifier.predict_proba(X), fixture["classifier_proba"],
                               rtol=1e-12)
    from sklearn.base import clone

    assert clone(classifier).get_params()["loss"] == "squared_error"
    before = regressor.score(X, fixture["y"])
    for _ in range(20):
        regressor.partial_fit(X, fixture["y"])
    assert regressor.score(X, fixture["y"]) > before
    classifier.partial_fit(X, fixture["labels"])


# -- issue 23: the hidden layers' activation -------------------------------------------
@pytest.mark.parametrize("activation", ["identity", "tanh", "relu"])
def test_the_activation_parameter_takes_scikit_learns_names(activation):
    """MLPClassifier(hidden_layer_sizes, activation): scikit-learn's
    positional order and names; the network's hidden layers use it, with
    scikit-learn's initial weights (Glorot's uniform, factor 6)."""
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    clf = MLPClassifier((20,), activation, max_iter=1, learning_rate_init=0.1, random_state=0)
    assert clf.get_params()["activation"] == activation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y[:300])
    assert clf._network.activation == activation
    bound = np.sqrt(6 / (64 + 20))
    start = MLPClassifier((20,), activation, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.set_params(learning_rate_init=1e-12).fit(X, y[:300])
    assert np.abs(start.coefs_[0]).max() <= bound + 1e-9
    regressor = MLPRegressor((5,), activation, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        regressor.fit(X[:50], y[:50].astype(float))
    assert regressor._network.activation == activation


def test_a_bad_or_changed_activation_is_refused():
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match="activation must be one of 'logistic', 'tanh'"):
        MLPClassifier(activation="softplus").fit(X[:20], y[:20])
    clf = MLPClassifier((5,), "relu", max_iter=1, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:40] / 16, y[:40])
        with pytest.raises(ValueError, match="activation is now 'tanh' but the model was "
                                             "fitted with 'relu'"):
            clf.set_params(activation="tanh").fit(X[:40] / 16, y[:40])


def test_an_estimator_pickled_before_activations_unpickles_as_logistic():
    clf = MLPClassifier((5,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.random.default_rng(0).random((30, 4)), np.arange(30) % 3)
    state = clf.__getstate__()
    del state["activation"]  # as an estimator pickled before issue 23
    old = MLPClassifier.__new__(MLPClassifier)
    old.__setstate__(state)
    assert old.get_params()["activation"] == "logistic"
    np.testing.assert_array_equal(old.predict_proba(np.ones((2, 4))),
                                  clf.predict_proba(np.ones((2, 4))))
