"""The optimizers of docs/theory.md §13 in the epoch drivers and the run
loop: every driver against the reference epoch, bitwise across drivers and
thread counts, one step of Network.train against scikit-learn's update,
schedules, and resume 2 + 2 = 4 epochs bitwise."""
import numpy as np
import pytest

import fastnn
from fastnn import _blas, engine, kernels, optimizers
from fastnn.kernels import staged
from fastnn.plan import EpochPlan

from sklearn_optimizers import Adam as AdamReference
from sklearn_optimizers import MomentumSGD

STATEFUL = ["momentum", "nesterov", "adam"]
ETA = {"momentum": 0.1, "nesterov": 0.1, "adam": 0.01, "sgd": 0.5}


def _run_epochs(driver, name, sizes=(9, 7, 3), batch_size=4, n_samples=23, n_threads=2,
                epochs=2, lmbda=2.0, weighted=True, dtype=np.float64, layer_plan=None):
    rng = np.random.default_rng(n_samples)
    n_params = kernels.parameter_count(sizes)
    params = (rng.standard_normal(n_params) / 3).astype(dtype)
    inputs = rng.random((n_samples, sizes[0])).astype(dtype)
    targets = rng.random((n_samples, sizes[-1])).astype(dtype)
    weights = (rng.random(n_samples) * 2).astype(dtype) if weighted else None
    plan = EpochPlan(sizes, batch_size, dtype, n_samples, n_threads, driver=driver,
                     borrow_cores=False, stateful=True, layer_plan=layer_plan)
    state = optimizers.OptimizerState.new(name, ETA[name], n_params, dtype)
    order = np.arange(n_samples, dtype=np.int64)
    costs = []
    for epoch in range(epochs):
        kernels.shuffle_order(order, epoch)
        costs.append(plan.run(params, inputs, targets, order, ETA[name], lmbda=lmbda,
                              sample_weight=weights, optimizer=state.kernel(0.0, dtype)))
    return params, costs, state


@pytest.mark.parametrize("name", STATEFUL)
def test_every_driver_with_an_optimizer_matches_the_reference_epoch(name):
    expected, expected_costs, expected_state = _run_epochs("train_epoch_reference", name)
    assert expected_state.arrays["steps"][0] == 2 * 6  # 23 samples in batches of 4, twice
    for driver in ("train_epoch", "train_epoch_threaded", "train_epoch_shared",
                   "train_epoch_staged"):
        params, costs, state = _run_epochs(driver, name)
        np.testing.assert_allclose(params, expected, rtol=1e-10, atol=1e-12, err_msg=driver)
        np.testing.assert_allclose(costs, expected_costs, rtol=1e-10, err_msg=driver)
        for key in ("first", "second"):
            if key in state.arrays:
                np.testing.assert_allclose(state.arrays[key], expected_state.arrays[key],
                                           rtol=1e-10, atol=1e-12, err_msg=driver)
        assert state.arrays["steps"][0] == expected_state.arrays["steps"][0]


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shared_and_threaded_drivers_are_bitwise_train_epoch_with_an_optimizer(name, dtype):
    # 784-30-10 with batch 10: the shared epoch's own shape (layer 1 split
    # into parts between threads, stepped one batch late)
    shape = dict(sizes=(784, 30, 10), batch_size=10, n_samples=45, dtype=dtype)
    expected, _, _ = _run_epochs("train_epoch", name, n_threads=1, **shape)
    for driver, threads in (("train_epoch_shared", 1), ("train_epoch_shared", 2),
                            ("train_epoch_threaded", 2)):
        params, _, _ = _run_epochs(driver, name, n_threads=threads, **shape)
        np.testing.assert_array_equal(params, expected, err_msg=f"{driver}, {threads}")


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("blas", [False, True])
def test_the_staged_epoch_steps_each_optimizer_as_the_reference(name, blas):
    # the big-layer engine (fastnn.engine): every layer's parts on the tiles
    # or, forced here on a small network, on BLAS; the step follows each
    # part's gradient (§13), the same on one thread or two
    if blas and not _blas.available():
        pytest.skip("SciPy's OpenBLAS is not available")
    sizes = (40, 96, 72, 10)
    layer_plan = engine.default_plan(sizes, 16, parts=2, blas=blas)
    if blas:
        layer_plan.array[1:, [staged.FORWARD, staged.GRADIENT]] = staged.BLAS
        layer_plan.array[2:, staged.BACKWARD] = staged.BLAS  # layer 1 passes no delta back
    shape = dict(sizes=sizes, batch_size=16, n_samples=53)
    expected, expected_costs, _ = _run_epochs("train_epoch_reference", name, **shape)
    runs = [_run_epochs("train_epoch_staged", name, n_threads=threads, layer_plan=layer_plan,
                        **shape) for threads in (1, 2)]
    for params, costs, _ in runs:
        np.testing.assert_allclose(params, expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(costs, expected_costs, rtol=1e-9)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])


def test_batch_1_with_an_optimizer_steps_on_the_mini_batch_path():
    for n_threads in (1, 2):
        assert EpochPlan((784, 30, 10), 1, np.float64, 100, n_threads,
                         stateful=True).driver == "train_epoch_shared"
    assert EpochPlan((4, 3, 2), 1, np.float64, 100, 1).driver == "train_epoch_per_sample"
    with pytest.raises(ValueError, match="plain SGD"):
        EpochPlan((4, 3, 2), 1, np.float64, 100, 1, driver="train_epoch_per_sample",
                  stateful=True)


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam"])
def test_network_train_takes_scikit_learns_steps(name):
    """Full batches in order: each epoch is one step, which must be
    scikit-learn's update of the gradient with alpha W / m coupled in."""
    rng = np.random.default_rng(0)
    X, Y = rng.random((12, 5)), rng.random((12, 2))
    net = fastnn.Network([5, 4, 2], seed=1)
    params = net.params.copy()
    alpha = 0.3  # scikit-learn's; lmbda = alpha n / m with m = n
    reference = (AdamReference([params], ETA[name]) if name == "adam"
                 else MomentumSGD([params], ETA[name], momentum=0.9,
                                  nesterov=name == "nesterov"))
    state = None
    n_weights = 5 * 4 + 4 * 2
    for _ in range(3):
        probe = fastnn.Network.from_params(net.sizes, params.copy())
        grad = probe.gradient(X, Y)
        grad[:n_weights] += alpha * params[:n_weights] / 12
        reference.step([params], [grad])
        history = net.train(X, Y, epochs=1, batch_size=12, eta=ETA[name], lmbda=alpha,
                            shuffle=False, optimizer=name if state is None else state)
        state = history.optimizer
        np.testing.assert_allclose(net.params, params, rtol=1e-12, atol=1e-14)
    assert state.arrays["steps"][0] == 3


def test_invscaling_and_adaptive_move_the_rate_between_epochs():
    rng = np.random.default_rng(0)
    X, Y = rng.random((20, 3)), rng.random((20, 1))
    net = fastnn.Network([3, 4, 1], seed=0)
    history = net.train(X, Y, epochs=3, batch_size=5, eta=0.2,
                        optimizer=fastnn.SGD(momentum=0.5, schedule="invscaling", power_t=0.5))
    assert history.optimizer.learning_rate == pytest.approx(0.2 / (60 + 1) ** 0.5)
    # adaptive: a tolerance no epoch can meet divides the rate by 5 after
    # n_iter_no_change + 1 epochs, and stops the run once it is <= 1e-6
    history = net.train(X, Y, epochs=500, batch_size=5, eta=1e-4,
                        optimizer=fastnn.SGD(momentum=0.5, schedule="adaptive", tol=1e9,
                                             n_iter_no_change=1))
    assert history.optimizer.learning_rate <= 1e-6
    assert history.epochs < 500


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("batch_size", [1, 10])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_resume_two_and_two_epochs_is_four_bitwise(tmp_path, name, batch_size, n_threads):
    rng = np.random.default_rng(3)
    X = rng.random((60, 784))
    labels = rng.integers(0, 10, 60)
    start = fastnn.Network([784, 30, 10], seed=4)
    options = dict(batch_size=batch_size, eta=ETA[name] / 10, lmbda=0.5, seed=5,
                   optimizer=name, n_threads=n_threads)
    whole = start.copy()
    whole_history = whole.train(X, labels, epochs=4, **options)
    halves = start.copy()
    path = tmp_path / "run.npz"
    halves.train(X, labels, epochs=2, checkpoint=path, **options)
    resumed, history = fastnn.resume(path, X, labels, epochs=4, n_threads=n_threads)
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert history.epochs == 4
    # the resumed run's history carries the optimizer's state, as train's does
    for key, array in whole_history.optimizer.arrays.items():
        np.testing.assert_array_equal(history.optimizer.arrays[key], array)
