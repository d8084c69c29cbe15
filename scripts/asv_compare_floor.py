#!/usr/bin/env python
"""The floor of `scripts/asv_run.sh compare`: exit 1 on a planted 15% slowdown
of an epoch kernel, 0 on two separate builds of identical code.

    python scripts/asv_compare_floor.py [--keep DIR] [--bench REGEX]

In a scratch clone of this repository at HEAD it makes

* ``same``: an empty commit on HEAD (identical code, built and installed
  anew by asv, its kernels compiled anew), and
* ``slow``: HEAD with the staged epoch (fastnn/kernels/staged.py, the
  big-layer engine's loop) computing every forward part of every third
  batch twice. The repeat writes the same activations, so the results do
  not change. W4 runs that epoch (train_epoch_staged, on one thread or
  two; W1-W3 take the shared epochs): its forward pass is 44% of a
  mini-batch's multiply-adds (268,800 of 605,696), a third of them again is
  +15% on its epoch,

then runs ``scripts/asv_run.sh compare HEAD same`` and ``compare HEAD slow``
on the epoch benchmarks (``bench_training.TrainEpoch.time_train_epoch``,
W1-W4 on the default threads, and ``TrainEpochOneThread``, the same on one
thread, the timing steady enough to show 15%) and prints both reports. Exits 0 when the first exits 0 and the second
exits 1 with a slowdown ("+", not a failure "!") flagged; else 1.
Takes ~6-10 minutes on 2 cores: three builds, each compiling every kernel
once, and three measured runs of the eight epochs.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCH_LOOP_FILE = os.path.join("fastnn", "kernels", "staged.py")
# The statement of a staged worker that runs one part of one stage.
PART_CALL = re.compile(r"^(?P<indent>[ \t]+)(?P<call>_run_part\(epoch, batch, stage, .*\))"
                       r"[ \t]*$", re.MULTILINE)
REPEAT_EVERY = 3  # batches: the first of every three is computed twice


def plant_slowdown(text: str) -> str:
    """``text`` (staged.py) with the forward parts of every third batch run twice."""
    matches = list(PART_CALL.finditer(text))
    if len(matches) != 1 or "FORWARD" not in text:
        raise SystemExit(
            f"cannot plant the slowdown: {EPOCH_LOOP_FILE} no longer has one "
            "`_run_part(epoch, batch, stage, ...)` statement in its worker loop "
            f"(found {len(matches)}); update PART_CALL in {os.path.basename(__file__)}")
    match = matches[0]
    indent, call = match.group("indent"), match.group("call")
    planted = (f"{indent}# planted by scripts/asv_compare_floor.py: the same forward part twice\n"
               f"{indent}if batch % {REPEAT_EVERY} == 0 and epoch.stages[stage, 0] == FORWARD:\n"
               f"{indent}    {call}\n"
               f"{indent}{call}")
    return text[:match.start()] + planted + text[match.end():]


def _git(repo, *arguments):
    return subprocess.run(["git", "-C", repo, "-c", "user.name=asv floor",
                           "-c", "user.email=asv-floor@localhost", *arguments],
                          check=True, capture_output=True, text=True).stdout.strip()


def _compare(repo, base, new, bench):
    started = time.perf_counter()
    result = subprocess.run(["bash", os.path.join(repo, "scripts", "asv_run.sh"), "compare",
                             base, new, "--bench", bench],
                            capture_output=True, text=True, cwd=repo)
    return result, time.perf_counter() - started


def flagged_lines(report: str, mark: str) -> list[str]:
    return [line for line in report.splitlines() if re.match(rf"^(\| *)?\{mark} ", line)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="make the scratch clone here and keep it")
    parser.add_argument("--bench", default=r"TrainEpoch(OneThread)?\.time_train_epoch",
                        help="asv --bench regex of the benchmarks compared")
    arguments = parser.parse_args(argv)

    scratch = arguments.keep or tempfile.mkdtemp(prefix="asv-compare-floor-")
    repo = os.path.join(scratch, "repo")
    try:
        head = _git(REPOSITORY, "rev-parse", "HEAD")
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", REPOSITORY, repo], check=True)
        _git(repo, "checkout", "-q", "-B", "main", head)
        _git(repo, "commit", "-q", "--allow-empty", "-m", "empty commit: the code of its parent")
        same = _git(repo, "rev-parse", "HEAD")
        _git(repo, "checkout", "-q", "-b", "slow", head)
        path = os.path.join(repo, EPOCH_LOOP_FILE)
        with open(path) as file:
            text = file.read()
        with open(path, "w") as file:
            file.write(plant_slowdown(text))
        _git(repo, "commit", "-q", "-am", "planted slowdown: forward pass twice in every third batch")
        slow = _git(repo, "rev-parse", "HEAD")
        _git(repo, "checkout", "-q", "main")

        print(f"base {head[:8]}, same {same[:8]} (empty commit), slow {slow[:8]} (planted); "
              f"benchmarks {arguments.bench}", flush=True)
        same_result, same_seconds = _compare(repo, head, same, arguments.bench)
        print(f"\n== compare base same: exit {same_result.returncode} ({same_seconds:.0f} s)")
        print(same_result.stdout[-4000:], same_result.stderr[-2000:], flush=True)
        slow_result, slow_seconds = _compare(repo, head, slow, arguments.bench)
        print(f"\n== compare base slow: exit {slow_result.returncode} ({slow_seconds:.0f} s)")
        print(slow_result.stdout[-4000:], slow_result.stderr[-2000:], flush=True)
    finally:
        if not arguments.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    slowed = flagged_lines(slow_result.stdout, "+")
    broken = flagged_lines(slow_result.stdout, "!") + flagged_lines(same_result.stdout, "!")
    verdict = {
        "identical code exits 0": same_result.returncode == 0,
        "planted slowdown exits 1": slow_result.returncode == 1,
        "the slowdown is flagged (+)": bool(slowed),
        "no benchmark failed (!)": not broken,
    }
    print("\n== floor")
    for what, met in verdict.items():
        print(f"{'met' if met else 'NOT MET'}: {what}")
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
