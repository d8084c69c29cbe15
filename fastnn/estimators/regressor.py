"""fastnn.MLPRegressor: scikit-learn's MLPRegressor, trained by fastnn."""
from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .base import BaseMLP
from .parameters import REGRESSOR_LOSSES, STOCHASTIC_SOLVERS

__all__ = ["MLPRegressor"]


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``,
    its parameters, defaults and fitted attributes, trained by fastnn's
    kernels.

    The parameters are scikit-learn 1.9's, in its order, with its defaults
    (``loss="squared_error"``, ReLU, Adam, ``batch_size="auto"``, ...); see
    docs/estimators.md for what fastnn does differently. The output layer
    is the identity for the squared error, and exp for ``loss="poisson"``
    (the half Poisson deviance, docs/theory.md §15). y is not scaled (as in
    scikit-learn): put a ``TransformedTargetRegressor`` or a scaler in
    front for targets far from unit scale.

    fastnn's extras: ``dtype`` and ``n_threads``, as for MLPClassifier.
    """

    _parameter_constraints = {**BaseMLP._parameter_constraints,
                              "loss": [StrOptions(set(REGRESSOR_LOSSES))]}

    def __init__(
        self,
        loss="squared_error",
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
        dtype=None,
        n_threads=None,
    ):
        self.loss = loss
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
        self.dtype = dtype
        self.n_threads = n_threads

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and y (n_samples,) or
        (n_samples, n_outputs). Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "%s is not stochastic." % self.solver)
        return True

    @available_if(lambda estimator: estimator._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y, from the current model. Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True,
                             dtype=(np.float64, np.float32) if dtype is None else dtype,
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        if hasattr(self, "target_scale_"):  # pickled with fastnn's target scaling
            columns = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
            y = columns / self.target_scale_ - self.target_mean_ / self.target_scale_
        return X, y

    def _output_layer(self, y):
        if self.loss == "poisson":
            return "exp", "poisson", "exp"
        return "identity", "quadratic", "identity"

    def _decode_targets(self, targets):
        return targets[:, 0] if targets.shape[1] == 1 else targets

    def _loss_scale(self):
        # scikit-learn's squared loss is a mean over the outputs too
        return 1.0 / self.n_outputs_ if self.loss == "squared_error" else 1.0

    def _predictions(self, outputs):
        if hasattr(self, "target_scale_"):
            outputs = self.target_mean_ + outputs.astype(np.float64) * self.target_scale_
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs

    def _score(self, X, y, sample_weight=None):
        outputs = self._network.feedforward(np.asarray(X, dtype=self._network.dtype))
        if not np.isfinite(outputs).all():
            return np.nan
        return r2_score(y, self._predictions(outputs), sample_weight=sample_weight)

    def predict(self, X):
        """Predicted targets, (n_samples,) for one output, else (n_samples,
        n_outputs), in the dtype the model computes in."""
        check_is_fitted(self)
        return self._predictions(self._forward(X))

    def _migrate_old_state(self, state):
        super()._migrate_old_state(state)
        state.setdefault("loss", "squared_error")
        # Before the identity output, targets were mapped from [min, min +
        # span] onto [0.1, 0.9] of a sigmoid output: target_mean_ + a *
        # target_scale_ with the two below. The pickled network keeps its
        # output; predict and partial_fit go on as they did.
        if "target_min_" in state:
            low = np.asarray(state.pop("target_min_"), dtype=np.float64)
            span = np.asarray(state.pop("target_span_"), dtype=np.float64)
            state["target_scale_"] = span / 0.8
            state["target_mean_"] = low - 0.125 * span

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = True
        return tags
