"""The model file format: a network's sizes, dtype, objective and parameters in a ``.npz``.

``write_model`` is what ``Network.save`` writes and ``read_model`` what
``fastnn.load`` reads (``fastnn.persistence``): a :class:`SavedNetwork`,
checked whole before any memory is allocated or data decompressed. This
module knows the file, not the ``Network`` class.

Entries: ``format_version``, ``sizes`` (int64), ``dtype`` (the name),
``weights_<i>`` of shape (sizes[i+1], sizes[i]) and ``biases_<i>`` of shape
(sizes[i+1],) in the network's dtype, and ``cost`` and ``output`` only when
they are not quadratic and sigmoid (so that such files still load in fastnn
versions without the choice). A network whose hidden layers are not the
design document's (docs/theory.md §11, §12) also has ``activation`` (one
name per hidden layer), ``leaky_slope`` and ``dropout`` (float64, one per
hidden layer), and is written as format_version 2, which fastnn versions
without activations refuse ("a newer format") instead of running the
network with sigmoid neurons; every other file stays format_version 1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ._files import DAMAGE, atomic_write, npz_headers, open_npz, read_npz_member, read_npz_scalar
from ._validation import all_finite_array, check_dtype, check_memory, check_sizes, sizes_text
from .activations import Neurons
from .kernels.layout import parameter_count
from .kernels.objective import output_rule

__all__ = ["SavedNetwork", "write_model", "read_model", "FORMAT_VERSION", "FORMATS_READ",
           "neurons_entries", "read_neurons"]

# 2: with the entries of the hidden layers' activations and dropout
FORMAT_VERSION = 2
FORMATS_READ = (1, 2)
DEFAULT_COST, DEFAULT_OUTPUT = "quadratic", "sigmoid"
NEURON_ENTRIES = ("activation", "leaky_slope", "dropout")


@dataclass
class SavedNetwork:
    """A network as a file holds it: ``params`` is the flat vector (weights
    of layer 1, 2, ..., then biases) in ``dtype``; ``neurons`` its hidden
    layers, output and cost (``fastnn.activations.Neurons``), or None:
    logistic hidden layers without dropout, ``cost`` and ``output``."""

    sizes: tuple
    dtype: np.dtype
    params: np.ndarray
    cost: str = DEFAULT_COST
    output: str = DEFAULT_OUTPUT
    neurons: Neurons | None = None


def neurons_entries(neurons) -> dict:
    """The file entries of a network's hidden layers: none for the design
    document's (logistic, no dropout), else ``activation``, ``leaky_slope``
    and ``dropout``, one value per hidden layer."""
    if neurons is None or neurons.is_document:
        return {}
    return {"activation": np.array(neurons.activation, dtype="U16"),
            "leaky_slope": np.array(neurons.leaky_slope, dtype=np.float64),
            "dropout": np.array(neurons.dropout, dtype=np.float64)}


def read_neurons(archive, headers, sizes, cost, output) -> Neurons:
    """The Neurons of a file's entries (``neurons_entries``; absent: the
    design document's hidden layers), checked: ValueError naming what is
    wrong."""
    present = [key for key in NEURON_ENTRIES if key in headers]
    if not present:
        return Neurons.of(sizes, cost=cost, output=output)
    if len(present) != len(NEURON_ENTRIES):
        missing = sorted(set(NEURON_ENTRIES) - set(present))
        raise ValueError(f"it has {', '.join(map(repr, present))} but no "
                         f"{', '.join(map(repr, missing))} entry")
    n_hidden = len(sizes) - 2
    values = {}
    for key, kinds in (("activation", "U"), ("leaky_slope", "f"), ("dropout", "f")):
        header = headers[key]
        if header.shape != (n_hidden,) or header.dtype.kind not in kinds \
                or header.dtype.itemsize > 256:
            raise ValueError(f"'{key}' is an array of shape {header.shape} and dtype "
                             f"{header.dtype}, not one value per hidden layer "
                             f"({n_hidden}) of sizes {sizes_text(sizes)}")
        values[key] = read_npz_member(archive, key, header).tolist()
    return Neurons.of(sizes, cost=cost, output=output, activation=values["activation"],
                      leaky_slope=values["leaky_slope"], dropout=values["dropout"])


def write_model(path, network) -> str:
    """Write ``network`` (its sizes, dtype, cost, output, weights and biases)
    to ``path`` (``.npz`` appended if missing) whole or not at all; returns
    the path written. ValueError, and nothing written, for NaN or inf
    parameters (``read_model`` refuses such a file)."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path.endswith(".npz"):
        path += ".npz"
    if not all_finite_array(network.params):
        raise ValueError(
            f"not saved to {path}: this network's parameters are not all finite "
            "(NaN or inf), and fastnn.load refuses such a file; training diverged "
            "(retrain with a smaller eta) or they were set so"
        )
    layers = neurons_entries(getattr(network, "neurons", None))
    arrays = {
        # format 2 only where format 1 cannot say it (older fastnn refuse it)
        "format_version": np.array(FORMAT_VERSION if layers else 1),
        "sizes": np.asarray(network.sizes, dtype=np.int64),
        "dtype": np.array(network.dtype.name),
    }
    arrays.update(layers)
    if (network.cost_name, network.output) != (DEFAULT_COST, DEFAULT_OUTPUT):
        # Only when not the default, so that files of quadratic/sigmoid
        # networks still load in fastnn versions without the choice
        # (which refuse the unknown entries of the others, as they must).
        arrays["cost"] = np.array(network.cost_name)
        arrays["output"] = np.array(network.output)
    for i, (w, b) in enumerate(zip(network.weights, network.biases)):
        arrays[f"weights_{i}"] = w
        arrays[f"biases_{i}"] = b
    return atomic_write(path, lambda stream: np.savez(stream, **arrays))


def read_model(path) -> SavedNetwork:
    """The network written by :func:`write_model` at ``path``.

    Everything is checked before memory is allocated or data decompressed:
    ``format_version`` (this fastnn reads versions 1 and 2), the entries the layer
    sizes imply, and each array's shape and dtype from its ``.npy`` header.
    A network whose parameters would not fit in the memory available now is
    refused with the size it needs.

    Raises FileNotFoundError for a missing file, and ValueError naming what
    is wrong otherwise (not a fastnn model, damaged, a newer format, too
    big, NaN or inf parameters).
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    archive = open_npz(path, "model file")
    with archive:
        try:
            headers = npz_headers(archive)
            version = read_npz_scalar(archive, headers, "format_version", "iu")
        except DAMAGE as error:
            raise _not_valid(path, error) from None
        if version not in FORMATS_READ:
            raise ValueError(
                f"{path} has format_version {version}; this fastnn reads format_version "
                f"{' and '.join(map(str, FORMATS_READ))} only (was it written by a newer "
                "fastnn?)"
            )
        try:
            dtype = check_dtype(str(read_npz_scalar(archive, headers, "dtype", "U")))
            sizes = _sizes_entry(archive, headers)
            # Files written before the choice existed have neither entry.
            cost = (str(read_npz_scalar(archive, headers, "cost", "U"))
                    if "cost" in headers else DEFAULT_COST)
            output = (str(read_npz_scalar(archive, headers, "output", "U"))
                      if "output" in headers else DEFAULT_OUTPUT)
            output_rule(cost, output)
            neurons = (read_neurons(archive, headers, sizes, cost, output) if version >= 2
                       else Neurons.of(sizes, cost=cost, output=output))
        except DAMAGE as error:
            raise _not_valid(path, error) from None
        n_params = parameter_count(sizes)
        check_memory(n_params * dtype.itemsize,
                     f"{path} holds a network of sizes {sizes_text(sizes)} "
                     f"({n_params:,} {dtype.name} parameters) that")
        try:
            expected = {"format_version": (), "sizes": (len(sizes),), "dtype": ()}
            if "cost" in headers or "output" in headers:
                expected.update(cost=(), output=())
            if version >= 2:
                expected.update({key: (len(sizes) - 2,) for key in NEURON_ENTRIES})
            for i, (fan_out, fan_in) in enumerate(zip(sizes[1:], sizes[:-1])):
                expected[f"weights_{i}"] = (fan_out, fan_in)
                expected[f"biases_{i}"] = (fan_out,)
            for key, shape in expected.items():
                if key not in headers:
                    raise ValueError(f"it has no '{key}' entry")
                if key.startswith(("weights_", "biases_")):
                    header = headers[key]
                    if header.shape != shape:
                        raise ValueError(f"'{key}' has shape {header.shape}, expected {shape} "
                                         f"for sizes {sizes_text(sizes)}")
                    if header.dtype != dtype:
                        raise ValueError(f"'{key}' has dtype {header.dtype}, expected {dtype}")
            extra = sorted(set(headers) - set(expected))
            if extra:
                raise ValueError(
                    "it has entries a fastnn model of sizes "
                    f"{sizes_text(sizes)} does not have: {', '.join(map(repr, extra[:5]))}"
                )
            params = np.empty(n_params, dtype)
            offset = 0
            # the flat vector: every layer's weights, then every layer's biases
            for i, (fan_out, fan_in) in enumerate(zip(sizes[1:], sizes[:-1])):
                read_npz_member(archive, f"weights_{i}", headers[f"weights_{i}"],
                                out=params[offset:offset + fan_out * fan_in].reshape(fan_out,
                                                                                    fan_in))
                offset += fan_out * fan_in
            for i, fan_out in enumerate(sizes[1:]):
                read_npz_member(archive, f"biases_{i}", headers[f"biases_{i}"],
                                out=params[offset:offset + fan_out])
                offset += fan_out
        except DAMAGE as error:
            raise _not_valid(path, error) from None
    if not all_finite_array(params):
        raise _not_valid(path, "it holds NaN or inf parameters")
    return SavedNetwork(sizes=sizes, dtype=dtype, params=params, cost=cost, output=output,
                        neurons=neurons)


def _not_valid(path, error):
    return ValueError(f"{path} is not a valid fastnn model (corrupt, or not written by "
                      f"Network.save): {error}")


def _sizes_entry(archive, headers):
    header = headers.get("sizes")
    if header is None:
        raise ValueError("it has no 'sizes' entry")
    if len(header.shape) != 1 or header.dtype.kind not in "iu":
        raise ValueError(f"'sizes' is an array of shape {header.shape} and dtype "
                         f"{header.dtype}, not a list of layer widths")
    check_memory(header.nbytes, f"its 'sizes' entry of {header.shape[0]:,} layers")
    return check_sizes(read_npz_member(archive, "sizes", header).tolist())
