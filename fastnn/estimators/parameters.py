"""The estimators' hyperparameters: one table of how each is checked, and their docs.

``PARAMETERS`` lists every hyperparameter the two estimators share, in the
order they are checked, with the key of the checked value that fitting
reads; an estimator adds its own (the classifier's ``loss``) as the
Network's cost. ``check_parameters`` raises naming the
first bad one (TypeError or ValueError), before anything is fitted.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._validation import (check_bool, check_dtype, check_positive_float, check_positive_int,
                           check_thread_count)
from ..kernels.activation import HIDDEN_ACTIVATIONS

__all__ = ["Parameter", "PARAMETERS", "check_parameters", "parameters_doc",
           "SAMPLE_WEIGHT_DOC", "CLASSIFIER_LOSSES"]

# The classifier's loss names and the Network's cost for each.
CLASSIFIER_LOSSES = {"squared_error": "quadratic", "log_loss": "cross_entropy"}


@dataclass(frozen=True)
class Parameter:
    """name: the estimator's attribute; key: the checked value's key;
    check(value, checked so far): the checked value, or it raises."""

    name: str
    key: str
    check: Callable


def _hidden_layer_sizes(hidden, checked):
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, (bool, np.bool_)):
        hidden = (hidden,)
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints, got {hidden!r}")
    return tuple(check_positive_int(width, f"hidden_layer_sizes[{position}]")
                 for position, width in enumerate(hidden))


def _activation(activation, checked):
    """scikit-learn's names (identity, logistic, tanh, relu), and leaky_relu."""
    if not isinstance(activation, str) or activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, HIDDEN_ACTIVATIONS))}"
                         f", got {activation!r}")
    return activation


def _alpha(alpha, checked):
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number >= 0, got {alpha!r}")
    if not (np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    return float(alpha)


def _tol(tol, checked):
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not (
            np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    return float(tol)


def _validation_fraction(fraction, checked):
    if checked["early_stopping"] and (
            isinstance(fraction, (bool, np.bool_)) or not isinstance(fraction, numbers.Real)
            or not 0 < fraction < 1):
        raise ValueError(f"validation_fraction must be a number in (0, 1) when early_stopping "
                         f"is on, got {fraction!r}")
    return fraction


def _simple(check, name):
    return Parameter(name, name, lambda value, checked: check(value, name))


# In the order they are checked; "cost" (the estimator's own) comes after alpha.
PARAMETERS = (
    Parameter("hidden_layer_sizes", "hidden", _hidden_layer_sizes),
    Parameter("activation", "activation", _activation),
    _simple(check_positive_int, "batch_size"),
    Parameter("learning_rate_init", "eta",
              lambda value, checked: check_positive_float(value, "learning_rate_init")),
    _simple(check_positive_int, "max_iter"),
    _simple(check_positive_int, "n_iter_no_change"),
    Parameter("dtype", "dtype", lambda value, checked: check_dtype(value)),
    Parameter("n_threads", "n_threads", lambda value, checked: check_thread_count(value)),
    _simple(check_bool, "shuffle"),
    _simple(check_bool, "early_stopping"),
    _simple(check_bool, "warm_start"),
    Parameter("alpha", "alpha", _alpha),
    Parameter("tol", "tol", _tol),
    Parameter("validation_fraction", "validation_fraction", _validation_fraction),
)


def check_parameters(estimator, network_cost) -> dict:
    """Every hyperparameter of ``estimator`` checked, keyed as in the table,
    plus "cost": ``network_cost(checked so far)``, the Network's cost for
    the estimator's own parameters (checked after alpha)."""
    checked = {}
    for parameter in PARAMETERS:
        checked[parameter.key] = parameter.check(getattr(estimator, parameter.name), checked)
        if parameter.key == "alpha":
            checked["cost"] = network_cost(checked)
    return checked


def parameters_doc(batch_size, learning_rate_init, eta_note, loss_doc, out_activation,
                    early_stopping):
    return f"""
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Neurons of each hidden layer. ``()`` means no hidden layer.
    activation : {{"identity", "logistic", "tanh", "relu", "leaky_relu"}}, default="logistic"
        The hidden layers' activation, with scikit-learn's names and meaning
        (docs/theory.md §11): a = z, the logistic sigmoid (the design
        document's), tanh, max(z, 0); and leaky ReLU (slope 0.01 below 0).
        The initial weights are scikit-learn's for the other activations:
        Glorot's uniform U(-r, r), r = sqrt(6 / (n_in + n_out)), biases
        likewise; the logistic keeps the design document's N(0, 1/n_in)
        weights and N(0, 1) biases, which the defaults below were tuned
        with (docs/theory.md §11).
{loss_doc}    alpha : float >= 0, default=0.0001
        L2 penalty on the weights (not the biases), with scikit-learn's
        meaning: each step shrinks the weights by the factor
        1 - eta * alpha / b, b = min(batch_size, total sample weight) (the
        number of samples in a batch without weights). Passed to
        ``Network.train`` as lmbda = alpha * n / b (n: training samples), the
        book's w <- (1 - eta lmbda / n) w - (eta/m) sum_n dC_n/dw.
    batch_size : int, default={batch_size}
        Samples per mini-batch (clipped to the number of samples).
        scikit-learn's ``"auto"`` (min(200, n)) is not accepted.
    learning_rate_init : float, default={learning_rate_init}
        The constant step eta of plain mini-batch gradient descent. {eta_note}
    max_iter : int, default=200
        Maximum number of epochs of one ``fit`` call.
    shuffle : bool, default=True
        Visit the samples in a new random order each epoch.
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    tol : float, default=1e-4
        An epoch "improves" if the training cost drops by more than ``tol``
        (or, with ``early_stopping``, the validation score rises by more than
        ``tol``).
    n_iter_no_change : int, default=10
        ``fit`` stops after more than this many epochs in a row without
        improvement (scikit-learn's rule).
    early_stopping : bool, default={early_stopping}
        Hold out ``validation_fraction`` of the training data, score it after
        each epoch, stop on the rule above and keep the parameters of the best
        epoch. Ignored by ``partial_fit``, and by ``fit`` where the held-out
        part would have fewer than 2 samples (or nothing would be left to
        train on), or where either part holds only samples of weight 0: there
        ``fit`` stops on the training cost (``validation_scores_`` is None).
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out when ``early_stopping`` is on.
    warm_start : bool, default=False
        A new ``fit`` continues from the fitted parameters (and, for the
        regressor, keeps the target scaling of the first fit) instead of
        starting anew.
    dtype : float32 or float64, default=numpy.float64
        Dtype of the parameters and of every computation.
    n_threads : int >= 1 or None, default=None
        The most threads one ``fit`` / ``partial_fit`` may use (passed to
        ``Network.train``). None: numba's thread count, capped by the cores
        this process may run on and by ``OMP_NUM_THREADS`` when it is set
        (joblib sets it in the worker processes of ``GridSearchCV(n_jobs=...)``
        and ``cross_val_score(n_jobs=...)``, so they do not oversubscribe).
        The fitted parameters are bitwise the same for every value.

    Attributes
    ----------
    coefs_ : list of ndarray
        ``coefs_[i]`` has shape (n_in, n_out) as in scikit-learn: the
        transpose of ``Network.weights[i]`` (shape (n_out, n_in)), as a view,
        so ``coefs_[i][k, j]`` is fastnn's w_jk of layer i+1.
    intercepts_ : list of ndarray
        ``intercepts_[i]`` has shape (n_out,); views of ``Network.biases``.
    loss_curve_ : list of float
        Per epoch, the training cost ``Network.train`` reports (its
        ``history.cost``): the mean over the samples (weighted by
        ``sample_weight``) of the cost C, without the L2 term, each C
        measured in the forward pass of its mini-batch, before its step.
    n_iter_ : int
        Epochs trained since initialisation (``warm_start`` and
        ``partial_fit`` accumulate).
    t_ : int
        Training samples seen since initialisation.
    best_loss_ : float or None
        Lowest value of ``loss_curve_`` in the last ``fit`` (None with
        ``early_stopping``).
    validation_scores_ : list of float or None
        Score on the held-out data per epoch (``early_stopping`` only),
        weighted by ``sample_weight``.
    best_validation_score_ : float or None
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X was a DataFrame with string column names.
    n_layers_ : int
        Layers including the input and output layers.
    n_outputs_ : int
        Output neurons.
    out_activation_ : str
        ``"{out_activation}"``.
"""


SAMPLE_WEIGHT_DOC = """
    sample_weight (``fit``, ``partial_fit``): array-like of shape (n_samples,)
    or a float, default None. Non-negative, finite, not all zero
    (scikit-learn's rules, except that negative weights are refused). Each
    step is eta/m times the weighted sum of the batch's gradients, the
    weights rescaled to mean 1, so a weight of 2 acts as the sample given
    twice: exactly with full batches, in expectation over shuffled
    mini-batches; ``alpha``'s penalty counts the weights as samples too.
    Equal weights train as no weights (but for that penalty). With
    ``early_stopping`` the weights are split with the samples and weight the
    validation score.
"""


