"""Numba kernels: the design document's equations as loops.

Modules, in the order of docs/theory.md:

=====================  =========================================================
``activation``         f (§2, §11) and f' (§4, §11) of every activation by
                       code, the softmax, and the libm-free forms of the loops
``reference``          one plain kernel per equation, as the document's loops
``isa``                the host's vector unit and the register tiles for it
``blocked``            register-blocked loops of §1, §6, §7 for a batch
``layers``             a layer's §1, §5, §6, §7 for a batch, threads for big ones
``layout``             the flat parameter vector and work buffers (§8)
``objective``          output rules, L2 decay and sample weights (§10); the
                       pairs of cost and output, hidden activations (§11)
``dropout``            dropout's counter-based masks (§12)
``neurons``            a layer's f, f' and dropout for the fast kernels (§11, §12)
``minibatch``          the passes and the mini-batch epoch (§9)
``sample_loops``       §1, §5, §6, §7 for one sample; layer 1's deferred step
``per_sample``         per-sample SGD, the document's algorithm (§9)
``scheduler``          threads kept for an epoch, sharing layer 1 (§9)
``atomics``            the scheduler's atomic counters and waits
=====================  =========================================================

docs/theory.md ends with a table from each equation to its reference
kernel, its fast kernels, and the test that proves them equal.

Index names follow the document: ``i`` a layer (1..l; layer 0 is the
input), ``j`` a neuron of layer i, ``k`` a neuron of layer i-1, ``n`` a
sample of the mini-batch.

Every kernel takes arrays and scalars only, writes into arrays its caller
allocated and allocates nothing itself (``fastnn.plan.EpochPlan`` owns the
buffers of an epoch). Each number is computed by the same code whatever
the number of threads, so results are bitwise the same with 1 or 2.
"""
from __future__ import annotations

from .blocked import FORWARD_BLOCK, GRADIENT_ROW_BLOCK, SAMPLE_BLOCK
from .isa import HOST_ISA, HOST_TILES
from .layers import (PARALLEL_MIN_WORK, ROWS_PER_PART, backward_delta, forward_layer,
                     layer_gradient, output_delta)
from .layout import layer_biases, layer_weights, parameter_count, workspace_size
from .minibatch import (backward_pass, forward_pass, forward_pass_threaded, shuffle_order,
                        train_epoch, train_epoch_shared, train_epoch_threaded,
                        uses_layer_threads)
from .per_sample import train_epoch_per_sample, train_epoch_per_sample_shared
from .sample_loops import LOOKAHEAD
from .scheduler import use_shared_epoch
from .activation import sigmoid, sigmoid_prime
from .neurons import NO_ROWS, LayerRule, plain_rule

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "LayerRule",
    "plain_rule",
    "NO_ROWS",
    "forward_layer",
    "output_delta",
    "backward_delta",
    "layer_gradient",
    "forward_pass",
    "forward_pass_threaded",
    "backward_pass",
    "train_epoch",
    "train_epoch_threaded",
    "train_epoch_shared",
    "uses_layer_threads",
    "train_epoch_per_sample",
    "train_epoch_per_sample_shared",
    "use_shared_epoch",
    "shuffle_order",
    "layer_weights",
    "layer_biases",
    "workspace_size",
    "parameter_count",
    "PARALLEL_MIN_WORK",
    "ROWS_PER_PART",
    "SAMPLE_BLOCK",
    "FORWARD_BLOCK",
    "GRADIENT_ROW_BLOCK",
    "LOOKAHEAD",
    "HOST_ISA",
    "HOST_TILES",
]
