"""The estimators' hyperparameters: scikit-learn's table of constraints, and
fastnn's extras.

``PARAMETER_CONSTRAINTS`` is scikit-learn 1.9's ``_parameter_constraints``
of its MLPs, written out (so that a bad value raises scikit-learn's own
``InvalidParameterError`` with its message, through
``BaseEstimator._validate_params``), plus fastnn's extras: ``dtype``,
``n_threads``, the classifier's ``loss`` and ``leaky_relu``. The
estimators' ``__init__`` lists every parameter in scikit-learn's order,
with its positional ones positional, and stores each value untouched.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

__all__ = ["PARAMETER_CONSTRAINTS", "ACTIVATIONS", "SOLVERS", "STOCHASTIC_SOLVERS",
           "CLASSIFIER_LOSSES", "REGRESSOR_LOSSES", "check_dtype_parameter"]

ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu")
SOLVERS = ("lbfgs", "sgd", "adam")
STOCHASTIC_SOLVERS = ("sgd", "adam")
# the classifier's losses (fastnn's extra: scikit-learn's classifier has
# only the log-loss) and the (cost, output) of the Network for each;
# "log_loss" means softmax for multiclass and sigmoid otherwise.
CLASSIFIER_LOSSES = ("log_loss", "squared_error")
REGRESSOR_LOSSES = ("squared_error", "poisson")

PARAMETER_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "solver": [StrOptions(set(SOLVERS))],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    # fastnn's extras
    "dtype": "no_validation",
    "n_threads": [None, Interval(Integral, 1, None, closed="left")],
}


def check_dtype_parameter(dtype):
    """None (the dtype of X, float32 or float64) or float32/float64."""
    if dtype is None:
        return None
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be None, numpy.float32 or numpy.float64, got {dtype!r}")
    return checked
