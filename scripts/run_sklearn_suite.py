"""Run scikit-learn's own MLP test suite against fastnn's estimators.

    python scripts/run_sklearn_suite.py                # summary and every test's outcome
    python scripts/run_sklearn_suite.py --require 52   # exit 1 unless at least 52 pass
    python scripts/run_sklearn_suite.py -- -k lbfgs    # extra arguments go to pytest

The installed scikit-learn's ``sklearn/neural_network/tests/test_mlp.py`` is
copied into a scratch directory with exactly one line changed, its import
of the estimators::

    from sklearn.neural_network import MLPClassifier, MLPRegressor
    ->  from fastnn import MLPClassifier, MLPRegressor

and run by pytest with scikit-learn's own conftest loaded as a plugin
(``-p sklearn.conftest``: it parametrises ``global_random_seed`` as in
scikit-learn's CI). Nothing of scikit-learn's file is kept in this
repository: the suite is the one of the version installed, and so is the
count. docs/estimators.md lists the tests that still fail, and why.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

SKLEARN_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
FASTNN_IMPORT = "from fastnn import MLPClassifier, MLPRegressor"


def installed_suite() -> Path:
    import sklearn

    path = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    if not path.is_file():
        sys.exit(f"scikit-learn {sklearn.__version__} has no {path} (installed without its tests?)")
    return path


def swapped_source(path: Path) -> str:
    source = path.read_text(encoding="utf-8")
    count = sum(1 for line in source.splitlines() if line == SKLEARN_IMPORT)
    if count != 1:
        sys.exit(f"{path}: expected the line {SKLEARN_IMPORT!r} once, found it {count} times; "
                 "this scikit-learn imports its estimators another way")
    return source.replace(SKLEARN_IMPORT, FASTNN_IMPORT)


def _outcomes(report: Path) -> dict:
    """{test name: (PASSED | FAILED | ERROR | SKIPPED, first line of the reason)}
    from pytest's JUnit XML report."""
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        outcome, reason = "PASSED", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "SKIPPED"}[tag]
                reason = (child.get("message") or "").splitlines()[0] if child.get("message") else ""
                break
        outcomes[case.get("name")] = (outcome, reason)
    return outcomes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--require", type=int, default=None,
                        help="exit 1 unless at least this many tests pass")
    parser.add_argument("pytest_args", nargs="*", help="more arguments for pytest (after --)")
    args = parser.parse_args(argv)

    import sklearn

    suite = installed_suite()
    with tempfile.TemporaryDirectory(prefix="fastnn-sklearn-suite-") as scratch:
        copy = Path(scratch) / "test_mlp_fastnn.py"
        copy.write_text(swapped_source(suite), encoding="utf-8")
        report = Path(scratch) / "report.xml"
        command = [sys.executable, "-m", "pytest", str(copy), "-p", "sklearn.conftest",
                   "-p", "no:cacheprovider", "-o", "addopts=", "-q", f"--junitxml={report}",
                   "--rootdir", scratch, *args.pytest_args]
        # the scratch directory, not this checkout, is the working directory;
        # fastnn is the one this interpreter imports (an installed or
        # PYTHONPATH copy).
        env = dict(os.environ)
        completed = subprocess.run(command, cwd=scratch, env=env, capture_output=True,
                                   text=True)
        outcomes = _outcomes(report) if report.exists() else {}
    output = completed.stdout + completed.stderr
    import fastnn

    print(f"scikit-learn {sklearn.__version__}: {suite}")
    print(f"fastnn {fastnn.__version__}: {Path(fastnn.__file__).parent}")
    for test, (outcome, reason) in sorted(outcomes.items()):
        name = test
        print(f"  {outcome:8s} {name}" + (f"  ({reason[:150]})" if outcome != "PASSED" else ""))
    counts = {}
    for outcome, _ in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = ", ".join(f"{counts[k]} {k.lower()}" for k in sorted(counts))
    print(f"summary: {summary} of {len(outcomes)}")
    if not outcomes:
        print(output[-3000:])
        return completed.returncode or 1
    if args.require is not None:
        passed = counts.get("PASSED", 0)
        if passed < args.require:
            print(f"FAILED: {passed} passed, fewer than the {args.require} required")
            return 1
        return 0
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
