"""L-BFGS (docs/theory.md §14): the full-batch cost and gradient from the
kernels, against central differences and against scikit-learn's lbfgs."""
import numpy as np
import pytest

from fastnn import Network, lbfgs
from fastnn.kernels.objective import plain_objective

pytest.importorskip("scipy")


def regression_problem(n=40, n_in=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    y = np.sin(X.sum(axis=1, keepdims=True)) + 0.1 * rng.standard_normal((n, 1))
    return X, y


@pytest.mark.parametrize("weighted", [False, True])
def test_full_batch_gradient_matches_central_differences_across_chunks(weighted, monkeypatch):
    monkeypatch.setattr(lbfgs, "CHUNK", 7)  # 40 samples: six chunks, the last short
    X, y = regression_problem()
    net = Network([3, 4, 1], output="identity", seed=1)
    weights = np.random.default_rng(2).random(40) * 2 if weighted else None
    cost = lbfgs.FullBatchCost(net, X, y, lmbda=0.3, sample_weight=weights,
                               objective=plain_objective(net.dtype, net._rule))
    start = net.params.copy()
    value, grad = cost(start)
    numeric = np.empty_like(grad)
    for p in range(start.size):
        step = np.zeros_like(start)
        step[p] = 1e-6
        numeric[p] = (cost(start + step)[0] - cost(start - step)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    # the value itself: the weighted mean cost plus the penalty
    net.params[...] = start
    outputs = net.feedforward(X)
    s = np.ones(40) if weights is None else weights
    n_weights = 3 * 4 + 4 * 1
    expected = (np.sum(s * 0.5 * np.sum((outputs - y) ** 2, axis=1))
                + 0.15 * np.sum(start[:n_weights] ** 2)) / s.sum()
    assert value == pytest.approx(expected, rel=1e-12)


def sklearn_initial_params(random_state, layer_units, activation):
    """scikit-learn's MLP initialisation (Glorot-uniform, ``_init_coef``) drawn
    as it draws it, in fastnn's layout: the same starting point."""
    rng = np.random.RandomState(random_state)
    weights, biases = [], []
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        bound = np.sqrt((2.0 if activation == "logistic" else 6.0) / (fan_in + fan_out))
        weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).T.ravel())
        biases.append(rng.uniform(-bound, bound, fan_out))
    return np.concatenate(weights + biases)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_reaches_scikit_learns_loss_from_its_starting_point():
    from sklearn.neural_network import MLPRegressor

    X, y = regression_problem(n=60)
    theirs = MLPRegressor(hidden_layer_sizes=(5,), activation="logistic", solver="lbfgs",
                          alpha=1e-3, max_iter=60, random_state=0).fit(X, y[:, 0])
    net = Network([3, 5, 1], output="identity")
    net.params[...] = sklearn_initial_params(0, [3, 5, 1], "logistic")
    result = lbfgs.minimize(net, X, y, objective=plain_objective(net.dtype, net._rule),
                            lmbda=1e-3, max_iter=60, max_fun=15000, tol=1e-4)
    assert result.n_iter == theirs.n_iter_
    assert result.loss == pytest.approx(theirs.loss_, rel=1e-3)
    np.testing.assert_allclose(net.feedforward(X)[:, 0], theirs.predict(X), rtol=1e-2, atol=1e-3)


def test_max_fun_limits_the_evaluations():
    X, y = regression_problem()
    net = Network([3, 4, 1], output="identity", seed=0)
    result = lbfgs.minimize(net, X, y, objective=plain_objective(net.dtype, net._rule),
                            max_iter=500, max_fun=10, tol=0.0)
    assert not result.converged and result.status == 1
    assert result.n_evaluations <= 11 and result.n_iter <= 10
