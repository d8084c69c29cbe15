#!/usr/bin/env python
"""The asv machine of this computer, named after its CPU model and the ISA the kernels use.

    python scripts/asv_machine.py             print the name, e.g. amd-epyc-f25m17-znver4-avx512
    python scripts/asv_machine.py --register  also write it to asv's machine file
                                              (~/.asv-machine.json), with the CPU described

asv files results per machine name (asv_benches/results/<name>/), so the name
decides which runs are compared and graphed together. It carries what
decides fastnn's speed: the CPU model (vendor string, family and model), the
LLVM target numba compiles for and its widest vector ISA. An AVX2 run
emulated on an AVX-512 machine (NUMBA_CPU_NAME=haswell, NUMBA_CPU_FEATURES
without +avx512f, see COORDINATION.md) gets a name of its own, e.g.
amd-epyc-f25m17-as-haswell-avx2, and so separate results.

Pure standard library plus llvmlite (numba's), and no import of fastnn: the
same name whatever commit asv measures.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys


def _cpuinfo() -> dict:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """e.g. "AMD EPYC (family 25 model 17)"; the model name alone where
    /proc/cpuinfo has no family (not x86), platform.processor() without it."""
    info = _cpuinfo()
    name = info.get("model name") or info.get("Model") or platform.processor() or platform.machine()
    name = re.sub(r"\s+", " ", name).strip()
    if "cpu family" in info and "model" in info:
        return f"{name} (family {info['cpu family']} model {info['model']})"
    return name


def _parse_features(text: str) -> dict:
    """LLVM's "+avx2,-avx512f,..." as {"avx2": True, "avx512f": False}."""
    features = {}
    for item in text.split(","):
        item = item.strip()
        if item[:1] in "+-" and len(item) > 1:
            features[item[1:]] = item[0] == "+"
    return features


def llvm_target() -> tuple[str, dict, bool]:
    """(LLVM CPU name, features, emulated): what numba compiles for here.

    NUMBA_CPU_NAME / NUMBA_CPU_FEATURES, when set, override the host (the
    AVX2 emulation); then ``emulated`` is True.
    """
    import llvmlite.binding as llvm

    host_name = llvm.get_host_cpu_name()
    features = dict(llvm.get_host_cpu_features())
    name = os.environ.get("NUMBA_CPU_NAME")
    if name and name not in ("host", host_name):
        emulated_features = os.environ.get("NUMBA_CPU_FEATURES", "")
        # numba takes the named CPU's own features when none are given.
        features = _parse_features(emulated_features) if emulated_features else {}
        if not emulated_features and name == "generic":
            features = {}
        return name, features, True
    return host_name, features, False


def widest_isa(features: dict, cpu_name: str = "") -> str:
    """The widest x86 vector ISA the features enable: avx512, avx2, avx or sse."""
    if features.get("avx512f"):
        return "avx512"
    if features.get("avx2"):
        return "avx2"
    if features.get("avx"):
        return "avx"
    if features or cpu_name:
        known = {"haswell": "avx2", "broadwell": "avx2", "skylake": "avx2", "znver1": "avx2",
                 "znver2": "avx2", "znver3": "avx2", "skylake-avx512": "avx512",
                 "icelake-server": "avx512", "sapphirerapids": "avx512", "znver4": "avx512"}
        if not features and cpu_name in known:
            return known[cpu_name]
    return "sse" if platform.machine() in ("x86_64", "AMD64", "i686") else platform.machine()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def machine_name() -> str:
    """e.g. "amd-epyc-f25m17-znver4-avx512"."""
    info = _cpuinfo()
    model = info.get("model name") or info.get("Model") or platform.processor() or platform.machine()
    # Marketing noise that makes names long without telling CPUs apart.
    model = re.sub(r"\((R|TM|tm|r)\)|\bCPU\b|\bProcessor\b|\d+-Core|@.*$", " ", model)
    parts = [_slug(model)]
    if "cpu family" in info and "model" in info:
        parts.append(f"f{info['cpu family']}m{info['model']}")
    cpu_name, features, emulated = llvm_target()
    parts.append(("as-" if emulated else "") + _slug(cpu_name))
    parts.append(widest_isa(features, cpu_name))
    return "-".join(part for part in parts if part)


def description() -> str:
    """asv's "cpu" field: model, LLVM target, ISA and CPU count."""
    cpu_name, features, emulated = llvm_target()
    target = f"{'emulating ' if emulated else ''}LLVM target {cpu_name}"
    return f"{cpu_model()}, {target}, {widest_isa(features, cpu_name)}, {os.cpu_count()} CPUs"


def _ram() -> str:
    try:
        with open("/proc/meminfo") as file:
            kib = int(file.readline().split()[1])
        return f"{kib // 1024 ** 2} GiB"
    except (OSError, ValueError, IndexError):
        return ""


def register(name: str) -> None:
    """Write the machine into asv's machine file (asv machine --yes), from asv_benches/."""
    asv_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "asv_benches")
    command = [sys.executable, "-m", "asv", "machine", "--yes", "--machine", name,
               "--cpu", description(), "--arch", platform.machine(),
               "--os", f"{platform.system()} {platform.release()}",
               "--num_cpu", str(os.cpu_count()), "--ram", _ram()]
    subprocess.run(command, cwd=asv_dir, check=True, stdout=subprocess.DEVNULL)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--register", action="store_true",
                        help="also write the machine into asv's machine file")
    parser.add_argument("--describe", action="store_true", help="print the CPU description too")
    arguments = parser.parse_args(argv)
    name = machine_name()
    if arguments.register:
        register(name)
    print(name)
    if arguments.describe:
        print(description())
    return 0


if __name__ == "__main__":
    sys.exit(main())
