"""The half Poisson deviance with an exponential output (docs/theory.md §15):
its cost, its delta a - y against central differences in every driver's
gradient, the refused pairs, and learning."""
import numpy as np
import pytest

import fastnn
from fastnn.kernels.objective import output_rule


def poisson_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    y = rng.poisson(np.exp(X @ np.array([1.0, -0.5, 0.3]))).astype(float).reshape(n, 1)
    return X, y


def test_the_cost_is_the_half_poisson_deviance():
    X, y = poisson_data()
    net = fastnn.Network([3, 4, 1], cost="poisson", output="exp", seed=0)
    a = net.feedforward(X)
    assert (a > 0).all()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y > 0, y * np.log(y / a), 0.0) - y + a
    assert net.cost(X, y) == pytest.approx(terms.mean(), rel=1e-12)


@pytest.mark.parametrize("activation", ["logistic", "relu", "tanh"])
def test_the_gradient_matches_central_differences(activation):
    X, y = poisson_data()
    net = fastnn.Network([3, 5, 1], cost="poisson", output="exp", activation=activation, seed=1)
    grad = net.gradient(X, y)
    start = net.params.copy()
    numeric = np.empty_like(grad)
    for p in range(start.size):
        step = np.zeros_like(start)
        step[p] = 1e-6
        net.params[...] = start + step
        up = net.cost(X, y)
        net.params[...] = start - step
        numeric[p] = (up - net.cost(X, y)) / 2e-6
    net.params[...] = start
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_every_driver_trains_the_same_steps_as_the_reference():
    from fastnn.plan import EpochPlan
    from fastnn import kernels

    X, y = poisson_data(n=23)
    start = fastnn.Network([3, 5, 1], cost="poisson", output="exp", seed=2).params
    results = {}
    # (batch size 1 too: the per-sample loops once left the exp output at z)
    for driver, batch_size in (("train_epoch_reference", 4), ("train_epoch", 4),
                               ("train_epoch_threaded", 4), ("train_epoch_shared", 4),
                               ("train_epoch_per_sample", 1),
                               ("train_epoch_per_sample_shared", 1)):
        plan = EpochPlan((3, 5, 1), batch_size, np.float64, 23, 2, driver=driver,
                         borrow_cores=False, cost="poisson", output="exp")
        params = start.copy()
        order = np.arange(23, dtype=np.int64)
        kernels.shuffle_order(order, 1)
        plan.run(params, X, y, order, 0.05)
        results[driver, batch_size] = params
    # (per-sample SGD against the reference epoch of batch size 1)
    reference_1 = start.copy()
    order = np.arange(23, dtype=np.int64)
    kernels.shuffle_order(order, 1)
    EpochPlan((3, 5, 1), 1, np.float64, 23, 1, driver="train_epoch_reference",
              cost="poisson", output="exp").run(reference_1, X, y, order, 0.05)
    for (driver, batch_size), params in results.items():
        expected = results["train_epoch_reference", 4] if batch_size == 4 else reference_1
        np.testing.assert_allclose(params, expected, rtol=1e-10, err_msg=driver)


def test_poisson_and_exp_go_together():
    with pytest.raises(ValueError, match="needs output='exp'"):
        output_rule("poisson", "identity")
    with pytest.raises(ValueError, match="needs cost='poisson'"):
        output_rule("quadratic", "exp")


def test_a_poisson_network_learns():
    X, y = poisson_data(n=200)
    net = fastnn.Network([3, 8, 1], cost="poisson", output="exp", activation="relu", seed=0)
    history = net.train(X, y, epochs=30, batch_size=10, eta=0.01, optimizer="adam", seed=0)
    assert history.cost[-1] < 0.7 * history.cost[0]
