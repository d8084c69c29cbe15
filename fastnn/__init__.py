"""fastnn: multilayer perceptrons trained on the CPU with Numba kernels.

``import fastnn`` loads numpy and numba only; scikit-learn, tqdm and
matplotlib are imported by the parts that need them.
"""
from .network import Network, TrainingHistory, load

__all__ = ["Network", "TrainingHistory", "load", "__version__"]
__version__ = "0.1.0"
