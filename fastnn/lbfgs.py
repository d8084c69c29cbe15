"""L-BFGS on the full training set: the cost and its gradient from fastnn's
kernels, the steps from SciPy (docs/theory.md §14).

scikit-learn's ``solver="lbfgs"`` minimises, over every parameter at once,

    L(p) = (1 / S) [ sum_n s_n C_n(p) + (lmbda / 2) sum_w w^2 ],   S = sum_n s_n

(S = n without sample weights; lmbda is scikit-learn's alpha, and the
book's lmbda of §10 for a full batch), with

    dL/dw = (1 / S) [ sum_n s_n dC_n/dw + lmbda w ],   dL/db = (1 / S) sum_n s_n dC_n/db.

:class:`FullBatchCost` evaluates both with the kernels of §1-§7 (the
forward pass, then the backward pass with eta = 0: the gradient without a
step, as ``fastnn.dask``'s gradient mode does), in chunks of at most
``CHUNK`` samples whose gradient sums are added in float64, so that memory
stays that of one chunk whatever n. :func:`minimize` hands it to
``scipy.optimize.minimize(method="L-BFGS-B")`` with scikit-learn's
``maxiter``, ``maxfun`` and ``gtol`` (its ``max_iter``, ``max_fun`` and
``tol``).

SciPy is imported when :func:`minimize` runs (``pip install
'fastnn[sklearn]'`` brings it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels
from .kernels.objective import Objective

__all__ = ["FullBatchCost", "LbfgsResult", "minimize", "CHUNK"]

# Samples per call of the kernels: the work buffers hold one chunk.
CHUNK = 2048


class FullBatchCost:
    """L(p) and dL/dp (above) of ``network`` on the whole training set.

    inputs: (n, L_0), targets: (n, L_l), C-contiguous, of the network's
    dtype. lmbda >= 0. sample_weight: (n,) weights s_n >= 0 as given (not
    rescaled), or None. ``objective``: the network's Objective (its output
    rule and hidden layers; its decay is not used, and the passes never
    drop units: L is the whole network's).

    Calling it with a parameter vector (any float dtype; SciPy passes
    float64) copies it into ``network.params`` and returns (L, dL/dp) with
    dL/dp in float64, laid out like ``params`` (§8). ``evaluations``
    counts the calls.
    """

    def __init__(self, network, inputs, targets, *, lmbda=0.0, sample_weight=None,
                 objective: Objective):
        self.network = network
        self.inputs, self.targets = inputs, targets
        self.lmbda = float(lmbda)
        n = inputs.shape[0]
        dtype = network.dtype
        self.weights = (np.empty(0, dtype) if sample_weight is None
                        else np.ascontiguousarray(sample_weight, dtype=dtype))
        self.total_weight = float(n if sample_weight is None
                                  else np.sum(sample_weight, dtype=np.float64))
        self.objective = objective._replace(decay=dtype.type(1.0), sample_weights=self.weights)
        self.capacity = min(n, CHUNK)
        self.sizes = np.asarray(network.sizes, dtype=np.int64)
        self.activations = np.empty(kernels.workspace_size(network.sizes, self.capacity), dtype)
        self.deltas = np.empty_like(self.activations)
        self.grad = np.empty(network.params.size, dtype)
        self.n_weights = sum(a * b for a, b in zip(network.sizes[1:], network.sizes[:-1]))
        self.evaluations = 0

    def __call__(self, flat):
        params = self.network.params
        params[...] = flat
        self.evaluations += 1
        n = self.inputs.shape[0]
        total = np.zeros(params.size, np.float64)
        cost = 0.0
        for start in range(0, n, self.capacity):
            m = min(self.capacity, n - start)
            x = self.activations[:m * self.network.sizes[0]]
            x[...] = self.inputs[start:start + m].ravel()
            kernels.forward_pass(params, self.sizes, self.activations, m, self.capacity,
                                 self.objective)
            # eta = 0: the batch's mean gradient, no step
            cost += float(kernels.backward_pass(
                params, self.grad, self.sizes, self.activations, self.deltas,
                self.targets[start:start + m], m, self.capacity, 0.0, self.objective,
                np.arange(start, start + m, dtype=np.int64)))
            total += m * self.grad.astype(np.float64)
        weights = params[:self.n_weights].astype(np.float64)
        total[:self.n_weights] += self.lmbda * weights
        # a NumPy reduction, not a BLAS dot: OpenBLAS's threads would spin
        # beside the kernels of the next evaluation (estimators/base.py)
        loss = (cost + 0.5 * self.lmbda * float(np.square(weights).sum())) / self.total_weight
        return loss, total / self.total_weight


@dataclass
class LbfgsResult:
    """What :func:`minimize` did: iterations, cost evaluations, the final
    L, and SciPy's status (0: converged; 1: maxiter or maxfun reached;
    2: stopped for another reason, ``message`` says which)."""

    n_iter: int
    n_evaluations: int
    loss: float
    status: int
    message: str

    @property
    def converged(self) -> bool:
        return self.status == 0


def minimize(network, inputs, targets, *, objective, lmbda=0.0, sample_weight=None,
             max_iter=200, max_fun=15000, tol=1e-4) -> LbfgsResult:
    """Minimise L (module docstring) over ``network.params`` with SciPy's
    L-BFGS-B, from the network's parameters, as scikit-learn's
    ``solver="lbfgs"`` does: ``maxiter=max_iter``, ``maxfun=max_fun``,
    ``gtol=tol``. The network ends with the parameters SciPy returns (its
    best point), cast to its dtype; check them for finiteness before use."""
    import scipy.optimize

    cost = FullBatchCost(network, inputs, targets, lmbda=lmbda, sample_weight=sample_weight,
                         objective=objective)
    start = network.params.astype(np.float64)
    result = scipy.optimize.minimize(cost, start, method="L-BFGS-B", jac=True,
                                     options={"maxfun": int(max_fun), "maxiter": int(max_iter),
                                              "gtol": float(tol)})
    network.params[...] = result.x
    message = result.message.decode() if isinstance(result.message, bytes) else str(result.message)
    return LbfgsResult(n_iter=int(result.nit), n_evaluations=int(result.nfev),
                       loss=float(result.fun), status=int(result.status), message=message)
