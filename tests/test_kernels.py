"""Each kernel against the NumPy form of its equation."""
import warnings

import numba
import numpy as np
import pytest

from fastnn import kernels
from fastnn.kernels import blocked, layers, neurons, sample_loops
from fastnn.plan import EpochPlan

JIT_DISABLED = numba.config.DISABLE_JIT
DTYPES = [np.float64, np.float32]
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-5, atol=1e-6)}


def random_layer(rng, m, n_j, n_k, dtype):
    w = rng.standard_normal((n_j, n_k)).astype(dtype) / np.sqrt(n_k).astype(dtype)
    b = rng.standard_normal(n_j).astype(dtype)
    a_prev = rng.random((m, n_k)).astype(dtype)
    return w, b, a_prev


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_at_the_extremes(dtype):
    z = np.array([-1000, -100, -30, -1, 0, 1, 30, 100, 1000], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = np.array([kernels.sigmoid(v) for v in z])
        primes = np.array([kernels.sigmoid_prime(v) for v in z])
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(primes))
    assert values[0] == 0 and values[-1] == 1 and values[4] == 0.5
    assert np.all(np.diff(values) >= 0)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(values[2:-2], np_sigmoid(z[2:-2].astype(np.float64)),
                                   rtol=1e-6 if dtype == np.float32 else 1e-15)
    assert np.all(primes >= 0) and primes[4] == 0.25


def test_float32_sigmoid_of_the_batch_kernels_is_accurate_everywhere():
    """forward_layer's float32 sigmoid avoids libm (to vectorize): it must stay
    within a few float32 ulps of the exact value, and saturate cleanly."""
    z = np.concatenate([np.linspace(-120, 120, 200_001),
                        [-1e30, -1000, -104, -103.9, -87.5, 0, 87.5, 1000, 1e30]]).astype(np.float32)
    a = z.reshape(1, -1).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        neurons.activate_rows(np.zeros(z.size, np.float32), a, 0, 1, 0, z.size,
                              kernels.plain_rule(1, np.float32), kernels.NO_ROWS)
    with np.errstate(over="ignore"):  # the reference's exp(1e30) is inf: f = 0
        exact = 1 / (1 + np.exp(-z.astype(np.float64)))
    assert a.dtype == np.float32 and np.all(np.isfinite(a))
    normal = exact > 1e-37
    assert np.max(np.abs(a[0] - exact)[normal] / exact[normal]) < 4e-7
    assert np.max(np.abs(a[0] - exact)) < 1e-7
    assert a[0, -9] == 0 and a[0, -1] == 1 and a[0, -4] == 0.5
    assert np.all(np.diff(a[0, :200_001]) >= 0)


def test_float64_sigmoid_of_the_kernels_is_as_accurate_as_libm():
    """The kernels' float64 sigmoid avoids libm (to vectorize): against the
    exact value (long double) it must err no more than the form built on
    libm's exp does (2.1 ulp at most, 0.21 on average, here), give libm's 0
    where exp underflows, and be monotonic."""
    rng = np.random.default_rng(5)
    z = np.concatenate([np.linspace(-760, 760, 400_001), rng.standard_normal(100_000) * 20,
                        [-1e300, -746, -745.2, -745.1, -708.5, -1e-300, 0.0, 1e-300, 36.8, 1e300]])
    a = z.reshape(1, -1).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        neurons.activate_rows(np.zeros(z.size), a, 0, 1, 0, z.size, kernels.plain_rule(1, np.float64),
                              kernels.NO_ROWS)
    e = np.exp(-np.abs(z))
    libm = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    assert np.all((a[0] == 0) == (libm == 0))
    exact_e = np.exp(-np.abs(z.astype(np.longdouble)))
    exact = np.where(z >= 0, 1 / (1 + exact_e), exact_e / (1 + exact_e))
    ulp = np.spacing(np.maximum(np.abs(exact), np.finfo(np.float64).tiny).astype(np.float64))
    ours, theirs = (np.abs(v.astype(np.longdouble) - exact) / ulp for v in (a[0], libm))
    assert ours.max() <= max(3.0, theirs.max() + 1), (z[np.argmax(ours)], ours.max())
    assert ours.mean() <= theirs.mean() + 0.05
    assert a[0, -4] == 0.5 and a[0, -1] == 1 and a[0, -10] == 0
    assert np.all(np.diff(a[0, :400_001]) >= 0)


@pytest.mark.parametrize("dtype", DTYPES)
# m covers each way a batch splits into blocks of six and four samples and
# single ones: 6, 6+1, 6+1+1, 6+4, 6+6+4, 12+1.
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 16])
def test_forward_layer_matches_numpy(dtype, m):
    rng = np.random.default_rng(m)
    w, b, a_prev = random_layer(rng, m, 7, 11, dtype)
    a = np.full((m, 7), np.nan, dtype=dtype)
    kernels.forward_layer(w, b, a_prev, a, kernels.plain_rule(1, w.dtype), kernels.NO_ROWS)
    expected = np_sigmoid(a_prev.astype(np.float64) @ w.T.astype(np.float64) + b)
    assert a.dtype == dtype
    np.testing.assert_allclose(a, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_output_delta_matches_numpy(dtype):
    rng = np.random.default_rng(1)
    a = rng.random((6, 4)).astype(dtype)
    y = rng.random((6, 4)).astype(dtype)
    delta = np.empty_like(a)
    cost = kernels.output_delta(a, y, delta, 0, np.empty(0, dtype), np.arange(6))
    a64, y64 = a.astype(np.float64), y.astype(np.float64)
    np.testing.assert_allclose(delta, (a64 - y64) * a64 * (1 - a64), **TOLERANCE[dtype])
    assert cost == pytest.approx(0.5 * np.sum((y64 - a64) ** 2), rel=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 3, 4, 6, 9])
def test_backward_delta_matches_numpy(dtype, m):
    rng = np.random.default_rng(10 + m)
    w, _, a_prev = random_layer(rng, m, 5, 8, dtype)
    delta = rng.standard_normal((m, 5)).astype(dtype)
    delta_prev = np.full((m, 8), np.nan, dtype=dtype)
    kernels.backward_delta(w, delta, a_prev, delta_prev, kernels.plain_rule(1, w.dtype),
                       kernels.NO_ROWS)
    a64 = a_prev.astype(np.float64)
    expected = (delta.astype(np.float64) @ w.astype(np.float64)) * a64 * (1 - a64)
    np.testing.assert_allclose(delta_prev, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
# 15 rows split into 8 + 4 + 1 + 1 + 1; m covers blocks of four samples
# followed by nothing, a pair, a single one, or a pair and a single one.
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 7, 11])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_layer_gradient_matches_numpy(dtype, m, eta):
    rng = np.random.default_rng(20 + m)
    w, b, a_prev = random_layer(rng, m, 15, 9, dtype)
    delta = rng.standard_normal((m, 15)).astype(dtype)
    w_before, b_before = w.copy(), b.copy()
    grad_w = np.full_like(w, np.nan)
    grad_b = np.full_like(b, np.nan)
    kernels.layer_gradient(delta, a_prev, w, b, grad_w, grad_b, 1.0 / m, eta, 1.0)
    expected_w = delta.astype(np.float64).T @ a_prev.astype(np.float64) / m
    expected_b = delta.astype(np.float64).sum(axis=0) / m
    np.testing.assert_allclose(grad_w, expected_w, **TOLERANCE[dtype])
    np.testing.assert_allclose(grad_b, expected_b, **TOLERANCE[dtype])
    np.testing.assert_allclose(w, w_before - eta * expected_w, **TOLERANCE[dtype])
    np.testing.assert_allclose(b, b_before - eta * expected_b, **TOLERANCE[dtype])
    if eta == 0:
        assert np.array_equal(w, w_before) and np.array_equal(b, b_before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threaded_kernels_match_numpy_on_large_layers(dtype):
    """Layers above PARALLEL_MIN_WORK take the prange path: same equations."""
    rng = np.random.default_rng(5)
    m, n_j, n_k = 130, 101, 80
    assert m * n_j * n_k >= kernels.PARALLEL_MIN_WORK
    w, b, a_prev = random_layer(rng, m, n_j, n_k, dtype)
    a = np.empty((m, n_j), dtype)
    kernels.forward_layer(w, b, a_prev, a, kernels.plain_rule(1, w.dtype), kernels.NO_ROWS)
    w64, a64 = w.astype(np.float64), a_prev.astype(np.float64)
    np.testing.assert_allclose(a, np_sigmoid(a64 @ w64.T + b), **TOLERANCE[dtype])
    # The threads' shares of the rows (16 each, the last 21) give bitwise
    # what one pass over all 101 rows gives.
    one_pass = np.empty_like(a)
    layers.forward_rows(w, b, a_prev, one_pass, 0, n_j, kernels.plain_rule(1, dtype),
                        kernels.NO_ROWS)
    assert np.array_equal(a, one_pass)
    delta = rng.standard_normal((m, n_j)).astype(dtype)
    delta_prev = np.empty((m, n_k), dtype)
    kernels.backward_delta(w, delta, a_prev, delta_prev, kernels.plain_rule(1, w.dtype),
                       kernels.NO_ROWS)
    np.testing.assert_allclose(delta_prev, (delta @ w64) * a64 * (1 - a64),
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)
    grad_w, grad_b = np.empty_like(w), np.empty_like(b)
    kernels.layer_gradient(delta, a_prev, w, b, grad_w, grad_b, 1.0, 0.0, 1.0)
    np.testing.assert_allclose(grad_w, delta.astype(np.float64).T @ a64,
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4)


def test_layout_of_kernels_and_wrapper_agree():
    from fastnn.network import _parameter_views

    sizes = np.array([5, 4, 3, 2], dtype=np.int64)
    params = np.arange(5 * 4 + 4 * 3 + 3 * 2 + 4 + 3 + 2, dtype=np.float64)
    weights, biases = _parameter_views(params, tuple(sizes))
    for i in range(1, len(sizes)):
        assert np.array_equal(kernels.layer_weights(params, sizes, i), weights[i - 1])
        assert np.array_equal(kernels.layer_biases(params, sizes, i), biases[i - 1])
    assert biases[-1][-1] == params[-1]


def test_shuffle_order_is_a_seeded_permutation():
    first = np.empty(100, dtype=np.int64)
    second = np.empty(100, dtype=np.int64)
    kernels.shuffle_order(first, 42)
    kernels.shuffle_order(second, 42)
    assert np.array_equal(first, second)
    assert np.array_equal(np.sort(first), np.arange(100))
    assert not np.array_equal(first, np.arange(100))
    kernels.shuffle_order(second, 43)
    assert not np.array_equal(first, second)


FLOAT32_IR_CHECK = r"""
import numpy as np
from fastnn import kernels
rng = np.random.default_rng(0)
# 11 samples and 13 rows reach every block kernel of the host's tiles
# (AVX-512: samples 6 + 4 + 1, rows 8 + 4 + 1; AVX2: 3 + 3 + 3 + 2, 4 + 4 + 4 + 1).
w = rng.random((13, 4), dtype=np.float32)
b = rng.random(13, dtype=np.float32)
a_prev = rng.random((11, 4), dtype=np.float32)
a = np.empty((11, 13), np.float32)
kernels.forward_layer(w, b, a_prev, a, kernels.plain_rule(1, w.dtype), kernels.NO_ROWS)
delta = np.empty_like(a)
kernels.output_delta(a, a, delta, 0, np.empty(0, np.float32), np.arange(11))
delta_prev = np.empty_like(a_prev)
kernels.backward_delta(w, delta, a_prev, delta_prev, kernels.plain_rule(1, w.dtype),
                       kernels.NO_ROWS)
kernels.layer_gradient(delta, a_prev, w, b, np.empty_like(w), np.empty_like(b), 0.5, 0.1, 1.0)
import fastnn
# per-sample SGD (batch 1) has kernels of its own
fastnn.Network([4, 13, 3], seed=0, dtype=np.float32).train(
    a_prev, np.arange(11) % 3, epochs=1, batch_size=1, eta=0.1)
import re
arithmetic = re.compile(r"\bf(?:add|sub|mul|div)(?: [a-z]+)* (<\d+ x )?(float|double)\b")
from fastnn.kernels import blocked, layers, neurons, sample_loops
for dispatcher in (blocked.weighted_sums_block, blocked.weighted_sums_small,
                   blocked.weighted_sums_one, neurons.activate_rows,
                   kernels.output_delta, neurons.scale_by_derivative,
                   blocked.gradient_rows_block, blocked.gradient_rows_small,
                   blocked.gradient_row_one, blocked.backward_sums_block,
                   sample_loops.step_and_forward, sample_loops.step_one,
                   sample_loops.deferred_step, sample_loops.pair_products,
                   sample_loops.activate_deferred, sample_loops.backward_one,
                   sample_loops.forward_one):
    compiled = dispatcher.inspect_llvm()
    assert compiled, (dispatcher.__name__, "not compiled by this script: check is vacuous")
    for signature, ir in compiled.items():
        assert "float32" in str(signature), signature
        kinds = {match.group(2) for match in arithmetic.finditer(ir)}
        assert "float" in kinds, (dispatcher.__name__, "no float32 arithmetic: check is vacuous")
        assert "double" not in kinds, (dispatcher.__name__, "double arithmetic in float32 code")
print("float32-only")
"""


@pytest.mark.slow
@pytest.mark.skipif(JIT_DISABLED, reason="inspects compiled code")
def test_float32_kernels_compute_in_float32():
    """No double-precision arithmetic in the float32 specialisations: a stray
    Python float literal would show up as fadd/fmul double in the IR.

    Runs in a fresh interpreter with the disk cache off, because numba cannot
    show the IR of kernels loaded from its cache.
    """
    import os
    import subprocess
    import sys

    env = dict(os.environ, FASTNN_CACHE="0")
    result = subprocess.run([sys.executable, "-c", FLOAT32_IR_CHECK], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "float32-only" in result.stdout


WIDE_VECTOR_CHECK = """
import numpy as np
from fastnn import kernels
rng = np.random.default_rng(0)
w, b = rng.random((8, 64), dtype=np.float32), rng.random(8, dtype=np.float32)
a_prev, a = rng.random((6, 64), dtype=np.float32), np.empty((6, 8), np.float32)
kernels.forward_layer(w, b, a_prev, a, kernels.plain_rule(1, w.dtype), kernels.NO_ROWS)
kernels.layer_gradient(a, a_prev, w, b, np.empty_like(w), np.empty_like(b), 0.5, 0.0, 1.0)
kernels.backward_delta(w, a, a_prev, np.empty_like(a_prev), kernels.plain_rule(1, w.dtype),
                       kernels.NO_ROWS)
from fastnn.kernels import blocked
for dispatcher in (blocked.weighted_sums_block, blocked.gradient_rows_block,
                   blocked.backward_sums_block):
    assembly = "".join(dispatcher.inspect_asm().values())
    print(dispatcher.__name__, "zmm" if "zmm" in assembly else "no zmm")
"""


def _host_has_avx512():
    try:
        import llvmlite.binding as llvm

        return bool(llvm.get_host_cpu_features().get("avx512f", False))
    except Exception:  # pragma: no cover - llvmlite is numba's own dependency
        return False


@pytest.mark.slow
@pytest.mark.skipif(JIT_DISABLED, reason="inspects compiled code")
@pytest.mark.skipif(not _host_has_avx512(), reason="needs an AVX-512 CPU")
def test_kernels_use_512_bit_vectors_on_avx512_cpus():
    """_jit.prefer_wide_vectors lifts LLVM's 256-bit preference on AVX-512
    cores for the kernels whose register blocks were sized for it (without
    it, this CPU's loops get ymm registers only)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, FASTNN_CACHE="0")
    result = subprocess.run([sys.executable, "-c", WIDE_VECTOR_CHECK], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["weighted_sums_6x4", "zmm", "gradient_rows_8x4", "zmm",
                                     "backward_sums_4x4", "zmm"]


def test_no_kernel_sets_its_own_jit_flags():
    """Every JIT flag comes from fastnn/_config.py (stumpy's rule)."""
    import pathlib
    import re

    import fastnn

    package = pathlib.Path(fastnn.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        if path.relative_to(package).as_posix() == "kernels/_jit.py":  # the decorator
            continue
        text = path.read_text()
        if re.search(r"\bnumba\.(njit|jit)\b|from numba import[^\n]*\b(njit|jit)\b|@njit", text):
            offenders.append(path.name)
    assert offenders == []


def test_forward_blocks_cover_the_batch_with_fewest_single_samples():
    """The forward pass's split of m samples: every sample in exactly one
    block of FORWARD_BLOCK or FORWARD_SMALL_BLOCK or alone, as few single
    samples as any split into those blocks allows, blocks contiguous and in
    order. (For AVX-512's six and four: one single sample for odd m, m
    itself for m = 2 or 3.)"""
    big, small = blocked.FORWARD_BLOCK, blocked.FORWARD_SMALL_BLOCK
    for m in range(1, 400):
        n_big, n_small, n_single = layers._forward_blocks(m)
        n_blocks = n_big + n_small
        starts = [layers._forward_block_start(i, n_big) for i in range(n_blocks + 1)]
        sizes = np.diff(starts)
        assert starts[0] == 0 and starts[-1] == m - n_single, m
        assert np.sum(sizes == big) == n_big and np.sum(sizes == small) == n_small, (m, sizes)
        fewest = min(m - big * b - small * ((m - big * b) // small) for b in range(m // big + 1))
        assert n_single == fewest, (m, n_single)
        if (big, small) == (6, 4):
            assert n_single == (m % 2 if m not in (2, 3) else m), (m, n_single)


# -- the shared epoch: one parallel region per epoch, work handed out by atomics
def _training_problem(sizes, n_samples, dtype, seed):
    """Flat parameters (weights by layer, then biases), inputs in [0, 1) and
    one-hot targets, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    params = np.concatenate(
        [rng.standard_normal(sizes[i] * sizes[i - 1]) / np.sqrt(sizes[i - 1])
         for i in range(1, len(sizes))]
        + [rng.standard_normal(sizes[i]) for i in range(1, len(sizes))]).astype(dtype)
    inputs = rng.random((n_samples, sizes[0])).astype(dtype)
    targets = np.zeros((n_samples, sizes[-1]), dtype)
    targets[np.arange(n_samples), rng.integers(0, sizes[-1], n_samples)] = 1
    return params, inputs, targets


# The objectives (docs/theory.md §10) besides the document's: (cost,
# output, lmbda, sample weights).
OBJECTIVES = {
    "quadratic": ("quadratic", "sigmoid", 0.0, False),
    "cross-entropy, L2, weights": ("cross_entropy", "sigmoid", 2.0, True),
    "identity, L2, weights": ("quadratic", "identity", 2.0, True),
}


def _run_epochs(driver, sizes, batch_size, n_samples, dtype, shuffled, n_threads=2, epochs=2,
                objective="quadratic"):
    """``epochs`` epochs of ``driver`` (EpochPlan's name) with exactly
    ``n_threads`` threads; returns the parameters, the last gradient and
    the costs."""
    cost, output, lmbda, weighted = OBJECTIVES[objective]
    params, inputs, targets = _training_problem(sizes, n_samples, dtype, seed=5)
    weights = (np.random.default_rng(9).random(n_samples) * 2).astype(dtype) if weighted else None
    plan = EpochPlan(sizes, batch_size, dtype, n_samples, n_threads, driver=driver,
                     borrow_cores=False, cost=cost, output=output)
    order = np.arange(n_samples, dtype=np.int64)
    costs = []
    for epoch in range(epochs):
        if shuffled:
            kernels.shuffle_order(order, 7 + epoch)
        costs.append(plan.run(params, inputs, targets, order, 0.7, lmbda=lmbda,
                              sample_weight=weights))
    return params, plan.grad, costs


SHARED_CASES = [
    # sizes, batch size, samples: two parts of eight rows and a tail of
    # fewer; a last short batch; a layer 1 narrower than eight rows (one
    # part); three layers; one layer (no tail layers); batches of 1 and 2.
    ((40, 30, 10), 10, 103),
    ((40, 17, 6, 3), 6, 50),
    ((12, 5, 4), 4, 21),
    ((20, 24), 5, 23),
    ((16, 16, 3), 1, 9),
    ((16, 16, 3), 2, 9),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SHARED_CASES, ids=str)
@pytest.mark.parametrize("shuffled, objective", [
    (False, "quadratic"), (True, "quadratic"), (True, "cross-entropy, L2, weights"),
    (True, "identity, L2, weights")], ids=str)
def test_shared_epoch_is_bitwise_train_epoch(dtype, case, shuffled, objective):
    """train_epoch_shared runs the same kernels on the same rows as
    train_epoch, only in other threads: parameters, gradient and cost are
    bitwise the same, whatever the number of threads it is told to use,
    for every objective (docs/theory.md §10); train_epoch_threaded too."""
    sizes, batch_size, n_samples = case
    expected = _run_epochs("train_epoch", sizes, batch_size, n_samples, dtype, shuffled,
                           objective=objective)
    threaded = _run_epochs("train_epoch_threaded", sizes, batch_size, n_samples, dtype, shuffled,
                           objective=objective)
    assert np.array_equal(threaded[0], expected[0]) and threaded[2] == expected[2]
    for n_threads in (1, 2, 3):
        params, grad, costs = _run_epochs("train_epoch_shared", sizes, batch_size, n_samples,
                                          dtype, shuffled, n_threads, objective=objective)
        assert np.array_equal(params, expected[0]), n_threads
        assert np.array_equal(grad, expected[1]), n_threads
        assert costs == expected[2], n_threads


@pytest.mark.skipif(JIT_DISABLED, reason="threads only run with the JIT")
def test_shared_epoch_is_bitwise_with_one_and_two_numba_threads():
    """One numba thread runs every part itself (no part waits on a thread
    that does not exist): the same result as two."""
    previous = numba.get_num_threads()
    results = []
    try:
        for count in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(count)
            results.append(_run_epochs("train_epoch_shared", (60, 40, 10), 10, 200,
                                       np.float32, True))
    finally:
        numba.set_num_threads(previous)
    assert np.array_equal(results[0][0], results[1][0])
    assert results[0][2] == results[1][2]


def test_use_shared_epoch_takes_wide_first_layers_only():
    assert kernels.use_shared_epoch([784, 30, 10], 10)  # W2
    assert kernels.use_shared_epoch([784, 100, 10], 32)  # W3
    assert not kernels.use_shared_epoch([784, 256, 256, 10], 128)  # W4: layer 2 is big
    assert kernels.use_shared_epoch([784, 30, 10], 1)  # W1, blocks of LOOKAHEAD samples
    assert not kernels.use_shared_epoch([4, 3, 2], 10)  # too little work for threads
    assert not kernels.use_shared_epoch([784, 30], 10)  # one layer: nothing to overlap



def _atomic_operations():
    from fastnn.kernels import atomics as _atomics

    def operations(counters):
        old = _atomics.fetch_add(counters, 1, 5)
        swapped = _atomics.compare_exchange(counters, 2, 0, 9)
        refused = _atomics.compare_exchange(counters, 2, 0, 11)
        _atomics.store_release(counters, 3, old + 1)
        _atomics.spin_pause()
        _atomics.yield_core()
        return old, swapped, refused, _atomics.load_acquire(counters, 1)

    return operations if JIT_DISABLED else numba.njit(operations)


def test_atomic_operations_do_what_they_say():
    counters = np.array([0, 3, 0, 0], dtype=np.int64)
    old, swapped, refused, loaded = _atomic_operations()(counters)
    assert (old, swapped, refused, loaded) == (3, True, False, 8)
    assert counters.tolist() == [0, 8, 9, 4]


def _run_per_sample_epochs(driver, sizes, n_samples, dtype, shuffled, n_threads=2, epochs=2,
                           objective="quadratic"):
    cost, output, lmbda, weighted = OBJECTIVES[objective]
    params, inputs, targets = _training_problem(sizes, n_samples, dtype, seed=6)
    weights = (np.random.default_rng(9).random(n_samples) * 2).astype(dtype) if weighted else None
    plan = EpochPlan(sizes, 1, dtype, n_samples, n_threads, driver=driver, borrow_cores=False,
                     cost=cost, output=output)
    order = np.arange(n_samples, dtype=np.int64)
    costs = []
    for epoch in range(epochs):
        if shuffled:
            kernels.shuffle_order(order, 3 + epoch)
        costs.append(plan.run(params, inputs, targets, order, 0.9, lmbda=lmbda,
                              sample_weight=weights))
    return params, costs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes, n_samples", [
    # two parts and a last short block; whole blocks only; fewer samples
    # than a block; one part; three layers; one layer
    ((40, 30, 10), 43), ((40, 30, 10), 16), ((40, 30, 10), 5), ((12, 5, 4), 21),
    ((40, 17, 6, 3), 37), ((20, 24), 13)], ids=str)
@pytest.mark.parametrize("shuffled, objective", [
    (False, "quadratic"), (True, "quadratic"), (True, "cross-entropy, L2, weights"),
    (True, "identity, L2, weights")], ids=str)
def test_shared_per_sample_epoch_is_bitwise_train_epoch_per_sample(dtype, sizes, n_samples,
                                                                   shuffled, objective):
    expected = _run_per_sample_epochs("train_epoch_per_sample", sizes, n_samples, dtype,
                                      shuffled, objective=objective)
    for n_threads in (1, 2, 3):
        params, costs = _run_per_sample_epochs("train_epoch_per_sample_shared", sizes,
                                               n_samples, dtype, shuffled, n_threads,
                                               objective=objective)
        assert np.array_equal(params, expected[0]), n_threads
        assert costs == expected[1], n_threads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf * 0 in plain Python
def test_all_finite_agrees_with_numpy(dtype):
    from fastnn._validation import all_finite

    rng = np.random.default_rng(11)
    huge = np.finfo(dtype).max
    for shape in [(0,), (1,), (7,), (33, 5), (4, 3, 2), (1000, 37)]:
        values = rng.standard_normal(shape).astype(dtype)
        assert all_finite(values)
        if values.size == 0:
            continue
        values.flat[rng.integers(values.size)] = huge  # finite, however large
        assert all_finite(values)
        for bad in (np.nan, np.inf, -np.inf):
            for position in (0, values.size - 1, int(rng.integers(values.size))):
                spoiled = values.copy()
                spoiled.flat[position] = bad
                assert not all_finite(spoiled), (shape, bad, position)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_loops_sigmoid_passes_nan_through_and_saturates_at_infinity(dtype):
    """A NaN weighted sum (a diverging network) gives a NaN activation, so
    that training sees it; its table index used to be read out of bounds."""
    z = np.array([[np.nan, np.inf, -np.inf, 0.0]], dtype)
    a = z.copy()
    neurons.activate_rows(np.zeros(4, dtype), a, 0, 1, 0, 4, kernels.plain_rule(1, dtype),
                          kernels.NO_ROWS)
    assert np.isnan(a[0, 0]) and a[0, 1] == 1 and a[0, 2] == 0 and a[0, 3] == 0.5
