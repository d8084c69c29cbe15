"""Checks of user input, shared by the wrapper, the estimators and the CLI.

Every function either returns an array fastnn's kernels can use (C-contiguous,
in the network's dtype) or raises with a message that says what was wrong.
None of them modifies its argument.
"""
from __future__ import annotations

import numbers
import operator
import os

import numpy as np

from ._threads import default_thread_count
from .kernels.checks import all_finite

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_sizes(sizes) -> tuple[int, ...]:
    """Layer sizes as a tuple of positive ints; at least an input and an output."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a sequence of layer widths, got {sizes!r}")
    checked = []
    for position, width in enumerate(sizes):
        if isinstance(width, (bool, np.bool_)) or not isinstance(width, numbers.Integral):
            raise TypeError(
                f"sizes[{position}] must be an integer, got {width!r} "
                f"of type {type(width).__name__}"
            )
        width = operator.index(width)
        if width < 1:
            raise ValueError(f"sizes[{position}] must be at least 1, got {width}")
        checked.append(width)
    if len(checked) < 2:
        raise ValueError(
            f"sizes needs at least an input and an output layer, got {list(checked)}"
        )
    return tuple(checked)


def check_dtype(dtype) -> np.dtype:
    if dtype is None:  # numpy reads None as float64: say it instead
        raise TypeError("dtype must be float32 or float64, got None")
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _as_float_array(values, name: str, dtype: np.dtype) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got an array of dtype {array.dtype}"
        )
    return _writable_alias(np.ascontiguousarray(array, dtype=dtype))


class _ReadOnlyMemory:
    """A read-only array's memory presented as writable (the array
    interface's read-only flag cleared), keeping the array alive."""

    def __init__(self, array):
        self.array = array
        interface = dict(array.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface


def _writable_alias(array: np.ndarray) -> np.ndarray:
    """``array``, or for a read-only one (``np.load(mmap_mode="r")``, a
    broadcast, ``flags.writeable = False``) a writable alias of its memory.

    numba compiles a kernel once per argument type, and read-only is part of
    an array's type: a read-only input would make every kernel of an epoch
    compile again (about a minute). The kernels never write their inputs,
    and nothing else sees the alias.
    """
    if array.flags.writeable:
        return array
    return np.asarray(_ReadOnlyMemory(array))


def all_finite_array(array: np.ndarray) -> bool:
    """Whether every element of ``array`` is finite (the compiled scan for
    C-contiguous float32/float64, NumPy's otherwise)."""
    if array.dtype in SUPPORTED_DTYPES and array.flags.c_contiguous:
        with np.errstate(invalid="ignore"):  # inf * 0, when run as plain Python
            return bool(all_finite(array))
    return bool(np.isfinite(array).all())


def _check_finite(array: np.ndarray, name: str) -> None:
    if not all_finite_array(array):
        bad = np.argwhere(~np.isfinite(array))[0]
        kind = "NaN" if np.isnan(array[tuple(bad)]) else "inf"
        raise ValueError(
            f"{name} contains {kind} (first at index {tuple(int(i) for i in bad)}); "
            "remove or impute non-finite values first"
        )


def check_inputs(X, n_inputs: int, dtype: np.dtype, name: str = "X") -> tuple[np.ndarray, bool]:
    """X as a C-contiguous (n, n_inputs) array of ``dtype``.

    Returns ``(X2d, was_single)``: a single sample of shape (n_inputs,) is
    accepted and reported so that the caller can return a 1-D result.
    """
    array = _as_float_array(X, name, dtype)
    single = array.ndim == 1
    if single:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_samples, {n_inputs}) or ({n_inputs},), "
            f"got shape {np.shape(X)}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if array.shape[1] != n_inputs:
        raise ValueError(
            f"{name} has {array.shape[1]} features per sample but the network's "
            f"input layer has {n_inputs} (expected shape (n_samples, {n_inputs}), "
            f"got {np.shape(X)})"
        )
    _check_finite(array, name)
    return array, single


def check_labels(labels, n_samples: int, n_classes: int, name: str = "labels") -> np.ndarray:
    """Integer class labels of shape (n_samples,), each in [0, n_classes)."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape ({n_samples},), got {array.shape}")
    if array.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {array.shape[0]} entries but there are {n_samples} samples"
        )
    if array.dtype.kind == "f":
        _check_finite(array, name)
        if not np.all(array == np.round(array)):
            raise ValueError(f"{name} must be whole numbers (class indices)")
    elif array.dtype.kind not in "iub":
        raise TypeError(f"{name} must be integer class indices, got dtype {array.dtype}")
    # Compared before the conversion to int64, which would wrap 1e30 or
    # 2**63 round to a negative number.
    if n_samples and (array.min() < 0 or array.max() >= n_classes):
        bad = array[(array < 0) | (array >= n_classes)][0]
        raise ValueError(
            f"{name} must lie in [0, {n_classes}) for a network with {n_classes} "
            f"outputs; found {label_text(bad)}"
        )
    return array.astype(np.int64)


def label_text(label) -> str:
    """A label as its real value: 12 for 12.0, 9223372036854775808 for
    2**63 in uint64, 1e+30 for 1e30 (not int64's wrapped value)."""
    if isinstance(label, (float, np.floating)):
        label = float(label)
        if label.is_integer() and abs(label) < 1e15:
            return str(int(label))
        return f"{label:g}"
    return str(int(label))


def check_targets(Y, n_samples: int, n_outputs: int, dtype: np.dtype, name: str = "Y", *,
                  softmax: bool = False) -> np.ndarray:
    """Targets as a C-contiguous (n_samples, n_outputs) array of ``dtype``.

    Y may be targets of that shape, or class labels of shape (n_samples,),
    which become one-hot rows. A 1-D float Y for a network with one output
    is read as targets. ``softmax``: for a softmax output, whose targets
    must be distributions (``check_distributions``).
    """
    targets = _check_targets(Y, n_samples, n_outputs, dtype, name)
    return check_distributions(targets, name) if softmax else targets


def _check_targets(Y, n_samples, n_outputs, dtype, name):
    array = np.asarray(Y)
    if array.ndim == 1:
        if n_outputs == 1 and array.dtype.kind == "f":
            array = array.reshape(-1, 1)
        else:
            labels = check_labels(array, n_samples, n_outputs, name)
            one_hot = np.zeros((n_samples, n_outputs), dtype=dtype)
            one_hot[np.arange(n_samples), labels] = 1
            return one_hot
    array = _as_float_array(array, name, dtype)
    if array.ndim != 2 or array.shape != (n_samples, n_outputs):
        raise ValueError(
            f"{name} must have shape ({n_samples}, {n_outputs}) (targets) or "
            f"({n_samples},) (class labels), got {np.shape(Y)}"
        )
    _check_finite(array, name)
    return array


def check_pair(x, y, sizes, dtype: np.dtype, x_name: str = "X", y_name: str = "Y"):
    """Inputs (m, sizes[0]) and targets (m, sizes[-1]) of a network of
    ``sizes`` and ``dtype``; a single sample (x of shape (sizes[0],))
    becomes m = 1, its y a label or a target vector."""
    inputs, single = check_inputs(x, sizes[0], dtype, x_name)
    if single:
        y = np.asarray(y)
        if y.ndim == 0:
            y = y.reshape(1)
        elif y.ndim == 1 and y.shape[0] == sizes[-1] and (sizes[-1] > 1 or y.dtype.kind == "f"):
            y = y.reshape(1, -1)
    targets = check_targets(y, inputs.shape[0], sizes[-1], dtype, y_name)
    return inputs, targets


def check_distributions(targets: np.ndarray, name: str = "Y") -> np.ndarray:
    """Targets of a softmax output (docs/theory.md §11): every row a
    probability distribution, entries >= 0 summing to 1 (to within
    1e-4 in float32, 1e-8 in float64), as the delta a - y of the
    log-likelihood needs. Integer labels (one-hot rows) always are."""
    if targets.size == 0:
        return targets
    if np.min(targets) < 0:
        bad = np.argwhere(targets < 0)[0]
        raise ValueError(
            f"{name} has a negative target ({label_text(targets[tuple(bad)])} at "
            f"{tuple(int(i) for i in bad)}): a softmax output's targets are probabilities "
            "(give class labels, or rows of probabilities summing to 1)")
    sums = targets.sum(axis=1, dtype=np.float64)
    tolerance = 1e-4 if targets.dtype == np.float32 else 1e-8
    off = np.abs(sums - 1) > tolerance
    if np.any(off):
        row = int(np.argmax(off))
        raise ValueError(
            f"{name}'s row {row} sums to {sums[row]:.6g}, not 1: a softmax output's targets "
            "must each sum to 1 (its delta a - y is the log-likelihood's gradient only "
            "then, docs/theory.md §11); give class labels, or normalise the rows")
    return targets


def check_positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def check_positive_float(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_thread_count(n_threads) -> int:
    """``n_threads`` as an int >= 1 (None: ``_threads.default_thread_count()``)."""
    if n_threads is None:
        return default_thread_count()
    return check_positive_int(n_threads, "n_threads")


def check_non_negative_float(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_sample_weight(sample_weight, n_samples: int, dtype: np.dtype) -> np.ndarray | None:
    """Sample weights (n_samples,) of ``dtype`` scaled to mean 1, or None.

    As scikit-learn: a scalar weights every sample alike; weights must be
    finite and >= 0, and not all 0. Scaling them to mean 1 keeps eta's
    meaning: the expected step of a shuffled mini-batch is that of the data
    with each sample repeated in proportion to its weight.
    """
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold real numbers, got dtype {weights.dtype}")
    if weights.ndim == 0:
        weights = np.full(n_samples, weights, dtype=np.float64)
    if weights.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},), one weight per "
                         f"sample, got shape {weights.shape}")
    weights = weights.astype(np.float64)
    if not np.isfinite(weights).all():
        raise ValueError("sample_weight holds NaN or inf")
    if (weights < 0).any():
        raise ValueError(f"sample_weight must be >= 0; got {weights.min():g} at index "
                         f"{int(np.argmin(weights))}")
    largest = weights.max()
    if largest <= 0:
        raise ValueError("sample_weight is 0 for every sample: nothing to train on")
    # (divided by the largest first, so that weights of 1e308 do not sum to
    # inf; scaled to mean 1, none exceeds n_samples)
    weights /= largest
    return (weights * (n_samples / weights.sum())).astype(dtype)


def check_bool(value, name: str) -> bool:
    """True or False (numpy's bool too); anything else, such as the string
    "no" (which is truthy) or 0, is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


# train() draws one shuffle seed per epoch; more epochs than this is a typo
# or an attempt at "forever" (use a callback that returns True to stop).
MAX_EPOCHS = 10**9


def check_epochs(value, name: str = "epochs") -> int:
    """A number of epochs: an int in [1, MAX_EPOCHS]."""
    value = check_positive_int(value, name)
    if value > MAX_EPOCHS:
        raise ValueError(
            f"{name} must be at most {MAX_EPOCHS:,}, got {value:,}; to train until "
            "something happens, pass a large count and a callback that returns True to stop"
        )
    return value


# -- memory ------------------------------------------------------------------------
_GIB = 2**30
# Allocations below this are not checked (reading /proc costs ~0.1 ms).
MEMORY_CHECK_FROM = 64 * 2**20


def available_memory():
    """Bytes this process can still allocate without swapping, or None if
    unknown: the least of /proc/meminfo's MemAvailable, a cgroup's limit
    less its usage (reclaimable file cache not counted), and, without
    /proc, the free physical pages."""
    candidates = []
    try:
        with open("/proc/meminfo", "rb") as stream:
            for line in stream:
                if line.startswith(b"MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    cgroup = _cgroup_available()
    if cgroup is not None:
        candidates.append(cgroup)
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return None
    return max(0, min(candidates))


def _read_number(path):
    try:
        with open(path) as stream:
            text = stream.read().strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # "max": no limit


def _stat_value(path, key):
    try:
        with open(path) as stream:
            for line in stream:
                parts = line.split()
                if len(parts) == 2 and parts[0] == key:
                    return int(parts[1])
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_available():
    for limit_file, usage_file, stat_key, base in (
        ("memory.max", "memory.current", "inactive_file", "/sys/fs/cgroup"),  # v2
        ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file",
         "/sys/fs/cgroup/memory"),  # v1
    ):
        limit = _read_number(os.path.join(base, limit_file))
        usage = _read_number(os.path.join(base, usage_file))
        # v1 reports "no limit" as a number near 2**63
        if limit is None or usage is None or limit >= 2**60:
            continue
        usage -= _stat_value(os.path.join(base, "memory.stat"), stat_key)
        return limit - max(usage, 0)
    return None


def gib(n_bytes) -> str:
    """Bytes for messages: '1.68 GiB', or '512.00 MiB' below a GiB."""
    if n_bytes < _GIB:
        return f"{n_bytes / 2**20:,.2f} MiB"
    return f"{n_bytes / _GIB:,.2f} GiB"


def sizes_text(sizes) -> str:
    """Layer sizes for messages: the list, or its first four and a count."""
    if len(sizes) > 8:
        return "[" + ", ".join(map(str, sizes[:4])) + f", ... ({len(sizes)} layers)]"
    return str(list(sizes))


def check_memory(n_bytes: int, what: str) -> None:
    """Raise ValueError if ``n_bytes`` (a Python int) exceed the memory
    available now, saying how much ``what`` needs and how much there is.
    Nothing is checked below MEMORY_CHECK_FROM or when the available memory
    cannot be read."""
    if n_bytes < MEMORY_CHECK_FROM:
        return
    available = available_memory()
    if available is not None and n_bytes > available:
        raise ValueError(
            f"{what} needs {gib(n_bytes)} of memory but only {gib(available)} is available"
        )
