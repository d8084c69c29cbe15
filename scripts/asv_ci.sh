#!/usr/bin/env bash
# The asv part of CI (.ci/run calls this): the suite is well formed and every
# benchmark runs once (--quick) on the checked-out commit without an error.
# Exits non-zero if asv cannot build the commit (1), the suite does not load
# (asv check) or any benchmark fails (asv run exits 2). Nothing is saved
# (--dry-run) and nothing is downloaded (PIP_NO_INDEX: a missing package is
# an error, not a download). ~3-4 minutes on 2 shared cores from a fresh
# checkout: one compile of every kernel per commit, then ~80 benchmark
# processes that each load the compiled kernels.
set -euo pipefail
cd "$(dirname "$0")/../asv_benches"
export PIP_NO_INDEX=1
# asv refuses to run before it knows the machine; --yes takes the defaults.
[ -f "${ASV_MACHINE_FILE:-$HOME/.asv-machine.json}" ] || asv machine --yes >/dev/null
asv check -E virtualenv
# "HEAD --max-count=1" (a git rev-list range) rather than HEAD^!, which
# fails on a repository whose HEAD has no parent.
asv run --quick --dry-run --show-stderr --durations 5 -E virtualenv "HEAD --max-count=1"
