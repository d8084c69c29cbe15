"""The activations users ask for (docs/theory.md §11, §12): each f and its
f' from the activation, the libm-free forms of the loops against libm, the
softmax, the table of cost/output pairs, and the reference path's gradient
for every activation x output x cost (central differences, the
independent NumPy reference, networks worked by hand)."""
import warnings

import numba
import numpy as np
import pytest

from fastnn.kernels import activation
from fastnn.kernels.activation import IDENTITY, LEAKY_RELU, LOGISTIC, RELU, TANH

import naive

HIDDEN = {"logistic": LOGISTIC, "tanh": TANH, "relu": RELU, "leaky_relu": LEAKY_RELU,
          "identity": IDENTITY}
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


