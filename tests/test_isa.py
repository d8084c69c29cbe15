"""Tiles from the machine: the rule of fastnn.kernels.isa, and every x86
variant of the kernels built and checked in a process of its own.

numba compiles for the CPU that NUMBA_CPU_NAME and NUMBA_CPU_FEATURES name
(the host's when unset), so a subprocess with Haswell's features and
AVX-512 off builds the AVX2 kernels on any AVX-512 machine, and one with
x86-64's builds the SSE2 fallback; each trains small networks with every
driver and compares them with the reference epoch, and with one thread
against two (bitwise). aarch64 code cannot run here: its choice is tested
as a rule (NEON's 32 registers of 128 bits choose AVX-512's blocks).
"""
import json
import os
import subprocess
import sys

import pytest

from fastnn.kernels import blocked, isa

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")

HASWELL = ("+64bit,+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+popcnt,+sse4.2,+sse4.1,+ssse3,+sse3,"
           "+sse2,+sse,+cx16,+lzcnt,+movbe,-avx512f")
X86_64 = "+64bit,+sse,+sse2,+cx8,+fxsr,+mmx,-sse3,-avx,-avx2,-fma,-avx512f"
# family: (NUMBA_CPU_NAME, NUMBA_CPU_FEATURES); None: the host's own
BUILDS = {"avx2": ("haswell", HASWELL), "sse2": ("x86-64", X86_64)}


def test_the_families_are_told_apart_by_their_features():
    assert isa.isa_of("znver4", "+avx2,+fma,+avx512f,+avx512bw", "x86_64").family == "avx512"
    assert isa.isa_of("haswell", HASWELL, "x86_64").family == "avx2"
    assert isa.isa_of("znver3", "+avx,+avx2,+fma,-avx512f", "x86_64").family == "avx2"
    assert isa.isa_of("sandybridge", "+avx,-avx2,-fma", "x86_64").family == "sse2"
    assert isa.isa_of("x86-64", X86_64, "x86_64").family == "sse2"
    neon = isa.isa_of("neoverse-n1", "+neon,+fp-armv8,+crc", "aarch64")
    assert (neon.family, neon.vector_bits, neon.registers) == ("neon", 128, 32)
    assert isa.isa_of("apple-m1", "+neon", "arm64").family == "neon"


def test_the_rule_fits_each_familys_registers():
    """32 registers (AVX-512, NEON): 6x4 sums and 8x4 gradient; 16 (AVX2,
    SSE2): 3x4 sums and 4x4 gradient, whose sums and loaded operands fit
    16 registers."""
    tiles = isa.selectable_tiles()
    assert tiles["neon"] == tiles["avx512"]
    assert tiles["sse2"] == tiles["avx2"]
    assert (tiles["avx512"].forward_samples, tiles["avx512"].forward_rows) == (6, 4)
    assert (tiles["avx512"].gradient_rows, tiles["avx512"].gradient_samples) == (8, 4)
    for family, tile in tiles.items():
        registers = isa.FAMILIES[family][1]
        # sums of a forward block plus its rows' loaded w_jk
        assert tile.forward_samples * tile.forward_rows + tile.forward_rows <= registers
        assert tile.forward_small_samples < tile.forward_samples
        part = isa.rows_per_part(tile)
        for rows in (tile.forward_rows, tile.gradient_rows, tile.gradient_small_rows):
            assert part % rows == 0, (family, part, rows)


def test_the_host_builds_its_own_tiles():
    assert isa.HOST_TILES == isa.tiles_for(isa.HOST_ISA)
    assert blocked.FORWARD_BLOCK == isa.HOST_TILES.forward_samples
    assert blocked.ROWS_PER_PART == isa.rows_per_part(isa.HOST_TILES)
    name = blocked.weighted_sums_block.__name__
    assert name == f"weighted_sums_{blocked.FORWARD_BLOCK}x{blocked.ROW_BLOCK}"


# A network per driver and a remainder of every block: sizes and batch sizes
# that leave samples and rows after the last full block of either family.
VARIANT_CHECK = r"""
import json, sys
import numpy as np
import fastnn
from fastnn import kernels
from fastnn.plan import EpochPlan
from fastnn.kernels import blocked

result = {"family": kernels.HOST_ISA.family, "tiles": list(kernels.HOST_TILES)}
cases = [((20, 13, 7, 3), 11, np.float64), ((20, 13, 7, 3), 7, np.float32),
         ((40, 30, 10), 10, np.float32), ((40, 30, 10), 1, np.float64),
         ((33, 21, 5), 128, np.float32)]
worst = 0.0
for sizes, batch, dtype in cases:
    rng = np.random.default_rng(1)
    n = 61
    X = rng.random((n, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    order = rng.permutation(n).astype(np.int64)
    start = (rng.standard_normal(kernels.parameter_count(sizes)) * 0.3).astype(dtype)
    finals = {}
    drivers = ["train_epoch_reference", "train_epoch", "train_epoch_threaded",
               "train_epoch_staged"]
    drivers += ["train_epoch_per_sample", "train_epoch_per_sample_shared"] if batch == 1 \
        else ["train_epoch_shared"]
    for driver in drivers:
        for threads in (1, 2):
            plan = EpochPlan(sizes, batch, dtype, n, threads, driver=driver, borrow_cores=False)
            params = start.copy()
            plan.run(params, X, Y, order, 0.5)
            finals[(driver, threads)] = params
    expected = finals[("train_epoch_reference", 1)]
    error = 0.0
    for (driver, threads), params in finals.items():
        if threads == 2:
            assert np.array_equal(params, finals[(driver, 1)]), (sizes, batch, driver)
        error = max(error, float(np.max(np.abs(params - expected))))
    assert error < (1e-10 if dtype == np.float64 else 2e-4), (sizes, batch, error)
    worst = max(worst, error)
result["worst"] = worst
if "--asm" in sys.argv:
    registers = {}
    for name in ("weighted_sums_block", "weighted_sums_small", "backward_sums_block",
                 "gradient_rows_block"):
        text = "".join(getattr(blocked, name).inspect_asm().values())
        registers[name] = sorted({r for r in ("xmm", "ymm", "zmm") if r in text})
    result["registers"] = registers
print(json.dumps(result))
"""


def _run_variant(name, features, *, asm, cache_dir=None):
    env = dict(os.environ)
    for variable in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"):
        env.pop(variable, None)
    if name is not None:
        env["NUMBA_CPU_NAME"], env["NUMBA_CPU_FEATURES"] = name, features
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(blocked.__file__)))]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    if asm:
        env["FASTNN_CACHE"] = "0"  # numba shows no assembly of cached kernels
    elif cache_dir is not None:
        env["FASTNN_CACHE_DIR"] = str(cache_dir)
    command = [sys.executable, "-c", VARIANT_CHECK] + (["--asm"] if asm else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# The default run's representative: the AVX2 build's blocked kernels alone
# (a few seconds to compile, where the drivers take minutes on a cold cache).
BLOCKS_CHECK = r"""
import json
import numpy as np
from fastnn import kernels
from fastnn.kernels import blocked, layers
rng = np.random.default_rng(0)
worst = 0.0
for dtype in (np.float64, np.float32):
    m, n_j, n_k = 13, 11, 37  # every block, leftover samples and rows
    w = rng.standard_normal((n_j, n_k)).astype(dtype)
    x = rng.random((m, n_k)).astype(dtype)
    delta = rng.standard_normal((m, n_j)).astype(dtype)
    z = np.zeros((m, n_j), dtype)
    layers.weighted_sums_rows(w, x, z, np.int64(0), np.int64(n_j))
    worst = max(worst, float(np.max(np.abs(z - x @ w.T))))
    sums = np.zeros((m, n_k), dtype)
    for n0 in range(0, m - blocked.BACKWARD_BLOCK + 1, blocked.BACKWARD_BLOCK):
        blocked.backward_sums_block(w, delta, sums, np.int64(n0))
    done = m - m % blocked.BACKWARD_BLOCK
    worst = max(worst, float(np.max(np.abs(sums[:done] - delta[:done] @ w))))
    grad_w, grad_b, b = np.zeros_like(w), np.zeros(n_j, dtype), np.zeros(n_j, dtype)
    layers.gradient_rows(delta, x, w.copy(), b, grad_w, grad_b, dtype(1), dtype(0), dtype(1),
                         np.int64(0), np.int64(n_j))
    worst = max(worst, float(np.max(np.abs(grad_w - delta.T @ x))))
print(json.dumps({"family": kernels.HOST_ISA.family, "tiles": list(kernels.HOST_TILES),
                  "worst": worst}))
"""


@pytest.mark.skipif(JIT_DISABLED, reason="builds compiled code for another ISA")
def test_the_avx2_blocks_compute_the_products():
    """The default run's representative of the variants: the AVX2 build's
    blocked kernels (Haswell's features on this x86 machine), against
    NumPy's products; the slow test below trains every driver."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86 only")
    env = dict(os.environ, NUMBA_CPU_NAME=BUILDS["avx2"][0], NUMBA_CPU_FEATURES=BUILDS["avx2"][1])
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(blocked.__file__)))]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    done = subprocess.run([sys.executable, "-c", BLOCKS_CHECK], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["family"] == "avx2"
    assert result["tiles"] == list(isa.selectable_tiles()["avx2"])
    assert result["worst"] < 1e-3


@pytest.mark.slow
@pytest.mark.skipif(JIT_DISABLED, reason="builds compiled code for another ISA")
@pytest.mark.parametrize("family", ["avx512", "avx2", "sse2"])
def test_every_x86_variant_trains_as_the_reference_with_its_own_registers(family):
    """Each x86 family's kernels, compiled afresh: the reference epoch's
    results, bitwise the same with one and two threads, and the vector
    registers of that family only (no zmm in AVX2 code, no ymm in SSE2)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86 only")
    if family == "avx512":
        if isa.HOST_ISA.family != "avx512" or os.environ.get("NUMBA_CPU_NAME"):
            pytest.skip("needs an AVX-512 host")
        result = _run_variant(None, None, asm=True)
    else:
        result = _run_variant(*BUILDS[family], asm=True)
    assert result["family"] == family
    assert result["tiles"] == list(isa.selectable_tiles()[family])
    widest = {"avx512": "zmm", "avx2": "ymm", "sse2": "xmm"}[family]
    for kernel, registers in result["registers"].items():
        assert max(registers, key=["xmm", "ymm", "zmm"].index) == widest, (kernel, registers)
