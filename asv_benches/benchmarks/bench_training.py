"""Training through the public API: epoch time, throughput, memory, accuracy.

Workloads W1-W4 (defined in scripts/workloads.py, with the sample counts of
``_common.WORKLOADS``) are the speed issue's; their sample counts are
smaller than MNIST's 60,000 so that the suite stays short, and large enough
that an epoch takes tens of milliseconds. The inputs are synthetic
(uniform in [0, 1), one-hot targets), seeded.
"""
import time

import numpy as np

import fastnn

from ._common import (
    ETA,
    NEURONS,
    OBJECTIVES,
    SEED,
    check_neurons_training,
    check_objective_training,
    objective_arguments,
    WORKLOAD_NAMES,
    WORKLOADS,
    check_training,
    flops_per_sample,
    numpy_feedforward,
    synthetic_data,
    take_every_thread,
)

# Every epoch timed here gets the threads it asks for (see take_every_thread).
take_every_thread()

_data = {}


def _workload_data(name):
    """The workload's seeded data set, generated once per process."""
    if name not in _data:
        workload = WORKLOADS[name]
        _data[name] = synthetic_data(workload.n_samples, workload.sizes, workload.dtype)
    return _data[name]


class TrainEpoch:
    """Wall time of one ``Network.train(..., epochs=1)`` call.

    The benchmark that flags a slowdown of training in ``asv_run.sh
    compare``: 4 rounds (asv's default is 2), which ``compare`` alternates
    between the two commits, so that a change in the machine's load between
    rounds hits both (a few seconds more per commit).
    """

    params = [WORKLOAD_NAMES]
    param_names = ["workload"]
    rounds = 4

    def setup(self, workload):
        spec = WORKLOADS[workload]
        check_training(spec.sizes, spec.batch_size, spec.dtype)
        self.inputs, self.targets = _workload_data(workload)
        # A fresh network per timed call (asv re-runs setup between calls):
        # every sample times the same epoch from the same weights.
        self.network = fastnn.Network(spec.sizes, seed=SEED, dtype=spec.dtype)
        self.batch_size = spec.batch_size

    def time_train_epoch(self, workload):
        self.network.train(self.inputs, self.targets, epochs=1, batch_size=self.batch_size,
                           eta=ETA, seed=SEED)


class TrainEpochOneThread(TrainEpoch):
    """``TrainEpoch`` on one thread (``n_threads=1``): what a one-core job
    (a CI runner, a cluster slot, ``taskset -c 0``) gets, and the steadiest
    epoch timing of the suite. On two threads, W4's epoch medians of
    identical code differed by up to 1.4x between asv processes (36-52 ms),
    so a planted 15% slowdown went unflagged; on one thread the same
    slowdown showed in all 10 alternating pairs of scripts/bench_ab.py
    (0.86x). ``compare`` flags it here (scripts/asv_compare_floor.py)."""

    def time_train_epoch(self, workload):
        self.network.train(self.inputs, self.targets, epochs=1, batch_size=self.batch_size,
                           eta=ETA, seed=SEED, n_threads=1)


class TrainEpochObjective:
    """``TrainEpoch`` with the objectives of docs/theory.md section 10: the
    cross-entropy, an identity output, L2 and sample weights (issue 15),
    each against the same workload's plain epoch in ``TrainEpoch``. W1 is
    per-sample SGD (its deferred L2 step), W2 and W3 the shared mini-batch
    epoch."""

    params = [["W1", "W2", "W3"], list(OBJECTIVES)]
    param_names = ["workload", "objective"]

    def setup(self, workload, objective):
        spec = WORKLOADS[workload]
        check_objective_training(spec.sizes, spec.batch_size, spec.dtype, objective)
        self.inputs, self.targets = _workload_data(workload)
        network_arguments, self.train_arguments = objective_arguments(
            objective, self.inputs.shape[0])
        self.network = fastnn.Network(spec.sizes, seed=SEED, dtype=spec.dtype,
                                      **network_arguments)
        self.batch_size = spec.batch_size

    def time_train_epoch(self, workload, objective):
        self.network.train(self.inputs, self.targets, epochs=1, batch_size=self.batch_size,
                           seed=SEED, **self.train_arguments)


class TrainEpochNeurons:
    """``TrainEpoch`` with the neurons of docs/theory.md sections 11 and 12
    (issue 23): ReLU and tanh hidden layers, a softmax output with the
    log-likelihood, dropout of 0.5 on the hidden layer, each against the
    same workload's logistic epoch in ``TrainEpoch``; each checked first
    against ``numpy_sgd_epoch`` with the same neurons."""

    params = [["W2", "W3"], list(NEURONS)]
    param_names = ["workload", "neurons"]

    def setup(self, workload, neurons):
        spec = WORKLOADS[workload]
        check_neurons_training(spec.sizes, spec.batch_size, spec.dtype, neurons)
        self.inputs, self.targets = _workload_data(workload)
        network_arguments, self.train_arguments = NEURONS[neurons]
        self.network = fastnn.Network(spec.sizes, seed=SEED, dtype=spec.dtype,
                                      **network_arguments)
        self.batch_size = spec.batch_size

    def time_train_epoch(self, workload, neurons):
        self.network.train(self.inputs, self.targets, epochs=1, batch_size=self.batch_size,
                           seed=SEED, **self.train_arguments)


class Throughput:
    """Samples per second and GFLOP/s of training, best of 2 epochs.

    Higher is better here, which asv does not know: in ``asv compare`` a
    drop shows as an improvement. ``TrainEpoch`` times the same workloads and
    is the one that flags regressions.
    """

    params = [WORKLOAD_NAMES]
    param_names = ["workload"]
    epochs_measured = 2

    def setup(self, workload):
        spec = WORKLOADS[workload]
        check_training(spec.sizes, spec.batch_size, spec.dtype)
        self.spec = spec
        self.inputs, self.targets = _workload_data(workload)

    def _best_epoch_seconds(self):
        network = fastnn.Network(self.spec.sizes, seed=SEED, dtype=self.spec.dtype)
        seconds = []
        for epoch in range(self.epochs_measured):
            started = time.perf_counter()
            network.train(self.inputs, self.targets, epochs=1,
                          batch_size=self.spec.batch_size, eta=ETA, seed=SEED + epoch)
            seconds.append(time.perf_counter() - started)
        if not np.isfinite(network.params).all():
            raise AssertionError("training diverged: the parameters hold NaN or inf")
        return min(seconds)

    def track_samples_per_second(self, workload):
        return self.spec.n_samples / self._best_epoch_seconds()

    track_samples_per_second.unit = "samples/s"

    def track_gflops(self, workload):
        flops = self.spec.n_samples * flops_per_sample(self.spec.sizes)
        return flops / self._best_epoch_seconds() / 1e9

    track_gflops.unit = "GFLOP/s"


class PeakMemoryTraining:
    """Peak resident memory of a process training one epoch on 60,000 x 784 float32.

    The network is W3's (784-100-10, batch 32): its few, larger mini-batches
    keep the epoch to seconds even when the cores are shared. The figure
    includes the data set itself (60,000 x 784 x 4 B = 188 MB, plus 2.4 MB of
    targets) and the interpreter with numpy and numba; what it tracks is how
    much training adds on top (a copy of the inputs would add another 188 MB).
    """

    n_samples = 60_000
    sizes = WORKLOADS["W3"].sizes  # (784, 100, 10)
    batch_size = WORKLOADS["W3"].batch_size  # 32

    def setup(self):
        check_training(self.sizes, self.batch_size, np.float32)
        self.inputs, self.targets = synthetic_data(self.n_samples, self.sizes, np.float32)
        self.network = fastnn.Network(self.sizes, seed=SEED, dtype=np.float32)

    def peakmem_train_epoch_60000x784_float32(self):
        self.network.train(self.inputs, self.targets, epochs=1, batch_size=self.batch_size,
                           eta=ETA, seed=SEED)


class DigitsAccuracy:
    """Test accuracy after 10 epochs on scikit-learn's bundled 8x8 digits.

    64-30-10, float64, inputs / 16, train_test_split(test_size=450,
    random_state=0), batch 10, eta 3.0, seed 0 for the weights and the
    shuffling. Higher is better (asv would show a drop as an improvement).
    """

    sizes = (64, 30, 10)
    batch_size = 10
    epochs = 10

    def setup(self):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        check_training(self.sizes, self.batch_size, np.float64)
        digits = load_digits()
        inputs = digits.data / 16.0
        (self.train_inputs, self.test_inputs,
         self.train_labels, self.test_labels) = train_test_split(
            inputs, digits.target, test_size=450, random_state=0)
        # evaluate() is what the benchmark reports: check it on the
        # untrained network against NumPy's argmax of the forward pass.
        network = fastnn.Network(self.sizes, seed=SEED)
        expected = np.mean(
            np.argmax(numpy_feedforward(network.weights, network.biases, self.test_inputs),
                      axis=1) == self.test_labels)
        measured = network.evaluate(self.test_inputs, self.test_labels)
        if measured != expected:
            raise AssertionError(
                f"Network.evaluate gives {measured}, NumPy's forward pass {expected}")

    def track_test_accuracy_after_10_epochs(self):
        network = fastnn.Network(self.sizes, seed=SEED)
        network.train(self.train_inputs, self.train_labels, epochs=self.epochs,
                      batch_size=self.batch_size, eta=ETA, seed=SEED)
        return network.evaluate(self.test_inputs, self.test_labels)

    track_test_accuracy_after_10_epochs.unit = "fraction correct"
