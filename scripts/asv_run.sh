#!/usr/bin/env bash
# What a user does with fastnn's asv suite (asv_benches/). Run from anywhere.
#
#   scripts/asv_run.sh quick              every benchmark once on HEAD, nothing saved (~3-4 min)
#   scripts/asv_run.sh full [REV]         measure REV (default HEAD) and save the results (~6-7 min)
#   scripts/asv_run.sh compare BASE NEW   measure BASE and NEW unless already saved, print
#                                         the comparison; exits 1 if anything got >10% slower
#                                         or started failing
#   scripts/asv_run.sh publish            write the HTML pages (asv_benches/html/) from the
#                                         saved results; view them with `asv preview`
#
# Extra arguments after these go to `asv run`, e.g. --bench TrainEpoch to
# measure a subset. Commits are built by asv from the repository (not your
# uncommitted changes) into asv_benches/env/, a virtualenv that uses this
# machine's numpy/numba: nothing is downloaded (PIP_NO_INDEX).
set -euo pipefail
script=$(readlink -f "$0")
cd "$(dirname "$script")/../asv_benches"
export PIP_NO_INDEX=1
[ -f "${ASV_MACHINE_FILE:-$HOME/.asv-machine.json}" ] || asv machine --yes >/dev/null

# Relative change that counts as a regression in `compare`: asv's
# significance test must also agree, so noise alone does not trip it.
FACTOR=1.10

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$script"; exit 2; }

# A git rev-list range holding exactly one commit (HEAD^! fails on a root commit).
one_commit() { echo "$1 --max-count=1"; }

command=${1:-}
[ -n "$command" ] || usage
shift
case "$command" in
    quick)
        asv run --quick --dry-run --show-stderr -E virtualenv "$(one_commit HEAD)" "$@"
        ;;
    full)
        revision=HEAD
        if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then revision=$1; shift; fi
        asv run --show-stderr -E virtualenv "$(one_commit "$revision")" "$@"
        ;;
    compare)
        [ $# -ge 2 ] || usage
        base=$1 new=$2
        shift 2
        for revision in "$base" "$new"; do
            asv run --skip-existing-commits --show-stderr -E virtualenv \
                "$(one_commit "$revision")" "$@"
        done
        report=$(asv compare --factor "$FACTOR" --split "$base" "$new")
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
    publish)
        asv publish "$@"
        echo "HTML written to $(pwd)/html; view it with: (cd $(pwd) && asv preview)"
        ;;
    *)
        usage
        ;;
esac
