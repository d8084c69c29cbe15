#!/usr/bin/env python
"""Print the last N commits of main that hold the asv suite, newest first, one hash a line.

    python scripts/asv_history.py --count 10 [--branch main]

scripts/asv_run.sh history N feeds these to ``asv run HASHFILE:...``. The
commits are main's first-parent line (each is a state main was in; the
commits of merged branches are not) that contain asv_benches/asv.conf.json:
asv measures them with the *current* checkout's benchmarks, which skip
(NotImplementedError) what an older fastnn cannot do.
"""
from __future__ import annotations

import argparse
import subprocess
import sys

SUITE_FILE = "asv_benches/asv.conf.json"


def _git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], check=True, capture_output=True, text=True).stdout


def _branch_ref(branch: str) -> str:
    """``branch`` if it exists, else origin/``branch`` (a clone on another branch)."""
    for ref in (branch, f"origin/{branch}"):
        if subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                          capture_output=True).returncode == 0:
            return ref
    raise SystemExit(f"no branch {branch!r} (nor origin/{branch}) in this repository")


def commits_holding_suite(count: int, branch: str = "main") -> list[str]:
    """The newest ``count`` first-parent commits of ``branch`` that contain SUITE_FILE."""
    ref = _branch_ref(branch)
    # The suite, once added, stayed: the commits that hold it are those
    # after (and including) the first first-parent commit that has it.
    found = []
    for commit in _git("rev-list", "--first-parent", ref).split():
        if len(found) == count:
            break
        has_suite = subprocess.run(["git", "cat-file", "-e", f"{commit}:{SUITE_FILE}"],
                                   capture_output=True).returncode == 0
        if not has_suite:
            break
        found.append(commit)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="how many commits (N)")
    parser.add_argument("--branch", default="main")
    arguments = parser.parse_args(argv)
    if arguments.count < 1:
        parser.error("--count must be at least 1")
    commits = commits_holding_suite(arguments.count, arguments.branch)
    if not commits:
        print(f"no commit of {arguments.branch} holds {SUITE_FILE}", file=sys.stderr)
        return 1
    print("\n".join(commits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
