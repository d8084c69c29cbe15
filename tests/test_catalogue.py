"""Random input against the public API (hypothesis): every call either works
or raises ValueError/TypeError, and a rejected call leaves the network
bitwise as it was. The fixed cases are in BAD_TRAIN_CALLS (test_network.py),
test_files.py, test_datasets.py and test_cli.py; docs/reliability.md lists
them by fault."""
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import fastnn

SIZES = (4, 3, 2)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 1e308, -1e308, 1e-320, np.nan, np.inf, -np.inf, 2.0**63,
           1e30]
DTYPES = [np.float64, np.float32, np.int64, np.int8, np.uint8, np.bool_, np.complex128,
          np.dtype("U3"), np.dtype("O")]


@st.composite
def arrays(draw, max_dims=3, max_side=5):
    """An array of a random dtype and shape (sometimes the right one), with
    ordinary and extreme values, in C or Fortran order or a strided view."""
    n_dims = draw(st.integers(0, max_dims))
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=n_dims, max_size=n_dims)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    values = draw(st.lists(st.one_of(st.sampled_from(SPECIAL),
                                     st.floats(-10, 10, allow_nan=False)),
                           min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        base = np.array(values, dtype=np.float64).reshape(shape)
        if dtype.kind == "U":
            array = base.astype(str).astype(dtype)
        elif dtype.kind == "O":
            array = base.astype(object)
        else:
            array = base.astype(dtype)
    layout = draw(st.sampled_from(["C", "F", "view"]))
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "view" and array.ndim >= 1 and array.shape[0] > 1:
        array = array[::2]
    return array


def inputs_and_labels():
    """Mostly well-shaped (n, 4) inputs and labels, sometimes anything."""
    return st.one_of(
        st.tuples(arrays(), arrays(max_dims=2)),
        st.integers(1, 6).flatmap(lambda n: st.tuples(
            st.just(np.random.default_rng(n).random((n, SIZES[0]))),
            st.one_of(arrays(max_dims=2),
                      st.lists(st.integers(-3, 4), min_size=n, max_size=n).map(np.array)))),
    )


OPTIONS = st.fixed_dictionaries({}, optional={
    "epochs": st.one_of(st.integers(-2, 3), st.sampled_from([2.0, True, None, "3"])),
    "batch_size": st.one_of(st.integers(-1, 7), st.sampled_from([0.5, None])),
    "eta": st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([0, -1, "1", None])),
    "shuffle": st.sampled_from([True, False, 0, "no", None]),
    "seed": st.one_of(st.integers(-5, 2**70), st.sampled_from([None, 1.5, "x"])),
    "checkpoint_every": st.integers(-1, 3),
    "on_divergence": st.sampled_from(["raise", "warn", "stop", "no", 3]),
})


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=inputs_and_labels(), options=OPTIONS,
       dtype=st.sampled_from([np.float64, np.float32]))
def test_train_works_or_refuses_and_then_leaves_the_network_as_it_was(data, options, dtype):
    X, y = data
    net = fastnn.Network(SIZES, seed=0, dtype=dtype)
    before = net.params.copy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.train(X, y, **options)
    except (ValueError, TypeError, ArithmeticError):
        # ArithmeticError: fastnn.DivergenceError, which restores the
        # parameters of the last finite epoch (here: the start)
        assert np.array_equal(net.params, before, equal_nan=True)
        return
    assert np.isfinite(net.params).all()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(X=arrays(), labels=arrays(max_dims=2))
def test_outputs_work_or_refuse(X, labels):
    net = fastnn.Network(SIZES, seed=0)
    before = net.params.copy()
    for call in (lambda: net.feedforward(X), lambda: net.predict(X),
                 lambda: net.evaluate(X, labels), lambda: net.cost(X, labels)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = call()
        except (ValueError, TypeError):
            continue
        assert np.all(np.isfinite(np.asarray(result, dtype=np.float64)))
    assert np.array_equal(net.params, before)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=inputs_and_labels(), options=st.fixed_dictionaries({}, optional={
    "hidden_layer_sizes": st.sampled_from([(3,), (), (0,), (2, 2), "3", (1.5,)]),
    "learning_rate_init": st.sampled_from([0.1, 0.0, -1.0, float("nan"), 1e6]),
    "batch_size": st.sampled_from([1, 5, 0, "auto"]),
    "shuffle": st.sampled_from([True, "no"]),
    "max_iter": st.sampled_from([1, 3, 0, -1]),
}))
def test_the_estimators_fit_or_refuse_and_keep_a_fitted_model(data, options):
    from sklearn.exceptions import ConvergenceWarning

    X, y = data
    clf = fastnn.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.random.default_rng(0).random((6, SIZES[0])), [0, 1, 0, 1, 2, 2])
    before = [c.copy() for c in clf.coefs_]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.set_params(**options).fit(X, y)
    except (ValueError, TypeError):
        assert all(np.array_equal(a, b) for a, b in zip(clf.coefs_, before))
        return
    assert all(np.isfinite(c).all() for c in clf.coefs_)
