"""``fastnn.MLPClassifier``: sigmoid outputs, the cross-entropy or the quadratic cost."""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets

from .base import BaseFastMLP
from .parameters import CLASSIFIER_LOSSES, SAMPLE_WEIGHT_DOC, parameters_doc

__all__ = ["MLPClassifier"]


class MLPClassifier(ClassifierMixin, BaseFastMLP):
    __doc__ = (
        """A multilayer perceptron classifier of sigmoid neurons trained by fastnn.

    Hidden layers of the ``activation`` (logistic by default), sigmoid
    output layers, the cross-entropy or the quadratic cost
    (``loss``), constant-step mini-batch gradient descent, L2 weight decay.
    With two classes the network has one output neuron whose activation a is
    read as P(classes_[1]); with K > 2 classes it has K outputs trained on
    one-hot targets, and ``predict_proba`` divides each row of activations by
    its sum (they are independent sigmoids, not a softmax). Labels may be of
    any type numpy can sort (ints, strings, ...).
    """
        + SAMPLE_WEIGHT_DOC
        + parameters_doc(
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
        activation="logistic",
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
        self.activation = activation
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
        if not isinstance(loss, str) or loss not in CLASSIFIER_LOSSES:
            choices = ", ".join(map(repr, CLASSIFIER_LOSSES))
            raise ValueError(f"loss must be one of {choices}, got {loss!r}")
        return CLASSIFIER_LOSSES[loss]

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


