"""fastnn.MLPClassifier: scikit-learn's MLPClassifier, trained by fastnn."""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .base import BaseMLP
from .parameters import CLASSIFIER_LOSSES, STOCHASTIC_SOLVERS
from sklearn.utils._param_validation import StrOptions

__all__ = ["MLPClassifier"]


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``,
    its parameters, defaults and fitted attributes, trained by fastnn's
    kernels.

    The parameters are scikit-learn 1.9's, in its order, with its defaults
    (ReLU hidden layers, Adam, ``batch_size="auto"`` = min(200, n), ...):
    see scikit-learn's documentation, and docs/estimators.md for what
    fastnn does differently. Outputs as scikit-learn's: softmax for more
    than two classes, one logistic unit for two, one per label for
    multilabel y; the cost is the log-loss.

    fastnn's extras (keyword only, after scikit-learn's):

    loss : {"log_loss", "squared_error"}, default="log_loss"
        "squared_error" trains logistic outputs on the quadratic cost (the
        design document's network; not scikit-learn's).
    dtype : None, numpy.float32 or numpy.float64, default=None
        The dtype of the parameters and of every computation. None: that of
        X (float32 X trains in float32, as in scikit-learn; anything else in
        float64).
    n_threads : int >= 1 or None, default=None
        The most threads a fit may use (None: numba's, capped by the cores
        this process may run on and by OMP_NUM_THREADS). The fitted
        parameters are bitwise the same for every value.
    """

    _parameter_constraints = {**BaseMLP._parameter_constraints,
                              "loss": [StrOptions(set(CLASSIFIER_LOSSES))]}

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        loss="log_loss",
        dtype=None,
        n_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.loss = loss
        self.dtype = dtype
        self.n_threads = n_threads

    # -- fit ---------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and labels y: class
        labels (n_samples,) or a label-indicator matrix (multilabel).
        Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "%s is not stochastic." % self.solver)
        return True

    @available_if(lambda estimator: estimator._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X, y, from the current model. ``classes`` (every
        label the model will see) is required on the first call."""
        saved = self.__dict__.copy()
        try:
            if _check_partial_fit_first_call(self, classes):
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        try:
            return self._fit(X, y, sample_weight=sample_weight, incremental=True)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32) if dtype is None else dtype,
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError("`y` has classes not in `self.classes_`. "
                                 f"`self.classes_` has {self.classes_}. 'y' has {classes}.")
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def _output_layer(self, y):
        """softmax for multiclass, logistic for binary and multilabel; the
        log-loss (fastnn's cross_entropy), or the quadratic cost of logistic
        outputs for loss="squared_error"."""
        if self.loss == "squared_error":
            return "logistic", "quadratic", "sigmoid"
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", "cross_entropy", "softmax"
        return "logistic", "cross_entropy", "sigmoid"

    def _decode_targets(self, targets):
        return self._label_binarizer.inverse_transform(targets)

    def _loss_scale(self):
        return 1.0

    def _score(self, X, y, sample_weight=None):
        outputs = self._network.feedforward(np.asarray(X, dtype=self._network.dtype))
        if not np.isfinite(outputs).all():
            return np.nan
        return accuracy_score(y, self._labels(outputs), sample_weight=sample_weight)

    # -- predict -----------------------------------------------------------------------
    def _labels(self, outputs):
        if getattr(self, "_fastnn_legacy", False):
            return self.classes_[_legacy_winners(outputs)]
        if self.n_outputs_ == 1:
            outputs = outputs.ravel()
        return self._label_binarizer.inverse_transform(outputs)

    def predict(self, X):
        """Predicted labels, shape (n_samples,) (or (n_samples, n_classes)
        for multilabel y)."""
        check_is_fitted(self)
        return self._labels(self._forward(X))

    def predict_proba(self, X):
        """Probabilities, shape (n_samples, n_classes): the softmax outputs,
        [1 - p, p] of the one logistic output for two classes, or each
        label's logistic output for multilabel y."""
        check_is_fitted(self)
        outputs = self._forward(X)
        if getattr(self, "_fastnn_legacy", False):
            return _legacy_proba(outputs.astype(np.float64))
        if self.n_outputs_ == 1:
            outputs = outputs.ravel()
        if outputs.ndim == 1:
            return np.vstack([1 - outputs, outputs]).T
        return outputs

    def predict_log_proba(self, X):
        """log of ``predict_proba``."""
        probabilities = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(probabilities, out=probabilities)

    def _migrate_old_state(self, state):
        super()._migrate_old_state(state)
        # fastnn's classifiers were sigmoid networks of the quadratic cost
        # until they had a loss parameter
        state.setdefault("loss", "squared_error")
        if "classes_" in state:
            binarizer = LabelBinarizer().fit(state["classes_"])
            state.setdefault("_label_binarizer", binarizer)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _legacy_winners(outputs):
    """The label index of a classifier pickled by fastnn's sigmoid-network
    versions: the output above 0.5, or the most active output."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.intp)
    return np.argmax(outputs, axis=1)


def _legacy_proba(outputs):
    """predict_proba of those versions: [1 - a, a], or each row divided by
    its sum (a row that is all 0 becomes uniform)."""
    if outputs.shape[1] == 1:
        return np.hstack([1.0 - outputs, outputs])
    totals = outputs.sum(axis=1, keepdims=True)
    uniform = np.full_like(outputs, 1.0 / outputs.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, outputs / totals, uniform)
