"""Real learning with the neurons of issue 23, on scikit-learn's digits.

    python scripts/activations_digits.py learning   # 64-100-10, relu/tanh + softmax
    python scripts/activations_digits.py dropout    # 64-200-10, 60 epochs, 3 seeds

``learning``: a 64-100-10 network with ReLU, then tanh, hidden neurons and
a softmax output (the log-likelihood), trained by fastnn's mini-batch SGD
on ``fastnn.datasets.load_digits`` (1,347 training, 450 test samples);
prints the test accuracy after every tenth epoch and the best epoch.
Issue 23's floor: >= 97% for both.

``dropout``: 64-200-10 (ReLU hidden layer, softmax output), 60 epochs,
three seeds, without dropout and with rates 0.2, 0.3 and 0.5; prints each
run's final training and test accuracy, and per rate the mean test
accuracy and train/test gap over the seeds. Issue 23's floor: a rate of
0.2-0.5 loses at most 1 point of test accuracy against no dropout and
narrows the gap.

The CPU is named on the first line; the numbers do not depend on it
(bitwise the same on every machine with the same kernels' ISA).
"""
from __future__ import annotations

import argparse
import pathlib
import platform
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import fastnn  # noqa: E402

# The settings of the runs reported in the report (and checked by
# tests/test_neurons_learning.py, slow).
LEARNING = {"relu": dict(eta=0.1, epochs=30, batch_size=10),
            "tanh": dict(eta=0.1, epochs=30, batch_size=10)}
DROPOUT = dict(sizes=[64, 200, 10], activation="relu", eta=0.1, epochs=60, batch_size=10,
               seeds=(0, 1, 2), rates=(0.0, 0.2, 0.3, 0.5))


def digits():
    return fastnn.datasets.load_digits()


def learning_run(activation, *, eta, epochs, batch_size, seed=0):
    """(network, history) of 64-100-10, ``activation`` + softmax."""
    X, y, X_test, y_test = digits()
    net = fastnn.Network([64, 100, 10], activation=activation, output="softmax",
                         cost="cross_entropy", init="glorot", seed=seed)
    history = net.train(X, y, epochs=epochs, batch_size=batch_size, eta=eta, seed=seed,
                        test_data=(X_test, y_test))
    return net, history


def dropout_run(rate, seed, *, sizes=DROPOUT["sizes"], activation=DROPOUT["activation"],
                eta=DROPOUT["eta"], epochs=DROPOUT["epochs"],
                batch_size=DROPOUT["batch_size"]):
    """(train accuracy, test accuracy) after ``epochs`` of 64-200-10."""
    X, y, X_test, y_test = digits()
    net = fastnn.Network(sizes, activation=activation, output="softmax",
                         cost="cross_entropy", dropout=rate, init="glorot", seed=seed)
    net.train(X, y, epochs=epochs, batch_size=batch_size, eta=eta, seed=seed)
    return net.evaluate(X, y), net.evaluate(X_test, y_test)


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=("learning", "dropout"))
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_name()}; fastnn {fastnn.__version__}")
    if args.study == "learning":
        for activation, settings in LEARNING.items():
            _, history = learning_run(activation, **settings)
            accuracy = history.test_accuracy
            marks = ", ".join(f"epoch {e}: {accuracy[e - 1]:.2%}"
                              for e in range(10, len(accuracy) + 1, 10))
            best = int(np.argmax(accuracy)) + 1
            print(f"64-100-10 {activation} + softmax, batch {settings['batch_size']}, eta "
                  f"{settings['eta']}, {settings['epochs']} epochs: final "
                  f"{accuracy[-1]:.2%} ({marks}; best {accuracy[best - 1]:.2%} at epoch "
                  f"{best}); {sum(history.seconds):.2f} s of training")
        return
    print(f"{'-'.join(map(str, DROPOUT['sizes']))} {DROPOUT['activation']} + softmax, batch "
          f"{DROPOUT['batch_size']}, eta {DROPOUT['eta']}, {DROPOUT['epochs']} epochs")
    summary = {}
    for rate in DROPOUT["rates"]:
        runs = [dropout_run(rate, seed) for seed in DROPOUT["seeds"]]
        for seed, (train, test) in zip(DROPOUT["seeds"], runs):
            print(f"  dropout {rate:.1f} seed {seed}: train {train:.2%}, test {test:.2%}, "
                  f"gap {train - test:+.2%}")
        train, test = np.mean(runs, axis=0)
        summary[rate] = (train, test)
        print(f"dropout {rate:.1f}: mean train {train:.2%}, mean test {test:.2%}, "
              f"gap {train - test:+.2%}")
    base_train, base_test = summary[0.0]
    for rate in DROPOUT["rates"][1:]:
        train, test = summary[rate]
        print(f"rate {rate:.1f} against none: test {100 * (test - base_test):+.2f} points, "
              f"gap {100 * (train - test):.2f} against {100 * (base_train - base_test):.2f} "
              "points")


if __name__ == "__main__":
    main()
