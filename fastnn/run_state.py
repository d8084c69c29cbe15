"""The state of a training run: what was asked, how far it got, what it measured.

A leaf (it imports nothing of fastnn): the training loop
(``fastnn.training``), the checkpoint file format (``fastnn.checkpoint``),
streaming and ``fastnn.dask`` all share these.

* :class:`TrainingState`: the run's arguments, its progress (epochs done,
  and the samples of the next epoch whose steps are taken), and what must
  survive a stop for a resume to be bitwise the uninterrupted run: the
  seed of the shuffle stream, the optimizer's own arrays, the kernel plan.
* :class:`TrainingHistory`: what was measured, one entry per epoch.
* :func:`epoch_seed`: each epoch's shuffle seed, a function of the run's
  seed and the epoch's number only, so that an epoch resumed in another
  process shuffles exactly as it would have.
* :func:`dropout_seed`: the seed of the run's dropout masks (the
  generator of ``fastnn.kernels.dropout`` takes it with the epoch's
  number), also a function of the run's seed only.
* :func:`data_checksum`: tells a resume that it was handed other data.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrainingState", "TrainingHistory", "epoch_seed", "dropout_seed", "data_checksum",
           "set_total_epochs", "EPOCH_SEED_TYPE"]

# Epoch seeds are drawn this many at a time; the first block is the
# original stream of SeedSequence(seed).generate_state, so seeds (and
# results) of runs shorter than this did not change when checkpoints came.
SEEDS_PER_BLOCK = 4096
# The type of the epochs' shuffle seeds (SeedSequence.generate_state).
EPOCH_SEED_TYPE = np.uint32


@dataclass
class TrainingState:
    """How a training run was asked to go, and how far it got.

    optimizer, optimizer_options, optimizer_arrays: the step rule (plain
    SGD, ``"sgd"``, the design document's §7, has no state) and, for rules
    that keep state between steps, its scalar settings and its arrays
    (velocities, moments, a step count as a 0-d array), keyed by name.
    The loop restores the arrays with the parameters after a divergence,
    and checkpoints carry them, so that a resume continues bitwise.
    plan: the kernel plan the run chose (names and numbers, keyed by
    name), recorded so that a resume runs the same kernels; empty: chosen
    afresh from the machine.
    """

    epochs: int  # epochs the run trains in total
    batch_size: int
    eta: float
    shuffle: bool
    seed_entropy: int  # numpy.random.SeedSequence(seed).entropy
    checkpoint_every: int = 1
    epochs_done: int = 0
    samples_done: int = 0  # of epoch epochs_done, where Ctrl-C stopped it
    partial_cost: float = 0.0  # sum_n C_n over those samples
    lmbda: float = 0.0  # L2 (docs/theory.md §10)
    optimizer: str = "sgd"
    optimizer_options: dict = field(default_factory=dict)
    optimizer_arrays: dict = field(default_factory=dict)
    plan: dict = field(default_factory=dict)


@dataclass
class TrainingHistory:
    """What a training run measured, one entry per epoch.

    cost: mean C over the epoch's samples, each C taken in the forward pass
        that computed its gradient (before that mini-batch's step), as
        scikit-learn's ``loss_curve_`` does; it costs no extra pass.
    test_accuracy: ``evaluate(*test_data)`` after the epoch, if test data
        was given, else empty.
    seconds: wall time of the epoch's training (not of the evaluation).
    compile_seconds: time spent before the first epoch compiling the
        kernels this call runs, or loading them from the disk cache
        (milliseconds once they are cached); not part of ``seconds``.
    driver: the epoch kernel the last epoch ran (``fastnn.plan.EpochPlan``).
    plan: the kernel plan of the run (``TrainingState.plan``).
    diverged_at: the epoch (from 1) whose cost or parameters became NaN or
        inf, or None; it is not in ``cost`` (its parameters were undone).
    saturated_at: the epoch after which the outputs were found pinned at 0
        or 1 with the cost no longer moving, or None.
    interrupted_at: ``(epoch, samples)`` where Ctrl-C stopped the run (the
        steps of those samples of that epoch are taken), or None.
    optimizer: the optimizer's state at the end of the run
        (``fastnn.optimizers.OptimizerState``; ``Network.train(optimizer=
        history.optimizer)`` continues it), or None for plain SGD.
    """

    cost: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    compile_seconds: float = 0.0
    driver: str = ""
    plan: dict = field(default_factory=dict)
    diverged_at: int | None = None
    saturated_at: int | None = None
    interrupted_at: tuple | None = None
    optimizer: object = None

    @property
    def epochs(self) -> int:
        return len(self.cost)


_seed_block_cache = {}


def epoch_seed(entropy, epoch):
    """The shuffle seed of epoch ``epoch`` (from 0) of the run whose
    SeedSequence entropy is ``entropy``."""
    block, index = divmod(int(epoch), SEEDS_PER_BLOCK)
    key = (entropy, block)
    seeds = _seed_block_cache.get(key)
    if seeds is None:
        spawn_key = () if block == 0 else (block,)
        seeds = np.random.SeedSequence(entropy, spawn_key=spawn_key).generate_state(
            SEEDS_PER_BLOCK, dtype=EPOCH_SEED_TYPE)
        _seed_block_cache.clear()  # one run at a time needs one block
        _seed_block_cache[key] = seeds
    return seeds[index]


# The spawn key of the dropout seed's SeedSequence: two numbers, so that it
# is never one of the epoch seeds' blocks (one number each).
_DROPOUT_SPAWN_KEY = (0x64726F70, 0x6F7574)  # "drop", "out"


def dropout_seed(entropy) -> int:
    """The dropout seed (0 <= s < 2^64) of the run whose SeedSequence
    entropy is ``entropy``: its masks are independent of its shuffles."""
    low, high = np.random.SeedSequence(entropy, spawn_key=_DROPOUT_SPAWN_KEY).generate_state(
        2, dtype=np.uint32)
    return int(low) | (int(high) << 32)


def data_checksum(inputs, targets, sample_weight=None) -> int:
    """CRC-32 of the training data's bytes (C-contiguous arrays; the sample
    weights too, when there are any), to tell a resume that it was handed
    other data. About 1 GB/s."""
    checksum = 0
    arrays = (inputs, targets) if sample_weight is None else (inputs, targets, sample_weight)
    for array in arrays:
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        for start in range(0, flat.size, 1 << 26):
            checksum = zlib.crc32(flat[start:start + (1 << 26)], checksum)
    return checksum


def set_total_epochs(state, epochs) -> None:
    """A resumed run's new total of epochs (``resume(epochs=...)``, checked
    by the caller): ValueError if fewer than the run has done already."""
    if epochs < state.epochs_done:
        raise ValueError(f"epochs={epochs} is fewer than the {state.epochs_done} the "
                         "checkpoint has done already")
    state.epochs = epochs
