"""scikit-learn estimators trained by fastnn's kernels.

:class:`MLPClassifier` and :class:`MLPRegressor` follow the interface of
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` (``fit``,
``partial_fit``, ``predict``, ``score``, ``coefs_``, ``loss_curve_``, ...),
but the model is the one fastnn trains: sigmoid neurons in every layer,
including the output layer, the quadratic cost C = 1/2 sum_j (y_j - a_j)^2,
and plain mini-batch gradient descent with a constant step ``eta``
(``learning_rate_init``). See ``docs/estimators.md`` for the defaults and the
differences from scikit-learn.

This module needs scikit-learn; ``import fastnn`` does not import it (the
package exposes the two classes lazily).
"""
from __future__ import annotations

from abc import ABCMeta, abstractmethod
import copy
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
from sklearn.utils.validation import check_is_fitted

try:
    from sklearn.utils.validation import validate_data as _sklearn_validate_data
except ImportError:  # scikit-learn < 1.6 has the method instead of the function

    def _sklearn_validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


from ._threads import check_thread_count
from ._validation import check_bool, check_dtype, check_positive_float, check_positive_int
from .network import Network

__all__ = ["MLPClassifier", "MLPRegressor"]

# Seeds handed to Network (init, shuffling, validation split) are drawn from
# the estimator's RandomState in [0, _SEED_BOUND).
_SEED_BOUND = 2**31 - 1

# Regression targets are mapped linearly from [min, max] of the training
# targets onto [low, high]: inside the sigmoid's range (0, 1) with room on
# both sides, so values a little outside the training range stay reachable
# and the targets do not sit where f'(z) vanishes.
_TARGET_LOW = 0.1
_TARGET_HIGH = 0.9


class _BaseFastMLP(BaseEstimator, metaclass=ABCMeta):
    """Parameters, validation and the training loop shared by both estimators."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
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

    # -- subclass hooks ----------------------------------------------------------
    @abstractmethod
    def _check_y(self, y, first_call, classes, incremental):
        """Check y for this fit (first_call: not a continuation; classes: as
        given to partial_fit; incremental: partial_fit rather than fit) and
        note what ``_encode_targets`` needs; raises ValueError on bad y.
        Returns nothing."""

    @abstractmethod
    def _encode_targets(self, y, dtype):
        """Targets of shape (n, n_outputs) in the sigmoid's range for training."""

    @abstractmethod
    def _validation_score(self, network, X, y):
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

    def _fit(self, X, y, *, incremental, classes=None):
        """Validate everything, train a copy of the network, then commit.

        Every attribute is assigned only after training succeeded, so a call
        that raises (bad input, bad parameter, divergence) leaves a fitted
        model exactly as it was.
        """
        saved_state = self.__dict__.copy()
        try:
            self._fit_transaction(X, y, incremental=incremental, classes=classes)
        except BaseException:
            # validate_data(reset=True) writes n_features_in_ and
            # feature_names_in_ before y is checked; undo that too.
            self.__dict__.clear()
            self.__dict__.update(saved_state)
            raise
        return self

    def _fit_transaction(self, X, y, *, incremental, classes):
        params = self._checked_parameters()
        continuing = self._is_initialised() and (incremental or params["warm_start"])
        if continuing:
            self._check_same_architecture(params)
        dtype = self._network.dtype if continuing else params["dtype"]
        X, y = self._validate_data_xy(X, y, reset=not continuing, dtype=dtype)
        self._check_y(y, first_call=not continuing, classes=classes,
                      incremental=incremental)
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
            network = Network(sizes, seed=int(rng.randint(_SEED_BOUND)), dtype=dtype)
            loss_curve, n_iter, samples_seen = [], 0, 0
            best_loss = np.inf
            validation_scores, best_validation_score = None, None

        early_stopping = params["early_stopping"] and not incremental
        if early_stopping:
            stratify = y if isinstance(self, ClassifierMixin) else None
            X, X_val, targets, _, y, y_val = train_test_split(
                X, targets, y,
                test_size=params["validation_fraction"],
                random_state=int(rng.randint(_SEED_BOUND)),
                stratify=stratify,
            )
            X = np.ascontiguousarray(X)
            targets = np.ascontiguousarray(targets)
            validation_scores = [] if validation_scores is None else validation_scores
            best_validation_score = -np.inf
            # stays None if no epoch ever scores (a NaN score, e.g. R^2 of a
            # single held-out sample): the last epoch's parameters are kept
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
                score = self._validation_score(network, X_val, y_val)
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

        history = network.train(
            X, targets,
            epochs=1 if incremental else params["max_iter"],
            batch_size=params["batch_size"],
            eta=params["eta"],
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
        self.out_activation_ = "logistic"
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

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_network" in state:
            self.coefs_, self.intercepts_ = _sklearn_layout(self._network)

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


_PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Neurons of each hidden layer (sigmoid). ``()`` means no hidden layer.
    batch_size : int, default=10
        Samples per mini-batch (clipped to the number of samples). Small
        batches suit plain gradient descent with a constant step; scikit-learn's
        ``"auto"`` (min(200, n)) is not accepted.
    learning_rate_init : float, default=3.0
        The constant step eta of w <- w - (eta/m) sum_n dC_n/dw. 3.0 is the
        value Nielsen's book uses for sigmoid outputs with the quadratic cost,
        whose gradients are small; it is far larger than a step for Adam.
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
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, score it after
        each epoch, stop on the rule above and keep the parameters of the best
        epoch. Ignored by ``partial_fit``.
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
        Per epoch, the mean over the samples of C = 1/2 sum_j (y_j - a_j)^2
        (summed over the outputs, in the sigmoid's [0, 1] target space), each
        C measured in the forward pass of its mini-batch, before its step.
    n_iter_ : int
        Epochs trained since initialisation (``warm_start`` and
        ``partial_fit`` accumulate).
    t_ : int
        Training samples seen since initialisation.
    best_loss_ : float or None
        Lowest value of ``loss_curve_`` in the last ``fit`` (None with
        ``early_stopping``).
    validation_scores_ : list of float or None
        Score on the held-out data per epoch (``early_stopping`` only).
    best_validation_score_ : float or None
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X was a DataFrame with string column names.
    n_layers_ : int
        Layers including the input and output layers.
    n_outputs_ : int
        Output neurons.
    out_activation_ : str
        Always ``"logistic"``.
"""


class MLPClassifier(ClassifierMixin, _BaseFastMLP):
    __doc__ = (
        """A multilayer perceptron classifier of sigmoid neurons trained by fastnn.

    Sigmoid hidden and output layers, the quadratic cost, constant-step
    mini-batch gradient descent. With two classes the network has one output
    neuron whose activation a is read as P(classes_[1]); with K > 2 classes it
    has K outputs trained on one-hot targets, and ``predict_proba`` divides
    each row of activations by its sum (they are independent sigmoids, not a
    softmax). Labels may be of any type numpy can sort (ints, strings, ...).
    """
        + _PARAMETERS_DOC
        + """    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    """
    )

    _multi_output_y = False

    def fit(self, X, y):
        """Train on X of shape (n_samples, n_features) and labels y of shape (n_samples,).

        Returns self.
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over X, y, continuing from the current parameters.

        classes : array-like of shape (n_classes,)
            Every label the model will ever see; required on the first call
            (the output layer is sized from it), accepted on later calls, where
            it must equal ``classes_``.
        Returns self.
        """
        return self._fit(X, y, incremental=True, classes=classes)

    def _check_y(self, y, first_call, classes, incremental):
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

    def _validation_score(self, network, X, y):
        outputs = network.feedforward(X)
        return accuracy_score(y, self.__dict__["_pending_classes"][_winners(outputs)])

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
        """A multilayer perceptron regressor of sigmoid neurons trained by fastnn.

    Sigmoid hidden and output layers, the quadratic cost, constant-step
    mini-batch gradient descent. A sigmoid output lies in (0, 1), so each
    target column is scaled linearly for training: its minimum over the
    training targets maps to 0.1 and its maximum to 0.9 (a constant column
    maps to 0.5); ``predict`` applies the inverse map. Predictions therefore
    lie strictly inside [min - span/8, max + span/8] of the targets the
    scaling was fitted on (span = max - min). The scaling is fitted when the
    model is initialised (by ``fit``, or the first ``partial_fit``) and kept by
    ``warm_start`` and later ``partial_fit`` calls: feed the first
    ``partial_fit`` targets that cover the range; targets whose span or that
    range overflows float64 (y = +-1e308) raise ValueError. The inputs are not scaled;
    put a ``StandardScaler`` in front, as for scikit-learn's MLP.
    """
        + _PARAMETERS_DOC
        + """    target_min_ : ndarray of shape (n_outputs,)
        Training-target value mapped to 0.1 (per output).
    target_span_ : ndarray of shape (n_outputs,)
        max - min of the training targets per output (1.0 for a constant
        column).
    """
    )

    _multi_output_y = True

    def fit(self, X, y):
        """Train on X of shape (n_samples, n_features), y of shape (n_samples,) or
        (n_samples, n_outputs). Returns self."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One epoch over X, y, continuing from the current parameters. Returns self."""
        return self._fit(X, y, incremental=True)

    def _check_y(self, y, first_call, classes, incremental):
        y = np.asarray(y, dtype=np.float64)
        columns = y.reshape(y.shape[0], -1)
        if first_call:
            low = columns.min(axis=0)
            high = columns.max(axis=0)
            with np.errstate(over="ignore", invalid="ignore"):
                span = high - low
                constant = span == 0
                span[constant] = 1.0
                # a constant column c maps to 0.5: put c in the middle of [low, low+span]
                low[constant] -= 0.5
                # what predict returns for the sigmoid's extremes 0 and 1
                extremes = self._decode(np.array([[0.0], [1.0]]), low, span, False)
            if not (np.isfinite(span).all() and np.isfinite(extremes).all()):
                column = int(np.argmax(~np.isfinite(span) | ~np.isfinite(extremes).all(axis=0)))
                raise ValueError(
                    f"y values too large to scale: target column {column} spans "
                    f"[{low[column]:g}, {high[column]:g}] (max |y| = "
                    f"{np.abs(columns[:, column]).max():g}), and mapping it onto the sigmoid's "
                    "range would overflow float64; divide y by a constant first"
                )
            self._pending_scaling = (low, span, y.ndim == 1)
        else:
            if columns.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"y has {columns.shape[1]} output(s) per sample but the model was "
                    f"fitted with {self.n_outputs_}"
                )
            self._pending_scaling = (self.target_min_, self.target_span_, self._y_was_1d)

    def _encode_targets(self, y, dtype):
        low, span, _ = self._pending_scaling
        columns = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        scaled = _TARGET_LOW + (_TARGET_HIGH - _TARGET_LOW) * (columns - low) / span
        return np.ascontiguousarray(scaled, dtype=dtype)

    def _commit_targets(self):
        self.target_min_, self.target_span_, self._y_was_1d = self.__dict__.pop(
            "_pending_scaling"
        )

    def _decode(self, outputs, low, span, one_d):
        values = low + (outputs - _TARGET_LOW) / (_TARGET_HIGH - _TARGET_LOW) * span
        return values[:, 0] if one_d and values.shape[1] == 1 else values

    def _validation_score(self, network, X, y):
        low, span, one_d = self._pending_scaling
        outputs = network.feedforward(X).astype(np.float64)
        return r2_score(y, self._decode(outputs, low, span, one_d))

    def predict(self, X):
        """Predicted targets, shape (n_samples,) if fitted on 1-D y, else
        (n_samples, n_outputs); float64."""
        outputs = self._outputs(X)
        return self._decode(outputs, self.target_min_, self.target_span_, self._y_was_1d)
