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

This package needs scikit-learn; ``import fastnn`` does not import it (the
package exposes the two classes lazily). Modules: ``parameters`` (the
hyperparameters' table and docs), ``base`` (the fit: initialize, train,
early-stopping policy, commit), ``classifier``, ``regressor``.
"""
from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "fastnn's scikit-learn estimators need scikit-learn; install it with "
        "pip install 'fastnn[sklearn]'"
    ) from error

from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
