"""The activations users ask for (docs/theory.md §11, §12): each f and its
f' from the activation, the libm-free forms of the loops against libm, the
softmax, the table of cost/output pairs, and the reference path's gradient
for every activation x output x cost (central differences, the
independent NumPy reference, networks worked by hand)."""
import warnings

import numba
import numpy as np
import pytest

from fastnn.kernels import activation, dropout, objective, reference
from fastnn.kernels.activation import IDENTITY, LEAKY_RELU, LOGISTIC, RELU, SOFTMAX, TANH
from fastnn.kernels.layout import parameter_count, workspace_size
from fastnn.kernels.objective import (CROSS_ENTROPY_SIGMOID, CROSS_ENTROPY_SOFTMAX,
                                      QUADRATIC_IDENTITY, QUADRATIC_SIGMOID, Dropout,
                                      HiddenActivations, Objective)

import naive
from test_gradient import ARCHITECTURES, relative_error

HIDDEN = {"logistic": LOGISTIC, "tanh": TANH, "relu": RELU, "leaky_relu": LEAKY_RELU,
          "identity": IDENTITY}
# (cost, output, rule): every pair that is not refused
RULES = [("quadratic", "sigmoid", QUADRATIC_SIGMOID),
         ("cross_entropy", "sigmoid", CROSS_ENTROPY_SIGMOID),
         ("quadratic", "identity", QUADRATIC_IDENTITY),
         ("cross_entropy", "softmax", CROSS_ENTROPY_SOFTMAX)]
SLOPE = naive.SLOPE
# The libm-free forms are what the compiled loops run; as plain Python
# (NUMBA_DISABLE_JIT=1) the loops call libm's.
compiled_only = pytest.mark.skipif(numba.config.DISABLE_JIT,
                                   reason="tests the compiled loops' libm-free forms")


# -- f and f' --------------------------------------------------------------------
@pytest.mark.parametrize("name", HIDDEN)
def test_each_derivative_from_the_activation_is_f_prime(name):
    """§11: activation_derivative(f(z)) is f'(z) (central differences of
    the reference f), away from ReLU's kink; and f is naive's."""
    code = HIDDEN[name]
    z = np.concatenate([np.linspace(-6, 6, 241), [-0.3, 1e-3, -1e-3]])
    z = z[np.abs(z) > 1e-9]
    step = 1e-6
    values = np.array([activation.activation_value(v, code, SLOPE) for v in z])
    np.testing.assert_allclose(values, naive.activate(z, name), rtol=1e-15, atol=1e-300)
    numeric = np.array([(activation.activation_value(v + step, code, SLOPE)
                         - activation.activation_value(v - step, code, SLOPE)) / (2 * step)
                        for v in z])
    derivative = np.array([activation.activation_derivative(a, code, SLOPE) for a in values])
    np.testing.assert_allclose(derivative, numeric, rtol=1e-7, atol=1e-9)


def test_the_subgradients_at_zero_are_the_documented_ones():
    """ReLU takes 0 at z = 0 and leaky ReLU its slope (scikit-learn's and
    PyTorch's choices, docs/theory.md §11); f' of a NaN is no number > 0."""
    assert activation.activation_derivative(0.0, RELU, SLOPE) == 0.0
    assert activation.activation_derivative(0.0, LEAKY_RELU, 0.2) == 0.2
    assert activation.activation_derivative(-0.0, LEAKY_RELU, 0.2) == 0.2
    assert activation.activation_derivative(np.float32(0.5), TANH, np.float32(0)) == 0.75
    assert activation.activation_derivative(0.0, IDENTITY, SLOPE) == 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", HIDDEN)
def test_the_loops_activations_pass_nan_through_and_saturate(dtype, name):
    """activate_row (the loops' forms): NaN stays NaN (ReLU's max would
    drop it), +-inf go to f's limits, and the dtype is kept."""
    code = HIDDEN[name]
    row = np.array([np.nan, np.inf, -np.inf, 0.0, 2.0, -3.0], dtype)
    activation.activate_row(row, code, SLOPE)
    assert row.dtype == dtype and np.isnan(row[0])
    limits = {"logistic": (1, 0), "tanh": (1, -1), "relu": (np.inf, 0),
              "leaky_relu": (np.inf, -np.inf), "identity": (np.inf, -np.inf)}[name]
    assert (row[1], row[2]) == limits
    with np.errstate(over="ignore"):
        expected = naive.activate(np.array([0.0, 2.0, -3.0]), name).astype(dtype)
    np.testing.assert_allclose(row[3:], expected, rtol=3e-7 if dtype == np.float32 else 1e-15)


@compiled_only
def test_float32_tanh_of_the_loops_is_accurate_everywhere():
    """The loops' float32 tanh avoids libm (to vectorize): within 2 ulp of
    the exact value (long double) at most, no worse on average than libm's
    float32 tanh, odd, monotonic, and exactly +-1 from |z| = 9.1."""
    z = np.concatenate([np.linspace(-60, 60, 400_001), np.geomspace(1e-38, 1, 5000),
                        -np.geomspace(1e-38, 1, 5000), [-1e30, -104, 0, 1e30]]).astype(np.float32)
    t = z.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        activation.activate_row(t, TANH, np.float32(0))
    exact = np.tanh(z.astype(np.longdouble))
    ulp = np.spacing(np.maximum(np.abs(exact), np.finfo(np.float32).tiny).astype(np.float32))
    ours, libm = (np.abs(v.astype(np.longdouble) - exact) / ulp.astype(np.longdouble)
                  for v in (t, np.tanh(z)))
    assert ours.max() <= 2.5, (z[np.argmax(ours)], ours.max())
    assert ours.mean() <= libm.mean() + 0.02
    assert np.all(np.diff(t[:400_001]) >= 0)
    mirrored = -z
    activation.activate_row(mirrored, TANH, np.float32(0))
    np.testing.assert_array_equal(mirrored, -t)
    assert t[-1] == 1 and t[-4] == -1 and t[-2] == 0
    assert np.all(np.abs(t[np.abs(z) >= 9.1]) == 1)


@compiled_only
def test_float64_tanh_of_the_loops_is_as_accurate_as_libm():
    """The loops' float64 tanh avoids libm: against the exact value (long
    double) at most 2.5 ulp (libm's: 1.2 here), no worse on average than
    libm's (0.19 against 0.21 ulp here), odd and monotonic."""
    rng = np.random.default_rng(5)
    z = np.concatenate([np.linspace(-30, 30, 400_001), rng.standard_normal(100_000) * 3,
                        np.geomspace(1e-300, 1, 5000), -np.geomspace(1e-300, 1, 5000),
                        [-1e300, -400, -19.06, 0.0, 1e-300, 19.06, 400, 1e300]])
    t = z.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        activation.activate_row(t, TANH, 0.0)
    exact = np.tanh(z.astype(np.longdouble))
    ulp = np.spacing(np.maximum(np.abs(exact), np.finfo(np.float64).tiny).astype(np.float64))
    ours, libm = (np.abs(v.astype(np.longdouble) - exact) / ulp for v in (t, np.tanh(z)))
    assert ours.max() <= 2.5, (z[np.argmax(ours)], ours.max())
    assert ours.mean() <= libm.mean() + 0.02
    assert np.all(np.diff(t[:400_001]) >= 0)
    mirrored = -z
    activation.activate_row(mirrored, TANH, 0.0)
    np.testing.assert_array_equal(mirrored, -t)
    assert t[-1] == 1 and t[-8] == -1 and t[-5] == 0


# -- softmax ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_of_a_row_is_stable_and_accurate(dtype):
    """§11: a_j = exp(z_j - max z) / sum_k exp(z_k - max z): sums to 1,
    matches libm's exp form, stays finite where exp(z) overflows, and
    gives NaN for a NaN input (a diverged network)."""
    rng = np.random.default_rng(1)
    # float32: z - max z is rounded to float32 before exp, so an output
    # e^-50 carries 50 float32 ulp of relative error: the small ones are
    # held to an absolute bound
    tolerance = dict(rtol=2e-6, atol=1e-9) if dtype == np.float32 else dict(rtol=2e-15, atol=0)
    for scale in (0.1, 3.0, 30.0, 300.0):
        z = (rng.standard_normal(10) * scale).astype(dtype)
        a = z.copy()
        activation.softmax_row(a)
        expected = naive.softmax(z.astype(np.float64))
        np.testing.assert_allclose(a, expected, **tolerance)
        assert abs(float(np.sum(a, dtype=np.float64)) - 1) < 10 * np.finfo(dtype).eps
        ref = z.astype(np.float64)[None, :].copy()
        reference.softmax_reference(ref, 0)
        np.testing.assert_allclose(ref[0], expected, rtol=1e-15)
    big = np.array([1000, 999, -1000, 1000], dtype)
    activation.softmax_row(big)
    np.testing.assert_allclose(big, [1 / (2 + np.exp(-1)), np.exp(-1) / (2 + np.exp(-1)), 0,
                                     1 / (2 + np.exp(-1))], rtol=1e-6)
    for bad in (np.nan, np.inf):
        row = np.array([0.5, bad, -1.0], dtype)
        activation.softmax_row(row)
        assert np.all(np.isnan(row))


@compiled_only
def test_the_loops_exp_is_as_accurate_as_libm():
    """softmax_row's exp (libm-free, for x <= 0) in float64 within 1 ulp of
    libm's, 0 where libm underflows; in float32 within 2e-7."""
    x = np.concatenate([np.linspace(-760, 0, 200_001), -np.geomspace(1e-300, 1, 2000)])
    ours = np.array([activation.exp_in_loop(v) for v in x[::50]])
    libm = np.exp(x[::50])
    assert np.all((ours == 0) == (libm == 0))
    ulp = np.spacing(np.maximum(libm, np.finfo(np.float64).tiny))
    assert np.max(np.abs(ours - libm) / ulp) <= 1.0
    x32 = x[x > -87].astype(np.float32)[::40]
    ours32 = np.array([activation.exp_in_loop(v) for v in x32])
    assert ours32.dtype == np.float32
    exact = np.exp(x32.astype(np.float64))
    assert np.max(np.abs(ours32 - exact) / exact) < 2e-7


# -- the table of pairs ------------------------------------------------------------
def test_the_pairs_table_gives_a_rule_or_a_reason():
    """§11 (§15): each accepted pair has its rule; the refused ones say why."""
    every = ("sigmoid", "identity", "softmax", "exp")
    for cost, output, rule in RULES:
        assert objective.output_rule(cost, output, outputs=every) == rule
    with pytest.raises(ValueError, match="cross_entropy.*needs output='sigmoid'"):
        objective.output_rule("cross_entropy", "identity", outputs=every)
    with pytest.raises(ValueError, match="softmax' needs cost='cross_entropy'.*log-likelihood"):
        objective.output_rule("quadratic", "softmax", outputs=every)
    with pytest.raises(ValueError, match="output must be one of"):
        objective.output_rule("cross_entropy", "tanh", outputs=every)
    assert set(objective.PAIRS) == {(c, o) for c in objective.COSTS for o in every}


def test_hidden_activation_names():
    assert activation.hidden_activation("relu") == RELU
    assert activation.hidden_activation("sigmoid") == LOGISTIC
    with pytest.raises(ValueError, match="softmax is an output layer"):
        activation.hidden_activation("softmax")
    with pytest.raises(ValueError, match="activation must be one of 'logistic', 'tanh'"):
        activation.hidden_activation("gelu")


# -- the reference path: cost and gradient -------------------------------------------
def reference_cost_and_gradient(params, sizes, X, Y, rule, codes, slopes, drop=None):
    """(mean C, mean gradient) of the batch X, Y by the reference epoch with
    eta = 0 (one batch of every sample, in order)."""
    m = X.shape[0]
    sizes = np.asarray(sizes, np.int64)
    grad = np.empty_like(params)
    activations = np.empty(workspace_size(sizes, m))
    deltas = np.empty_like(activations)
    goal = Objective(np.int64(rule), 1.0, np.empty(0),
                     HiddenActivations(np.asarray(codes, np.int64), np.asarray(slopes, np.float64)),
                     objective.NO_DROPOUT if drop is None else drop)
    cost = reference.train_epoch_reference(params.copy(), grad, sizes, X, Y,
                                           np.arange(m, dtype=np.int64), m, 0.0, activations,
                                           deltas, np.empty((m, sizes[-1])), goal)
    return cost / m, grad


def make_problem(sizes, output, m, seed):
    """Parameters as Network's "document" initialisation draws them
    (w ~ N(0, 1/L_{i-1}), b ~ N(0, 1)), so that deep ReLU and identity
    layers neither blow up nor saturate the outputs; inputs in [0, 1)."""
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(parameter_count(sizes))
    start = 0
    for i in range(1, len(sizes)):
        params[start:start + sizes[i] * sizes[i - 1]] /= np.sqrt(sizes[i - 1])
        start += sizes[i] * sizes[i - 1]
    X = rng.random((m, sizes[0]))
    if output == "softmax":
        Y = np.eye(sizes[-1])[rng.integers(sizes[-1], size=m)]
    elif output == "identity":
        Y = rng.normal(0, 2, (m, sizes[-1]))
    else:
        Y = rng.random((m, sizes[-1]))
    return params, X, Y


def unpack(params, sizes):
    """weights, biases (naive's lists) of a flat parameter vector."""
    weights, biases, start = [], [], 0
    for i in range(1, len(sizes)):
        count = sizes[i] * sizes[i - 1]
        weights.append(params[start:start + count].reshape(sizes[i], sizes[i - 1]))
        start += count
    for i in range(1, len(sizes)):
        biases.append(params[start:start + sizes[i]])
        start += sizes[i]
    return weights, biases


def central_differences(cost, params, step=1e-6):
    numeric = np.empty_like(params)
    for p in range(params.size):
        plus, minus = params.copy(), params.copy()
        plus[p] += step
        minus[p] -= step
        numeric[p] = (cost(plus) - cost(minus)) / (2 * step)
    return numeric


def softmax_sizes(sizes, output):
    """Softmax needs >= 2 outputs: the single-output architecture gets two."""
    return sizes[:-1] + [2] if output == "softmax" and sizes[-1] == 1 else sizes


@pytest.mark.parametrize("sizes", ARCHITECTURES, ids=str)
@pytest.mark.parametrize("cost, output, rule", RULES, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_reference_gradient_matches_central_differences(sizes, cost, output, rule, hidden):
    """§11: every hidden activation x output x cost on the five
    architectures of test_gradient.py, float64, a batch of 3 (softmax:
    one-hot targets, >= 2 outputs); the reference's gradient against
    central differences of its cost, and both against tests/naive.py."""
    sizes = softmax_sizes(sizes, output)
    params, X, Y = make_problem(sizes, output, 3, seed=len(sizes) + 10 * rule)
    codes = [HIDDEN[hidden]] * (len(sizes) - 2)
    slopes = [SLOPE] * len(codes)
    mean_cost, analytic = reference_cost_and_gradient(params, sizes, X, Y, rule, codes, slopes)
    numeric = central_differences(
        lambda p: reference_cost_and_gradient(p, sizes, X, Y, rule, codes, slopes)[0], params)
    assert relative_error(analytic, numeric) < 1e-6
    weights, biases = unpack(params, sizes)
    naive_cost, naive_gradient = naive.general_flat_gradient(
        weights, biases, X, Y, [hidden] * len(codes), output, cost)
    assert mean_cost == pytest.approx(naive_cost, rel=1e-12)
    np.testing.assert_allclose(analytic, naive_gradient, rtol=1e-10, atol=1e-13)


def test_one_activation_per_layer():
    """A different activation in each hidden layer (which scikit-learn
    cannot do), leaky slopes of their own."""
    sizes = [2, 9, 8, 7, 6, 5]
    names = ["tanh", "relu", "leaky_relu", "identity"]
    codes = [HIDDEN[name] for name in names]
    for cost, output, rule in RULES:
        params, X, Y = make_problem(sizes, output, 4, seed=rule)
        slopes = [0.0, 0.0, 0.2, 0.0]
        _, analytic = reference_cost_and_gradient(params, sizes, X, Y, rule, codes, slopes)
        weights, biases = unpack(params, sizes)
        _, expected = naive.general_flat_gradient(weights, biases, X, Y, names, output, cost,
                                                  slope=0.2)
        np.testing.assert_allclose(analytic, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("sizes", [s for s in ARCHITECTURES if len(s) > 2], ids=str)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_reference_gradient_with_dropout(sizes, hidden):
    """§12: with the epoch's masks fixed (its key), the cost is a function
    of the parameters whose gradient the reference's backward pass gives
    (central differences), and naive.py agrees with masks from its own
    transcription of the generator."""
    seed, epoch, rate = 21, 4, 0.4
    drop = Dropout(np.full(len(sizes) - 2, rate), np.full(len(sizes) - 2,
                                                          dropout.dropout_threshold(rate)),
                   dropout.epoch_key(seed, epoch), np.int64(0), np.empty(0, np.int64))
    cost, output, rule = RULES[3] if sizes[-1] > 1 else RULES[1]
    params, X, Y = make_problem(sizes, output, 5, seed=len(sizes))
    codes = [HIDDEN[hidden]] * (len(sizes) - 2)
    slopes = [SLOPE] * len(codes)
    mean_cost, analytic = reference_cost_and_gradient(params, sizes, X, Y, rule, codes, slopes,
                                                      drop)
    numeric = central_differences(
        lambda p: reference_cost_and_gradient(p, sizes, X, Y, rule, codes, slopes, drop)[0],
        params)
    assert relative_error(analytic, numeric) < 1e-6
    masks = naive.dropout_masks(seed, epoch, np.arange(5), sizes, [rate] * len(codes))
    weights, biases = unpack(params, sizes)
    naive_cost, expected = naive.general_flat_gradient(weights, biases, X, Y,
                                                       [hidden] * len(codes), output, cost,
                                                       masks=masks)
    assert mean_cost == pytest.approx(naive_cost, rel=1e-12)
    np.testing.assert_allclose(analytic, expected, rtol=1e-10, atol=1e-13)
    no_drop = reference_cost_and_gradient(params, sizes, X, Y, rule, codes, slopes)[1]
    assert not np.allclose(analytic, no_drop)


# -- tiny networks worked by hand ---------------------------------------------------
# The 2-2-1 network of test_gradient.py::test_hand_worked_2_2_1_network with
# w^(1) = [[0.1, 0.2], [0.3, -0.4]], b^(1) = [0.1, -0.1], x = [1, 2]:
#   z^(1) = [0.1 + 0.4 + 0.1, 0.3 - 0.8 - 0.1] = [0.6, -0.6]
# and w^(2) = [[0.5, -0.5]], b^(2) = [0.2], a sigmoid output, quadratic cost,
# y = 1. Per hidden activation: a^(1), f'(z^(1)), z^(2) = 0.5 a_1 - 0.5 a_2 + 0.2.
HAND = {
    # tanh(0.6) = 0.53705, tanh(-0.6) = -0.53705; f' = 1 - 0.28842 = 0.71158;
    # z^(2) = 0.5 * 0.53705 + 0.5 * 0.53705 + 0.2 = 0.73705
    "tanh": ([np.tanh(0.6), -np.tanh(0.6)], [1 - np.tanh(0.6) ** 2] * 2, 0.73705),
    # relu: a = [0.6, 0], f' = [1, 0]; z^(2) = 0.3 + 0.2 = 0.5
    "relu": ([0.6, 0.0], [1.0, 0.0], 0.5),
    # leaky relu (slope 0.01): a = [0.6, -0.006], f' = [1, 0.01];
    # z^(2) = 0.3 + 0.003 + 0.2 = 0.503
    "leaky_relu": ([0.6, -0.006], [1.0, 0.01], 0.503),
    # identity: a = [0.6, -0.6], f' = [1, 1]; z^(2) = 0.3 + 0.3 + 0.2 = 0.8
    "identity": ([0.6, -0.6], [1.0, 1.0], 0.8),
}


@pytest.mark.parametrize("hidden", HAND)
def test_hand_worked_2_2_1_network_per_activation(hidden):
    a_hidden, f_prime, z_out = HAND[hidden]
    params = np.array([0.1, 0.2, 0.3, -0.4, 0.5, -0.5, 0.1, -0.1, 0.2])
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    a_out = 1 / (1 + np.exp(-z_out))
    assert 0.5 * a_hidden[0] - 0.5 * a_hidden[1] + 0.2 == pytest.approx(z_out, abs=1e-5)
    z_out = 0.5 * a_hidden[0] - 0.5 * a_hidden[1] + 0.2
    a_out = 1 / (1 + np.exp(-z_out))
    # output delta (a - y) a (1 - a); hidden deltas w_1j^(2) delta_out f'(z_j):
    delta_out = (a_out - 1) * a_out * (1 - a_out)
    delta_hidden = [0.5 * delta_out * f_prime[0], -0.5 * delta_out * f_prime[1]]
    expected = np.array([delta_hidden[0] * 1, delta_hidden[0] * 2,
                         delta_hidden[1] * 1, delta_hidden[1] * 2,
                         delta_out * a_hidden[0], delta_out * a_hidden[1],
                         delta_hidden[0], delta_hidden[1], delta_out])
    cost, gradient = reference_cost_and_gradient(params, [2, 2, 1], x, y, QUADRATIC_SIGMOID,
                                                 [HIDDEN[hidden]], [0.01])
    assert cost == pytest.approx(0.5 * (1 - a_out) ** 2, rel=1e-14)
    np.testing.assert_allclose(gradient, expected, rtol=1e-13, atol=1e-17)
    if hidden == "relu":
        # z_2 < 0: neuron 2 is off, and its weights and bias get no gradient
        assert a_out == pytest.approx(0.62246, abs=1e-5)
        assert delta_out == pytest.approx(-0.088723, abs=1e-6)
        assert gradient[2] == gradient[3] == gradient[7] == 0
    if hidden == "leaky_relu":
        # ... while leaky relu passes 1/100 of its delta
        assert gradient[7] == pytest.approx(-0.01 * gradient[6], rel=1e-13)


def test_hand_worked_softmax_output():
    """A 2-2 network (no hidden layer), softmax output, one-hot target:
    w = [[1, 0], [0, 1]], b = [0, ln 3], x = [ln 2, 0]:
    z = [ln 2, ln 3], a = [2/5, 3/5]; y = [1, 0]: C = -ln(2/5) = 0.91629,
    delta = a - y = [-3/5, 3/5], dC/dw = delta x^T, dC/db = delta."""
    params = np.array([1.0, 0.0, 0.0, 1.0, 0.0, np.log(3)])
    x, y = np.array([[np.log(2), 0.0]]), np.array([[1.0, 0.0]])
    cost, gradient = reference_cost_and_gradient(params, [2, 2], x, y, CROSS_ENTROPY_SOFTMAX,
                                                 [], [])
    assert cost == pytest.approx(-np.log(0.4), rel=1e-14)
    assert cost == pytest.approx(0.91629, abs=1e-5)
    np.testing.assert_allclose(gradient, [-0.6 * np.log(2), 0, 0.6 * np.log(2), 0, -0.6, 0.6],
                               rtol=1e-14, atol=1e-16)


def test_hand_worked_dropout():
    """§12 on the relu 2-2-1 network above, with both hidden units' masks
    chosen by hand: unit 1 kept (D = 1 / (1 - p) = 2 at p = 1/2), unit 2
    dropped. a~ = [1.2, 0]; z^(2) = 0.5 * 1.2 + 0.2 = 0.8; the kept unit's
    delta is 2 * 0.5 * delta_out, the dropped unit's 0."""
    seed = next(s for s in range(1000)
                if list(naive.dropout_masks(s, 0, [0], [2, 2, 1], [0.5])[0][0]) == [2.0, 0.0])
    drop = Dropout(np.array([0.5]), np.array([dropout.dropout_threshold(0.5)]),
                   dropout.epoch_key(seed, 0), np.int64(0), np.empty(0, np.int64))
    params = np.array([0.1, 0.2, 0.3, -0.4, 0.5, -0.5, 0.1, -0.1, 0.2])
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    cost, gradient = reference_cost_and_gradient(params, [2, 2, 1], x, y, QUADRATIC_SIGMOID,
                                                 [RELU], [0.0], drop)
    a_out = 1 / (1 + np.exp(-0.8))
    delta_out = (a_out - 1) * a_out * (1 - a_out)
    delta_1 = 2 * 0.5 * delta_out
    assert cost == pytest.approx(0.5 * (1 - a_out) ** 2, rel=1e-14)
    np.testing.assert_allclose(gradient, [delta_1, 2 * delta_1, 0, 0, delta_out * 1.2, 0,
                                          delta_1, 0, delta_out], rtol=1e-13, atol=1e-17)
