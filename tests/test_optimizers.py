"""The optimizers of docs/theory.md §13, against scikit-learn's.

Three links, each tested here:

* ``tests/sklearn_optimizers.py``, a NumPy transcription of scikit-learn's
  ``_stochastic_optimizers.py``, against the installed scikit-learn's own
  optimizer classes (bitwise: the same operations in the same order);
* the reference kernels (``fastnn.kernels.reference``, §13) against that
  transcription, one step and a few, with L2 as scikit-learn couples it
  (alpha W / m in the gradient of a batch of m), to 1e-12;
* the fast kernels (``fastnn.kernels.optimizer``) against the reference
  kernels, and bitwise against themselves however the flat vector is cut
  into ranges (threads, rows).
"""
import numpy as np
import pytest

from fastnn.kernels import optimizer as opt
from fastnn.kernels import reference

from sklearn_optimizers import Adam, MomentumSGD, coupled_l2_gradient

sklearn_optimizers = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")

SIZES = np.array([5, 4, 3], dtype=np.int64)  # 5-4-3: 32 weights, 7 biases
N_PARAMS = 5 * 4 + 4 * 3 + 4 + 3
N_WEIGHTS = 5 * 4 + 4 * 3
TIGHT = dict(rtol=1e-12, atol=1e-14)


def random_groups(rng, shapes=((5, 4), (4, 3), (4,), (3,))):
    return [rng.standard_normal(shape) for shape in shapes]


# ---------------------------------------------------------------------------
# The transcription against scikit-learn's classes
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
def test_transcribed_sgd_is_scikit_learns(nesterov, schedule):
    rng = np.random.default_rng(0)
    theirs_params = random_groups(rng)
    ours_params = [p.copy() for p in theirs_params]
    theirs = sklearn_optimizers.SGDOptimizer(theirs_params, 0.1, schedule, 0.9, nesterov, 0.3)
    ours = MomentumSGD(ours_params, 0.1, schedule, 0.9, nesterov, 0.3)
    for epoch in range(4):
        for _ in range(3):
            grads = random_groups(rng)
            theirs.update_params(theirs_params, grads)
            ours.step(ours_params, grads)
        theirs.iteration_ends(12 * (epoch + 1))
        ours.epoch_ended(12 * (epoch + 1))
        assert ours.learning_rate == theirs.learning_rate
        assert ours.no_improvement() == theirs.trigger_stopping("", False)
        assert ours.learning_rate == theirs.learning_rate
    for mine, reference_value in zip(ours_params, theirs_params):
        np.testing.assert_array_equal(mine, reference_value)


def test_transcribed_adaptive_stops_once_the_rate_is_at_most_1e_6():
    ours = MomentumSGD([np.zeros(1)], 1e-3, "adaptive")
    theirs = sklearn_optimizers.SGDOptimizer([np.zeros(1)], 1e-3, "adaptive")
    stops = []
    while not stops or not stops[-1]:
        stops.append(ours.no_improvement())
        assert stops[-1] == theirs.trigger_stopping("", False)
        assert ours.learning_rate == theirs.learning_rate
    # 1e-3 / 5^5 = 3.2e-7 <= 1e-6: five divisions, then the stop
    assert len(stops) == 6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transcribed_adam_is_scikit_learns(dtype):
    rng = np.random.default_rng(1)
    theirs_params = [p.astype(dtype) for p in random_groups(rng)]
    ours_params = [p.copy() for p in theirs_params]
    theirs = sklearn_optimizers.AdamOptimizer(theirs_params, 0.01, 0.8, 0.95, 1e-6)
    ours = Adam(ours_params, 0.01, 0.8, 0.95, 1e-6)
    for _ in range(7):
        grads = [g.astype(dtype) for g in random_groups(rng)]
        theirs.update_params(theirs_params, grads)
        ours.step(ours_params, grads)
        assert ours.learning_rate == theirs.learning_rate
    for mine, reference_value in zip(ours_params, theirs_params):
        np.testing.assert_array_equal(mine, reference_value)


# ---------------------------------------------------------------------------
# The reference kernels against the transcription
# ---------------------------------------------------------------------------
def flat_problem(seed, m=4, alpha=0.3):
    """A flat parameter vector (weights first), the batch's gradient of the
    cost alone (1/m sum_n), and the same gradient as scikit-learn forms it
    with L2: (sum_n + alpha W) / m on the weights."""
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(N_PARAMS)
    grad = rng.standard_normal(N_PARAMS)  # (1/m) sum_n dC_n/dp
    coupled = grad.copy()
    coupled[:N_WEIGHTS] = coupled_l2_gradient(m * grad[:N_WEIGHTS], params[:N_WEIGHTS], alpha, m)
    return params, grad, coupled, alpha / m


@pytest.mark.parametrize("nesterov", [True, False])
def test_momentum_reference_kernels_are_scikit_learns_step(nesterov):
    params, _, _, l2 = flat_problem(2)
    ours = params.copy()
    velocity = np.zeros(N_PARAMS)
    transcription = MomentumSGD([params], 0.05, momentum=0.9, nesterov=nesterov)
    step = (reference.nesterov_step_reference if nesterov
            else reference.momentum_step_reference)
    for batch in range(3):  # the first step has no velocity yet: take three
        _, grad, _, _ = flat_problem(10 + batch)
        coupled = grad.copy()
        coupled[:N_WEIGHTS] = coupled_l2_gradient(4 * grad[:N_WEIGHTS], params[:N_WEIGHTS],
                                                  0.3, 4)
        transcription.step([params], [coupled])
        step(ours, grad, velocity, 0.05, 0.9, l2, N_WEIGHTS)
        np.testing.assert_allclose(ours, params, **TIGHT)
        np.testing.assert_allclose(velocity, transcription.velocities[0], **TIGHT)


def test_adam_reference_kernel_is_scikit_learns_step():
    params, _, _, l2 = flat_problem(3)
    ours = params.copy()
    first, second = np.zeros(N_PARAMS), np.zeros(N_PARAMS)
    transcription = Adam([params], 0.01, 0.9, 0.999, 1e-8)
    for t in range(1, 4):
        _, grad, _, _ = flat_problem(20 + t)
        coupled = grad.copy()
        coupled[:N_WEIGHTS] = coupled_l2_gradient(4 * grad[:N_WEIGHTS], params[:N_WEIGHTS],
                                                  0.3, 4)
        transcription.step([params], [coupled])
        reference.adam_step_reference(ours, grad, first, second, t, 0.01, 0.9, 0.999, 1e-8, l2,
                                      N_WEIGHTS)
        np.testing.assert_allclose(ours, params, **TIGHT)
        np.testing.assert_allclose(first, transcription.first[0], **TIGHT)
        np.testing.assert_allclose(second, transcription.second[0], **TIGHT)


def test_momentum_zero_is_the_plain_step_with_its_decay():
    """mu = 0: p + (0 v - eta g) is §7's step; L2 coupled is §10's decay."""
    params, grad, _, l2 = flat_problem(4)
    plain = params.copy()
    stepped = params.copy()
    reference.step_reference(plain, grad, 0.05, 1.0 - 0.05 * l2, N_WEIGHTS)
    reference.momentum_step_reference(stepped, grad, np.zeros(N_PARAMS), 0.05, 0.0, l2,
                                      N_WEIGHTS)
    np.testing.assert_allclose(stepped, plain, **TIGHT)


# ---------------------------------------------------------------------------
# The fast kernels against the reference kernels
# ---------------------------------------------------------------------------
def optimizer_for(code, dtype, l2, steps=0):
    zeros = np.zeros(N_PARAMS, dtype)
    return opt.Optimizer(np.int64(code), 0.9 if code != opt.ADAM else 0.85, 0.99, 1e-7, l2,
                         zeros.copy() if code != opt.SGD else np.empty(0, dtype),
                         zeros.copy() if code == opt.ADAM else np.empty(0, dtype),
                         np.array([steps], np.int64))


def reference_steps(code, params, grads, l2, steps=0):
    """The reference kernel of ``code`` over a sequence of gradients."""
    first, second = np.zeros(N_PARAMS), np.zeros(N_PARAMS)
    for batch, grad in enumerate(grads):
        if code == opt.ADAM:
            reference.adam_step_reference(params, grad, first, second, steps + batch + 1, 0.02,
                                          0.85, 0.99, 1e-7, l2, N_WEIGHTS)
        elif code == opt.NESTEROV:
            reference.nesterov_step_reference(params, grad, first, 0.02, 0.9, l2, N_WEIGHTS)
        elif code == opt.MOMENTUM:
            reference.momentum_step_reference(params, grad, first, 0.02, 0.9, l2, N_WEIGHTS)
        else:
            reference.step_reference(params, grad, 0.02, 1.0 - 0.02 * l2, N_WEIGHTS)
    return params


@pytest.mark.parametrize("code", [opt.SGD, opt.MOMENTUM, opt.NESTEROV, opt.ADAM])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_steps_match_the_reference_kernels(code, dtype):
    rng = np.random.default_rng([5, code])
    params = rng.standard_normal(N_PARAMS)
    grads = [rng.standard_normal(N_PARAMS) for _ in range(3)]
    expected = reference_steps(code, params.copy(), grads, 0.01, steps=2)

    flat = params.astype(dtype)
    rows = params.astype(dtype)
    flat_state = optimizer_for(code, dtype, 0.01, steps=2)
    rows_state = optimizer_for(code, dtype, 0.01, steps=2)
    for batch, grad in enumerate(grads):
        grad = grad.astype(dtype)
        opt.step_flat(flat, grad, SIZES, flat_state, 0.02, np.int64(batch))
        # layer by layer, in row ranges cut unevenly: the same numbers
        for i, bounds in ((2, (0, 2, 3)), (1, (0, 1, 4))):
            for j_begin, j_end in zip(bounds[:-1], bounds[1:]):
                opt.step_layer_rows(rows, grad, SIZES, i, np.int64(j_begin), np.int64(j_end),
                                    rows_state, 0.02, np.int64(batch))
    tolerance = TIGHT if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(flat, expected, **tolerance)
    np.testing.assert_array_equal(rows, flat)
    for mine, theirs in ((rows_state.first, flat_state.first),
                         (rows_state.second, flat_state.second)):
        np.testing.assert_array_equal(mine, theirs)


def test_adam_rate_is_scikit_learns():
    for t in (1, 2, 10, 1000):
        theirs = 0.001 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        assert opt.adam_rate(0.001, 0.9, 0.999, t) == pytest.approx(theirs, rel=1e-15)


# ---------------------------------------------------------------------------
# fastnn.optimizers: names, checks, schedules, the state a run keeps
# ---------------------------------------------------------------------------
def test_optimizer_names_and_their_objects():
    from fastnn import optimizers

    assert optimizers.as_optimizer("sgd") == optimizers.SGD()
    assert optimizers.as_optimizer("nesterov").name == "nesterov"
    assert optimizers.as_optimizer("momentum").name == "momentum"
    assert optimizers.SGD(momentum=0.0, nesterov=True).name == "sgd"  # mu = 0 is plain SGD
    assert optimizers.as_optimizer("adam") == optimizers.Adam()
    assert not optimizers.keeps_state("sgd") and optimizers.keeps_state("adam")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        optimizers.as_optimizer("rmsprop")
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match=r"beta_2 must be in \[0, 1\)"):
        optimizers.Adam(beta_2=1.0)
    with pytest.raises(ValueError, match="epsilon must be in"):
        optimizers.Adam(epsilon=0.0)
    with pytest.raises(ValueError, match="schedule must be one of"):
        optimizers.SGD(schedule="cosine")
    with pytest.raises(TypeError, match="nesterov"):
        optimizers.SGD(nesterov="yes")


def test_schedules_move_the_rate_as_scikit_learns():
    from fastnn import optimizers

    for schedule in optimizers.SCHEDULES:
        name, options, _ = optimizers.new_state(optimizers.SGD(momentum=0.9, schedule=schedule,
                                                               power_t=0.3), 0.1, 4, np.float64)
        theirs = MomentumSGD([np.zeros(1)], 0.1, schedule, 0.9, False, 0.3)
        for epoch in range(1, 9):
            optimizers.epoch_ended(options, 0.1, 12 * epoch)
            theirs.epoch_ended(12 * epoch)
            assert optimizers.epoch_rate(options) == theirs.learning_rate
            assert optimizers.no_improvement(options) == theirs.no_improvement()
            assert optimizers.epoch_rate(options) == theirs.learning_rate


def test_the_state_of_a_run_is_the_kernels_optimizer():
    from fastnn import optimizers

    name, options, arrays = optimizers.new_state(optimizers.Adam(beta_1=0.8), 0.01, 7,
                                                 np.float32)
    assert name == "adam" and set(arrays) == {"first", "second", "steps"}
    kernel = optimizers.kernel_optimizer(name, options, arrays, 0.5, np.float32)
    assert kernel.code == opt.ADAM and kernel.momentum == 0.8 and kernel.l2 == 0.5
    assert kernel.first is arrays["first"] and kernel.second.dtype == np.float32
    assert optimizers.from_state(name, options) == optimizers.Adam(beta_1=0.8)
    name, options, arrays = optimizers.new_state("nesterov", 0.1, 7, np.float64)
    kernel = optimizers.kernel_optimizer(name, options, arrays, 0.0, np.float64)
    assert kernel.code == opt.NESTEROV and kernel.second.size == 0 and kernel.first.size == 7
    assert optimizers.from_state(name, options) == optimizers.SGD(momentum=0.9, nesterov=True)
    name, options, arrays = optimizers.new_state("sgd", 0.1, 7, np.float64)
    assert set(arrays) == {"steps"}
    assert optimizers.kernel_optimizer(name, options, arrays, 0.0, np.float64).code == opt.SGD
