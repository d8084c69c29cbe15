"""Inverted dropout (docs/theory.md §12): which hidden units of which
sample are dropped, from a counter-based generator.

Unit k of hidden layer i, for the sample in row n of the whole training
set, in epoch e of a run with dropout seed s, is kept when

    bits(s, e, n, u) >= threshold,   u = L_1 + ... + L_{i-1} + k

(u numbers the hidden units of the network), and then its activation is
scaled by 1 / (1 - p); a dropped unit's is 0. threshold = round(p 2^64),
so that P(dropped) = p to within 2^-64, and the decision is the same in
float32 and float64.

``bits`` is a hash, not a stream: each of its four levels is one output of
SplitMix64 (Steele, Lea and Flood 2014; the finaliser "Mix13" of
Stafford), the counter c of a level taken from a stream seeded with the
key of the level above:

    key(s)       = mix(s + G)
    key(s, e)    = mix(key(s) + (e + 1) G)
    key(s, e, n) = mix(key(s, e) + (n + 1) G)
    bits         = mix(key(s, e, n) + (u + 1) G),      G = 0x9E3779B97F4A7C15

all modulo 2^64. Nothing depends on the order in which the masks are
drawn: a run gives the same masks for any thread count and any epoch
driver, after a resume, and in a stream of chunks, as long as each sample
keeps its row number n. SplitMix64's outputs for consecutive counters pass
BigCrush; tests/test_dropout.py checks uniformity and the independence of
neighbouring units, samples, epochs and seeds, and that a pure-Python
transcription gives the same bits.
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .activation import cast_like

__all__ = ["GOLDEN", "mix", "seed_key", "epoch_key", "sample_key", "unit_bits",
           "dropout_threshold", "kept", "dropout_factor", "drop_row", "MAX_RATE"]

# 2^64 / phi, odd: SplitMix64's increment.
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ONE = np.uint64(1)
# A rate must leave some units: 1 would drop them all and scale by 1 / 0.
MAX_RATE = 0.99


@jit(inline=True)
def mix(x):
    """SplitMix64's finaliser (Stafford's Mix13), a bijection of uint64."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@jit
def seed_key(seed):
    """key(s) = mix(s + G), for a dropout seed s (uint64)."""
    return mix(np.uint64(seed) + GOLDEN)


@jit
def _epoch_key(seed, epoch):
    return mix(seed_key(seed) + (np.uint64(epoch) + _ONE) * GOLDEN)


def epoch_key(seed, epoch) -> np.uint64:
    """key(s, e) = mix(key(s) + (e + 1) G): the key of epoch e (from 0) of a
    run with dropout seed s (0 <= s < 2^64). The drivers take it
    (``objective.Dropout``). A np.uint64: numba hands a uint64 back to
    Python as an int, which it would pass on to the kernels as an int64."""
    seed, epoch = int(seed), int(epoch)
    if not (0 <= seed < 2 ** 64 and 0 <= epoch < 2 ** 63):
        raise ValueError(f"a dropout seed must be in [0, 2^64) and an epoch in [0, 2^63); "
                         f"got seed {seed}, epoch {epoch}")
    return np.uint64(_epoch_key(np.uint64(seed), np.int64(epoch)))


@jit(inline=True)
def sample_key(key, row):
    """key(s, e, n) = mix(key(s, e) + (n + 1) G) for the sample in row n of
    the whole training set."""
    return mix(key + (np.uint64(row) + _ONE) * GOLDEN)


@jit(inline=True)
def unit_bits(row_key, unit):
    """bits = mix(key(s, e, n) + (u + 1) G) for hidden unit u."""
    return mix(row_key + (np.uint64(unit) + _ONE) * GOLDEN)


def dropout_threshold(rate) -> np.uint64:
    """round(p 2^64) as a uint64, for a rate 0 <= p <= MAX_RATE: a unit is
    dropped when its bits are below it (never for p = 0)."""
    rate = float(rate)
    if not 0.0 <= rate <= MAX_RATE:
        raise ValueError(f"a dropout rate must be in [0, {MAX_RATE}]; got {rate!r}")
    return np.uint64(min(round(rate * 2.0 ** 64), 2 ** 64 - 1))


@jit(inline=True)
def kept(row_key, unit, threshold):
    """Whether hidden unit u of the sample whose key is row_key is kept."""
    return unit_bits(row_key, unit) >= threshold


@jit(inline=True)
def dropout_factor(row_key, unit, threshold, scale):
    """D = 1 / (1 - p) for a kept unit (scale, of the network's dtype), 0
    for a dropped one: a' = D a forward, delta = D f' sum backward (§12)."""
    return scale if kept(row_key, unit, threshold) else cast_like(0.0, scale)


@jit
def drop_row(row, row_key, first_unit, threshold, scale):
    """§12: row[k] <- D_k row[k] for the hidden units u = first_unit + k of
    one sample: its activations forward, or its deltas backward (the same
    factor). row: (L_i,); scale: 1 / (1 - p), of row's dtype."""
    zero = cast_like(0.0, row)
    for k in range(row.shape[0]):
        keep = unit_bits(row_key, first_unit + k) >= threshold
        row[k] = row[k] * scale if keep else zero
