#!/usr/bin/env bash
# What a user does with fastnn's asv suite (asv_benches/). Run from anywhere,
# with the Python environment that has fastnn's bench extra active (a venv or
# the system interpreter: pip install -e ".[bench]").
#
#   scripts/asv_run.sh quick              every benchmark once on HEAD, nothing saved
#   scripts/asv_run.sh full [REV]         measure REV (default HEAD) and save the results
#   scripts/asv_run.sh compare BASE NEW   measure BASE and NEW side by side (interleaved),
#                                         print the comparison; exits 1 if anything got >10%
#                                         slower or started failing
#   scripts/asv_run.sh history N          measure the last N commits of main that hold the
#                                         suite (skipping those measured already), then publish
#   scripts/asv_run.sh publish            write the dashboard (asv_benches/html/index.html)
#                                         from the saved results; it works offline
#
# Extra arguments after these go to `asv run`, e.g. --bench TrainEpoch to
# measure a subset. Commits are built by asv from the repository (not your
# uncommitted changes) into asv_benches/env/, an "overlay" environment that
# reuses the active environment's numpy/numba and keeps each commit's fastnn
# in a directory of its own (asv_benches/README.md): nothing is downloaded (PIP_NO_INDEX). Results are
# kept per machine, named after its CPU (scripts/asv_machine.py).
set -euo pipefail
script=$(readlink -f "$0")
scripts_dir=$(dirname "$script")
cd "$scripts_dir/../asv_benches"
export PIP_NO_INDEX=1
# The interpreter whose packages the overlay environment reuses: the active
# one. `python -m asv` rather than `asv`, so that asv runs in it too.
PYTHON=${PYTHON:-python}
asv() { "$PYTHON" -m asv "$@"; }
python_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
environment="overlay:$python_version"
machine=$("$PYTHON" "$scripts_dir/asv_machine.py" --register)

# Relative change that counts as a regression in `compare`: asv's
# significance test must also agree, so noise alone does not trip it.
FACTOR=1.10

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$script"; exit 2; }

# A git rev-list range holding exactly one commit (HEAD^! fails on a root commit).
one_commit() { echo "$1 --max-count=1"; }

# --record-samples keeps every sample in the results, not only their
# statistics: asv compare then tests a change with Mann-Whitney's U instead
# of asking its 99% intervals not to overlap, which on a shared, noisy
# machine let a 33% slowdown through as "not significant".
run() { asv run --show-stderr --record-samples --machine "$machine" -E "$environment" "$@"; }

publish() {
    asv publish
    "$PYTHON" "$scripts_dir/asv_offline_html.py" html
    echo "Dashboard written to $(pwd)/html/index.html (works offline; open it in a browser," \
         "or serve it: (cd $(pwd) && python -m asv preview))"
}

command=${1:-}
[ -n "$command" ] || usage
shift
case "$command" in
    quick)
        run --quick --dry-run "$(one_commit HEAD)" "$@"
        ;;
    full)
        revision=HEAD
        if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then revision=$1; shift; fi
        run "$(one_commit "$revision")" "$@"
        ;;
    compare)
        [ $# -ge 2 ] || usage
        base=$1 new=$2
        shift 2
        # Both commits in one asv run, measured anew side by side: asv
        # alternates them round by round (A B B A ...; each commit's fastnn
        # stays installed in the overlay, so switching costs nothing), so
        # that a change in the machine's load hits both alike. Saved results
        # of either are replaced.
        hashes=$(mktemp)
        trap 'rm -f "$hashes"' EXIT
        for revision in "$base" "$new"; do
            git rev-parse --verify --quiet "$revision^{commit}" || {
                echo "compare: no commit $revision" >&2; exit 2; }
        done | awk '!seen[$0]++' >"$hashes"
        # asv run exits 2 when a benchmark fails: that is for the comparison
        # to report (as "!"), not a reason to stop before it.
        status=0
        run --interleave-rounds "HASHFILE:$hashes" "$@" || status=$?
        [ "$status" -eq 0 ] || [ "$status" -eq 2 ] || exit "$status"
        report=$(asv compare --factor "$FACTOR" --split --machine "$machine" \
                 -E "$environment" "$base" "$new")
        echo "$report"
        # asv marks a significant slowdown with "+" and a benchmark that
        # started failing with "!" in its first column (a table cell "| + |"
        # in asv 0.6's default format, a bare "+" in older ones). Throughput and
        # accuracy tracks are higher-is-better, which asv cannot express: a
        # drop there shows as "-"; the time_ benchmarks of the same
        # workloads carry the regression.
        if grep -Eq '^(\| *)?[+!] ' <<<"$report"; then
            echo "REGRESSION: the benchmarks marked + or ! above got worse from $base to $new" >&2
            exit 1
        fi
        ;;
    history)
        [ $# -ge 1 ] && [[ $1 =~ ^[0-9]+$ ]] || usage
        count=$1
        shift
        hashes=$(mktemp)
        trap 'rm -f "$hashes"' EXIT
        "$PYTHON" "$scripts_dir/asv_history.py" --count "$count" >"$hashes"
        echo "Measuring up to $count commits of main on $machine (those without results):"
        git log --no-walk=unsorted --format='  %h %ad %s' --date=short $(cat "$hashes")
        # One commit failing a benchmark (asv exits 2) must not lose the
        # others' results nor the dashboard: publish, then report it.
        status=0
        run --skip-existing-commits "HASHFILE:$hashes" "$@" || status=$?
        publish
        if [ "$status" -ne 0 ]; then
            echo "asv run exited $status: some benchmark failed on some commit (see above)" >&2
        fi
        exit "$status"
        ;;
    publish)
        publish
        ;;
    *)
        usage
        ;;
esac
