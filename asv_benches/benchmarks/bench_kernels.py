"""One call of each layer kernel: weighted sum, deltas, gradient.

Buffers are allocated in ``setup``; the timed call only computes. Every
kernel here is idempotent on its buffers (``layer_gradient`` runs with
eta = 0, gradient only), so repeated calls time the same work.
"""
import importlib
import inspect
import pkgutil

import numpy as np

from ._common import SEED, assert_close, numpy_sigmoid

# (L_{i-1}, L_i): the first layer of W1/W2, of W4, and W4's hidden-to-hidden.
LAYERS = ["784->30", "784->256", "256->256"]
BATCH_SIZES = [1, 10, 128]
DTYPES = ["float32", "float64"]


def _layer_arrays(fan_in, fan_out, batch_size, dtype, seed):
    """Seeded inputs and empty outputs of the kernels of one layer."""
    rng = np.random.default_rng(seed)
    return {
        "w": (rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)).astype(dtype),
        "b": rng.standard_normal(fan_out).astype(dtype),
        # a_prev is an activation, in (0, 1); delta is dC/dz, small and signed.
        "a_prev": rng.random((batch_size, fan_in)).astype(dtype),
        "delta": rng.uniform(-0.25, 0.25, (batch_size, fan_out)).astype(dtype),
        "a": np.empty((batch_size, fan_out), dtype),
        "delta_prev": np.empty((batch_size, fan_in), dtype),
        "w_transposed": np.empty((fan_in, fan_out), dtype),
        "grad_w": np.empty((fan_out, fan_in), dtype),
        "grad_b": np.empty(fan_out, dtype),
    }


def _find_kernel(name):
    """fastnn.kernels.<name>, else the first fastnn.kernels submodule that
    defines it, else None. The suite runs against every commit that holds
    it, older and newer than the kernels' current layout: a kernel that
    moved between modules is still found, one that is gone makes its
    benchmarks skip (NotImplementedError in setup) instead of breaking the
    import of this module, and with it every benchmark here."""
    try:
        package = importlib.import_module("fastnn.kernels")
    except ImportError:
        return None
    if hasattr(package, name):
        return getattr(package, name)
    for module_info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        try:
            module = importlib.import_module(f"fastnn.kernels.{module_info.name}")
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    return None


class _Kernels:
    forward_layer = _find_kernel("forward_layer")
    backward_delta = _find_kernel("backward_delta")
    layer_gradient = _find_kernel("layer_gradient")
    output_delta = _find_kernel("output_delta")
    # Since the activations (issue 23) the layer kernels take a rule and the
    # batch's rows; both are made by fastnn.kernels.neurons.
    plain_rule = _find_kernel("plain_rule")
    NO_ROWS = _find_kernel("NO_ROWS")


kernels = _Kernels


def _require(*names):
    missing = [name for name in names if getattr(kernels, name) is None]
    if missing:
        raise NotImplementedError(f"this fastnn has no kernel {', '.join(missing)}")


def _parameter_count(kernel):
    if kernel is None:
        return -1
    return len(inspect.signature(getattr(kernel, "py_func", kernel)).parameters)


# backward_delta took a scratch array for w^T from the commit "One blocked
# weighted-sum kernel for the forward pass and the backward recursion" until
# the commit that summed rows of w instead; commits on both sides of that
# range take four arguments, and all stay measurable.
_BACKWARD_TAKES_SCRATCH = _parameter_count(kernels.backward_delta) == 5

# Since the output rules and L2 (issue 15), forward_layer takes whether to
# apply f, layer_gradient the decay factor, and output_delta the rule and
# the sample weights; older commits take the arguments before those.
_FORWARD_TAKES_ACTIVATE = _parameter_count(kernels.forward_layer) == 5
# Since the activations (issue 23), forward_layer and backward_delta take
# the layer's rule and the batch's rows.
_LAYERS_TAKE_RULE = _parameter_count(kernels.forward_layer) == 6
_GRADIENT_TAKES_DECAY = _parameter_count(kernels.layer_gradient) == 9
_OUTPUT_DELTA_TAKES_RULE = _parameter_count(kernels.output_delta) == 6


def _forward_layer(w, b, a_prev, a):
    if _LAYERS_TAKE_RULE:
        kernels.forward_layer(w, b, a_prev, a, kernels.plain_rule(1, w.dtype), kernels.NO_ROWS)
    elif _FORWARD_TAKES_ACTIVATE:
        kernels.forward_layer(w, b, a_prev, a, True)
    else:
        kernels.forward_layer(w, b, a_prev, a)


def _layer_gradient(delta, a_prev, w, b, grad_w, grad_b, scale, eta):
    if _GRADIENT_TAKES_DECAY:
        kernels.layer_gradient(delta, a_prev, w, b, grad_w, grad_b, scale, eta, 1.0)
    else:
        kernels.layer_gradient(delta, a_prev, w, b, grad_w, grad_b, scale, eta)


def _output_delta(a, y, delta, no_weights, rows):
    if _OUTPUT_DELTA_TAKES_RULE:
        return kernels.output_delta(a, y, delta, 0, no_weights, rows)
    return kernels.output_delta(a, y, delta)


def _backward_delta(arrays):
    arguments = [arrays["w"], arrays["delta"], arrays["a_prev"], arrays["delta_prev"]]
    if _BACKWARD_TAKES_SCRATCH:
        arguments.append(arrays["w_transposed"])
    elif _LAYERS_TAKE_RULE:
        arguments += [kernels.plain_rule(1, arrays["w"].dtype), kernels.NO_ROWS]
    kernels.backward_delta(*arguments)


def _run_layer_kernels(arrays):
    m = arrays["a_prev"].shape[0]
    _forward_layer(arrays["w"], arrays["b"], arrays["a_prev"], arrays["a"])
    _backward_delta(arrays)
    _layer_gradient(arrays["delta"], arrays["a_prev"], arrays["w"], arrays["b"],
                    arrays["grad_w"], arrays["grad_b"], 1.0 / m, 0.0)


def _check_layer_kernels(arrays, what):
    """The three kernels' outputs against their equations in NumPy (float64)."""
    w, b, a_prev, delta = (arrays[k].astype(np.float64) for k in ("w", "b", "a_prev", "delta"))
    dtype = arrays["w"].dtype
    w_before = arrays["w"].copy()
    _run_layer_kernels(arrays)
    m = a_prev.shape[0]
    assert_close(arrays["a"], numpy_sigmoid(a_prev @ w.T + b), dtype, f"forward_layer, {what}")
    assert_close(arrays["delta_prev"], (delta @ w) * a_prev * (1 - a_prev), dtype,
                 f"backward_delta, {what}")
    assert_close(arrays["grad_w"], delta.T @ a_prev / m, dtype, f"layer_gradient dC/dw, {what}")
    assert_close(arrays["grad_b"], delta.sum(axis=0) / m, dtype, f"layer_gradient dC/db, {what}")
    if not np.array_equal(arrays["w"], w_before):
        raise AssertionError(f"layer_gradient with eta=0 changed the weights, {what}")


class LayerKernels:
    """forward_layer, backward_delta and layer_gradient for one layer and batch."""

    params = [LAYERS, BATCH_SIZES, DTYPES]
    param_names = ["layer", "batch_size", "dtype"]
    # Each sample is one call (asv re-runs setup between timed calls), so
    # take more, cheap samples than asv's default of at most 10.
    repeat = (5, 20, 1.0)

    _prepared = {}

    def setup(self, layer, batch_size, dtype):
        _require("forward_layer", "backward_delta", "layer_gradient")
        key = (layer, batch_size, dtype)
        if key not in self._prepared:
            fan_in, fan_out = (int(width) for width in layer.split("->"))
            # A small layer whose batch has a full 4-sample block and a tail,
            # then the timed arrays themselves (they may take the threaded path).
            _check_layer_kernels(_layer_arrays(9, 7, 6, dtype, SEED + 1),
                                 f"9->7, batch 6, {dtype}")
            arrays = _layer_arrays(fan_in, fan_out, batch_size, dtype, SEED)
            _check_layer_kernels(arrays, f"{layer}, batch {batch_size}, {dtype}")
            self._prepared[key] = arrays
        self.arrays = self._prepared[key]
        self.scale = 1.0 / batch_size

    def time_forward_layer(self, layer, batch_size, dtype):
        a = self.arrays
        _forward_layer(a["w"], a["b"], a["a_prev"], a["a"])

    def time_backward_delta(self, layer, batch_size, dtype):
        a = self.arrays
        _backward_delta(a)

    def time_layer_gradient(self, layer, batch_size, dtype):
        a = self.arrays
        _layer_gradient(a["delta"], a["a_prev"], a["w"], a["b"],
                        a["grad_w"], a["grad_b"], self.scale, 0.0)


def _output_arrays(width, batch_size, dtype, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, width, size=batch_size)
    return {
        "a": rng.random((batch_size, width)).astype(dtype),
        "y": np.eye(width, dtype=dtype)[labels],
        "delta": np.empty((batch_size, width), dtype),
        "no_weights": np.empty(0, dtype),
        "rows": np.arange(batch_size, dtype=np.int64),
    }


def _check_output_delta(arrays, what):
    a, y = arrays["a"].astype(np.float64), arrays["y"].astype(np.float64)
    dtype = arrays["a"].dtype
    cost = _output_delta(arrays["a"], arrays["y"], arrays["delta"], arrays["no_weights"],
                         arrays["rows"])
    assert_close(arrays["delta"], (a - y) * a * (1 - a), dtype, f"output_delta delta, {what}")
    assert_close(cost, 0.5 * np.sum((a - y) ** 2), dtype, f"output_delta cost, {what}")


class OutputDelta:
    """output_delta: the output layer's delta and the batch's summed cost."""

    # Every workload's output layer has 10 neurons.
    params = [[10], BATCH_SIZES, DTYPES]
    param_names = ["output_width", "batch_size", "dtype"]
    repeat = (5, 20, 1.0)

    _prepared = {}

    def setup(self, output_width, batch_size, dtype):
        _require("output_delta")
        key = (output_width, batch_size, dtype)
        if key not in self._prepared:
            _check_output_delta(_output_arrays(7, 5, dtype, SEED + 1), f"width 7, batch 5, {dtype}")
            arrays = _output_arrays(output_width, batch_size, dtype, SEED)
            _check_output_delta(arrays, f"width {output_width}, batch {batch_size}, {dtype}")
            self._prepared[key] = arrays
        self.arrays = self._prepared[key]

    def time_output_delta(self, output_width, batch_size, dtype):
        a = self.arrays
        _output_delta(a["a"], a["y"], a["delta"], a["no_weights"], a["rows"])
