"""Measure the estimators' settings on the data their defaults were chosen on.

    python scripts/measure_defaults.py regressor      # the grid of docs/estimators.md
    python scripts/measure_defaults.py regressor --eta 0.03 --batch 10 --early-stopping 0 1
    python scripts/measure_defaults.py classifier     # loss x eta on the digits

regressor: the three regression sets of scripts/compare_sklearn.py
(diabetes, friedman1, linnerud; standardized on the training split; test
R^2) and the data of scikit-learn's check_regressors_train (make_regression,
200 samples; training R^2 with alpha=0.01, as the check sets it; the check
needs > 0.5).

classifier: the digits split of scripts/compare_sklearn.py (inputs / 16,
test_size=450, random_state=0); test accuracy.

Each cell is the mean over random_state 0 .. --seeds - 1; "epochs" and
"s/fit" are means over all fits of the row (wall time, after a warm-up fit
that compiles the kernels). Every combination of the options' values is one
row; other parameters keep their defaults.
"""
from __future__ import annotations

import argparse
import importlib.util
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import scale
from sklearn.utils.estimator_checks import _regression_dataset

from fastnn.estimators import MLPClassifier, MLPRegressor

_spec = importlib.util.spec_from_file_location(
    "compare_sklearn", Path(__file__).resolve().parent / "compare_sklearn.py")
compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare)


def fit_and_score(model, X_train, X_test, y_train, y_test):
    """(score on the test part, epochs, fit seconds)."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    return model.score(X_test, y_test), model.n_iter_, seconds


def rows(grid, data, make, seeds):
    """Print one row per combination of the grid's values."""
    names = list(data)
    widths = [max(len(key), *(len(str(value)) for value in values)) + 2
              for key, values in grid.items()]
    print("".join(f"{key:>{width}}" for key, width in zip(grid, widths))
          + "".join(f"{name:>13}" for name in names) + f"{'epochs':>8}{'s/fit':>7}")
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values))
        cells, epochs, seconds = [], [], []
        for name in names:
            scores = []
            for seed in range(seeds):
                score, n_iter, wall = fit_and_score(make(name, seed, **setting), *data[name])
                scores.append(score)
                epochs.append(n_iter)
                seconds.append(wall)
            cells.append(np.mean(scores))
        print("".join(f"{value!s:>{width}}" for value, width in zip(values, widths))
              + "".join(f"{cell:>13.4f}" for cell in cells)
              + f"{np.mean(epochs):>8.0f}{np.mean(seconds):>7.2f}", flush=True)


def regressor(args):
    data = compare.regression_data()
    X, y = _regression_dataset()
    data["check_train"] = (X, X, scale(y), scale(y))
    MLPRegressor(max_iter=1).fit(X[:20], y[:20])  # compile outside the timing

    def make(name, seed, eta, batch, early, hidden, alpha):
        return MLPRegressor(hidden_layer_sizes=(hidden,), learning_rate_init=eta,
                            batch_size=batch, early_stopping=bool(early), random_state=seed,
                            alpha=0.01 if name == "check_train" else alpha)

    grid = dict(eta=args.eta, batch=args.batch, early=args.early_stopping,
                hidden=args.hidden, alpha=args.alpha)
    rows(grid, data, make, args.seeds)


def classifier(args):
    digits = load_digits()
    data = {"digits": train_test_split(digits.data / 16.0, digits.target, test_size=450,
                                       random_state=0)}
    MLPClassifier(max_iter=1).fit(*data["digits"][0::2])  # compile outside the timing

    def make(name, seed, loss, eta, hidden, alpha):
        return MLPClassifier(hidden_layer_sizes=(hidden,), loss=loss, learning_rate_init=eta,
                             alpha=alpha, random_state=seed)

    grid = dict(loss=args.loss, eta=args.eta, hidden=args.hidden, alpha=args.alpha)
    rows(grid, data, make, args.seeds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="estimator", required=True)
    reg = sub.add_parser("regressor")
    reg.add_argument("--eta", type=float, nargs="+", default=[0.01, 0.03, 0.1])
    reg.add_argument("--batch", type=int, nargs="+", default=[10, 32, 200])
    reg.add_argument("--early-stopping", type=int, nargs="+", default=[0, 1])
    reg.add_argument("--hidden", type=int, nargs="+", default=[100])
    reg.add_argument("--alpha", type=float, nargs="+", default=[1e-4])
    reg.add_argument("--seeds", type=int, default=3)
    clf = sub.add_parser("classifier")
    clf.add_argument("--loss", nargs="+", default=["squared_error", "log_loss"])
    clf.add_argument("--eta", type=float, nargs="+", default=[0.3, 1.0, 3.0])
    clf.add_argument("--hidden", type=int, nargs="+", default=[100])
    clf.add_argument("--alpha", type=float, nargs="+", default=[1e-4])
    clf.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    regressor(args) if args.estimator == "regressor" else classifier(args)


if __name__ == "__main__":
    main()
