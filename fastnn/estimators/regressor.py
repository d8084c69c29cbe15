"""``fastnn.MLPRegressor``: an identity output on standardized targets."""
from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score

from .base import BaseFastMLP
from .parameters import SAMPLE_WEIGHT_DOC, parameters_doc

__all__ = ["MLPRegressor", "target_scaling"]

# A target column whose standard deviation is below this fraction of its
# largest |y| is constant up to rounding: it is centred, not divided.
CONSTANT_COLUMN = 1e3 * np.finfo(np.float64).eps
# Regression targets are refused if a prediction this many standard
# deviations from their mean would overflow float64.
TARGET_MARGIN = 100.0


class MLPRegressor(RegressorMixin, BaseFastMLP):
    __doc__ = (
        """A multilayer perceptron regressor trained by fastnn.

    Hidden layers of the ``activation`` (logistic by default), an identity
    output layer (a^L = z^L), the
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
        + SAMPLE_WEIGHT_DOC
        + parameters_doc(
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
        activation="logistic",
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
        self.activation = activation
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
            mean, scale = target_scaling(columns, sample_weight)
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


def target_scaling(columns, sample_weight):
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
    scale = np.where(unit_std > CONSTANT_COLUMN, unit_std * peak, 1.0)
    with np.errstate(over="ignore"):
        reach = np.abs(mean) + TARGET_MARGIN * scale
    if not np.isfinite(reach).all():
        column = int(np.argmax(~np.isfinite(reach)))
        raise ValueError(
            f"y values too large to scale: target column {column} has mean "
            f"{mean[column]:g} and standard deviation {scale[column]:g} (max |y| = "
            f"{np.abs(columns[:, column]).max():g}); predictions {TARGET_MARGIN:g} "
            "standard deviations away would overflow float64; divide y by a constant first"
        )
    return mean, scale
