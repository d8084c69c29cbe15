"""fastnn.MLPClassifier / fastnn.MLPRegressor as scikit-learn's drop-ins.

scikit-learn's own ``parametrize_with_checks`` suite runs on both
estimators, with their default parameters and with small networks, with no
check marked as an expected failure. scikit-learn's MLP test file itself
runs through scripts/run_sklearn_suite.py (tests/test_sklearn_suite.py,
slow). Here: the parameters and defaults are scikit-learn's; the same
initial weights and, without shuffling, the same training as scikit-learn
to rounding; float32 input trains in float32; multilabel, multi-output,
sparse and Poisson; errors leave a model as it was; composition, pickles
(those of earlier fastnn versions too).
"""
import functools
import inspect
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_multilabel_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SklearnClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SklearnRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.estimators import MLPClassifier, MLPRegressor  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SMALL = dict(hidden_layer_sizes=(20,), max_iter=100, random_state=0)
FULL_BATCH = dict(batch_size=1000, early_stopping=False)
EXTRAS = ("dtype", "n_threads")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=450, random_state=0)


def blob_data(n_per_class=20, seed=5):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    X = np.eye(3, 4)[y] * 2.0 + 0.3 * rng.standard_normal((3 * n_per_class, 4))
    return X, y


# ---------------------------------------------------------------------------
# scikit-learn's own compatibility suite
# ---------------------------------------------------------------------------
def _run_check(estimator, check):
    name = check
    while isinstance(name, functools.partial):
        name = name.func
    if name.__name__.startswith("check_sample_weight_equivalence"):
        # exact only for full batches, where a weight of 2 is the sample
        # repeated (docs/estimators.md); scikit-learn runs its own MLPs so
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


def test_import_fastnn_does_not_import_sklearn():
    subprocess.run([sys.executable, "-c",
                    "import fastnn, sys; assert 'sklearn' not in sys.modules"],
                   cwd=REPO_ROOT, check=True)


def test_estimators_are_reachable_from_the_package():
    assert fastnn.MLPClassifier is MLPClassifier
    assert fastnn.MLPRegressor is MLPRegressor


# ---------------------------------------------------------------------------
# scikit-learn's parameters, in its order, with its defaults
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, SklearnClassifier),
                                          (MLPRegressor, SklearnRegressor)])
def test_signature_and_defaults_are_scikit_learns(ours, theirs):
    our_parameters = list(inspect.signature(ours).parameters.values())
    their_parameters = list(inspect.signature(theirs).parameters.values())
    n = len(their_parameters)
    assert [(p.name, p.kind, p.default) for p in our_parameters[:n]] == [
        (p.name, p.kind, p.default) for p in their_parameters]
    extras = [p.name for p in our_parameters[n:]]
    assert set(extras) - {"loss"} == set(EXTRAS)
    assert all(p.kind == p.KEYWORD_ONLY for p in our_parameters[n:])
    # positional as scikit-learn's: MLPRegressor("poisson", (5,), "tanh")
    if ours is MLPRegressor:
        model = ours("poisson", (5,), "tanh")
        assert (model.loss, model.hidden_layer_sizes, model.activation) == ("poisson", (5,),
                                                                             "tanh")
    else:
        model = ours((5,), "tanh")
        assert (model.hidden_layer_sizes, model.activation) == ((5,), "tanh")


def test_init_stores_parameters_untouched():
    odd = dict(hidden_layer_sizes=[7, "x"], batch_size=-1, learning_rate_init="fast",
               dtype="int8", tol=None, solver="newton")
    estimator = MLPClassifier(**odd)
    for name, value in odd.items():
        assert getattr(estimator, name) is value


@pytest.mark.parametrize("make, message", [
    (lambda: MLPClassifier(solver="newton"), "The 'solver' parameter of MLPClassifier must be"),
    (lambda: MLPClassifier(momentum=1.5), "The 'momentum' parameter"),
    (lambda: MLPRegressor(loss="hinge"), "The 'loss' parameter of MLPRegressor must be"),
    (lambda: MLPClassifier(batch_size=0), "The 'batch_size' parameter"),
    (lambda: MLPClassifier(learning_rate="cosine"), "The 'learning_rate' parameter"),
    (lambda: MLPClassifier(hidden_layer_sizes=(3, 0)), "hidden_layer_sizes must be > 0"),
    (lambda: MLPClassifier(dtype="int32"), "dtype must be None, numpy.float32"),
    (lambda: MLPClassifier(n_threads=0), "The 'n_threads' parameter"),
])
def test_bad_parameters_raise_scikit_learns_errors(make, message):
    X, y = blob_data()
    with pytest.raises(ValueError, match=message):
        make().fit(X, y)


# ---------------------------------------------------------------------------
# The same model: scikit-learn's initial weights and, in order, its steps
# ---------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver, activation", [("adam", "relu"), ("sgd", "tanh"),
                                                ("sgd", "logistic"), ("adam", "identity")])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_without_shuffling_fastnn_trains_as_scikit_learn_does(kind, solver, activation):
    """Same random_state: the same initial weights (drawn as scikit-learn
    draws them); shuffle=False: the same batches in the same order, so
    every step of every epoch is scikit-learn's, to rounding (float64)."""
    X, y = blob_data(n_per_class=30)
    if kind == "regressor":
        y = np.sin(X @ np.array([1.0, -1.0, 0.5, 0.2]))
    params = dict(hidden_layer_sizes=(7, 5), activation=activation, solver=solver,
                  batch_size=18, max_iter=6, shuffle=False, random_state=3, alpha=1e-3,
                  learning_rate_init=0.01)
    ours = (MLPClassifier if kind == "classifier" else MLPRegressor)(**params).fit(X, y)
    theirs = (SklearnClassifier if kind == "classifier" else SklearnRegressor)(**params).fit(X, y)
    for mine, reference in zip(ours.coefs_ + ours.intercepts_,
                               theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, reference, rtol=1e-9, atol=1e-12)
    # loss_ adds scikit-learn's L2 term 0.5 alpha |W|^2 / b with the epoch's
    # last W (scikit-learn adds each batch's): close, not to rounding
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-4)
    assert (ours.n_iter_, ours.t_, ours.n_layers_, ours.n_outputs_, ours.out_activation_) == (
        theirs.n_iter_, theirs.t_, theirs.n_layers_, theirs.n_outputs_, theirs.out_activation_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_reaches_scikit_learns_model():
    X, y = blob_data()
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=40, random_state=0)
    ours = MLPClassifier(**params).fit(X, y)
    theirs = SklearnClassifier(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-4)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_fitted_attributes_are_scikit_learns(digits):
    X_train, _, y_train, _ = digits
    model = MLPClassifier(hidden_layer_sizes=(9,), max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        model.fit(X_train, y_train)
    assert [c.shape for c in model.coefs_] == [(64, 9), (9, 10)]
    assert [b.shape for b in model.intercepts_] == [(9,), (10,)]
    # views of the network: writing into coefs_ changes the model
    assert all(np.shares_memory(c, model._network.params) for c in model.coefs_)
    assert model.out_activation_ == "softmax" and model.n_layers_ == 3
    assert model.n_outputs_ == 10 and model.n_iter_ == 3 and model.t_ == 3 * len(X_train)
    assert len(model.loss_curve_) == 3 and model.loss_ == model.loss_curve_[-1]
    assert model.best_loss_ == min(model.loss_curve_)
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    probabilities = model.predict_proba(X_train)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert model._optimizer.learning_rate == 1e-3 and model._optimizer.name == "adam"


# ---------------------------------------------------------------------------
# dtype, sparse, multilabel, multi-output, Poisson
# ---------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_float32_input_trains_in_float32():
    X, y = blob_data()
    model = MLPRegressor(**SMALL).fit(X.astype(np.float32), y.astype(np.float32))
    assert model._network.dtype == np.float32
    assert all(c.dtype == np.float32 for c in model.coefs_)
    assert model.predict(X.astype(np.float32)).dtype == np.float32
    forced = MLPRegressor(**SMALL, dtype=np.float64).fit(X.astype(np.float32), y)
    assert forced._network.dtype == np.float64


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_input_gives_the_dense_model(solver, monkeypatch):
    from fastnn.estimators import base

    monkeypatch.setattr(base, "_SPARSE_ROWS", 16)  # several blocks of rows
    X, y = blob_data()
    X[X < 0.5] = 0.0
    params = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=20, random_state=0,
                  shuffle=False, batch_size=16)
    dense = MLPClassifier(**params).fit(X, y)
    sparse = MLPClassifier(**params).fit(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.predict_proba(scipy.sparse.csc_matrix(X)),
                               dense.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_multilabel_and_multioutput():
    X, Y = make_multilabel_classification(n_samples=60, random_state=0)
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(30,), random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.predict(X).shape == Y.shape
    assert clf.score(X, Y) > 0.9
    assert not np.allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    Y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2] * X[:, 3]])
    reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(20,), random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (80, 2) and reg.score(X, Y) > 0.9


def test_poisson_regression_has_an_exp_output_and_matches_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.random((100, 2))
    y = rng.poisson(np.exp(X @ np.array([1.0, -0.5]) + 0.5))
    params = dict(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs", random_state=0,
                  tol=1e-7)
    ours = MLPRegressor(**params).fit(X, y)
    theirs = SklearnRegressor(**params).fit(X, y)
    assert ours.out_activation_ == "exp" and (ours.predict(X) > 0).all()
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-3)
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(X, -y)


# ---------------------------------------------------------------------------
# Training behaviour: schedules, stopping, partial_fit, warm start, verbose
# ---------------------------------------------------------------------------
def test_schedules_move_the_learning_rate_as_scikit_learns():
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(solver="sgd", hidden_layer_sizes=4, learning_rate="invscaling",
                              max_iter=1, power_t=0.25, warm_start=True).fit(X, y).fit(X, y)
    assert model._optimizer.learning_rate == 0.001 / (8 + 1) ** 0.25
    adaptive = MLPClassifier(tol=0.5, max_iter=3000, solver="sgd",
                             learning_rate="adaptive").fit(X, y)
    assert adaptive._optimizer.learning_rate < 1e-6 and adaptive.n_iter_ < 3000


def test_partial_fit_carries_the_optimizer_and_equals_fit_for_full_batches():
    X, y = blob_data()
    y = y.astype(float)
    fitted = MLPRegressor(solver="sgd", momentum=0.9, batch_size=len(X), max_iter=15, tol=0,
                          n_iter_no_change=100, random_state=1, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X, y)
    stepped = MLPRegressor(solver="sgd", momentum=0.9, batch_size=len(X), random_state=1,
                           learning_rate_init=0.01)
    for _ in range(15):
        stepped.partial_fit(X, y)
    np.testing.assert_allclose(stepped.predict(X), fitted.predict(X), rtol=1e-10)
    assert stepped.n_iter_ == 1 and stepped.t_ == 15 * len(X)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPRegressor(early_stopping=True).fit(X, y).partial_fit(X, y)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_verbose_prints_scikit_learns_lines(capsys):
    X, y = blob_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, verbose=True,
                      early_stopping=True).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Validation score: " in out


def test_early_stopping_keeps_the_best_epoch(digits):
    X_train, X_test, y_train, y_test = digits
    model = MLPClassifier(hidden_layer_sizes=(20,), early_stopping=True, random_state=0,
                          max_iter=200).fit(X_train, y_train)
    assert model.best_loss_ is None and model.best_validation_score_ == max(
        model.validation_scores_)
    assert model.n_iter_ < 200 and model.score(X_test, y_test) > 0.9
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X_train[:2], y_train[:2].astype(float))


# ---------------------------------------------------------------------------
# Errors leave the model as it was
# ---------------------------------------------------------------------------
def fitted_state(estimator):
    return {"params": estimator._network.params.copy(), "loss_curve": list(estimator.loss_curve_),
            "n_iter": estimator.n_iter_, "keys": sorted(vars(estimator))}


@pytest.mark.parametrize("call, message", [
    (lambda m, X, y: m.fit(np.where(X == X[3, 1], np.nan, X), y), "NaN"),
    (lambda m, X, y: m.fit(X, y[:-1]), "inconsistent numbers of samples"),
    (lambda m, X, y: m.partial_fit(X[:, :3], y), "has 3 features"),
    (lambda m, X, y: m.partial_fit(X, y + 7), "`y` has classes not in `self.classes_`"),
    (lambda m, X, y: m.set_params(warm_start=True).fit(X, np.where(y == 2, 1, y)),
     "warm_start can only be used where `y` has the same classes"),
    (lambda m, X, y: m.set_params(solver="newton").fit(X, y), "The 'solver' parameter"),
    (lambda m, X, y: m.fit(X, y, sample_weight=np.where(y == 0, -1.0, 1.0)), "Negative values"),
    (lambda m, X, y: m.fit(X * 1e307, y), "Solver produced non-finite parameter weights"),
])
def test_bad_input_raises_and_leaves_the_model_unchanged(call, message):
    X, y = blob_data()
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    before = fitted_state(clf)
    predictions = clf.predict_proba(X)
    with pytest.raises(ValueError, match=message):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call(clf, X, y)
    after = fitted_state(clf)
    np.testing.assert_array_equal(after["params"], before["params"])
    assert after["loss_curve"] == before["loss_curve"] and after["keys"] == before["keys"]
    np.testing.assert_array_equal(clf.predict_proba(X), predictions)


def test_unfitted_estimators_say_so():
    X, _ = blob_data()
    for estimator in (MLPClassifier(), MLPRegressor()):
        with pytest.raises(NotFittedError):
            estimator.predict(X)


# ---------------------------------------------------------------------------
# Composition and persistence
# ---------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pipeline_grid_search_and_cross_validation(digits):
    X_train, X_test, y_train, y_test = digits
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(20,),
                                                             max_iter=60, random_state=0))
    search = GridSearchCV(pipeline, {"mlpclassifier__learning_rate_init": [1e-6, 1e-2]}, cv=3)
    search.fit(X_train, y_train)
    scores = cross_val_score(pipeline, X_train, y_train, cv=3)
    assert search.best_params_ == {"mlpclassifier__learning_rate_init": 1e-2}
    assert search.score(X_test, y_test) > 0.9 and scores.min() > 0.85
    twin = clone(search.best_estimator_)
    assert not hasattr(twin[-1], "coefs_")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_pickle_roundtrip_keeps_predictions_and_training(kind):
    X, y = blob_data()
    model = (MLPClassifier(**SMALL).fit(X, y) if kind == "classifier"
             else MLPRegressor(**SMALL).fit(X, X[:, :2]))
    targets = y if kind == "classifier" else X[:, :2]
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert all(np.shares_memory(c, restored._network.params) for c in restored.coefs_)
    model.partial_fit(X, targets)
    restored.partial_fit(X, targets)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("fixture", ["estimators_b89a905.pickle", "estimators_44b40d6.pickle"])
def test_estimators_pickled_by_earlier_fastnn_predict_and_train_as_before(fixture):
    """Nothing the user saved is lost: estimators pickled by fastnn b89a905
    (before loss/alpha: sigmoid networks, the regressor's targets mapped
    onto [0.1, 0.9]) and 44b40d6 (before scikit-learn's parameters: sigmoid
    hidden layers, plain SGD, standardized regression targets) unpickle
    with their old behaviour, predict what they predicted then, and go on
    training. Each fixture was written by that commit."""
    with open(DATA / fixture, "rb") as f:
        saved = pickle.load(f)
    X = saved["X"]
    regressor = pickle.loads(saved["regressor"])
    np.testing.assert_allclose(regressor.predict(X), saved["regressor_predict"], rtol=1e-12)
    classifier = pickle.loads(saved["classifier"])
    np.testing.assert_allclose(classifier.predict_proba(X), saved["classifier_proba"],
                               rtol=1e-12)
    assert classifier.solver == "sgd" and classifier.momentum == 0.0
    assert clone(classifier).get_params()["activation"] == "logistic"
    before = regressor.score(X, saved["y"])
    for _ in range(20):
        regressor.partial_fit(X, saved["y"])
    assert regressor.score(X, saved["y"]) > before
    classifier.partial_fit(X, saved["labels"])


# ---------------------------------------------------------------------------
# Same quality as scikit-learn at its defaults
# ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_digits_accuracy_within_one_point_of_sklearn_at_the_defaults(digits):
    X_train, X_test, y_train, y_test = digits
    ours = np.mean([MLPClassifier(random_state=seed).fit(X_train, y_train).score(X_test, y_test)
                    for seed in range(3)])
    theirs = np.mean([SklearnClassifier(random_state=seed).fit(X_train, y_train)
                      .score(X_test, y_test) for seed in range(3)])
    assert ours >= theirs - 0.01, (ours, theirs)


# -- the hidden layers' activation (issue 23) ------------------------------------------
def test_a_changed_activation_is_refused_by_warm_start():
    X, y = blob_data()
    clf = MLPClassifier((5,), "relu", max_iter=1, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        with pytest.raises(ValueError, match="activation is now 'tanh' but the model was "
                                             "fitted with 'relu'"):
            clf.set_params(activation="tanh").fit(X, y)


def test_an_estimator_pickled_before_activations_unpickles_as_logistic():
    clf = MLPClassifier((5,), "logistic", max_iter=1, random_state=0, solver="sgd",
                        momentum=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.random.default_rng(0).random((30, 4)), np.arange(30) % 3)
    state = clf.__getstate__()
    for name in ("activation", "solver"):  # as an estimator pickled before issues 23, 24
        del state[name]
    old = MLPClassifier.__new__(MLPClassifier)
    old.__setstate__(state)
    assert old.get_params()["activation"] == "logistic"
    np.testing.assert_array_equal(old.predict_proba(np.ones((2, 4))),
                                  clf.predict_proba(np.ones((2, 4))))
