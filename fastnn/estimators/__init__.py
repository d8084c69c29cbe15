"""scikit-learn's MLPClassifier and MLPRegressor, trained by fastnn's kernels.

Drop-ins: the parameters of scikit-learn 1.9's MLPs, in its order, with its
defaults (ReLU, Adam, ``batch_size="auto"``, ...), its fitted attributes
and its behaviour, plus fastnn's extras (``dtype``, ``n_threads``, the
classifier's ``loss``). docs/estimators.md says what differs.

Modules: ``parameters`` (the table of parameters), ``base`` (the fit
shared by both: initialize, the stochastic solvers and L-BFGS, the
early-stopping policy, commit), ``classifier`` and ``regressor``.

This package needs scikit-learn; ``import fastnn`` does not import it (the
package exposes the two classes lazily).
"""
from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("fastnn's scikit-learn estimators need scikit-learn; install it with "
                      "pip install 'fastnn[sklearn]'") from error

from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
