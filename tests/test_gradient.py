"""The gradient is right: finite differences, a reference, a hand-worked net."""
import numpy as np
import pytest

import fastnn

import naive

ARCHITECTURES = [
    [4, 5, 3],          # one hidden layer
    [3, 6, 5, 4, 2],    # three hidden layers
    [5, 7, 1],          # a single output neuron
    [6, 2],             # no hidden layer
    [2, 9, 8, 7, 6, 5], # deeper than any real use here
]


def central_differences(net, x, y, step=1e-6):
    numeric = np.empty(net.n_params)
    for p in range(net.n_params):
        original = net.params[p]
        net.params[p] = original + step
        plus = net.cost(x, y)
        net.params[p] = original - step
        minus = net.cost(x, y)
        net.params[p] = original
        numeric[p] = (plus - minus) / (2 * step)
    return numeric


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b))


@pytest.mark.parametrize("sizes", ARCHITECTURES, ids=str)
@pytest.mark.parametrize("m", [1, 3, 9])
def test_gradient_matches_central_differences(sizes, m):
    rng = np.random.default_rng(len(sizes) * 100 + m)
    net = fastnn.Network(sizes, seed=m)
    x = rng.random((m, sizes[0]))
    y = rng.random((m, sizes[-1]))
    analytic = net.gradient(x, y)
    numeric = central_differences(net, x, y)
    assert relative_error(analytic, numeric) < 1e-6


def test_sigmoid_prime_sign_is_positive_not_the_documents():
    """The document's f'(z) = -exp(z)/(exp(z)+1)^2 fails the finite-difference check."""
    z = np.linspace(-6, 6, 25)
    step = 1e-6
    numeric = (naive.sigmoid(z + step) - naive.sigmoid(z - step)) / (2 * step)
    documents = -np.exp(z) / (np.exp(z) + 1) ** 2
    correct = np.exp(-z) / (1 + np.exp(-z)) ** 2
    kernel = np.array([fastnn.kernels.sigmoid_prime(v) for v in z])
    np.testing.assert_allclose(correct, numeric, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(kernel, numeric, rtol=1e-7, atol=1e-10)
    assert np.all(documents < 0) and np.all(numeric > 0)


def test_documents_recursion_indices_give_a_wrong_gradient():
    """Summing over layer i-1 with w_jk^(i), as the document writes, disagrees
    with finite differences; summing over layer i+1 with w_kj^(i+1) agrees."""
    rng = np.random.default_rng(3)
    sizes = [3, 4, 4, 2]  # square hidden layers so the wrong formula even runs
    net = fastnn.Network(sizes, seed=1)
    x = rng.random(sizes[0])
    y = rng.random(sizes[-1])
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    activations, zs = [x], []
    for w, b in zip(weights, biases):
        zs.append(w @ activations[-1] + b)
        activations.append(naive.sigmoid(zs[-1]))
    delta_out = (activations[-1] - y) * naive.sigmoid_prime(zs[-1])
    delta_2 = (weights[2].T @ delta_out) * naive.sigmoid_prime(zs[1])
    # right: dC/dz_k^(1) = f'(z_k^(1)) sum_j dC/dz_j^(2) w_jk^(2)  (sum over layer 2)
    right = (weights[1].T @ delta_2) * naive.sigmoid_prime(zs[0])
    # the document's indices: sum_k dC/dz_k w_jk, i.e. w^(2) untransposed
    wrong = (weights[1] @ delta_2) * naive.sigmoid_prime(zs[0])
    numeric = central_differences(net, x, y)
    _, bias_indices = fastnn.network._parameter_views(np.arange(net.n_params), net.sizes)
    numeric_delta = numeric[bias_indices[0]]  # dC/db^(1) = dC/dz^(1)
    np.testing.assert_allclose(right, numeric_delta, rtol=1e-6, atol=1e-12)
    assert not np.allclose(wrong, numeric_delta, rtol=1e-3)


@pytest.mark.parametrize("sizes", ARCHITECTURES, ids=str)
def test_gradient_matches_naive_reference(sizes):
    rng = np.random.default_rng(7)
    net = fastnn.Network(sizes, seed=7)
    X = rng.random((11, sizes[0]))
    Y = rng.random((11, sizes[-1]))
    expected = naive.flat_gradient(net.weights, net.biases, X, Y)
    np.testing.assert_allclose(net.gradient(X, Y), expected, rtol=1e-10, atol=1e-13)
    for n in (0, 5, 10):
        np.testing.assert_allclose(
            net.gradient(X[n], Y[n]),
            naive.flat_gradient(net.weights, net.biases, X[n:n + 1], Y[n:n + 1]),
            rtol=1e-10, atol=1e-13,
        )


def test_backprop_returns_lists_shaped_like_the_parameters():
    rng = np.random.default_rng(0)
    net = fastnn.Network([4, 3, 2], seed=0)
    x, y = rng.random(4), rng.random(2)
    nabla_w, nabla_b = net.backprop(x, y)
    expected_w, expected_b = naive.backprop(net.weights, net.biases, x, y)
    for got, want in zip(nabla_w + nabla_b, expected_w + expected_b):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_hand_worked_2_2_1_network():
    """Every number below was worked out by hand (4 significant digits shown,
    the asserted values carry full precision from the same arithmetic)."""
    net = fastnn.Network([2, 2, 1])
    net.weights[0][...] = [[0.1, 0.2], [0.3, 0.4]]
    net.biases[0][...] = [0.1, -0.1]
    net.weights[1][...] = [[0.5, -0.5]]
    net.biases[1][...] = [0.2]
    x = np.array([1.0, 2.0])
    y = np.array([1.0])
    # hidden: z1 = 0.1*1 + 0.2*2 + 0.1 = 0.6,  z2 = 0.3*1 + 0.4*2 - 0.1 = 1.0
    a1 = 1 / (1 + np.exp(-0.6))   # 0.6457
    a2 = 1 / (1 + np.exp(-1.0))   # 0.7311
    # output: z = 0.5*a1 - 0.5*a2 + 0.2 = 0.1573,  a = f(z) = 0.5392
    z_out = 0.5 * a1 - 0.5 * a2 + 0.2
    a_out = 1 / (1 + np.exp(-z_out))
    assert a_out == pytest.approx(0.53924, abs=1e-5)
    np.testing.assert_allclose(net.feedforward(x), [a_out], rtol=1e-15)
    # cost: 1/2 (1 - 0.5392)^2 = 0.1061
    assert net.cost(x, y) == pytest.approx(0.5 * (1 - a_out) ** 2, rel=1e-15)
    assert net.cost(x, y) == pytest.approx(0.10615, abs=1e-5)
    # output delta: (a - y) a (1 - a) = -0.4608 * 0.2484 = -0.1145
    delta_out = (a_out - 1.0) * a_out * (1 - a_out)
    assert delta_out == pytest.approx(-0.11448, abs=1e-5)
    # hidden deltas: w_kj^(2) delta_out f'(z_k): 0.5*(-0.1145)*0.2288 = -0.01309,
    # -0.5*(-0.1145)*0.1966 = +0.01125
    delta_h1 = 0.5 * delta_out * a1 * (1 - a1)
    delta_h2 = -0.5 * delta_out * a2 * (1 - a2)
    assert delta_h1 == pytest.approx(-0.013096, abs=1e-6)
    assert delta_h2 == pytest.approx(0.011254, abs=1e-6)
    expected = np.array([
        delta_h1 * 1.0, delta_h1 * 2.0,      # dC/dw^(1)_{1,1}, _{1,2}
        delta_h2 * 1.0, delta_h2 * 2.0,      # dC/dw^(1)_{2,1}, _{2,2}
        delta_out * a1, delta_out * a2,      # dC/dw^(2)_{1,1}, _{1,2}
        delta_h1, delta_h2,                  # dC/db^(1)
        delta_out,                           # dC/db^(2)
    ])
    np.testing.assert_allclose(net.gradient(x, y), expected, rtol=1e-13)


@pytest.mark.parametrize(
    "layer, j, k",
    [(1, 0, 0), (1, 2, 3), (2, 1, 0), (2, 0, 2), (3, 1, 1)],
)
def test_flat_order_weights_by_perturbing_one_weight(layer, j, k):
    """Entry number sum_{h<i} L_h L_{h-1} + j L_{i-1} + k is dC/dw_jk^(i)."""
    sizes = [4, 3, 3, 2]
    rng = np.random.default_rng(layer * 10 + j + k)
    net = fastnn.Network(sizes, seed=5)
    x, y = rng.random(sizes[0]), rng.random(sizes[-1])
    index = sum(sizes[h] * sizes[h - 1] for h in range(1, layer)) + j * sizes[layer - 1] + k
    step = 1e-6
    w = net.weights[layer - 1]
    original = w[j, k]
    w[j, k] = original + step
    plus = net.cost(x, y)
    w[j, k] = original - step
    minus = net.cost(x, y)
    w[j, k] = original
    assert net.gradient(x, y)[index] == pytest.approx((plus - minus) / (2 * step), rel=1e-6)


@pytest.mark.parametrize("layer, j", [(1, 0), (1, 2), (2, 1), (3, 0), (3, 1)])
def test_flat_order_biases_by_perturbing_one_bias(layer, j):
    """After all weights come b^(1), b^(2), ...: entry n_weights + sum_{h<i} L_h + j."""
    sizes = [4, 3, 3, 2]
    rng = np.random.default_rng(layer * 10 + j)
    net = fastnn.Network(sizes, seed=6)
    x, y = rng.random(sizes[0]), rng.random(sizes[-1])
    n_weights = sum(sizes[h] * sizes[h - 1] for h in range(1, len(sizes)))
    index = n_weights + sum(sizes[h] for h in range(1, layer)) + j
    step = 1e-6
    b = net.biases[layer - 1]
    original = b[j]
    b[j] = original + step
    plus = net.cost(x, y)
    b[j] = original - step
    minus = net.cost(x, y)
    b[j] = original
    assert net.gradient(x, y)[index] == pytest.approx((plus - minus) / (2 * step), rel=1e-6)


def test_float32_gradient_agrees_with_float64():
    rng = np.random.default_rng(2)
    net64 = fastnn.Network([6, 5, 3], seed=2)
    net32 = fastnn.Network([6, 5, 3], seed=2, dtype=np.float32)
    X, Y = rng.random((8, 6)), rng.random((8, 3))
    g32 = net32.gradient(X, Y)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, net64.gradient(X, Y), rtol=2e-4, atol=1e-6)


# -- §10: the other output rules, L2 and sample weights --------------------------
RULES = [("cross_entropy", "sigmoid"), ("quadratic", "identity")]


@pytest.mark.parametrize("sizes", ARCHITECTURES, ids=str)
@pytest.mark.parametrize("cost, output", RULES)
@pytest.mark.parametrize("m", [1, 4])
def test_other_output_rules_match_central_differences(sizes, cost, output, m):
    """docs/theory.md §10: delta^(l) = a - y for the cross-entropy of a
    sigmoid output and for the quadratic cost of an identity output; the
    kernels' gradient agrees with central differences of Network.cost."""
    rng = np.random.default_rng(len(sizes) * 10 + m)
    net = fastnn.Network(sizes, cost=cost, output=output, seed=m)
    x = rng.random((m, sizes[0]))
    # one-hot-ish targets in [0, 1] for the cross-entropy; any number for identity
    y = rng.random((m, sizes[-1])) if output == "sigmoid" else rng.normal(0, 2, (m, sizes[-1]))
    analytic = net.gradient(x, y)
    numeric = central_differences(net, x, y)
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("cost, output", RULES)
def test_output_delta_of_the_other_rules_is_a_minus_y(cost, output):
    """With no hidden layer, dC/db_j = mean_n delta_j = mean_n (a_j - y_j)
    exactly (§10's derivation), where the quadratic cost of a sigmoid output
    would carry the factor a (1 - a)."""
    rng = np.random.default_rng(2)
    net = fastnn.Network([5, 3], cost=cost, output=output, seed=0)
    x, y = rng.random((4, 5)), rng.random((4, 3))
    a = net.feedforward(x)
    if output == "identity":
        np.testing.assert_allclose(a, x @ net.weights[0].T + net.biases[0], rtol=1e-14)
    grad_b = net.gradient(x, y)[-3:]
    np.testing.assert_allclose(grad_b, np.mean(a - y, axis=0), rtol=1e-12, atol=1e-15)


def test_cross_entropy_of_an_identity_output_is_refused():
    with pytest.raises(ValueError, match="cross_entropy.*needs output='sigmoid'"):
        fastnn.Network([3, 2], cost="cross_entropy", output="identity")
    with pytest.raises(ValueError, match="cost must be one of"):
        fastnn.Network([3, 2], cost="hinge")
    with pytest.raises(ValueError, match="output must be one of"):
        fastnn.Network([3, 2], output="relu")
    # softmax is an output since issue 23, with its own cost
    with pytest.raises(ValueError, match="softmax' needs cost='cross_entropy'"):
        fastnn.Network([3, 2], output="softmax")


@pytest.mark.parametrize("cost, output", [("quadratic", "sigmoid"), *RULES])
def test_l2_step_is_a_gradient_step_on_the_regularised_cost(cost, output):
    """§10: one full-batch step with lmbda is p - eta d/dp [C + lmbda/(2n)
    sum w^2], the derivative taken by central differences: the weights are
    decayed by 1 - eta lmbda / n, the biases are not."""
    rng = np.random.default_rng(7)
    sizes, n, eta, lmbda = [4, 5, 3], 6, 0.5, 2.0
    net = fastnn.Network(sizes, cost=cost, output=output, seed=3)
    x, y = rng.random((n, 4)), rng.random((n, 3))
    n_weights = sum(w.size for w in net.weights)

    def regularised(params):
        saved = net.params.copy()
        net.params[...] = params
        value = net.cost(x, y) + lmbda / (2 * n) * np.sum(params[:n_weights] ** 2)
        net.params[...] = saved
        return value

    before = net.params.copy()
    numeric = np.empty(net.n_params)
    for p in range(net.n_params):
        plus, minus = before.copy(), before.copy()
        plus[p] += 1e-6
        minus[p] -= 1e-6
        numeric[p] = (regularised(plus) - regularised(minus)) / 2e-6
    net.train(x, y, epochs=1, batch_size=n, eta=eta, lmbda=lmbda, shuffle=False)
    np.testing.assert_allclose(net.params, before - eta * numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("lmbda", [0.0, 1.5])
def test_a_weight_of_two_is_the_sample_given_twice_for_a_full_batch(lmbda):
    """Exactly (to rounding) with one batch of every sample: the weighted
    mean gradient (1/N) sum_n s_n g_n with s scaled to mean 1 is the mean
    over the data with sample 0 repeated. (L2 uses the rows N for its
    n, so with lmbda the duplicated run is given the same decay by N.)"""
    rng = np.random.default_rng(4)
    x, y = rng.random((5, 4)), rng.random((5, 2))
    weights = np.array([2.0, 1, 1, 1, 1])
    weighted = fastnn.Network([4, 3, 2], seed=1)
    twice = weighted.copy()
    weighted.train(x, y, epochs=3, batch_size=5, eta=0.7, shuffle=False, sample_weight=weights)
    x2, y2 = np.vstack([x, x[:1]]), np.vstack([y, y[:1]])
    # the same decay: 1 - eta lmbda / 5 = 1 - eta (lmbda 6/5) / 6
    twice.train(x2, y2, epochs=3, batch_size=6, eta=0.7, shuffle=False, lmbda=lmbda * 6 / 5)
    weighted_l2 = fastnn.Network([4, 3, 2], seed=1)
    weighted_l2.train(x, y, epochs=3, batch_size=5, eta=0.7, shuffle=False,
                      sample_weight=weights, lmbda=lmbda)
    np.testing.assert_allclose(weighted_l2.params, twice.params, rtol=1e-12, atol=1e-14)
    assert weighted.history.cost[0] == pytest.approx(twice.history.cost[0], rel=1e-12)


def test_a_weight_of_two_is_the_sample_given_twice_in_expectation_over_mini_batches():
    """For mini-batches, only in expectation: the step of one batch of
    weighted samples differs from any batch of the duplicated data, but
    the mean step over every possible batch of m samples (what a uniform
    shuffle draws) is the same, (1/N) sum_n s_n g_n, because the weights
    are scaled to mean 1 over the whole training set, not per batch."""
    from itertools import combinations

    from fastnn.plan import EpochPlan

    rng = np.random.default_rng(5)
    x, y = rng.random((5, 4)), rng.random((5, 2))
    raw = np.array([2.0, 1, 1, 1, 1])
    scaled = raw * 5 / raw.sum()  # what Network.train hands the kernels
    net = fastnn.Network([4, 3, 2], seed=2)

    def batch_step(inputs, targets, weights):
        plan = EpochPlan(net.sizes, len(inputs), np.float64, len(inputs), 1,
                         driver="train_epoch_reference")
        params = net.params.copy()
        plan.run(params, np.ascontiguousarray(inputs), np.ascontiguousarray(targets),
                 np.arange(len(inputs), dtype=np.int64), 1.0, sample_weight=weights)
        return net.params - params  # eta 1: the batch's mean gradient

    m = 2
    weighted = [batch_step(x[list(b)], y[list(b)], scaled[list(b)])
                for b in combinations(range(5), m)]
    x2, y2 = np.vstack([x, x[:1]]), np.vstack([y, y[:1]])
    duplicated = [batch_step(x2[list(b)], y2[list(b)], None) for b in combinations(range(6), m)]
    np.testing.assert_allclose(np.mean(weighted, axis=0), np.mean(duplicated, axis=0),
                               rtol=1e-12, atol=1e-15)
    # ...but not batch by batch: the batch {0, 1} with s_0 = 2 * 5/6 is no
    # batch of the duplicated data
    assert not any(np.allclose(weighted[0], d, rtol=1e-6) for d in duplicated)
