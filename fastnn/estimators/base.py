"""What both estimators share: scikit-learn's fit, step by step, on fastnn's
network and kernels.

``BaseMLP._fit`` follows scikit-learn 1.9's ``BaseMultilayerPerceptron._fit``
in its order and its draws from ``random_state``, so that the same
parameters give the same kind of model, and, for an int random_state, the
same initial weights and validation split as scikit-learn's:

* initialize (``_initialize``): the layer sizes, the output layer and
  cost, Glorot-uniform weights drawn as scikit-learn draws them;
* train: ``_fit_stochastic`` (sgd, adam: one ``Network.train`` epoch at a
  time, the optimizer's state carried from epoch to epoch and, for
  ``partial_fit``, from call to call) or ``_fit_lbfgs`` (``fastnn.lbfgs``);
* early-stopping policy (``_update_no_improvement_count``), scikit-learn's;
* commit: a fit that raises leaves the estimator as it was (``_fit``).

The model is ``_network``; ``coefs_`` and ``intercepts_`` are views of its
parameters in scikit-learn's orientation. Arrays assigned to them by hand
(as scikit-learn's tests do) are copied into the network before it is used.
"""
from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import lbfgs
from .._validation import check_sample_weight
from .. import optimizers
from ..kernels.objective import plain_objective
from ..network import Network
from .parameters import PARAMETER_CONSTRAINTS, STOCHASTIC_SOLVERS, check_dtype_parameter

__all__ = ["BaseMLP", "NON_FINITE_WEIGHTS"]

# scikit-learn's messages, word for word where its tests match them
NON_FINITE_WEIGHTS = ("Solver produced non-finite parameter weights. The input data may"
                      " contain large values and need to be preprocessed.")
# seeds handed to Network.train, drawn from the estimator's RandomState
_SEED_BOUND = 2**31 - 1
# rows densified at a time from sparse X
_SPARSE_ROWS = 2048


class BaseMLP(BaseEstimator, ABC):
    """Parameters, fit and predict shared by MLPClassifier and MLPRegressor."""

    _parameter_constraints: dict = dict(PARAMETER_CONSTRAINTS)

    # -- what each estimator says -----------------------------------------------
    @abstractmethod
    def _validate_input(self, X, y, incremental, reset, dtype):
        """(X, y) checked; y as the network's targets (2-D after _fit)."""

    @abstractmethod
    def _output_layer(self, y):
        """(out_activation_, Network cost, Network output) for targets y."""

    @abstractmethod
    def _score(self, X, y, sample_weight=None):
        """The early-stopping score on held-out data."""

    @abstractmethod
    def _loss_scale(self):
        """scikit-learn's loss_ over fastnn's cost (1 / n_outputs for the
        squared error, whose scikit-learn mean runs over the outputs)."""

    # -- fit -----------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        """scikit-learn's _fit; on any exception the estimator is left as it was."""
        saved = self.__dict__.copy()
        network_params = (self._network.params.copy() if "_network" in saved else None)
        try:
            self._fit_checked(X, y, sample_weight, incremental)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            if network_params is not None:
                self._network.params[...] = network_params
            raise
        return self

    def _fit_checked(self, X, y, sample_weight, incremental):
        self._validate_params()
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden_layer_sizes}.")
        requested_dtype = check_dtype_parameter(self.dtype)
        self._sync_network()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        dtype = (self._network.dtype if not first_pass and hasattr(self, "_network")
                 else requested_dtype)
        X, y = self._validate_input(X, y, incremental, reset=first_pass, dtype=dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1]] + hidden_layer_sizes + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        elif not hasattr(self, "_network"):
            self._adopt_attributes(y, layer_units, X.dtype)
        else:
            self._check_same_network(layer_units)
        targets = np.ascontiguousarray(y, dtype=self._network.dtype)
        if self.solver in STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, targets, sample_weight, incremental)
        else:
            self._fit_lbfgs(X, targets, sample_weight)
        if not np.isfinite(self._network.params).all():
            raise ValueError(NON_FINITE_WEIGHTS)
        self.coefs_, self.intercepts_ = _sklearn_layout(self._network)

    def _initialize(self, y, layer_units, dtype):
        """scikit-learn's _initialize: the attributes of a new model, and its
        network with Glorot-uniform weights drawn from ``_random_state``
        layer by layer as scikit-learn draws them (coefs, then intercepts)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_, cost, output = self._output_layer(y)
        network = Network(layer_units, activation=self.activation, output=output, cost=cost,
                          dtype=dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for w, b in zip(network.weights, network.biases):
            fan_out, fan_in = w.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            w[...] = self._random_state.uniform(-bound, bound, (fan_in, fan_out)).T
            b[...] = self._random_state.uniform(-bound, bound, fan_out)
        self._network = network
        self.coefs_, self.intercepts_ = _sklearn_layout(network)
        self._best_params = network.params.copy()
        self.__dict__.pop("_optimizer", None)
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _adopt_attributes(self, y, layer_units, dtype):
        """A model whose coefs_ and intercepts_ were set by hand, without a
        network (scikit-learn's tests do this): a network holding them."""
        _, cost, output = self._output_layer(y)
        network = Network(layer_units, activation=self.activation, output=output, cost=cost,
                          dtype=dtype)
        for w, b, coef, intercept in zip(network.weights, network.biases, self.coefs_,
                                         self.intercepts_):
            w[...] = np.asarray(coef).T
            b[...] = intercept
        self._network = network
        for name, value in (("n_iter_", 0), ("t_", 0), ("loss_curve_", []),
                            ("_no_improvement_count", 0), ("best_loss_", np.inf),
                            ("validation_scores_", None), ("best_validation_score_", None)):
            if not hasattr(self, name):
                setattr(self, name, value)
        self.n_layers_ = len(layer_units)

    def _sync_network(self):
        """Copy coefs_ / intercepts_ into the network where they were replaced
        by other arrays (they are views of it otherwise)."""
        network = self.__dict__.get("_network")
        if network is None or "coefs_" not in self.__dict__:
            return
        for w, b, coef, intercept in zip(network.weights, network.biases, self.coefs_,
                                         self.intercepts_):
            if not (isinstance(coef, np.ndarray) and np.shares_memory(coef, w)):
                w[...] = np.asarray(coef).T
            if not (isinstance(intercept, np.ndarray) and np.shares_memory(intercept, b)):
                b[...] = intercept

    def _check_same_network(self, layer_units):
        fitted_activation = self._network.activation
        if self.activation != fitted_activation:
            raise ValueError(
                f"activation is now {self.activation!r} but the model was fitted with "
                f"{fitted_activation!r}; set warm_start=False (or refit) to change it")
        fitted = list(self._network.sizes)
        if layer_units != fitted:
            raise ValueError(
                f"the layer sizes are now {layer_units} but the model was fitted with {fitted}; "
                "set warm_start=False (or refit) to change hidden_layer_sizes or the data's "
                "number of features or outputs")

    # -- the stochastic solvers ------------------------------------------------------
    def _new_optimizer(self):
        if self.solver == "sgd":
            spec = optimizers.SGD(momentum=self.momentum, nesterov=bool(self.nesterovs_momentum),
                                  schedule=self.learning_rate, power_t=self.power_t)
        else:
            spec = optimizers.Adam(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)
        state = optimizers.OptimizerState.new(spec, self.learning_rate_init,
                                              self._network.params.size, self._network.dtype)
        # the schedule moves here, after each epoch, as scikit-learn moves it
        state.options["loop_schedule"] = False
        return state

    def _fit_stochastic(self, X, targets, sample_weight, incremental):
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._new_optimizer()
        legacy = getattr(self, "_fastnn_legacy", False)
        if self.early_stopping and incremental and not legacy:
            raise ValueError("partial_fit does not support early_stopping=True")
        # (fastnn's earlier estimators ignored early_stopping in partial_fit)
        early_stopping = self.early_stopping and not incremental
        if early_stopping:
            # scikit-learn's split, drawn from _random_state as it draws it
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = targets.astype(bool) if should_stratify else None
            arrays = (X, targets) if sample_weight is None else (X, targets, sample_weight)
            parts = train_test_split(*arrays, random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X_train, X_val, y_train, y_val = parts[:4]
            weight_train, weight_val = parts[4:] if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            y_val = self._decode_targets(y_val)
        else:
            X_train, y_train, weight_train = X, targets, sample_weight
            X_val = y_val = weight_val = None

        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        total = n_samples if weight_train is None else float(np.sum(weight_train))
        lmbda, weight_train = _l2_and_weights(self.alpha, batch_size, n_samples, weight_train)
        network = self._network
        # Dense data is checked for the network once, not by each epoch's call.
        checked = None if scipy.sparse.issparse(X_train) else (
            *network.check_pair(X_train, y_train),
            check_sample_weight(weight_train, n_samples, network.dtype))
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            seed = int(self._random_state.randint(_SEED_BOUND)) if self.shuffle else None
            diverged, cost = self._one_epoch(network, X_train, y_train, weight_train, batch_size,
                                             lmbda, seed, checked, warm=self.n_iter_ > 0)
            if diverged:
                self._diverged(early_stopping)
                break
            self.n_iter_ += 1
            n_batches = math.ceil(n_samples / batch_size)
            # |W|^2 as a NumPy reduction, not a BLAS dot (weights @ weights):
            # OpenBLAS runs a dot this long on its threads, which then spin
            # beside the next epoch's workers; measured on MNIST at
            # scikit-learn's defaults (2 cores), every epoch took 1.5x as long.
            squared = sum(float(np.square(w, dtype=np.float64).sum()) for w in network.weights)
            # scikit-learn's loss_: each batch's cost plus 0.5 alpha |W|^2 / (its
            # weight), averaged over the rows (the batch's W: here the epoch's last)
            self.loss_ = (cost * self._loss_scale()
                          + 0.5 * self.alpha * squared * n_batches / total)
            self.t_ += n_samples
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._warn_if_saturated(X_train)
            self._update_no_improvement_count(early_stopping, X_val, y_val, weight_val)
            self._optimizer.iteration_ends(self.t_)
            if self._no_improvement_count > self.n_iter_no_change:
                if early_stopping:
                    message = ("Validation score did not improve more than tol=%f for %d "
                               "consecutive epochs." % (self.tol, self.n_iter_no_change))
                else:
                    message = ("Training loss did not improve more than tol=%f for %d "
                               "consecutive epochs." % (self.tol, self.n_iter_no_change))
                if self._optimizer.trigger_stopping(message, self.verbose):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                              "optimization hasn't converged yet." % self.max_iter,
                              ConvergenceWarning)
        if early_stopping:
            network.params[...] = self._best_params

    def _one_epoch(self, network, X, targets, sample_weight, batch_size, lmbda, seed,
                   checked=None, warm=False):
        """One epoch of the optimizer over (X, targets); (diverged, mean cost).
        checked: dense (X, targets, sample_weight) as the network checked
        them; warm: an epoch of this fit ran before. Sparse X is densified
        a block of batches at a time, never whole."""
        options = dict(epochs=1, batch_size=batch_size, eta=self._optimizer.learning_rate,
                       lmbda=lmbda, n_threads=self.n_threads, on_divergence="stop",
                       optimizer=self._optimizer)
        if not scipy.sparse.issparse(X):
            history = network._train_checked(*checked, shuffle=bool(self.shuffle), seed=seed,
                                             warm=warm, **options)
            return history.diverged_at is not None, history.cost[0] if history.cost else np.nan
        n = X.shape[0]
        order = (np.random.default_rng(seed).permutation(n) if self.shuffle
                 else np.arange(n))
        per_block = max(1, _SPARSE_ROWS // batch_size) * batch_size
        total = 0.0
        for start in range(0, n, per_block):
            rows = order[start:start + per_block]
            # the same L2 per step: lmbda_block / n_block = lmbda / n
            block_options = dict(options, lmbda=lmbda * rows.size / n)
            history = network.train(
                np.ascontiguousarray(X[rows].toarray(), dtype=network.dtype), targets[rows],
                sample_weight=None if sample_weight is None else sample_weight[rows],
                shuffle=False, **block_options)
            if history.diverged_at is not None:
                return True, np.nan
            total += history.cost[0] * rows.size
        return False, total / n

    def _warn_if_saturated(self, X):
        """The quadratic cost of logistic outputs (loss="squared_error") can
        stop learning with every output pinned at 0 or 1, where f'(z) ~ 0
        passes no gradient: say so once (scikit-learn's MLPs have no such
        cost)."""
        network = self._network
        curve = self.loss_curve_
        if ((network.cost_name, network.output) != ("quadratic", "sigmoid") or len(curve) < 2
                or abs(curve[-1] - curve[-2]) > 1e-9 * max(abs(curve[-2]), 1e-300)
                or getattr(self, "_saturation_warned", False)):
            return
        probe = X[:256]
        if scipy.sparse.issparse(probe):
            probe = probe.toarray()
        outputs = network.feedforward(np.asarray(probe, dtype=network.dtype)).astype(np.float64)
        if np.all(outputs * (1.0 - outputs) < 1e-6):
            self._saturation_warned = True
            warnings.warn(f"{type(self).__name__}: the output neurons are pinned at 0 or 1 and "
                          f"the training cost stopped moving after epoch {self.n_iter_}: "
                          f"learning_rate_init={self.learning_rate_init:g} is probably too "
                          "large", ConvergenceWarning)

    def _diverged(self, early_stopping):
        """An epoch made the cost or the weights NaN or inf (Network.train
        restored the weights of its start). scikit-learn would go on with
        NaN weights: its validation score is NaN from there, and without
        early stopping its fit ends in ValueError."""
        if not early_stopping:
            raise ValueError(NON_FINITE_WEIGHTS)
        self.n_iter_ += 1
        self.validation_scores_.append(float("nan"))
        warnings.warn(f"{type(self).__name__}: training diverged in epoch {self.n_iter_} (the "
                      "cost or the weights became NaN or inf) and stopped; the weights of the "
                      "best validation score are kept. Lower learning_rate_init or scale the "
                      "inputs", ConvergenceWarning)

    def _update_no_improvement_count(self, early_stopping, X, y, sample_weight):
        """scikit-learn's rule: count the epochs that did not improve by tol."""
        if early_stopping:
            score = self._score(X, y, sample_weight=sample_weight)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._network.params.copy()
        else:
            if self.best_loss_ is None:  # after an early-stopping fit (fastnn's earlier ones)
                self.best_loss_ = np.inf
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # -- L-BFGS ----------------------------------------------------------------------
    def _fit_lbfgs(self, X, targets, sample_weight):
        if scipy.sparse.issparse(X):
            X = _DenseRows(X, self._network.dtype)
        result = lbfgs.minimize(self._network, X, targets,
                                objective=_objective(self._network),
                                lmbda=self.alpha, sample_weight=sample_weight,
                                max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol)
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {result.n_iter} iteration(s) "
                f"(status={result.status}):\n{result.message}.\n\nIncrease the number of "
                f"iterations to improve the convergence (max_iter={self.max_iter}).\nYou "
                "might also want to scale the data as shown in:\n    "
                "https://scikit-learn.org/stable/modules/preprocessing.html",
                ConvergenceWarning)
        self.n_iter_ = min(result.n_iter, self.max_iter)
        self.loss_ = result.loss

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, activations=None,
                         deltas=None, coef_grads=None, intercept_grads=None):
        """scikit-learn's function of the same name, for code that calls it:
        L and dL/dp (``fastnn.lbfgs``) at the parameters ``packed_coef_inter``
        in scikit-learn's packing (coefs_ raveled, then intercepts_); the
        gradient packed the same way. The buffers are not used."""
        network = self._network
        sizes = network.sizes
        fastnn_order = _sklearn_packing(sizes)
        flat = np.empty(network.params.size, np.float64)
        flat[fastnn_order] = packed_coef_inter
        targets = np.ascontiguousarray(np.asarray(y).reshape(len(y), -1), dtype=network.dtype)
        X = np.ascontiguousarray(X, dtype=network.dtype)
        cost = lbfgs.FullBatchCost(network, X, targets, lmbda=self.alpha,
                                   sample_weight=sample_weight,
                                   objective=_objective(network))
        loss, grad = cost(flat)
        return loss, grad[fastnn_order]

    # -- predict -----------------------------------------------------------------------
    def _forward(self, X):
        """Output activations (n, n_outputs), in the network's dtype."""
        check_is_fitted(self, "_network")
        self._sync_network()
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                          dtype=self._network.dtype)
        if not scipy.sparse.issparse(X):
            return self._network.feedforward(X)
        parts = [self._network.feedforward(X[start:start + _SPARSE_ROWS].toarray())
                 for start in range(0, X.shape[0], _SPARSE_ROWS)]
        return np.concatenate(parts) if parts else np.empty((0, self.n_outputs_),
                                                             self._network.dtype)

    def _predict_finite(self, X):
        outputs = self._forward(X)
        return outputs

    # -- persistence: coefs_ / intercepts_ are views into the network's parameters
    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("coefs_", None)
        state.pop("intercepts_", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "solver" not in state:  # pickled by fastnn before scikit-learn's parameters
            self._migrate_old_state(state)
        super().__setstate__(state)
        if "_network" in state:
            self.coefs_, self.intercepts_ = _sklearn_layout(self._network)

    def _migrate_old_state(self, state):
        """An estimator pickled before scikit-learn's parameters (fastnn's
        sigmoid networks, plain SGD at a constant step) keeps doing what it
        did: these parameters say so for fit and partial_fit."""
        state.setdefault("alpha", 0.0)
        state.update(solver="sgd", activation="logistic", learning_rate="constant",
                     momentum=0.0, nesterovs_momentum=False, power_t=0.5, verbose=False,
                     beta_1=0.9, beta_2=0.999, epsilon=1e-8, max_fun=15000)
        state.setdefault("dtype", np.float64)
        state.setdefault("n_threads", None)
        state["_fastnn_legacy"] = True
        state.setdefault("_no_improvement_count", 0)
        if "_network" in state:
            network = state["_network"]
            state.setdefault("n_layers_", len(network.sizes))
            state.setdefault("n_outputs_", network.sizes[-1])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _l2_and_weights(alpha, batch_size, n_samples, sample_weight):
    """Network.train's ``lmbda`` for scikit-learn's ``alpha``, and the weights.

    scikit-learn adds alpha W / b to the gradient of a batch, b the batch's
    sum of sample weights (its size without weights); fastnn's optimizers
    add (lmbda / n) W, so lmbda = alpha n / b, with b = batch_size S / n,
    the weight a batch of batch_size rows holds on average (S the sum of
    the weights, n without). Without weights b is the batch size, and with
    full batches b = S: scikit-learn's own penalty, exactly (a weight of 2
    then acts as the sample given twice, penalty included). Equal weights
    are passed as None (rescaled to mean 1 they are all 1), but S still
    sets the penalty."""
    if sample_weight is None:
        total = float(n_samples)
    else:
        with np.errstate(over="ignore"):
            total = float(sample_weight.sum())
    lmbda = alpha * n_samples / (batch_size * total / n_samples)
    if sample_weight is not None and np.all(sample_weight == sample_weight[0]):
        sample_weight = None
    return lmbda, sample_weight


class _DenseRows:
    """Sparse rows read as dense ones, a slice at a time (for L-BFGS's chunks)."""

    def __init__(self, X, dtype):
        self.X, self.dtype = X.tocsr(), dtype
        self.shape = X.shape

    def __getitem__(self, rows):
        return np.asarray(self.X[rows].toarray(), dtype=self.dtype)


def _objective(network):
    """The Objective of the whole network (no decay, weights or dropout)."""
    return plain_objective(network.dtype, network._rule, network._hidden)


def _sklearn_layout(network):
    """coefs_[i] of shape (n_in, n_out) and intercepts_[i] of shape (n_out,):
    views of the network's parameters (writing into them changes it)."""
    return [w.T for w in network.weights], list(network.biases)


def _sklearn_packing(sizes):
    """Index, into fastnn's flat vector, of each entry of scikit-learn's
    packing (coefs_[i] of shape (n_in, n_out) raveled, then intercepts_)."""
    order, offset = [], 0
    for fan_out, fan_in in zip(sizes[1:], sizes[:-1]):
        order.append((offset + np.arange(fan_out * fan_in).reshape(fan_out, fan_in)).T.ravel())
        offset += fan_out * fan_in
    order.append(np.arange(offset, offset + sum(sizes[1:])))
    return np.concatenate(order)
