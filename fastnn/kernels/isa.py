"""The vector unit the kernels are compiled for, and the register tiles
chosen for it (docs/performance.md, "Tiles from the machine").

Pure Python: nothing here is compiled. The blocked kernels
(``fastnn.kernels.blocked``) are built for ``HOST_TILES`` when the package
is imported, so only the host's variants are ever compiled.

The instruction set is what numba's code generator targets: the host's
CPU name and features as llvmlite reports them, or ``NUMBA_CPU_NAME`` and
``NUMBA_CPU_FEATURES`` when they are set (that is how an AVX2 build is
made, and measured, on an AVX-512 machine; the kernel cache is keyed on
the same two values). Four families are told apart:

=========  ==============  =========  ====================================
family     vector width    registers  machines
=========  ==============  =========  ====================================
avx512     512 bits        32         Intel Skylake-SP and later, AMD Zen 4
avx2       256 bits        16         Intel Haswell and later, AMD Zen 1-3
sse2       128 bits        16         any x86-64 (the generic fallback)
neon       128 bits        32         aarch64 (Graviton, Apple M, Ampere)
=========  ==============  =========  ====================================

``tiles_for`` turns a family's vector registers into the blocks of the
kernels: how many samples n and rows j each pass over k carries in
registers. The rule is written from what those blocks need:

* the weighted sums (§1) keep samples x rows sums, one vector register
  each, plus one register per row for the loaded w_jk (the samples' x_k
  are read as memory operands of the multiply-adds);
* the weight gradient (§7) keeps rows x samples coefficients dC/dz_j[n]
  (broadcast registers where the ISA cannot broadcast from memory inside
  a multiply-add, as AVX2 and SSE2 cannot) plus the samples' x_k;
* the backward sums (§6) keep samples x rows coefficients the same way.

and checked by measurement: on AMD Zen 4 natively (AVX-512) and with AVX2
code on the same core (``scripts/tune_tiles.py``; docs/performance.md has
the tables). The candidates a test builds (tests/test_reference.py) are
``tiles_for`` of every family.
"""
from __future__ import annotations

import math
import os
import platform
from typing import NamedTuple

__all__ = ["Isa", "Tiles", "FAMILIES", "isa_of", "host_isa", "tiles_for", "selectable_tiles",
           "HOST_ISA", "HOST_TILES", "rows_per_part"]

# family: (vector bits, vector registers, multiply-adds broadcast from memory)
FAMILIES = {
    "avx512": (512, 32, True),
    "avx2": (256, 16, False),
    "sse2": (128, 16, False),
    "neon": (128, 32, True),
}


class Isa(NamedTuple):
    """What the kernels are compiled for: the CPU name (llvm's), the family
    (a key of FAMILIES), its vector width in bits and register count, and
    whether a multiply-add can broadcast a scalar from memory (AVX-512's
    {1toN}, NEON's by-element form), which spares a register per
    coefficient."""
    cpu_name: str
    family: str
    vector_bits: int
    registers: int
    broadcast_operands: bool

    def describe(self) -> str:
        """e.g. "avx2 (haswell): 16 vector registers of 256 bits"."""
        return (f"{self.family} ({self.cpu_name}): {self.registers} vector registers of "
                f"{self.vector_bits} bits")


def _has(features: str, name: str) -> bool:
    return f"+{name}" in features.split(",")


def isa_of(cpu_name: str, features: str, machine: str | None = None) -> Isa:
    """The Isa of llvm's CPU name and feature string ("+avx2,-avx512f,...")
    on ``machine`` (platform.machine(); the host's when None)."""
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64"):
        family = "neon"
    elif machine in ("x86_64", "amd64", "x86", "i686", "i386"):
        if _has(features, "avx512f"):
            family = "avx512"
        elif _has(features, "avx2") and _has(features, "fma"):
            family = "avx2"
        else:
            family = "sse2"
    else:  # other architectures: the narrowest vector rule
        family = "sse2"
    bits, registers, broadcast = FAMILIES[family]
    return Isa(cpu_name or "generic", family, bits, registers, broadcast)


def _numba_target() -> tuple[str, str]:
    """CPU name and features numba compiles for (NUMBA_CPU_NAME and
    NUMBA_CPU_FEATURES honoured, as fastnn/_cache.py keys the cache)."""
    from numba.core import config
    from numba.core.codegen import get_host_cpu_features
    import llvmlite.binding as llvm

    name = config.CPU_NAME or llvm.get_host_cpu_name()
    features = config.CPU_FEATURES
    if features is None:
        features = get_host_cpu_features()
    return name, features


def host_isa() -> Isa:
    """The Isa numba compiles fastnn's kernels for in this process."""
    name, features = _numba_target()
    return isa_of(name, features)


class Tiles(NamedTuple):
    """Register blocks of the kernels (fastnn.kernels.blocked).

    forward_samples x forward_rows: samples n and rows j of a pass of the
    weighted sums (§1); forward_small_samples: the smaller block that
    covers the rest of a batch (same rows). backward_samples x
    backward_rows: the backward sums (§6). gradient_rows x
    gradient_samples: the weight gradient (§7); gradient_small_rows: the
    smaller group for the rows left over.
    """
    forward_samples: int
    forward_rows: int
    forward_small_samples: int
    backward_samples: int
    backward_rows: int
    gradient_rows: int
    gradient_samples: int
    gradient_small_rows: int

    def label(self) -> str:
        """e.g. "forward 6x4 (+4x4), backward 4x4, gradient 8x4 (+4)"."""
        return (f"forward {self.forward_samples}x{self.forward_rows} "
                f"(+{self.forward_small_samples}x{self.forward_rows}), backward "
                f"{self.backward_samples}x{self.backward_rows}, gradient "
                f"{self.gradient_rows}x{self.gradient_samples} (+{self.gradient_small_rows})")


def tiles_for(isa: Isa) -> Tiles:
    """The blocks for ``isa``'s registers (see the module docstring).

    32 registers (AVX-512, NEON): 6 samples x 4 rows of sums (24, plus the
    four rows' w_jk), the gradient 8 rows x 4 samples (its 32 coefficients
    broadcast from memory), the backward sums 4 x 4.

    16 registers (AVX2, SSE2): 3 samples x 4 rows of sums (12 + 4 = 16; the
    6 x 4 block of AVX-512 spills there and runs at 0.53-0.56 of it, 4 x 4
    at 0.57-0.60), the gradient 4 rows x 4 samples (8 x 4: 0.82-0.94), the
    backward sums 4 x 4. Measured with ``scripts/tune_tiles.py`` on AMD
    Zen 4, AVX2 code (NUMBA_CPU_NAME=haswell); docs/performance.md.
    """
    if isa.registers >= 32:
        return Tiles(forward_samples=6, forward_rows=4, forward_small_samples=4,
                     backward_samples=4, backward_rows=4,
                     gradient_rows=8, gradient_samples=4, gradient_small_rows=4)
    return Tiles(forward_samples=3, forward_rows=4, forward_small_samples=2,
                 backward_samples=4, backward_rows=4,
                 gradient_rows=4, gradient_samples=4, gradient_small_rows=2)


def selectable_tiles() -> dict:
    """The tiles the rule chooses for each family (a test builds the kernels
    of every one of them and checks them against the references)."""
    return {family: tiles_for(Isa(family, family, *FAMILIES[family])) for family in FAMILIES}


def rows_per_part(tiles: Tiles) -> int:
    """Rows j of a part of a layer split between threads: a multiple of
    every row block (so that a row is summed by the same loop whichever
    part it falls in, and results do not depend on the split), at least 16."""
    block = math.lcm(tiles.forward_rows, tiles.gradient_rows, tiles.gradient_small_rows)
    return block * max(1, -(-16 // block))


def _from_environment() -> Isa:
    try:
        return host_isa()
    except Exception:  # pragma: no cover - llvmlite always answers on supported hosts
        return isa_of("generic", "", os.environ.get("PROCESSOR_ARCHITECTURE"))


HOST_ISA = _from_environment()
HOST_TILES = tiles_for(HOST_ISA)
