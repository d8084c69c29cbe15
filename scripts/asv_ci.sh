#!/usr/bin/env bash
# The asv part of CI (.ci/run calls this): the suite is well formed and every
# benchmark runs once (--quick) on the checked-out commit without an error,
# in the "overlay" environment the users get (asv_benches/README.md), from
# the active interpreter. Exits non-zero if the dashboard's local copies of
# its scripts are not as vendored, asv cannot build the commit (1), the suite
# does not load (asv check) or any benchmark fails (asv run exits 2). Nothing
# is saved (--dry-run) and nothing is downloaded (PIP_NO_INDEX: a missing
# package is an error, not a download). ~4-6 minutes on 2 shared cores from
# a fresh checkout: one compile of every kernel, then ~100 benchmark
# processes that each load the compiled kernels.
set -euo pipefail
scripts_dir=$(dirname "$(readlink -f "$0")")
cd "$scripts_dir/../asv_benches"
export PIP_NO_INDEX=1
PYTHON=${PYTHON:-python}
"$PYTHON" "$scripts_dir/asv_offline_html.py" --check-vendor
environment="overlay:$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
machine=$("$PYTHON" "$scripts_dir/asv_machine.py" --register)
echo "asv: machine $machine, environment $environment"
"$PYTHON" -m asv check -E "$environment"
# "HEAD --max-count=1" (a git rev-list range) rather than HEAD^!, which
# fails on a repository whose HEAD has no parent.
"$PYTHON" -m asv run --quick --dry-run --show-stderr --durations 5 --machine "$machine" \
    -E "$environment" "HEAD --max-count=1"
