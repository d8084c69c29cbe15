"""fastnn.MLPClassifier against sklearn.neural_network.MLPClassifier on the digits.

    python scripts/compare_sklearn.py                  # hidden layers 30 and 100
    python scripts/compare_sklearn.py --hidden 30 --repeats 1
    python scripts/compare_sklearn.py --threads 1     # both single-threaded

Data: scikit-learn's bundled 8x8 digits, inputs divided by 16,
``train_test_split(test_size=450, random_state=0)`` (1347 training samples).

Settings (the same network shape, each library's own default training):

* both: one hidden layer of --hidden neurons, random_state=0, max_iter=200,
  tol=1e-4, n_iter_no_change=10 (stop after more than 10 epochs without the
  training loss improving by tol);
* fastnn: sigmoid hidden and output layers, quadratic cost, plain SGD with
  batch 10 and eta 3.0 (its defaults);
* scikit-learn: ReLU hidden layer, softmax output, log-loss with alpha=1e-4,
  Adam with learning_rate_init=1e-3 and batch min(200, n) (its defaults).

Each fit is timed --repeats times and the fastest is reported (the machine
may be shared; the minimum is the least disturbed run). fastnn's kernels are
compiled (or loaded from numba's cache) by a warm-up fit before any timing.
``--threads N`` caps both libraries' threads (numba's, and the BLAS pool
scikit-learn's matrix products run on, via threadpoolctl); without it each
uses its defaults, and on a busy machine multi-threaded BLAS can be slowed
down a lot by oversubscription.
The accuracy claim is tested in tests/test_estimators.py; the timing is only
printed here, never asserted.
"""
from __future__ import annotations

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

from fastnn.estimators import MLPClassifier as FastnnMLPClassifier

COMMON = dict(random_state=0, max_iter=200, tol=1e-4, n_iter_no_change=10)


def timed_fit(make, X, y, repeats):
    """(fitted model of the last run, fastest wall time in seconds)."""
    best = float("inf")
    for _ in range(repeats):
        model = make()
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        best = min(best, time.perf_counter() - started)
    return model, best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[30, 100],
                        help="hidden layer widths to compare (default: 30 100)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed fits per model; the fastest counts (default: 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="cap numba's and BLAS's threads at this many (default: no cap)")
    args = parser.parse_args()
    if args.threads is not None:
        import numba
        from threadpoolctl import threadpool_limits

        numba.set_num_threads(args.threads)
        threadpool_limits(limits=args.threads)

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=450, random_state=0
    )
    # warm-up: compile or load fastnn's kernels outside the timing
    timed_fit(lambda: FastnnMLPClassifier(hidden_layer_sizes=(5,), max_iter=1),
              X_train[:50], y_train[:50], 1)

    threads = "default threads" if args.threads is None else f"{args.threads} thread(s)"
    print(f"digits: {len(X_train)} training, {len(X_test)} test samples; "
          f"fastest of {args.repeats} fit(s); {threads}")
    header = f"{'hidden':>6}  {'library':<13}{'accuracy':>9}{'epochs':>8}{'fit s':>9}"
    print(header)
    print("-" * len(header))
    for width in args.hidden:
        ours, our_time = timed_fit(
            lambda: FastnnMLPClassifier(hidden_layer_sizes=(width,), **COMMON),
            X_train, y_train, args.repeats,
        )
        theirs, their_time = timed_fit(
            lambda: SklearnMLPClassifier(hidden_layer_sizes=(width,), **COMMON),
            X_train, y_train, args.repeats,
        )
        for name, model, seconds in (("fastnn", ours, our_time),
                                     ("scikit-learn", theirs, their_time)):
            print(f"{width:>6}  {name:<13}{model.score(X_test, y_test):>9.4f}"
                  f"{model.n_iter_:>8}{seconds:>9.3f}")
        difference = 100 * (ours.score(X_test, y_test) - theirs.score(X_test, y_test))
        print(f"{width:>6}  fastnn fits {their_time / our_time:.1f}x faster; accuracy "
              f"difference {difference:+.2f} points")


if __name__ == "__main__":
    main()
