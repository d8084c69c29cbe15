"""scikit-learn estimators trained by fastnn's kernels.

:class:`MLPClassifier` and :class:`MLPRegressor` follow the interface of
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` (``fit``,
``partial_fit``, ``predict``, ``score``, ``coefs_``, ``loss_curve_``, ...),
but the model is the one fastnn trains: sigmoid hidden neurons, plain
mini-batch gradient descent with a constant step ``eta``
(``learning_rate_init``) and Nielsen's L2 weight decay (``alpha``). The
classifier has sigmoid outputs with the quadratic cost or the cross-entropy
(``loss``); the regressor has identity outputs with the quadratic cost on
standardized targets. See ``docs/estimators.md`` for the defaults and the
differences from scikit-learn.

This module needs scikit-learn; ``import fastnn`` does not import it (the
package exposes the two classes lazily).
"""
from __future__ import annotations

from abc import ABCMeta, abstractmethod
import copy
import math
import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "fastnn's scikit-learn estimators need scikit-learn; install it with "
        "pip install 'fastnn[sklearn]'"
    ) from error
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

try:
    from sklearn.utils.validation import validate_data as _sklearn_validate_data
except ImportError:  # scikit-learn < 1.6 has the method instead of the function

    def _sklearn_validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


from ._validation import check_thread_count
from ._validation import check_bool, check_dtype, check_positive_float, check_positive_int
from .network import Network
from .training import l2_decay_fails

__all__ = ["MLPClassifier", "MLPRegressor"]

# Seeds handed to Network (init, shuffling, validation split) are drawn from
# the estimator's RandomState in [0, _SEED_BOUND).
_SEED_BOUND = 2**31 - 1

# A target column whose standard deviation is below this fraction of its
# largest |y| is constant up to rounding: it is centred, not divided.
_CONSTANT_COLUMN = 1e3 * np.finfo(np.float64).eps
# Regression targets are refused if a prediction this many standard
# deviations from their mean would overflow float64.
_TARGET_MARGIN = 100.0

_CLASSIFIER_LOSSES = {"squared_error": "quadratic", "log_loss": "cross_entropy"}


class _BaseFastMLP(BaseEstimator, metaclass=ABCMeta):
    """Parameters, validation and the training loop shared by both estimators."""

    # Each estimator has its own __init__ (scikit-learn reads the parameters
    # from its signature); both store every value untouched.
    _network_output = None  # "sigmoid" or "identity"

    @abstractmethod
    def _network_cost(self, params):
        """The Network's cost name for these checked parameters."""

    # -- subclass hooks ----------------------------------------------------------
    @abstractmethod
    def _check_y(self, y, first_call, classes, incremental, sample_weight):
        """Check y for this fit (first_call: not a continuation; classes: as
        given to partial_fit; incremental: partial_fit rather than fit;
        sample_weight: checked weights or None) and note what
        ``_encode_targets`` needs; raises ValueError on bad y. Returns
        nothing."""

    @abstractmethod
    def _encode_targets(self, y, dtype):
        """Targets of shape (n, n_outputs) the network trains on."""

    @abstractmethod
    def _validation_score(self, network, X, y, sample_weight):
        """The early-stopping score of ``network`` on held-out (X, y)."""

    # -- parameters ----------------------------------------------------------------
    def _checked_parameters(self):
        """Every hyperparameter checked; raises naming the first bad one."""
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, (bool, np.bool_)):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(
                f"hidden_layer_sizes must be an int or a sequence of ints, got {hidden!r}"
            )
        hidden = tuple(
            check_positive_int(width, f"hidden_layer_sizes[{position}]")
            for position, width in enumerate(hidden)
        )
        checked = {
            "hidden": hidden,
            "batch_size": check_positive_int(self.batch_size, "batch_size"),
            "eta": check_positive_float(self.learning_rate_init, "learning_rate_init"),
            "max_iter": check_positive_int(self.max_iter, "max_iter"),
            "n_iter_no_change": check_positive_int(self.n_iter_no_change, "n_iter_no_change"),
            "dtype": check_dtype(self.dtype),
            "n_threads": check_thread_count(self.n_threads),
        }
        for name in ("shuffle", "early_stopping", "warm_start"):
            checked[name] = check_bool(getattr(self, name), name)
        alpha = self.alpha
        if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
            raise TypeError(f"alpha must be a real number >= 0, got {alpha!r}")
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        checked["alpha"] = float(alpha)
        checked["cost"] = self._network_cost(checked)
        tol = self.tol
        if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not (
            np.isfinite(tol) and tol >= 0
        ):
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
        checked["tol"] = float(tol)
        fraction = self.validation_fraction
        if checked["early_stopping"] and (
            isinstance(fraction, (bool, np.bool_))
            or not isinstance(fraction, numbers.Real)
            or not 0 < fraction < 1
        ):
            raise ValueError(
                f"validation_fraction must be a number in (0, 1) when early_stopping "
                f"is on, got {fraction!r}"
            )
        checked["validation_fraction"] = fraction
        return checked

    # -- fitting ---------------------------------------------------------------------
    def _is_initialised(self):
        return hasattr(self, "_network")

    def _fit(self, X, y, *, incremental, classes=None, sample_weight=None):
        """Validate everything, train a copy of the network, then commit.

        Every attribute is assigned only after training succeeded, so a call
        that raises (bad input, bad parameter, divergence) leaves a fitted
        model exactly as it was.
        """
        saved_state = self.__dict__.copy()
        try:
            self._fit_transaction(X, y, incremental=incremental, classes=classes,
                                  sample_weight=sample_weight)
        except BaseException:
            # validate_data(reset=True) writes n_features_in_ and
            # feature_names_in_ before y is checked; undo that too.
            self.__dict__.clear()
            self.__dict__.update(saved_state)
            raise
        return self

    def _fit_transaction(self, X, y, *, incremental, classes, sample_weight):
        params = self._checked_parameters()
        continuing = self._is_initialised() and (incremental or params["warm_start"])
        if continuing:
            self._check_same_architecture(params)
        dtype = self._network.dtype if continuing else params["dtype"]
        X, y = self._validate_data_xy(X, y, reset=not continuing, dtype=dtype)
        sample_weight = _checked_sample_weight(sample_weight, X)
        self._check_y(y, first_call=not continuing, classes=classes,
                      incremental=incremental, sample_weight=sample_weight)
        targets = self._encode_targets(y, dtype)
        # C order and the network's dtype, copied only if needed: a
        # read-only input (a memmap) reaches the kernels as a writable
        # alias (fastnn._validation), with no compile of its own.
        X = np.require(X, dtype=dtype, requirements=["C"])

        if continuing:
            # A copy, so that a call failing after it drew seeds (divergence)
            # leaves the stored generator where it was.
            rng = copy.deepcopy(self._random_state)
            network = self._network.copy()
            loss_curve = list(self.loss_curve_)
            n_iter = self.n_iter_
            samples_seen = self.t_
            # None after an early-stopping fit, which tracks scores instead
            best_loss = np.inf if self.best_loss_ is None else self.best_loss_
            validation_scores = (
                None if self.validation_scores_ is None else list(self.validation_scores_)
            )
            best_validation_score = self.best_validation_score_
        else:
            rng = check_random_state(self.random_state)
            sizes = [X.shape[1], *params["hidden"], targets.shape[1]]
            network = Network(sizes, cost=params["cost"], output=self._network_output,
                              seed=int(rng.randint(_SEED_BOUND)), dtype=dtype)
            loss_curve, n_iter, samples_seen = [], 0, 0
            best_loss = np.inf
            validation_scores, best_validation_score = None, None

        early_stopping = params["early_stopping"] and not incremental
        weight_val = None
        if early_stopping:
            split = _validation_split(
                X, targets, y, sample_weight, params["validation_fraction"],
                stratify=isinstance(self, ClassifierMixin), rng=rng)
            # None: too few samples, or only zero weights on one side; then
            # fit stops on the training cost, as without early_stopping
            early_stopping = split is not None
        if early_stopping:
            X, X_val, targets, y, y_val, sample_weight, weight_val = split
            validation_scores = [] if validation_scores is None else validation_scores
            best_validation_score = -np.inf
            # stays None if no epoch ever scores (a NaN score): the last
            # epoch's parameters are kept
            best_params = None
        elif not incremental:
            best_loss = np.inf
        no_improvement = 0
        tol = params["tol"]
        stopped = False

        def after_epoch(epoch, history):
            # Mirrors sklearn.neural_network's _update_no_improvement_count.
            nonlocal no_improvement, best_loss, best_validation_score, best_params, stopped
            loss = history.cost[-1]
            loss_curve.append(loss)
            if early_stopping:
                score = self._validation_score(network, X_val, y_val, weight_val)
                validation_scores.append(score)
                no_improvement = no_improvement + 1 if score < best_validation_score + tol else 0
                if score > best_validation_score:
                    best_validation_score = score
                    best_params = network.params.copy()
            else:
                if incremental:
                    best_loss = min(best_loss, loss)
                    return False
                no_improvement = no_improvement + 1 if loss > best_loss - tol else 0
                best_loss = min(best_loss, loss)
            if no_improvement > params["n_iter_no_change"]:
                stopped = True
                return True
            return False

        lmbda, train_weight = _book_l2_and_weights(
            params["alpha"], params["batch_size"], X.shape[0], sample_weight)
        if l2_decay_fails(params["eta"], lmbda, X.shape[0]):
            raise ValueError(
                f"learning_rate_init * alpha / b = {params['eta']:g} * {params['alpha']:g} / "
                f"{X.shape[0] / lmbda * params['alpha']:g} is at least 1 (b = min(batch_size, "
                "total sample weight)): every step would flip or zero the weights; lower "
                "alpha or learning_rate_init"
            )
        history = network.train(
            X, targets,
            epochs=1 if incremental else params["max_iter"],
            batch_size=params["batch_size"],
            eta=params["eta"],
            lmbda=lmbda,
            sample_weight=train_weight,
            shuffle=params["shuffle"],
            seed=int(rng.randint(_SEED_BOUND)),
            callback=after_epoch,
            n_threads=params["n_threads"],
            on_divergence="stop",
        )
        if history.diverged_at is not None:
            # Network.train restored the last finite epoch's parameters.
            warnings.warn(
                f"{type(self).__name__}: training diverged in epoch {history.diverged_at} "
                f"(the cost or the weights became NaN or inf) and stopped; the weights of the "
                f"epoch before are kept. Lower learning_rate_init (now {params['eta']:g}) or "
                "scale the inputs", ConvergenceWarning)
            stopped = True
        elif history.saturated_at is not None:
            warnings.warn(
                f"{type(self).__name__}: the output neurons are pinned at 0 or 1 and the "
                f"training cost stopped moving after epoch {history.saturated_at}: "
                f"learning_rate_init={params['eta']:g} is probably too large", ConvergenceWarning)
        if early_stopping and best_params is not None:
            network.params[...] = best_params
        if not incremental and not stopped:
            warnings.warn(
                f"{type(self).__name__}: the maximum number of iterations "
                f"(max_iter={params['max_iter']}) was reached and the training cost "
                "has not converged yet",
                ConvergenceWarning,
            )

        # Commit. Before this, self was only touched by validate_data's
        # bookkeeping and the _pending_* values of _check_y, which _fit undoes
        # on failure.
        self._network = network
        self._random_state = rng
        self.coefs_, self.intercepts_ = _sklearn_layout(network)
        self.loss_curve_ = loss_curve
        self.n_iter_ = n_iter + history.epochs
        self.t_ = samples_seen + X.shape[0] * history.epochs
        self.best_loss_ = None if early_stopping else best_loss
        self.validation_scores_ = validation_scores
        self.best_validation_score_ = best_validation_score
        self.n_layers_ = len(network.sizes)
        self.n_outputs_ = network.sizes[-1]
        self.out_activation_ = "logistic" if self._network_output == "sigmoid" else "identity"
        self._commit_targets()

    def _check_same_architecture(self, params):
        fitted_hidden = tuple(self._network.sizes[1:-1])
        if params["hidden"] != fitted_hidden:
            raise ValueError(
                f"hidden_layer_sizes is now {params['hidden']} but the model was fitted "
                f"with {fitted_hidden}; set warm_start=False (or refit) to change it"
            )
        if params["dtype"] != self._network.dtype:
            raise ValueError(
                f"dtype is now {params['dtype']} but the model was fitted with "
                f"{self._network.dtype}; set warm_start=False (or refit) to change it"
            )
        if params["cost"] != self._network.cost_name:
            names = {cost: loss for loss, cost in _CLASSIFIER_LOSSES.items()}
            raise ValueError(
                f"loss is now {names[params['cost']]!r} but the model was fitted with "
                f"{names[self._network.cost_name]!r}; set warm_start=False (or refit) "
                "to change it"
            )

    def _validate_data_xy(self, X, y, *, reset, dtype):
        # scikit-learn's quick finiteness test sums the values: y = +-1e308
        # sums to NaN with a RuntimeWarning before its exact test passes.
        with np.errstate(over="ignore", invalid="ignore"):
            return _sklearn_validate_data(
                self, X, y, reset=reset, dtype=dtype, multi_output=self._multi_output_y,
                y_numeric=not isinstance(self, ClassifierMixin),
            )

    def _validate_X(self, X):
        check_is_fitted(self, "_network")
        return _sklearn_validate_data(self, X, reset=False, dtype=self._network.dtype)

    def _outputs(self, X):
        """Output activations a^(l), shape (n_samples, n_outputs), float64."""
        X = self._validate_X(X)
        return self._network.feedforward(X).astype(np.float64, copy=False)

    # -- persistence: coefs_ / intercepts_ are views into the network's
    # parameters; pickled separately they would come back as detached copies.
    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("coefs_", None)
        state.pop("intercepts_", None)
        return state

    # What an estimator pickled before the loss/alpha parameters (and the
    # regressor's identity output) did, so that it unpickles doing the same.
    _BEFORE_OBJECTIVES = {"alpha": 0.0}

    def __setstate__(self, state):
        state = dict(state)
        if "alpha" not in state:  # pickled by a fastnn without the objectives
            for name, value in self._BEFORE_OBJECTIVES.items():
                state.setdefault(name, value)
            self._migrate_old_state(state)
        super().__setstate__(state)
        if "_network" in state:
            self.coefs_, self.intercepts_ = _sklearn_layout(self._network)

    def _migrate_old_state(self, state):
        """Subclass hook for a state pickled before the objectives."""

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": self._multi_output_y}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = self._multi_output_y
        return tags


def _sklearn_layout(network):
    """coefs_[i] of shape (n_in, n_out) and intercepts_[i] of shape (n_out,).

    scikit-learn stores weights input-major; fastnn stores ``weights[i]`` as
    (sizes[i+1], sizes[i]). The coefs are transposed *views*, so writing into
    them changes the network, as writing into sklearn's coefs_ does.
    """
    return [w.T for w in network.weights], list(network.biases)


def _checked_sample_weight(sample_weight, X):
    """sample_weight as float64 of shape (n,), or None for no weights.

    scikit-learn's rules (``_check_sample_weight``): a scalar or an array of
    shape (n,), finite; all zero is refused. Unlike scikit-learn's MLP,
    negative weights are refused too (a negative weight would climb the
    cost).
    """
    if sample_weight is None:
        return None
    weights = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                   ensure_non_negative=True)
    if not np.any(weights):  # scikit-learn < 1.6 lets all-zero weights through
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weights


def _validation_split(X, targets, y, sample_weight, fraction, *, stratify, rng):
    """early_stopping's split: (X, X_val, targets, y, y_val, weight, weight_val),
    or None where it cannot score: fewer than 2 held-out samples (R^2 needs
    two; scikit-learn's MLP raises there) or none left to train on, or a
    side whose sample weights are all 0. The split's seed is drawn from rng
    in every case, so the later seeds do not depend on the outcome."""
    seed = int(rng.randint(_SEED_BOUND))
    n_samples = X.shape[0]
    n_validation = math.ceil(fraction * n_samples)  # as train_test_split counts
    if n_validation < 2 or n_samples - n_validation < 1:
        return None
    arrays = [X, targets, y] + ([] if sample_weight is None else [sample_weight])
    parts = train_test_split(*arrays, test_size=fraction, random_state=seed,
                             stratify=y if stratify else None)
    X_train, X_val, targets_train, _, y_train, y_val = parts[:6]
    weight, weight_val = parts[6:] if sample_weight is not None else (None, None)
    if weight is not None and not (np.any(weight) and np.any(weight_val)):
        return None
    return (np.ascontiguousarray(X_train), X_val, np.ascontiguousarray(targets_train),
            y_train, y_val, weight, weight_val)


def _book_l2_and_weights(alpha, batch_size, n_samples, sample_weight):
    """Network.train's ``lmbda`` for scikit-learn's ``alpha``, and its weights.

    scikit-learn's SGD step on a batch B is
    W <- W - eta (sum_B s_n dC_n/dW + alpha W) / (weight of B): the decay is
    eta * alpha / b per step, b the batch's weight (its size without
    weights). The book's step decays by eta * lmbda / n per step, n the
    training-set size, so lmbda = alpha * n / b, with b = min(batch_size, S)
    and S = sum of the weights (n without weights): the weight a batch
    holds when the weights are counts of repeated samples. Unweighted, this
    is scikit-learn's update exactly (for every full batch); weighted, a
    weight of 2 acts as the sample given twice, penalty included.

    Equal weights are passed as None: rescaled to mean 1 (as Network.train
    does) they are all 1, but S still sets the penalty.
    """
    if sample_weight is None:
        total = float(n_samples)
    else:
        with np.errstate(over="ignore"):  # a sum of inf clips to batch_size below
            total = float(sample_weight.sum())
    lmbda = alpha * n_samples / min(float(batch_size), total)
    if sample_weight is not None and np.all(sample_weight == sample_weight[0]):
        sample_weight = None
    return lmbda, sample_weight


def _parameters_doc(batch_size, learning_rate_init, eta_note, loss_doc, out_activation,
                    early_stopping):
    return f"""
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Neurons of each hidden layer (sigmoid). ``()`` means no hidden layer.
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


_SAMPLE_WEIGHT_DOC = """
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


class MLPClassifier(ClassifierMixin, _BaseFastMLP):
    __doc__ = (
        """A multilayer perceptron classifier of sigmoid neurons trained by fastnn.

    Sigmoid hidden and output layers, the cross-entropy or the quadratic cost
    (``loss``), constant-step mini-batch gradient descent, L2 weight decay.
    With two classes the network has one output neuron whose activation a is
    read as P(classes_[1]); with K > 2 classes it has K outputs trained on
    one-hot targets, and ``predict_proba`` divides each row of activations by
    its sum (they are independent sigmoids, not a softmax). Labels may be of
    any type numpy can sort (ints, strings, ...).
    """
        + _SAMPLE_WEIGHT_DOC
        + _parameters_doc(
            batch_size=10, learning_rate_init=3.0,
            eta_note="3.0 is the value Nielsen's book uses\n"
                     "        for sigmoid outputs with the quadratic cost, whose gradients are\n"
                     "        small; measured on the digits it suits the cross-entropy as well.\n"
                     "        It is far larger than a step for Adam.",
            loss_doc="""    loss : {"log_loss", "squared_error"}, default="log_loss"
        The cost of each sample: "log_loss" is the cross-entropy
        C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] of the sigmoid outputs
        (delta^L = a - y: no f'(z) factor slows saturated outputs),
        "squared_error" the quadratic cost C = 1/2 sum_j (y_j - a_j)^2. On
        the digits log_loss is about half a point more accurate and needs
        fewer epochs at the same step (docs/estimators.md).
""",
            out_activation="logistic", early_stopping=False)
        + """    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    """
    )

    _multi_output_y = False
    _network_output = "sigmoid"
    _BEFORE_OBJECTIVES = {"alpha": 0.0, "loss": "squared_error"}

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        loss="log_loss",
        alpha=0.0001,
        batch_size=10,
        learning_rate_init=3.0,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        warm_start=False,
        dtype=np.float64,
        n_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.loss = loss
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.dtype = dtype
        self.n_threads = n_threads

    def _network_cost(self, params):
        loss = self.loss
        if not isinstance(loss, str) or loss not in _CLASSIFIER_LOSSES:
            choices = ", ".join(map(repr, _CLASSIFIER_LOSSES))
            raise ValueError(f"loss must be one of {choices}, got {loss!r}")
        return _CLASSIFIER_LOSSES[loss]

    def fit(self, X, y, sample_weight=None):
        """Train on X of shape (n_samples, n_features) and labels y of shape
        (n_samples,), weighted by ``sample_weight`` (see the class docstring).
        Returns self."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X, y, continuing from the current parameters.

        sample_weight : as for ``fit`` (scikit-learn's argument order).
        classes : array-like of shape (n_classes,)
            Every label the model will ever see; required on the first call
            (the output layer is sized from it), accepted on later calls, where
            it must equal ``classes_``.
        Returns self.
        """
        return self._fit(X, y, incremental=True, classes=classes,
                         sample_weight=sample_weight)

    def _check_y(self, y, first_call, classes, incremental, sample_weight):
        check_classification_targets(y)
        if classes is not None:
            classes = np.asarray(classes)
            if classes.ndim != 1:
                raise ValueError(f"classes must be 1-D, got shape {classes.shape}")
            check_classification_targets(classes)
            classes = np.unique(classes)
        if first_call:
            if incremental and classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit "
                    "(every label the model will see, to size the output layer)"
                )
            known = np.unique(y) if classes is None else classes
            if known.shape[0] < 2:
                raise ValueError(
                    f"y has 1 class ({known[0]!r}); a classifier needs samples of at "
                    "least 2 classes"
                )
            if classes is None and sample_weight is not None:
                weighted = np.unique(y[sample_weight > 0])
                if weighted.shape[0] < 2:
                    raise ValueError(
                        f"only 1 class ({weighted[0]!r}) has samples of non-zero "
                        "sample_weight; a classifier needs samples of at least 2 classes"
                    )
        else:
            known = self.classes_
            if classes is not None and not (
                classes.shape == known.shape and np.all(classes == known)
            ):
                raise ValueError(
                    f"classes={classes.tolist()!r} differs from the classes the model "
                    f"was fitted with, {known.tolist()!r}"
                )
        unknown = ~np.isin(y, known)
        if unknown.any():
            raise ValueError(
                f"y contains labels the model was not set up for: "
                f"{np.unique(y[unknown]).tolist()!r}; expected labels among "
                f"{known.tolist()!r}"
            )
        self._pending_classes = known

    def _encode_targets(self, y, dtype):
        classes = self._pending_classes
        index = np.searchsorted(classes, y)
        if classes.shape[0] == 2:
            return (index == 1).astype(dtype).reshape(-1, 1)
        targets = np.zeros((y.shape[0], classes.shape[0]), dtype=dtype)
        targets[np.arange(y.shape[0]), index] = 1
        return targets

    def _commit_targets(self):
        self.classes_ = self.__dict__.pop("_pending_classes")

    def _validation_score(self, network, X, y, sample_weight):
        outputs = network.feedforward(X)
        predicted = self.__dict__["_pending_classes"][_winners(outputs)]
        return accuracy_score(y, predicted, sample_weight=sample_weight)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), rows summing to 1.

        Binary: [1 - a, a] of the single sigmoid output a. More classes: the
        output activations divided by their row sum (a row whose activations
        all underflow to 0 becomes uniform).
        """
        outputs = self._outputs(X)
        if outputs.shape[1] == 1:
            return np.hstack([1.0 - outputs, outputs])
        totals = outputs.sum(axis=1, keepdims=True)
        uniform = np.full_like(outputs, 1.0 / outputs.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, outputs / totals, uniform)

    def predict_log_proba(self, X):
        """log of :meth:`predict_proba`, shape (n_samples, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Label of the most active output, shape (n_samples,).

        Binary: ``classes_[1]`` where the output exceeds 0.5.
        """
        winners = _winners(self._outputs(X))
        return self.classes_[winners]


def _winners(outputs):
    """Index of the predicted class from output activations (n, 1) or (n, K)."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.intp)
    return np.argmax(outputs, axis=1)


class MLPRegressor(RegressorMixin, _BaseFastMLP):
    __doc__ = (
        """A multilayer perceptron regressor trained by fastnn.

    Sigmoid hidden layers, an identity output layer (a^L = z^L), the
    quadratic cost C = 1/2 sum_j (t_j - a_j)^2, constant-step mini-batch
    gradient descent, L2 weight decay. The network trains on standardized
    targets t = (y - target_mean_) / target_scale_ (per output column, the
    mean and standard deviation of the training targets, weighted by
    ``sample_weight``; a constant column is only centred), and ``predict``
    returns target_mean_ + a * target_scale_. The scaling is fitted when the
    model is initialised (by ``fit``, or the first ``partial_fit``) and kept
    by ``warm_start`` and later ``partial_fit`` calls. Targets so large that
    100 standard deviations from their mean overflow float64 (y = +-1e308)
    raise ValueError. The inputs are not scaled; put a ``StandardScaler`` in
    front, as for scikit-learn's MLP.
    """
        + _SAMPLE_WEIGHT_DOC
        + _parameters_doc(
            batch_size=10, learning_rate_init=0.03,
            eta_note="Chosen by measurement (docs/estimators.md).\n"
                     "        The output error a - t of standardized targets is of order 1, and\n"
                     "        the output layer's curvature grows with the width of the last\n"
                     "        hidden layer (about width/4 for sigmoid activations near 1/2):\n"
                     "        steps above about 8/width diverge, so lower the step for wider\n"
                     "        layers.",
            loss_doc="",
            out_activation="identity", early_stopping=True)
        + """    target_mean_ : ndarray of shape (n_outputs,)
        Mean of the training targets per output (weighted by sample_weight).
    target_scale_ : ndarray of shape (n_outputs,)
        Their standard deviation per output (1.0 for a constant column).
    """
    )

    _multi_output_y = True
    _network_output = "identity"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        alpha=0.0001,
        batch_size=10,
        learning_rate_init=0.03,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=True,
        validation_fraction=0.1,
        warm_start=False,
        dtype=np.float64,
        n_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.dtype = dtype
        self.n_threads = n_threads

    def _network_cost(self, params):
        return "quadratic"

    def _migrate_old_state(self, state):
        # Before the identity output, targets were mapped from [min, min +
        # span] onto [0.1, 0.9] of a sigmoid output: y = min + (a - 0.1) /
        # 0.8 * span, which is target_mean_ + a * target_scale_ with the two
        # below. The pickled network keeps its sigmoid output, so predict,
        # and partial_fit (encoding y the inverse way), go on as they did.
        if "target_min_" in state:
            low = np.asarray(state.pop("target_min_"), dtype=np.float64)
            span = np.asarray(state.pop("target_span_"), dtype=np.float64)
            state["target_scale_"] = span / 0.8
            state["target_mean_"] = low - 0.125 * span

    def fit(self, X, y, sample_weight=None):
        """Train on X of shape (n_samples, n_features), y of shape (n_samples,) or
        (n_samples, n_outputs), weighted by ``sample_weight`` (see the class
        docstring). Returns self."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y, continuing from the current parameters
        (``sample_weight`` as for ``fit``). Returns self."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _check_y(self, y, first_call, classes, incremental, sample_weight):
        columns = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if first_call:
            mean, scale = _target_scaling(columns, sample_weight)
            self._pending_scaling = (mean, scale, np.ndim(y) == 1)
        else:
            if columns.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"y has {columns.shape[1]} output(s) per sample but the model was "
                    f"fitted with {self.n_outputs_}"
                )
            self._pending_scaling = (self.target_mean_, self.target_scale_, self._y_was_1d)

    def _encode_targets(self, y, dtype):
        mean, scale, _ = self._pending_scaling
        columns = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        # y/scale - mean/scale rather than (y - mean)/scale: y - mean can
        # overflow for targets near the float64 limit
        with np.errstate(over="ignore"):
            standardized = columns / scale - mean / scale
        if not np.isfinite(standardized).all():
            raise ValueError(
                "y values too large to scale: standardized with the targets' mean and "
                "standard deviation of the first fit, some target overflows float64; "
                "divide y by a constant first"
            )
        return np.ascontiguousarray(standardized, dtype=dtype)

    def _commit_targets(self):
        self.target_mean_, self.target_scale_, self._y_was_1d = self.__dict__.pop(
            "_pending_scaling"
        )

    @staticmethod
    def _decode(outputs, mean, scale, one_d):
        values = mean + outputs * scale
        return values[:, 0] if one_d and values.shape[1] == 1 else values

    def _validation_score(self, network, X, y, sample_weight):
        mean, scale, one_d = self._pending_scaling
        outputs = network.feedforward(X).astype(np.float64)
        return r2_score(y, self._decode(outputs, mean, scale, one_d),
                        sample_weight=sample_weight)

    def predict(self, X):
        """Predicted targets, shape (n_samples,) if fitted on 1-D y, else
        (n_samples, n_outputs); float64."""
        outputs = self._outputs(X)
        return self._decode(outputs, self.target_mean_, self.target_scale_, self._y_was_1d)


def _target_scaling(columns, sample_weight):
    """Per column: the (weighted) mean and standard deviation of the targets.

    Computed on y / max|y| so that no square overflows; a column whose
    deviation is rounding noise (constant) gets scale 1. Raises ValueError if
    a prediction 100 standard deviations from the mean would overflow.
    """
    peak = np.abs(columns).max(axis=0)
    peak[peak == 0] = 1.0
    unit = columns / peak
    weights = sample_weight
    if weights is not None and np.all(weights == weights[0]):
        weights = None  # equal weights scale exactly as no weights
    unit_mean = np.average(unit, axis=0, weights=weights)
    unit_std = np.sqrt(np.average((unit - unit_mean) ** 2, axis=0, weights=weights))
    mean = unit_mean * peak
    scale = np.where(unit_std > _CONSTANT_COLUMN, unit_std * peak, 1.0)
    with np.errstate(over="ignore"):
        reach = np.abs(mean) + _TARGET_MARGIN * scale
    if not np.isfinite(reach).all():
        column = int(np.argmax(~np.isfinite(reach)))
        raise ValueError(
            f"y values too large to scale: target column {column} has mean "
            f"{mean[column]:g} and standard deviation {scale[column]:g} (max |y| = "
            f"{np.abs(columns[:, column]).max():g}); predictions {_TARGET_MARGIN:g} "
            "standard deviations away would overflow float64; divide y by a constant first"
        )
    return mean, scale
