"""The machine a figure was measured on, in one line: CPU model, the ISA the
kernels are built for, vector width, cores, and the BLAS core types.

``describe()`` is what ``fastnn info``, the benchmark scripts
(scripts/bench_peers.py, bench_compile.py, bench_kernels_ab.py, ...) and
the asv suite's machine description print beside their figures, so that
no figure goes without its CPU. Pure Python and cheap to import: it does
not import numpy's or SciPy's BLAS itself (it reports the ones already
loaded, and what ``OPENBLAS_CORETYPE`` asks for).
"""
from __future__ import annotations

import os
import platform
import sys

__all__ = ["cpu_model", "describe", "machine_facts", "blas_core_types"]


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; elsewhere what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as stream:
            facts = {}
            for line in stream:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "vendor_id", "CPU implementer",
                           "CPU part") and key not in facts:
                    facts[key] = value.strip()
                if not line.strip() and facts:
                    break
    except OSError:
        facts = {}
    name = facts.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in facts and "model" in facts:
        name += f" (family {facts['cpu family']} model {facts['model']})"
    elif "CPU part" in facts:
        name += f" (implementer {facts.get('CPU implementer')} part {facts['CPU part']})"
    return name


def blas_core_types() -> list[str]:
    """The OpenBLAS libraries loaded in this process with the core type each
    runs (threadpoolctl's view, when it is installed), plus OPENBLAS_CORETYPE."""
    found = []
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                path = os.path.basename(pool.get("filepath") or "")
                owner = "numpy" if "numpy" in (pool.get("filepath") or "") else (
                    "scipy" if "scipy" in (pool.get("filepath") or "") else path)
                found.append(f"{owner} {pool.get('internal_api')} {pool.get('version')} "
                             f"{pool.get('architecture')}")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        found.append(f"OPENBLAS_CORETYPE={coretype}")
    return found


def machine_facts() -> dict:
    """CPU model, the kernels' ISA (family, llvm CPU name, vector width,
    registers), cores (this process's affinity / the machine's), BLAS."""
    from .kernels import isa

    host = isa.host_isa()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    emulated = bool(os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES"))
    return {
        "cpu": cpu_model(),
        "isa": host.family,
        "llvm_cpu": host.cpu_name,
        "vector_bits": host.vector_bits,
        "vector_registers": host.registers,
        "cores": cores,
        "machine_cores": os.cpu_count() or cores,
        "isa_from_environment": emulated,
        "blas": blas_core_types(),
        "platform": f"{sys.platform} {platform.machine()}",
    }


def describe() -> str:
    """One line naming the machine, e.g. "AMD EPYC (family 25 model 17); kernels
    avx2 (haswell, 256-bit x 16 registers, set by NUMBA_CPU_NAME/FEATURES);
    2 cores; BLAS: numpy openblas 0.3.31 Haswell"."""
    facts = machine_facts()
    kernels = (f"kernels {facts['isa']} ({facts['llvm_cpu']}, {facts['vector_bits']}-bit x "
               f"{facts['vector_registers']} registers"
               + (", set by NUMBA_CPU_NAME/NUMBA_CPU_FEATURES" if facts["isa_from_environment"]
                  else "") + ")")
    cores = f"{facts['cores']} cores" + (
        f" of {facts['machine_cores']}" if facts["machine_cores"] != facts["cores"] else "")
    blas = "; BLAS: " + ", ".join(facts["blas"]) if facts["blas"] else ""
    return f"CPU: {facts['cpu']}; {kernels}; {cores}{blas}"
