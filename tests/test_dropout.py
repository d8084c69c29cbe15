"""Dropout's generator (docs/theory.md §12): its bits are the definition's,
the same in every process, uniform, and independent between neighbouring
units, samples, epochs and seeds; masks keep each unit with probability
1 - p and scale it by 1 / (1 - p)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnn.kernels import dropout, reference

import naive

ROOT = Path(__file__).parents[1]
# Chi-square bounds far out in the tail: the inputs are fixed, so a test
# either passes or fails for good; these bounds only say how far from
# uniform is too far (about p = 1e-6 for a uniform generator).
CHI2_BOUND = {1: 24.0, 3: 30.7, 15: 51.0, 255: 390.0}


def kernel_masks(seed, epoch, rows, n_units, rate, first_row=0, first_unit=0, dtype=np.float64):
    """D[n, u] from the kernels: dropout_reference applied to ones."""
    values = np.ones((len(rows), n_units), dtype)
    reference.dropout_reference(values, np.asarray(rows, np.int64), np.int64(first_row),
                                dropout.epoch_key(seed, epoch),
                                np.int64(first_unit), dropout.dropout_threshold(rate),
                                1.0 / (1.0 - rate))
    return values


def chi_square(counts, expected):
    return float(np.sum((counts - expected) ** 2 / expected))


def test_the_kernels_bits_are_the_definitions():
    """The compiled hash against a NumPy transcription of its definition
    (docs/theory.md §12, tests/naive.py), bit for bit, over seeds, epochs,
    rows and units of every magnitude, and against Python's own integers
    for one value worked through the four levels."""
    seeds = [0, 1, 42, 2 ** 32 + 7, 2 ** 63 + 5, 2 ** 64 - 1]
    epochs = [0, 1, 999]
    rows = np.array([0, 1, 2, 17, 60_000, 2 ** 40 + 3], np.int64)
    units = np.array([0, 1, 5, 255, 70_000], np.int64)
    for seed in seeds:
        for epoch in epochs:
            key = dropout.epoch_key(seed, epoch)
            expected = naive.dropout_bits(seed, epoch, rows, units)
            got = np.array([[dropout.unit_bits(np.uint64(dropout.sample_key(key, np.int64(n))),
                                               np.int64(u))
                             for u in units] for n in rows], dtype=np.uint64)
            assert np.array_equal(got, expected), (seed, epoch)

    mask64 = 2 ** 64 - 1

    def mix(x):
        x ^= x >> 30
        x = (x * 0xBF58476D1CE4E5B9) & mask64
        x ^= x >> 27
        x = (x * 0x94D049BB133111EB) & mask64
        return x ^ (x >> 31)

    golden = 0x9E3779B97F4A7C15
    key = mix((12345 + golden) & mask64)
    for counter in (7, 300, 12):  # epoch 7, row 300, unit 12
        key = mix((key + (counter + 1) * golden) & mask64)
    epoch_key = dropout.epoch_key(12345, 7)
    row_key = np.uint64(dropout.sample_key(epoch_key, np.int64(300)))
    assert int(dropout.unit_bits(row_key, np.int64(12))) == key


def test_masks_keep_one_minus_p_and_scale_by_its_inverse():
    rows = np.arange(2000)
    for rate in (0.1, 0.25, 0.5, 0.8, dropout.MAX_RATE):
        d = kernel_masks(3, 0, rows, 250, rate)
        scale = 1.0 / (1.0 - rate)
        assert set(np.unique(d)) <= {0.0, scale}
        kept = np.mean(d > 0)
        sigma = np.sqrt(rate * (1 - rate) / d.size)
        assert abs(kept - (1 - rate)) < 5 * sigma, (rate, kept)
        # inverted dropout keeps the expected activation: E[D] = 1
        assert abs(np.mean(d) - 1.0) < 5 * sigma * scale
    assert np.all(kernel_masks(3, 0, rows[:50], 30, 0.0) == 1.0)


def test_a_mask_is_the_same_in_float32_and_float64():
    rows = np.arange(300)
    d64 = kernel_masks(9, 2, rows, 40, 0.3)
    d32 = kernel_masks(9, 2, rows, 40, 0.3, dtype=np.float32)
    assert np.array_equal(d64 > 0, d32 > 0)


def test_rows_and_units_are_counted_in_the_whole_data_set():
    """A chunk that starts at row 1000 draws the masks of rows 1000.. of the
    whole set; layer 2's first unit is unit L_1 of the network."""
    whole = kernel_masks(5, 4, np.arange(1200), 50, 0.4)
    chunk = kernel_masks(5, 4, np.arange(200), 50, 0.4, first_row=1000)
    assert np.array_equal(chunk, whole[1000:])
    shifted = kernel_masks(5, 4, np.arange(100), 20, 0.4, first_unit=30)
    assert np.array_equal(shifted, whole[:100, 30:])
    shuffled = np.random.default_rng(0).permutation(1200)
    assert np.array_equal(kernel_masks(5, 4, shuffled, 50, 0.4), whole[shuffled])


def test_the_bits_are_uniform():
    """The top byte and the low byte of 2^20 outputs over rows x units fall
    evenly into 256 bins; so do the keep decisions at 15 thresholds of the
    kernels (the distribution function at k/16)."""
    bits = naive.dropout_bits(11, 3, np.arange(1024), np.arange(1024)).ravel()
    expected = bits.size / 256
    for byte in (bits >> np.uint64(56), bits & np.uint64(255)):
        counts = np.bincount(byte.astype(np.int64), minlength=256)
        assert chi_square(counts, expected) < CHI2_BOUND[255]
    rows = np.arange(400)
    kept = [np.sum(kernel_masks(11, 3, rows, 400, k / 16) > 0) for k in range(1, 16)]
    counts = -np.diff([rows.size * 400, *kept, 0])  # samples in each sixteenth
    assert chi_square(counts, rows.size * 400 / 16) < CHI2_BOUND[15]


@pytest.mark.parametrize("neighbour", ["unit", "row", "epoch", "seed"])
def test_neighbouring_masks_are_independent(neighbour):
    """The masks of unit u and u+1 (row n and n+1, epoch e and e+1, seed s
    and s+1) at p = 0.5 fall into the four cells (kept, kept), ... equally,
    and their uniform values are uncorrelated."""
    rows, units = np.arange(2048), np.arange(64)
    first = naive.dropout_bits(7, 2, rows, units)
    second = {"unit": naive.dropout_bits(7, 2, rows, units + 1),
              "row": naive.dropout_bits(7, 2, rows + 1, units),
              "epoch": naive.dropout_bits(7, 3, rows, units),
              "seed": naive.dropout_bits(8, 2, rows, units)}[neighbour]
    half = np.uint64(2 ** 63)
    a, b = (first >= half).ravel(), (second >= half).ravel()
    counts = np.array([np.sum(a & b), np.sum(a & ~b), np.sum(~a & b), np.sum(~a & ~b)])
    assert chi_square(counts, a.size / 4) < CHI2_BOUND[3]
    u, v = ((x >> np.uint64(11)).astype(np.float64).ravel() / 2.0 ** 53 for x in (first, second))
    assert abs(np.corrcoef(u, v)[0, 1]) < 5 / np.sqrt(u.size)


def test_rates_outside_zero_to_max_rate_are_refused():
    for bad in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="dropout rate must be in"):
            dropout.dropout_threshold(bad)
    assert dropout.dropout_threshold(0.0) == 0
    assert dropout.dropout_threshold(0.5) == 2 ** 63


@pytest.mark.slow
def test_the_masks_are_the_same_in_another_process():
    code = ("import numpy as np; from fastnn.kernels import dropout, reference\n"
            "v = np.ones((64, 33)); reference.dropout_reference(v, np.arange(64), np.int64(10), "
            "dropout.epoch_key(77, 5), np.int64(3), "
            "dropout.dropout_threshold(0.45), 1 / 0.55)\n"
            "print(''.join('1' if x else '0' for x in (v.ravel() > 0)))")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="123")
    child = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True, timeout=300)
    here = kernel_masks(77, 5, np.arange(64), 33, 0.45, first_row=10, first_unit=3)
    assert child.stdout.strip() == "".join("1" if x else "0" for x in (here.ravel() > 0))
