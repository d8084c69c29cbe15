"""fastnn: multilayer perceptrons trained on the CPU with Numba kernels.

``import fastnn`` loads numpy and numba only; scikit-learn, tqdm and
matplotlib are imported by the parts that need them.
"""
from .exceptions import DivergenceError, DivergenceWarning, SaturationWarning
from .network import Network
from .optimizers import SGD, Adam
from .persistence import load, resume
from .run_state import TrainingHistory

__all__ = ["Network", "SGD", "Adam", "TrainingHistory", "load", "resume", "DivergenceError",
           "DivergenceWarning", "SaturationWarning", "__version__"]
__version__ = "0.1.0"


def __getattr__(name):
    # The scikit-learn estimators are loaded on first use, so that
    # `import fastnn` never imports scikit-learn (an optional extra).
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimators

        return getattr(estimators, name)
    if name == "datasets":  # loaded on first use, like the estimators
        import importlib

        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
