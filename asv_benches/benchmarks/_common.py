"""Workloads, synthetic data and the plain-NumPy references the benchmarks check against.

Nothing here is a benchmark (no name starts with ``time_``, ``track_``, ...).
Every benchmark's ``setup`` calls one of the ``check_*`` functions below
before anything is timed: they run fastnn on a small input, compare the
result with a NumPy computation of the same equations and raise
``AssertionError`` if they differ, so a benchmark can never silently time
wrong code. The same calls compile (or load from the cache) every kernel the
benchmark will use, so no compile time leaks into a measurement.
"""
from __future__ import annotations

import os
import sys

import numpy as np

import fastnn

# The workloads W1-W4 are defined once, in scripts/workloads.py, for this
# suite and the scripts alike. It cannot live in the fastnn package: asv
# installs old commits of fastnn, which lack it, and runs these benchmark
# files (from the current checkout) against them. So import it from the
# checkout's scripts/ directory, found relative to this file.
_SCRIPTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "scripts")
if _SCRIPTS_DIR not in sys.path:
    sys.path.insert(0, _SCRIPTS_DIR)

import workloads  # noqa: E402  (scripts/workloads.py)

flops_per_sample = workloads.flops_per_sample

ETA = 3.0
SEED = 0


def _assert_fastnn_comes_from_the_asv_environment() -> None:
    # The active environment may have fastnn installed too (an editable
    # install of a checkout); a missing or broken install of the benchmarked
    # commit must not fall back to it, or the results would be filed under
    # the wrong commit. In the overlay environment (fastnn_asv_env.py) each
    # commit has a directory of its own, env/<hash>/commits/<commit>.
    env_type = os.environ.get("ASV_ENV_TYPE")
    env_dir = os.environ.get("ASV_ENV_DIR")
    if env_type in (None, "existing") or not env_dir:
        return
    expected = os.path.realpath(env_dir)
    commit = os.environ.get("ASV_COMMIT")
    if env_type == "overlay" and commit:
        expected = os.path.join(expected, "commits", commit)
    module_path = os.path.realpath(fastnn.__file__)
    if not module_path.startswith(expected + os.sep):
        raise ImportError(
            f"asv environment {env_dir} imported fastnn from {module_path}, "
            f"not from the commit asv installed ({expected})"
        )


_assert_fastnn_comes_from_the_asv_environment()


# ---------------------------------------------------------------------------
# Workloads of the speed issue
# ---------------------------------------------------------------------------
# Samples per benchmarked epoch, fewer than scripts/workloads.py's (the
# epochs of bench_peers.py): >= ~20 ms per epoch on an idle core of this
# machine, few enough that `asv run --quick` stays short when the cores are
# shared (threaded kernels then wait for their second core). Every saved
# result measured these counts: changing one changes what its benchmark means.
_SAMPLES_PER_EPOCH = {"W1": 2_000, "W2": 4_000, "W3": 4_000, "W4": 4_000}

WORKLOADS = {name: workload.with_samples(_SAMPLES_PER_EPOCH[name])
             for name, workload in workloads.WORKLOADS.items()}
WORKLOAD_NAMES = list(WORKLOADS)


def take_every_thread() -> None:
    """Let every epoch of this benchmark process use the threads it asks
    for, as on an idle machine. fastnn gives an epoch one thread when
    another process is runnable at its start (``fastnn._threads.
    borrow_threads``, the idle-core budget); on a shared machine that
    happens at random, and the epoch then takes about twice as long
    (W4: 146-196 ms on one thread against 80-99 ms on two, AMD EPYC Zen 4).
    A timing that mixes both says nothing about the commit, and ``compare``
    flagged identical code as 1.58x slower from it. The budget's own rule is
    tested in tests/test_threads.py; scripts/bench_ab.py times the same way.
    Commits from before the budget have nothing to set."""
    try:
        from fastnn import _threads
    except ImportError:
        return
    if hasattr(_threads, "_other_runnable_threads"):
        _threads._other_runnable_threads = lambda: 0


def synthetic_data(n_samples, sizes, dtype, seed=SEED):
    """Inputs (n_samples, sizes[0]) in [0, 1) and one-hot targets (n_samples, sizes[-1])."""
    rng = np.random.default_rng(seed)
    inputs = rng.random((n_samples, sizes[0]), dtype=dtype)
    labels = rng.integers(0, sizes[-1], size=n_samples)
    targets = np.eye(sizes[-1], dtype=dtype)[labels]
    return inputs, targets


# ---------------------------------------------------------------------------
# Plain NumPy references (float64, straight from the equations)
# ---------------------------------------------------------------------------
def numpy_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_feedforward(weights, biases, inputs):
    """Output activations (n, L_l) for weights[i] (L_i, L_{i-1}), biases[i] (L_i,)."""
    a = np.asarray(inputs, dtype=np.float64)
    for w, b in zip(weights, biases):
        a = numpy_sigmoid(a @ w.T + b)
    return a


# The hidden activations of docs/theory.md section 11 (f, and f' from the
# activation a = f(z)), for numpy_sgd_epoch.
_HIDDEN = {
    "logistic": (numpy_sigmoid, lambda a: a * (1.0 - a)),
    "tanh": (np.tanh, lambda a: 1.0 - a * a),
    "relu": (lambda z: np.maximum(z, 0.0), lambda a: (a > 0).astype(np.float64)),
}


def _splitmix(x):
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def numpy_dropout_factors(dropout_seed, epoch, rows, first_unit, n_units, rate):
    """Dropout's factors D (0 or 1 / (1 - rate)) of hidden units
    first_unit..first_unit + n_units - 1 for the samples of the data set's
    rows ``rows`` in epoch ``epoch``: docs/theory.md section 12's
    generator, in NumPy's uint64 arithmetic (shape (len(rows), n_units))."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    one = np.uint64(1)
    with np.errstate(over="ignore"):
        key = _splitmix(np.uint64(dropout_seed) + golden)
        key = _splitmix(key + (np.uint64(epoch) + one) * golden)
        row_keys = _splitmix(key + (np.asarray(rows, np.uint64) + one) * golden)
        units = np.arange(first_unit, first_unit + n_units, dtype=np.uint64)
        bits = _splitmix(row_keys[:, None] + (units[None, :] + one) * golden)
    threshold = np.uint64(min(round(rate * 2.0 ** 64), 2 ** 64 - 1))
    return np.where(bits >= threshold, 1.0 / (1.0 - rate), 0.0)


def numpy_sgd_epoch(weights, biases, inputs, targets, batch_size, eta=ETA, *, cost="quadratic",
                    output="sigmoid", lmbda=0.0, sample_weight=None, activation="logistic",
                    dropout=0.0, dropout_seed=None, epoch=0):
    """One epoch of mini-batch SGD on the quadratic cost, samples in order
    (or, docs/theory.md section 10: the cross-entropy, an identity output,
    L2 w <- (1 - eta lmbda / n) w - ..., sample weights scaled to mean 1;
    section 11: tanh or relu hidden layers, a softmax output with the
    log-likelihood; section 12: dropout of rate ``dropout`` on the hidden
    layers, its masks drawn from ``dropout_seed`` for epoch ``epoch``).

    weights, biases: float64 lists, updated in place.
    inputs (n, L_0), targets (n, L_l).
    """
    f, f_prime = _HIDDEN[activation]
    inputs = np.asarray(inputs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    n = inputs.shape[0]
    s = (np.ones(n) if sample_weight is None
         else np.asarray(sample_weight, np.float64) * n / np.sum(sample_weight))
    for start in range(0, n, batch_size):
        x = inputs[start:start + batch_size]
        y = targets[start:start + batch_size]
        m = x.shape[0]
        activations, thinned, factors = [x], [x], [None]
        first_unit = 0
        for i, (w, b) in enumerate(zip(weights, biases)):
            z = thinned[-1] @ w.T + b
            last = i == len(weights) - 1
            if last and output == "identity":
                a = z
            elif last and output == "softmax":
                e = np.exp(z - z.max(axis=1, keepdims=True))
                a = e / e.sum(axis=1, keepdims=True)
            else:
                a = numpy_sigmoid(z) if last else f(z)
            d = None
            if dropout and not last:
                d = numpy_dropout_factors(dropout_seed, epoch, np.arange(start, start + m),
                                          first_unit, w.shape[0], dropout)
                first_unit += w.shape[0]
            activations.append(a)
            factors.append(d)
            thinned.append(a if d is None else a * d)
        a_out = activations[-1]
        if cost == "quadratic" and output == "sigmoid":
            delta = (a_out - y) * a_out * (1.0 - a_out)
        else:
            delta = a_out - y
        delta = delta * s[start:start + m, None]
        for i in range(len(weights) - 1, -1, -1):
            a_prev = thinned[i]
            grad_w = delta.T @ a_prev / m
            grad_b = delta.sum(axis=0) / m
            if i > 0:
                delta = (delta @ weights[i]) * f_prime(activations[i])
                if factors[i] is not None:
                    delta = delta * factors[i]
            weights[i] *= 1.0 - eta * lmbda / n
            weights[i] -= eta * grad_w
            biases[i] -= eta * grad_b


def assert_close(actual, expected, dtype, what, *, steps=1):
    """Raise AssertionError naming ``what`` unless actual matches expected.

    float32 kernels reassociate their sums (fastmath), so they are held to
    float32 precision; ``steps`` loosens it for results that went through
    several SGD steps, where differences are amplified by eta.
    """
    if np.dtype(dtype) == np.float32:
        rtol, atol = 2e-4 * steps, 2e-5 * steps
    else:
        rtol, atol = 1e-9 * steps, 1e-11 * steps
    scale = max(1.0, float(np.max(np.abs(expected))) if np.size(expected) else 1.0)
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64), expected, rtol=rtol, atol=atol * scale,
        err_msg=f"fastnn disagrees with the NumPy reference: {what}",
    )


# ---------------------------------------------------------------------------
# Checks run by the setups (once per process and configuration)
# ---------------------------------------------------------------------------
_checked_training = set()


# The objectives of docs/theory.md section 10 the suite times, as
# Network/train keyword arguments (beside the quadratic/sigmoid default).
# An identity output of 784 inputs diverges at eta 3 (no sigmoid bounds
# its outputs): it trains at 0.01.
OBJECTIVES = {
    "cross_entropy": (dict(cost="cross_entropy"), dict(eta=ETA)),
    "identity": (dict(output="identity"), dict(eta=0.01)),
    "lmbda": ({}, dict(eta=ETA, lmbda=5.0)),
    "sample_weight": ({}, dict(eta=ETA, sample_weight="random")),
}


def objective_arguments(objective, n_samples):
    """(Network keyword arguments, train keyword arguments) of an objective,
    with its sample weights drawn for n_samples; NotImplementedError (asv:
    skipped) for a commit of fastnn from before the objectives."""
    import inspect

    if "cost" not in inspect.signature(fastnn.Network).parameters:
        raise NotImplementedError("this fastnn has no cost/output/lmbda/sample_weight")
    network_arguments, train_arguments = OBJECTIVES[objective]
    train_arguments = dict(train_arguments)
    if train_arguments.get("sample_weight") == "random":
        train_arguments["sample_weight"] = np.random.default_rng(SEED).random(n_samples) + 0.5
    return network_arguments, train_arguments


_checked_objectives = set()


def check_objective_training(sizes, batch_size, dtype, objective):
    """Network.train with ``objective`` on a small input equals
    numpy_sgd_epoch with it (in order, 2 full batches and a partial one);
    warms the JIT for the timed (shuffled) epochs."""
    key = (tuple(sizes), batch_size, np.dtype(dtype).name, objective)
    if key in _checked_objectives:
        return
    # (at least 43: eta lmbda / n must stay below 1, and per-sample SGD
    # then runs five blocks of eight and a short one)
    n_samples = max(2 * batch_size + 3, 43)
    inputs, targets = synthetic_data(n_samples, sizes, dtype, seed=SEED + 1)
    network_arguments, train_arguments = objective_arguments(objective, n_samples)
    network = fastnn.Network(sizes, seed=SEED, dtype=dtype, **network_arguments)
    weights = [w.astype(np.float64) for w in network.weights]
    biases = [b.astype(np.float64) for b in network.biases]
    network.train(inputs, targets, epochs=1, batch_size=batch_size, shuffle=False,
                  **train_arguments)
    numpy_sgd_epoch(weights, biases, inputs, targets, batch_size, **network_arguments,
                    **train_arguments)
    what = f"{objective}, sizes {list(sizes)}, batch {batch_size}, {np.dtype(dtype).name}"
    assert_close(network.params, np.concatenate([w.ravel() for w in weights] + biases),
                 dtype, f"parameters after one epoch, {what}", steps=3)
    network.train(inputs, targets, epochs=1, batch_size=batch_size, seed=SEED,
                  **train_arguments)
    _checked_objectives.add(key)


# The neurons of docs/theory.md sections 11 and 12 the suite times (issue
# 23), as (Network keyword arguments, train keyword arguments), beside the
# design document's logistic network.
NEURONS = {
    "relu": (dict(activation="relu"), dict(eta=0.5)),
    "tanh": (dict(activation="tanh"), dict(eta=0.5)),
    "softmax": (dict(output="softmax", cost="cross_entropy"), dict(eta=0.5)),
    "dropout": (dict(dropout=0.5), dict(eta=ETA)),
}
_checked_neurons = set()


def check_neurons_training(sizes, batch_size, dtype, neurons):
    """Network.train with the ``neurons`` of NEURONS on a small input
    equals numpy_sgd_epoch with them (in order, 2 full batches and a
    partial one; dropout's masks drawn by numpy_dropout_factors from the
    run's dropout seed); warms the JIT for the timed (shuffled) epochs.
    NotImplementedError (asv: skipped) for a fastnn without activations."""
    import inspect

    if "activation" not in inspect.signature(fastnn.Network).parameters:
        raise NotImplementedError("this fastnn has no activations, softmax or dropout")
    key = (tuple(sizes), batch_size, np.dtype(dtype).name, neurons)
    if key in _checked_neurons:
        return
    from fastnn.run_state import dropout_seed

    n_samples = max(2 * batch_size + 3, 43)
    inputs, targets = synthetic_data(n_samples, sizes, dtype, seed=SEED + 1)
    network_arguments, train_arguments = NEURONS[neurons]
    network = fastnn.Network(sizes, seed=SEED, dtype=dtype, **network_arguments)
    weights = [w.astype(np.float64) for w in network.weights]
    biases = [b.astype(np.float64) for b in network.biases]
    network.train(inputs, targets, epochs=1, batch_size=batch_size, shuffle=False, seed=SEED,
                  **train_arguments)
    numpy_sgd_epoch(weights, biases, inputs, targets, batch_size, **network_arguments,
                    **train_arguments,
                    dropout_seed=dropout_seed(np.random.SeedSequence(SEED).entropy))
    what = f"{neurons}, sizes {list(sizes)}, batch {batch_size}, {np.dtype(dtype).name}"
    assert_close(network.params, np.concatenate([w.ravel() for w in weights] + biases),
                 dtype, f"parameters after one epoch, {what}", steps=3)
    network.train(inputs, targets, epochs=1, batch_size=batch_size, seed=SEED,
                  **train_arguments)
    _checked_neurons.add(key)


def check_training(sizes, batch_size, dtype):
    """Network.train on a small input equals numpy_sgd_epoch; warms the JIT.

    Uses 2 full mini-batches and a partial one of the workload's own batch
    size and dtype, so the same compiled code and the same serial/threaded
    paths run as in the timed epoch.
    """
    key = (tuple(sizes), batch_size, np.dtype(dtype).name)
    if key in _checked_training:
        return
    n_samples = 2 * batch_size + 3
    inputs, targets = synthetic_data(n_samples, sizes, dtype, seed=SEED + 1)
    network = fastnn.Network(sizes, seed=SEED, dtype=dtype)
    weights = [w.astype(np.float64) for w in network.weights]
    biases = [b.astype(np.float64) for b in network.biases]
    network.train(inputs, targets, epochs=1, batch_size=batch_size, eta=ETA, shuffle=False)
    numpy_sgd_epoch(weights, biases, inputs, targets, batch_size, ETA)
    for i, (w, b) in enumerate(zip(weights, biases)):
        what = f"sizes {list(sizes)}, batch {batch_size}, {np.dtype(dtype).name}, layer {i + 1}"
        assert_close(network.weights[i], w, dtype, f"weights after one epoch, {what}", steps=3)
        assert_close(network.biases[i], b, dtype, f"biases after one epoch, {what}", steps=3)
    # The timed epochs shuffle: compile that path too. With one mini-batch
    # holding every sample, the order cannot change the step.
    network = fastnn.Network(sizes, seed=SEED, dtype=dtype)
    weights = [w.astype(np.float64) for w in network.weights]
    biases = [b.astype(np.float64) for b in network.biases]
    network.train(inputs, targets, epochs=1, batch_size=n_samples, eta=ETA, seed=SEED)
    numpy_sgd_epoch(weights, biases, inputs, targets, n_samples, ETA)
    assert_close(network.params, np.concatenate([w.ravel() for w in weights] + biases),
                 dtype, f"parameters after one shuffled full batch, sizes {list(sizes)}")
    _checked_training.add(key)
