"""What the two estimators share: parameters, validation, and a fit in four parts.

``BaseFastMLP._fit`` is a transaction: it checks the hyperparameters
(``parameters.check_parameters``), then

1. ``_initialize``: validates X, y and the sample weights, and prepares a
   :class:`FitRun` (a copy of the fitted network to continue from, or a
   new one; the random generator; the curves so far; the early-stopping
   split);
2. ``_train``: ``Network.train`` on the run, its callback the
   :class:`StoppingPolicy` (scikit-learn's rule: stop after more than
   ``n_iter_no_change`` epochs without improving the training loss, or
   with ``early_stopping`` the validation score, by more than ``tol``);
3. the policy keeps the best epoch's parameters (``early_stopping``) and
   says whether training stopped or ran out of ``max_iter``;
4. ``_commit``: only now are the estimator's fitted attributes assigned,
   so a call that raises (bad input, a bad parameter, divergence) leaves a
   fitted model exactly as it was.
"""
from __future__ import annotations

import copy
import math
import warnings
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

try:
    from sklearn.utils.validation import validate_data as _sklearn_validate_data
except ImportError:  # scikit-learn < 1.6 has the method instead of the function

    def _sklearn_validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


from ..network import Network
from ..training import l2_decay_fails
from .parameters import CLASSIFIER_LOSSES, check_parameters

__all__ = ["BaseFastMLP", "FitRun", "StoppingPolicy", "sklearn_layout", "SEED_BOUND"]

# Seeds handed to Network (init, shuffling, validation split) are drawn from
# the estimator's RandomState in [0, SEED_BOUND).
SEED_BOUND = 2**31 - 1


@dataclass
class FitRun:
    """One fit call's data and starting point (``BaseFastMLP._initialize``)."""

    X: np.ndarray
    targets: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None
    network: Network
    rng: np.random.RandomState
    loss_curve: list
    n_iter: int
    samples_seen: int
    best_loss: float
    validation_scores: list | None
    best_validation_score: float | None
    validation: tuple | None = None  # (X_val, y_val, weight_val) with early stopping


class StoppingPolicy:
    """scikit-learn's ``_update_no_improvement_count``, as a ``Network.train``
    callback: after each epoch it appends the loss (and, with early
    stopping, the validation score) and returns True to stop.

    ``stopped``: the rule stopped training; ``best_params``: the parameters
    of the best-scoring epoch (early stopping; None if none scored)."""

    def __init__(self, run, params, *, incremental, score):
        self.run, self.incremental, self.score = run, incremental, score
        self.tol, self.patience = params["tol"], params["n_iter_no_change"]
        self.early_stopping = run.validation is not None
        self.no_improvement = 0
        self.stopped = False
        self.best_params = None
        if self.early_stopping:
            if run.validation_scores is None:
                run.validation_scores = []
            run.best_validation_score = -np.inf
        elif not incremental:
            run.best_loss = np.inf

    def __call__(self, epoch, history) -> bool:
        run = self.run
        loss = history.cost[-1]
        run.loss_curve.append(loss)
        if self.early_stopping:
            score = self.score(run.network, *run.validation)
            run.validation_scores.append(score)
            self.no_improvement = (self.no_improvement + 1
                                   if score < run.best_validation_score + self.tol else 0)
            if score > run.best_validation_score:
                run.best_validation_score = score
                self.best_params = run.network.params.copy()
        else:
            if self.incremental:
                run.best_loss = min(run.best_loss, loss)
                return False
            self.no_improvement = (self.no_improvement + 1
                                   if loss > run.best_loss - self.tol else 0)
            run.best_loss = min(run.best_loss, loss)
        if self.no_improvement > self.patience:
            self.stopped = True
            return True
        return False


class BaseFastMLP(BaseEstimator, metaclass=ABCMeta):
    """Parameters, validation and the fit shared by both estimators."""

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

    @abstractmethod
    def _commit_targets(self):
        """Assign what ``_check_y`` noted (classes_, the target scaling)."""

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
            params = check_parameters(self, self._network_cost)
            run = self._initialize(X, y, params, incremental=incremental, classes=classes,
                                   sample_weight=sample_weight)
            policy = StoppingPolicy(run, params, incremental=incremental,
                                    score=self._validation_score)
            history = self._train(run, params, policy, incremental=incremental)
            self._commit(run, history)
        except BaseException:
            # validate_data(reset=True) writes n_features_in_ and
            # feature_names_in_ before y is checked; undo that too.
            self.__dict__.clear()
            self.__dict__.update(saved_state)
            raise
        return self

    def _initialize(self, X, y, params, *, incremental, classes, sample_weight) -> FitRun:
        """The data checked and the run's start: the fitted network's copy
        (warm_start, partial_fit) or a new one, and the early-stopping split."""
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
            run = FitRun(
                X, targets, y, sample_weight, network=self._network.copy(),
                rng=copy.deepcopy(self._random_state), loss_curve=list(self.loss_curve_),
                n_iter=self.n_iter_, samples_seen=self.t_,
                # None after an early-stopping fit, which tracks scores instead
                best_loss=np.inf if self.best_loss_ is None else self.best_loss_,
                validation_scores=(None if self.validation_scores_ is None
                                   else list(self.validation_scores_)),
                best_validation_score=self.best_validation_score_)
        else:
            rng = check_random_state(self.random_state)
            sizes = [X.shape[1], *params["hidden"], targets.shape[1]]
            # scikit-learn's initial weights for the activations scikit-learn
            # users choose; the logistic default keeps the design document's,
            # which the defaults' learning rates were tuned with (issue 24
            # moves the defaults, and the weights with them, to scikit-learn's)
            init = "document" if params["activation"] == "logistic" else "sklearn"
            network = Network(sizes, cost=params["cost"], output=self._network_output,
                              seed=int(rng.randint(SEED_BOUND)), dtype=dtype,
                              activation=params["activation"], init=init)
            run = FitRun(X, targets, y, sample_weight, network, rng, loss_curve=[], n_iter=0,
                         samples_seen=0, best_loss=np.inf, validation_scores=None,
                         best_validation_score=None)
        if params["early_stopping"] and not incremental:
            split = _validation_split(
                X, targets, y, sample_weight, params["validation_fraction"],
                stratify=isinstance(self, ClassifierMixin), rng=run.rng)
            # None: too few samples, or only zero weights on one side; then
            # fit stops on the training cost, as without early_stopping
            if split is not None:
                run.X, X_val, run.targets, run.y, y_val, run.sample_weight, weight_val = split
                run.validation = (X_val, y_val, weight_val)
        return run

    def _train(self, run, params, policy, *, incremental):
        """``Network.train`` on the run, stopped by ``policy``; the warnings
        scikit-learn gives (divergence, saturation, max_iter reached)."""
        lmbda, train_weight = _book_l2_and_weights(
            params["alpha"], params["batch_size"], run.X.shape[0], run.sample_weight)
        if l2_decay_fails(params["eta"], lmbda, run.X.shape[0]):
            raise ValueError(
                f"learning_rate_init * alpha / b = {params['eta']:g} * {params['alpha']:g} / "
                f"{run.X.shape[0] / lmbda * params['alpha']:g} is at least 1 (b = "
                "min(batch_size, total sample weight)): every step would flip or zero the "
                "weights; lower alpha or learning_rate_init")
        history = run.network.train(
            run.X, run.targets, epochs=1 if incremental else params["max_iter"],
            batch_size=params["batch_size"], eta=params["eta"], lmbda=lmbda,
            sample_weight=train_weight, shuffle=params["shuffle"],
            seed=int(run.rng.randint(SEED_BOUND)), callback=policy,
            n_threads=params["n_threads"], on_divergence="stop")
        name = type(self).__name__
        if history.diverged_at is not None:
            # Network.train restored the last finite epoch's parameters.
            warnings.warn(
                f"{name}: training diverged in epoch {history.diverged_at} (the cost or the "
                f"weights became NaN or inf) and stopped; the weights of the epoch before "
                f"are kept. Lower learning_rate_init (now {params['eta']:g}) or scale the "
                "inputs", ConvergenceWarning)
            policy.stopped = True
        elif history.saturated_at is not None:
            warnings.warn(
                f"{name}: the output neurons are pinned at 0 or 1 and the training cost "
                f"stopped moving after epoch {history.saturated_at}: "
                f"learning_rate_init={params['eta']:g} is probably too large",
                ConvergenceWarning)
        if policy.best_params is not None:
            run.network.params[...] = policy.best_params
        if not incremental and not policy.stopped:
            warnings.warn(
                f"{name}: the maximum number of iterations (max_iter={params['max_iter']}) "
                "was reached and the training cost has not converged yet",
                ConvergenceWarning)
        return history

    def _commit(self, run, history):
        """Assign the fitted attributes. Before this, self was only touched
        by validate_data's bookkeeping and the _pending_* values of
        _check_y, which _fit undoes on failure."""
        network = run.network
        self._network = network
        self._random_state = run.rng
        self.coefs_, self.intercepts_ = sklearn_layout(network)
        self.loss_curve_ = run.loss_curve
        self.n_iter_ = run.n_iter + history.epochs
        self.t_ = run.samples_seen + run.X.shape[0] * history.epochs
        self.best_loss_ = None if run.validation is not None else run.best_loss
        self.validation_scores_ = run.validation_scores
        self.best_validation_score_ = run.best_validation_score
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
        if (params["activation"],) * len(fitted_hidden) != self._network.neurons.activation:
            raise ValueError(
                f"activation is now {params['activation']!r} but the model was fitted with "
                f"{self._network.activation!r}; set warm_start=False (or refit) to change it")
        if params["dtype"] != self._network.dtype:
            raise ValueError(
                f"dtype is now {params['dtype']} but the model was fitted with "
                f"{self._network.dtype}; set warm_start=False (or refit) to change it"
            )
        if params["cost"] != self._network.cost_name:
            names = {cost: loss for loss, cost in CLASSIFIER_LOSSES.items()}
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
        # pickled before the activations (issue 23): logistic hidden layers
        state.setdefault("activation", "logistic")
        if "alpha" not in state:  # pickled by a fastnn without the objectives
            for name, value in self._BEFORE_OBJECTIVES.items():
                state.setdefault(name, value)
            self._migrate_old_state(state)
        super().__setstate__(state)
        if "_network" in state:
            self.coefs_, self.intercepts_ = sklearn_layout(self._network)

    def _migrate_old_state(self, state):
        """Subclass hook for a state pickled before the objectives."""

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": self._multi_output_y}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = self._multi_output_y
        return tags


def sklearn_layout(network):
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
    seed = int(rng.randint(SEED_BOUND))
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
