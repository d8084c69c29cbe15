"""Every fast kernel against the reference kernel of its equation.

``fastnn.kernels.reference`` writes each equation of docs/theory.md as the
document's loops; the fast kernels are blocked, unrolled, fused or threaded
forms of the same equations. Each test here names the equation (§N) and
checks every fast kernel that says it implements it, on shapes that reach
each of its code paths: blocks of six and four samples and single ones
(m = 1..13), groups of eight and four rows and single rows (L_i = 1..13).
The table at the end of docs/theory.md points here.
"""
import numpy as np
import pytest

from fastnn import kernels
from fastnn import _blas
from fastnn.kernels import blas, blocked, isa, layers, reference, sample_loops
from fastnn.kernels.objective import (CROSS_ENTROPY_SIGMOID, QUADRATIC_IDENTITY,
                                      QUADRATIC_SIGMOID)
from fastnn.plan import EpochPlan

DTYPES = [np.float64, np.float32]
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}
BATCHES = [1, 2, 3, 4, 5, 6, 7, 10, 13]
ROWS = [1, 3, 4, 8, 13]
FIRST = np.int64(0)
# The rows and the dropout key of calls without dropout (never read).
NO_ROWS, NO_KEY = kernels.NO_ROWS, np.uint64(0)
RULES = [QUADRATIC_SIGMOID, CROSS_ENTROPY_SIGMOID, QUADRATIC_IDENTITY]
# Every block size the rule of fastnn.kernels.isa can choose, for any ISA
# family (built here for this host's ISA: the loops are the same source;
# tests/test_isa.py builds the other ISAs' code in subprocesses).
SELECTABLE = list(isa.selectable_tiles().values())
# The big-layer engine's kernels need SciPy's BLAS (fastnn._blas).
HAS_BLAS = _blas.available()
FORWARD_TILES = sorted({(t.forward_samples, t.forward_rows) for t in SELECTABLE}
                       | {(t.forward_small_samples, t.forward_rows) for t in SELECTABLE})
BACKWARD_TILES = sorted({(t.backward_samples, t.backward_rows) for t in SELECTABLE})
GRADIENT_TILES = sorted({(rows, t.gradient_samples) for t in SELECTABLE
                         for rows in (t.gradient_rows, t.gradient_small_rows, 1)})


def random_layer(m, n_j, n_k, dtype, seed=0):
    """w (n_j, n_k), b (n_j,), a_prev (m, n_k) in (0, 1), delta (m, n_j)."""
    rng = np.random.default_rng([seed, m, n_j, n_k])
    w = (rng.standard_normal((n_j, n_k)) / np.sqrt(n_k)).astype(dtype)
    b = rng.standard_normal(n_j).astype(dtype)
    a_prev = rng.random((m, n_k)).astype(dtype)
    delta = rng.standard_normal((m, n_j)).astype(dtype)
    return w, b, a_prev, delta


def forward_reference(w, b, a_prev, activate=True):
    a = np.empty((a_prev.shape[0], w.shape[0]), w.dtype)
    reference.forward_layer_reference(w, b, a_prev, a, activate)
    return a


def gradient_reference(delta, a_prev, scale=1.0):
    grad_w = np.empty((delta.shape[1], a_prev.shape[1]), delta.dtype)
    grad_b = np.empty(delta.shape[1], delta.dtype)
    reference.layer_gradient_reference(delta, a_prev, grad_w, grad_b, scale)
    return grad_w, grad_b


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


# -- §1 and §2: weighted sum and activation ------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("n_j", ROWS)
def test_forward_kernels_match_the_reference(dtype, m, n_j):
    w, b, a_prev, _ = random_layer(m, n_j, 11, dtype)
    expected = forward_reference(w, b, a_prev)
    tolerance = TOLERANCE[dtype]

    for activate in (True, False):  # False: an identity output layer (§10)
        wanted = forward_reference(w, b, a_prev, activate)
        rule = kernels.plain_rule(activate, dtype)
        a = np.empty_like(expected)
        kernels.forward_layer(w, b, a_prev, a, rule, NO_ROWS)
        np.testing.assert_allclose(a, wanted, **tolerance)
        a = np.empty_like(expected)
        layers.forward_rows(w, b, a_prev, a, FIRST, n_j, rule, NO_ROWS)
        np.testing.assert_allclose(a, wanted, **tolerance)
        if HAS_BLAS:  # one BLAS product per part of the rows: here rows 0-1 and 1-n_j
            a = np.empty_like(expected)
            split = np.int64(min(1, n_j))
            blas.forward_rows_blas(w, b, a_prev, a, FIRST, split, rule, NO_ROWS)
            blas.forward_rows_blas(w, b, a_prev, a, split, np.int64(n_j), rule, NO_ROWS)
            np.testing.assert_allclose(a, wanted, **tolerance)
        for n in range(m):
            a_n = np.empty(n_j, dtype)
            sample_loops.forward_one(w.ravel(), b, a_prev[n], a_n, rule, NO_KEY)
            np.testing.assert_allclose(a_n, wanted[n], **tolerance)

    # the blocked weighted sums (§1 without b), then f, for every selectable block
    for block, rows in FORWARD_TILES:
        if m >= block:
            z = np.zeros_like(expected)
            blocked.weighted_sums_for(block, rows)(w, a_prev, z, FIRST, FIRST, n_j)
            np.testing.assert_allclose(sigmoid(z[:block] + b), expected[:block], **tolerance)
    z = np.zeros_like(expected)
    layers.weighted_sums_rows(w, a_prev, z, FIRST, n_j)
    np.testing.assert_allclose(sigmoid(z + b), expected, **tolerance)
    for n in range(m):
        z = np.zeros_like(expected)
        blocked.weighted_sums_one(w, a_prev, z, np.int64(n), FIRST, n_j)
        np.testing.assert_allclose(sigmoid(z[n] + b), expected[n], **tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_of_the_deferred_block_matches_the_reference(dtype):
    """activate_deferred (§1 for a row of a block of per-sample SGD) with no
    earlier steps in the block is f(z + b)."""
    lookahead = sample_loops.LOOKAHEAD
    w, b, x, _ = random_layer(lookahead, 13, 9, dtype)
    expected = forward_reference(w, b, x)
    z = x @ w.T
    steps = np.zeros((lookahead, 13), dtype)
    gram = np.ones((lookahead, lookahead), dtype)
    for r in range(lookahead):
        sample_loops.activate_deferred(z, b, steps, gram, np.int64(r),
                                       kernels.plain_rule(True, dtype), NO_KEY, dtype(1))
    np.testing.assert_allclose(z, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activate", [True, False])
@pytest.mark.parametrize("decay", [1.0, 0.9])
def test_deferred_block_matches_steps_taken_one_by_one(dtype, activate, decay):
    """§9 and §10: a block of per-sample steps w <- d w - s(q) x(q)^T, taken
    one at a time with the reference kernels, against the deferred form:
    activate_deferred's activations (from the block's first weights, the
    steps and the pair products) and decay_deferred + deferred_step's
    weights at the block's end. m = 6: a short block, rows 6, 7 zero."""
    lookahead, m = sample_loops.LOOKAHEAD, 6
    w, b, x, steps = random_layer(lookahead, 13, 9, dtype, seed=5)
    x[m:] = 0
    steps[m:] = 0
    d = dtype(decay)
    tolerance = TOLERANCE[dtype]
    z = (x @ w.T).astype(dtype)
    gram = np.zeros((lookahead, lookahead), dtype)
    sample_loops.pair_products(x, gram, np.int64(m), np.int64(1), np.int64(1))
    w_now = w.copy()
    for r in range(m):
        expected = forward_reference(w_now, b, x[r:r + 1], activate)[0]
        sample_loops.activate_deferred(z, b, steps, gram, np.int64(r),
                                       kernels.plain_rule(activate, dtype), NO_KEY, d)
        np.testing.assert_allclose(z[r], expected, **tolerance)
        grad_w, _ = gradient_reference(steps[r:r + 1], x[r:r + 1])
        w_now = d * w_now - grad_w
    w_flat = w.ravel().copy()
    if decay != 1:
        sample_loops.decay_deferred(w_flat, steps, np.int64(m), d)
    sample_loops.deferred_step(w_flat, steps, x.ravel().copy())
    np.testing.assert_allclose(w_flat.reshape(w.shape), w_now, **tolerance)


# -- §3 and §5: cost and output delta ------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 5])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weighted", [False, True])
def test_output_delta_kernels_match_the_reference(dtype, m, rule, weighted):
    """§3, §5 and §10: each rule's cost and delta, each sample's multiplied
    by its weight. Targets include exact 0 and 1 (one-hot), and outputs
    pinned at 0 and 1, where the cross-entropy's terms must stay finite."""
    rng = np.random.default_rng(m)
    a = rng.random((m, 7)).astype(dtype)
    y = rng.random((m, 7)).astype(dtype)
    y[:, :2] = [0, 1]
    a[0, 2:4] = [0, 1]
    if rule == QUADRATIC_IDENTITY:
        a = (3 * a - 1).astype(dtype)  # an identity output is any number
    weights = (rng.random(m + 3) * 2).astype(dtype) if weighted else np.empty(0, dtype)
    rows = rng.permutation(m + 3)[:m].astype(np.int64)
    s = weights[rows] if weighted else np.ones(m, dtype)
    expected = np.empty_like(a)
    reference.output_delta_reference(a, y, expected, rule)
    expected *= s[:, None]
    expected_cost = sum(s[n] * reference.cost_reference(a, y, n, rule) for n in range(m))
    assert np.isfinite(expected_cost)

    delta = np.empty_like(a)
    cost = kernels.output_delta(a, y, delta, rule, weights, rows)
    np.testing.assert_allclose(delta, expected, **TOLERANCE[dtype])
    np.testing.assert_allclose(cost, expected_cost, **TOLERANCE[dtype])
    costs = []
    for n in range(m):
        delta_n = np.empty(7, dtype)
        costs.append(sample_loops.output_delta_one(a[n], y[n], delta_n, rule, s[n]))
        np.testing.assert_allclose(delta_n, expected[n], **TOLERANCE[dtype])
    np.testing.assert_allclose(sum(costs), expected_cost, **TOLERANCE[dtype])


# -- §6: the backward recursion -------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("n_j", ROWS)
def test_backward_kernels_match_the_reference(dtype, m, n_j):
    w, _, a_prev, delta = random_layer(m, n_j, 11, dtype, seed=1)
    expected = np.empty_like(a_prev)
    reference.backward_delta_reference(w, delta, a_prev, expected)
    tolerance = TOLERANCE[dtype]
    f_prime = a_prev * (1 - a_prev)

    rule = kernels.plain_rule(True, dtype)
    delta_prev = np.empty_like(a_prev)
    kernels.backward_delta(w, delta, a_prev, delta_prev, rule, NO_ROWS)
    np.testing.assert_allclose(delta_prev, expected, **tolerance)
    delta_prev = np.empty_like(a_prev)
    layers.backward_delta_samples(w, delta, a_prev, delta_prev, FIRST, rule, NO_ROWS)
    np.testing.assert_allclose(delta_prev, expected, **tolerance)
    if HAS_BLAS:  # samples 0..half-1 and half..m-1, one BLAS product each
        delta_prev = np.empty_like(a_prev)
        half = np.int64(m // 2)
        blas.backward_samples_blas(w, delta, a_prev, delta_prev, FIRST, half, rule, NO_ROWS)
        blas.backward_samples_blas(w, delta, a_prev, delta_prev, half, np.int64(m), rule,
                                   NO_ROWS)
        np.testing.assert_allclose(delta_prev, expected, **tolerance)
    for block, rows in BACKWARD_TILES:
        if m >= block:
            sums = np.empty_like(a_prev)
            blocked.backward_sums_for(block, rows)(w, delta, sums, FIRST)
            np.testing.assert_allclose(sums[:block] * f_prime[:block], expected[:block],
                                       **tolerance)
    for n in range(m):
        sums = np.empty_like(a_prev)
        blocked.backward_sums_one(w, delta, sums, np.int64(n))
        np.testing.assert_allclose(sums[n] * f_prime[n], expected[n], **tolerance)
        delta_prev_n = np.empty(11, dtype)
        sample_loops.backward_one(w.ravel(), delta[n], a_prev[n], delta_prev_n, rule, NO_KEY)
        np.testing.assert_allclose(delta_prev_n, expected[n], **tolerance)


# -- §7: gradient and step ------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("n_j", ROWS)
@pytest.mark.parametrize("decay", [1.0, 0.75])
def test_gradient_kernels_match_the_reference(dtype, m, n_j, decay):
    """§7 and the step; §10's decayed step w <- d w - eta dC/dw (b not
    decayed) against step_reference's."""
    w, b, a_prev, delta = random_layer(m, n_j, 11, dtype, seed=2)
    scale, eta = 1.0 / m, 0.5
    expected_w, expected_b = gradient_reference(delta, a_prev, scale)
    stepped = np.concatenate([w.ravel(), b])
    reference.step_reference(stepped, np.concatenate([expected_w.ravel(), expected_b]),
                             dtype(eta), dtype(decay), w.size)
    stepped_w, stepped_b = stepped[:w.size].reshape(w.shape), stepped[w.size:]
    tolerance = TOLERANCE[dtype]
    d = dtype(decay)

    def check(run, rows):
        """run(w, b, grad_w, grad_b) for rows j of ``rows``: their gradient
        (eta = 0) and, with eta, their step."""
        grad_w, grad_b = np.zeros_like(w), np.zeros_like(b)
        w_copy, b_copy = w.copy(), b.copy()
        run(w_copy, b_copy, grad_w, grad_b, dtype(0))
        np.testing.assert_allclose(grad_w[rows], expected_w[rows], **tolerance)
        np.testing.assert_allclose(grad_b[rows], expected_b[rows], **tolerance)
        assert np.array_equal(w_copy, w) and np.array_equal(b_copy, b)
        run(w_copy, b_copy, grad_w, grad_b, dtype(eta))
        np.testing.assert_allclose(w_copy[rows], stepped_w[rows], **tolerance)
        np.testing.assert_allclose(b_copy[rows], stepped_b[rows], **tolerance)

    every_row = slice(None)
    check(lambda w_, b_, gw, gb, e: kernels.layer_gradient(delta, a_prev, w_, b_, gw, gb, scale,
                                                           e, decay), every_row)
    check(lambda w_, b_, gw, gb, e: layers.gradient_rows(delta, a_prev, w_, b_, gw, gb,
                                                         dtype(scale), e, d, FIRST, n_j),
          every_row)
    if HAS_BLAS:  # rows 0..half-1 and half..n_j-1, one BLAS product each
        half = np.int64(n_j // 2)

        def through_blas(w_, b_, gw, gb, e):
            blas.gradient_rows_blas(delta, a_prev, w_, b_, gw, gb, dtype(scale), e, d,
                                    FIRST, half)
            blas.gradient_rows_blas(delta, a_prev, w_, b_, gw, gb, dtype(scale), e, d, half,
                                    np.int64(n_j))
        check(through_blas, every_row)
    if decay != 1:
        # the blocked kernels take the plain step; layers.decay_rows decays first
        def decayed(kernel, rows):
            def run(w_, b_, gw, gb, e):
                if e != 0:
                    layers.decay_rows(w_, d, FIRST, np.int64(rows))
                kernel(delta, a_prev, w_, b_, gw, gb, dtype(scale), e, FIRST)
            return run
    else:
        def decayed(kernel, rows):
            return lambda w_, b_, gw, gb, e: kernel(delta, a_prev, w_, b_, gw, gb, dtype(scale),
                                                    e, FIRST)
    for rows, samples in GRADIENT_TILES:
        if n_j >= rows:
            check(decayed(blocked.gradient_rows_for(rows, samples), rows), slice(0, rows))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_j", ROWS)
def test_per_sample_steps_match_the_reference(dtype, n_j):
    """step_one, step_and_forward (a step fused with §1 for the next sample)
    and deferred_step (eight steps at once) against §7 with m = 1."""
    lookahead = sample_loops.LOOKAHEAD
    w, b, x, steps = random_layer(lookahead, n_j, 11, dtype, seed=3)
    eta = dtype(0.25)
    tolerance = TOLERANCE[dtype]
    grad_w, grad_b = gradient_reference(steps[:1], x[:1])
    stepped_w, stepped_b = w - eta * grad_w, b - eta * grad_b

    w_flat, b_copy = w.ravel().copy(), b.copy()
    sample_loops.step_one(w_flat, b_copy, steps[0], x[0], eta)
    np.testing.assert_allclose(w_flat.reshape(w.shape), stepped_w, **tolerance)
    np.testing.assert_allclose(b_copy, stepped_b, **tolerance)

    for activate in (True, False):
        w_flat, b_copy, a_next = w.ravel().copy(), b.copy(), np.empty(n_j, dtype)
        sample_loops.step_and_forward(w_flat, b_copy, steps[0], x[0], x[1], a_next, eta,
                                      kernels.plain_rule(activate, dtype), NO_KEY)
        np.testing.assert_allclose(w_flat.reshape(w.shape), stepped_w, **tolerance)
        np.testing.assert_allclose(
            a_next, forward_reference(stepped_w, stepped_b, x[1:2], activate)[0], **tolerance)

    # §10: the L2 part of a step, before step_one's
    w_flat = w.ravel().copy()
    sample_loops.decay_weights(w_flat, dtype(0.5))
    assert np.array_equal(w_flat, (w * dtype(0.5)).ravel())

    # steps[q] already holds eta dC_q/dz (the deferred form): one step of eta 1 each
    expected = w.copy()
    for q in range(lookahead):
        expected -= gradient_reference(steps[q:q + 1], x[q:q + 1])[0]
    w_flat = w.ravel().copy()
    sample_loops.deferred_step(w_flat, steps, x.ravel().copy())
    np.testing.assert_allclose(w_flat.reshape(w.shape), expected, **tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pair_products_of_a_block(dtype):
    """The products x(q) . x(r) of per-sample SGD's deferred steps (§9)."""
    x = np.random.default_rng(4).random((sample_loops.LOOKAHEAD, 19)).astype(dtype)
    gram = np.zeros((8, 8), dtype)
    m = 6
    sample_loops.pair_products(x, gram, np.int64(m), np.int64(1), np.int64(1))
    expected = np.tril(x[:m].astype(np.float64) @ x[:m].T.astype(np.float64), -1)
    np.testing.assert_allclose(gram[:m, :m], expected, **TOLERANCE[dtype])


# -- §9: the epochs -------------------------------------------------------------
EPOCH_CASES = [
    # sizes, batch size, samples: a last short batch; two parts of layer 1
    # and a tail; three layers; one layer; per-sample SGD (batch 1) across
    # blocks of eight and a last short one
    ((20, 17, 5), 6, 41),
    ((40, 30, 10), 10, 53),
    ((9, 7, 6, 3), 4, 22),
    ((12, 5), 3, 10),
    ((40, 30, 10), 1, 29),
    ((9, 7, 6, 3), 1, 19),
]


# (cost, output, lmbda, weighted): the design document's objective, and
# each addition of §10 alone and together
OBJECTIVES = [
    ("quadratic", "sigmoid", 0.0, False),
    ("cross_entropy", "sigmoid", 0.0, False),
    ("quadratic", "identity", 0.0, False),
    ("quadratic", "sigmoid", 3.0, False),
    ("quadratic", "sigmoid", 0.0, True),
    ("cross_entropy", "sigmoid", 3.0, True),
    ("quadratic", "identity", 3.0, True),
]


def _epochs(driver, sizes, batch_size, n_samples, dtype, n_threads=2, epochs=2,
            objective=OBJECTIVES[0], layer_plan=None):
    cost, output, lmbda, weighted = objective
    rng = np.random.default_rng(n_samples)
    network_sizes = np.asarray(sizes)
    n_params = int(np.sum(network_sizes[1:] * network_sizes[:-1] + network_sizes[1:]))
    params = (rng.standard_normal(n_params) / 3).astype(dtype)
    inputs = rng.random((n_samples, sizes[0])).astype(dtype)
    targets = rng.random((n_samples, sizes[-1])).astype(dtype)
    weights = (rng.random(n_samples) * 2).astype(dtype) if weighted else None
    plan = EpochPlan(sizes, batch_size, dtype, n_samples, n_threads, driver=driver,
                     borrow_cores=False, cost=cost, output=output, layer_plan=layer_plan)
    order = np.arange(n_samples, dtype=np.int64)
    costs = []
    for epoch in range(epochs):
        kernels.shuffle_order(order, epoch)
        costs.append(plan.run(params, inputs, targets, order, 0.8, lmbda=lmbda,
                              sample_weight=weights))
    return params, costs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EPOCH_CASES, ids=str)
@pytest.mark.parametrize("objective", OBJECTIVES, ids=str)
def test_every_epoch_driver_matches_the_reference_epoch(dtype, case, objective):
    sizes, batch_size, n_samples = case
    expected, expected_costs = _epochs("train_epoch_reference", sizes, batch_size, n_samples,
                                       dtype, objective=objective)
    if batch_size == 1:
        drivers = ["train_epoch_per_sample", "train_epoch_per_sample_shared"]
    else:
        drivers = ["train_epoch", "train_epoch_threaded", "train_epoch_shared",
                   "train_epoch_staged"]
    # per-sample SGD takes its steps in another order (docs/theory.md §9);
    # over 58 steps its rounding differs more than one batch's
    tolerance = (dict(rtol=1e-10, atol=1e-12) if dtype == np.float64
                 else dict(rtol=1e-3, atol=1e-4))
    for driver in drivers:
        params, costs = _epochs(driver, sizes, batch_size, n_samples, dtype,
                                objective=objective)
        np.testing.assert_allclose(params, expected, **tolerance, err_msg=driver)
        np.testing.assert_allclose(costs, expected_costs, **tolerance, err_msg=driver)


def _blas_plan(sizes, batch_size, parts):
    """Every layer's §1, §6, §7 on BLAS, in ``parts`` parts."""
    from fastnn import engine
    from fastnn.kernels import staged

    plan = engine.default_plan(sizes, batch_size, parts, blas=True)
    plan.array[1:, :3] = staged.BLAS
    plan.array[1, staged.BACKWARD] = staged.TILES  # layer 1's §6 never runs
    return plan


@pytest.mark.skipif(not __import__("fastnn._blas")._blas.available(),
                    reason="SciPy's OpenBLAS is not available")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in EPOCH_CASES if c[1] > 1], ids=str)
@pytest.mark.parametrize("objective", OBJECTIVES, ids=str)
def test_the_blas_engine_matches_the_reference_epoch(dtype, case, objective):
    """§1, §6, §7 through BLAS's product (fastnn.kernels.blas) in the staged
    epoch, layers cut in one part or three: the reference epoch's results,
    and bitwise the same with one, two or three threads."""
    sizes, batch_size, n_samples = case
    expected, expected_costs = _epochs("train_epoch_reference", sizes, batch_size, n_samples,
                                       dtype, objective=objective)
    tolerance = (dict(rtol=1e-10, atol=1e-12) if dtype == np.float64
                 else dict(rtol=1e-3, atol=1e-4))
    for parts in (1, 3):
        runs = [_epochs("train_epoch_staged", sizes, batch_size, n_samples, dtype,
                        n_threads=threads, objective=objective,
                        layer_plan=_blas_plan(sizes, batch_size, parts))
                for threads in (1, 2, 3)]
        for params, costs in runs:
            np.testing.assert_allclose(params, expected, **tolerance)
            np.testing.assert_allclose(costs, expected_costs, **tolerance)
            assert np.array_equal(params, runs[0][0]) and costs == runs[0][1]


# -- the map from docs/theory.md to the code -------------------------------------
THEORY = __import__("pathlib").Path(__file__).parents[1] / "docs" / "theory.md"


def _table_rows():
    text = THEORY.read_text(encoding="utf-8")
    table = text[text.index("## Equations, kernels and tests"):]
    return [line.split("|")[1:-1] for line in table.splitlines()
            if line.startswith("| ") and line[2].isdigit()]


def test_the_table_of_theory_md_names_real_kernels_and_tests():
    """Every kernel and test the table names exists, every section 1-14 has
    a row, and every fast kernel it lists states its § in its docstring."""
    import importlib
    import re

    rows = _table_rows()
    assert [int(row[0]) for row in rows] == list(range(1, 16))
    tests_dir = THEORY.parents[1] / "tests"
    for section, _, references, fast, tests in rows:
        for cell, is_fast in ((references, False), (fast, True)):
            for module, name in re.findall(r"`(\w+)\.(\w+)`", cell):
                kernel = getattr(importlib.import_module(f"fastnn.kernels.{module}"), name)
                doc = getattr(kernel, "__doc__", "") or ""
                if is_fast and not module == "activation":
                    assert f"§{section.strip()}" in doc, (module, name, section)
        for test_file, test_name in re.findall(r"`(\w+\.py)::(\w+)`", tests):
            source = (tests_dir / test_file).read_text(encoding="utf-8")
            assert f"def {test_name}(" in source, (test_file, test_name)


def test_every_kernel_of_the_fast_modules_names_its_equation():
    """The blocked and per-sample loops and the layer kernels each say which
    equation of docs/theory.md they implement."""
    from numba.core.dispatcher import Dispatcher

    from fastnn.kernels import blocked, layers, sample_loops

    unnamed = []
    for module in (blocked, layers, sample_loops):
        for name, value in vars(module).items():
            kernel = getattr(value, "py_func", value)
            if (getattr(kernel, "__module__", None) == module.__name__
                    and (isinstance(value, Dispatcher) or callable(value))
                    and not name.startswith("_") and name != "written_out"):
                if "§" not in (kernel.__doc__ or ""):
                    unnamed.append(f"{module.__name__}.{name}")
    assert unnamed == []
