"""The optimizers a training run can step with (docs/theory.md §13), as a
user names them, and their state between steps.

    net.train(X, Y, optimizer="adam", eta=1e-3)
    net.train(X, Y, optimizer=fastnn.SGD(momentum=0.9, nesterov=True, schedule="invscaling"))

* :class:`SGD`: plain stochastic gradient descent (momentum 0, the design
  document's step, §7), or with momentum, or with Nesterov's momentum;
  each with a learning-rate schedule (``constant``, ``invscaling``,
  ``adaptive``, scikit-learn's).
* :class:`Adam`: Kingma and Ba's, with scikit-learn's bias correction.

The names ``"sgd"``, ``"momentum"``, ``"nesterov"`` and ``"adam"`` stand
for ``SGD()``, ``SGD(momentum=0.9)``, ``SGD(momentum=0.9, nesterov=True)``
and ``Adam()``.

A run keeps its optimizer in its ``TrainingState`` (``fastnn.run_state``):
the name and scalar settings (``optimizer``, ``optimizer_options``, with
the current learning rate under ``"learning_rate"``) and the arrays
(``optimizer_arrays``: ``"first"``, ``"second"``, ``"steps"``), so that
checkpoints carry them and a resume continues bitwise. :func:`kernel_optimizer`
turns them into the ``kernels.optimizer.Optimizer`` an epoch runs with.
This module is pure Python.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import numpy as np

from .kernels.optimizer import ADAM, MOMENTUM, NESTEROV, SGD as PLAIN, Optimizer

__all__ = ["SGD", "Adam", "SCHEDULES", "as_optimizer", "new_state", "kernel_optimizer",
           "epoch_rate", "epoch_ended", "no_improvement", "from_state", "keeps_state"]

SCHEDULES = ("constant", "invscaling", "adaptive")
# adaptive stops once the rate is at most this (scikit-learn's)
ADAPTIVE_FLOOR = 1e-6


def _real(value, name, low, high, *, low_open=False, high_open=True):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        left = "(" if low_open else "["
        right = "inf)" if high is None else (f"{high:g})" if high_open else f"{high:g}]")
        raise ValueError(f"{name} must be in {left}{low:g}, {right}, got {value!r}")
    return value


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent (docs/theory.md §7, §13).

    momentum : float in [0, 1], default 0
        mu of v <- mu v - eta g, p <- p + v. 0 is the plain step of §7
        (the fastest path: no state, per-sample SGD with batch 1).
    nesterov : bool, default False
        Nesterov's momentum: p <- p + mu v - eta g (v the new velocity).
    schedule : "constant", "invscaling" or "adaptive", default "constant"
        How eta moves between epochs (scikit-learn's ``learning_rate``):
        invscaling takes eta_0 / (t + 1)^power_t after each epoch, t the
        samples seen; adaptive divides eta by 5 when the stopping rule would
        stop, and stops once eta <= 1e-6 (``Network.train`` reads "no
        improvement" as: the training cost has not fallen by more than
        ``tol`` in more than ``n_iter_no_change`` epochs in a row).
    power_t : float >= 0, default 0.5
    tol, n_iter_no_change : the adaptive schedule's rule in ``Network.train``.
    """

    momentum: float = 0.0
    nesterov: bool = False
    schedule: str = "constant"
    power_t: float = 0.5
    tol: float = 1e-4
    n_iter_no_change: int = 10

    def __post_init__(self):
        _real(self.momentum, "momentum", 0.0, 1.0, high_open=False)
        if not isinstance(self.nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {self.nesterov!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}, "
                             f"got {self.schedule!r}")
        _real(self.power_t, "power_t", 0.0, None)
        _real(self.tol, "tol", 0.0, None)
        if (isinstance(self.n_iter_no_change, (bool, np.bool_))
                or not isinstance(self.n_iter_no_change, numbers.Integral)
                or self.n_iter_no_change < 1):
            raise ValueError(f"n_iter_no_change must be an int >= 1, got "
                             f"{self.n_iter_no_change!r}")

    @property
    def name(self) -> str:
        if self.momentum == 0:
            return "sgd"
        return "nesterov" if self.nesterov else "momentum"


@dataclass(frozen=True)
class Adam:
    """Adam (docs/theory.md §13), with scikit-learn's bias correction.

    beta_1, beta_2 : floats in [0, 1), default 0.9 and 0.999
    epsilon : float > 0, default 1e-8
    """

    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8

    def __post_init__(self):
        _real(self.beta_1, "beta_1", 0.0, 1.0)
        _real(self.beta_2, "beta_2", 0.0, 1.0)
        _real(self.epsilon, "epsilon", 0.0, None, low_open=True)

    name = "adam"
    schedule = "constant"


_NAMED = {"sgd": SGD(), "momentum": SGD(momentum=0.9), "nesterov": SGD(momentum=0.9, nesterov=True),
          "adam": Adam()}


def as_optimizer(optimizer):
    """An :class:`SGD` or :class:`Adam` from a name or one of them."""
    if isinstance(optimizer, (SGD, Adam)):
        return optimizer
    if isinstance(optimizer, str) and optimizer in _NAMED:
        return _NAMED[optimizer]
    raise ValueError(f"optimizer must be one of {', '.join(map(repr, _NAMED))}, or "
                     f"fastnn.SGD(...) / fastnn.Adam(...); got {optimizer!r}")


def keeps_state(optimizer) -> bool:
    """Whether the optimizer keeps arrays between steps (it then steps on the
    mini-batch path, also with batch 1)."""
    return as_optimizer(optimizer).name != "sgd"


def new_state(optimizer, eta, n_params, dtype):
    """(name, options, arrays) of a fresh run with ``optimizer`` and the
    initial rate ``eta``, for ``TrainingState``."""
    optimizer = as_optimizer(optimizer)
    options = {key: (bool(value) if isinstance(value, (bool, np.bool_)) else value)
               for key, value in asdict(optimizer).items()}
    options["schedule"] = optimizer.schedule
    options["learning_rate"] = float(eta)
    options["no_improvement"] = 0
    options["best_cost"] = math.inf
    dtype = np.dtype(dtype)
    arrays = {"steps": np.zeros(1, np.int64)}
    if optimizer.name != "sgd":
        arrays["first"] = np.zeros(n_params, dtype)
    if optimizer.name == "adam":
        arrays["second"] = np.zeros(n_params, dtype)
    return optimizer.name, options, arrays


def from_state(name, options):
    """The :class:`SGD` or :class:`Adam` a state's name and options describe."""
    if name == "adam":
        return Adam(**{key: options[key] for key in ("beta_1", "beta_2", "epsilon")})
    return SGD(**{key: options[key] for key in
                  ("momentum", "nesterov", "schedule", "power_t", "tol", "n_iter_no_change")
                  if key in options})


_CODES = {"sgd": PLAIN, "momentum": MOMENTUM, "nesterov": NESTEROV, "adam": ADAM}


def kernel_optimizer(name, options, arrays, l2, dtype) -> Optimizer:
    """The kernels' ``Optimizer`` of a run's state, its arrays shared (the
    epoch steps them in place). l2: the coupled L2 coefficient lmbda / n."""
    dtype = np.dtype(dtype)
    empty = np.empty(0, dtype)
    code = _CODES[name]
    first_rate = options["beta_1"] if name == "adam" else options.get("momentum", 0.0)
    return Optimizer(np.int64(code), float(first_rate), float(options.get("beta_2", 0.0)),
                     float(options.get("epsilon", 0.0)), float(l2), arrays.get("first", empty),
                     arrays.get("second", empty), arrays["steps"])


def epoch_rate(options) -> float:
    """The learning rate of the next epoch."""
    return float(options["learning_rate"])


def epoch_ended(options, eta_0, samples_seen) -> None:
    """The schedule's move after an epoch (scikit-learn's ``iteration_ends``):
    invscaling takes eta_0 / (samples_seen + 1)^power_t."""
    if options.get("schedule") == "invscaling":
        options["learning_rate"] = float(eta_0) / (samples_seen + 1) ** options["power_t"]


def no_improvement(options) -> bool:
    """The stopping rule fired (scikit-learn's ``trigger_stopping``): True
    to stop; the adaptive schedule divides the rate by 5 instead, while it
    is above 1e-6."""
    if options.get("schedule") != "adaptive" or options["learning_rate"] <= ADAPTIVE_FLOOR:
        return True
    options["learning_rate"] /= 5.0
    return False


def cost_improved(options, cost) -> bool:
    """For ``Network.train``'s adaptive schedule: count an epoch whose
    training cost did not fall by more than tol below the best so far
    (scikit-learn's rule); True when more than n_iter_no_change epochs in a
    row did not, and the stopping rule fires (the count restarts)."""
    if cost > options["best_cost"] - options["tol"]:
        options["no_improvement"] += 1
    else:
        options["no_improvement"] = 0
    options["best_cost"] = min(options["best_cost"], cost)
    if options["no_improvement"] > options["n_iter_no_change"]:
        options["no_improvement"] = 0
        return True
    return False


class OptimizerState:
    """An optimizer and its state between steps, carried from one training
    call to the next (``Network.train(optimizer=state)`` steps it in
    place; ``TrainingHistory.optimizer`` is the state a run ended with).

    name, options, arrays: as ``new_state`` makes them. ``learning_rate``
    is the rate of the next epoch; ``iteration_ends`` and
    ``trigger_stopping`` are scikit-learn's optimizers' methods of those
    names (the schedule between epochs), so that code written for
    ``MLPClassifier._optimizer`` reads the same.
    """

    def __init__(self, name, options, arrays):
        self.name, self.options, self.arrays = name, options, arrays

    @classmethod
    def new(cls, optimizer, eta, n_params, dtype) -> "OptimizerState":
        name, options, arrays = new_state(optimizer, eta, n_params, dtype)
        options["eta_0"] = float(eta)
        return cls(name, options, arrays)

    @property
    def learning_rate(self) -> float:
        return epoch_rate(self.options)

    @property
    def keeps_state(self) -> bool:
        return self.name != "sgd"

    def iteration_ends(self, time_step) -> None:
        epoch_ended(self.options, self.options.get("eta_0", self.learning_rate), time_step)

    def trigger_stopping(self, message, verbose) -> bool:
        stop = no_improvement(self.options)
        if verbose:
            if stop and self.options.get("schedule") == "adaptive":
                print(message + " Learning rate too small. Stopping.")
            elif stop:
                print(message + " Stopping.")
            else:
                print(message + " Setting learning rate to %f" % self.learning_rate)
        return stop

    def kernel(self, l2, dtype) -> Optimizer:
        """The kernels' Optimizer over these arrays (stepped in place)."""
        return kernel_optimizer(self.name, self.options, self.arrays, l2, dtype)

    def check_fits(self, n_params, dtype) -> None:
        """ValueError unless the arrays fit a network of n_params parameters
        of ``dtype``."""
        for key in ("first", "second"):
            array = self.arrays.get(key)
            if array is not None and (array.shape != (n_params,) or array.dtype != dtype):
                raise ValueError(
                    f"the optimizer's state is for {array.size} parameters of "
                    f"{array.dtype.name}, not for this network's {n_params} of "
                    f"{np.dtype(dtype).name}")

    def snapshot(self):
        """A copy of the arrays and options, for ``restore``."""
        return ({key: value.copy() for key, value in self.arrays.items()}, dict(self.options))

    def restore(self, snapshot) -> None:
        arrays, options = snapshot
        for key, value in arrays.items():
            self.arrays[key][...] = value
        self.options.clear()
        self.options.update(options)

    def __repr__(self):
        return (f"OptimizerState({from_state(self.name, self.options)!r}, "
                f"learning_rate={self.learning_rate:g}, steps={int(self.arrays['steps'][0])})")
